/* mq_private.h - internals shared by mq.c (connection, I/O loop, confirms),
 * mq_topology.c (remembered declarations and consumers) and mq_msg.c
 * (message properties in and out).  Not for use outside common/mq/. */
#ifndef VMSEAL_MQ_PRIVATE_H
#define VMSEAL_MQ_PRIVATE_H

#include <amqp.h>

#include "err.h"
#include "mq.h"

/* Channel 1 declares, consumes and acks (and publishes without
 * opts.publish_channel); a separate publish channel takes the numbers
 * MQ_PUB_CHANNEL_FIRST.. in turn, so that frames still arriving for a
 * replaced one are told apart and dropped. */
#define MQ_CHANNEL           1
#define MQ_PUB_CHANNEL_FIRST 2
#define MQ_PUB_CHANNEL_LAST  1000
/* Least time between two repairs of the publish path, doubling up to the max. */
#define MQ_REPAIR_GAP_MIN_MS 1000
#define MQ_REPAIR_GAP_MAX_MS 30000
/* Header on mandatory publishes: the sequence number, so that a returned
 * message is matched to its publish exactly. */
#define MQ_HDR_SEQ "x-vmseal-seq"

enum mq_decl_kind {
    MQ_DECL_EXCHANGE,
    MQ_DECL_QUORUM,
    MQ_DECL_CLASSIC,
    MQ_DECL_EXCLUSIVE,
    MQ_DECL_BIND,
    MQ_DECL_PASSIVE
};

/* One remembered declaration, replayed in order after every reconnect. */
struct mq_decl {
    enum mq_decl_kind kind;
    char *name; /* exchange or queue */
    char *arg1; /* exchange type, or the bind's exchange */
    char *arg2; /* the bind's routing key */
    int delivery_limit;
    bool sac;
};

struct mq_consumer {
    char *queue;
    char *tag; /* broker-generated; NULL while not consuming */
    uint16_t prefetch;
    bool exclusive, no_ack;
};

/* A publish that has a sequence number but no confirm yet. */
struct mq_pending {
    uint64_t seq;    /* caller-visible, unique for the life of the mq_t */
    uint64_t tag;    /* the channel's confirm delivery tag */
    int64_t sent_ms; /* monotonic */
    uint64_t dest;   /* hash of exchange and routing key */
    bool returned, done;
};

/* Nacks in a row to one destination (exchange and routing key): a channel
 * refuses per queue, so acks to other queues do not end a streak. */
#define MQ_REFUSING_MAX 16
struct mq_refusing {
    uint64_t dest;
    int nacks;
};

/* A publish held locally while the connection is blocked. */
struct mq_held {
    uint64_t seq;
    char *exchange, *routing_key;
    char *message_id, *correlation_id, *reply_to, *type, *reason;
    bool transient, mandatory;
    void *body;
    size_t len;
};

struct mq {
    struct mq_opts opts; /* opts.conn_name points to conn_name */
    char *conn_name;
    amqp_connection_state_t conn; /* NULL while disconnected */
    bool blocked;
    bool corked; /* TCP_CORK set: see mq_cork() */
    uint64_t epoch;
    char why[ERR_WHY_LEN];

    int hb_ms; /* negotiated heartbeat, 0 = none */
    int64_t last_rx_ms, next_hb_tx_ms;

    uint16_t pub_channel; /* where publishes go and confirms come from */
    size_t host_first;    /* index of broker.hosts tried first */
    size_t host_cur;      /* index of the host connected to */

    /* repairs of the publish path (mq.h) */
    struct mq_refusing refusing[MQ_REFUSING_MAX];
    size_t n_refusing;
    int repairs;       /* since a refusing destination last accepted */
    int repair_gap_ms; /* least time to the next repair */
    int64_t next_repair_ms;
    char repair_why[160]; /* set: a repair is due (done in mq_wait) */

    int backoff_ms;          /* next reconnect delay */
    int64_t next_connect_ms; /* earliest next reconnect attempt */
    uint64_t rng;

    struct mq_decl *decls;
    size_t n_decls, cap_decls;
    struct mq_consumer *consumers;
    size_t n_consumers, cap_consumers;

