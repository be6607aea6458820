#!/bin/bash
# node.sh - a private PostgreSQL cluster for tests and benchmarks: Unix
# socket only (no TCP), in a folder of its own.
#
#   node.sh start DIR     initdb (first time) + pg_ctl start, wait until ready
#   node.sh stop DIR      pg_ctl stop -m fast (data stay in DIR)
#   node.sh restart DIR   stop + start (the database's outage in tests)
#   node.sh env DIR       print DIR/env
#
# The cluster runs as the postgres user when started by root (DIR is then
# owned by postgres); its socket is DIR/.s.PGSQL.5432, authentication
# `trust` for local connections: a test cluster only, never a deployment
# (see deploy/postgresql/README.md).  Superuser `vmseal_admin`, database
# `vmseal`.  start writes DIR/env and prints it:
#   eval "$(deploy/postgresql/node.sh start DIR)"
# exports VMSEAL_TEST_PG_DIR (socket folder), VMSEAL_TEST_PG_URI (the
# database as the superuser) and VMSEAL_TEST_PG_BIN (initdb, pg_ctl).
set -euo pipefail

die() { echo "node.sh: $*" >&2; exit 1; }

BIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
[ -x "$BIN/initdb" ] || die "PostgreSQL server binaries not found (apt-get install postgresql-15)"
[ $# -ge 2 ] || die "usage: node.sh start|stop|restart|env DIR"
CMD=$1
DIR=$(realpath -m "$2")
if [ "$(id -u)" = 0 ]; then
    AS_PG=(runuser -u postgres --)
else
    AS_PG=()
fi

pg_ctl_do() { "${AS_PG[@]}" "$BIN/pg_ctl" -D "$DIR/data" -l "$DIR/log" "$@"; }

start() {
    mkdir -p "$DIR"
    [ "$(id -u)" = 0 ] && chown postgres: "$DIR"
    if [ ! -f "$DIR/data/PG_VERSION" ]; then
        "${AS_PG[@]}" "$BIN/initdb" -D "$DIR/data" -U vmseal_admin --auth=trust -E UTF8 --no-sync >"$DIR/initdb.log" 2>&1 ||
            { cat "$DIR/initdb.log" >&2; die "initdb failed"; }
        cat >>"$DIR/data/postgresql.conf" <<CONF
listen_addresses = ''
unix_socket_directories = '$DIR'
port = 5432
max_connections = 100
CONF
    fi
    if ! pg_ctl_do status >/dev/null 2>&1; then
        pg_ctl_do -w -t 60 start >/dev/null || { tail -n 20 "$DIR/log" >&2; die "the cluster did not start"; }
    fi
    "${AS_PG[@]}" "$BIN/psql" -h "$DIR" -U vmseal_admin -d postgres -qAtc \
        "SELECT 1 FROM pg_database WHERE datname = 'vmseal'" | grep -q 1 ||
        "${AS_PG[@]}" "$BIN/psql" -h "$DIR" -U vmseal_admin -d postgres -qc "CREATE DATABASE vmseal" >/dev/null
    cat >"$DIR/env" <<ENV
export VMSEAL_TEST_PG_DIR=$DIR
export VMSEAL_TEST_PG_URI='postgresql:///vmseal?host=$DIR&user=vmseal_admin'
export VMSEAL_TEST_PG_BIN=$BIN
ENV
    chmod 0644 "$DIR/env"
    cat "$DIR/env"
}

case $CMD in
start) start ;;
stop) [ -d "$DIR/data" ] && pg_ctl_do -m fast -w stop >/dev/null 2>&1 || true ;;
restart) pg_ctl_do -m fast -w stop >/dev/null 2>&1 || true; start >/dev/null ;;
env) cat "$DIR/env" ;;
*) die "unknown command $CMD" ;;
esac
