/* mqtest.c - see mqtest.h. */
#include "mqtest.h"

#include <errno.h>
#include <stdarg.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <amqp.h>
#include <amqp_framing.h>
#include <amqp_tcp_socket.h>
#include <cmocka.h>

#include "err.h"
#include "util.h"

mq_t *mqtest_open(const struct config_broker *b) {
    char err[512] = "";
    mq_t *mq = NULL;
    int r = mq_open(
        &(struct mq_opts){
            .broker = b, .conn_name = "mqtest", .max_backoff_ms = 1000, .why = err, .why_len = sizeof(err) },
        &mq);

    if (r < 0)
        fail_msg("mq_open: %s: %s", err_str(r), err);
    return mq;
}

int mqtest_wait_type(mq_t *mq, enum mq_event_type type, int timeout_ms, struct mq_event *ev, int *ret_other) {
    int64_t deadline = time_mono_ms() + timeout_ms;

    for (;;) {
        int64_t left = deadline - time_mono_ms();
        if (left < 0)
            return -ETIMEDOUT;
        assert_int_equal(mq_wait(mq, (int)left, NULL, 0, ev), 0);
        if (ev->type == type)
            return 0;
        if (ev->type != MQ_EV_NONE && ret_other)
            (*ret_other)++;
        mq_event_clear(ev);
    }
}

int mqtest_queue_delete(const struct testbroker *tb, const char *queue) {
    amqp_connection_state_t c = amqp_new_connection();
    amqp_socket_t *s = amqp_tcp_socket_new(c);
    amqp_rpc_reply_t r;
    int ret = -EIO;

    if (amqp_socket_open(s, "127.0.0.1", tb->port) != AMQP_STATUS_OK)
        goto out;
    r = amqp_login(c, tb->vhost, 0, 131072, 0, AMQP_SASL_METHOD_PLAIN, tb->user, tb->password);
    if (r.reply_type != AMQP_RESPONSE_NORMAL)
        goto out;
    amqp_channel_open(c, 1);
    amqp_queue_delete(c, 1, amqp_cstring_bytes(queue), 0, 0);
    if (amqp_get_rpc_reply(c).reply_type == AMQP_RESPONSE_NORMAL)
        ret = 0;
    amqp_connection_close(c, AMQP_REPLY_SUCCESS);
out:
    amqp_destroy_connection(c);
    return ret;
}

/* ---- flow ---------------------------------------------------------------- */

static void flow_body(size_t i, size_t len, char *buf) {
    for (size_t k = 0; k < len; k++)
        buf[k] = (char)('a' + (i * 31 + k * 7) % 26);
}

void mqtest_flow_init(struct mqtest_flow *f, mq_t *pub, mq_t *con, const char *exchange, const char *routing_key,
                      size_t n, size_t window) {
    memset(f, 0, sizeof(*f));
    f->pub = pub;
    f->con = con;
    f->exchange = exchange;
    f->routing_key = routing_key;
    f->n = n;
    f->window = window;
    f->body_len = 200;
    f->state = xcalloc(n, 1);
    f->seen = xcalloc(n, sizeof(*f->seen));
    f->redo = xcalloc(n, sizeof(*f->redo));
}

void mqtest_flow_free(struct mqtest_flow *f) {
    free(f->state);
    free(f->seen);
    free(f->redo);
    free(f->by_seq);
    memset(f, 0, sizeof(*f));
}

static bool flow_next(struct mqtest_flow *f, size_t *ret) {
    if (f->n_redo) {
        *ret = f->redo[--f->n_redo];
        return true;
    }
    while (f->next < f->n && f->state[f->next] != 0)
        f->next++;
    if (f->next == f->n)
        return false;
    *ret = f->next++;
    return true;
}

