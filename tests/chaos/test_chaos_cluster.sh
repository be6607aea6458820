#!/bin/bash
# test_chaos_cluster.sh - the chaos test (test_chaos) on a three-node
# cluster of its own (deploy/rabbitmq/cluster.sh): the broker fault is then
# the loss of the node that leads vmseal.events.producer, stopped for 10 s
# in the middle of the run and started again, on top of the worker and
# producer kills.  Every workflow must end and the store and the domain
# agree, as on one node.
#
# Environment (set by ctest): VMSEAL_BUILD_DIR, VMSEAL_SOURCE_DIR.
set -uo pipefail

fail() { echo "test_chaos_cluster: FAIL: $*" >&2; exit 1; }
[ -n "${VMSEAL_BUILD_DIR:-}" ] && [ -n "${VMSEAL_SOURCE_DIR:-}" ] ||
    fail "VMSEAL_BUILD_DIR / VMSEAL_SOURCE_DIR not set (run through ctest or tests/run.sh)"
[ "$(id -u)" = 0 ] || fail "must run as root (it starts RabbitMQ nodes)"
CLUSTER_SH=$VMSEAL_SOURCE_DIR/deploy/rabbitmq/cluster.sh

DIR=$(mktemp -d /tmp/vmseal-chaos-cluster.XXXXXX) || fail "mktemp"
chmod 0755 "$DIR"   # the nodes run as rabbitmq
cleanup() {
    "$CLUSTER_SH" stop "$DIR" > /dev/null 2>&1
    if [ "${rc:-1}" = 0 ]; then rm -rf "$DIR"; else echo "test_chaos_cluster: folder kept: $DIR" >&2; fi
}
trap cleanup EXIT

out=$("$CLUSTER_SH" start "$DIR" 2> "$DIR/cluster-start.log") ||
    { cat "$DIR/cluster-start.log" >&2; fail "cluster.sh start failed"; }
eval "$out"
export VMSEAL_TEST_CLUSTER_DIR=$DIR VMSEAL_TEST_NODE_SH=$VMSEAL_SOURCE_DIR/deploy/rabbitmq/node.sh
"$VMSEAL_BUILD_DIR/bin/test_chaos"
rc=$?
exit $rc
