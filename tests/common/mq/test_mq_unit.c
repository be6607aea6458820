/* test_mq_unit.c - what the AMQP client does without any broker: bad
 * addresses and unreachable hosts fail fast with a clear reason; the confirm
 * bookkeeping (basic.ack/nack with and without `multiple`, out of order,
 * basic.return) driven directly through its internal entry points. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

#include "err.h"
#include "mq.h"
#include "mq_private.h"
#include "util.h"

static int open_with(const char *const *hosts, size_t n, char *err, size_t err_len) {
    struct config_broker b = { .vhost = "vmseal", .user = "u", .password = "p", .heartbeat_s = 30 };
    mq_t *mq = NULL;

    for (size_t i = 0; i < n; i++)
        b.hosts[i] = (char *)hosts[i];
    b.n_hosts = n;
    int r = mq_open(&(struct mq_opts){ .broker = &b, .connect_timeout_ms = 2000, .why = err, .why_len = err_len },
                    &mq);
    assert_null(mq);
    return r;
}

static void test_bad_address(void **state) {
    const char *bad[] = { "[::1", "host:0", "host:70000", "host:12x", ":5672", "" };
    char err[512];

    for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
        assert_int_equal(open_with(&bad[i], 1, err, sizeof(err)), -VMS_E_CONFIG);
        assert_non_null(strstr(err, "bad broker address"));
    }
    assert_int_equal(open_with(NULL, 0, err, sizeof(err)), -VMS_E_CONFIG);
    assert_non_null(strstr(err, "no broker hosts"));
}

static void test_unreachable(void **state) {
    const char *hosts[] = { "127.0.0.1:1", "[::1]:1", "localhost:2" };
    char err[512];
    int64_t t0 = time_mono_ms();

    assert_int_equal(open_with(hosts, 3, err, sizeof(err)), -VMS_E_CONN_LOST);
    assert_true(time_mono_ms() - t0 < 5000);
    assert_non_null(strstr(err, "no broker reachable (3 hosts tried)"));
    assert_non_null(strstr(err, "localhost:2"));
}

static void test_null_args(void **state) {
    struct mq_event ev;
    mq_t *mq = NULL;

    assert_int_equal(mq_open(NULL, &mq), -EINVAL);
    assert_int_equal(mq_wait(NULL, 0, NULL, 0, &ev), -EINVAL);
    mq_close(NULL);
    mq_event_clear(NULL);
    assert_string_equal(mq_why(NULL), "no client");
}

static void expect_confirm(mq_t *mq, uint64_t seq, int status) {
    struct mq_event ev;

    assert_int_equal(mq_wait(mq, 0, NULL, 0, &ev), 0);
    assert_int_equal(ev.type, MQ_EV_CONFIRM);
    assert_int_equal(ev.seq, seq);
    assert_int_equal(ev.status, status);
}

static void test_confirm_bookkeeping(void **state) {
    mq_t *mq = xcalloc(1, sizeof(*mq));
    struct mq_event ev;

    /* six publishes: seq 11..16 went out as channel tags 1..6 */
    mq->pend_cap = 8;
    mq->pending = xcalloc(mq->pend_cap, sizeof(*mq->pending));
    for (uint64_t t = 1; t <= 6; t++)
        mq->pending[mq->pend_len++] = (struct mq_pending){ .seq = 10 + t, .tag = t };
    mq->next_connect_ms = INT64_MAX; /* no reconnect attempts here */
    assert_int_equal(mq_pending_confirms(mq), 6);

    mq_on_confirm(mq, 2, true, 0);   /* ack 1..2 */
    mq_on_confirm(mq, 4, false, 0);  /* ack 4 alone, out of order */
    mq_on_confirm(mq, 4, false, 0);  /* duplicate: nothing */
    mq_on_confirm(mq, 99, false, 0); /* unknown: nothing */
    /* a basic.return for seq 16 (its header), then its ack */
    amqp_table_entry_t h = { .key = amqp_cstring_bytes(MQ_HDR_SEQ) };
    h.value.kind = AMQP_FIELD_KIND_U64;
    h.value.value.u64 = 16;
    amqp_message_t msg = { .properties = { ._flags = AMQP_BASIC_HEADERS_FLAG,
                                           .headers = { .num_entries = 1, .entries = &h } } };
    mq_on_return(mq, &msg);
    mq_on_confirm(mq, 5, true, -VMS_E_NACKED); /* nack 3 and 5 (4 is done) */
    assert_int_equal(mq_pending_confirms(mq), 1);
    mq_on_confirm(mq, 6, false, 0);

    expect_confirm(mq, 11, 0);
    expect_confirm(mq, 12, 0);
    expect_confirm(mq, 14, 0);
    expect_confirm(mq, 13, -VMS_E_NACKED);
    expect_confirm(mq, 15, -VMS_E_NACKED);
    expect_confirm(mq, 16, -VMS_E_RETURNED);
    assert_int_equal(mq_wait(mq, 0, NULL, 0, &ev), 0);
    assert_int_equal(ev.type, MQ_EV_NONE);
    assert_int_equal(mq_pending_confirms(mq), 0);
    assert_int_equal(mq->pend_len, 0);
    mq_close(mq);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bad_address),
        cmocka_unit_test(test_unreachable),
        cmocka_unit_test(test_null_args),
        cmocka_unit_test(test_confirm_bookkeeping),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
