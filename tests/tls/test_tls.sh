#!/bin/bash
# test_tls.sh - TLS between every vmseal program and the broker, and no
# secret in any log or --json output (labels broker, e2e).
#
#   1. openssl makes a CA, a server certificate (localhost) and a client
#      certificate, plus a second, unrelated CA;
#   2. a private node (deploy/rabbitmq/node.sh --tls, with the shipped
#      definitions and users) listens with TLS (verify_peer,
#      fail_if_no_peer_cert);
#   3. vmseal-producer, a dry-run vmseal-worker and vmsealctl run with
#      broker.tls, each as its least-privilege user (producer and operator
#      with a password_file; the worker as its host's own identity,
#      tls-host1, made by deploy/rabbitmq/host.sh, logging in by its
#      certificate with SASL EXTERNAL): one
#      sealed template goes READY (`vmsealctl submit --wait`), then every read
#      command runs with --json;
#   4. refused: plaintext AMQP to the TLS port, TLS without a client
#      certificate, TLS against a CA that did not sign the server;
#   5. no password (producer, worker, monitor, administrator) appears in any
#      log or output of the run.
# Needs root (node.sh), openssl; VMSEAL_BUILD_DIR (ctest sets it).
set -uo pipefail

SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BUILD=${VMSEAL_BUILD_DIR:-$SRC/build}
BIN=$BUILD/bin
NODE_SH=$SRC/deploy/rabbitmq/node.sh
T=$(mktemp -d /tmp/vmseal-tls.XXXXXX)
chmod 0755 "$T"
PIDS=()
FAILS=0

log() { echo "test_tls: $*"; }
fail() { echo "test_tls: FAIL: $*" >&2; FAILS=$((FAILS + 1)); }
die() { echo "test_tls: FAIL: $*" >&2; FAILS=$((FAILS + 1)); exit 1; }

