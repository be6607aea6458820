#!/bin/bash
# bench_producer.sh - the control plane's figures (issues 5, 16): vmseal-producer
# with dry-run workers (seal 0 ms) on a private broker, once with a real
# SQLite store and once with PostgreSQL, in one run, the figures of both.
#
#   tests/bench/bench_producer.sh [BUILD_DIR]     (default: $VMSEAL_BUILD_DIR, else ./build)
#
#   1. latency submit -> READY of one template alone, N_LAT (50) times in a
#      row, and the messages one workflow needs (request + jobs + job events
#      + template events, counted on a monitor queue);
#   2. throughput of N_TPL (1000) single-disk sealed-template workflows
#      (templates/s, and messages/s = that count x templates/s; the monitor
#      binds only the terminal template events here, see bench_producer.c);
#   3. the raw broker benchmark (bench_broker) and the ratio of the
#      workflows' messages/s to its raw messages/s.
# Targets (a regression guard, issue 19): >= 250 templates/s on SQLite,
# >= 150 on PostgreSQL, p50 <= 50 ms alone.  The ratio to the raw broker
# rate is printed without a target (one rewarded sending more messages).
# Prints the figures and PASS/MISS per target; exit status 0 when all are met.
#
# PostgreSQL: the test cluster of the environment (VMSEAL_TEST_PG_URI, see
# tests/lib/testpg.h; a fresh schema in it) when set, else a private cluster
# started here with deploy/postgresql/node.sh (Unix socket, stopped at the
# end).  BACKENDS="sqlite pg" (default) chooses.
#
# Broker: the test broker of the environment (VMSEAL_TEST_BROKER_*, see
# tests/lib/testbroker.h) when set, else a private node started here with
# deploy/rabbitmq/node.sh (stopped at the end).  Everything else lives in a
# temporary folder (kept with VMSEAL_BENCH_KEEP=1; logs in it).
# Environment: N_TPL, N_LAT, WORKERS (2), SLOTS (32 per worker), BROKER_N (20000),
# SD_DIR: the folder that holds the storage domain (default: the temporary
# folder).  The workers' metadata writes (a new inode and an fsync each) cost
# what that filesystem makes them cost: on an ext4 without a journal, as the
# root filesystem of the machine these figures come from, inode allocation
# skips recently deleted inodes one by one, and the workers' CPU per template
# grows from run to run; put SD_DIR on a journaled filesystem to measure vmseal
# rather than that.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BUILD=${1:-${VMSEAL_BUILD_DIR:-$ROOT/build}}
BIN=$BUILD/bin
N_TPL=${N_TPL:-1000}
N_LAT=${N_LAT:-50}
WORKERS=${WORKERS:-2}
SLOTS=${SLOTS:-32}
BROKER_N=${BROKER_N:-20000}

for b in vmseal-producer vmseal-worker vmsealctl bench_producer bench_broker; do
    [ -x "$BIN/$b" ] || { echo "bench_producer.sh: $BIN/$b not built" >&2; exit 1; }
done

BACKENDS=${BACKENDS:-sqlite pg}
TMP=$(mktemp -d /tmp/vmseal-bench.XXXXXX)
SD_PATH=
OWN_BROKER=
OWN_PG=
PG_SCHEMA=
PIDS=()
VHOSTS=()
stop_pids() {
    local p
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
    for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
    PIDS=()
}
cleanup() {
    local v
    stop_pids
    for v in "${VHOSTS[@]}"; do
        rabbitmqctl -q -n "$VMSEAL_TEST_BROKER_NODE" delete_vhost "$v" >/dev/null 2>&1 || true
    done
    [ -n "$PG_SCHEMA" ] && [ -z "$OWN_PG" ] && psql "$VMSEAL_TEST_PG_URI" -qc "DROP SCHEMA $PG_SCHEMA CASCADE" >/dev/null 2>&1
    [ -n "$OWN_PG" ] && "$ROOT/deploy/postgresql/node.sh" stop "$OWN_PG" >/dev/null 2>&1 && rm -rf "$OWN_PG"
    [ -n "$OWN_BROKER" ] && "$ROOT/deploy/rabbitmq/node.sh" stop "$OWN_BROKER" >/dev/null 2>&1 && rm -rf "$OWN_BROKER"
    if [ "${VMSEAL_BENCH_KEEP:-0}" = 1 ]; then echo "kept $TMP $SD_PATH"; else rm -rf "$TMP" "$SD_PATH"; fi
}
trap cleanup EXIT

