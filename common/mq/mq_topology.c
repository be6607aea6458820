/* mq_topology.c - declarations and consumers: applied at once, remembered,
 * and replayed in the same order after every reconnect; plus the fixed
 * topology of docs/protocol.md §3 (must match deploy/rabbitmq/definitions.json). */
#include <errno.h>
#include <string.h>

#include <amqp.h>
#include <amqp_framing.h>

#include "err.h"
#include "mq_private.h"
#include "util.h"

#define MQ_GROW(arr, n, cap)                                 \
    do {                                                     \
        if ((n) == (cap)) {                                  \
            (cap) = (cap) ? 2 * (cap) : 8;                   \
            (arr) = xrealloc((arr), (cap) * sizeof(*(arr))); \
        }                                                    \
    } while (0)

static amqp_table_entry_t mq_entry_str(const char *k, const char *v) {
    amqp_table_entry_t e = { .key = amqp_cstring_bytes(k) };
    e.value.kind = AMQP_FIELD_KIND_UTF8;
    e.value.value.bytes = amqp_cstring_bytes(v);
    return e;
}

static amqp_table_entry_t mq_entry_int(const char *k, int64_t v) {
    amqp_table_entry_t e = { .key = amqp_cstring_bytes(k) };
    e.value.kind = AMQP_FIELD_KIND_I64;
    e.value.value.i64 = v;
    return e;
}

static amqp_table_entry_t mq_entry_bool(const char *k, bool v) {
    amqp_table_entry_t e = { .key = amqp_cstring_bytes(k) };
    e.value.kind = AMQP_FIELD_KIND_BOOLEAN;
    e.value.value.boolean = v;
    return e;
}

static int mq_quorum_declare(mq_t *mq, const struct mq_decl *d) {
    amqp_table_entry_t e[4];
    int n = 0;

    e[n++] = mq_entry_str("x-queue-type", "quorum");
    /* vmseal.dead is the end of the line: it dead-letters nowhere. */
    if (strcmp(d->name, MQ_Q_DEAD) != 0)
        e[n++] = mq_entry_str("x-dead-letter-exchange", MQ_X_DLX);
    if (d->delivery_limit > 0)
        e[n++] = mq_entry_int("x-delivery-limit", d->delivery_limit);
    if (d->sac)
        e[n++] = mq_entry_bool("x-single-active-consumer", true);
    amqp_queue_declare(mq->conn, MQ_CHANNEL, amqp_cstring_bytes(d->name), 0, 1, 0, 0,
                       (amqp_table_t){ .num_entries = n, .entries = e });
    return mq_rpc_check(mq, d->name);
}

int mq_decl_apply(mq_t *mq, const struct mq_decl *d) {
    if (!mq->conn)
        return -VMS_E_CONN_LOST;
    mq_cork(mq, false);
    switch (d->kind) {
    case MQ_DECL_EXCHANGE:
        amqp_exchange_declare(mq->conn, MQ_CHANNEL, amqp_cstring_bytes(d->name), amqp_cstring_bytes(d->arg1), 0, 1,
                              0, 0, amqp_empty_table);
        return mq_rpc_check(mq, d->name);
    case MQ_DECL_QUORUM: return mq_quorum_declare(mq, d);
    case MQ_DECL_CLASSIC:
        amqp_queue_declare(mq->conn, MQ_CHANNEL, amqp_cstring_bytes(d->name), 0, 1, 0, 0, amqp_empty_table);
        return mq_rpc_check(mq, d->name);
    case MQ_DECL_EXCLUSIVE:
        amqp_queue_declare(mq->conn, MQ_CHANNEL, amqp_cstring_bytes(d->name), 0, 0, 1, 1, amqp_empty_table);
        return mq_rpc_check(mq, d->name);
    case MQ_DECL_PASSIVE:
        amqp_queue_declare(mq->conn, MQ_CHANNEL, amqp_cstring_bytes(d->name), 1, 0, 0, 0, amqp_empty_table);
        return mq_rpc_check(mq, d->name);
    case MQ_DECL_BIND:
        amqp_queue_bind(mq->conn, MQ_CHANNEL, amqp_cstring_bytes(d->name), amqp_cstring_bytes(d->arg1),
                        amqp_cstring_bytes(d->arg2), amqp_empty_table);
        return mq_rpc_check(mq, d->name);
    }
    return -EINVAL;
}

static void mq_decl_free(struct mq_decl *d) {
    free(d->name);
    free(d->arg1);
    free(d->arg2);
}

static bool mq_decl_same(const struct mq_decl *a, const struct mq_decl *b) {
    return a->kind == b->kind && strcmp(a->name, b->name) == 0 &&
           !strcmp(a->arg1 ? a->arg1 : "", b->arg1 ? b->arg1 : "") &&
           !strcmp(a->arg2 ? a->arg2 : "", b->arg2 ? b->arg2 : "") && a->delivery_limit == b->delivery_limit &&
           a->sac == b->sac;
}

/* Apply d now; remember it (once) when the broker accepted it.  Takes
 * ownership of d's strings. */
