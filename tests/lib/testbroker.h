/* testbroker.h - the private RabbitMQ node of broker tests (label `broker`).
 *
 * tests/run.sh starts one private node (deploy/rabbitmq/node.sh) and exports
 * VMSEAL_TEST_BROKER_PORT, _NODE, _USER, _PASSWORD (an administrator) and
 * _DIR.  Tests isolate by vhost: testbroker_setup() creates a fresh vhost
 * with a random name, grants the administrator everything on it and fills a
 * struct config_broker for it; the test declares whatever topology it needs
 * inside (mq_declare_topology() works there); testbroker_teardown() deletes
 * the vhost with all it holds.
 *
 * Without the environment, setup fails with a message telling to use
 * tests/run.sh (or `eval "$(deploy/rabbitmq/node.sh start DIR)"`): a broker
 * test never passes by skipping.
 *
 * With cmocka:
 *     static int setup(void **state)    { return testbroker_group_setup(state); }
 *     ... cmocka_run_group_tests(tests, testbroker_group_setup, testbroker_group_teardown);
 * and in a test `struct testbroker *tb = *state; mq_open(&(struct mq_opts){ .broker =
 * &tb->broker }, &mq);`.
 *
 * rabbitmqctl runs as root through the Debian wrapper (/usr/sbin/rabbitmqctl),
 * i.e. as the rabbitmq user, whose Erlang cookie the node shares.
 */
#ifndef VMSEAL_TESTBROKER_H
#define VMSEAL_TESTBROKER_H

#include "config.h"

struct testbroker {
    char *node;                  /* rabbitmqctl -n NODE */
    int port;                    /* AMQP port on 127.0.0.1 */
    char *user, *password;       /* the administrator */
    char *dir;                   /* the node's folder (logs in dir/log) */
    char *hosts;                 /* a cluster's "127.0.0.1:P1 127.0.0.1:P2 ..."
                                     (VMSEAL_TEST_BROKER_HOSTS, cluster.sh), or NULL */
    char *nodes;                 /* its node names, in the same order, or NULL */
    char *vhost;                 /* this test's private vhost */
    struct config_broker broker; /* 127.0.0.1:port, vhost, administrator */
};

/* Read the environment into tb (vhost not created; broker not filled).
 * Returns -ENOENT (after printing what is missing) when it is not set. */
int testbroker_env_read(struct testbroker *tb);

/* testbroker_env_read + a fresh vhost "test-<name>-<random>" with full
 * permissions for the administrator + tb->broker filled for it.  Prints the
 * reason to stderr and returns negative on failure (tb is then cleaned). */
int testbroker_setup(struct testbroker *tb, const char *name);

/* Delete the vhost (if created) and free everything; tb may be reused. */
void testbroker_teardown(struct testbroker *tb);

/* cmocka group/test fixtures: *state = a malloc'd, set-up struct testbroker
 * named after the test program. */
int testbroker_group_setup(void **state);
int testbroker_group_teardown(void **state);

/* Run `rabbitmqctl -n NODE <args...>` (NULL-terminated list of strings).
 * Output (stdout+stderr) in *ret_output if not NULL (malloc'd).  Returns the
 * exit code (0 = success) or a negative errno; timeout 60 s. */
int testbroker_ctl(const struct testbroker *tb, char **ret_output, ...) __attribute__((sentinel));

/* A queue policy of tb's vhost: set (definition def, JSON) for queues
 * matching pattern, or cleared (def NULL).  0, or the rabbitmqctl failure
 * printed and returned. */
int testbroker_policy(const struct testbroker *tb, const char *name, const char *pattern, const char *def);

/* Fill ret for host 127.0.0.1:port (every node of a cluster, in order,
 * when tb->hosts is set), the given vhost, user and password (strings
 * copied; heartbeat 30 s; no TLS).  Free with testbroker_config_free(). */
void testbroker_config_fill(const struct testbroker *tb, const char *vhost, const char *user, const char *password,
                            struct config_broker *ret);
void testbroker_config_free(struct config_broker *c);

#endif
