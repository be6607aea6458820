/* deploy_node.h - for tests/deploy: a private node started by the test itself
 * with deploy/rabbitmq/node.sh --definitions (the shipped definitions and
 * users, passwords from generated secrets), and raw rabbitmq-c helpers that
 * report what the broker answered (0, or the AMQP reply code such as 403
 * ACCESS_REFUSED, 404 NOT_FOUND, 406 PRECONDITION_FAILED).
 *
 * Raw rabbitmq-c on purpose: these tests pin what the definitions allow,
 * independently of common/mq/mq.c.
 */
#ifndef VMSEAL_DEPLOY_NODE_H
#define VMSEAL_DEPLOY_NODE_H

#include <stdbool.h>
#include <stddef.h>

#include <amqp.h>

struct deploy_node {
    char *dir;  /* the node's folder (node.sh start DIR) */
    char *node; /* rabbitmqctl -n */
    int port;
    char *admin_user, *admin_password;
    char *secrets; /* <user>.secret for producer, worker, monitor */
};

/* The node of the test_deploy program (test_deploy_main.c starts it once
 * for all groups). */
extern struct deploy_node deploy_shared;
int deploy_perms_tests(void);
int deploy_mq_tests(void);

/* Start a node with deploy/rabbitmq/definitions.json in a fresh temp dir
 * (VMSEAL_SOURCE_DIR locates the script).  extra_args: NULL-terminated extra
 * node.sh options, or NULL.  Prints the reason and returns negative on failure. */
int deploy_node_start(struct deploy_node *n, const char *const extra_args[]);
/* Stop it (node.sh stop), remove the folder, free n. */
void deploy_node_stop(struct deploy_node *n);

/* The password node.sh generated for one of the three users (malloc'd). */
char *deploy_node_password(const struct deploy_node *n, const char *user);

/* Connect and log in to vhost (asserts success). */
amqp_connection_state_t deploy_amqp_open(int port, const char *vhost, const char *user, const char *password);
/* Login only: 0, or the reply code / -1 when refused. */
int deploy_amqp_try_login(int port, const char *vhost, const char *user, const char *password);
void deploy_amqp_close(amqp_connection_state_t c);

/* Each runs on a fresh channel of c and returns 0 or the broker's reply code
 * (the channel is then closed); the broker's reply text is kept in
 * deploy_amqp_last_text(). */
int deploy_amqp_publish(amqp_connection_state_t c, const char *exchange, const char *key, const char *body);
int deploy_amqp_consume(amqp_connection_state_t c, const char *queue);
int deploy_amqp_delete_queue(amqp_connection_state_t c, const char *queue);
/* Declare a queue with the given x-arguments mirror of mq.c's quorum queue. */
int deploy_amqp_declare_quorum(amqp_connection_state_t c, const char *queue, int delivery_limit, bool dlx,
                               bool sac);
/* Declare an exclusive vmseal.excl.<uuid> queue (name in ret_queue) and bind
 * it to exchange with key; the queue lives as long as the connection. */
int deploy_amqp_excl_bind(amqp_connection_state_t c, const char *exchange, const char *key, char ret_queue[64]);
/* basic.get polled until a message arrives (its body in *ret_body) or
 * timeout_ms passes (-> -1). */
int deploy_amqp_get(amqp_connection_state_t c, const char *queue, int timeout_ms, char **ret_body);
const char *deploy_amqp_last_text(void);

#endif
