/* test_testbroker.c - testbroker gives each test a private, working vhost on
 * the node of tests/run.sh, and removes it afterwards (label broker). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <amqp.h>
#include <amqp_tcp_socket.h>

#include "testbroker.h"
#include "util.h"

/* Log in with tb->broker and declare a queue in its vhost. */
static void login_and_declare(const struct testbroker *tb) {
    amqp_connection_state_t conn = amqp_new_connection();
    amqp_socket_t *sock = amqp_tcp_socket_new(conn);
    amqp_rpc_reply_t r;

    assert_non_null(sock);
    assert_int_equal(amqp_socket_open(sock, "127.0.0.1", tb->port), AMQP_STATUS_OK);
    r = amqp_login(conn, tb->broker.vhost, 0, 131072, 0, AMQP_SASL_METHOD_PLAIN, tb->broker.user,
                   tb->broker.password);
    assert_int_equal(r.reply_type, AMQP_RESPONSE_NORMAL);
    amqp_channel_open(conn, 1);
    assert_int_equal(amqp_get_rpc_reply(conn).reply_type, AMQP_RESPONSE_NORMAL);
    amqp_queue_declare(conn, 1, amqp_cstring_bytes("probe"), 0, 1, 0, 0, amqp_empty_table);
    assert_int_equal(amqp_get_rpc_reply(conn).reply_type, AMQP_RESPONSE_NORMAL);
    amqp_connection_close(conn, AMQP_REPLY_SUCCESS);
    amqp_destroy_connection(conn);
}

static bool vhost_listed(const struct testbroker *tb, const char *vhost) {
    char *out = NULL;
    bool found;

    assert_int_equal(testbroker_ctl(tb, &out, "-q", "list_vhosts", NULL), 0);
    found = false;
    for (char *line = strtok(out, "\n"); line; line = strtok(NULL, "\n"))
        found = found || strcmp(line, vhost) == 0;
    free(out);
    return found;
}

static void test_vhost_lifecycle(void **state) {
    struct testbroker tb, tb2;
    char *vhost;

    assert_int_equal(testbroker_setup(&tb, "lifecycle"), 0);
    assert_int_equal(testbroker_setup(&tb2, "lifecycle"), 0);
    assert_string_not_equal(tb.vhost, tb2.vhost);
    assert_int_equal(tb.broker.n_hosts, 1);
    assert_string_equal(tb.broker.vhost, tb.vhost);
    assert_true(vhost_listed(&tb, tb.vhost));
    login_and_declare(&tb);
    login_and_declare(&tb2);

    vhost = xstrdup(tb.vhost);
    testbroker_teardown(&tb);
    assert_null(tb.vhost);
    assert_false(vhost_listed(&tb2, vhost));
    testbroker_teardown(&tb2);
    free(vhost);
}

/* Without the environment, setup fails (and says why on stderr). */
static void test_env_missing_fails(void **state) {
    struct testbroker tb;
    char *saved = xstrdup(getenv("VMSEAL_TEST_BROKER_NODE"));

    unsetenv("VMSEAL_TEST_BROKER_NODE");
    assert_true(testbroker_setup(&tb, "noenv") < 0);
    setenv("VMSEAL_TEST_BROKER_NODE", saved, 1);
    free(saved);
}

static void test_group_fixture(void **state) {
    struct testbroker *tb = *state;

    assert_non_null(tb);
    assert_int_equal(strncmp(tb->vhost, "test-", 5), 0);
    login_and_declare(tb);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_vhost_lifecycle),
        cmocka_unit_test(test_env_missing_fails),
        cmocka_unit_test(test_group_fixture),
    };
    /* The group fixture fails the whole program when the env is missing. */
    return cmocka_run_group_tests(tests, testbroker_group_setup, testbroker_group_teardown);
}
