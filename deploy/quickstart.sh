#!/bin/bash
# quickstart.sh - vmseal on one machine in one command (Debian 12, as root).
#
#   deploy/quickstart.sh [--no-install] [--management PORT]   start (default)
#   deploy/quickstart.sh stop                                  stop what it started
#
# start:
#   1. installs the packages that are missing (dpkg-query first; apt-get only
#      for what is missing; --no-install skips this step, e.g. in CI)
#   2. builds vmseal (cmake into build/, or $VMSEAL_QUICKSTART_BUILD)
#   3. probes KVM; without working KVM the workers' libguestfs appliance runs
#      in software emulation (worker.guestfs.backend_settings = ["force_tcg"])
#   4. starts a private RabbitMQ node on loopback (deploy/rabbitmq/node.sh)
#      with the shipped definitions: users producer, worker, monitor and engine with
#      generated passwords in STATE/secrets/<user>.secret (mode 0600)
#   5. creates a storage domain STATE/sd (vmsealctl sd create) and imports a
#      demo VM disk it builds itself (a small Fedora-like guest, no network
#      needed: a directory tree -> virt-make-fs qcow2 ext4) carrying SSH host
#      keys, a machine id, a hostname, MAC bindings, logs and histories
#   6. writes STATE/etc/{producer,worker1,worker2,vmsealctl}.conf from the
#      examples in deploy/config with this quickstart's paths
#   7. starts the producer and two workers (logs in STATE/log)
#   8. submits a sealed template (vmsealctl submit --seal --wait), then shows
#      what sealing removed (the source volume against the template volume,
#      read with guestfish --ro) and the template's volumes and their flags
# The services keep running afterwards; `quickstart.sh stop` stops them.
# Running it again restarts the services cleanly and reuses the broker data,
# the storage domain and the demo disk.  Ctrl-C (or any failure) stops what
# this run started.
#
# Environment:
#   VMSEAL_QUICKSTART_DIR    state folder (default /var/tmp/vmseal-quickstart)
#   VMSEAL_QUICKSTART_BUILD  build folder (default <source>/build)
#   VMSEAL_QUICKSTART_BIN    use the programs in this folder (e.g. installed by
#                            `cmake --install`) instead of building them
#   VMSEAL_FORCE_TCG         1: always software emulation; 0: never; unset: probe
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
STATE=${VMSEAL_QUICKSTART_DIR:-/var/tmp/vmseal-quickstart}
BUILD=${VMSEAL_QUICKSTART_BUILD:-$ROOT/build}
NODE_SH=$ROOT/deploy/rabbitmq/node.sh
DAEMONS="producer worker1 worker2"

PACKAGES="build-essential cmake pkg-config librabbitmq-dev libmsgpack-dev libguestfs-dev
guestfs-tools libconfig-dev libcmocka-dev libsqlite3-dev uuid-dev qemu-utils qemu-system-x86
rabbitmq-server openssl iproute2 util-linux libjansson-dev libmicrohttpd-dev libsystemd-dev scdoc
xz-utils"

T0=$SECONDS
STARTED=0      # set once this run starts something: the trap then stops it
FINISHED=0

say() { printf '\033[1m==> %s\033[0m  (+%ds)\n' "$*" $((SECONDS - T0)); }
note() { echo "    $*"; }
die() { echo "quickstart: error: $*" >&2; exit 1; }

# ------------------------------------------------------------------ stop
pid_is_ours() { # pid binary: the process runs that binary of our build
    local exe
    exe=$(readlink "/proc/$1/exe" 2>/dev/null) || return 1
    # A rebuild since it started replaced the file: "PATH (deleted)".
    [ "${exe% (deleted)}" = "$2" ]
}

daemon_stop() { # name
    local f=$STATE/run/$1.pid pid bin i
    [ -f "$f" ] || return 0
    read -r pid bin < "$f" || true
    if [ -n "${pid:-}" ] && pid_is_ours "$pid" "$bin"; then
        kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
        # A worker lets running jobs finish (--grace-s 10 below); bounded wait.
        for i in $(seq 1 150); do
            pid_is_ours "$pid" "$bin" || break
            sleep 0.1
        done
        kill -KILL -- "-$pid" 2>/dev/null || true
    fi
    rm -f "$f"
}