if [ -z "${VMSEAL_TEST_BROKER_PORT:-}" ]; then
    OWN_BROKER=$(mktemp -d /tmp/vmseal-bench-broker.XXXXXX)
    eval "$("$ROOT/deploy/rabbitmq/node.sh" start "$OWN_BROKER")"
fi
case " $BACKENDS " in *" pg "*)
    if [ -z "${VMSEAL_TEST_PG_URI:-}" ]; then
        OWN_PG=$(mktemp -d /tmp/vmseal-bench-pg.XXXXXX)
        eval "$("$ROOT/deploy/postgresql/node.sh" start "$OWN_PG")"
    fi
    PG_SCHEMA=bench_$RANDOM$RANDOM
    psql "$VMSEAL_TEST_PG_URI" -qc "CREATE SCHEMA $PG_SCHEMA" >/dev/null
    ;;
esac

# Storage domain with one small source volume.
SD_PATH=${SD_DIR:-$TMP}/vmseal-bench-sd.$$.$RANDOM
SD=$(cat /proc/sys/kernel/random/uuid)
"$BIN/vmsealctl" sd create --id "$SD" "$SD_PATH" >/dev/null
head -c 1048576 /dev/urandom > "$TMP/src.raw"
SRC=$("$BIN/vmsealctl" sd import --sd "$SD_PATH" --format raw "$TMP/src.raw" --json)
IMG=$(sed -n 's/.*"img_id":"\([^"]*\)".*/\1/p' <<<"$SRC")
VOL=$(sed -n 's/.*"vol_id":"\([^"]*\)".*/\1/p' <<<"$SRC")
DISK=$SD:$IMG:$VOL

