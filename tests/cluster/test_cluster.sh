#!/bin/bash
# test_cluster.sh - vmseal on the three-node loopback cluster.
#
#  1. deploy/rabbitmq/cluster.sh start: vmseal.requests and vmseal.jobs.default
#     are quorum queues with a member on each of the three nodes;
#  2. a producer and two dry-run workers, configured with all three hosts,
#     bring 3 sealed templates to READY;
#  3. 20 more templates are submitted; once some are READY the node that
#     leads vmseal.jobs.default (VMSEAL_CLUSTER_STOP=jobs, the default) or
#     vmseal.events.producer (=events) is stopped; all 20 must still end
#     READY (and none FAILED) within 240 s, with every template volume LEGAL
#     and SHARED.  The repairs of the publish path the processes logged
#     (mq.h; RELIABILITY.md "Nacks after a node loss") are printed.
#
# Environment (set by ctest): VMSEAL_BUILD_DIR, VMSEAL_SOURCE_DIR.
# VMSEAL_CLUSTER_TEMPLATES overrides the 20.
set -uo pipefail

fail() { echo "test_cluster: FAIL: $*" >&2; exit 1; }
log() { echo "test_cluster: +$((SECONDS - T0))s $*"; }
T0=$SECONDS
[ -n "${VMSEAL_BUILD_DIR:-}" ] && [ -n "${VMSEAL_SOURCE_DIR:-}" ] ||
    fail "VMSEAL_BUILD_DIR / VMSEAL_SOURCE_DIR not set (run through ctest or tests/run.sh)"
[ "$(id -u)" = 0 ] || fail "must run as root (it starts RabbitMQ nodes)"

BIN=$VMSEAL_BUILD_DIR/bin
CLUSTER_SH=$VMSEAL_SOURCE_DIR/deploy/rabbitmq/cluster.sh
NODE_SH=$VMSEAL_SOURCE_DIR/deploy/rabbitmq/node.sh
N_RUN=${VMSEAL_CLUSTER_TEMPLATES:-20}
case ${VMSEAL_CLUSTER_STOP:-jobs} in
jobs) STOP_QUEUE=vmseal.jobs.default ;;
events) STOP_QUEUE=vmseal.events.producer ;;
*) fail "VMSEAL_CLUSTER_STOP must be jobs or events" ;;
esac
for b in vmseal-producer vmseal-worker vmsealctl; do
    [ -x "$BIN/$b" ] || fail "$BIN/$b not built"
done

DIR=$(mktemp -d /tmp/vmseal-cluster-test.XXXXXX) || fail "mktemp"
chmod 0755 "$DIR"   # the nodes run as rabbitmq
OK=0
. "$VMSEAL_SOURCE_DIR/tests/lib/daemons.sh"
cleanup() { test_cleanup test_cluster "$CLUSTER_SH" stop "$DIR/broker"; }
trap cleanup EXIT

as_rabbitmq() { runuser -u rabbitmq -- "$@"; }
rmqctl() { as_rabbitmq /usr/lib/rabbitmq/bin/rabbitmqctl "$@"; }

# ---------------------------------------------------------------- 1 cluster
out=$("$CLUSTER_SH" start "$DIR/broker" --secrets "$DIR/secrets" 2> "$DIR/cluster-start.log") ||
    { cat "$DIR/cluster-start.log" >&2; fail "cluster.sh start failed"; }