static int mq_decl_add(mq_t *mq, struct mq_decl d) {
    int r = mq_decl_apply(mq, &d);

    if (r < 0) {
        mq_decl_free(&d);
        return r;
    }
    for (size_t i = 0; i < mq->n_decls; i++)
        if (mq_decl_same(&mq->decls[i], &d)) {
            mq_decl_free(&d);
            return 0;
        }
    MQ_GROW(mq->decls, mq->n_decls, mq->cap_decls);
    mq->decls[mq->n_decls++] = d;
    return 0;
}

int mq_declare_exchange(mq_t *mq, const char *name, const char *type) {
    if (!mq || !name || !type)
        return -EINVAL;
    return mq_decl_add(mq,
                       (struct mq_decl){ .kind = MQ_DECL_EXCHANGE, .name = xstrdup(name), .arg1 = xstrdup(type) });
}

int mq_declare_quorum_queue(mq_t *mq, const char *name, int delivery_limit, bool sac) {
    if (!mq || !name || delivery_limit < 0)
        return -EINVAL;
    return mq_decl_add(
        mq, (struct mq_decl){
                .kind = MQ_DECL_QUORUM, .name = xstrdup(name), .delivery_limit = delivery_limit, .sac = sac });
}

int mq_declare_classic_queue(mq_t *mq, const char *name) {
    if (!mq || !name)
        return -EINVAL;
    return mq_decl_add(mq, (struct mq_decl){ .kind = MQ_DECL_CLASSIC, .name = xstrdup(name) });
}

int mq_declare_exclusive_queue(mq_t *mq, char ret_name[256]) {
    char id[VMS_UUID_STRLEN + 1];
    int r;

    if (!mq || !ret_name)
        return -EINVAL;
    uuid_new(id);
    /* Client-named so that the same name comes back after a reconnect. */
    snprintf(ret_name, 256, "%s%s", MQ_Q_EXCLUSIVE_PREFIX, id);
    r = mq_decl_add(mq, (struct mq_decl){ .kind = MQ_DECL_EXCLUSIVE, .name = xstrdup(ret_name) });
    if (r < 0)
        ret_name[0] = '\0';
    return r;
}

int mq_check_queue(mq_t *mq, const char *name) {
    if (!mq || !name)
        return -EINVAL;
    return mq_decl_add(mq, (struct mq_decl){ .kind = MQ_DECL_PASSIVE, .name = xstrdup(name) });
}

int mq_bind(mq_t *mq, const char *queue, const char *exchange, const char *routing_key) {
    if (!mq || !queue || !exchange)
        return -EINVAL;
    return mq_decl_add(mq, (struct mq_decl){ .kind = MQ_DECL_BIND,
                                             .name = xstrdup(queue),
                                             .arg1 = xstrdup(exchange),
                                             .arg2 = xstrdup(routing_key ? routing_key : "") });
}

int mq_declare_topology(mq_t *mq) {
    static const struct {
        const char *name, *type;
    } exchanges[] = {
        { MQ_X_JOBS, "topic" },
        { MQ_X_EVENTS, "topic" },
        { MQ_X_CONTROL, "fanout" },
        { MQ_X_DLX, "fanout" },
    };
    int r;

    for (size_t i = 0; i < ARRAY_SIZE(exchanges); i++)
        if ((r = mq_declare_exchange(mq, exchanges[i].name, exchanges[i].type)) < 0)
            return r;
    if ((r = mq_declare_quorum_queue(mq, MQ_Q_DEAD, 0, false)) < 0 ||
        (r = mq_bind(mq, MQ_Q_DEAD, MQ_X_DLX, "")) < 0 ||
        (r = mq_declare_quorum_queue(mq, MQ_Q_REQUESTS, MQ_DELIVERY_LIMIT, true)) < 0 ||
        (r = mq_declare_quorum_queue(mq, MQ_Q_EVENTS_PRODUCER, MQ_DELIVERY_LIMIT, false)) < 0 ||
        (r = mq_bind(mq, MQ_Q_EVENTS_PRODUCER, MQ_X_EVENTS, "job.#")) < 0 ||
        (r = mq_bind(mq, MQ_Q_EVENTS_PRODUCER, MQ_X_EVENTS, "worker.#")) < 0 ||
        (r = mq_declare_quorum_queue(mq, MQ_Q_RPC, MQ_DELIVERY_LIMIT, false)) < 0)
        return r;
    return 0;
}

int mq_declare_pool(mq_t *mq, const char *pool, const char *const *keys, size_t n_keys) {
    _cleanup_free_ char *q = NULL;
    int r;

    if (!mq || !pool || (n_keys && !keys))
        return -EINVAL;
    q = xasprintf("%s%s", MQ_Q_JOBS_PREFIX, pool);
    if ((r = mq_declare_quorum_queue(mq, q, MQ_DELIVERY_LIMIT, false)) < 0)
        return r;
    for (size_t i = 0; i < n_keys; i++)
        if ((r = mq_bind(mq, q, MQ_X_JOBS, keys[i])) < 0)
            return r;
    return 0;
}

