#!/bin/bash
# test_copy_offload.sh - a volume copy on a filesystem that shares extents
# (XFS with reflink=1 on a loop device) shares them: a RAW volume by a
# reflink of the whole file, a QCOW2 volume (and a backing chain flattened,
# and RAW to QCOW2) by qemu-img's copy offload.  Each copy must read back
# identical to its source (qemu-img compare) and its data extents must be
# shared with the source's (filefrag -v), which a copy that read and wrote
# the data would not be.  Needs root, a loop device and mkfs.xfs: fails
# with the reason where they are missing.
set -euo pipefail
BUILD=${VMSEAL_BUILD_DIR:?not set: run through ctest}
CTL=$BUILD/bin/vmsealctl
SD_ID=0c0b0e1c-0000-4000-8000-0000000c0f10
fail() { echo "test_copy_offload: FAIL: $*" >&2; exit 1; }
[ "$(id -u)" = 0 ] || fail "needs root (a loop device and mount)"
for t in mkfs.xfs losetup filefrag qemu-img qemu-io; do
    command -v "$t" > /dev/null || fail "$t missing (xfsprogs, mount, e2fsprogs, qemu-utils)"
done

DIR=$(mktemp -d /var/tmp/vmseal-offload.XXXXXX)
MNT=$DIR/xfs
cleanup() {
    umount "$MNT" 2> /dev/null || true
    rm -rf "$DIR"
}
trap cleanup EXIT
truncate -s 2G "$DIR/xfs.img"
mkfs.xfs -q -m reflink=1 "$DIR/xfs.img" || fail "mkfs.xfs -m reflink=1"
mkdir "$MNT"
mount -o loop "$DIR/xfs.img" "$MNT" || fail "cannot mount a loop device here (mount -o loop)"

S=$MNT/src
mkdir "$S"
qemu-img create -q -f raw "$S/raw.img" 256M
qemu-io -f raw -c 'write -P 0x5a 16M 32M' -c 'write -P 0xa5 128M 16M' "$S/raw.img" > /dev/null
qemu-img create -q -f qcow2 "$S/disk.qcow2" 256M
qemu-io -f qcow2 -c 'write -P 0x11 0 32M' -c 'write -P 0x22 200M 16M' "$S/disk.qcow2" > /dev/null
qemu-img create -q -f qcow2 "$S/base.qcow2" 256M
qemu-io -f qcow2 -c 'write -P 0x33 0 32M' "$S/base.qcow2" > /dev/null
qemu-img create -q -f qcow2 -b base.qcow2 -F qcow2 "$S/top.qcow2"
qemu-io -f qcow2 -c 'write -P 0x44 64M 32M' "$S/top.qcow2" > /dev/null
sync
"$CTL" sd create --id "$SD_ID" "$MNT/sd" > /dev/null

shared_kib() { # FILE: KiB of its extents marked shared
    filefrag -v -b1024 "$1" | awk -F: '/shared/ { split($3, a, ".."); n += $4 + 0 } END { print n + 0 }'
}

# copy NAME SRC SRC_FORMAT FORMAT MIN_SHARED_KIB
copy() {
    local name=$1 src=$2 fmt=$4 min=$5 out vol kib
    out=$("$CTL" sd import --sd "$MNT/sd" --format "$fmt" "$src") || fail "$name: import failed: $out"
    vol=$MNT/sd/images/$(sed -n 's/.*img_id=\([0-9a-f-]*\).*/\1/p' <<< "$out")/$(sed -n 's/.*vol_id=\([0-9a-f-]*\).*/\1/p' <<< "$out")
    [ -f "$vol" ] || fail "$name: no volume file at $vol ($out)"
    qemu-img compare -q -f "$3" -F "$fmt" "$src" "$vol" || fail "$name: the copy differs from its source"
    [ "$(qemu-img info --output=json "$vol" | sed -n 's/.*"format": "\([a-z0-9]*\)".*/\1/p' | head -1)" = "$fmt" ] ||
        fail "$name: the copy is not $fmt"
    [ "$fmt" = raw ] || ! qemu-img info "$vol" | grep -q '^backing file' || fail "$name: the copy keeps a backing file"
    kib=$(shared_kib "$vol")
    echo "test_copy_offload: $name: identical, ${kib} KiB of extents shared with the source"
    [ "$kib" -ge "$min" ] || fail "$name: only $kib KiB shared (at least $min expected): the data was copied, not offloaded"
}

copy raw-to-raw "$S/raw.img" raw raw $((48 * 1024))
copy qcow2-to-qcow2 "$S/disk.qcow2" qcow2 qcow2 $((48 * 1024))
copy chain-flattened "$S/top.qcow2" qcow2 qcow2 $((64 * 1024))
copy raw-to-qcow2 "$S/raw.img" raw qcow2 $((48 * 1024))
echo "test_copy_offload: ok"
