/* test_mq_reconnect.c - the broker application is stopped and started in
 * the middle of a confirmed publish/consume flow: both clients reconnect by
 * themselves and no confirmed message is lost (the publisher republishes
 * what was not confirmed, the consumer dedups by message_id).
 *
 * stop_app hits the shared test node: this test is RUN_SERIAL. */
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
static void ctl_while_flowing(const struct testbroker *tb, struct mqtest_flow *f, const char *cmd)
{
    const char *argv[] = { "rabbitmqctl", "-n", tb->node, cmd, NULL };
    int64_t deadline = time_mono_ms() + 60000;
    int status = -1;
    pid_t pid;

    assert_int_equal(testutil_proc_spawn(argv, NULL, "/dev/null", &pid), 0);
    while (testutil_proc_wait(pid, 0, &status) == -ETIMEDOUT) {
        mqtest_flow_step(f, 20);
        if (time_mono_ms() > deadline) {
            testutil_proc_kill(pid, SIGKILL, 0, NULL);
            fail_msg("rabbitmqctl %s did not finish in 60 s", cmd);
        }
    }
    assert_int_equal(status, 0);
}

static void test_stop_start_app(void **state)
{
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
    f.per_step = 1; /* a trickle (~50/s) while the broker goes away and comes back */
    ctl_while_flowing(tb, &f, "stop_app");
    ctl_while_flowing(tb, &f, "start_app");
    f.per_step = 0;
    assert_int_equal(mqtest_flow_run(&f, 60000), 0);
    print_message("confirmed before stop: %zu; reconnects pub %zu con %zu; lost confirms %zu; "
                  "dupes %zu; stale acks %zu\n", confirmed_before, f.n_reconnect_pub, f.n_reconnect_con,
                  f.n_lost_confirms, f.n_dupes, f.n_stale);
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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_stop_start_app),
    };
    return cmocka_run_group_tests(tests, testbroker_group_setup, testbroker_group_teardown);
}