cleanup() {
    local p
    for p in "${PIDS[@]}"; do kill -KILL -- "-$p" 2>/dev/null; kill -KILL "$p" 2>/dev/null; done
    "$NODE_SH" stop "$T/node" >/dev/null 2>&1
    if [ "$FAILS" -eq 0 ] && [ "${VMSEAL_TEST_KEEP:-0}" != 1 ]; then
        rm -rf "$T"
    else
        echo "test_tls: folder kept: $T" >&2
        tail -n 20 "$T"/*.log >&2 2>/dev/null
    fi
}
trap cleanup EXIT

for b in vmseal-producer vmseal-worker vmsealctl; do
    [ -x "$BIN/$b" ] || die "$BIN/$b missing (build first; VMSEAL_BUILD_DIR=$BUILD)"
done
command -v openssl >/dev/null || die "openssl is needed"
[ "$(id -u)" = 0 ] || die "needs root (deploy/rabbitmq/node.sh runs the node as the rabbitmq user)"

# ---- 1. certificates -------------------------------------------------------
C=$T/certs
mkdir -p "$C"
(
    set -e
    cd "$C"
    openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=vmseal test CA" \
        -keyout ca.key -out ca.pem 2>/dev/null
    openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=unrelated CA" \
        -keyout other-ca.key -out other-ca.pem 2>/dev/null
    printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n' > server.ext
    openssl req -newkey rsa:2048 -nodes -subj "/CN=localhost" -keyout server.key -out server.csr 2>/dev/null
    openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 \
        -extfile server.ext -out server.pem 2>/dev/null
    printf 'extendedKeyUsage=clientAuth\n' > client.ext
    openssl req -newkey rsa:2048 -nodes -subj "/CN=vmseal-client" -keyout client.key -out client.csr 2>/dev/null
    openssl x509 -req -in client.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 \
        -extfile client.ext -out client.pem 2>/dev/null
    chmod 0600 ./*.key
) || die "openssl could not make the certificates"
log "CA, server (localhost) and client certificates made"

# ---- 2. the node -------------------------------------------------------------
ENV_OUT=$("$NODE_SH" start "$T/node" --definitions "$SRC/deploy/rabbitmq/definitions.json" --tls "$C") ||
    die "node.sh start --tls failed"
eval "$ENV_OUT"
[ -n "${VMSEAL_TEST_BROKER_TLS_PORT:-}" ] || die "node.sh printed no VMSEAL_TEST_BROKER_TLS_PORT"
TLS_PORT=$VMSEAL_TEST_BROKER_TLS_PORT
SECRETS=$VMSEAL_TEST_BROKER_SECRETS
log "node up: TLS on 127.0.0.1:$TLS_PORT (plain AMQP on $VMSEAL_TEST_BROKER_PORT)"

# ---- 3. configs, domain, processes ------------------------------------------
SD_ID=$(cat /proc/sys/kernel/random/uuid)
SD=$T/sd
"$BIN/vmsealctl" sd create --id "$SD_ID" "$SD" > "$T/sd-create.log" 2>&1 || die "sd create failed"

broker_group() { # user [tls-group]
    local tls=${2-"tls = { ca = \"$C/ca.pem\"; cert = \"$C/client.pem\"; key = \"$C/client.key\"; verify_peer = true; };"}
    printf 'broker = {\n  hosts = [ "localhost:%s" ];\n  vhost = "vmseal";\n  user = "%s";\n  password_file = "%s";\n  heartbeat_s = 10;\n  %s\n};\n' \
        "$TLS_PORT" "$1" "$SECRETS/$1.secret" "$tls"
}
storage_group() { printf 'storage = { domains = ( { id = "%s"; path = "%s"; } ); };\n' "$SD_ID" "$SD"; }
write_conf() { (umask 077; cat > "$1"); }

{ broker_group producer; storage_group
  printf 'producer = { db = "%s/producer.db"; max_attempts = 3; };\nlog = { level = "debug"; };\n' "$T"; } |
    write_conf "$T/producer.conf"
# The worker host's own identity (issue 15): its certificate (CN tls-host1)
# from deploy/rabbitmq/host.sh, its broker user registered with the worker
# permissions and no password: it logs in with SASL EXTERNAL.
"$SRC/deploy/rabbitmq/host.sh" issue "$C" tls-host1 "$C" || die "host.sh issue failed"
"$SRC/deploy/rabbitmq/host.sh" register "$VMSEAL_TEST_BROKER_NODE" tls-host1 ||
    die "host.sh register failed"
{ printf 'broker = {\n  hosts = [ "localhost:%s" ];\n  vhost = "vmseal";\n  user = "tls-host1";\n  heartbeat_s = 10;\n' "$TLS_PORT"
  printf '  tls = { ca = "%s/ca.pem"; cert = "%s/tls-host1.pem"; key = "%s/tls-host1.key"; verify_peer = true; };\n};\n' "$C" "$C" "$C"
  storage_group
  printf 'worker = { id = "tls-worker"; slots = 2; executor = "dry-run"; dry_run_seal_ms = 200; };\nlog = { level = "debug"; };\n'; } |
    write_conf "$T/worker.conf"
{ broker_group operator; storage_group; } | write_conf "$T/ctl.conf"

start() { # name argv...
    local name=$1
    shift
    setsid "$@" > "$T/$name.log" 2>&1 < /dev/null &
    PIDS+=($!)
    disown $!
}
start producer "$BIN/vmseal-producer" --config "$T/producer.conf" --id tls-producer
start worker "$BIN/vmseal-worker" run --config "$T/worker.conf"

# Ready: the worker's heartbeat is visible through the producer (RPC over TLS).
ready=0
for _ in $(seq 1 100); do   # poll, at most ~30 s
    if "$BIN/vmsealctl" workers --json --config "$T/ctl.conf" > "$T/ctl-workers.json" 2>&1 &&
        grep -q tls-worker "$T/ctl-workers.json"; then
        ready=1
        break
    fi
    kill -0 "${PIDS[0]}" 2>/dev/null && kill -0 "${PIDS[1]}" 2>/dev/null || break
    read -r -t 0.3 < /dev/zero 2>/dev/null || true
done
[ $ready = 1 ] || die "producer/worker not ready over TLS (see $T/producer.log, $T/worker.log)"
log "producer and worker connected over TLS (vmsealctl workers --json sees tls-worker)"

head -c 1048576 /dev/urandom > "$T/src.raw"
IMP=$("$BIN/vmsealctl" sd import --sd "$SD" "$T/src.raw" --format raw --json 2> "$T/import.err") ||
    die "sd import failed: $(cat "$T/import.err")"
IMG=$(printf '%s' "$IMP" | grep -o '"img_id"[^,}]*' | grep -oE '[0-9a-f-]{36}')
VOL=$(printf '%s' "$IMP" | grep -o '"vol_id"[^,}]*' | grep -oE '[0-9a-f-]{36}')
[ -n "$IMG" ] && [ -n "$VOL" ] || die "no ids in sd import output: $IMP"

"$BIN/vmsealctl" submit --config "$T/ctl.conf" --name tls-template --disk "$SD_ID:$IMG:$VOL" --seal \
    --wait --timeout 120 > "$T/ctl-submit.log" 2>&1 || die "submit --wait over TLS did not end READY: $(tail -5 "$T/ctl-submit.log")"
TID=$(grep -oE '[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}' "$T/ctl-submit.log" | head -1)
log "sealed template $TID READY over TLS"
"$BIN/vmsealctl" status "$TID" --json --config "$T/ctl.conf" > "$T/ctl-status.json" 2>&1 || fail "status --json"
grep -q '"ready"' "$T/ctl-status.json" || fail "status --json does not say ready"
"$BIN/vmsealctl" list --json --config "$T/ctl.conf" > "$T/ctl-list.json" 2>&1 || fail "list --json"
"$BIN/vmsealctl" workers --json --config "$T/ctl.conf" > "$T/ctl-workers.json" 2>&1 || fail "workers --json"
"$BIN/vmsealctl" dead --json --config "$T/ctl.conf" > "$T/ctl-dead.json" 2>&1 || fail "dead --json"

# ---- 4. what must be refused ---------------------------------------------------
# Plaintext AMQP to the TLS port.
{ broker_group producer ""; storage_group; } | write_conf "$T/plain.conf"
if "$BIN/vmsealctl" list --json --config "$T/plain.conf" > "$T/plain.log" 2>&1; then
    fail "a plaintext AMQP connection to the TLS port worked"
else
    log "plaintext AMQP to the TLS port refused: $(head -c 200 "$T/plain.log" | tr '\n' ' ')"
fi
# Raw: the AMQP protocol header gets no AMQP answer from the TLS listener.
if exec 3<>"/dev/tcp/127.0.0.1/$TLS_PORT"; then
    printf 'AMQP\x00\x00\x09\x01' >&3
    ans=$(timeout 5 head -c 8 <&3 2>/dev/null | od -An -c | tr -d ' \n')
    exec 3<&- 3>&-
    case $ans in AMQP*) fail "the TLS port answered a plaintext AMQP header: $ans" ;; esac
fi
# TLS without a client certificate (fail_if_no_peer_cert).
{ broker_group producer "tls = { ca = \"$C/ca.pem\"; verify_peer = true; };"; storage_group; } |
    write_conf "$T/nocert.conf"
if "$BIN/vmsealctl" list --config "$T/nocert.conf" > "$T/nocert.log" 2>&1; then
    fail "TLS without a client certificate was accepted"
else
    log "TLS without a client certificate refused"
fi
# A CA that did not sign the server: the client refuses the broker.
{ broker_group producer "tls = { ca = \"$C/other-ca.pem\"; cert = \"$C/client.pem\"; key = \"$C/client.key\"; verify_peer = true; };"
  storage_group; } | write_conf "$T/wrongca.conf"
if "$BIN/vmsealctl" list --config "$T/wrongca.conf" > "$T/wrongca.log" 2>&1; then
    fail "a broker certificate from an unknown CA was accepted"
else
    log "broker certificate not signed by the configured CA refused"
fi
# A wrong password: refused, and the error does not echo it.
WRONG=$(head -c 48 /dev/urandom | base64 -w0 | tr -dc 'A-Za-z0-9' | head -c 24)
(umask 077; printf '%s\n' "$WRONG" > "$T/wrong.secret")
{ broker_group producer | sed "s|$SECRETS/producer.secret|$T/wrong.secret|"; storage_group; } | write_conf "$T/wrongpw.conf"
if "$BIN/vmsealctl" list --json --config "$T/wrongpw.conf" > "$T/wrongpw.log" 2>&1; then
    fail "a wrong password was accepted"
elif grep -qF -- "$WRONG" "$T/wrongpw.log"; then
    fail "the refused password is echoed in the error: $(cat "$T/wrongpw.log")"
else
    log "wrong password refused without echoing it: $(head -c 160 "$T/wrongpw.log" | tr '\n' ' ')"
fi
# Both daemons still up.
kill -0 "${PIDS[0]}" 2>/dev/null || fail "the producer died"
kill -0 "${PIDS[1]}" 2>/dev/null || fail "the worker died"

# ---- 5. no secret anywhere --------------------------------------------------------
leaks=0
for u in producer worker operator monitor; do
    pw=$(cat "$SECRETS/$u.secret")
    [ ${#pw} -ge 8 ] || { fail "secret of $u is too short to search for"; continue; }
    if grep -rlF -- "$pw" "$T"/*.log "$T"/*.json "$T/node/log" 2>/dev/null; then
        fail "the password of $u appears in the files above"
        leaks=1
    fi
done
if grep -rlF -- "$VMSEAL_TEST_BROKER_PASSWORD" "$T"/*.log "$T"/*.json 2>/dev/null; then
    fail "the administrator password appears in the files above"
    leaks=1
fi
[ $leaks = 0 ] && log "no password in $(ls "$T"/*.log "$T"/*.json | wc -l) logs/outputs of the run nor in the broker's logs"

if [ $FAILS -eq 0 ]; then log "PASS"; exit 0; fi
log "$FAILS failure(s)"
exit 1
