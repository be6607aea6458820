#!/bin/bash
# cluster.sh - a three-node RabbitMQ cluster on loopback for vmseal.
#
#   cluster.sh start DIR [--definitions FILE] [--secrets SECRETDIR]
#   cluster.sh stop DIR
#
# start: three private nodes (node.sh) in DIR/n1, DIR/n2, DIR/n3 on distinct
# free loopback ports, started in parallel; n2 and n3 join n1's cluster; the
# definitions (default: deploy/rabbitmq/definitions.json next to this script)
# are loaded once the cluster is formed, so that the quorum queues
# (vmseal.requests, vmseal.jobs.default, vmseal.events.producer, vmseal.dead)
# have a replica on all three nodes; any quorum queue still short of a member
# is grown.  Writes DIR/env: the exports of node.sh for n1 plus
#     VMSEAL_TEST_BROKER_HOSTS="127.0.0.1:P1 127.0.0.1:P2 127.0.0.1:P3"
#     VMSEAL_TEST_BROKER_NODES="n1@localhost n2@localhost n3@localhost"
# and prints it.  Run again while it is up: prints the env.  After a stop, a
# start restarts the same cluster (the nodes wait for each other at boot).
#
# stop: stops the three nodes (data stay in DIR).
set -euo pipefail

SELF_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
NODE_SH=$SELF_DIR/node.sh
RMQ_BIN=/usr/lib/rabbitmq/bin
NODES="n1 n2 n3"

die() { echo "cluster.sh: $*" >&2; exit 1; }
T0=$SECONDS
log() { echo "cluster.sh: +$((SECONDS - T0))s $*" >&2; }

if [ "$(id -u)" = 0 ]; then AS_RABBITMQ=(runuser -u rabbitmq --); else AS_RABBITMQ=(env HOME=/var/lib/rabbitmq); fi
ctl() { "${AS_RABBITMQ[@]}" "$RMQ_BIN/rabbitmqctl" "$@"; }
queues() { "${AS_RABBITMQ[@]}" "$RMQ_BIN/rabbitmq-queues" "$@"; }

env_of() { # node-folder KEY
    sed -n "s/^export VMSEAL_TEST_BROKER_$2=//p" "$1/env"
}

cluster_members() { # node: running members of its cluster, one a line
    ctl -n "$1" -q cluster_status --formatter json 2>/dev/null |
        grep -o '"running_nodes":\[[^]]*\]' | grep -o '"[^"]*@[^"]*"' | tr -d '"'
}

# The quorum queues of vhost vmseal with fewer than 3 members.
short_queues() { # node
    ctl -n "$1" -q list_queues -p vmseal name type members 2>/dev/null |
        awk '$2 == "quorum" { n = gsub(/@/, "@"); if (n < 3) print $1 }'
}