stop_all() {
    local d
    [ -d "$STATE" ] || return 0
    for d in $DAEMONS; do daemon_stop "$d" & done
    wait
    if [ -f "$STATE/broker/env" ]; then
        "$NODE_SH" stop "$STATE/broker" >/dev/null 2>&1 || true
    fi
}

on_exit() {
    local rc=$?
    trap - EXIT INT TERM
    if [ "$FINISHED" != 1 ] && [ "$STARTED" = 1 ]; then
        echo "quickstart: stopping what this run started (logs stay in $STATE/log)" >&2
        stop_all
    fi
    exit "$rc"
}

# ------------------------------------------------------------------ 1-3
install_packages() {
    local missing=() p
    for p in $PACKAGES; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
    done
    ls /boot/vmlinuz-* >/dev/null 2>&1 || missing+=(linux-image-amd64)   # libguestfs' appliance kernel
    if [ ${#missing[@]} -eq 0 ]; then
        note "all packages present"
        return 0
    fi
    note "installing: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q && apt-get install -y -q --no-install-recommends "${missing[@]}"
}

build() {
    if [ -n "${VMSEAL_QUICKSTART_BIN:-}" ]; then
        BIN=$VMSEAL_QUICKSTART_BIN
        note "binaries in $BIN (not built)"
        return 0
    fi
    if [ ! -f "$BUILD/CMakeCache.txt" ]; then
        cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=RelWithDebInfo > "$STATE/log/build.log" 2>&1 ||
            { tail -n 30 "$STATE/log/build.log" >&2; die "cmake failed (see $STATE/log/build.log)"; }
    fi
    cmake --build "$BUILD" -j"$(nproc 2>/dev/null || echo 2)" \
        --target vmseal-worker vmseal-producer vmsealctl >> "$STATE/log/build.log" 2>&1 ||
        { tail -n 30 "$STATE/log/build.log" >&2; die "build failed (see $STATE/log/build.log)"; }
    BIN=$BUILD/bin
    note "binaries in $BIN"
}

# Decide whether libguestfs' appliance can use KVM; sets TCG=0|1.
probe_kvm() {
    TCG=${VMSEAL_FORCE_TCG:-}
    if [ -z "$TCG" ]; then
        # In a subshell: qemu aborting (nested KVM: "failed to set MSR") must
        # not print bash's job report.
        if [ -w /dev/kvm ] && (echo quit | timeout 10 qemu-system-x86_64 -accel kvm -cpu host -m 64 \
                -nodefaults -display none -S -monitor stdio) >/dev/null 2>&1; then
            TCG=0
        else
            TCG=1
        fi
    fi
    export LIBGUESTFS_BACKEND=direct
    if [ "$TCG" = 1 ]; then
        export LIBGUESTFS_BACKEND_SETTINGS=force_tcg
        note "KVM does not work here: the workers get worker.guestfs.backend_settings = [\"force_tcg\"]"
        note "(software emulation: every appliance launch takes ~10 s instead of ~2 s)"
    else
        unset LIBGUESTFS_BACKEND_SETTINGS
        note "KVM works: libguestfs uses hardware virtualisation"
    fi
}

# ------------------------------------------------------------------ 4 broker
start_broker() {
    local -a opts=(--definitions "$ROOT/deploy/rabbitmq/definitions.json" --secrets "$STATE/secrets")
    [ -n "$MGMT_PORT" ] && opts+=(--management "$MGMT_PORT")
    local out
    out=$("$NODE_SH" start "$STATE/broker" "${opts[@]}") || die "the broker did not start (see $STATE/broker/log)"
    eval "$out"
    BROKER_PORT=$VMSEAL_TEST_BROKER_PORT
    note "node $VMSEAL_TEST_BROKER_NODE on 127.0.0.1:$BROKER_PORT (data in $STATE/broker)"
    local u
    for u in producer worker operator monitor engine; do
        [ "$(stat -c %a "$STATE/secrets/$u.secret")" = 600 ] || chmod 0600 "$STATE/secrets/$u.secret"
    done
    note "passwords of producer, worker, operator, monitor, engine: $STATE/secrets/<user>.secret (0600)"
    [ -n "$MGMT_PORT" ] && note "management UI: http://127.0.0.1:$MGMT_PORT/ (user $VMSEAL_TEST_BROKER_USER, password in $STATE/broker/env)"
    return 0
}

# ------------------------------------------------------------------ 6 configs
# sub FILE REGEX REPLACEMENT: sed one key of an example, failing when the
# example no longer has it.
sub() {
    grep -qE "$2" "$1" || die "$(basename "$1"): the example changed (no line matching '$2')"
    sed -i -E "s|$2|$3|" "$1"
}

config_common() { # example out user
    local out=$2
    cp "$ROOT/deploy/config/$1" "$out.tmp"
    sub "$out.tmp" '^( *hosts = ).*' "\1[ \"127.0.0.1:$BROKER_PORT\" ];"
    sub "$out.tmp" '^( *user = ).*' "\1\"$3\";"
    sub "$out.tmp" '^( *password_file = )"[^"]*"' "\1\"$STATE/secrets/$3.secret\""
}

config_domain() { # file
    sub "$1" '\{ id = "[^"]*"; path = "[^"]*"; \}' "{ id = \"$SD_ID\"; path = \"$SD_PATH\"; }"
}

write_configs() {
    local e=$STATE/etc n
    mkdir -p "$e"
    config_common producer.conf "$e/producer.conf" producer
    sub "$e/producer.conf.tmp" '^( *db = )"[^"]*"' "\1\"$STATE/producer.db\""
    for n in 1 2; do
        config_common worker.conf "$e/worker$n.conf" worker
        sub "$e/worker$n.conf.tmp" '^ *# id = .*' "  id = \"quickstart-worker$n\";"
        sub "$e/worker$n.conf.tmp" '^( *slots = )[0-9]+;' '\11;'
        config_domain "$e/worker$n.conf.tmp"
        if [ "$TCG" = 1 ]; then
            sub "$e/worker$n.conf.tmp" '^( *backend_settings = )\[ *\];' '\1[ "force_tcg" ];   # no working KVM here (quickstart probe)'
        fi
    done
    config_common vmsealctl.conf "$e/vmsealctl.conf" operator
    config_domain "$e/vmsealctl.conf.tmp"
    local f
    for f in "$e"/*.conf.tmp; do
        chmod 0640 "$f"
        mv "$f" "${f%.tmp}"
    done
    note "$e/{producer,worker1,worker2,vmsealctl}.conf (two workers, one slot each)"
}

# ------------------------------------------------------------------ 5 domain + demo disk
# The demo guest: a small Fedora-like tree with what sealing must remove.
demo_tree() {
    local t=$1
    rm -rf "$t"
    mkdir -p "$t"/{bin,sbin,usr/bin,usr/sbin,lib,dev,proc,sys,run,tmp,var/tmp,var/log,root,home/demo}
    chmod 1777 "$t/tmp" "$t/var/tmp"
    chmod 0700 "$t/root"
    wr() { mkdir -p "$(dirname "$t$1")"; printf '%s\n' "$2" > "$t$1"; chmod "${3:-0644}" "$t$1"; }
    wr /bin/sh '#!/bin/true' 0755
    wr /usr/bin/hello '#!/bin/sh
echo hello' 0755
    wr /etc/os-release 'NAME="Fedora Linux"
ID=fedora
VERSION_ID=38
PRETTY_NAME="Fedora Linux 38 (vmseal demo)"'
    wr /etc/fedora-release 'Fedora release 38 (Thirty Eight)'
    wr /etc/redhat-release 'Fedora release 38 (Thirty Eight)'
    wr /etc/fstab 'LABEL=demoroot / ext4 defaults 1 1'
    wr /etc/passwd 'root:x:0:0:root:/root:/bin/bash
demo:x:1000:1000:Demo:/home/demo:/bin/bash'
    wr /etc/group 'root:x:0:
demo:x:1000:'
    wr /etc/hostname 'demo-vm1.example.com'
    wr /etc/machine-id '8f3c2a1b9d7e4f6a0b5c3d2e1f0a9b8c' 0444
    local k
    for k in rsa ecdsa ed25519; do
        wr "/etc/ssh/ssh_host_${k}_key" "-----BEGIN OPENSSH PRIVATE KEY----- (demo $k host key)" 0600
        wr "/etc/ssh/ssh_host_${k}_key.pub" "ssh-$k AAAAC3demo root@demo-vm1"
    done
    wr /etc/ssh/sshd_config 'PermitRootLogin no'
    wr /etc/sysconfig/network-scripts/ifcfg-eth0 'DEVICE=eth0
BOOTPROTO=dhcp
ONBOOT=yes
HWADDR=52:54:00:de:40:01
HOSTNAME=demo-vm1'
    wr /etc/NetworkManager/system-connections/eth0.nmconnection '[connection]
id=eth0
type=ethernet

[ethernet]
mac-address=52:54:00:DE:40:01

[ipv4]
method=auto' 0600
    wr /etc/udev/rules.d/70-persistent-net.rules 'SUBSYSTEM=="net", ATTR{address}=="52:54:00:de:40:01", NAME="eth0"'
    wr /var/log/messages 'Nov 27 06:00:01 demo-vm1 systemd[1]: Started demo.'
    wr /var/log/secure 'Nov 27 06:00:02 demo-vm1 sshd[42]: Accepted publickey for demo'
    wr /var/log/dnf.log '2026-11-27T06:00:03Z INFO installed demo-app'
    wr /var/lib/dhclient/dhclient-eth0.leases 'lease { fixed-address 192.0.2.10; }'
    wr /root/.bash_history 'cat /etc/shadow' 0600
    wr /root/.ssh/authorized_keys 'ssh-ed25519 AAAAC3demo admin@laptop' 0600
    chmod 0700 "$t/root/.ssh"
    wr /home/demo/.bash_history 'ssh db.internal -i ~/.ssh/id_ed25519' 0600
    wr /home/demo/notes.txt 'The application data of the demo VM (sealing keeps it).'
    chown -R 1000:1000 "$t/home/demo"
}

demo_disk() {
    SD_PATH=$STATE/sd
    if [ -f "$STATE/sd.id" ] && [ -d "$SD_PATH/dom_md" ]; then
        SD_ID=$(cat "$STATE/sd.id")
        note "storage domain $SD_ID at $SD_PATH (reused)"
    else
        rm -rf "$SD_PATH"
        SD_ID=$(cat /proc/sys/kernel/random/uuid)
        "$BIN/vmsealctl" sd create --id "$SD_ID" "$SD_PATH" | sed 's/^/    /'
        echo "$SD_ID" > "$STATE/sd.id"
        rm -f "$STATE/demo.ids"
    fi
    # The source volume of a previous run, if it is still there.
    if [ -f "$STATE/demo.ids" ]; then
        read -r SRC_IMG SRC_VOL < "$STATE/demo.ids"
        if [ -f "$SD_PATH/images/$SRC_IMG/$SRC_VOL.meta" ]; then
            note "demo VM disk: image $SRC_IMG volume $SRC_VOL (reused)"
            return 0
        fi
    fi
    local d=$STATE/demo
    mkdir -p "$d"
    note "building the demo VM disk (one libguestfs appliance launch)"
    demo_tree "$d/tree"
    rm -f "$d/demo.qcow2"
    virt-make-fs --format=qcow2 --type=ext4 --label=demoroot --size=+32M "$d/tree" "$d/demo.qcow2" \
        > "$STATE/log/demo-disk.log" 2>&1 ||
        { tail -n 20 "$STATE/log/demo-disk.log" >&2; die "virt-make-fs failed (see $STATE/log/demo-disk.log)"; }
    local out
    out=$("$BIN/vmsealctl" sd import --sd "$SD_PATH" "$d/demo.qcow2") || die "vmsealctl sd import failed"
    SRC_IMG=$(sed -n 's/.*img_id=\([0-9a-f-]*\).*/\1/p' <<< "$out")
    SRC_VOL=$(sed -n 's/.*vol_id=\([0-9a-f-]*\).*/\1/p' <<< "$out")
    [ -n "$SRC_IMG" ] && [ -n "$SRC_VOL" ] || die "unexpected output of vmsealctl sd import: $out"
    echo "$SRC_IMG $SRC_VOL" > "$STATE/demo.ids"
    note "imported: $out"
}

# ------------------------------------------------------------------ 7 daemons
daemon_start() { # name binary args...
    local name=$1 bin=$2 pid
    shift 2
    setsid "$bin" "$@" >> "$STATE/log/$name.log" 2>&1 < /dev/null &
    pid=$!
    echo "$pid $bin" > "$STATE/run/$name.pid"
}

start_daemons() {
    local n
    for n in producer worker1 worker2; do
        echo "---- quickstart run $(date -u +%FT%TZ)" >> "$STATE/log/$n.log"
    done
    daemon_start producer "$BIN/vmseal-producer" --config "$STATE/etc/producer.conf" --id quickstart-producer
    daemon_start worker1 "$BIN/vmseal-worker" --config "$STATE/etc/worker1.conf" --grace-s 10 run
    daemon_start worker2 "$BIN/vmseal-worker" --config "$STATE/etc/worker2.conf" --grace-s 10 run
    # Readiness: the lines each daemon logs once it serves.
    local mark
    mark=$(grep -c '^---- quickstart run' "$STATE/log/producer.log")
    wait_log_run producer "active: database" 60 "$mark"
    for n in worker1 worker2; do
        mark=$(grep -c '^---- quickstart run' "$STATE/log/$n.log")
        wait_log_run "$n" "worker quickstart-$n ready" 60 "$mark"
    done
    note "producer and two workers running; logs: $STATE/log/{producer,worker1,worker2}.log"
}

# wait_log over this run's part of the log only (after the mark-th run line).
wait_log_run() { # name pattern timeout_s mark
    local name=$1 pat=$2 deadline=$((SECONDS + $3)) mark=$4 pid bin
    read -r pid bin < "$STATE/run/$name.pid"
    until awk -v m="$mark" -v p="$pat" '/^---- quickstart run/ { n++ } n >= m && index($0, p) { f = 1 } END { exit !f }' \
            "$STATE/log/$name.log"; do
        if ! pid_is_ours "$pid" "$bin"; then
            tail -n 20 "$STATE/log/$name.log" >&2
            [ "$name" = producer ] && echo "quickstart: (a store left by another vmseal version? stop, then remove $STATE/producer.db)" >&2
            die "$name exited (see $STATE/log/$name.log)"
        fi
        [ $SECONDS -lt $deadline ] || die "$name not ready after $3 s (see $STATE/log/$name.log)"
        sleep 0.2
    done
}

# ------------------------------------------------------------------ 8 seal + report
ctl() { VMSEAL_CONFIG=$STATE/etc/vmsealctl.conf "$BIN/vmsealctl" "$@"; }

volumes_of() { # list "img vol" of the domain
    "$BIN/vmsealctl" sd list "$SD_PATH" | awk 'NR > 2 && NF >= 2 { print $1, $2 }' | sort
}

submit_template() {
    local before name out rc
    before=$(volumes_of)
    TEMPLATE_ID=$(cat /proc/sys/kernel/random/uuid)
    name="demo-template-$(date -u +%H%M%S)"
    note "vmsealctl submit --seal --wait --id $TEMPLATE_ID --name $name --disk $SD_ID:$SRC_IMG:$SRC_VOL"
    set +e
    ctl submit --seal --wait --id "$TEMPLATE_ID" --name "$name" --disk "$SD_ID:$SRC_IMG:$SRC_VOL" 2>&1 |
        tee "$STATE/log/submit.log"
    rc=${PIPESTATUS[0]}
    set -e
    [ "$rc" = 0 ] || die "the template did not become READY (exit $rc; logs in $STATE/log)"
    out=$(comm -13 <(echo "$before") <(volumes_of))
    [ "$(wc -l <<< "$out")" = 1 ] && [ -n "$out" ] ||
        die "expected one new volume in $SD_PATH, found: ${out:-none}"
    read -r TPL_IMG TPL_VOL <<< "$out"
    echo "READY $TEMPLATE_ID $TPL_IMG $TPL_VOL" > "$STATE/last-template"
}

# The artifacts compared: label | guest path | grep -E filter ("" = whole file).
ARTIFACTS=(
    "SSH host key (ed25519)|/etc/ssh/ssh_host_ed25519_key|"
    "SSH host key (rsa)|/etc/ssh/ssh_host_rsa_key|"
    "machine id|/etc/machine-id|"
    "hostname|/etc/hostname|"
    "MAC binding (ifcfg HWADDR)|/etc/sysconfig/network-scripts/ifcfg-eth0|^HWADDR="
    "MAC binding (NetworkManager)|/etc/NetworkManager/system-connections/eth0.nmconnection|mac-address="
    "MAC binding (udev rule)|/etc/udev/rules.d/70-persistent-net.rules|"
    "DHCP lease|/var/lib/dhclient/dhclient-eth0.leases|"
    "log file|/var/log/messages|"
    "log file|/var/log/secure|"
    "log file|/var/log/dnf.log|"
    "shell history (root)|/root/.bash_history|"
    "shell history (demo)|/home/demo/.bash_history|"
    "user SSH dir (root)|/root/.ssh/authorized_keys|"
)
KEEP="application data|/home/demo/notes.txt|"

vol_format() { # img vol -> qcow2|raw
    grep -q '^FORMAT=COW$' "$SD_PATH/images/$1/$2.meta" && echo qcow2 || echo raw
}

# One appliance, both volumes read-only; for every path: exists? and content.
read_artifacts() {
    local out=$1 a path dev script=""
    for dev in sda sdb; do
        script+="mount-ro /dev/$dev /"$'\n'
        for a in "${ARTIFACTS[@]}" "$KEEP"; do
            IFS='|' read -r _ path _ <<< "$a"
            script+="echo @@QS $dev $path"$'\n'"is-file $path"$'\n'"-cat $path"$'\n'
        done
        script+="umount /"$'\n'
    done
    guestfish --ro \
        --format="$(vol_format "$SRC_IMG" "$SRC_VOL")" -a "$SD_PATH/images/$SRC_IMG/$SRC_VOL" \
        --format="$(vol_format "$TPL_IMG" "$TPL_VOL")" -a "$SD_PATH/images/$TPL_IMG/$TPL_VOL" \
        <<< "run"$'\n'"$script" > "$out" 2> "$STATE/log/guestfish.log" ||
        { cat "$STATE/log/guestfish.log" >&2; die "guestfish could not read the volumes"; }
}

# What one side shows for one artifact: "-" when absent, else the value.
artifact_value() { # file dev path filter
    # A file without a final newline runs into the next marker: split there.
    awk -v d="$2" -v p="$3" '
        {
            i = index($0, "@@QS ")
            if (i > 1) { if (on) printf "%s", substr($0, 1, i - 1); $0 = substr($0, i) }
            if (i) { split($0, m, " "); on = (m[2] == d && m[3] == p); first = 1; next }
        }
        on && first { first = 0; if ($0 != "true") { print "\001ABSENT"; exit }; next }
        on { print }' "$1" | {
        local v
        v=$(cat)
        if [ "$v" = $'\001ABSENT' ]; then echo "-"; return; fi
        [ -n "$4" ] && { v=$(grep -E "$4" <<< "$v" || true); [ -n "$v" ] || { echo "(no such line)"; return; }; }
        v=$(head -n 1 <<< "$v")
        [ -n "$v" ] || v="(empty)"
        echo "${v:0:37}"
    }
}

show_report() {
    local f=$STATE/report.txt a label path filter before after status n=0 changed=0
    read_artifacts "$STATE/artifacts.raw"
    {
        printf '    %-28s %-38s %-38s %s\n' ARTIFACT "SOURCE VOLUME (the VM)" "TEMPLATE VOLUME (sealed)" RESULT
        for a in "${ARTIFACTS[@]}"; do
            IFS='|' read -r label path filter <<< "$a"
            before=$(artifact_value "$STATE/artifacts.raw" sda "$path" "$filter")
            after=$(artifact_value "$STATE/artifacts.raw" sdb "$path" "$filter")
            n=$((n + 1))
            if [ "$before" = "$after" ]; then
                status=UNCHANGED
            elif [ "$after" = "-" ]; then
                status=removed; changed=$((changed + 1))
            elif [ "$after" = "(no such line)" ]; then
                status="line removed"; changed=$((changed + 1))
            elif [ "$after" = "(empty)" ]; then
                status=emptied; changed=$((changed + 1))
            else
                status=reset; changed=$((changed + 1))
            fi
            printf '    %-28s %-38s %-38s %s\n' "$label" "$before" "$after" "$status"
        done
        IFS='|' read -r label path filter <<< "$KEEP"
        before=$(artifact_value "$STATE/artifacts.raw" sda "$path" "")
        after=$(artifact_value "$STATE/artifacts.raw" sdb "$path" "")
        [ "$before" = "$after" ] && status="kept" || status="CHANGED (should stay)"
        printf '    %-28s %-38s %-38s %s\n' "$label" "$before" "$after" "$status"
        echo
        echo "quickstart: sealing removed or reset $changed of $n artifacts; $label $status"
    } > "$f"
    cat "$f"
    [ "$changed" = "$n" ] && [ "$status" = kept ] || die "sealing left artifacts in the template (see above)"
}

# ------------------------------------------------------------------ main
cmd_start() {
    [ "$(id -u)" = 0 ] || die "run as root (it installs packages and starts a RabbitMQ node)"
    mkdir -p "$STATE"
    STATE=$(cd "$STATE" && pwd)
    # The broker runs as the rabbitmq user and must reach STATE/broker.
    chmod 0755 "$STATE"
    mkdir -p "$STATE/log" "$STATE/run" "$STATE/secrets"
    chmod 0700 "$STATE/secrets"
    trap on_exit EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM

    say "1/8 packages"
    if [ "$NO_INSTALL" = 1 ]; then note "skipped (--no-install)"; else install_packages; fi
    say "2/8 build"
    build
    say "3/8 KVM"
    probe_kvm
    say "4/8 broker"
    STARTED=1
    stop_all   # a previous run's services: restart cleanly
    start_broker
    say "5/8 storage domain and demo VM disk"
    demo_disk
    say "6/8 configuration"
    write_configs
    say "7/8 producer and two workers"
    start_daemons
    say "8/8 a sealed template from the demo VM's disk"
    submit_template
    echo
    say "what sealing removed (read-only from the source volume and the template volume)"
    show_report
    echo
    say "the template"
    ctl status "$TEMPLATE_ID" || true
    echo
    "$BIN/vmsealctl" sd list "$SD_PATH"
    echo
    FINISHED=1
    STOP_ENV=
    [ "$STATE" = /var/tmp/vmseal-quickstart ] || STOP_ENV="VMSEAL_QUICKSTART_DIR=$STATE "
    say "done in $((SECONDS - T0)) s; the broker, the producer and two workers keep running"
    cat <<EOF
    try:   export VMSEAL_CONFIG=$STATE/etc/vmsealctl.conf
           $BIN/vmsealctl workers            live workers
           $BIN/vmsealctl list               templates
           $BIN/vmsealctl watch              live events (Ctrl-C ends)
           $BIN/vmsealctl sd list $SD_PATH
    logs:  $STATE/log/
    stop:  ${STOP_ENV}$ROOT/deploy/quickstart.sh stop
EOF
}

cmd_stop() {
    [ "$(id -u)" = 0 ] || die "run as root"
    [ -d "$STATE" ] || { note "nothing to stop ($STATE does not exist)"; return 0; }
    STATE=$(cd "$STATE" && pwd)
    stop_all
    note "stopped the producer, the workers and the broker (data stay in $STATE; rm -rf it to start over)"
}

main() {
    CMD=start NO_INSTALL=0 MGMT_PORT=
    while [ $# -gt 0 ]; do
        case $1 in
            start|stop) CMD=$1 ;;
            --no-install) NO_INSTALL=1 ;;
            --management) MGMT_PORT=${2:?--management needs a port}; shift ;;
            -h|--help) sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
            *) die "unknown argument '$1' (see --help)" ;;
        esac
        shift
    done
    case $CMD in
        start) cmd_start ;;
        stop) cmd_stop ;;
    esac
}

# One line: bash has read it all before running it (an edit of this file
# while it runs cannot change what it does).
main "$@"; exit