eval "$out"
read -r -a HOSTS <<< "$VMSEAL_TEST_BROKER_HOSTS"
read -r -a NODES <<< "$VMSEAL_TEST_BROKER_NODES"
[ ${#HOSTS[@]} = 3 ] && [ ${#NODES[@]} = 3 ] || fail "cluster env: hosts '${HOSTS[*]}' nodes '${NODES[*]}'"
log "cluster up: ${NODES[*]}"

# name type leader members of every queue of vhost vmseal (one line each).
queue_table() { rmqctl -n "$1" -q list_queues -p vmseal name type leader members 2>/dev/null; }
qt=$(queue_table "${NODES[0]}")
echo "$qt"
for q in vmseal.requests vmseal.jobs.default vmseal.events.producer; do
    line=$(awk -v q="$q" '$1 == q' <<< "$qt")
    [ -n "$line" ] || fail "queue $q missing"
    [ "$(awk '{ print $2 }' <<< "$line")" = quorum ] || fail "$q is not a quorum queue: $line"
    for n in "${NODES[@]}"; do
        grep -qF "$n" <<< "$(cut -d' ' -f4- <<< "$(tr '\t' ' ' <<< "$line")")" ||
            fail "$q has no member on $n: $line"
    done
done
log "vmseal.requests, vmseal.jobs.default, vmseal.events.producer: quorum, members on all three nodes"

# ---------------------------------------------------------------- 2 vmseal
hosts_list=$(printf '"%s", ' "${HOSTS[@]}")
hosts_list="[ ${hosts_list%, } ]"
SD_ID=$(cat /proc/sys/kernel/random/uuid)
mkdir -p "$DIR/etc"
broker_group() { # user
    cat <<CONF
broker = {
  hosts = $hosts_list;
  vhost = "vmseal";
  user = "$1";
  password_file = "$DIR/secrets/$1.secret";
  heartbeat_s = 5;
};
CONF
}
{ broker_group producer; echo "producer = { db = \"$DIR/producer.db\"; max_attempts = 5; };"; } > "$DIR/etc/producer.conf"
for n in 1 2; do
    {
        broker_group worker
        cat <<CONF
worker = { id = "cluster-worker$n"; slots = 2; executor = "dry-run"; dry_run_seal_ms = 4000; };
storage = { domains = ( { id = "$SD_ID"; path = "$DIR/sd"; } ); };
CONF
    } > "$DIR/etc/worker$n.conf"
done
broker_group producer > "$DIR/etc/vmsealctl.conf"

"$BIN/vmsealctl" sd create --id "$SD_ID" "$DIR/sd" > /dev/null || fail "sd create"
qemu-img create -q -f qcow2 "$DIR/src.qcow2" 16M || fail "qemu-img"
imp=$("$BIN/vmsealctl" sd import --sd "$DIR/sd" "$DIR/src.qcow2") || fail "sd import"
SRC_IMG=$(sed -n 's/.*img_id=\([0-9a-f-]*\).*/\1/p' <<< "$imp")
SRC_VOL=$(sed -n 's/.*vol_id=\([0-9a-f-]*\).*/\1/p' <<< "$imp")
DISK=$SD_ID:$SRC_IMG:$SRC_VOL

wait_log() { # name text
    local deadline=$((SECONDS + 60))
    until grep -qF "$2" "$DIR/$1.log"; do
        [ $SECONDS -lt $deadline ] || fail "$1 not ready (no '$2' in $DIR/$1.log)"
        sleep 0.2
    done
}
daemon_start producer "$BIN/vmseal-producer" --config "$DIR/etc/producer.conf" --id cluster-producer
daemon_start worker1 "$BIN/vmseal-worker" --config "$DIR/etc/worker1.conf" --grace-s 5
daemon_start worker2 "$BIN/vmseal-worker" --config "$DIR/etc/worker2.conf" --grace-s 5
wait_log producer "active: database"
wait_log worker1 "worker cluster-worker1 ready"
wait_log worker2 "worker cluster-worker2 ready"
log "producer and two dry-run workers ready"

export VMSEAL_CONFIG=$DIR/etc/vmsealctl.conf
ctl() { "$BIN/vmsealctl" "$@"; }

pids=()
for i in 1 2 3; do
    ctl submit --seal --wait --timeout 120 --name "warmup-$i" --disk "$DISK" > "$DIR/submit-warmup-$i.log" 2>&1 &
    pids+=($!)
done
for p in "${pids[@]}"; do wait "$p" || fail "a warm-up template did not end READY (see $DIR/submit-warmup-*.log)"; done
log "3 sealed templates READY"

# ---------------------------------------------------------------- 3 failover
leader=$(queue_table "${NODES[0]}" | awk -v q="$STOP_QUEUE" '$1 == q { print $3 }')
idx=-1
for i in 0 1 2; do [ "${NODES[$i]}" = "$leader" ] && idx=$i; done
[ $idx -ge 0 ] || fail "cannot tell the leader of $STOP_QUEUE ('$leader')"
survivor=$(( (idx + 1) % 3 ))
log "$STOP_QUEUE is led by $leader (n$((idx + 1)))"

# The outcome is followed through the events (vmsealctl watch as the
# monitor user, on a node that stays up), so that it does not depend on the
# producer's RPC queue.
sed -e "s|^  hosts = .*|  hosts = [ \"${HOSTS[$survivor]}\" ];|" \
    -e 's|^  user = .*|  user = "monitor";|' -e "s|/producer.secret|/monitor.secret|" \
    "$DIR/etc/vmsealctl.conf" > "$DIR/etc/watch.conf"
daemon_start watch "$BIN/vmsealctl" watch --json --config "$DIR/etc/watch.conf"
wait_log watch "vmsealctl watch: following"
n_with() { # state -> how many of the run's templates have that template event
    grep -F "\"routing_key\":\"template.$1\"" "$DIR/watch.log" | grep -oE '"template_id":"[0-9a-f-]{36}"' |
        grep -cFf "$DIR/run.ids"
}

: > "$DIR/run.ids"
for i in $(seq 1 "$N_RUN"); do
    id=$(cat /proc/sys/kernel/random/uuid)
    echo "\"template_id\":\"$id\"" >> "$DIR/run.ids"
    ctl submit --seal --id "$id" --name "run-$i" --disk "$DISK" > /dev/null 2>> "$DIR/submit-run.log" ||
        fail "submit run-$i failed"
done
log "$N_RUN templates submitted"
deadline=$((SECONDS + 60))
until [ "$(n_with ready)" -ge 2 ]; do
    [ $SECONDS -lt $deadline ] || fail "no template of the run became READY in 60 s"
    sleep 0.2
done
before=$(n_with ready)
[ "$before" -lt "$N_RUN" ] || fail "the run ended before the leader could be stopped"
log "$before of $N_RUN READY: stopping $leader"
"$NODE_SH" stop "$DIR/broker/n$((idx + 1))" > /dev/null 2>&1
at_stop=$(n_with ready)
log "$leader stopped ($at_stop of $N_RUN READY)"
[ "$at_stop" -lt "$N_RUN" ] || log "warning: the run ended while the node was stopping"

deadline=$((SECONDS + 240))
while :; do
    failed=$(n_with failed)
    [ "$failed" = 0 ] || fail "$failed template(s) FAILED after the failover (see $DIR/watch.log)"
    [ "$(n_with ready)" -ge "$N_RUN" ] && break
    [ $SECONDS -lt $deadline ] || fail "only $(n_with ready) of $N_RUN READY 240 s after the failover"
    sleep 0.5
done
log "all $N_RUN READY after the failover ($before were READY before it)"
log "new leader of $STOP_QUEUE: $(queue_table "${NODES[$survivor]}" | awk -v q="$STOP_QUEUE" '$1 == q { print $3 }')"
grep -HE "broker: (the broker refused|no confirm)" "$DIR"/producer.log "$DIR"/worker[12].log | sed 's/^/test_cluster: repair: /'

# Every template volume LEGAL and SHARED; only the source is a LEAF.
vols=$("$BIN/vmsealctl" sd list "$DIR/sd" | awk 'NR > 2')
n_shared=$(grep -cE ' SHARED +LEGAL ' <<< "$vols")
n_all=$(wc -l <<< "$vols")
[ "$n_shared" = $((N_RUN + 3)) ] && [ "$n_all" = $((N_RUN + 4)) ] ||
    fail "domain holds $n_all volumes, $n_shared LEGAL SHARED (want $((N_RUN + 4)) and $((N_RUN + 3)))"

# The stopped node comes back and rejoins; the producer's store agrees
# (vmsealctl list over RPC).  vmseal.rpc is a classic queue: while its home
# node is down, status/list/workers are unavailable.
"$NODE_SH" start "$DIR/broker/n$((idx + 1))" > "$DIR/restart.log" 2>&1 || fail "restart of $leader failed"
deadline=$((SECONDS + 60))
until [ "$(ctl list --state ready --limit 1000 --timeout 10 2>> "$DIR/ctl-list.log" | awk 'NR > 1' | wc -l)" = $((N_RUN + 3)) ]; do
    [ $SECONDS -lt $deadline ] || fail "vmsealctl list does not show $((N_RUN + 3)) READY templates after the restart of $leader"
    sleep 1
done
log "$leader back; vmsealctl list: $((N_RUN + 3)) READY"
log "PASS: $((N_RUN + 3)) templates READY, $n_shared LEGAL SHARED volumes; the node leading $STOP_QUEUE stopped mid-run"
OK=1
