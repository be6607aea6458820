#!/bin/bash
# test_seal_refuse.sh - `vmseal-worker seal` refuses what it must not seal
# (ctest seal_refuse, label guestfs): a Windows-like NTFS disk, a blank disk,
# two Linux roots given as one guest, a nonexistent image, an image that
# is not a disk image, a guest whose /var disk is missing (issue 14: never a
# silent partial seal), a guest with a LUKS partition and one whose
# /etc/fstab is a sparse 8 GiB file (issue 14 item 4: size checked first).  Each must exit non-zero with a clear message and
# leave every image byte-identical (overlays and pristine images).
set -uo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/lib.sh"
seal_test_init

PRISTINE_SUMS=$(cd "$GUESTS" && sha256sum ./*.qcow2)

# refuse LABEL REGEX IMAGE… - the run fails, says REGEX, changes no image.
refuse() {
    local label=$1 re=$2; shift 2
    local before after img
    before=$(for img in "$@"; do [ -e "$img" ] && sha256sum "$img"; done)
    seal_cli "$@"
    after=$(for img in "$@"; do [ -e "$img" ] && sha256sum "$img"; done)
    check '[ "$LAST_RC" -ne 0 ]' "$label: vmseal-worker seal must fail but exited 0"
    check_out "$re" "$label: the message must match /$re/"
    check '[ "$before" = "$after" ]' "$label: the image(s) changed: before=[$before] after=[$after]"
    check '! grep -q "^op .* start" "$LAST_OUT"' "$label: an operation started: $(grep '^op ' "$LAST_OUT" | head -3 | tr '\n' ' ')"
}

overlay windows "$TMP/windows.qcow2"
overlay blank "$TMP/blank.qcow2"
overlay fedora "$TMP/fedora.qcow2"
overlay debian "$TMP/debian.qcow2"
head -c 1048576 /dev/urandom > "$TMP/garbage.img"

echo "== Windows-like disk"
refuse windows 'windows|not supported|unsupported' "$TMP/windows.qcow2"
echo "== blank disk"
refuse blank 'no linux root|no root|no operating system' "$TMP/blank.qcow2"
echo "== two Linux roots as one guest"
refuse two-roots 'several root|multi' "$TMP/fedora.qcow2" "$TMP/debian.qcow2"
echo "== nonexistent image"
refuse nonexistent "$TMP/no-such-image.qcow2" "$TMP/no-such-image.qcow2"
check '[ ! -e "$TMP/no-such-image.qcow2" ]' "nonexistent: vmseal created $TMP/no-such-image.qcow2"
echo "== not a disk image (random bytes, raw)"
refuse garbage 'no linux root|no root|guestfs|format|not' --format raw "$TMP/garbage.img"

echo "== a filesystem the guest mounts at boot is missing (usrvar without its /var disk)"
overlay usrvar-sys "$TMP/usrvar-sys.qcow2"
refuse missing-disk 'incomplete_guest: fstab line 3 "/dev/mapper/vgvar-var /var ext4 defaults 0 2".*--allow-missing /var' \
    "$TMP/usrvar-sys.qcow2"
echo "== an encrypted (LUKS) partition"
overlay luks "$TMP/luks.qcow2"
refuse luks 'encrypted_guest: /dev/sda2 is encrypted \(LUKS\)' "$TMP/luks.qcow2"

echo "== /etc/fstab a sparse 8 GiB file: refused without reading it"
overlay bigfstab "$TMP/bigfstab.qcow2"
tmp_before=$(du -sk "${TMPDIR:-/tmp}" 2>/dev/null | cut -f1)
refuse bigfstab 'unsupported_guest: guest file /etc/fstab is 8589934592 bytes, over the 1048576 bytes' \
    "$TMP/bigfstab.qcow2"
tmp_after=$(du -sk "${TMPDIR:-/tmp}" 2>/dev/null | cut -f1)
check '[ $((tmp_after - tmp_before)) -lt 65536 ]' \
    "bigfstab: the host temporary folder grew by $((tmp_after - tmp_before)) KiB"

echo "== pristine images untouched"
check '[ "$(cd "$GUESTS" && sha256sum ./*.qcow2)" = "$PRISTINE_SUMS" ]' \
    "the pristine guest images in $GUESTS changed"

seal_test_finish
