/* test_mq_unit.c - what the AMQP client does without any broker: bad
 * addresses and unreachable hosts fail fast with a clear reason. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

#include "err.h"
#include "mq.h"
#include "util.h"

static int open_with(const char *const *hosts, size_t n, char *err, size_t err_len)
{
    struct config_broker b = { .vhost = "vmseal", .user = "u", .password = "p", .heartbeat_s = 30 };
    mq_t *mq = NULL;

    for (size_t i = 0; i < n; i++)
        b.hosts[i] = (char *)hosts[i];
    b.n_hosts = n;
    int r = mq_open(&(struct mq_opts){ .broker = &b, .connect_timeout_ms = 2000, .err_buf = err,
                                       .err_buf_len = err_len },
                    &mq);
    assert_null(mq);
    return r;
}

static void test_bad_address(void **state)
{
    const char *bad[] = { "[::1", "host:0", "host:70000", "host:12x", ":5672", "" };
    char err[512];

    for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
        assert_int_equal(open_with(&bad[i], 1, err, sizeof(err)), -VMS_E_CONFIG);
        assert_non_null(strstr(err, "bad broker address"));
    }
    assert_int_equal(open_with(NULL, 0, err, sizeof(err)), -VMS_E_CONFIG);
    assert_non_null(strstr(err, "no broker hosts"));
}

static void test_unreachable(void **state)
{
    const char *hosts[] = { "127.0.0.1:1", "[::1]:1", "localhost:2" };
    char err[512];
    int64_t t0 = time_mono_ms();

    assert_int_equal(open_with(hosts, 3, err, sizeof(err)), -VMS_E_CONN_LOST);
    assert_true(time_mono_ms() - t0 < 5000);
    assert_non_null(strstr(err, "no broker reachable (3 hosts tried)"));
    assert_non_null(strstr(err, "localhost:2"));
}

static void test_null_args(void **state)
{
    struct mq_event ev;
    mq_t *mq = NULL;

    assert_int_equal(mq_open(NULL, &mq), -EINVAL);
    assert_int_equal(mq_wait(NULL, 0, NULL, 0, &ev), -EINVAL);
    mq_close(NULL);
    mq_event_clear(NULL);
    assert_string_equal(mq_last_error(NULL), "no client");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bad_address),
        cmocka_unit_test(test_unreachable),
        cmocka_unit_test(test_null_args),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
