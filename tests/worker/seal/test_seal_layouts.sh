#!/bin/bash
# test_seal_layouts.sh - `vmseal-worker seal` on real disk layouts (ctest
# seal_layouts, label guestfs; issue 14): the guests lvm, btrfs, usrvar,
# btrfs-fedora and btrfs-default of tests/guests/build.sh (LVM with XFS root
# and /boot, /var and a second VG apart; btrfs root and /home in subvolumes;
# /usr apart, /var on a second disk named by /dev/mapper, a mount point with
# an octal escape; Fedora's btrfs layout, subvolumes root and home by UUID=
# with compress=, an nspawn container's subvolume inside the root; openSUSE's,
# the root in the default subvolume and / mounted without subvol=).
#
# Appliance launches are the cost, so:
#   vmseal        one run per guest, plus usrvar without its /var disk and
#                 --allow-missing /var (the refusal without it is in
#                 test_seal_refuse.sh); lvm and usrvar with --warm (the disks
#                 hot-plugged into an appliance launched before: LVM activated
#                 after the hot-plug, a whole-disk PV, two disks; reported
#                 under the same device names as after a cold launch), and
#                 btrfs-default with --warm too;
#   virt-sysprep  one run per guest, in the background;
#   extraction    two read-only appliances (the vmseal copies, the
#                 virt-sysprep copies: copies of the same guest share VG names
#                 and btrfs ids, so they cannot share an appliance), each
#                 mounting every filesystem of each guest and taking one
#                 tar-out of the whole tree.
# Checks: every filesystem is reported, the GONE / STAY tables of Debian-like
# guests hold across filesystems, edits, and parity with virt-sysprep (the
# pristine tree is the reference tree from build.sh, with every filesystem).
set -uo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/lib.sh"
. "$HERE/expect.sh"
seal_test_init