static void flow_publish(struct mqtest_flow *f) {
    char id[32], body[256];
    size_t i;
    uint64_t seq;

    while (f->inflight < f->window && mq_connected(f->pub) &&
           (f->throttle_ms <= 0 || time_mono_ms() - f->last_pub_ms >= f->throttle_ms) && flow_next(f, &i)) {
        f->last_pub_ms = time_mono_ms();
        snprintf(id, sizeof(id), "msg-%07zu", i);
        flow_body(i, f->body_len, body);
        int r = mq_publish(f->pub, f->exchange, f->routing_key, &(struct mq_props){ .message_id = id }, body,
                           f->body_len, &seq);
        if (r < 0) {
            assert_int_equal(r, -VMS_E_CONN_LOST);
            f->redo[f->n_redo++] = i;
            return;
        }
        if (seq >= f->by_seq_len) {
            size_t len = f->by_seq_len ? 2 * f->by_seq_len : 1024;
            while (len <= seq)
                len *= 2;
            f->by_seq = xrealloc(f->by_seq, len * sizeof(*f->by_seq));
            f->by_seq_len = len;
        }
        f->by_seq[seq] = i;
        f->state[i] = 1;
        f->inflight++;
    }
}

static void flow_on_confirm(struct mqtest_flow *f, const struct mq_event *ev) {
    assert_true(ev->seq < f->by_seq_len);
    size_t i = f->by_seq[ev->seq];
    assert_int_equal(f->state[i], 1);
    f->inflight--;
    if (ev->status == 0) {
        f->state[i] = 2;
        f->n_confirmed++;
        return;
    }
    /* not confirmed: the broker may or may not have it; publish again */
    assert_true(ev->status == -VMS_E_CONN_LOST || ev->status == -VMS_E_NACKED);
    f->n_lost_confirms++;
    f->state[i] = 0;
    f->redo[f->n_redo++] = i;
}

static void flow_on_delivery(struct mqtest_flow *f, const struct mq_delivery *d) {
    char body[256];
    size_t i;

    assert_non_null(d->message_id);
    assert_int_equal(sscanf(d->message_id, "msg-%zu", &i), 1);
    assert_true(i < f->n);
    assert_string_equal(d->content_type, "application/msgpack");
    flow_body(i, f->body_len, body);
    if (d->body_len != f->body_len || memcmp(d->body, body, f->body_len) != 0)
        f->n_bad_body++;
    if (f->seen[i]++ == 0)
        f->n_unique++;
    else
        f->n_dupes++;
    f->n_redelivered += d->redelivered;
    int r = mq_ack(f->con, d);
    if (r == -VMS_E_STALE || r == -VMS_E_CONN_LOST)
        f->n_stale++;
    else
        assert_int_equal(r, 0);
}

bool mqtest_flow_step(struct mqtest_flow *f, int wait_ms) {
    struct mq_event ev;
    bool busy = false;

    flow_publish(f);
    for (int k = 0; k < 1000; k++) {
        assert_int_equal(mq_wait(f->pub, 0, NULL, 0, &ev), 0);
        if (ev.type == MQ_EV_NONE)
            break;
        busy = true;
        if (ev.type == MQ_EV_CONFIRM)
            flow_on_confirm(f, &ev);
        else if (ev.type == MQ_EV_RECONNECTED)
            f->n_reconnect_pub++;
        mq_event_clear(&ev);
    }
    for (int k = 0; k < 1000; k++) {
        assert_int_equal(mq_wait(f->con, busy || k ? 0 : wait_ms, NULL, 0, &ev), 0);
        if (ev.type == MQ_EV_NONE)
            break;
        busy = true;
        if (ev.type == MQ_EV_DELIVERY)
            flow_on_delivery(f, &ev.delivery);
        else if (ev.type == MQ_EV_RECONNECTED)
            f->n_reconnect_con++;
        else
            assert_int_equal(ev.type, MQ_EV_DELIVERY); /* no cancel expected */
        mq_event_clear(&ev);
    }
    return f->n_confirmed == f->n && f->n_unique == f->n;
}

int mqtest_flow_run(struct mqtest_flow *f, int timeout_ms) {
    int64_t deadline = time_mono_ms() + timeout_ms;

    while (!mqtest_flow_step(f, 2))
        if (time_mono_ms() > deadline)
            return -ETIMEDOUT;
    return 0;
}
