#!/bin/bash
# test_seal_guests.sh - `vmseal-worker seal` on the Linux test guests
# (ctest seal_guests, label guestfs).
#
# Appliance launches are the cost (≈10-20 s each under TCG), so one run of
# each tool per guest serves every check:
#   vmseal   fedora, debian, suse (default operations), two-disk guest
#            (--hostname tmpl01 --disable ssh-hostkeys,logfiles), and an
#            unknown operation name (fails before any launch);
#   virt-sysprep (default operations) on fedora, debian, suse, in the
#            background while vmseal runs (two appliances at once on 2 cores);
#   one read-only appliance extracting every resulting tree (and the pristine
#            ones) through libguestfs' tar-out.
# Then host-side checks: per operation (GONE table), must-stay files
# (STAY table), edits (ifcfg, interfaces, NetworkManager, hostname,
# machine-id, /.autorelabel), two disks both changed, and parity with
# virt-sysprep (lib.sh parity_check).
set -uo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/lib.sh"
. "$HERE/expect.sh"
seal_test_init

PRISTINE_SUMS=$(cd "$GUESTS" && sha256sum ./*.qcow2)

# ---------------------------------------------------------------- runs
for g in fedora debian suse; do
    overlay "$g" "$TMP/$g-vm.qcow2"
    overlay "$g" "$TMP/$g-vs.qcow2"
done
overlay twodisk-root "$TMP/two-root.qcow2"
overlay twodisk-home "$TMP/two-home.qcow2"
overlay fedora "$TMP/unknown-op.qcow2"

echo "== virt-sysprep on fedora, debian, suse (background)"
(
    for g in fedora debian suse; do
        t0=$(date +%s%N)
        virt-sysprep -q --format qcow2 -a "$TMP/$g-vs.qcow2" > "$TMP/$g-vs.log" 2>&1
        echo "$? $(( ($(date +%s%N) - t0) / 1000000 ))" > "$TMP/$g-vs.rc"
    done
) &
VS_PID=$!

echo "== unknown operation"
sum_before=$(sha256sum < "$TMP/unknown-op.qcow2")
seal_cli --enable no-such-op "$TMP/unknown-op.qcow2"
check '[ "$LAST_RC" -ne 0 ]' "--enable no-such-op must fail"
check_out "unknown.*operation.*no-such-op" "--enable no-such-op must name the unknown operation"
check '[ "$(sha256sum < "$TMP/unknown-op.qcow2")" = "$sum_before" ]' \
    "--enable no-such-op must leave the image byte-identical"

echo "== vmseal default operations"
for g in fedora debian suse; do
    seal_cli "$TMP/$g-vm.qcow2"
    cp "$LAST_OUT" "$TMP/$g-vm.log"
    check '[ "$LAST_RC" -eq 0 ]' "vmseal on $g failed: $(tail -3 "$LAST_OUT" | tr '\n' ' ')"
    check_out '^seal_phases launch_ms=[0-9]+ inspect_ms=[0-9]+ ops_ms=[0-9]+ shutdown_ms=[0-9]+ total_ms=[0-9]+' \
        "vmseal on $g: no seal_phases line"
    check_out '^summary .*removed=[1-9]' "vmseal on $g: no summary line with removed paths"
    # the appliance exists (guests_build made it): its kernel boots uncompressed
    check_out "^phase launch 0% booting the appliance's kernel uncompressed" \
        "vmseal on $g: the appliance's kernel was not booted uncompressed"
done

echo "== vmseal two-disk guest, --hostname tmpl01 --disable ssh-hostkeys,logfiles"
seal_cli --hostname tmpl01 --disable ssh-hostkeys,logfiles "$TMP/two-root.qcow2" "$TMP/two-home.qcow2"
check '[ "$LAST_RC" -eq 0 ]' "vmseal on the two-disk guest failed: $(tail -3 "$LAST_OUT" | tr '\n' ' ')"
check_out 'removed .*/home/bob/.bash_history' "vmseal on the two-disk guest does not report /home/bob/.bash_history"

wait "$VS_PID"
for g in fedora debian suse; do
    read -r rc ms < "$TMP/$g-vs.rc"
    echo "  [$ms ms] virt-sysprep $g -> exit $rc"
    if [ "$rc" -ne 0 ]; then
        echo "FATAL: virt-sysprep failed on $g:"; cat "$TMP/$g-vs.log"; exit 1
    fi
done

echo "== extracting every tree (one appliance)"
EX=$TMP/trees
t0=$(date +%s%N)
trees_extract "$EX" \
    fedora-vm="$TMP/fedora-vm.qcow2" debian-vm="$TMP/debian-vm.qcow2" suse-vm="$TMP/suse-vm.qcow2" \
    fedora-vs="$TMP/fedora-vs.qcow2" debian-vs="$TMP/debian-vs.qcow2" suse-vs="$TMP/suse-vs.qcow2" \
    fedora="$GUESTS/fedora.qcow2" debian="$GUESTS/debian.qcow2" suse="$GUESTS/suse.qcow2" \
    two-root="$TMP/two-root.qcow2" two-home="$TMP/two-home.qcow2"
echo "  [$(( ($(date +%s%N) - t0) / 1000000 )) ms] extracted"
# The two-disk guest as the guest sees it: disk 2 mounted on /home.
cp -a "$EX/two-home/." "$EX/two-root/home/"
mkdir -p "$TMP/two-ref"
cp -a "$GUESTS/trees/twodisk-root/." "$TMP/two-ref/"
cp -a "$GUESTS/trees/twodisk-home/." "$TMP/two-ref/home/"

# ---------------------------------------------------------------- checks
echo "== per-operation checks"
REF_TREE=$GUESTS/trees/fedora; check_gone_table "$EX/fedora-vm" fedora F
REF_TREE=$GUESTS/trees/debian; check_gone_table "$EX/debian-vm" debian D
REF_TREE=$GUESTS/trees/suse;   check_gone_table "$EX/suse-vm" suse S
REF_TREE=$TMP/two-ref;         check_gone_table "$EX/two-root" two-disk FT ssh-hostkeys logfiles

echo "== must-stay checks"
REF_TREE=$GUESTS/trees/fedora; check_stay_table "$EX/fedora-vm" fedora F
REF_TREE=$GUESTS/trees/debian; check_stay_table "$EX/debian-vm" debian D
REF_TREE=$GUESTS/trees/suse;   check_stay_table "$EX/suse-vm" suse S
REF_TREE=$TMP/two-ref;         check_stay_table "$EX/two-root" two-disk FT

echo "== edits"
for g in fedora debian suse; do
    t=$EX/$g-vm
    check_empty "$t" "$g (machine-id)" /etc/machine-id
    check_content "$t" "$g (hostname)" /etc/hostname localhost
    check_exists "$t" "$g (tmp-files keeps the directories)" /tmp /var/tmp
    check '[ -z "$(ls -A "$t/var/log/journal")" ]' "$g (logfiles): /var/log/journal is not empty: $(ls -A "$t/var/log/journal")"
    for p in /var/account/pacct /var/log/account/pacct; do
        check '[ ! -s "$t$p" ]' "$g (pacct-log): $p must be removed or emptied"
    done
done
check_empty "$EX/two-root" "two-disk (machine-id)" /etc/machine-id
check_content "$EX/two-root" "two-disk (--hostname tmpl01)" /etc/hostname tmpl01
check_line "$EX/two-root" "two-disk (--hostname tmpl01)" /etc/sysconfig/network '^HOSTNAME=tmpl01$'

# Fedora-like: ifcfg, /etc/sysconfig/network, dbus machine-id file, SELinux.
t=$EX/fedora-vm
check_no_line "$t" "fedora (net-hwaddr)" /etc/sysconfig/network-scripts/ifcfg-eth0 '^HWADDR='
check_no_line "$t" "fedora (net-hostname)" /etc/sysconfig/network-scripts/ifcfg-eth0 '^(DHCP_)?HOSTNAME='
for l in '^DEVICE=eth0$' '^BOOTPROTO=dhcp$' '^ONBOOT=yes$'; do
    check_line "$t" "fedora (ifcfg keeps other lines)" /etc/sysconfig/network-scripts/ifcfg-eth0 "$l"
done
check_line "$t" "fedora (hostname)" /etc/sysconfig/network '^HOSTNAME=localhost$'
check_line "$t" "fedora (hostname keeps other lines)" /etc/sysconfig/network '^NETWORKING=yes$'
check_empty "$t" "fedora (machine-id, dbus copy)" /var/lib/dbus/machine-id
check_exists "$t" "fedora (SELinux enforcing: selinux-relabel)" /.autorelabel
check_exists "$EX/two-root" "two-disk (SELinux enforcing: selinux-relabel)" /.autorelabel

# Debian-like: interfaces, NetworkManager keyfile kept without its MAC.
t=$EX/debian-vm
check_no_line "$t" "debian (net-interfaces-hwaddr)" /etc/network/interfaces 'hwaddress'
for l in '^iface eth0 inet dhcp' 'dns-search example.com' '^auto lo'; do
    check_line "$t" "debian (interfaces keeps other lines)" /etc/network/interfaces "$l"
done
check_no_line "$t" "debian (net-nm-macaddr)" /etc/NetworkManager/system-connections/eth0.nmconnection '^mac-address='
check_line "$t" "debian (nmconnection keeps other lines)" /etc/NetworkManager/system-connections/eth0.nmconnection '^id=eth0$'
check_gone "$t" "debian (no SELinux: no relabel)" /.autorelabel

# SUSE-like: ifcfg LLADDR, /etc/HOSTNAME, NetworkManager keyfile.
t=$EX/suse-vm
check_no_line "$t" "suse (net-hwaddr)" /etc/sysconfig/network/ifcfg-eth0 '^LLADDR='
check_line "$t" "suse (ifcfg keeps other lines)" /etc/sysconfig/network/ifcfg-eth0 "^BOOTPROTO='dhcp'$"
check_content "$t" "suse (hostname)" /etc/HOSTNAME localhost
check_no_line "$t" "suse (net-nm-macaddr)" /etc/NetworkManager/system-connections/eth0.nmconnection '^mac-address='
check_gone "$t" "suse (no SELinux: no relabel)" /.autorelabel

echo "== two disks sealed in one session"
check_gone "$EX/two-home" "two-disk (disk 2 changed)" /bob/.bash_history /bob/.ssh /alice/.bash_history
check_gone "$EX/two-root" "two-disk (disk 1 changed)" /etc/passwd- /var/lib/rpm/__db.001 /etc/lvm/devices/system.devices

echo "== parity with virt-sysprep"
for g in fedora debian suse; do
    parity_check "$g" "$EX/$g" "$EX/$g-vs" "$EX/$g-vm"
done

echo "== pristine images untouched"
check '[ "$(cd "$GUESTS" && sha256sum ./*.qcow2)" = "$PRISTINE_SUMS" ]' \
    "the pristine guest images in $GUESTS changed"

seal_test_finish
