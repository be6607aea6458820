/* test_mq_reconnect.c - the broker application is stopped and started in
 * the middle of a confirmed publish/consume flow: both clients reconnect by
 * themselves and no confirmed message is lost (the publisher republishes
 * what was not confirmed, the consumer dedups by message_id).
 *
 * And a memory alarm (connection.blocked): publishes are held, not blocked
 * on, and go out on connection.unblocked.
 *
 * Both hit the shared test node: this test program is RUN_SERIAL. */
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
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
#include "testutil.h"
#include "util.h"

#define N_MSGS 3000

/* Run `rabbitmqctl -n NODE cmd` in the background while the flow goes on. */
static void ctl_while_flowing(const struct testbroker *tb, struct mqtest_flow *f, const char *cmd) {
    const char *argv[] = { "rabbitmqctl", "-n", tb->node, cmd, NULL };
    int64_t deadline = time_mono_ms() + 60000;
    int status = -1;
    pid_t pid;

    assert_int_equal(testutil_proc_spawn(argv, NULL, "/dev/null", &pid), 0);
    while (testutil_proc_wait(pid, 0, &status) == -ETIMEDOUT) {
        mqtest_flow_step(f, 5);
        if (time_mono_ms() > deadline) {
            testutil_proc_kill(pid, SIGKILL, 0, NULL);
            fail_msg("rabbitmqctl %s did not finish in 60 s", cmd);
        }
    }
    assert_int_equal(status, 0);
}

static void test_stop_start_app(void **state) {
    struct testbroker *tb = *state;
    mq_t *pub = mqtest_open(&tb->broker), *con = mqtest_open(&tb->broker);
    struct mqtest_flow f;
    int64_t deadline = time_mono_ms() + 60000;

    assert_int_equal(mq_declare_quorum_queue(pub, "survivor", MQ_DELIVERY_LIMIT, false), 0);
    assert_int_equal(mq_consume(con, "survivor", 50, false, false), 0);
    mqtest_flow_init(&f, pub, con, "", "survivor", N_MSGS, 64);
    while (f.n_confirmed < N_MSGS / 3) {
        mqtest_flow_step(&f, 2);
        assert_true(time_mono_ms() < deadline);
    }
    size_t confirmed_before = f.n_confirmed;
    f.throttle_ms = 20; /* a trickle (50/s) while the broker goes away and comes back */
    ctl_while_flowing(tb, &f, "stop_app");
    ctl_while_flowing(tb, &f, "start_app");
    f.throttle_ms = 0;
    assert_int_equal(mqtest_flow_run(&f, 60000), 0);
    print_message("confirmed before stop: %zu; reconnects pub %zu (epoch %llu) con %zu (epoch %llu); "
                  "lost confirms %zu; dupes %zu; stale acks %zu\n",
                  confirmed_before, f.n_reconnect_pub, (unsigned long long)mq_epoch(pub), f.n_reconnect_con,
                  (unsigned long long)mq_epoch(con), f.n_lost_confirms, f.n_dupes, f.n_stale);
    assert_true(f.n_reconnect_pub >= 1);
    assert_true(f.n_reconnect_con >= 1);
    assert_int_equal(f.n_unique, N_MSGS);
    assert_int_equal(f.n_confirmed, N_MSGS);
    assert_int_equal(f.n_bad_body, 0);
    assert_true(mq_connected(pub) && mq_connected(con));
    mqtest_flow_free(&f);
    mq_close(pub);
    mq_close(con);
}

static void watermark_set(const struct testbroker *tb, const char *fraction) {
    _cleanup_free_ char *out = NULL;
    int r = testbroker_ctl(tb, &out, "set_vm_memory_high_watermark", fraction, NULL);

    if (r != 0)
        fail_msg("set_vm_memory_high_watermark %s: %d %s", fraction, r, out ? out : "");
}

static int watermark_restore(void **state) {
    const char *argv[] = {
        "rabbitmqctl", "-n", ((struct testbroker *)*state)->node, "set_vm_memory_high_watermark", "0.4", NULL
    };
    return testutil_cmd_run(argv, 60000, NULL) == 0 ? 0 : -1;
}

static void test_blocked_holds_publishes(void **state) {
    struct testbroker *tb = *state;
    mq_t *mq = mqtest_open(&tb->broker);
    struct mq_event ev;
    uint64_t seq[3];
    int other = 0, n_ok = 0;

    assert_int_equal(mq_declare_classic_queue(mq, "held"), 0);
    assert_int_equal(mq_publish_wait(mq, "", "held", NULL, "0", 1, 5000), 0);
    watermark_set(tb, "0");
    /* the broker blocks a connection when it next publishes */
    assert_int_equal(mq_publish(mq, "", "held", NULL, "1", 1, &seq[0]), 0);
    assert_int_equal(mqtest_wait_type(mq, MQ_EV_BLOCKED, 10000, &ev, &other), 0);
    assert_int_equal(other, 0); /* no confirm for "1" while blocked */
    int64_t t0 = time_mono_ms();
    assert_int_equal(mq_publish(mq, "", "held", NULL, "2", 1, &seq[1]), 0);
    assert_int_equal(mq_publish(mq, "", "held", NULL, "3", 1, &seq[2]), 0);
    assert_true(time_mono_ms() - t0 < 100);
    assert_true(seq[0] < seq[1] && seq[1] < seq[2]);
    assert_int_equal(mq_pending_confirms(mq), 3);
    watermark_set(tb, "0.4");
    assert_int_equal(mqtest_wait_type(mq, MQ_EV_UNBLOCKED, 10000, &ev, &other), 0);
    while (n_ok < 3) {
        assert_int_equal(mqtest_wait_type(mq, MQ_EV_CONFIRM, 10000, &ev, NULL), 0);
        assert_int_equal(ev.status, 0);
        n_ok++;
    }
    assert_int_equal(mq_pending_confirms(mq), 0);
    /* all four arrived, in order */
    assert_int_equal(mq_consume(mq, "held", 10, false, true), 0);
    for (char c = '0'; c <= '3'; c++) {
        assert_int_equal(mqtest_wait_type(mq, MQ_EV_DELIVERY, 5000, &ev, NULL), 0);
        assert_int_equal(ev.delivery.body_len, 1);
        assert_int_equal(((char *)ev.delivery.body)[0], c);
        mq_event_clear(&ev);
    }
    mq_close(mq);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_stop_start_app),
        cmocka_unit_test_teardown(test_blocked_holds_publishes, watermark_restore),
    };
    return cmocka_run_group_tests(tests, testbroker_group_setup, testbroker_group_teardown);
}
