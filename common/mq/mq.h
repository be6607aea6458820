/* mq.h - the AMQP client of vmseal, over rabbitmq-c 0.11 (the one adapter for
 * rabbitmq-c's error style).
 *
 * One mq_t is one broker connection with one channel, used by exactly one
 * thread: the daemons run a single event loop around mq_wait() and do their
 * long work in child processes, so heartbeats are always serviced.  The
 * caller must call mq_wait() at least every heartbeat_s / 2.
 *
 * What it does for the caller:
 *  - connects to the first reachable host of config_broker.hosts (TLS when
 *    configured), logs in with capabilities consumer_cancel_notify and
 *    connection.blocked, negotiates heartbeats;
 *  - publishes persistent messages with publisher confirms; each publish gets
 *    a sequence number and later exactly one MQ_EV_CONFIRM for it (ok, or
 *    nacked / returned / connection lost - then the caller decides whether to
 *    publish again);
 *  - remembers every declaration and consumer it was asked for, and after a
 *    connection or channel loss reconnects with exponential backoff (inside
 *    mq_wait), redeclares and re-consumes, then reports MQ_EV_RECONNECTED.
 *    Deliveries from an earlier connection are stale: acking them returns
 *    -VMS_E_STALE and the broker redelivers them.
 *
 * Errors: 0 or a negative code (-VMS_E_CONN_LOST, -VMS_E_ACCESS_REFUSED,
 * -VMS_E_BROKER, -errno); mq_why() has the broker's text.
 *
 * Details of the contract:
 *  - Any connection or channel failure (socket error, missed heartbeats,
 *    connection.close, channel.close e.g. after a 406 on a declaration) drops
 *    the whole connection: every unconfirmed publish then gets MQ_EV_CONFIRM
 *    with -VMS_E_CONN_LOST, and the next mq_wait() calls reconnect (hosts in
 *    order; backoff 100 ms doubling to max_backoff_ms, jittered to
 *    [b/2, b]), replay all remembered declarations and consumers, bump the
 *    epoch and report MQ_EV_RECONNECTED.  Until then mq_publish and the
 *    declarations return -VMS_E_CONN_LOST at once, and mq_ack/mq_nack of any
 *    delivery return -VMS_E_STALE without touching the wire.
 *  - A declaration the broker refuses is not remembered (and its channel
 *    error drops the connection as above): 406/405 -> -VMS_E_CONFLICT, 404 ->
 *    -VMS_E_NOT_FOUND, 403/530 -> -VMS_E_ACCESS_REFUSED.
 *  - Blocked (connection.blocked, a broker memory/disk alarm): mq_publish
 *    does not block; it assigns the sequence number and holds the message
 *    in memory (up to 10000 messages, then -EAGAIN) and sends the held ones in
 *    order on connection.unblocked; their confirms come as usual (or
 *    -VMS_E_CONN_LOST if the connection drops first).
 *  - A mandatory publish carries a header x-vmseal-seq (its sequence number)
 *    so that a basic.return is matched to it exactly.
 *  - Publishes the broker keeps refusing are not published into a void
 *    forever.  RabbitMQ 3.10 keeps a quorum-queue client per channel and
 *    queue; created while the queue's record still names a leader on a node
 *    that is gone, it nacks every later publish to that queue on that
 *    channel (RELIABILITY.md, "Nacks after a node loss").  So after
 *    MQ_NACK_STREAK nacks in a row to one exchange and routing key (acks of
 *    other publishes do not end the streak: a channel refuses per queue),
 *    or when the oldest publish waits longer
 *    than confirm_timeout_ms for its confirm (not while blocked), the client
 *    repairs itself: with opts.publish_channel it replaces the publish
 *    channel (deliveries, consumers and the epoch are untouched); the second
 *    repair of one streak drops the connection instead (reconnect as above,
 *    starting from the host after the current one), and later ones replace
 *    the channel again.  Repairs are at least 1 s apart, doubling to 30 s
 *    until a publish is confirmed.  Unconfirmed publishes get MQ_EV_CONFIRM
 *    with -VMS_E_CONN_LOST first (publish them again), then MQ_EV_REPAIRED
 *    says what happened and what was done.
 *  - Every publish is persistent (unless props.transient), content_type
 *    application/msgpack, with the given message_id/type/correlation_id/
 *    reply_to and MQ_HDR_REASON when props.reason is set.
 *  - Consumers use manual ack (unless no_ack) and a per-consumer prefetch.
 *    A consumer the broker cancels (its queue deleted) is reported once as
 *    MQ_EV_CANCELLED and forgotten (not replayed).
 */
