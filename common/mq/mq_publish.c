/* mq_publish.c - publishing with publisher confirms: sequence numbers,
 * the window of unconfirmed publishes (basic.ack/nack with `multiple`
 * expanded, basic.return matched by sequence number), and publishes held
 * while the broker blocks the connection. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <amqp.h>
#include <amqp_framing.h>

#include "err.h"
#include "mq_private.h"
#include "util.h"

#define MQ_HELD_MAX 10000

int mq_pending_confirms(const mq_t *mq) {
    size_t n = mq->n_held;

    for (size_t i = mq->pend_head; i < mq->pend_len; i++)
        n += !mq->pending[i].done;
    return (int)n;
}

/* ---- publisher confirms ------------------------------------------------ */

static void mq_pending_add(mq_t *mq, uint64_t seq, uint64_t dest) {
    if (mq->pend_len == mq->pend_cap) {
        if (mq->pend_head > 0) {
            memmove(mq->pending, mq->pending + mq->pend_head,
                    (mq->pend_len - mq->pend_head) * sizeof(*mq->pending));
            mq->pend_len -= mq->pend_head;
            mq->pend_head = 0;
        }
        if (mq->pend_len == mq->pend_cap) {
            mq->pend_cap = mq->pend_cap ? 2 * mq->pend_cap : 256;
            mq->pending = xrealloc(mq->pending, mq->pend_cap * sizeof(*mq->pending));
        }
    }
    mq->pending[mq->pend_len++] =
        (struct mq_pending){ .seq = seq, .tag = ++mq->next_tag, .sent_ms = time_mono_ms(), .dest = dest };
}

static void mq_pending_finish(mq_t *mq, struct mq_pending *p, int status) {
    /* basic.return comes before the basic.ack of a mandatory publish. */
    mq_push_confirm(mq, p->seq, p->returned ? -VMS_E_RETURNED : status);
    p->done = true;
}

static void mq_pending_compact(mq_t *mq) {
    while (mq->pend_head < mq->pend_len && mq->pending[mq->pend_head].done)
        mq->pend_head++;
    if (mq->pend_head == mq->pend_len)
        mq->pend_head = mq->pend_len = 0;
}

static struct mq_pending *mq_pending_find(mq_t *mq, uint64_t tag) {
    size_t lo = mq->pend_head, hi = mq->pend_len;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (mq->pending[mid].tag < tag)
            lo = mid + 1;
        else
            hi = mid;
    }
    return (lo < mq->pend_len && mq->pending[lo].tag == tag) ? &mq->pending[lo] : NULL;
}

/* ---- repairing the publish path (mq.h) ---------------------------------- */

/* Ask for a repair (mq_wait carries it out) unless one waits already or the
 * last one is too recent. */
