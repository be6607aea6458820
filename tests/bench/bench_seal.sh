#!/bin/bash
# bench_seal.sh - `vmseal-worker seal` against `virt-sysprep` (not in ctest).
#
# usage: tests/bench/bench_seal.sh [-n RUNS] [-g GUEST]... [-b BUILD_DIR] [--big] [--launch]
#   -n RUNS    runs of each tool (default 3), alternated (A B C, C B A, …)
#   -g GUEST   a guest (repeatable; default all of: debian twodisk lvm btrfs
#              usrvar btrfs-fedora btrfs-default); a guest is one image of
#              tests/guests/build.sh, or twodisk (twodisk-root +
#              twodisk-home) and usrvar (usrvar-sys + usrvar-var), sealed
#              together as one guest
#   -b DIR     build folder holding bin/vmseal-worker (default ./build)
#   --big      also a real Debian tree: debootstrap --variant=minbase bookworm
#              (needs the Debian mirror; cached in DIR/guests-big)
#   --launch   instead: where the launch's time goes.  vmseal on the first
#              guest with one appliance setting changed at a time (the kernel
#              booted compressed as libguestfs does, memory 384 / 1280 MB,
#              2 vCPUs, qemu's default TCG cache), RUNS runs each, rotated:
#              median launch_ms, wall and tree peak RSS of each
#
# Every tool runs on fresh qcow2 overlays of the same pristine images, with
# the same environment (LIBGUESTFS_BACKEND / LIBGUESTFS_BACKEND_SETTINGS as
# given; each tool keeps its own appliance memory default: virt-sysprep
# 1280 MB, vmseal SEAL_DEFAULT_MEMSIZE_MB).  Three tools per run:
#   vmseal        `vmseal-worker seal IMAGE…` (a cold launch, like a worker
#                 without worker.guestfs.warm);
#   virt-sysprep  `virt-sysprep --format qcow2 -a IMAGE…`;
#   warm          `vmseal-worker seal --warm IMAGE…`: the appliance is launched
#                 first, then the images are hot-plugged into it, as a worker
#                 with worker.guestfs.warm does while idle.  Its "seal" figure
#                 is seal_run's own total_ms (hot-plug to shutdown): what a job
#                 costs from delivery, the launch having happened before it.
#
# Measured per run:
#   wall   elapsed time of the whole command;
#   maxrss GNU time's %M: ru_maxrss of the waited-for tree, i.e. the RSS of
#          the largest single process in it.  The qemu appliance is a child
#          of the tool's process and is reaped by libguestfs, so this is in
#          practice qemu's peak RSS;
#   tree   peak of the SUM of VmRSS over the tool and all its descendants,
#          sampled every 0.2 s from /proc (adds the tool itself and
#          libguestfs' helper processes).  The memory target is judged on it.
# vmseal's per-phase times come from its `seal_phases` line.
# Targets per guest (complete seals only: a run that fails stops the bench):
# vmseal wall <= 0.5x and tree peak RSS <= 0.5x virt-sysprep's; on the
# single-disk guest (debian), the warm seal <= 0.25x virt-sysprep's wall
# (elsewhere its ratio is printed without a verdict).
set -euo pipefail

RUNS=3 GUESTS="" BUILD=${VMSEAL_BUILD_DIR:-$PWD/build} BIG=0 LAUNCH=0
while [ $# -gt 0 ]; do
    case $1 in
        -n) RUNS=$2; shift 2 ;;
        -g) GUESTS+=" $2"; shift 2 ;;
        -b) BUILD=$2; shift 2 ;;
        --big) BIG=1; shift ;;
        --launch) LAUNCH=1; shift ;;
        *) echo "usage: $0 [-n RUNS] [-g GUEST]... [-b BUILD_DIR] [--big] [--launch]" >&2; exit 2 ;;
    esac
done
GUESTS=${GUESTS:-debian twodisk lvm btrfs usrvar btrfs-fedora btrfs-default}
SRC=$(cd "$(dirname "$0")/../.." && pwd)
WORKER=$BUILD/bin/vmseal-worker
[ -x "$WORKER" ] || { echo "no $WORKER: build vmseal-worker first (or -b BUILD_DIR)" >&2; exit 1; }
export LIBGUESTFS_BACKEND=${LIBGUESTFS_BACKEND:-direct}
TMP=$(mktemp -d "${TMPDIR:-/tmp}/bench-seal.XXXXXX")
trap 'rm -rf "$TMP"' EXIT

"$SRC/tests/guests/build.sh" "$BUILD/guests" >/dev/null