#ifndef VMSEAL_MQ_H
#define VMSEAL_MQ_H

#include <poll.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"

typedef struct mq mq_t;

/* Names of docs/protocol.md §3. */
#define MQ_X_JOBS            "vmseal.jobs"
#define MQ_X_EVENTS          "vmseal.events"
#define MQ_X_CONTROL         "vmseal.control"
#define MQ_X_DLX             "vmseal.dlx"
#define MQ_Q_REQUESTS        "vmseal.requests"
#define MQ_Q_EVENTS_PRODUCER "vmseal.events.producer"
#define MQ_Q_RPC             "vmseal.rpc"
#define MQ_Q_DEAD            "vmseal.dead"
#define MQ_Q_JOBS_PREFIX     "vmseal.jobs."
#define MQ_DELIVERY_LIMIT    5
/* Nacks in a row that make the client repair its publish path. */
#define MQ_NACK_STREAK 3
/* mq_declare_exclusive_queue() names its queues MQ_Q_EXCLUSIVE_PREFIX<uuid>
 * (client-named, so the name survives a reconnect; broker users that need
 * one must be allowed to configure this prefix). */
#define MQ_Q_EXCLUSIVE_PREFIX "vmseal.excl."
/* Header carrying the reason a message was dead-lettered by vmseal. */
#define MQ_HDR_REASON "x-vmseal-reason"

/* The client keeps the broker pointer (it reconnects with it): the config
 * must outlive the client.  conn_name is copied. */
struct mq_opts {
    const struct config_broker *broker;
    const char *conn_name;  /* shown in the management UI */
    int connect_timeout_ms; /* per host (a reconnect attempt inside mq_wait
                                  can take this long per host); default 5000 */
    int max_backoff_ms;     /* reconnect backoff cap; default 10000 */
    int rpc_timeout_ms;     /* bound on every broker round trip; default 15000 */
    int confirm_timeout_ms; /* a publish unconfirmed this long repairs the
                                  channel (see above); default 30000 */
    bool publish_channel;   /* publish on a channel of its own, so that it can
                                  be replaced without touching deliveries (the
                                  daemons).  Not for a client that publishes
                                  RPC requests with direct reply-to: the reply
                                  consumer and the request must share a channel */
    bool stamp_user_id;     /* every publish carries broker->user as its AMQP
                                  user-id: the broker refuses one that is not the
                                  connection's user (406), so a consumer can
                                  believe it (the daemons) */
    char *why;              /* optional: why mq_open failed (NUL-terminated) */
    size_t why_len;
};

struct mq_props {
    const char *message_id; /* required for vmseal messages */
    const char *correlation_id;
    const char *reply_to;
    const char *type;   /* message type ("job", "event", ...) */
    const char *reason; /* MQ_HDR_REASON header, for dead letters */
    bool transient;     /* delivery_mode 1 (RPC replies); default persistent */
    bool mandatory;     /* unroutable -> MQ_EV_CONFIRM with -VMS_E_RETURNED */
};

enum mq_event_type {
    MQ_EV_NONE,        /* timeout, or one of the extra fds is ready */
    MQ_EV_DELIVERY,    /* a message from a consumer */
    MQ_EV_CONFIRM,     /* the fate of one publish */
    MQ_EV_CANCELLED,   /* the broker cancelled a consumer (queue deleted...) */
    MQ_EV_RECONNECTED, /* a new connection is up, topology and consumers restored */
    MQ_EV_BLOCKED,     /* connection.blocked (memory/disk alarm): publishes wait */
    MQ_EV_UNBLOCKED,
    MQ_EV_REPAIRED, /* the publish path was repaired (see above); text says how */
};

struct mq_delivery {
    char *queue; /* the queue it was consumed from */
    char *exchange, *routing_key;
    uint64_t delivery_tag;
    uint64_t epoch; /* connection generation it belongs to */
    bool redelivered;
    int64_t delivery_count; /* x-delivery-count (quorum queues), 0 if absent */
    char *message_id, *correlation_id, *reply_to, *content_type, *type;
    char *user_id;     /* AMQP user-id, NULL if absent (the broker checked
                                  a present one against the publisher's login) */
    char *reason;      /* MQ_HDR_REASON or x-death reason, if any */
    char *death_queue; /* the queue the broker dead-lettered it from (x-death), if any */
    void *body;
    size_t body_len;
};

struct mq_event {
    enum mq_event_type type;
    struct mq_delivery delivery; /* MQ_EV_DELIVERY */
    uint64_t seq;                /* MQ_EV_CONFIRM */
    int status;                  /* MQ_EV_CONFIRM: 0 = confirmed, else why not */
    char *consumer_queue;        /* MQ_EV_CANCELLED */
    char *text;                  /* MQ_EV_REPAIRED: what happened, what was done */
};