cmd_start() {
    mkdir -p "$DIR"
    DIR=$(cd "$DIR" && pwd)
    if [ "$(id -u)" = 0 ]; then
        chown rabbitmq:rabbitmq "$DIR"   # the nodes run as rabbitmq
        chmod 0750 "$DIR"
    fi
    if [ -f "$DIR/env" ]; then
        local n1
        n1=$(env_of "$DIR/n1" NODE)
        if [ "$(cluster_members "$n1" | wc -l)" = 3 ]; then
            cat "$DIR/env"
            return 0
        fi
    fi
    # The same cookie for all (node.sh creates it if missing): do it once
    # before three nodes race for it.
    "$NODE_SH" cookie

    # Node names unique to this cluster (two clusters on one host must not
    # share a name: their CLI calls would reach each other's nodes).
    local n pids=() names=() fail=0 tag
    [ -s "$DIR/name-tag" ] || od -An -N4 -tx1 /dev/urandom | tr -d ' \n' > "$DIR/name-tag"
    tag=$(cat "$DIR/name-tag")
    for n in $NODES; do
        mkdir -p "$DIR/$n"
        local -a opts=(--name "vmseal-$n-$tag")
        [ -f "$DIR/$n/env" ] && opts=()   # restart: node.sh reuses name and ports
        "$NODE_SH" start "$DIR/$n" "${opts[@]}" > "$DIR/$n.start.log" 2>&1 &
        pids+=($!)
    done
    for pid in "${pids[@]}"; do wait "$pid" || fail=1; done
    log "nodes started"
    if [ $fail = 1 ]; then
        for n in $NODES; do echo "--- $n:" >&2; tail -n 20 "$DIR/$n.start.log" >&2 || true; done
        cmd_stop
        die "a node did not start"
    fi
    for n in $NODES; do names+=("$(env_of "$DIR/$n" NODE)"); done

    # Join n2 and n3 to n1 (fresh nodes only; a restarted cluster is formed).
    local i
    for i in 1 2; do
        if ! cluster_members "${names[0]}" | grep -qx "${names[$i]}"; then
            log "joining ${names[$i]} to ${names[0]}"
            {
                ctl -n "${names[$i]}" -q stop_app &&
                    ctl -n "${names[$i]}" -q reset &&
                    ctl -n "${names[$i]}" -q join_cluster "${names[0]}" &&
                    ctl -n "${names[$i]}" -q start_app &&
                    ctl -n "${names[$i]}" -q await_startup --timeout 120
            } >> "$DIR/cluster.log" 2>&1 || die "join of ${names[$i]} failed (see $DIR/cluster.log)"
        fi
    done
    [ "$(cluster_members "${names[0]}" | wc -l)" = 3 ] || die "cluster did not form: $(cluster_members "${names[0]}")"

    # n2/n3 were reset: the administrator of n1 is the cluster's.  Their
    # env files must carry n1's password.
    local admin_pw
    admin_pw=$(env_of "$DIR/n1" PASSWORD)
    for n in n2 n3; do
        sed -i "s/^export VMSEAL_TEST_BROKER_PASSWORD=.*/export VMSEAL_TEST_BROKER_PASSWORD=$admin_pw/" "$DIR/$n/env"
    done

    local -a imp=(--definitions "${DEFS:-$SELF_DIR/definitions.json}")
    [ -n "$SECRETS" ] && imp+=(--secrets "$SECRETS")
    log "cluster formed; loading definitions"
    "$NODE_SH" import "$DIR/n1" "${imp[@]}" >/dev/null
    log "definitions loaded"

    # Quorum queues declared before a node joined lack it: grow them.
    local q
    if [ -n "$(short_queues "${names[0]}")" ]; then
        for i in 1 2; do
            queues -n "${names[$i]}" -q grow "${names[$i]}" all --vhost-pattern '^vmseal$' --queue-pattern '.*' >/dev/null
        done
    fi
    q=$(short_queues "${names[0]}")
    [ -z "$q" ] || die "quorum queues without 3 replicas: $q"

    {
        cat "$DIR/n1/env"
        local hosts="" p
        for n in $NODES; do
            p=$(env_of "$DIR/$n" PORT)
            hosts="$hosts${hosts:+ }127.0.0.1:$p"
        done
        echo "export VMSEAL_TEST_BROKER_HOSTS=\"$hosts\""
        echo "export VMSEAL_TEST_BROKER_NODES=\"${names[*]}\""
    } > "$DIR/env.tmp"
    chmod 0600 "$DIR/env.tmp"
    mv "$DIR/env.tmp" "$DIR/env"
    cat "$DIR/env"
}

cmd_stop() {
    DIR=$(cd "$DIR" 2>/dev/null && pwd) || return 0
    local n
    # Stop in parallel: a node waiting for its peers must not block the others.
    for n in $NODES; do
        [ -d "$DIR/$n" ] && "$NODE_SH" stop "$DIR/$n" >/dev/null 2>&1 &
    done
    wait
    return 0
}

[ $# -ge 2 ] || die "usage: cluster.sh start|stop DIR [--definitions FILE] [--secrets DIR]"
CMD=$1; DIR=$2; shift 2
DEFS= SECRETS=
while [ $# -gt 0 ]; do
    case $1 in
        --definitions) DEFS=$2; shift 2 ;;
        --secrets) SECRETS=$2; shift 2 ;;
        *) die "unknown option $1" ;;
    esac
done
case $CMD in
    start) cmd_start ;;
    stop) cmd_stop ;;
    *) die "unknown command $CMD" ;;
esac