umask 077
# run_backend NAME DB: the figures with that store; appends to RESULTS.
RESULTS=()
run_backend() {
local name=$1 db=$2
VHOST=bench-$name-$RANDOM$RANDOM
VHOSTS+=("$VHOST")
rabbitmqctl -q -n "$VMSEAL_TEST_BROKER_NODE" add_vhost "$VHOST" >/dev/null
rabbitmqctl -q -n "$VMSEAL_TEST_BROKER_NODE" set_permissions -p "$VHOST" "$VMSEAL_TEST_BROKER_USER" '.*' '.*' '.*' >/dev/null
BROKER_CONF="broker = { hosts = [ \"127.0.0.1:$VMSEAL_TEST_BROKER_PORT\" ]; vhost = \"$VHOST\";
  user = \"$VMSEAL_TEST_BROKER_USER\"; password = \"$VMSEAL_TEST_BROKER_PASSWORD\"; heartbeat_s = 30;
  producer_user = \"$VMSEAL_TEST_BROKER_USER\"; };"
STORAGE_CONF="storage = { domains = ( { id = \"$SD\"; path = \"$SD_PATH\"; } ); };"
printf '%s\n%s\nproducer = { db = "%s"; };\nlog = { level = "warning"; };\n' \
    "$BROKER_CONF" "$STORAGE_CONF" "$db" > "$TMP/producer.conf"
printf '%s\n%s\n' "$BROKER_CONF" "$STORAGE_CONF" > "$TMP/ctl.conf"

"$BIN/vmseal-producer" --config "$TMP/producer.conf" > "$TMP/producer.log" 2>&1 &
PIDS+=($!)
# The producer declares the topology; wait for it to answer before workers start.
for _ in $(seq 100); do
    "$BIN/vmsealctl" list --config "$TMP/ctl.conf" --timeout 1 >/dev/null 2>&1 && break
    sleep 0.1
done
"$BIN/vmsealctl" list --config "$TMP/ctl.conf" --timeout 2 >/dev/null ||
    { echo "producer not answering; log:" >&2; cat "$TMP/producer.log" >&2; exit 1; }
# The pool queue is the deployment's (deploy/rabbitmq/definitions.json), not
# the producer's: declared here as the definitions have it.
/usr/bin/python3 - "$VMSEAL_TEST_BROKER_PORT" "$VHOST" "$VMSEAL_TEST_BROKER_USER" "$VMSEAL_TEST_BROKER_PASSWORD" <<'PY' ||
import sys, pika
port, vhost, user, password = sys.argv[1:5]
c = pika.BlockingConnection(pika.ConnectionParameters("127.0.0.1", int(port), vhost,
                                                      pika.PlainCredentials(user, password)))
ch = c.channel()
ch.queue_declare("vmseal.jobs.default", durable=True, arguments={
    "x-queue-type": "quorum", "x-delivery-limit": 5, "x-dead-letter-exchange": "vmseal.dlx"})
ch.queue_bind("vmseal.jobs.default", "vmseal.jobs", "#")
c.close()
PY
    { echo "bench_producer.sh: cannot declare the pool queue" >&2; exit 1; }
for i in $(seq "$WORKERS"); do
    printf '%s\nworker = { id = "bench-w%d"; slots = %d; executor = "dry-run"; dry_run_seal_ms = 0; };\n%s\nlog = { level = "warning"; };\n' \
        "$BROKER_CONF" "$i" "$SLOTS" "$STORAGE_CONF" > "$TMP/worker$i.conf"
    "$BIN/vmseal-worker" run --config "$TMP/worker$i.conf" > "$TMP/worker$i.log" 2>&1 &
    PIDS+=($!)
done
for _ in $(seq 100); do
    n=$("$BIN/vmsealctl" workers --config "$TMP/ctl.conf" --json 2>/dev/null | grep -o '"worker_id"' | wc -l || true)
    [ "$n" -ge "$WORKERS" ] && break
    sleep 0.2
done
[ "$n" -ge "$WORKERS" ] || { echo "only $n of $WORKERS workers started; logs:" >&2; tail -n 5 "$TMP"/worker*.log >&2; exit 1; }

echo "== bench_producer [$name]: $WORKERS dry-run workers x $SLOTS slots, store $db"
echo "storage domain $SD_PATH on $(sd_fs)"
# Warm-up (first connections, SQLite pages).
"$BIN/bench_producer" --config "$TMP/ctl.conf" --disk "$DISK" --mode latency -n 5 >/dev/null
LAT=$("$BIN/bench_producer" --config "$TMP/ctl.conf" --disk "$DISK" --mode latency -n "$N_LAT")
echo "$LAT"
# CPU time per template of each part (utime+stime+cutime+cstime of each
# process and its live descendants: the workers' job processes, reaped or
# still running), independent of how busy the machine is: the ceiling on 2
# dedicated cores is 2000 ms / total.
BROKER_PID=$(ss -ltnpH "sport = :$VMSEAL_TEST_BROKER_PORT" 2>/dev/null | sed -n 's/.*pid=\([0-9]*\).*/\1/p' | head -1)
# The whole machine's busy share during the run (1.0 = every core busy):
# whether the run was bound by CPU or by waiting.
# PostgreSQL: its server (postmaster and backends) counts as the store's cost.
DB_PID=
[ "$name" = pg ] && DB_PID=$(head -n 1 "$VMSEAL_TEST_PG_DIR/data/postmaster.pid" 2>/dev/null || true)
s0=($(busy_ticks))
c0=($(cpu_ms "${PIDS[0]}") $(cpu_ms "${PIDS[@]:1}") $(cpu_ms $BROKER_PID) $(cpu_ms $DB_PID))
THR=$("$BIN/bench_producer" --config "$TMP/ctl.conf" --disk "$DISK" --mode throughput -n "$N_TPL" \
      --msgs-per-workflow "$(field msgs_per_workflow "$LAT")")
c1=($(cpu_ms "${PIDS[0]}") $(cpu_ms "${PIDS[@]:1}") $(cpu_ms $BROKER_PID) $(cpu_ms $DB_PID))
s1=($(busy_ticks))
echo "$THR"
CPU=$(awk -v n="$N_TPL" -v p=$((c1[0] - c0[0])) -v w=$((c1[1] - c0[1])) -v b=$((c1[2] - c0[2])) -v d=$((c1[3] - c0[3])) 'BEGIN {
    t = (p + w + b + d) / n
    printf "cpu_per_template_ms producer=%.2f workers=%.2f broker=%.2f postgresql=%.2f total=%.2f ceiling_2cores_per_s=%.0f",
           p / n, w / n, b / n, d / n, t, (t > 0 ? 2000 / t : 0) }')
echo "$CPU"
echo "machine_busy $(awk -v b=$((s1[0] - s0[0])) -v t=$((s1[1] - s0[1])) 'BEGIN { printf "%.2f", t ? b / t : 0 }') of $(nproc) cores during the run; load average $(cut -d' ' -f1-3 /proc/loadavg)"
b0=$(cpu_ms $BROKER_PID)
RAW=$(VMSEAL_TEST_BROKER_PORT=$VMSEAL_TEST_BROKER_PORT "$BIN/bench_broker" "$BROKER_N" | grep '^broker_raw')
b1=$(cpu_ms $BROKER_PID)
echo "$RAW"
# The broker's CPU per message, raw against inside the workflows.
awk -v raw=$((b1 - b0)) -v n="$BROKER_N" -v wf=$((c1[2] - c0[2])) -v t="$N_TPL" -v m="$(field msgs_per_workflow "$LAT")" \
    'BEGIN { printf "broker_cpu_per_msg_ms raw=%.3f workflows=%.3f\n", raw / n, wf / (t * m) }'

stop_pids
RESULTS+=("$name $(field templates_per_s "$THR") $(field msgs_per_s "$THR") $(field msgs_per_s "$RAW") $(field p50_ms "$LAT") $(field p99_ms "$LAT")")
}

