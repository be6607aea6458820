/* test_mq_repair.c - the client repairs a publish path the broker keeps
 * refusing (label broker; mq.h, RELIABILITY.md "Nacks after a node loss").
 *
 * The refusal is made the way RabbitMQ 3.10 makes it: a quorum queue with a
 * length limit and overflow reject-publish tells every channel that
 * publishes to it to refuse; when the limit is lifted while the queue is
 * over it, nothing ever tells those channels to accept again, so they nack
 * every later publish to the queue for as long as they live - the same
 * per-channel state a node loss can leave behind.  Only a new channel (or
 * connection) publishes again.  A confirm that never comes is made by
 * suspending a classic queue's process. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "err.h"
#include "mq.h"
#include "mqtest.h"
#include "testbroker.h"
#include "util.h"

#define REFUSE_POLICY "{\"max-length\":0,\"overflow\":\"reject-publish\"}"

/* What a publisher saw, one publish per step. */
struct pub {
    mq_t *mq;
    const char *queue;
    int acked, nacked, lost, reconnected;
    int repaired;
    char text[4][512]; /* the first MQ_EV_REPAIRED texts */
    int acked_at_repair[4];
};

static mq_t *open_client(const struct config_broker *b, bool publish_channel, int confirm_timeout_ms) {
    char err[512] = "";
    mq_t *mq = NULL;
    int r = mq_open(&(struct mq_opts){ .broker = b,
                                       .conn_name = "mqtest-repair",
                                       .max_backoff_ms = 500,
                                       .publish_channel = publish_channel,
                                       .confirm_timeout_ms = confirm_timeout_ms,
                                       .why = err,
                                       .why_len = sizeof(err) },
                    &mq);

    if (r < 0)
        fail_msg("mq_open: %s: %s", err_str(r), err);
    return mq;
}

/* Publish one message (when connected), then take events for wait_ms. */
static void pub_step(struct pub *p, int wait_ms) {
    struct mq_event ev;
    int64_t deadline = time_mono_ms() + wait_ms;

    if (mq_connected(p->mq))
        (void)mq_publish(p->mq, "", p->queue, &(struct mq_props){ .message_id = "m" }, "x", 1, NULL);
    while (time_mono_ms() < deadline) {
        assert_int_equal(mq_wait(p->mq, (int)(deadline - time_mono_ms()), NULL, 0, &ev), 0);
        switch (ev.type) {
        case MQ_EV_CONFIRM:
            if (ev.status == 0)
                p->acked++;
            else if (ev.status == -VMS_E_NACKED)
                p->nacked++;
            else if (ev.status == -VMS_E_CONN_LOST)
                p->lost++;
            else
                fail_msg("unexpected confirm status %s", err_str(ev.status));
            break;
        case MQ_EV_REPAIRED:
            if (p->repaired < 4) {
                snprintf(p->text[p->repaired], sizeof(p->text[0]), "%s", ev.text);
                p->acked_at_repair[p->repaired] = p->acked;
            }
            p->repaired++;
            break;
        case MQ_EV_RECONNECTED: p->reconnected++; break;
        default: break;
        }
        mq_event_clear(&ev);
    }
}

/* Steps of 100 ms until *counter reaches want; fails after timeout_ms. */
static void pub_until(struct pub *p, const int *counter, int want, int timeout_ms, const char *what) {
    int64_t deadline = time_mono_ms() + timeout_ms;

    while (*counter < want) {
        if (time_mono_ms() > deadline)
            fail_msg("%s: not within %d ms (acked %d, nacked %d, lost %d, repaired %d, reconnected %d)", what,
                     timeout_ms, p->acked, p->nacked, p->lost, p->repaired, p->reconnected);
        pub_step(p, 100);
    }
}

static void policy(struct testbroker *tb, const char *name, const char *pattern, const char *def) {
    assert_int_equal(testbroker_policy(tb, name, pattern, def), 0);
}

/* A quorum queue that refuses, then is lifted while over its limit: the
 * channel that was told to refuse is replaced (deliveries and epoch
 * untouched), then the connection is dropped, and publishes are confirmed
 * again once the path is new. */