PRISTINE_SUMS=$(cd "$GUESTS" && sha256sum ./*.qcow2)

LAYOUTS="lvm btrfs usrvar btrfs-fedora btrfs-default"
for c in vm vs; do
    overlay lvm "$TMP/lvm-$c.qcow2"
    overlay btrfs "$TMP/btrfs-$c.qcow2"
    overlay btrfs-fedora "$TMP/btrfs-fedora-$c.qcow2"
    overlay btrfs-default "$TMP/btrfs-default-$c.qcow2"
    overlay usrvar-sys "$TMP/usrvar-$c.qcow2"
    overlay usrvar-var "$TMP/usrvar-var-$c.qcow2"
done
overlay usrvar-sys "$TMP/allow.qcow2"
overlay hostile "$TMP/hostile.qcow2"

echo "== virt-sysprep on $LAYOUTS (background)"
(
    for g in $LAYOUTS; do
        extra=()
        [ "$g" = usrvar ] && extra=(-a "$TMP/usrvar-var-vs.qcow2")
        t0=$(date +%s%N)
        virt-sysprep -q --format qcow2 -a "$TMP/$g-vs.qcow2" "${extra[@]}" > "$TMP/$g-vs.log" 2>&1
        echo "$? $(( ($(date +%s%N) - t0) / 1000000 ))" > "$TMP/$g-vs.rc"
    done
) &
VS_PID=$!

# sealed LABEL REGEX… - the last run exited 0 and printed each REGEX.
sealed() {
    local label=$1 re; shift
    check '[ "$LAST_RC" -eq 0 ]' "$label: vmseal failed: $(grep -v '^op ' "$LAST_OUT" | tail -3 | tr '\n' ' ')"
    for re in "$@"; do check_out "$re" "$label: the report must say /$re/"; done
}

echo "== vmseal"
seal_cli --warm --report "$TMP/lvm-report.json" "$TMP/lvm-vm.qcow2"
sealed lvm '^filesystem /dev/vg0/root xfs /$' '^filesystem /dev/sda1 ext4 /boot$' \
    '^filesystem /dev/vg0/var ext4 /var$' '^filesystem /dev/vg-data/srv-data ext4 /srv/data$' \
    '^seal_phases .* warm=1$'
check '[ "$(grep -c "^filesystem " "$LAST_OUT")" -eq 4 ]' "lvm: exactly 4 filesystems must be sealed"
check 'python3 - "$TMP/lvm-report.json" <<EOF
import json, sys
r = json.load(open(sys.argv[1]))
assert r["result"] == "sealed", r["result"]
assert [f["mountpoint"] for f in r["filesystems"]] == ["/", "/boot", "/var", "/srv/data"], r["filesystems"]
ops = {o["name"]: o for o in r["operations"]}
fs = {f["mountpoint"]: f for f in ops["logfiles"]["filesystems"]}
assert "/var/log/syslog" in fs["/var"]["removed"], fs
assert sum(len(f["removed"]) for o in r["operations"] for f in o["filesystems"]) == r["removed"]
EOF' "lvm: --report JSON must list every filesystem and the removed paths per operation and filesystem: $(head -c 300 "$TMP/lvm-report.json")"
seal_cli "$TMP/btrfs-vm.qcow2"
sealed btrfs '^filesystem btrfsvol:/dev/sda1/@ btrfs /$' '^filesystem /dev/sda1:subvolid=257 btrfs /home$'
# Fedora: the top level is the default subvolume; the root is found in
# "root" (not in the container below it), /home mounted by subvol= (the
# compress= option dropped: it must not break either mount).
seal_cli "$TMP/btrfs-fedora-vm.qcow2"
sealed btrfs-fedora '^filesystem btrfsvol:/dev/sda1/root btrfs /$' '^filesystem /dev/sda1:subvol=home btrfs /home$' \
    '^summary root=btrfsvol:/dev/sda1/root distro=fedora family=redhat '
check '[ "$(grep -c "^filesystem " "$LAST_OUT")" -eq 2 ]' "btrfs-fedora: exactly 2 filesystems must be sealed"
# openSUSE: the root is the default subvolume (the device itself), which
# fstab mounts without subvol=; hot-plugged into a warm appliance.
seal_cli --warm "$TMP/btrfs-default-vm.qcow2"
sealed btrfs-default '^filesystem /dev/sda1 btrfs /$' '^filesystem /dev/sda1:subvol=/@/var btrfs /var$' \
    '^filesystem /dev/sda1:subvol=/@/home btrfs /home$' '^summary root=/dev/sda1 distro=opensuse-leap family=suse ' \
    '^seal_phases .* warm=1$'
check '[ "$(grep -c "^filesystem " "$LAST_OUT")" -eq 3 ]' "btrfs-default: exactly 3 filesystems must be sealed"
seal_cli --warm "$TMP/usrvar-vm.qcow2" "$TMP/usrvar-var-vm.qcow2"
sealed usrvar '^filesystem /dev/sda1 ext4 /$' '^filesystem /dev/sda2 ext4 /usr$' \
    '^filesystem /dev/vgvar/var ext4 /var$' '^filesystem /dev/sda3 ext4 /srv/My Data$' '^seal_phases .* warm=1$'
seal_cli --allow-missing /var "$TMP/allow.qcow2"
sealed allow-missing '^not-sealed /var /dev/mapper/vgvar-var \(--allow-missing\)$' \
    '^filesystem /dev/sda2 ext4 /usr$'
check '! grep -q "^filesystem .* /var$" "$LAST_OUT"' "allow-missing: /var must not be reported sealed"
seal_cli --allow-missing /x/usr/bin "$TMP/hostile.qcow2"
cp "$LAST_OUT" "$TMP/hostile.out"
sealed hostile '^not-sealed /x/usr/bin LABEL=hostroot' '/x is a symlink in the guest' \
    '^phase skip .*/var/log/.*: /var/log is a symlink in the guest, left alone' \
    '^phase skip .*/etc/hostname: not a regular file, left alone' \
    '^removed tmp-files /var/tmp/evil\\x0aremoved tmp-files \\x1b\[2J$'
check '! grep -q "^removed tmp-files .\[2J" "$TMP/hostile.out"' "hostile: a guest file name forged an output line"
check '! grep -q $'"'"'\e'"'"' "$TMP/hostile.out"' "hostile: a raw ESC reached the output"

wait "$VS_PID"
for g in $LAYOUTS; do
    read -r rc ms < "$TMP/$g-vs.rc"
    echo "  [$ms ms] virt-sysprep $g -> exit $rc"
    check '[ "$rc" -eq 0 ]' "virt-sysprep failed on $g: $(tail -3 "$TMP/$g-vs.log" | tr '\n' ' ')"
done

# extract SET DISK… - one read-only appliance; the guests' filesystems
# mounted as the guest mounts them, one tar of each whole tree into $EX/<name>-SET.
# Disks: lvm, btrfs, usrvar (2), btrfs-fedora, btrfs-default, then the vm
# set's own.
EX=$TMP/trees
extract() {
    local set=$1; shift
    local args=() d g
    for d in "$@"; do args+=(-a "$d"); done
    cat > "$TMP/extract-$set.fish" <<EOF
run
mount-ro /dev/vg0/root /
mount-ro /dev/sda1 /boot
mount-ro /dev/vg0/var /var
mount-ro /dev/vg-data/srv-data /srv/data
tar-out / $TMP/lvm-$set.tar numericowner:true
umount-all
mount-options ro,subvol=@ /dev/sdb1 /
mount-options ro,subvolid=257 /dev/sdb1 /home
tar-out / $TMP/btrfs-$set.tar numericowner:true
umount-all
mount-ro /dev/sdc1 /
mount-ro /dev/sdc2 /usr
mount-ro /dev/vgvar/var /var
mount-ro /dev/sdc3 "/srv/My Data"
tar-out / $TMP/usrvar-$set.tar numericowner:true
umount-all
mount-options ro,subvol=root /dev/sde1 /
mount-options ro,subvol=home /dev/sde1 /home
tar-out / $TMP/btrfs-fedora-$set.tar numericowner:true
umount-all
mount-ro /dev/sdf1 /
mount-options ro,subvol=/@/var /dev/sdf1 /var
mount-options ro,subvol=/@/home /dev/sdf1 /home
tar-out / $TMP/btrfs-default-$set.tar numericowner:true
umount-all
EOF
    if [ "$set" = vm ]; then
        cat >> "$TMP/extract-$set.fish" <<EOF
mount-ro /dev/sdg1 /
tar-out / $TMP/allow-$set.tar numericowner:true
umount-all
mount-ro /dev/sdh /
tar-out / $TMP/hostile-$set.tar numericowner:true
EOF
    fi
    if ! guestfish --ro --format=qcow2 "${args[@]}" -f "$TMP/extract-$set.fish" > "$TMP/extract-$set.log" 2>&1; then
        echo "FATAL: extracting the $set trees failed:"; cat "$TMP/extract-$set.log"; exit 1
    fi
    for g in $LAYOUTS allow hostile; do
        [ -f "$TMP/$g-$set.tar" ] || continue
        mkdir -p "$EX/$g-$set"
        tar -C "$EX/$g-$set" --numeric-owner -xpf "$TMP/$g-$set.tar"
        rm -f "$TMP/$g-$set.tar"
    done
}
echo "== extracting the trees (two appliances at once)"
t0=$(date +%s%N)
extract vm "$TMP/lvm-vm.qcow2" "$TMP/btrfs-vm.qcow2" "$TMP/usrvar-vm.qcow2" "$TMP/usrvar-var-vm.qcow2" \
    "$TMP/btrfs-fedora-vm.qcow2" "$TMP/btrfs-default-vm.qcow2" "$TMP/allow.qcow2" "$TMP/hostile.qcow2" &
EX_PID=$!
extract vs "$TMP/lvm-vs.qcow2" "$TMP/btrfs-vs.qcow2" "$TMP/usrvar-vs.qcow2" "$TMP/usrvar-var-vs.qcow2" \
    "$TMP/btrfs-fedora-vs.qcow2" "$TMP/btrfs-default-vs.qcow2"
wait "$EX_PID" || exit 1
echo "  [$(( ($(date +%s%N) - t0) / 1000000 )) ms] extracted"

echo "== per-operation and must-stay checks, every filesystem"
for g in lvm btrfs usrvar; do
    REF_TREE=$GUESTS/trees/$g
    check_gone_table "$EX/$g-vm" "$g" D
    check_stay_table "$EX/$g-vm" "$g" D
    check_empty "$EX/$g-vm" "$g (machine-id)" /etc/machine-id
    check_content "$EX/$g-vm" "$g (hostname)" /etc/hostname localhost
    check_no_line "$EX/$g-vm" "$g (net-interfaces-hwaddr)" /etc/network/interfaces 'hwaddress'
done
REF_TREE=$GUESTS/trees/lvm
check_same "$EX/lvm-vm" "$REF_TREE" "lvm (other filesystems)" /boot/grub/grub.cfg /srv/data/keep.txt
REF_TREE=$GUESTS/trees/usrvar
check_same "$EX/usrvar-vm" "$REF_TREE" "usrvar (other filesystems)" "/srv/My Data/report.txt" \
    /usr/lib/os-release /usr/bin/hello

echo "== btrfs-fedora and btrfs-default: every subvolume sealed"
for g in btrfs-fedora:F btrfs-default:S; do
    codes=${g#*:} g=${g%:*}
    REF_TREE=$GUESTS/trees/$g
    check_gone_table "$EX/$g-vm" "$g" "$codes"
    check_stay_table "$EX/$g-vm" "$g" "$codes"
    check_empty "$EX/$g-vm" "$g (machine-id)" /etc/machine-id
    check_content "$EX/$g-vm" "$g (hostname)" /etc/hostname localhost
done
t=$EX/btrfs-fedora-vm
REF_TREE=$GUESTS/trees/btrfs-fedora
check_no_line "$t" "btrfs-fedora (net-hwaddr)" /etc/sysconfig/network-scripts/ifcfg-eth0 '^HWADDR='
check_exists "$t" "btrfs-fedora (SELinux enforcing: selinux-relabel)" /.autorelabel
check_same "$t" "$REF_TREE" "btrfs-fedora (the container below the root is left alone)" \
    /var/lib/machines/f38/etc/os-release /var/lib/machines/f38/etc/fstab /var/lib/machines/f38/etc/container-note
t=$EX/btrfs-default-vm
check_no_line "$t" "btrfs-default (net-hwaddr)" /etc/sysconfig/network/ifcfg-eth0 '^LLADDR='
check_content "$t" "btrfs-default (hostname)" /etc/HOSTNAME localhost

echo "== --allow-missing /var: everything but /var sealed"
REF_TREE=$GUESTS/trees/usrvar
check_gone "$EX/allow-vm" "allow-missing (root sealed)" /root/.bash_history /etc/ssh/ssh_host_rsa_key \
    /home/alice/.ssh /tmp/build.log
check_empty "$EX/allow-vm" "allow-missing (machine-id)" /etc/machine-id

echo "== hostile content contained"
# How the appliance is shown unaltered: every path vmseal reports removed or
# changed is checked against the pristine tree: none lies below a guest
# symlink, so no operation reached outside the guest's own tree (inside
# the appliance, /tmp -> / and /var/log -> /usr/lib are the appliance's).
# The guest files those links point at stay, the FIFOs stay FIFOs, and the
# run got through every operation and shutdown (a damaged appliance fails).
t=$EX/hostile-vm
REF_TREE=$GUESTS/trees/hostile
check_same "$t" "$REF_TREE" "hostile (targets of links stay)" /tmp /var/log /x /usr/lib/keep.txt \
    /usr/lib/syslog /usr/bin/hello /bin/sh /etc/passwd
check '[ -p "$t/etc/hostname" ] && [ -p "$t/etc/network/interfaces" ]' \
    "hostile: the FIFOs /etc/hostname and /etc/network/interfaces must stay FIFOs"
check_gone "$t" "hostile (other operations still run)" /root/.bash_history /etc/ssh/ssh_host_rsa_key
below_link=$(sed -n 's/^\(removed\|changed\) [^ ]* //p' "$TMP/hostile.out" | while read -r p; do
    d=${p%/*}
    while [ -n "$d" ]; do
        if [ -L "$REF_TREE$d" ]; then echo "$p (below $d)"; break; fi
        d=${d%/*}
    done
done)
check '[ -z "$below_link" ]' "hostile: vmseal acted below a guest symlink: $below_link"
check '[ "$(grep -cE "^(removed|changed) " "$TMP/hostile.out")" -gt 10 ]' \
    "hostile: expected vmseal to report its removals"

echo "== parity with virt-sysprep"
for g in $LAYOUTS; do
    parity_check "$g" "$GUESTS/trees/$g" "$EX/$g-vs" "$EX/$g-vm"
done

echo "== pristine images untouched"
check '[ "$(cd "$GUESTS" && sha256sum ./*.qcow2)" = "$PRISTINE_SUMS" ]' \
    "the pristine guest images in $GUESTS changed"

seal_test_finish
