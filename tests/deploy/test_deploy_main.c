/* test_deploy_main.c - one private node with the shipped definitions
 * (deploy/rabbitmq/node.sh --definitions) for every deploy test group:
 * test_deploy_perms.c (raw AMQP, per-user permissions) and test_deploy_mq.c
 * (common/mq with the real users).  Starting a node costs ~10 s: once. */
#include <stdio.h>

#include "deploy_node.h"

struct deploy_node deploy_shared;

int main(void) {
    int failed;

    if (deploy_node_start(&deploy_shared, NULL) < 0) {
        fprintf(stderr, "test_deploy: cannot start the private node (run as root; see above)\n");
        return 1;
    }
    failed = deploy_perms_tests();
    failed += deploy_mq_tests();
    deploy_node_stop(&deploy_shared);
    return failed ? 1 : 0;
}