    uint64_t next_seq, next_tag;
    struct mq_pending *pending;
    size_t pend_head, pend_len, pend_cap;
    struct mq_held *held;
    size_t n_held, cap_held;

    struct mq_event *evq;
    size_t evq_head, evq_len, evq_cap;
};

/* mq.c */
void mq_set_why(mq_t *mq, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Translate a failed rpc reply into a project error; text into mq->why. */
int mq_reply_error(mq_t *mq, amqp_rpc_reply_t r, const char *what);
/* Check the reply of the last RPC; on a failure that closed the channel or
 * connection, the connection is dropped (reconnect follows in mq_wait). */
int mq_rpc_check(mq_t *mq, const char *what);
void mq_lose(mq_t *mq);
/* Open the publish channel (a new number each time) in confirm mode. */
int mq_pub_channel_open(mq_t *mq, const char *what);
/* Carry out the repair asked for in mq->repair_why (mq.h). */
void mq_repair(mq_t *mq);
void mq_evq_push(mq_t *mq, const struct mq_event *ev);
void mq_push_confirm(mq_t *mq, uint64_t seq, int status);
/* Remove the confirm of seq from the event queue, if it is there. */
bool mq_evq_take_confirm(mq_t *mq, uint64_t seq, int *ret_status);
/* Whether a frame may be read without poll() (rabbitmq-c buffers). */
bool mq_buffered(const mq_t *mq);
/* Read and handle one frame if a whole one is there; never blocks.
 * Returns whether a frame was handled. */
bool mq_read_one(mq_t *mq);
/* Handle what has already arrived (a bounded number of frames), without
 * waiting: before a publish, to learn of connection.blocked early. */
void mq_read_ready(mq_t *mq);
/* One poll() over the socket and extra fds until deadline at most; 1 when
 * an extra fd is ready. */
int mq_poll(mq_t *mq, int64_t deadline, struct pollfd *extra, size_t n_extra);

/* mq_publish.c */
void mq_on_confirm(mq_t *mq, uint64_t tag, bool multiple, int status);
void mq_on_return(mq_t *mq, const amqp_message_t *msg);
void mq_flush_held(mq_t *mq);
/* Every publish without a confirm (held ones too) is reported lost. */
void mq_publish_lose(mq_t *mq);
/* Only those sent on the publish channel are reported lost. */
void mq_pending_lose(mq_t *mq);
/* Whether the oldest publish waits longer than the confirm timeout; when
 * it does, a repair is asked for.  ret_due_ms: when to look again. */
void mq_confirm_check(mq_t *mq, int64_t now, int64_t *ret_due_ms);
void mq_publish_free(mq_t *mq);

/* mq_topology.c */
int mq_decl_apply(mq_t *mq, const struct mq_decl *d);
int mq_consumer_start(mq_t *mq, struct mq_consumer *c);
int mq_replay(mq_t *mq);
const char *mq_consumer_queue(const mq_t *mq, amqp_bytes_t tag);
void mq_consumer_forget_tag(mq_t *mq, amqp_bytes_t tag);
void mq_topology_free(mq_t *mq);

/* mq_msg.c */
char *mq_bytes_dup(amqp_bytes_t b); /* NUL-terminated copy, NULL if empty */
int mq_send_publish(mq_t *mq, uint64_t seq, const char *exchange, const char *routing_key,
                    const struct mq_props *props, const void *body, size_t len);
/* Fill d from a basic.deliver, then from its message (takes copies). */
void mq_delivery_from_deliver(struct mq_delivery *d, const amqp_basic_deliver_t *m);
void mq_delivery_from_message(struct mq_delivery *d, const amqp_message_t *msg);
void mq_delivery_free(struct mq_delivery *d);
const amqp_field_value_t *mq_table_get(const amqp_table_t *t, const char *key);
bool mq_field_int(const amqp_field_value_t *v, int64_t *ret);

/* Cork the socket (true) until the next poll, or send what is corked now. */
void mq_cork(mq_t *mq, bool on);

#endif