/* basic.qos with global=false applies to the consumers started after it on
 * this channel: that is how prefetch becomes per consumer.  (A global QoS
 * breaks consuming from quorum queues - FACTS.) */
int mq_consumer_start(mq_t *mq, struct mq_consumer *c) {
    amqp_basic_consume_ok_t *ok;
    int r;

    if (!mq->conn)
        return -VMS_E_CONN_LOST;
    mq_cork(mq, false);
    if (!c->no_ack) {
        amqp_basic_qos(mq->conn, MQ_CHANNEL, 0, c->prefetch, 0);
        if ((r = mq_rpc_check(mq, c->queue)) < 0)
            return r;
    }
    ok = amqp_basic_consume(mq->conn, MQ_CHANNEL, amqp_cstring_bytes(c->queue), amqp_empty_bytes, 0, c->no_ack,
                            c->exclusive, amqp_empty_table);
    if ((r = mq_rpc_check(mq, c->queue)) < 0)
        return r;
    free(c->tag);
    c->tag = mq_bytes_dup(ok->consumer_tag);
    return 0;
}

int mq_consume(mq_t *mq, const char *queue, uint16_t prefetch, bool exclusive, bool no_ack) {
    struct mq_consumer c = { .prefetch = prefetch, .exclusive = exclusive, .no_ack = no_ack };
    int r;

    if (!mq || !queue)
        return -EINVAL;
    for (size_t i = 0; i < mq->n_consumers; i++)
        if (strcmp(mq->consumers[i].queue, queue) == 0) {
            mq_set_why(mq, "already consuming from %s", queue);
            return -VMS_E_STATE;
        }
    c.queue = xstrdup(queue);
    if ((r = mq_consumer_start(mq, &c)) < 0) {
        free(c.queue);
        free(c.tag);
        return r;
    }
    MQ_GROW(mq->consumers, mq->n_consumers, mq->cap_consumers);
    mq->consumers[mq->n_consumers++] = c;
    return 0;
}

static void mq_consumer_remove(mq_t *mq, size_t i) {
    free(mq->consumers[i].queue);
    free(mq->consumers[i].tag);
    memmove(&mq->consumers[i], &mq->consumers[i + 1], (mq->n_consumers - i - 1) * sizeof(*mq->consumers));
    mq->n_consumers--;
}

int mq_cancel(mq_t *mq, const char *queue) {
    int r = 0;

    if (!mq || !queue)
        return -EINVAL;
    for (size_t i = 0; i < mq->n_consumers; i++) {
        struct mq_consumer *c = &mq->consumers[i];
        if (strcmp(c->queue, queue) != 0)
            continue;
        if (mq->conn && c->tag) {
            mq_cork(mq, false);
            amqp_basic_cancel(mq->conn, MQ_CHANNEL, amqp_cstring_bytes(c->tag));
            r = mq_rpc_check(mq, queue);
        }
        mq_consumer_remove(mq, i);
        return r;
    }
    mq_set_why(mq, "not consuming from %s", queue);
    return -VMS_E_NOT_FOUND;
}

int mq_replay(mq_t *mq) {
    int r;

    for (size_t i = 0; i < mq->n_decls; i++)
        if ((r = mq_decl_apply(mq, &mq->decls[i])) < 0)
            return r;
    for (size_t i = 0; i < mq->n_consumers; i++) {
        if ((r = mq_consumer_start(mq, &mq->consumers[i])) == 0)
            continue;
        if (r == -VMS_E_NOT_FOUND) {
            /* its queue is gone (deleted while we were away): report the
             * consumer cancelled and forget it, or every replay would fail */
            struct mq_event ev = { .type = MQ_EV_CANCELLED, .consumer_queue = xstrdup(mq->consumers[i].queue) };
            mq_evq_push(mq, &ev);
            mq_consumer_remove(mq, i);
        }
        return r;
    }
    return 0;
}

static ssize_t mq_consumer_find(const mq_t *mq, amqp_bytes_t tag) {
    for (size_t i = 0; i < mq->n_consumers; i++) {
        const char *t = mq->consumers[i].tag;
        if (t && strlen(t) == tag.len && memcmp(t, tag.bytes, tag.len) == 0)
            return (ssize_t)i;
    }
    return -1;
}

const char *mq_consumer_queue(const mq_t *mq, amqp_bytes_t tag) {
    ssize_t i = mq_consumer_find(mq, tag);
    return i < 0 ? NULL : mq->consumers[i].queue;
}

/* The broker cancelled this consumer (its queue is gone): do not replay it. */
void mq_consumer_forget_tag(mq_t *mq, amqp_bytes_t tag) {
    ssize_t i = mq_consumer_find(mq, tag);
    if (i >= 0)
        mq_consumer_remove(mq, (size_t)i);
}

void mq_topology_free(mq_t *mq) {
    for (size_t i = 0; i < mq->n_decls; i++)
        mq_decl_free(&mq->decls[i]);
    free(mq->decls);
    while (mq->n_consumers)
        mq_consumer_remove(mq, mq->n_consumers - 1);
    free(mq->consumers);
}
