#!/bin/bash
# bench_copy.sh [BUILD] - the speed of a volume copy against the plain tools.
#
# vmseal copies a volume (volume.copy, and `vmsealctl sd import`, which is
# the same code: worker/sd/volume.c convert_commit) by a file copy where
# source and destination are RAW and the filesystem shares extents (a
# reflink), by qemu-img convert -C (copy offload) otherwise; then it fsyncs
# the data.  This
# script times, on one filesystem and in one run, the contenders rotated
# (none always first), RUNS (3) runs each, the page cache dropped before
# every run, a sync included in every time and each output removed outside
# the timing:
#
#   qcow2    a 4 GiB qcow2 holding 2 GiB of data, to qcow2
#   raw      a 4 GiB sparse raw file holding 2 GiB of data, to raw
#   chain    a qcow2 overlay (1 GiB of data) on a qcow2 base (1 GiB), to a
#            flat qcow2 (cp copies both files)
#   xfs-raw, xfs-qcow2, xfs-chain
#            the same on an XFS loop device made with reflink=1 (target:
#            well under a second: the copies share extents)
#
# against `cp --sparse=always` and `qemu-img convert` with its default
# flags, with -W (out-of-order writes) and with -C (copy offload), and
# prints the medians and the ratio of vmseal's time to the fastest other one.
#
# Environment: DIR (default /var/tmp/vmseal-bench-copy; its filesystem is the
# one measured), RUNS (5).  Needs root (drop_caches, the loop device).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BUILD=${1:-$ROOT/build}
CTL=$BUILD/bin/vmsealctl
DIR=${DIR:-/var/tmp/vmseal-bench-copy}
RUNS=${RUNS:-5}
SD_ID=0c0b0e1c-0000-4000-8000-00000000c0b1
[ -x "$CTL" ] || { echo "bench_copy: $CTL not built" >&2; exit 1; }
[ "$(id -u)" = 0 ] || { echo "bench_copy: run as root (drop_caches, loop device)" >&2; exit 1; }
for t in qemu-img qemu-io mkfs.xfs losetup; do
    command -v "$t" > /dev/null || { echo "bench_copy: $t missing (qemu-utils, xfsprogs, mount)" >&2; exit 1; }
done

MNT=
cleanup() {
    if [ -n "$MNT" ]; then umount "$MNT" 2> /dev/null || true; fi
    rm -rf "$DIR"
}
trap cleanup EXIT
rm -rf "$DIR"
mkdir -p "$DIR/src"
echo "bench_copy: $DIR on $(df -T "$DIR" | awk 'NR == 2 { print $2 " (" $1 ")" }'), $RUNS runs each"

# ---------------------------------------------------------------- sources
qemu-img create -q -f qcow2 "$DIR/src/qcow2.qcow2" 4G
qemu-io -f qcow2 -c 'write -P 0x5a 0 1G' -c 'write -P 0xa5 2G 1G' "$DIR/src/qcow2.qcow2" > /dev/null
qemu-img create -q -f raw "$DIR/src/raw.img" 4G
qemu-io -f raw -c 'write -P 0x5a 256M 1G' -c 'write -P 0xa5 3G 1G' "$DIR/src/raw.img" > /dev/null
qemu-img create -q -f qcow2 "$DIR/src/base.qcow2" 4G
qemu-io -f qcow2 -c 'write -P 0x11 0 1G' "$DIR/src/base.qcow2" > /dev/null
qemu-img create -q -f qcow2 -b base.qcow2 -F qcow2 "$DIR/src/chain.qcow2"
qemu-io -f qcow2 -c 'write -P 0x22 2G 1G' "$DIR/src/chain.qcow2" > /dev/null
sync

# time_of CMD... -> seconds (caches dropped before, sync included)
time_of() {
    sync
    echo 3 > /proc/sys/vm/drop_caches
    local t0 t1
    t0=$(date +%s.%N)
    "$@" > /dev/null
    sync
    t1=$(date +%s.%N)
    echo "$t1 - $t0" | bc
}
median() { sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }

# contenders CASE SRCDIR SDPATH: name and command, one a line
vmseal_import() { # sd src format (its output kept for vmseal_cleanup)
    "$CTL" sd import --sd "$1" --format "$3" "$2" > "$DIR/import.out"
}
vmseal_cleanup() { # sd: the imported volume goes, outside the timing (as the others' rm)
    rm -rf "$1/images/$(sed -n 's/.*img_id=\([0-9a-f-]*\).*/\1/p' "$DIR/import.out")"
}
run_case() { # case src-file out-format sd-path
    local c=$1 src=$2 fmt=$3 sd=$4 dst=$4/../out i name
    local -a names=(vmseal "cp --sparse=always" "qemu-img convert" "qemu-img convert -W" "qemu-img convert -C")
    declare -A t
    local qfmt=raw k
    [ "$fmt" = qcow2 ] && qfmt=qcow2
    for i in $(seq 1 "$RUNS"); do
        # rotated, so that no contender always runs first (or after another)
        for k in 0 1 2 3 4; do
            case $(((k + i) % 5)) in
            0)
                t[vmseal]+="$(time_of vmseal_import "$sd" "$src" "$fmt") "
                vmseal_cleanup "$sd" ;;
            1)
                if [ "${c#xfs-}" = chain ]; then
                    t["cp --sparse=always"]+="$(time_of cp --sparse=always "$src" "$(dirname "$src")/base.qcow2" "$(dirname "$dst")/") "
                    rm -f "$(dirname "$dst")/chain.qcow2" "$(dirname "$dst")/base.qcow2"
                else
                    t["cp --sparse=always"]+="$(time_of cp --sparse=always "$src" "$dst") "
                    rm -f "$dst"
                fi ;;
            2)
                t["qemu-img convert"]+="$(time_of qemu-img convert -O "$qfmt" "$src" "$dst") "
                rm -f "$dst" ;;
            3)
                t["qemu-img convert -W"]+="$(time_of qemu-img convert -W -O "$qfmt" "$src" "$dst") "
                rm -f "$dst" ;;
            4)
                t["qemu-img convert -C"]+="$(time_of qemu-img convert -C -O "$qfmt" "$src" "$dst") "
                rm -f "$dst" ;;
            esac
        done
    done
    local best= best_name= ours
    for name in "${names[@]}"; do
        local m
        m=$(tr ' ' '\n' <<< "${t[$name]}" | grep . | median)
        printf 'bench_copy: %-9s %-22s median %7.2f s   (runs: %s)\n' "$c" "$name" "$m" "${t[$name]% }"
        if [ "$name" = vmseal ]; then
            ours=$m
        elif [ -z "$best" ] || [ "$(echo "$m < $best" | bc)" = 1 ]; then
            best=$m best_name=$name
        fi
    done
    if [ "${c#xfs-}" != "$c" ]; then
        printf 'bench_copy: %-9s vmseal %.2f s (target: well under 1 s; %s %.2f s)\n' "$c" "$ours" "$best_name" "$best"
    else
        printf 'bench_copy: %-9s vmseal / fastest other (%s): %.2f (speed ratio %.2f; target >= 0.9)\n' "$c" \
            "$best_name" "$(echo "$ours / $best" | bc -l)" "$(echo "$best / $ours" | bc -l)"
    fi
}

"$CTL" sd create --id "$SD_ID" "$DIR/sd" > /dev/null
run_case qcow2 "$DIR/src/qcow2.qcow2" qcow2 "$DIR/sd"
run_case raw "$DIR/src/raw.img" raw "$DIR/sd"
run_case chain "$DIR/src/chain.qcow2" qcow2 "$DIR/sd"

# ---------------------------------------------------------------- reflink
MNT=$DIR/xfs
truncate -s 16G "$DIR/xfs.img"
mkfs.xfs -q -m reflink=1 "$DIR/xfs.img"
mkdir -p "$MNT"
mount -o loop "$DIR/xfs.img" "$MNT"
mkdir -p "$MNT/src"
cp --sparse=always "$DIR/src/"* "$MNT/src/"
"$CTL" sd create --id "$SD_ID" "$MNT/sd" > /dev/null
run_case xfs-raw "$MNT/src/raw.img" raw "$MNT/sd"
run_case xfs-qcow2 "$MNT/src/qcow2.qcow2" qcow2 "$MNT/sd"
run_case xfs-chain "$MNT/src/chain.qcow2" qcow2 "$MNT/sd"