static void test_refusing_queue_repaired(void **state) {
    struct testbroker *tb = *state;
    struct pub p = { .mq = open_client(&tb->broker, true, 0), .queue = "repair.refuse" };
    struct mq_event ev;

    assert_int_equal(mq_declare_quorum_queue(p.mq, "repair.refuse", 0, false), 0);
    assert_int_equal(mq_declare_classic_queue(p.mq, "repair.in"), 0);
    assert_int_equal(mq_consume(p.mq, "repair.in", 1, false, false), 0);
    assert_int_equal(mq_publish_wait(p.mq, "", "repair.in", NULL, "in", 2, 5000), 0);
    assert_int_equal(mqtest_wait_type(p.mq, MQ_EV_DELIVERY, 5000, &ev, NULL), 0);

    policy(tb, "repair-refuse", "^repair\\.refuse$", REFUSE_POLICY);
    pub_until(&p, &p.nacked, MQ_NACK_STREAK, 15000, "nacks under the limit");
    pub_until(&p, &p.repaired, 1, 5000, "first repair");
    assert_non_null(strstr(p.text[0], "refused"));
    assert_non_null(strstr(p.text[0], "replaced the publish channel"));
    /* the consuming channel was not touched: the delivery is still ours */
    assert_int_equal(p.reconnected, 0);
    assert_int_equal(mq_epoch(p.mq), 1);
    assert_int_equal(mq_ack(p.mq, &ev.delivery), 0);
    mq_event_clear(&ev);

    /* the new channel registers while the queue is still over its limit */
    pub_until(&p, &p.repaired, 2, 15000, "second repair");
    assert_non_null(strstr(p.text[1], "dropped the connection"));
    pub_until(&p, &p.reconnected, 1, 10000, "reconnect");

    /* Lifted while over the limit: the broker never tells a refusing
     * channel to accept again; only the next repair brings confirms back. */
    int acked = p.acked;
    policy(tb, "repair-refuse", NULL, NULL);
    pub_until(&p, &p.acked, acked + 3, 40000, "confirms after the limit was lifted");
    assert_true(p.repaired <= 4);
    if (p.repaired > 2)
        assert_non_null(strstr(p.text[2], "replaced the publish channel"));
    int nacked = p.nacked;
    for (int i = 0; i < 10; i++)
        pub_step(&p, 100);
    assert_int_equal(p.nacked, nacked);
    mq_close(p.mq);
}

/* Without a publish channel of its own the client can only reconnect. */
static void test_single_channel_reconnects(void **state) {
    struct testbroker *tb = *state;
    struct pub p = { .mq = open_client(&tb->broker, false, 0), .queue = "repair.single" };

    assert_int_equal(mq_declare_quorum_queue(p.mq, "repair.single", 0, false), 0);
    policy(tb, "repair-single", "^repair\\.single$", REFUSE_POLICY);
    pub_until(&p, &p.repaired, 1, 15000, "repair");
    assert_non_null(strstr(p.text[0], "dropped the connection"));
    pub_until(&p, &p.reconnected, 1, 10000, "reconnect");
    policy(tb, "repair-single", NULL, NULL);
    int acked = p.acked;
    pub_until(&p, &p.acked, acked + 3, 40000, "confirms after the limit was lifted");
    mq_close(p.mq);
}

/* `rabbitmqctl eval` of sys:OP on the process of a classic queue. */
static void queue_process(struct testbroker *tb, const char *queue, const char *op) {
    char expr[512], *out = NULL;

    snprintf(expr, sizeof(expr),
             "{ok, Q} = rabbit_amqqueue:lookup(rabbit_misc:r(<<\"%s\">>, queue, <<\"%s\">>)), "
             "sys:%s(amqqueue:get_pid(Q)).",
             tb->vhost, queue, op);
    if (testbroker_ctl(tb, &out, "eval", expr, NULL) != 0)
        fail_msg("rabbitmqctl eval sys:%s: %s", op, out ? out : "");
    free(out);
}

/* A publish without a confirm for confirm_timeout_ms: reported lost, the
 * channel replaced; the publish goes out again and is confirmed. */
static void test_confirm_timeout_repaired(void **state) {
    struct testbroker *tb = *state;
    struct pub p = { .mq = open_client(&tb->broker, true, 1000), .queue = "repair.slow" };

    assert_int_equal(mq_declare_classic_queue(p.mq, "repair.slow"), 0);
    assert_int_equal(mq_publish_wait(p.mq, "", "repair.slow", NULL, "x", 1, 5000), 0);
    queue_process(tb, "repair.slow", "suspend");
    int64_t t0 = time_mono_ms();
    pub_until(&p, &p.repaired, 1, 10000, "repair after the confirm timeout");
    int64_t waited = time_mono_ms() - t0;
    queue_process(tb, "repair.slow", "resume");
    assert_true(waited >= 1000);
    assert_non_null(strstr(p.text[0], "no confirm for a publish in 1000 ms"));
    assert_non_null(strstr(p.text[0], "replaced the publish channel"));
    assert_true(p.lost >= 1);
    assert_int_equal(p.acked, 0);
    pub_until(&p, &p.acked, 3, 10000, "confirms after the resume");
    mq_close(p.mq);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_refusing_queue_repaired),
        cmocka_unit_test(test_single_channel_reconnects),
        cmocka_unit_test(test_confirm_timeout_repaired),
    };
    return cmocka_run_group_tests(tests, testbroker_group_setup, testbroker_group_teardown);
}