# big_guest - a real Debian minbase tree with a few planted artifacts, cached.
big_guest() {
    local out=$BUILD/guests-big/debian-minbase.qcow2
    if [ ! -s "$out" ]; then
        mkdir -p "$BUILD/guests-big"
        local tree=$TMP/minbase
        echo "building $out (debootstrap, once)" >&2
        debootstrap --variant=minbase bookworm "$tree" >"$TMP/debootstrap.log" 2>&1 ||
            { echo "debootstrap failed:" >&2; tail -5 "$TMP/debootstrap.log" >&2; return 1; }
        echo '/dev/sda / ext4 defaults 0 1' > "$tree/etc/fstab"
        echo 0123456789abcdef0123456789abcdef > "$tree/etc/machine-id"
        echo 'ls' > "$tree/root/.bash_history"
        mkdir -p "$tree/root/.ssh" && echo key > "$tree/root/.ssh/authorized_keys"
        cp -a "$tree/var/cache/apt/"*.bin "$tree/var/cache/apt/archives/" 2>/dev/null || true
        virt-make-fs --format=qcow2 --type=ext4 --size=+256M "$tree" "$out.tmp"
        mv "$out.tmp" "$out"
        rm -rf "$tree"
    fi
    echo "$out"
}

# tree_rss_sampler PID OUTFILE - peak summed VmRSS (KB) of PID and descendants.
tree_rss_sampler() {
    local root=$1 out=$2 peak=0
    while kill -0 "$root" 2>/dev/null; do
        local pids="$root" frontier="$root" next p sum=0 kb
        while [ -n "$frontier" ]; do
            next=""
            for p in $frontier; do
                next+=" $(cat /proc/"$p"/task/*/children 2>/dev/null || true)"
            done
            frontier=$(echo $next)
            pids+=" $frontier"
        done
        for p in $pids; do
            kb=$(awk '/^VmRSS:/ { print $2 }' /proc/"$p"/status 2>/dev/null || true)
            sum=$((sum + ${kb:-0}))
        done
        [ "$sum" -gt "$peak" ] && peak=$sum
        sleep 0.2
    done
    echo "$peak" > "$out"
}

# measure NAME FLAG CMD… - one run on fresh overlays of $IMAGES, each
# passed as "FLAG overlay" (FLAG "" = positional); appends
# "wall_s maxrss_kb tree_kb" to $TMP/NAME.
measure() {
    local name=$1 flag=$2 img i=0 args=()
    shift 2
    for img in $IMAGES; do
        local ov=$TMP/run$i.qcow2
        rm -f "$ov"
        qemu-img create -q -f qcow2 -b "$img" -F qcow2 "$ov"
        [ -n "$flag" ] && args+=("$flag")
        args+=("$ov")
        i=$((i + 1))
    done
    /usr/bin/time -f '%e %M' -o "$TMP/time.out" "$@" "${args[@]}" >"$TMP/$name.last" 2>&1 &
    local pid=$!
    tree_rss_sampler "$pid" "$TMP/tree.out" &
    local spid=$!
    if ! wait "$pid"; then
        echo "$name failed:" >&2; tail -5 "$TMP/$name.last" >&2; exit 1
    fi
    wait "$spid"
    echo "$(cat "$TMP/time.out") $(cat "$TMP/tree.out")" >> "$TMP/$name"
    if grep -q '^seal_phases' "$TMP/$name.last"; then
        grep '^seal_phases' "$TMP/$name.last" >> "$TMP/$name.phases"
        grep -q 'warm=1' "$TMP/$name.last" || [ "$name" != warm ] ||
            { echo "warm: the seal did not run in the warm appliance:" >&2; cat "$TMP/$name.last" >&2; exit 1; }
    fi
    printf '  %-12s wall %6.1f s  maxrss %5.0f MB  tree %5.0f MB\n' "$name" \
        $(awk '{ print $1, $2 / 1024, $3 / 1024 }' <<< "$(tail -1 "$TMP/$name")")
}

