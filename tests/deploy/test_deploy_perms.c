/* test_deploy_perms.c - deploy/rabbitmq/definitions.json loads into a real
 * node (started by test_deploy_main.c with node.sh) and gives the four users exactly what
 * they need: each allowed operation succeeds, each forbidden one is refused
 * with 403 ACCESS_REFUSED (label broker). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "deploy_node.h"
#include "testutil.h"
#include "util.h"

#define VHOST          "vmseal"
#define ACCESS_REFUSED 403

static amqp_connection_state_t open_as(const char *user) {
    _cleanup_free_ char *pw = deploy_node_password(&deploy_shared, user);
    return deploy_amqp_open(deploy_shared.port, VHOST, user, pw);
}

/* Assert that the broker refused with 403 ACCESS_REFUSED. */
#define assert_refused(expr)                                                                               \
    do {                                                                                                   \
        int code_ = (expr);                                                                                \
        if (code_ != ACCESS_REFUSED)                                                                       \
            fail_msg("%s: expected 403 ACCESS_REFUSED, got %d %s", #expr, code_, deploy_amqp_last_text()); \
        assert_non_null(strstr(deploy_amqp_last_text(), "ACCESS_REFUSED"));                                \
    } while (0)

#define assert_allowed(expr)                                                                    \
    do {                                                                                        \
        int code_ = (expr);                                                                     \
        if (code_ != 0)                                                                         \
            fail_msg("%s: expected success, got %d %s", #expr, code_, deploy_amqp_last_text()); \
    } while (0)

/* The topology of docs/protocol.md §3 exists with its arguments. */
static void test_topology_loaded(void **state) {
    struct testbroker_args {
        const char *name, *expect;
    };
    static const struct testbroker_args queues[] = {
        { "vmseal.requests", "quorum" },
        { "vmseal.jobs.default", "quorum" },
        { "vmseal.events.producer", "quorum" },
        { "vmseal.dead", "quorum" },
        { "vmseal.rpc", "quorum" },
        { "vmseal.events.engine", "quorum" },
    };
    const char *argv[] = { "/usr/sbin/rabbitmqctl",
                           "-n",
                           deploy_shared.node,
                           "-q",
                           "list_queues",
                           "-p",
                           VHOST,
                           "name",
                           "type",
                           "arguments",
                           NULL };
    char *out = NULL;

    assert_int_equal(testutil_cmd_run(argv, 60000, &out), 0);
    for (size_t i = 0; i < ARRAY_SIZE(queues); i++) {
        char *line = strstr(out, queues[i].name);
        assert_non_null(line);
        line = xstrndup(line, strcspn(line, "\n"));
        assert_non_null(strstr(line, queues[i].expect));
        if (strcmp(queues[i].name, "vmseal.requests") == 0) {
            assert_non_null(strstr(line, "{\"x-delivery-limit\",5}"));
            assert_non_null(strstr(line, "{\"x-dead-letter-exchange\",\"vmseal.dlx\"}"));
            assert_non_null(strstr(line, "{\"x-single-active-consumer\",true}"));
        }
        if (strcmp(queues[i].name, "vmseal.jobs.default") == 0)
            assert_non_null(strstr(line, "{\"x-delivery-limit\",5}"));
        free(line);
    }
    free(out);

    /* Re-declaring with the arguments mq.c uses is accepted (no 406). */
    amqp_connection_state_t c =
        deploy_amqp_open(deploy_shared.port, VHOST, deploy_shared.admin_user, deploy_shared.admin_password);
    assert_allowed(deploy_amqp_declare_quorum(c, "vmseal.requests", 5, true, true));
    assert_allowed(deploy_amqp_declare_quorum(c, "vmseal.jobs.default", 5, true, false));
    assert_allowed(deploy_amqp_declare_quorum(c, "vmseal.events.producer", 5, true, false));
    assert_allowed(deploy_amqp_declare_quorum(c, "vmseal.dead", 0, false, false));
    /* an engine may redeclare its queue (docs/protocol.md, section 3) */
    assert_allowed(deploy_amqp_declare_quorum(c, "vmseal.events.engine", 5, true, false));
    /* ... and different arguments are not: the test can tell. */
    assert_int_equal(deploy_amqp_declare_quorum(c, "vmseal.requests", 3, true, true), 406);
    deploy_amqp_close(c);
}

static void test_logins(void **state) {
    static const char *users[] = { "producer", "worker", "operator", "monitor", "engine" };

    for (size_t i = 0; i < ARRAY_SIZE(users); i++) {
        _cleanup_free_ char *pw = deploy_node_password(&deploy_shared, users[i]);
        assert_int_equal(deploy_amqp_try_login(deploy_shared.port, VHOST, users[i], pw), 0);
        assert_int_not_equal(deploy_amqp_try_login(deploy_shared.port, VHOST, users[i], "wrong"), 0);
        /* The users live in vmseal only. */
        assert_int_not_equal(deploy_amqp_try_login(deploy_shared.port, "/", users[i], pw), 0);
    }
    assert_int_not_equal(deploy_amqp_try_login(deploy_shared.port, VHOST, "guest", "guest"), 0);
}

static void test_producer(void **state) {
    amqp_connection_state_t c = open_as("producer");
    char q[64];

    /* Declares the topology, publishes jobs, control and template events,
     * consumes requests, its events and RPC, answers by direct reply-to. */
    assert_allowed(deploy_amqp_declare_quorum(c, "vmseal.requests", 5, true, true));
    assert_allowed(deploy_amqp_declare_quorum(c, "vmseal.jobs.default", 5, true, false));
    assert_allowed(deploy_amqp_publish(c, "vmseal.jobs", "storage.00000000-0000-0000-0000-000000000000", "j"));
    assert_allowed(deploy_amqp_publish(c, "vmseal.control", "", "cancel"));
    assert_allowed(deploy_amqp_publish(c, "vmseal.events", "template.ready", "t"));
    assert_allowed(deploy_amqp_publish(c, "", "vmseal.rpc", "reply"));
    assert_allowed(deploy_amqp_consume(c, "vmseal.requests"));
    assert_allowed(deploy_amqp_consume(c, "vmseal.events.producer"));
    assert_allowed(deploy_amqp_consume(c, "vmseal.rpc"));
    assert_allowed(deploy_amqp_excl_bind(c, "vmseal.events", "#", q));

    /* Never executes jobs. */
    assert_refused(deploy_amqp_consume(c, "vmseal.jobs.default"));
    assert_refused(deploy_amqp_declare_quorum(c, "other.queue", 5, true, false));
    deploy_amqp_close(c);
}

/* A worker host's identity (here the shipped `worker`): consumes a pool
 * queue that exists, publishes events whose routing key ends with its own
 * name, binds its exclusive control queue; configures nothing shared. */
static void test_worker(void **state) {
    amqp_connection_state_t c = open_as("worker");
    char q[64], q2[64];

    assert_allowed(deploy_amqp_consume(c, "vmseal.jobs.default"));
    assert_allowed(deploy_amqp_publish(c, "vmseal.events", "job.volume.copy.running.worker", "e"));
    assert_allowed(deploy_amqp_publish(c, "vmseal.events", "worker.heartbeat.worker", "h"));
    assert_allowed(deploy_amqp_excl_bind(c, "vmseal.control", "", q));

    /* A worker cannot create jobs, requests or cancels, nor read requests. */
    assert_refused(deploy_amqp_publish(c, "vmseal.jobs", "storage.x", "j"));
    assert_refused(deploy_amqp_publish(c, "", "vmseal.requests", "r"));
    assert_refused(deploy_amqp_publish(c, "", "vmseal.jobs.default", "j"));
    assert_refused(deploy_amqp_publish(c, "", "vmseal.events.producer", "e"));
    assert_refused(deploy_amqp_publish(c, "vmseal.control", "", "c"));
    assert_refused(deploy_amqp_consume(c, "vmseal.requests"));
    assert_refused(deploy_amqp_consume(c, "vmseal.events.producer"));
    /* ... nor speak for another identity or for the producer (topic permissions) */
    assert_refused(deploy_amqp_publish(c, "vmseal.events", "job.vm.seal.succeeded", "e"));
    assert_refused(deploy_amqp_publish(c, "vmseal.events", "job.vm.seal.succeeded.host2", "e"));
    assert_refused(deploy_amqp_publish(c, "vmseal.events", "worker.heartbeat.host2", "h"));
    assert_refused(deploy_amqp_publish(c, "vmseal.events", "template.ready.worker", "t"));
    assert_refused(deploy_amqp_publish(c, "vmseal.events", "template.ready", "t"));
    /* ... nor declare, redeclare, delete or rebind the shared topology */
    assert_refused(deploy_amqp_declare_quorum(c, "vmseal.jobs.default", 5, true, false));
    assert_refused(deploy_amqp_declare_quorum(c, "vmseal.jobs.gpu-1", 5, true, false));
    assert_refused(deploy_amqp_declare_quorum(c, "vmseal.requests", 5, true, true));
    assert_refused(deploy_amqp_delete_queue(c, "vmseal.requests"));
    assert_refused(deploy_amqp_delete_queue(c, "vmseal.jobs.default"));
    assert_refused(deploy_amqp_excl_bind(c, "vmseal.jobs", "#", q2));   /* read every job */
    assert_refused(deploy_amqp_excl_bind(c, "vmseal.events", "#", q2)); /* read every event */
    deploy_amqp_close(c);
}

/* vmsealctl's user: requests and RPC through the default exchange, events
 * and dead letters; no jobs, no control, no topology. */
static void test_operator(void **state) {
    amqp_connection_state_t c = open_as("operator");
    char q[64], q2[64];

    assert_allowed(deploy_amqp_publish(c, "", "vmseal.requests", "r"));
    assert_allowed(deploy_amqp_publish(c, "", "vmseal.rpc", "q"));
    assert_allowed(deploy_amqp_excl_bind(c, "vmseal.events", "#", q));
    assert_allowed(deploy_amqp_consume(c, q));

    assert_refused(deploy_amqp_publish(c, "vmseal.jobs", "storage.x", "j"));
    assert_refused(deploy_amqp_publish(c, "vmseal.control", "", "c"));
    assert_refused(deploy_amqp_publish(c, "vmseal.events", "template.ready", "t"));
    assert_refused(deploy_amqp_publish(c, "vmseal.events", "job.vm.seal.succeeded.operator", "e"));
    assert_refused(deploy_amqp_consume(c, "vmseal.jobs.default"));
    assert_refused(deploy_amqp_consume(c, "vmseal.requests"));
    assert_refused(deploy_amqp_excl_bind(c, "vmseal.jobs", "#", q2));
    assert_refused(deploy_amqp_excl_bind(c, "vmseal.control", "", q2));
    assert_refused(deploy_amqp_declare_quorum(c, "vmseal.requests", 5, true, true));
    assert_refused(deploy_amqp_delete_queue(c, "vmseal.jobs.default"));
    deploy_amqp_close(c);
}

static void test_monitor(void **state) {
    amqp_connection_state_t mon = open_as("monitor"), wrk = open_as("worker");
    char q[64], q2[64];
    char *body = NULL;

    /* Binds its own exclusive queue to the events and sees them. */
    assert_allowed(deploy_amqp_excl_bind(mon, "vmseal.events", "#", q));
    assert_allowed(deploy_amqp_publish(wrk, "vmseal.events", "job.vm.seal.progress.worker", "seen-by-monitor"));
    assert_int_equal(deploy_amqp_get(mon, q, 10000, &body), 0);
    assert_string_equal(body, "seen-by-monitor");
    free(body);

    /* Nothing else. */
    assert_refused(deploy_amqp_publish(mon, "vmseal.jobs", "storage.x", "j"));
    assert_refused(deploy_amqp_publish(mon, "vmseal.events", "job.x.failed", "e"));
    assert_refused(deploy_amqp_publish(mon, "", "vmseal.requests", "r"));
    assert_refused(deploy_amqp_excl_bind(mon, "vmseal.jobs", "#", q2));
    assert_refused(deploy_amqp_excl_bind(mon, "vmseal.control", "", q2));
    assert_refused(deploy_amqp_consume(mon, "vmseal.events.producer"));
    assert_refused(deploy_amqp_consume(mon, "vmseal.jobs.default"));
    assert_refused(deploy_amqp_delete_queue(mon, "vmseal.requests"));
    assert_refused(deploy_amqp_declare_quorum(mon, "monitor.queue", 0, false, false));
    deploy_amqp_close(wrk);
    deploy_amqp_close(mon);
}

/* The bytes a queue holds, from rabbitmqctl. */
static long queue_bytes(const char *queue) {
    const char *argv[] = {
        "/usr/sbin/rabbitmqctl", "-n", deploy_shared.node, "-q", "list_queues", "-p", VHOST, "name",
        "message_bytes",         NULL
    };
    _cleanup_free_ char *out = NULL;
    assert_int_equal(testutil_cmd_run(argv, 60000, &out), 0);
    const char *line = strstr(out, queue);
    assert_non_null(line);
    return strtol(line + strlen(queue), NULL, 10);
}

/* The memory alarm is out of the monitor's reach: it may open 4 connections
 * (a 5th is refused), the vhost 1000 queues, and each of its queues keeps at
 * most 1 MiB (policy vmseal-watchers, drop-head) however much is published
 * and however little it reads: at most 1000 MiB, and in practice 1 MiB per
 * queue it holds. */
static void test_monitor_bounded(void **state) {
    amqp_connection_state_t mon[4], wrk = open_as("worker");
    char q[4][64];
    for (int i = 0; i < 4; i++) {
        mon[i] = open_as("monitor");
        assert_allowed(deploy_amqp_excl_bind(mon[i], "vmseal.events", "#", q[i]));
    }
    _cleanup_free_ char *pw = deploy_node_password(&deploy_shared, "monitor");
    int code = deploy_amqp_try_login(deploy_shared.port, VHOST, "monitor", pw);
    if (code == 0)
        fail_msg("a 5th connection of the monitor was accepted");
    size_t big = 256 << 10;
    char *body = xmalloc(big + 1);
    memset(body, 'x', big);
    body[big] = '\0';
    for (int i = 0; i < 16; i++) /* 4 MiB to every monitor queue */
        assert_allowed(deploy_amqp_publish(wrk, "vmseal.events", "job.vm.seal.progress.worker", body));
    free(body);
    for (int i = 0; i < 4; i++) {
        long bytes = queue_bytes(q[i]);
        printf("(%s holds %ld bytes of the 4 MiB published)\n", q[i], bytes);
        assert_true(bytes > 0 && bytes <= 1L << 20);
        deploy_amqp_close(mon[i]);
    }
    deploy_amqp_close(wrk);
}

int deploy_perms_tests(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_topology_loaded), cmocka_unit_test(test_logins),   cmocka_unit_test(test_producer),
        cmocka_unit_test(test_worker),          cmocka_unit_test(test_operator), cmocka_unit_test(test_monitor),
        cmocka_unit_test(test_monitor_bounded),
    };
    return cmocka_run_group_tests_name("deploy_perms", tests, NULL, NULL);
}
