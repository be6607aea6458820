#!/bin/bash
# test_engine_client.sh - the Python client against a running vmseal: a
# private RabbitMQ node with the shipped definitions (the engine user and its
# queue vmseal.events.engine), a producer and a dry-run worker (no guest is
# touched; tests/quickstart runs example_engine.py with real sealing).  Runs
# clients/python/tests/broker_client.py, then example_engine.py; stops
# everything it started, also on failure (label broker).
#
# Environment (set by ctest): VMSEAL_BUILD_DIR, VMSEAL_SOURCE_DIR.
set -uo pipefail

fail() { echo "test_engine_client: FAIL: $*" >&2; exit 1; }
[ -n "${VMSEAL_BUILD_DIR:-}" ] && [ -n "${VMSEAL_SOURCE_DIR:-}" ] || fail "run through ctest"
BIN=$VMSEAL_BUILD_DIR/bin
SRC=$VMSEAL_SOURCE_DIR
NODE_SH=$SRC/deploy/rabbitmq/node.sh
DIR=$(mktemp -d /tmp/vmseal-engine-test.XXXXXX) || fail mktemp
chmod 0755 "$DIR"   # the broker runs as rabbitmq
OK=0
. "$SRC/tests/lib/daemons.sh"
cleanup() { test_cleanup test_engine_client "$NODE_SH" stop "$DIR/broker"; }
trap cleanup EXIT

eval "$("$NODE_SH" start "$DIR/broker" --definitions "$SRC/deploy/rabbitmq/definitions.json")" ||
    fail "cannot start the broker"
PORT=$VMSEAL_TEST_BROKER_PORT
SECRETS=$DIR/broker/secrets

SD_ID=$(cat /proc/sys/kernel/random/uuid)
"$BIN/vmsealctl" sd create --id "$SD_ID" "$DIR/sd" > /dev/null || fail "sd create"
qemu-img create -q -f qcow2 "$DIR/src.qcow2" 16M || fail "qemu-img create"
out=$("$BIN/vmsealctl" sd import --sd "$DIR/sd" "$DIR/src.qcow2") || fail "sd import"
IMG=$(sed -n 's/.*img_id=\([0-9a-f-]*\).*/\1/p' <<< "$out")
VOL=$(sed -n 's/.*vol_id=\([0-9a-f-]*\).*/\1/p' <<< "$out")
[ -n "$IMG" ] && [ -n "$VOL" ] || fail "unexpected output of sd import: $out"

broker_group() { # user
    printf 'broker = { hosts = [ "127.0.0.1:%s" ]; vhost = "vmseal"; user = "%s"; password_file = "%s/%s.secret"; };\n' \
        "$PORT" "$1" "$SECRETS" "$1"
}
{ broker_group producer; echo "producer = { db = \"$DIR/producer.db\"; };"; } > "$DIR/producer.conf"
{
    broker_group worker
    echo 'worker = { id = "engine-test-worker"; slots = 2; executor = "dry-run"; };'
    echo "storage = { domains = ( { id = \"$SD_ID\"; path = \"$DIR/sd\"; } ); };"
} > "$DIR/worker.conf"
chmod 0600 "$DIR"/*.conf

wait_log() { # name text timeout_s
    local deadline=$((SECONDS + $3))
    until grep -qF "$2" "$DIR/$1.log" 2>/dev/null; do
        [ $SECONDS -lt $deadline ] || fail "$1 did not log '$2' within $3 s"
        sleep 0.2
    done
}
daemon_start producer "$BIN/vmseal-producer" --config "$DIR/producer.conf" --id engine-test-producer
daemon_start worker "$BIN/vmseal-worker" --config "$DIR/worker.conf" run
wait_log producer "active: database" 60
wait_log worker "worker engine-test-worker ready" 60

export VMSEAL_ENGINE_HOSTS=127.0.0.1:$PORT VMSEAL_ENGINE_PASSWORD_FILE=$SECRETS/engine.secret
export VMSEAL_TEST_SD_ID=$SD_ID VMSEAL_TEST_IMG_ID=$IMG VMSEAL_TEST_VOL_ID=$VOL
/usr/bin/python3 "$SRC/clients/python/tests/broker_client.py" -v || fail "broker_client.py"
/usr/bin/python3 "$SRC/clients/python/example_engine.py" --hosts "127.0.0.1:$PORT" \
    --password-file "$SECRETS/engine.secret" --disk "$SD_ID:$IMG:$VOL" --timeout-s 60 || fail "example_engine.py"
OK=1
echo "test_engine_client: ok"