# median FILE COLUMN
median() {
    awk -v c="$2" '{ print $c }' "$1" | sort -g | awk '{ v[NR] = $1 } END {
        if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

# phase_median NAME KEY - median of KEY=… over NAME's seal_phases lines (ms)
phase_median() {
    sed -n "s/.* $2=\([0-9]*\).*/\1/p" "$TMP/$1.phases" > "$TMP/ph"
    median "$TMP/ph" 1
}

run_vmseal() { measure vmseal "" "$WORKER" seal; }
run_sysprep() { measure virt-sysprep -a virt-sysprep -q --format qcow2; }
run_warm() { measure warm "" "$WORKER" seal --warm; }

bench_guest() {
    local label=$1 i
    IMAGES=$2
    rm -f "$TMP"/vmseal* "$TMP"/virt-sysprep* "$TMP"/warm*
    echo "== $label: $IMAGES, $RUNS runs each, LIBGUESTFS_BACKEND=$LIBGUESTFS_BACKEND" \
         "LIBGUESTFS_BACKEND_SETTINGS=${LIBGUESTFS_BACKEND_SETTINGS:-}"
    for ((i = 1; i <= RUNS; i++)); do
        if ((i % 2)); then
            run_vmseal; run_sysprep; run_warm
        else
            run_warm; run_sysprep; run_vmseal
        fi
    done
    local vw vm vt sw sm st ww
    vw=$(median "$TMP/vmseal" 1); vm=$(median "$TMP/vmseal" 2); vt=$(median "$TMP/vmseal" 3)
    sw=$(median "$TMP/virt-sysprep" 1); sm=$(median "$TMP/virt-sysprep" 2); st=$(median "$TMP/virt-sysprep" 3)
    ww=$(phase_median warm total_ms)
    echo "  medians:"
    awk -v vw="$vw" -v vm="$vm" -v vt="$vt" -v sw="$sw" -v sm="$sm" -v st="$st" -v ww="$ww" 'BEGIN {
        printf "    %-12s wall %6.1f s  maxrss %5d MB  tree %5d MB\n", "vmseal", vw, vm / 1024, vt / 1024
        printf "    %-12s wall %6.1f s  maxrss %5d MB  tree %5d MB\n", "virt-sysprep", sw, sm / 1024, st / 1024
        printf "    %-12s seal %6.1f s (hot-plug to shutdown; the launch happened before)\n", "warm", ww / 1000
        printf "    ratio        wall %.2fx  maxrss %.2fx  tree %.2fx  warm seal %.2fx\n",
            vw / sw, vm / sm, vt / st, ww / 1000 / sw }'
    local k line=""
    for k in launch_ms inspect_ms ops_ms shutdown_ms total_ms; do
        line+=" $k=$(phase_median vmseal $k)"
    done
    echo "  vmseal phases (median ms):$line"
    line=""
    for k in launch_ms inspect_ms ops_ms shutdown_ms total_ms; do
        line+=" $k=$(phase_median warm $k)"
    done
    echo "  warm phases (median ms, launch = hot-plug):$line"
    SUMMARY+=$(awk -v l="$label" -v vw="$vw" -v sw="$sw" -v vt="$vt" -v st="$st" -v ww="$ww" 'BEGIN {
        w = vw / sw; m = vt / st; h = ww / 1000 / sw
        printf "bench_seal %-14s vmseal %5.1f s / %4d MB, virt-sysprep %5.1f s / %4d MB: wall %.2fx %s, peak RSS %.2fx %s; warm seal %4.1f s = %.2fx %s\n",
            l, vw, vt / 1024, sw, st / 1024, w, (w <= 0.5 ? "OK" : "MISSED"), m, (m <= 0.5 ? "OK" : "MISSED"),
            ww / 1000, h, (l != "debian" ? "" : h <= 0.25 ? "OK" : "MISSED") }')$'\n'
}

# bench_launch IMAGE - one appliance setting changed at a time.
bench_launch() {
    IMAGES=$1
    local -a names=(default compressed-kernel memsize-384 memsize-1280 smp-2 tb-qemu-default)
    local -A args=([default]="" [compressed-kernel]="--compressed-kernel" [memsize-384]="--memsize 384"
        [memsize-1280]="--memsize 1280" [smp-2]="--smp 2" [tb-qemu-default]="--tcg-tb-size -1")
    local i k n
    rm -f "$TMP"/l-*
    echo "== launch: $IMAGES, $RUNS runs each, rotated"
    for ((i = 0; i < RUNS; i++)); do
        for ((k = 0; k < ${#names[@]}; k++)); do
            n=${names[$(((k + i) % ${#names[@]}))]}
            # shellcheck disable=SC2086
            measure "l-$n" "" "$WORKER" seal -q ${args[$n]}
        done
    done
    echo "  medians:"
    for n in "${names[@]}"; do
        printf '    %-18s launch %5.1f s  wall %5.1f s  tree %5d MB  maxrss %5d MB\n' "$n" \
            "$(awk -v v="$(phase_median "l-$n" launch_ms)" 'BEGIN { print v / 1000 }')" \
            "$(median "$TMP/l-$n" 1)" "$(awk -v v="$(median "$TMP/l-$n" 3)" 'BEGIN { print int(v / 1024) }')" \
            "$(awk -v v="$(median "$TMP/l-$n" 2)" 'BEGIN { print int(v / 1024) }')"
    done
}

if [ "$LAUNCH" = 1 ]; then
    g=${GUESTS%% *}
    [ "$g" = twodisk ] || [ "$g" = usrvar ] && g=debian
    bench_launch "$BUILD/guests/${g:-debian}.qcow2"
    exit 0
fi

SUMMARY=""
for g in $GUESTS; do
    case $g in
        twodisk) bench_guest twodisk "$BUILD/guests/twodisk-root.qcow2 $BUILD/guests/twodisk-home.qcow2" ;;
        usrvar) bench_guest usrvar "$BUILD/guests/usrvar-sys.qcow2 $BUILD/guests/usrvar-var.qcow2" ;;
        *) [ -f "$BUILD/guests/$g.qcow2" ] || { echo "no guest $BUILD/guests/$g.qcow2" >&2; exit 2; }
           bench_guest "$g" "$BUILD/guests/$g.qcow2" ;;
    esac
done
if [ "$BIG" = 1 ]; then
    big=$(big_guest) && bench_guest debian-minbase "$big"
fi
echo
printf '%s' "$SUMMARY"
