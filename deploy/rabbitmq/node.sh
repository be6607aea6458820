#!/bin/bash
# node.sh - start/stop a private single RabbitMQ node on 127.0.0.1.
#
#   node.sh start DIR [--port N] [--dist-port N] [--name NAME]
#                     [--definitions FILE] [--secrets SECRETDIR]
#                     [--management PORT] [--tls CERTDIR [--tls-port N]]
#   node.sh import DIR --definitions FILE [--secrets SECRETDIR]
#   node.sh stop DIR
#   node.sh env DIR          print DIR/env
#   node.sh cookie           create the Erlang cookie if missing (see below)
#
# start: creates DIR (data, logs, config; owned by the rabbitmq user when run
# as root), writes a node configuration from deploy/rabbitmq/rabbitmq.conf
# with a loopback listener, starts the node in the background and waits for it
# with `rabbitmqctl await_startup`.  Free ports are chosen when not given
# (a restart in the same DIR reuses the previous name and ports).  An
# administrator user `vmseal-admin` with a random password is created for
# tests and the quickstart (permissions on "/" and, with definitions, on
# "vmseal").
#   --definitions FILE  load that definitions file at boot (the vmseal topology
#                       and users); the users' passwords are set from
#                       SECRETDIR/<user>.secret (--secrets, default
#                       DIR/secrets; missing files are generated, mode 0600)
#                       through password hashes, never on a command line.
#   --management PORT   also enable the management plugin on 127.0.0.1:PORT.
#   --tls CERTDIR       also listen with TLS on 127.0.0.1 (--tls-port, else a
#                       free port): CERTDIR holds ca.pem, server.pem and
#                       server.key (copied into DIR/etc/tls for the rabbitmq
#                       user); clients must present a certificate signed by
#                       ca.pem (verify_peer, fail_if_no_peer_cert).  The env
#                       gains VMSEAL_TEST_BROKER_TLS_PORT.
# It writes DIR/env (shell exports VMSEAL_TEST_BROKER_PORT, _NODE, _USER,
# _PASSWORD, _DIR, _SECRETS) and prints it: `eval "$(node.sh start DIR)"`.
# Starting a node that is already running just prints its env.
#
# import: load definitions into the running node of DIR (as --definitions
# does at boot), e.g. once a cluster is formed.
#
# stop: `rabbitmqctl stop`, then kills what is left of the process group this
# script started.  Data stay in DIR (remove it yourself).
#
# Erlang cookie: as root, the node and every rabbitmqctl call run as the
# rabbitmq user (runuser / the Debian wrapper in /usr/sbin), so both use
# /var/lib/rabbitmq/.erlang.cookie; this script creates it if missing (before
# several nodes could race to create it).  Call rabbitmqctl as root or as
# rabbitmq, never as another user, or pass --erlang-cookie.
set -euo pipefail

RMQ_BIN=/usr/lib/rabbitmq/bin
RMQ_HOME=/var/lib/rabbitmq
COOKIE=$RMQ_HOME/.erlang.cookie
SELF_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ADMIN_USER=vmseal-admin
APP_USERS="producer worker operator monitor engine"

die() { echo "node.sh: $*" >&2; exit 1; }

# Run a RabbitMQ tool as the rabbitmq user (same HOME, hence same cookie).
if [ "$(id -u)" = 0 ]; then
    AS_RABBITMQ=(runuser -u rabbitmq --)
elif [ "$(id -un)" = rabbitmq ]; then
    AS_RABBITMQ=(env HOME=$RMQ_HOME)
else
    die "run as root (or as the rabbitmq user)"
fi
as_rabbitmq() { "${AS_RABBITMQ[@]}" "$@"; }
ctl() { as_rabbitmq "$RMQ_BIN/rabbitmqctl" "$@"; }

ensure_cookie() {
    [ -s "$COOKIE" ] && return 0
    [ "$(id -u)" = 0 ] || die "$COOKIE is missing; run once as root"
    local c
    c=$(head -c 64 /dev/urandom | base64 -w0 | tr -dc 'A-Z' | head -c 20)
    (umask 077; printf '%s' "$c" > "$COOKIE.tmp.$$")
    chown rabbitmq:rabbitmq "$COOKIE.tmp.$$"
    chmod 0400 "$COOKIE.tmp.$$"
    mv -n "$COOKIE.tmp.$$" "$COOKIE"
    rm -f "$COOKIE.tmp.$$"
}