/* Connect (trying every host) and return the client, or an error when no
 * host could be reached (-VMS_E_CONN_LOST) or login failed
 * (-VMS_E_ACCESS_REFUSED: wrong password, unknown vhost, no access); the
 * reason goes to opts->why when given.  mq_open does not retry. */
int mq_open(const struct mq_opts *opts, mq_t **ret);
void mq_close(mq_t *mq);
const char *mq_why(const mq_t *mq);
uint64_t mq_epoch(const mq_t *mq);
bool mq_connected(const mq_t *mq);

/* Declarations are remembered and replayed after every reconnect. */
int mq_declare_exchange(mq_t *mq, const char *name, const char *type /* topic|fanout|direct */);
/* A durable quorum queue with dead-lettering to vmseal.dlx and
 * x-delivery-limit (delivery_limit 0 = no limit); sac = single active consumer. */
int mq_declare_quorum_queue(mq_t *mq, const char *name, int delivery_limit, bool sac);
/* A plain durable classic queue (tests; every vmseal queue is a quorum queue). */
int mq_declare_classic_queue(mq_t *mq, const char *name);
/* A server-named exclusive auto-delete queue; name in ret_name (<= 255). */
int mq_declare_exclusive_queue(mq_t *mq, char ret_name[256]);
int mq_bind(mq_t *mq, const char *queue, const char *exchange, const char *routing_key);
/* A passive queue.declare: the queue must exist (-VMS_E_NOT_FOUND, and the
 * connection drops as for any refused declaration).  Needs no configure
 * permission: how a worker finds its pool queue, which the definitions (or
 * an administrator) declare and bind, never the worker.  Replayed too. */
int mq_check_queue(mq_t *mq, const char *name);
/* The whole fixed topology of docs/protocol.md §3 (exchanges, requests, events.producer,
 * rpc, dlx/dead and their bindings).  Idempotent. */
int mq_declare_topology(mq_t *mq);
/* vmseal.jobs.<pool> bound with each key (`#` for all). */
int mq_declare_pool(mq_t *mq, const char *pool, const char *const *keys, size_t n_keys);

/* Start consuming; prefetch applies per consumer (basic.qos, not global). */
int mq_consume(mq_t *mq, const char *queue, uint16_t prefetch, bool exclusive, bool no_ack);
/* Stop consuming from queue (SIGTERM drain). */
int mq_cancel(mq_t *mq, const char *queue);

/* Publish; ret_seq receives the publisher-confirm sequence number. */
int mq_publish(mq_t *mq, const char *exchange, const char *routing_key, const struct mq_props *props,
               const void *body, size_t len, uint64_t *ret_seq);
/* Publish and wait for that message's confirm (other events are queued for
 * later mq_wait calls).  Returns the confirm status (0, -VMS_E_NACKED,
 * -VMS_E_RETURNED, -VMS_E_CONN_LOST) or -VMS_E_TIMEOUT, after which the
 * confirm still arrives later through mq_wait.  Does not reconnect. */
int mq_publish_wait(mq_t *mq, const char *exchange, const char *routing_key, const struct mq_props *props,
                    const void *body, size_t len, int timeout_ms);
/* Publishes that have a sequence number but no MQ_EV_CONFIRM yet. */
int mq_pending_confirms(const mq_t *mq);

/* 0, -VMS_E_STALE (delivery of an earlier connection: the broker will
 * redeliver it), or -VMS_E_CONN_LOST (the connection just failed). */
int mq_ack(mq_t *mq, const struct mq_delivery *d);
/* Ack d and every earlier delivery of this connection not settled yet, in
 * one frame (basic.ack multiple; a quorum queue then settles them in one
 * command).  Only for a caller that has handled every earlier delivery. */
int mq_ack_upto(mq_t *mq, const struct mq_delivery *d);
int mq_nack(mq_t *mq, const struct mq_delivery *d, bool requeue);

/* Wait up to timeout_ms (< 0: no limit) for the next event.  Also polls
 * `extra` fds: when one is ready it returns MQ_EV_NONE with revents set.
 * Also returns MQ_EV_NONE when poll() is interrupted by a signal.  Sends
 * heartbeats and reconnects as needed.  Returns 0, or -EINVAL. */
int mq_wait(mq_t *mq, int timeout_ms, struct pollfd *extra, size_t n_extra, struct mq_event *ret);
/* Free what an event owns; the struct may be reused. */
void mq_event_clear(struct mq_event *ev);

#endif
