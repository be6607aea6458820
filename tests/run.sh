#!/bin/bash
# tests/run.sh - build vmseal and run the whole test suite (the README's test
# command; .ci/run calls it).  Run as root on Debian 12:
#
#   tests/run.sh                 every test (labels unit, broker, guestfs, e2e)
#   tests/run.sh -L unit         extra arguments go to the main ctest run
#   tests/run.sh -R proto -V
#
# Phases (each timed):
#   1. packages  install what is missing (dpkg-query first: a warm machine
#                never calls apt-get)
#   2. format    every tracked C file as .clang-format has it
#                (clang-format --dry-run -Werror)
#   3. build     fresh build/ with -DVMSEAL_WERROR=ON
#   4. broker    a private RabbitMQ node on free loopback ports in a temporary
#                folder (deploy/rabbitmq/node.sh), stopped on exit even when
#                tests fail; its env (VMSEAL_TEST_BROKER_*) is exported
#      postgres  a private PostgreSQL cluster in a temporary folder, Unix
#                socket only (deploy/postgresql/node.sh), shared by the `pg`
#                tests and stopped on exit; its env (VMSEAL_TEST_PG_*) is
#                exported
#   5. ctest     ctest --output-on-failure [your arguments]; zero tests = failure
#   6. asan      fresh build-asan/ with -DVMSEAL_SANITIZE=ON, ctest -L unit
#   7. fuzz      clang build-fuzz/ (-DVMSEAL_FUZZ=ON), 20 s per fuzz target (10 s
#                for the seal engine's line parsers)
#                (tests/fuzz/run_fuzz.sh); VMSEAL_FUZZ=0 skips it
#
# Environment:
#   VMSEAL_FORCE_TCG=1  always run libguestfs appliances in software emulation
#                       (LIBGUESTFS_BACKEND=direct, LIBGUESTFS_BACKEND_SETTINGS=
#                       force_tcg); =0 never; unset: probe KVM with a short
#                       `qemu-system-x86_64 -accel kvm -cpu host` run and fall
#                       back to TCG when it fails (e.g. nested KVM that aborts
#                       with "failed to set MSR").
#   VMSEAL_ASAN=0       skip phase 5.
#   VMSEAL_KEEP_BROKER=1  keep the broker and PostgreSQL folders (logs) after
#                       the run; they are always kept when something failed.
# Exit status: 0 only when every phase passed.
set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=$ROOT/build
BUILD_ASAN=$ROOT/build-asan
NODE_SH=$ROOT/deploy/rabbitmq/node.sh
PG_SH=$ROOT/deploy/postgresql/node.sh
JOBS=$(nproc 2>/dev/null || echo 2)

PACKAGES="build-essential cmake pkg-config librabbitmq-dev libmsgpack-dev libguestfs-dev
guestfs-tools libconfig-dev libcmocka-dev libsqlite3-dev uuid-dev qemu-utils qemu-system-x86
rabbitmq-server postgresql-15 libpq-dev openssl iproute2 util-linux systemd guestfish debootstrap
python3 python3-pika python3-msgpack python3-yaml libguestfs-xfs btrfs-progs
libjansson-dev libmicrohttpd-dev libsystemd-dev scdoc man-db
clang clang-format libclang-rt-14-dev xz-utils"   # clang: the fuzz phase; systemd: systemd-analyze (unit check);
                                    # python3-*: clients/python and the protocol document tests;
                                    # xfs, btrfs: the seal layout guests; scdoc, man-db: the man pages

T0=$SECONDS
TIMINGS=()
FAILED=()
BROKER_DIR=
PG_DIR=

log() { echo "==> run.sh: $*"; }

# phase NAME COMMAND...: run, time and record one phase.
phase() {
    local name=$1 start=$SECONDS rc
    shift
    log "phase $name"
    "$@"
    rc=$?
    TIMINGS+=("$name $((SECONDS - start))s")
    if [ $rc -ne 0 ]; then
        FAILED+=("$name")
        log "phase $name FAILED (exit $rc) after $((SECONDS - start))s"
    else
        log "phase $name ok in $((SECONDS - start))s"
    fi
    return $rc
}