# Is TCP port $1 listening (any address)?
port_in_use() {
    ss -Htan "( sport = :$1 )" 2>/dev/null | grep -q .
}

# A free port from 20000-59999 not in the space-separated list $1.
free_port() {
    local p i
    for i in $(seq 1 200); do
        p=$(( 20000 + (RANDOM * 32768 + RANDOM) % 40000 ))
        case " $1 " in *" $p "*) continue ;; esac
        port_in_use "$p" || { echo "$p"; return 0; }
    done
    die "no free port found"
}

# Random printable secret of 24 characters.
random_secret() { head -c 48 /dev/urandom | base64 -w0 | tr -dc 'A-Za-z0-9' | head -c 24; }

# rabbit_password_hashing_sha256: base64(salt4 ++ sha256(salt4 ++ password)).
password_hash() {
    local pw=$1 salt
    salt=$(mktemp)
    head -c 4 /dev/urandom > "$salt"
    { cat "$salt"; { cat "$salt"; printf '%s' "$pw"; } | openssl dgst -sha256 -binary; } | base64 -w0
    rm -f "$salt"
}

# Content of a secret file without trailing newlines (as vmseal's config reads it).
read_secret() { local s; s=$(cat "$1"); printf '%s' "$s"; }

user_json() { # name password tags-json
    printf '{"name": "%s", "password_hash": "%s", "hashing_algorithm": "rabbit_password_hashing_sha256", "tags": %s, "limits": {}}' \
        "$1" "$(password_hash "$2")" "$3"
}

# Limits (RabbitMQ 3.10 does not import them from definitions, and knows
# only max-connections and max-channels per user): the same
# `rabbitmqctl set_user_limits` / `set_vhost_limits` on a production node.
user_limits_json() { # user
    case $1 in
    producer) echo '{"max-connections": 8, "max-channels": 64}' ;;
    operator) echo '{"max-connections": 16, "max-channels": 64}' ;;
    *) echo '{"max-connections": 4, "max-channels": 16}' ;;   # a worker host, monitor
    esac
}
VHOST_LIMITS='{"max-queues": 1000, "max-connections": 2000}'
user_limits_apply() {
    local u
    for u in $APP_USERS; do
        ctl -n "$NAME" -q set_user_limits "$u" "$(user_limits_json "$u")" >/dev/null ||
            die "set_user_limits $u on $NAME failed"
    done
    ctl -n "$NAME" -q set_vhost_limits -p vmseal "$VHOST_LIMITS" >/dev/null || die "set_vhost_limits on $NAME failed"
}

load_env() { # sets NAME PORT DIST_PORT from DIR/env if present
    [ -f "$DIR/env" ] || return 0
    NAME=${NAME:-$(sed -n 's/^export VMSEAL_TEST_BROKER_NODE=//p' "$DIR/env")}
    PORT=${PORT:-$(sed -n 's/^export VMSEAL_TEST_BROKER_PORT=//p' "$DIR/env")}
    DIST_PORT=${DIST_PORT:-$(sed -n 's/^export VMSEAL_TEST_BROKER_DIST_PORT=//p' "$DIR/env")}
    MGMT_PORT=${MGMT_PORT:-$(sed -n 's/^export VMSEAL_TEST_BROKER_MANAGEMENT_PORT=//p' "$DIR/env")}
    TLS_PORT=${TLS_PORT:-$(sed -n 's/^export VMSEAL_TEST_BROKER_TLS_PORT=//p' "$DIR/env")}
    ADMIN_PASSWORD=$(sed -n 's/^export VMSEAL_TEST_BROKER_PASSWORD=//p' "$DIR/env")
    return 0
}

node_alive() { ctl -n "$1" -q ping >/dev/null 2>&1; }

write_config() {
    local conf=$DIR/etc/rabbitmq.conf
    grep -v '^[[:space:]]*listeners\.' "$SELF_DIR/rabbitmq.conf" > "$conf"
    {
        echo
        echo "# --- private node (node.sh) ---"
        echo "listeners.tcp.1 = 127.0.0.1:$PORT"
        echo "disk_free_limit.absolute = 50MB"
        echo "load_definitions = $DIR/etc/definitions.d"
        if [ -n "$MGMT_PORT" ]; then
            echo "management.tcp.ip = 127.0.0.1"
            echo "management.tcp.port = $MGMT_PORT"
        fi
    } >> "$conf"
    [ -z "$TLS_DIR" ] || write_tls_config "$conf"
    # With TLS, a host may log in by its certificate (EXTERNAL, the common name as user).
    local plugins=""
    [ -z "$MGMT_PORT" ] || plugins="rabbitmq_management"
    [ -z "$TLS_DIR" ] || plugins="${plugins:+$plugins,}rabbitmq_auth_mechanism_ssl"
    echo "[$plugins]." > "$DIR/etc/enabled_plugins"
}

