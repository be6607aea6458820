#!/bin/bash
# host.sh - a broker identity per worker host (issue 15): a CA, a host's
# certificate, and the host's broker user with the worker permissions.
#
#   host.sh ca CADIR
#       CADIR/ca.pem and CADIR/ca.key (0600): a CA for the hosts' client
#       certificates (give ca.pem to the broker's ssl_options.cacertfile).
#   host.sh issue CADIR HOST OUTDIR
#       OUTDIR/HOST.pem and OUTDIR/HOST.key (0600), common name HOST, signed
#       by CADIR.  The host's worker config: broker.user = "HOST" and
#       broker.tls = { ca; cert = HOST.pem; key = HOST.key; } without a
#       password: vmseal logs in with SASL EXTERNAL (the broker needs
#       rabbitmq_auth_mechanism_ssl, auth_mechanisms EXTERNAL and
#       ssl_cert_login_from = common_name; node.sh --tls sets them).
#   host.sh register NODE HOST [--password-file FILE] [--definitions FILE]
#       Creates broker user HOST on node NODE (rabbitmqctl -n NODE) with the
#       permissions, topic permissions and limits of the `worker` user of the
#       definitions (deploy/rabbitmq/definitions.json): a password from FILE,
#       or none (certificate login only).  Idempotent.
#
# A host's identity is its name: the producer believes a job's events only
# from the identity whose event claimed the job, and the topic permissions
# let HOST publish only routing keys ending in ".HOST".
set -euo pipefail

SELF_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
die() { echo "host.sh: $*" >&2; exit 1; }
ctl() { if [ "$(id -u)" = 0 ]; then runuser -u rabbitmq -- /usr/lib/rabbitmq/bin/rabbitmqctl "$@"; else rabbitmqctl "$@"; fi; }
name_ok() { [[ $1 =~ ^[a-z0-9][a-z0-9_-]{0,62}$ ]] || die "host name '$1' must match [a-z0-9][a-z0-9_-]{0,62}"; }

cmd_ca() {
    local dir=$1
    mkdir -p "$dir"
    [ -s "$dir/ca.pem" ] && return 0
    (umask 077; openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj "/CN=vmseal hosts CA" \
        -keyout "$dir/ca.key" -out "$dir/ca.pem" 2>/dev/null) || die "openssl: CA"
}

cmd_issue() {
    local ca=$1 host=$2 out=$3
    name_ok "$host"
    [ -s "$ca/ca.pem" ] && [ -s "$ca/ca.key" ] || die "no CA in $ca (host.sh ca $ca)"
    mkdir -p "$out"
    (umask 077
     openssl req -newkey rsa:2048 -nodes -subj "/CN=$host" -keyout "$out/$host.key" -out "$out/$host.csr" 2>/dev/null &&
     printf 'extendedKeyUsage = clientAuth\n' > "$out/$host.ext" &&
     openssl x509 -req -in "$out/$host.csr" -CA "$ca/ca.pem" -CAkey "$ca/ca.key" -CAcreateserial -days 825 \
         -extfile "$out/$host.ext" -out "$out/$host.pem" 2>/dev/null) || die "openssl: certificate of $host"
    rm -f "$out/$host.csr" "$out/$host.ext"
    chmod 0600 "$out/$host.key"
}

# The worker user's entry of the definitions: "configure write read topic-write topic-read".
worker_perms() {
    python3 - "$1" <<'EOF'
import json, sys
d = json.load(open(sys.argv[1]))
p = next(x for x in d["permissions"] if x["user"] == "worker" and x["vhost"] == "vmseal")
t = next(x for x in d["topic_permissions"] if x["user"] == "worker" and x["vhost"] == "vmseal")
print("\n".join([p["configure"], p["write"], p["read"], t["exchange"], t["write"], t["read"]]))
EOF
}

cmd_register() {
    local node=$1 host=$2 pwfile="" defs=$SELF_DIR/definitions.json
    shift 2
    while [ $# -gt 0 ]; do
        case $1 in
        --password-file) pwfile=$2; shift 2 ;;
        --definitions) defs=$2; shift 2 ;;
        *) die "unknown option $1" ;;
        esac
    done
    name_ok "$host"
    local -a p
    mapfile -t p < <(worker_perms "$defs")
    [ ${#p[@]} -eq 6 ] || die "no worker permissions in $defs"
    if ! ctl -n "$node" -q list_users | cut -f1 | grep -qx "$host"; then
        # the password goes through stdin, never a command line
        if [ -n "$pwfile" ]; then
            ctl -n "$node" -q add_user "$host" < "$pwfile" >/dev/null
        else
            head -c 32 /dev/urandom | base64 -w0 | ctl -n "$node" -q add_user "$host" >/dev/null
            ctl -n "$node" -q clear_password "$host" >/dev/null
        fi
    fi
    ctl -n "$node" -q set_permissions -p vmseal "$host" "${p[0]}" "${p[1]}" "${p[2]}" >/dev/null
    ctl -n "$node" -q set_topic_permissions -p vmseal "$host" "${p[3]}" "${p[4]}" "${p[5]}" >/dev/null
    ctl -n "$node" -q set_user_limits "$host" '{"max-connections": 4, "max-channels": 16}' >/dev/null
}

case ${1:-} in
ca) [ $# -eq 2 ] || die "usage: host.sh ca CADIR"; cmd_ca "$2" ;;
issue) [ $# -eq 4 ] || die "usage: host.sh issue CADIR HOST OUTDIR"; cmd_issue "$2" "$3" "$4" ;;
register) [ $# -ge 3 ] || die "usage: host.sh register NODE HOST [--password-file FILE]"; shift; cmd_register "$@" ;;
*) die "usage: host.sh ca|issue|register ... (see the head of this file)" ;;
esac