summary() {
    local status=PASS
    [ ${#FAILED[@]} -eq 0 ] || status="FAIL (${FAILED[*]})"
    local IFS=,
    echo "==> run.sh: $status; ${TIMINGS[*]}; total $((SECONDS - T0))s"
}

# stop_server SCRIPT DIR WHAT: stop a private server, remove its folder
# unless something failed (or VMSEAL_KEEP_BROKER=1).
stop_server() {
    [ -n "$2" ] || return 0
    "$1" stop "$2" >/dev/null 2>&1 || true
    if [ ${#FAILED[@]} -eq 0 ] && [ "${VMSEAL_KEEP_BROKER:-0}" != 1 ]; then
        rm -rf "$2"
    else
        log "$3 folder kept: $2 (logs in $2/log)"
    fi
}

cleanup() {
    trap - EXIT INT TERM
    stop_server "$NODE_SH" "$BROKER_DIR" broker
    stop_server "$PG_SH" "$PG_DIR" PostgreSQL
}

on_signal() {
    FAILED+=("interrupted")
    cleanup
    summary
    exit 130
}

install_packages() {
    local missing=() p
    for p in $PACKAGES; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
    done
    # libguestfs builds its appliance from the host kernel.
    ls /boot/vmlinuz-* >/dev/null 2>&1 || missing+=(linux-image-amd64)
    [ ${#missing[@]} -eq 0 ] && { log "all packages present"; return 0; }
    if [ "$(id -u)" != 0 ]; then
        echo "run.sh: missing packages (run as root to install): ${missing[*]}" >&2
        return 1
    fi
    log "installing: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q && apt-get install -y -q --no-install-recommends "${missing[@]}"
}

# Decide how libguestfs runs its appliance (see the header).
setup_guestfs_accel() {
    local force=${VMSEAL_FORCE_TCG:-}
    if [ -z "$force" ]; then
        if echo quit | timeout 10 qemu-system-x86_64 -accel kvm -cpu host -m 64 -nodefaults \
                -display none -S -monitor stdio >/dev/null 2>&1; then
            force=0
        else
            force=1
            log "KVM does not work here: libguestfs uses software emulation (TCG)"
        fi
    fi
    if [ "$force" = 1 ]; then
        export LIBGUESTFS_BACKEND=direct LIBGUESTFS_BACKEND_SETTINGS=force_tcg
    fi
}

configure_build() { # DIR cmake-options...
    local dir=$1
    shift
    rm -rf "$dir"
    cmake -S "$ROOT" -B "$dir" -DVMSEAL_WERROR=ON "$@" && cmake --build "$dir" -j"$JOBS"
}

# The sanitizer tree builds only what the unit tests run: their own
# executables (named after the test) and the programs they start.
asan_build() {
    local dir=$BUILD_ASAN targets= all t
    rm -rf "$dir"
    cmake -S "$ROOT" -B "$dir" -DVMSEAL_WERROR=ON -DVMSEAL_SANITIZE=ON >/dev/null || return 1
    all=$(cmake --build "$dir" --target help | sed -n 's/^\.\.\. \([^ ]*\).*/\1/p')
    for t in $(cd "$dir" && ctest -N -L unit | sed -n 's/^ *Test *#[0-9]*: //p'); do
        grep -qx "$t" <<<"$all" && targets+=" $t"
    done
    [ -n "$targets" ] || { echo "run.sh: no unit test executables found" >&2; return 1; }
    # proto_roundtrip: the C codecs for the Python unit tests (python_client, docs_asyncapi)
    cmake --build "$dir" -j"$JOBS" --target $targets proto_roundtrip vmsealctl vmseal-worker vmseal-producer
}

# start_server SCRIPT DIRVAR TEMPLATE: a private server (node.sh start) in a
# new folder whose path goes to DIRVAR; its env is exported and printed.
# The postgres and rabbitmq users must reach the folder: /tmp, not a
# private parent.
start_server() {
    local -n dir=$2
    local out
    dir=$(mktemp -d "$3") || return 1
    out=$("$1" start "$dir") || return 1
    eval "$out"
    echo "$out"
}
start_broker() { start_server "$NODE_SH" BROKER_DIR /tmp/vmseal-broker.XXXXXX; }
start_postgres() { start_server "$PG_SH" PG_DIR /tmp/vmseal-pg.XXXXXX; }

run_ctest() { # DIR ctest-args...
    local dir=$1
    shift
    (cd "$dir" && ctest --output-on-failure --no-tests=error "$@")
}

# --- fuzz (owner: security; tests/fuzz/README.md) ---------------------------
# A clang build in build-fuzz/ (-DVMSEAL_FUZZ=ON: libFuzzer + ASan + UBSan)
# and a short run of every fuzz target (VMSEAL_FUZZ_SECONDS each, default 20);
# any crash, leak or sanitizer report fails the phase.  VMSEAL_FUZZ=0 skips.
FUZZ_TARGETS="fuzz_proto_decode fuzz_rpc_decode fuzz_control_decode fuzz_sd_meta fuzz_config_load fuzz_seal_fstab fuzz_qemu_img_info
    fuzz_seal_os_release fuzz_seal_ifcfg fuzz_seal_interfaces fuzz_seal_nmconn fuzz_seal_selinux fuzz_seal_lines"
fuzz_build() {
    command -v clang >/dev/null || { echo "run.sh: clang is needed for the fuzz phase (apt-get install clang libclang-rt-14-dev)" >&2; return 1; }
    rm -rf "$ROOT/build-fuzz"
    CC=clang cmake -S "$ROOT" -B "$ROOT/build-fuzz" -DVMSEAL_FUZZ=ON >/dev/null &&
        cmake --build "$ROOT/build-fuzz" -j"$JOBS" --target $FUZZ_TARGETS
}
fuzz_run() { "$ROOT/tests/fuzz/run_fuzz.sh" "$ROOT/build-fuzz" "${VMSEAL_FUZZ_SECONDS:-20}"; }
# --- end fuzz ---------------------------------------------------------------

format_check() {
    (cd "$ROOT" && git ls-files '*.c' '*.h' | xargs clang-format --dry-run -Werror)
}

main() {
    trap cleanup EXIT
    trap on_signal INT TERM
    phase packages install_packages || { summary; return 1; }
    setup_guestfs_accel
    phase format format_check
    phase build configure_build "$BUILD" || { summary; return 1; }
    phase broker start_broker || { summary; return 1; }
    phase postgres start_postgres || { summary; return 1; }
    phase ctest run_ctest "$BUILD" "$@"
    if [ "${VMSEAL_ASAN:-1}" != 0 ]; then
        phase asan-build asan_build &&
            phase asan-ctest run_ctest "$BUILD_ASAN" -L unit
    fi
    if [ "${VMSEAL_FUZZ:-1}" != 0 ]; then    # fuzz (owner: security)
        phase fuzz-build fuzz_build && phase fuzz fuzz_run
    fi
    cleanup
    summary
    [ ${#FAILED[@]} -eq 0 ]
}

main "$@"