# --- TLS (--tls; owner: security) -------------------------------------------
write_tls_config() { # conf
    local f
    mkdir -p "$DIR/etc/tls"
    for f in ca.pem server.pem server.key; do
        [ -r "$TLS_DIR/$f" ] || die "--tls: $TLS_DIR/$f is missing"
        cp "$TLS_DIR/$f" "$DIR/etc/tls/$f"
    done
    chmod 0600 "$DIR/etc/tls/server.key"
    {
        echo "listeners.ssl.1 = 127.0.0.1:$TLS_PORT"
        echo "ssl_options.cacertfile = $DIR/etc/tls/ca.pem"
        echo "ssl_options.certfile = $DIR/etc/tls/server.pem"
        echo "ssl_options.keyfile = $DIR/etc/tls/server.key"
        echo "ssl_options.verify = verify_peer"
        echo "ssl_options.fail_if_no_peer_cert = true"
        echo "ssl_options.versions.1 = tlsv1.3"
        echo "ssl_options.versions.2 = tlsv1.2"
        echo "auth_mechanisms.1 = PLAIN"
        echo "auth_mechanisms.2 = AMQPLAIN"
        echo "auth_mechanisms.3 = EXTERNAL"
        echo "ssl_cert_login_from = common_name"
    } >> "$1"
}
# --- end TLS ------------------------------------------------------------------

write_definitions() {
    local d=$DIR/etc/definitions.d vhosts='{"name": "/"}' perms
    rm -rf "$d"; mkdir -p "$d"
    perms="{\"user\": \"$ADMIN_USER\", \"vhost\": \"/\", \"configure\": \".*\", \"write\": \".*\", \"read\": \".*\"}"
    if [ -n "$DEFS" ]; then
        cp "$DEFS" "$d/10-vmseal.json"
        vhosts="$vhosts, {\"name\": \"vmseal\"}"
        perms="$perms, {\"user\": \"$ADMIN_USER\", \"vhost\": \"vmseal\", \"configure\": \".*\", \"write\": \".*\", \"read\": \".*\"}"
    fi
    # Users and their password hashes; 20-users.json sorts after the
    # definitions so that it wins over their password-less users.
    local users u tags pw
    users=$(user_json "$ADMIN_USER" "$ADMIN_PASSWORD" '["administrator"]')
    if [ -n "$DEFS" ]; then
        mkdir -p "$SECRETS"
        for u in $APP_USERS; do
            if [ ! -s "$SECRETS/$u.secret" ]; then
                (umask 077; random_secret > "$SECRETS/$u.secret")
            fi
            pw=$(read_secret "$SECRETS/$u.secret")
            tags='[]'; [ "$u" = monitor ] && tags='["monitoring"]'
            users="$users, $(user_json "$u" "$pw" "$tags")"
        done
    fi
    (umask 077; printf '{"users": [%s], "vhosts": [%s], "permissions": [%s]}\n' \
        "$users" "$vhosts" "$perms" > "$d/20-users.json")
}

write_env() {
    local tmp=$DIR/env.tmp
    {
        echo "export VMSEAL_TEST_BROKER_PORT=$PORT"
        echo "export VMSEAL_TEST_BROKER_NODE=$NAME"
        echo "export VMSEAL_TEST_BROKER_USER=$ADMIN_USER"
        echo "export VMSEAL_TEST_BROKER_PASSWORD=$ADMIN_PASSWORD"
        echo "export VMSEAL_TEST_BROKER_DIR=$DIR"
        echo "export VMSEAL_TEST_BROKER_DIST_PORT=$DIST_PORT"
        [ -n "$DEFS" ] && echo "export VMSEAL_TEST_BROKER_SECRETS=$SECRETS"
        [ -n "$MGMT_PORT" ] && echo "export VMSEAL_TEST_BROKER_MANAGEMENT_PORT=$MGMT_PORT"
        [ -n "$TLS_DIR" ] && echo "export VMSEAL_TEST_BROKER_TLS_PORT=$TLS_PORT"
        true
    } > "$tmp"
    chmod 0600 "$tmp"
    mv "$tmp" "$DIR/env"
}