static void mq_repair_ask(mq_t *mq, int64_t now, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void mq_repair_ask(mq_t *mq, int64_t now, const char *fmt, ...) {
    va_list ap;

    if (mq->repair_why[0] || now < mq->next_repair_ms)
        return;
    va_start(ap, fmt);
    vsnprintf(mq->repair_why, sizeof(mq->repair_why), fmt, ap);
    va_end(ap);
}

static uint64_t mq_dest_hash(const char *exchange, const char *routing_key) {
    uint64_t h = 14695981039346656037u; /* FNV-1a */

    for (const char *s = exchange; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211u;
    h *= 1099511628211u;
    for (const char *s = routing_key ? routing_key : ""; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211u;
    return h;
}

/* The most nacks in a row to one destination. */
static int mq_refusing_worst(const mq_t *mq) {
    int worst = 0;

    for (size_t i = 0; i < mq->n_refusing; i++)
        if (mq->refusing[i].nacks > worst)
            worst = mq->refusing[i].nacks;
    return worst;
}

static void mq_refusal_note(mq_t *mq, uint64_t dest, int status) {
    size_t i = 0;

    while (i < mq->n_refusing && mq->refusing[i].dest != dest)
        i++;
    if (status != -VMS_E_NACKED) {
        if (i == mq->n_refusing)
            return;
        mq->refusing[i] = mq->refusing[--mq->n_refusing];
        if (mq->n_refusing == 0) { /* every refused destination accepts again */
            mq->repairs = 0;
            mq->repair_gap_ms = MQ_REPAIR_GAP_MIN_MS;
        }
        return;
    }
    if (i == mq->n_refusing) {
        if (mq->n_refusing == MQ_REFUSING_MAX)
            i = 0; /* forget one: many refused destinations make a streak anyway */
        else
            mq->n_refusing++;
        mq->refusing[i] = (struct mq_refusing){ .dest = dest };
    }
    mq->refusing[i].nacks++; /* mq_confirm_check() asks for the repair */
}

void mq_confirm_check(mq_t *mq, int64_t now, int64_t *ret_due_ms) {
    const struct mq_pending *oldest = NULL;
    int64_t due = INT64_MAX;

    for (size_t i = mq->pend_head; i < mq->pend_len && !oldest; i++)
        if (!mq->pending[i].done)
            oldest = &mq->pending[i];
    int worst = mq_refusing_worst(mq);

    if (oldest && !mq->blocked)
        due = oldest->sent_ms + mq->opts.confirm_timeout_ms;
    if (worst >= MQ_NACK_STREAK)
        due = now;
    if (due != INT64_MAX && due < mq->next_repair_ms)
        due = mq->next_repair_ms;
    if (due <= now && !mq->repair_why[0]) {
        if (worst >= MQ_NACK_STREAK)
            mq_repair_ask(mq, now, "the broker refused %d publishes in a row (nack)", worst);
        else
            mq_repair_ask(mq, now, "no confirm for a publish in %d ms", mq->opts.confirm_timeout_ms);
    }
    *ret_due_ms = mq->repair_why[0] ? now : due;
}

void mq_repair(mq_t *mq) {
    struct mq_event ev = { .type = MQ_EV_REPAIRED };
    const struct config_broker *b = mq->opts.broker;
    char text[ERR_WHY_LEN];
    bool reconnect = !mq->opts.publish_channel || mq->repairs == 1;
    uint16_t old = mq->pub_channel;

    mq->repairs++;
    mq->n_refusing = 0; /* the new path starts afresh */
    mq->next_repair_ms = time_mono_ms() + mq->repair_gap_ms;
    mq->repair_gap_ms =
        mq->repair_gap_ms * 2 > MQ_REPAIR_GAP_MAX_MS ? MQ_REPAIR_GAP_MAX_MS : mq->repair_gap_ms * 2;
    if (!reconnect) {
        /* the old channel's close-ok and late frames are dropped (mq_on_method) */
        amqp_channel_close_t close = { .reply_code = AMQP_REPLY_SUCCESS,
                                       .reply_text = amqp_cstring_bytes("vmseal: replacing the publish channel") };
        mq_pending_lose(mq);
        if (amqp_send_method(mq->conn, old, AMQP_CHANNEL_CLOSE_METHOD, &close) != AMQP_STATUS_OK ||
            mq_pub_channel_open(mq, "opening a new publish channel") < 0) {
            reconnect = true;
        } else {
            snprintf(text, sizeof(text),
                     "%s: replaced the publish channel (%u -> %u); unconfirmed publishes go out again",
                     mq->repair_why, old, mq->pub_channel);
        }
    }
    if (reconnect) {
        if (b->n_hosts > 1)
            mq->host_first = (mq->host_cur + 1) % b->n_hosts;
        snprintf(text, sizeof(text), "%s%s: dropped the connection to %s; reconnecting%s", mq->repair_why,
                 mq->opts.publish_channel ? ", also on a new publish channel" : "", b->hosts[mq->host_cur],
                 b->n_hosts > 1 ? ", another host first" : "");
        mq_lose(mq);
    }
    mq->repair_why[0] = '\0';
    ev.text = xstrdup(text);
    mq_evq_push(mq, &ev);
}

void mq_on_confirm(mq_t *mq, uint64_t tag, bool multiple, int status) {
    if (multiple) {
        for (size_t i = mq->pend_head; i < mq->pend_len && mq->pending[i].tag <= tag; i++)
            if (!mq->pending[i].done) {
                mq_pending_finish(mq, &mq->pending[i], status);
                mq_refusal_note(mq, mq->pending[i].dest, status);
            }
    } else {
        struct mq_pending *p = mq_pending_find(mq, tag);
        if (p && !p->done) {
            mq_pending_finish(mq, p, status);
            mq_refusal_note(mq, p->dest, status);
        }
    }
    mq_pending_compact(mq);
}

/* A returned message carries the sequence number of its publish in a
 * header (mandatory publishes only): mark that publish returned; its ack
 * follows. */
void mq_on_return(mq_t *mq, const amqp_message_t *msg) {
    const amqp_basic_properties_t *p = &msg->properties;
    const amqp_field_value_t *v;
    int64_t seq;

    if (!(p->_flags & AMQP_BASIC_HEADERS_FLAG) || !(v = mq_table_get(&p->headers, MQ_HDR_SEQ)) ||
        !mq_field_int(v, &seq))
        return;
    for (size_t i = mq->pend_head; i < mq->pend_len; i++)
        if (mq->pending[i].seq == (uint64_t)seq && !mq->pending[i].done) {
            mq->pending[i].returned = true;
            return;
        }
}

static void mq_held_free(struct mq_held *h) {
    free(h->exchange);
    free(h->routing_key);
    free(h->message_id);
    free(h->correlation_id);
    free(h->reply_to);
    free(h->type);
    free(h->reason);
    free(h->body);
}

/* ---- publishing -------------------------------------------------------- */

/* The connection is gone: every publish without a confirm is reported lost. */
void mq_pending_lose(mq_t *mq) {
    for (size_t i = mq->pend_head; i < mq->pend_len; i++)
        if (!mq->pending[i].done)
            mq_pending_finish(mq, &mq->pending[i], -VMS_E_CONN_LOST);
    mq->pend_head = mq->pend_len = 0;
}

void mq_publish_lose(mq_t *mq) {
    mq_pending_lose(mq);
    for (size_t i = 0; i < mq->n_held; i++) {
        mq_push_confirm(mq, mq->held[i].seq, -VMS_E_CONN_LOST);
        mq_held_free(&mq->held[i]);
    }
    mq->n_held = 0;
}

void mq_publish_free(mq_t *mq) {
    free(mq->pending);
    for (size_t i = 0; i < mq->n_held; i++)
        mq_held_free(&mq->held[i]);
    free(mq->held);
}

static char *mq_strdup_opt(const char *s) { return s ? xstrdup(s) : NULL; }

/* While the broker blocks the connection, publishes are held here (up to
 * MQ_HELD_MAX) and sent in order on connection.unblocked. */
static int mq_hold(mq_t *mq, const char *exchange, const char *routing_key, const struct mq_props *props,
                   const void *body, size_t len, uint64_t *ret_seq) {
    static const struct mq_props none;
    struct mq_held *h;

    if (!props)
        props = &none;
    if (mq->n_held >= MQ_HELD_MAX) {
        mq_set_why(mq, "connection blocked by the broker (resource alarm); %zu publishes held", mq->n_held);
        return -EAGAIN;
    }
    if (mq->n_held == mq->cap_held) {
        mq->cap_held = mq->cap_held ? 2 * mq->cap_held : 64;
        mq->held = xrealloc(mq->held, mq->cap_held * sizeof(*mq->held));
    }
    h = &mq->held[mq->n_held++];
    *h = (struct mq_held){
        .seq = ++mq->next_seq,
        .exchange = xstrdup(exchange),
        .routing_key = mq_strdup_opt(routing_key),
        .message_id = mq_strdup_opt(props->message_id),
        .correlation_id = mq_strdup_opt(props->correlation_id),
        .reply_to = mq_strdup_opt(props->reply_to),
        .type = mq_strdup_opt(props->type),
        .reason = mq_strdup_opt(props->reason),
        .transient = props->transient,
        .mandatory = props->mandatory,
        .body = xmalloc(len ? len : 1),
        .len = len,
    };
    if (len)
        memcpy(h->body, body, len);
    if (ret_seq)
        *ret_seq = h->seq;
    return 0;
}

static int mq_send_tracked(mq_t *mq, uint64_t seq, const char *exchange, const char *routing_key,
                           const struct mq_props *props, const void *body, size_t len) {
    int r = mq_send_publish(mq, seq, exchange, routing_key, props, body, len);

    if (r < 0) {
        mq_lose(mq);
        return r;
    }
    mq_pending_add(mq, seq, mq_dest_hash(exchange, routing_key));
    return 0;
}

/* Send what was held, in order.  The list is taken out of mq first so that
 * a connection loss half-way (mq_lose) cannot see it; what was not sent is
 * then reported lost here. */
void mq_flush_held(mq_t *mq) {
    struct mq_held *list = mq->held;
    size_t n = mq->n_held;

    mq->held = NULL;
    mq->n_held = mq->cap_held = 0;
    for (size_t i = 0; i < n; i++) {
        struct mq_held *h = &list[i];
        struct mq_props p = {
            .message_id = h->message_id,
            .correlation_id = h->correlation_id,
            .reply_to = h->reply_to,
            .type = h->type,
            .reason = h->reason,
            .transient = h->transient,
            .mandatory = h->mandatory,
        };
        if (!mq->conn || mq_send_tracked(mq, h->seq, h->exchange, h->routing_key, &p, h->body, h->len) < 0)
            mq_push_confirm(mq, h->seq, -VMS_E_CONN_LOST);
        mq_held_free(h);
    }
    free(list);
}

int mq_publish(mq_t *mq, const char *exchange, const char *routing_key, const struct mq_props *props,
               const void *body, size_t len, uint64_t *ret_seq) {
    uint64_t seq;
    int r;

    if (!mq || !exchange || (len && !body))
        return -EINVAL;
    /* rabbitmq-c 0.11 waits without limit in a send to a broker that stopped
     * reading (a blocked connection): look for connection.blocked first */
    if (mq->conn)
        mq_read_ready(mq);
    if (!mq->conn) {
        mq_set_why(mq, "not connected to the broker (reconnecting)");
        return -VMS_E_CONN_LOST;
    }
    if (mq->blocked || mq->n_held)
        return mq_hold(mq, exchange, routing_key, props, body, len, ret_seq);
    seq = mq->next_seq + 1;
    if ((r = mq_send_tracked(mq, seq, exchange, routing_key, props, body, len)) < 0)
        return r;
    mq->next_seq = seq;
    if (ret_seq)
        *ret_seq = seq;
    return 0;
}

int mq_publish_wait(mq_t *mq, const char *exchange, const char *routing_key, const struct mq_props *props,
                    const void *body, size_t len, int timeout_ms) {
    uint64_t seq;
    int64_t deadline;
    int r, status;

    if ((r = mq_publish(mq, exchange, routing_key, props, body, len, &seq)) < 0)
        return r;
    deadline = timeout_ms < 0 ? INT64_MAX : time_mono_ms() + timeout_ms;
    for (;;) {
        if (mq_evq_take_confirm(mq, seq, &status))
            return status;
        if (!mq->conn)
            return -VMS_E_CONN_LOST;
        if (mq_buffered(mq)) {
            mq_read_one(mq);
            continue;
        }
        if (time_mono_ms() >= deadline) {
            mq_set_why(mq, "no confirm for publish %llu within %d ms", (unsigned long long)seq, timeout_ms);
            return -VMS_E_TIMEOUT;
        }
        mq_poll(mq, deadline, NULL, 0);
    }
}