sd_fs() { # the storage domain's filesystem, and whether an ext4 one has a journal
    local fs dev
    fs=$(findmnt -no FSTYPE --target "$SD_PATH" 2>/dev/null || echo '?')
    dev=$(basename "$(findmnt -no SOURCE --target "$SD_PATH" 2>/dev/null)")
    if [ "$fs" = ext4 ] && ! ls -d /proc/fs/jbd2/"$dev"-* >/dev/null 2>&1; then
        echo "ext4 WITHOUT a journal (worker CPU per template grows run after run: set SD_DIR)"
    else
        echo "$fs"
    fi
}
tree_pids() { # PID... -> those and all their live descendants
    local p
    for p in "$@"; do
        echo "$p"
        tree_pids $(cat /proc/"$p"/task/*/children 2>/dev/null)
    done
}
cpu_ms() { # PID... -> CPU ms used so far by them and their live descendants
    local p t=0 tck
    tck=$(getconf CLK_TCK)
    for p in $(tree_pids "$@"); do
        [ -r "/proc/$p/stat" ] || continue
        t=$((t + $(sed 's/.*) //' "/proc/$p/stat" | awk '{print $12 + $13 + $14 + $15}')))
    done
    echo $((t * 1000 / tck))
}
busy_ticks() { awk '/^cpu / { print $2 + $3 + $4 + $7 + $8, $2 + $3 + $4 + $5 + $6 + $7 + $8 }' /proc/stat; }
field() { sed -n "s/.*[ ]$1=\([0-9.]*\).*/\1/p" <<<"$2"; }
verdict() { awk -v v="$1" -v t="$2" -v op="$3" 'BEGIN { ok = op == ">=" ? v >= t : v <= t; print ok ? "PASS" : "MISS" }'; }

for b in $BACKENDS; do
    case $b in
    sqlite) run_backend sqlite "$TMP/producer.db" ;;
    pg) run_backend pg "$VMSEAL_TEST_PG_URI&options=-csearch_path%3D$PG_SCHEMA" ;;
    *) echo "bench_producer.sh: unknown backend $b" >&2; exit 2 ;;
    esac
done

echo "== figures"
ALL=
for r in "${RESULTS[@]}"; do
    read -r name tps mps raw p50 p99 <<<"$r"
    target=250; [ "$name" = pg ] && target=150
    ratio=$(awk -v a="$mps" -v b="$raw" 'BEGIN { printf "%.3f", a / b }')
    v1=$(verdict "$tps" $target ">="); v3=$(verdict "$p50" 50 "<=")
    printf '%-7s throughput   %s templates/s   (target >= %s)   %s\n' "$name" "$tps" "$target" "$v1"
    printf '%-7s msgs ratio   %s / %s = %s   (no target)\n' "$name" "$mps" "$raw" "$ratio"
    printf '%-7s latency p50  %s ms alone   (target <= 50)   %s   [%s ms p99]\n' "$name" "$p50" "$v3" "$p99"
    ALL+="$v1$v3"
done
[ -z "$(sed 's/PASS//g' <<<"$ALL")" ]