cmd_start() {
    ensure_cookie
    mkdir -p "$DIR"
    DIR=$(cd "$DIR" && pwd)
    load_env
    if [ -n "$NAME" ] && [ -f "$DIR/env" ] && node_alive "$NAME"; then
        cat "$DIR/env"
        return 0
    fi
    [ -n "$NAME" ] || NAME="vmseal-$(random_secret | tr 'A-Z' 'a-z' | head -c 8)"
    case $NAME in *@*) ;; *) NAME="$NAME@localhost" ;; esac
    if [ -z "$PORT" ] || port_in_use "$PORT"; then
        [ -n "$PORT_GIVEN" ] && die "port $PORT is in use"
        PORT=$(free_port "")
    fi
    if [ -z "$DIST_PORT" ] || port_in_use "$DIST_PORT"; then
        DIST_PORT=$(free_port "$PORT $MGMT_PORT")
    fi
    if [ -n "$TLS_DIR" ] && { [ -z "$TLS_PORT" ] || port_in_use "$TLS_PORT"; }; then
        TLS_PORT=$(free_port "$PORT $DIST_PORT $MGMT_PORT")
    fi
    SECRETS=${SECRETS:-$DIR/secrets}
    # A restart keeps the administrator's password (load_env read it).
    ADMIN_PASSWORD=${ADMIN_PASSWORD:-$(random_secret)}

    mkdir -p "$DIR/mnesia" "$DIR/log" "$DIR/etc"
    write_config
    write_definitions
    if [ "$(id -u)" = 0 ]; then
        # The node runs as rabbitmq: it must reach and own its folder.
        chown -R rabbitmq:rabbitmq "$DIR/mnesia" "$DIR/log" "$DIR/etc"
        chown rabbitmq:rabbitmq "$DIR"
        chmod 0750 "$DIR"
        runuser -u rabbitmq -- test -x "$DIR/mnesia" ||
            die "the rabbitmq user cannot reach $DIR (a parent folder is private?)"
    fi

    export RABBITMQ_NODENAME=$NAME
    export RABBITMQ_NODE_IP_ADDRESS=127.0.0.1
    export RABBITMQ_NODE_PORT=$PORT
    export RABBITMQ_DIST_PORT=$DIST_PORT
    export RABBITMQ_MNESIA_BASE=$DIR/mnesia
    export RABBITMQ_LOG_BASE=$DIR/log
    export RABBITMQ_CONFIG_FILE=$DIR/etc/rabbitmq.conf
    export RABBITMQ_ADVANCED_CONFIG_FILE=$DIR/etc/advanced.config
    export RABBITMQ_ENABLED_PLUGINS_FILE=$DIR/etc/enabled_plugins
    export RABBITMQ_PID_FILE=$DIR/rabbitmq.pid
    export RABBITMQ_CONF_ENV_FILE=/dev/null
    # +sbwt none...: the Erlang schedulers do not busy-wait for work.  The
    # private node shares its cores with the producer, the workers and the
    # tests; spinning schedulers took CPU from them (bench_producer.sh:
    # broker CPU per template 12.0 -> 8.9 ms, throughput 64 -> 82/s).
    export RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS="-kernel inet_dist_use_interface {127,0,0,1} +sbwt none +sbwtdcpu none +sbwtdio none"
    export ERL_EPMD_ADDRESS=127.0.0.1

    # Own session and process group, so that stop can kill all that is left.
    setsid "${AS_RABBITMQ[@]}" "$RMQ_BIN/rabbitmq-server" > "$DIR/log/console.log" 2>&1 < /dev/null &
    local pid=$!
    echo "$pid" > "$DIR/server.pgid"
    unset RABBITMQ_NODENAME RABBITMQ_NODE_PORT RABBITMQ_DIST_PORT

    # Readiness: await_startup (it waits while the node boots); retry only
    # while the server process is alive and the deadline is not reached.
    local deadline=$((SECONDS + 120))
    until ctl -n "$NAME" -q await_startup --timeout 60 >/dev/null 2>&1; do
        if ! kill -0 "$pid" 2>/dev/null || [ $SECONDS -ge $deadline ]; then
            echo "node.sh: node $NAME did not start; last lines of $DIR/log/console.log:" >&2
            tail -n 30 "$DIR/log/console.log" >&2 || true
            cmd_stop >/dev/null 2>&1 || true
            exit 1
        fi
    done
    [ -z "$DEFS" ] || user_limits_apply
    write_env
    cat "$DIR/env"
}

# Load definitions (and the users' password hashes) into the running node,
# e.g. after it joined a cluster; they also become its boot definitions.
cmd_import() {
    DIR=$(cd "$DIR" && pwd)
    [ -f "$DIR/env" ] || die "no node in $DIR"
    load_env
    [ -n "$DEFS" ] || die "import needs --definitions FILE"
    node_alive "$NAME" || die "node $NAME is not running"
    SECRETS=${SECRETS:-$DIR/secrets}
    write_definitions
    [ "$(id -u)" = 0 ] && chown -R rabbitmq:rabbitmq "$DIR/etc"
    local f
    for f in "$DIR"/etc/definitions.d/*.json; do
        ctl -n "$NAME" -q import_definitions "$f" >/dev/null ||
            die "import of $f into $NAME failed"
    done
    # import_definitions returns before the import is done: wait until every
    # binding of the file (imported last) is there.
    local want have deadline=$((SECONDS + 60))
    want=$(grep -c '"source":' "$DEFS" || true)
    while :; do
        have=$(ctl -n "$NAME" -q list_bindings -p vmseal source_name 2>/dev/null | grep -c '^vmseal\.' || true)
        [ "$have" -ge "$want" ] && break
        [ $SECONDS -lt $deadline ] || die "definitions import into $NAME did not finish ($have of $want bindings)"
    done
    user_limits_apply
    write_env
    cat "$DIR/env"
}

cmd_stop() {
    DIR=$(cd "$DIR" 2>/dev/null && pwd) || { echo "node.sh: no folder $DIR" >&2; return 0; }
    load_env
    if [ -n "$NAME" ]; then
        ctl -n "$NAME" -q stop >/dev/null 2>&1 || true
    fi
    # Leftovers of the process group we started (never anything else).
    local pgid
    if [ -f "$DIR/server.pgid" ]; then
        pgid=$(cat "$DIR/server.pgid")
        if [ -n "$pgid" ] && kill -0 -- "-$pgid" 2>/dev/null; then
            kill -TERM -- "-$pgid" 2>/dev/null || true
            local i
            for i in $(seq 1 50); do
                kill -0 -- "-$pgid" 2>/dev/null || break
                sleep 0.1   # polling for exit, bounded (5 s)
            done
            kill -KILL -- "-$pgid" 2>/dev/null || true
        fi
        rm -f "$DIR/server.pgid"
    fi
    return 0
}

[ "${1:-}" = cookie ] && { ensure_cookie; exit 0; }
[ $# -ge 2 ] || die "usage: node.sh start|import|stop|env DIR [options] | node.sh cookie"
CMD=$1; DIR=$2; shift 2
NAME= PORT= PORT_GIVEN= DIST_PORT= DEFS= SECRETS= MGMT_PORT= TLS_DIR= TLS_PORT=
while [ $# -gt 0 ]; do
    case $1 in
        --port) PORT=$2; PORT_GIVEN=1; shift 2 ;;
        --dist-port) DIST_PORT=$2; shift 2 ;;
        --name) NAME=$2; shift 2 ;;
        --definitions) DEFS=$(cd "$(dirname "$2")" && pwd)/$(basename "$2"); shift 2 ;;
        --secrets) SECRETS=$2; shift 2 ;;
        --management) MGMT_PORT=$2; shift 2 ;;
        --tls) TLS_DIR=$(cd "$2" && pwd); shift 2 ;;
        --tls-port) TLS_PORT=$2; shift 2 ;;
        *) die "unknown option $1" ;;
    esac
done
[ -z "$DEFS" ] || [ -r "$DEFS" ] || die "cannot read definitions $DEFS"
if [ -n "$SECRETS" ]; then mkdir -p "$SECRETS"; SECRETS=$(cd "$SECRETS" && pwd); fi

case $CMD in
    start) cmd_start ;;
    import) cmd_import ;;
    stop) cmd_stop ;;
    env) cat "$DIR/env" ;;
    *) die "unknown command $CMD" ;;
esac
