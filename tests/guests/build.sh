#!/bin/bash
# build.sh OUTDIR - build the test guests of the seal tests, once.
#
# Makes, without any network, small qcow2 guests that carry every artifact
# the default seal operations must remove (virt-sysprep 1.48's defaults plus
# the ones vmseal adds beyond it) and files that must stay:
#
#   fedora.qcow2                 Fedora-like, ext4 on the whole disk, fstab LABEL=
#   debian.qcow2                 Debian-like, fstab by device name (/dev/sda)
#   suse.qcow2                   openSUSE-like, fstab by UUID=
#   twodisk-root.qcow2           Fedora-like root (a /var/tmp file name with a
#                                newline and ESC); /home lives on ...
#   twodisk-home.qcow2           ... this second disk, mounted by LABEL=
#   windows.qcow2                NTFS with \Windows\System32\config (refused)
#   blank.qcow2                  no filesystem at all (refused)
#
# Real disk layouts (issue 14), all Debian-like:
#   lvm.qcow2                    the Debian installer's layout: GPT, /boot ext4
#                                (UUID=), VG vg0 with root on XFS (UUID=), /var
#                                (/dev/mapper/vg0-var) and swap; a second VG
#                                "vg-data" (/dev/mapper/vg--data-srv--data)
#   btrfs.qcow2                  btrfs, root in subvolume @ (subvol=@), /home in
#                                @home (subvolid=257), by LABEL=
#   btrfs-fedora.qcow2           Fedora-like, Fedora's btrfs layout: one btrfs
#                                partition, subvolumes root and home at the
#                                top level (the default subvolume), fstab
#                                UUID= with subvol=root,compress=zstd:1; the
#                                nested subvolume root/var/lib/machines that
#                                systemd makes, holding an nspawn container's
#                                tree (a subvolume with a Linux tree of its own)
#   btrfs-default.qcow2          openSUSE-like, the default subvolume set to
#                                @/.snapshots/1/snapshot, which holds the root:
#                                fstab mounts / by UUID= WITHOUT subvol= (the
#                                default), /var and /home from subvol=/@/var
#                                and subvol=/@/home
#   usrvar-sys.qcow2             root (LABEL=), /usr apart (PARTUUID=), and
#                                "/srv/My Data" (LABEL=data\040disk, octal escapes)
#   usrvar-var.qcow2             ... its /var: a whole-disk PV, VG vgvar,
#                                named /dev/mapper/vgvar-var in fstab
#   luks.qcow2                   a root and a LUKS partition (refused)
#   bigfstab.qcow2               Debian-like, /etc/fstab a sparse 8 GiB file
#                                (refused before anything is read)
#   hostile.qcow2                Debian-like with /tmp -> /, /var/log -> /usr/lib,
#                                /x -> / and an fstab line for /x/usr/bin, FIFOs
#                                as /etc/hostname and /etc/network/interfaces, a
#                                file name with a newline and ESC in /var/tmp
#
# and trees/<image>/ with the exact directory tree put into each ext4 image
# (the pristine reference for "must stay" checks); for the layouts, the tree
# as the guest sees it with every filesystem mounted.
#
# All filesystems are made in ONE guestfish session (one appliance launch,
# instead of one per image with virt-make-fs).  Idempotent: when OUTDIR
# already holds images built by this very script (stamp = sha256 of this
# file), nothing is done.  Tests never write these images: they seal qcow2
# overlays backed by them (see tests/seal/lib.sh).
#
# Environment: LIBGUESTFS_BACKEND (default: direct) and
# LIBGUESTFS_BACKEND_SETTINGS (e.g. force_tcg where KVM does not work).
set -euo pipefail

[ $# -eq 1 ] || { echo "usage: $0 OUTDIR" >&2; exit 2; }
OUTDIR=$1
export LIBGUESTFS_BACKEND=${LIBGUESTFS_BACKEND:-direct}

IMAGES="fedora debian suse twodisk-root twodisk-home windows blank lvm btrfs usrvar-sys usrvar-var luks bigfstab hostile btrfs-fedora btrfs-default"
script_hash=$(sha256sum "${BASH_SOURCE[0]}" | cut -d' ' -f1)

mkdir -p "$OUTDIR"
exec 9>"$OUTDIR/.lock"
flock 9

up_to_date() {
    [ -f "$OUTDIR/stamp" ] && [ "$(cat "$OUTDIR/stamp")" = "$script_hash" ] || return 1
    local i
    for i in $IMAGES; do [ -s "$OUTDIR/$i.qcow2" ] || return 1; done
}
if up_to_date; then
    echo "guests: up to date in $OUTDIR"
    exit 0
fi

t0=$(date +%s.%N)
rm -f "$OUTDIR/stamp"
WORK=$(mktemp -d "$OUTDIR/.build.XXXXXX")
trap 'rm -rf "$WORK"' EXIT

# ---------------------------------------------------------------- helpers
# w TREE PATH [CONTENT] [MODE] - write a file (parents made), default 0644.
w() {
    local f="$1$2"
    mkdir -p "$(dirname "$f")"
    printf '%s\n' "${3-content of $2}" > "$f"
    chmod "${4:-0644}" "$f"
}
# own TREE UID:GID PATH… - chown inside the tree.
own() {
    local t=$1 ids=$2; shift 2
    local p
    for p in "$@"; do chown -R "$ids" "$t$p"; done
}

# ---------------------------------------------------------------- Linux base
# base_tree TREE HOSTNAME MACHINE_ID: what every Linux guest has.
base_tree() {
    local t=$1 host=$2 mid=$3
    mkdir -p "$t"/{bin,sbin,usr/bin,usr/sbin,lib,dev,proc,sys,run,srv,opt,mnt,boot}
    mkdir -p "$t"/{etc,root,home,tmp,var/tmp,var/log,var/lib,var/cache,var/spool}
    chmod 1777 "$t/tmp" "$t/var/tmp"
    chmod 0700 "$t/root"
    w "$t" /bin/sh '#!/bin/true' 0755
    w "$t" /usr/bin/hello '#!/bin/sh
echo hello' 0755

    # Accounts: the real files stay, the "-" backups go (passwd-backups).
    w "$t" /etc/passwd 'root:x:0:0:root:/root:/bin/bash
alice:x:1000:1000:Alice:/home/alice:/bin/bash
bob:x:1001:1001:Bob:/home/bob:/bin/zsh'
    w "$t" /etc/group 'root:x:0:
alice:x:1000:
bob:x:1001:'
    w "$t" /etc/shadow 'root:!:19000:0:99999:7:::
alice:$6$salt$hash:19000:0:99999:7:::
bob:!:19000:0:99999:7:::' 0640
    w "$t" /etc/gshadow 'root:*::' 0640
    w "$t" /etc/subuid 'alice:100000:65536'
    w "$t" /etc/subgid 'alice:100000:65536'
    local b
    for b in passwd group shadow gshadow subuid subgid; do
        w "$t" "/etc/$b-" "old $b backup"
    done

    w "$t" /etc/hostname "$host"
    w "$t" /etc/hosts '127.0.0.1 localhost'
    w "$t" /etc/resolv.conf 'nameserver 192.0.2.53'
    w "$t" /etc/machine-id "$mid" 0444
    w "$t" /etc/ssh/sshd_config 'PermitRootLogin no'
    w "$t" /etc/ssh/ssh_config 'Host *'
    local k
    for k in rsa ecdsa ed25519; do
        w "$t" "/etc/ssh/ssh_host_${k}_key" "PRIVATE $k KEY" 0600
        w "$t" "/etc/ssh/ssh_host_${k}_key.pub" "ssh-$k AAAA host"
    done

    # Users: histories and .ssh go, everything else stays.
    w "$t" /root/.bash_history 'ls /secret' 0600
    w "$t" /root/.zsh_history ': 1700000000:0;ls /secret' 0600
    w "$t" /root/.bashrc 'alias ll="ls -l"'
    w "$t" /root/.ssh/authorized_keys 'ssh-ed25519 AAAA root@admin' 0600
    w "$t" /root/notes~ 'editor backup'
    w "$t" /home/alice/.bash_history 'sudo -i' 0600
    w "$t" /home/alice/.zsh_history ': 1700000000:0;make' 0600
    w "$t" /home/alice/.bashrc 'export EDITOR=vi'
    w "$t" /home/alice/Documents/notes.txt 'Alice keeps her notes here.'
    w "$t" /home/alice/.ssh/authorized_keys 'ssh-ed25519 AAAA alice@laptop' 0600
    w "$t" /home/alice/.ssh/id_ed25519 'PRIVATE alice KEY' 0600
    chmod 0700 "$t/root/.ssh" "$t/home/alice/.ssh"
    own "$t" 1000:1000 /home/alice

    # Log files (logfiles): a sample of virt-sysprep's globs.
    local l
    for l in messages syslog secure cron dmesg boot.log wtmp btmp lastlog \
             faillog tallylog maillog debug xferlog spooler kern.log \
             messages-20240101 cloud-init.log; do
        w "$t" "/var/log/$l" "log $l"
    done
    w "$t" /var/log/audit/audit.log 'type=DAEMON_START'
    w "$t" /var/log/journal/"$mid"/system.journal 'LPKSHHRH'
    w "$t" /var/log/sssd/sssd.log 'sssd log'
    w "$t" /var/log/samba/log.smbd 'smbd log'
    w "$t" /var/log/puppet/puppet.log 'puppet log'
    w "$t" /var/log/anaconda/anaconda.log 'anaconda log'
    w "$t" /var/log/httpd/access_log 'GET /'
    w "$t" /var/log/sa/sa01 'sar data'
    w "$t" /var/log/ntpstats/loopstats 'ntp'
    w "$t" /var/log/account/pacct 'acct'
    w "$t" /var/lib/logrotate.status 'logrotate state'
    w "$t" /var/cache/man/index.db 'man index'
    w "$t" /var/cache/fontconfig/abc-le64.cache-7 'fc cache'
    w "$t" /var/account/pacct 'acct'

    # Spools: mail, cron, at.
    w "$t" /var/spool/mail/alice 'From root: hello' 0600
    w "$t" /var/mail/root 'From cron: output' 0600
    w "$t" /var/spool/at/a0001a01 '#!/bin/sh' 0700
    w "$t" /var/spool/at/.SEQ '1'
    w "$t" /var/spool/atjobs/a0002 'job'

    # Temporary files (tmp-files), hidden ones included; backups (backup-files).
    w "$t" /tmp/build.log 'tmp'
    w "$t" /tmp/.hidden-lock 'tmp'
    w "$t" /tmp/session/data.bin 'tmp'
    w "$t" /var/tmp/cache.bin 'vartmp'
    w "$t" /var/tmp/.hidden 'vartmp'
    w "$t" /etc/resolv.conf.bak 'backup'
    w "$t" /etc/fstab~ 'backup'
    w "$t" /srv/data.txt 'service data stays'
    w "$t" /srv/data.txt.bak 'backup'
    w "$t" /var/lib/misc/state.bak 'backup'

    # Misc. host-specific state.
    w "$t" /etc/udev/rules.d/70-persistent-net.rules 'SUBSYSTEM=="net", ATTR{address}=="52:54:00:12:34:56", NAME="eth0"'
    w "$t" /etc/udev/rules.d/99-local.rules '# local rule stays'
    w "$t" /etc/blkid/blkid.tab '<device>'
    w "$t" /etc/blkid.tab '<device>'
    w "$t" /var/run/utmp 'utmp'
    w "$t" /var/run/faillock/alice 'faillock'
    w "$t" /var/run/console/alice 'console'
    w "$t" /var/run/sepermit/alice 'sepermit'
    w "$t" /var/crash/127.0.0.1-2024-01-01/vmcore 'vmcore'
    w "$t" /var/lib/sss/db/cache_default.ldb 'sss cache'
    w "$t" /var/lib/dovecot/instances 'dovecot'
    w "$t" /var/lib/samba/private/secrets.tdb 'secrets'
    w "$t" /var/lib/puppet/ssl/certs/host.pem 'puppet cert'
    w "$t" /var/lib/dhcpd/dhcpd.leases 'lease { }'
    w "$t" /etc/krb5.keytab 'keytab' 0600
    w "$t" /etc/krb5.conf '[libdefaults] stays'
    w "$t" /etc/ipa/ca.crt 'ipa ca'
    w "$t" /etc/ipa/default.conf '[global]'
    w "$t" /var/lib/ipa-client/sysrestore/sysrestore.state 'state'
    w "$t" /root/anaconda-ks.cfg 'kickstart'
    w "$t" /root/install.log 'install log'

    # Beyond virt-sysprep.
    w "$t" /etc/lvm/devices/system.devices 'IDTYPE=devname IDNAME=/dev/vda2'
    w "$t" /etc/lvm/lvm.conf 'config { } # stays'
    w "$t" /var/lib/cloud/instances/iid-0123/obj.pkl 'pickle'
    w "$t" /var/lib/cloud/instances/iid-0123/user-data.txt '#cloud-config'
    ln -s /var/lib/cloud/instances/iid-0123 "$t/var/lib/cloud/instance"
    w "$t" /var/lib/cloud/data/instance-id 'iid-0123'
    w "$t" /var/lib/cloud/data/previous-hostname "$host"
    w "$t" /var/lib/cloud/scripts/per-boot/keep.sh '#!/bin/sh' 0755
    w "$t" /var/lib/systemd/random-seed 'RANDOMSEEDRANDOMSEED' 0600
    w "$t" /etc/NetworkManager/system-connections/eth0.nmconnection '[connection]
id=eth0
type=ethernet
interface-name=eth0

[ethernet]
mac-address=52:54:00:12:34:56

[ipv4]
method=auto' 0600
    w "$t" /etc/NetworkManager/NetworkManager.conf '[main] stays'
    w "$t" /var/lib/NetworkManager/internal-0123-eth0.lease 'ADDRESS=192.0.2.10'
    w "$t" /var/lib/NetworkManager/timestamps '[timestamps]'
}

# ---------------------------------------------------------------- families
redhat_tree() {
    local t=$1 id=$2 host=$3 mid=$4 rootspec=$5
    base_tree "$t" "$host" "$mid"
    w "$t" /etc/os-release "NAME=\"Fedora Linux\"
ID=$id
VERSION_ID=38
PRETTY_NAME=\"Fedora Linux 38\""
    w "$t" /etc/fedora-release 'Fedora release 38 (Thirty Eight)'
    w "$t" /etc/redhat-release 'Fedora release 38 (Thirty Eight)'
    w "$t" /etc/fstab "$rootspec / ext4 defaults 1 1"
    w "$t" /etc/selinux/config 'SELINUX=enforcing
SELINUXTYPE=targeted'
    w "$t" /etc/sysconfig/network "NETWORKING=yes
HOSTNAME=$host.example.com"
    w "$t" /etc/sysconfig/network-scripts/ifcfg-eth0 "DEVICE=eth0
BOOTPROTO=dhcp
ONBOOT=yes
HWADDR=52:54:00:12:34:56
HOSTNAME=$host
DHCP_HOSTNAME=$host"
    w "$t" /etc/sysconfig/network-scripts/ifcfg-lo 'DEVICE=lo
IPADDR=127.0.0.1'
    w "$t" /etc/sysconfig/rhn/systemid '<systemid/>'
    w "$t" /etc/sysconfig/hw-uuid 'hw-uuid'
    w "$t" /etc/smolt/uuid 'smolt'
    w "$t" /etc/pki/consumer/cert.pem 'consumer'
    w "$t" /etc/pki/entitlement/123.pem 'entitlement'
    w "$t" /var/lib/rpm/__db.001 'rpm lock'
    w "$t" /var/lib/rpm/__db.002 'rpm lock'
    w "$t" /var/lib/rpm/rpmdb.sqlite 'rpm database stays'
    w "$t" /var/lib/yum/uuid '6a1f5b0e-0000-4000-8000-000000000001'
    w "$t" /var/cache/dnf/fedora-1234/repodata/repomd.xml 'repomd'
    w "$t" /var/cache/dnf/packages.db 'dnf cache'
    w "$t" /var/cache/yum/x86_64/base/packages/a.rpm 'rpm'
    w "$t" /var/spool/abrt/ccpp-2024-01-01-00:00:00-1234/coredump 'core'
    w "$t" /var/spool/cron/root '0 * * * * /bin/true' 0600
    w "$t" /var/lib/dhclient/dhclient-eth0.leases 'lease { }'
    w "$t" /var/log/dnf.log 'dnf'
    w "$t" /var/log/yum.log 'yum'
    w "$t" /var/lib/dbus/machine-id "$mid"
}

debian_tree() {
    local t=$1
    base_tree "$t" deb-vm1 4b1c7e0f2a3d4c5e8f9a0b1c2d3e4f50
    w "$t" /etc/os-release 'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"
NAME="Debian GNU/Linux"
VERSION_ID="12"
VERSION_CODENAME=bookworm
ID=debian'
    w "$t" /etc/debian_version '12.5'
    w "$t" /etc/fstab '/dev/sda / ext4 errors=remount-ro 0 1'
    w "$t" /etc/network/interfaces 'auto lo
iface lo inet loopback

auto eth0
iface eth0 inet dhcp
    hwaddress ether 52:54:00:ab:cd:ef
    dns-search example.com'
    w "$t" /var/cache/apt/archives/bash_5.2_amd64.deb 'deb'
    mkdir -p "$t/var/cache/apt/archives/partial"
    w "$t" /var/cache/apt/pkgcache.bin 'apt cache'
    w "$t" /var/lib/apt/lists/deb.debian.org_debian_dists_bookworm_InRelease 'lists stay'
    w "$t" /var/lib/dpkg/status 'Package: bash'
    w "$t" /var/lib/dhcp/dhclient.eth0.leases 'lease { }'
    w "$t" /var/spool/cron/crontabs/alice '@daily true' 0600
    w "$t" /var/log/apt/history.log 'Start-Date'
    w "$t" /var/log/apt/term.log 'term'
    w "$t" /var/log/installer/syslog 'installer'
    w "$t" /var/log/exim4/mainlog 'exim'
    mkdir -p "$t/var/lib/dbus"
    ln -s /etc/machine-id "$t/var/lib/dbus/machine-id"
}

suse_tree() {
    local t=$1 uuid=$2
    base_tree "$t" suse-vm1 9e8d7c6b5a4f43218765fedcba987654
    w "$t" /etc/os-release 'NAME="openSUSE Leap"
VERSION="15.5"
ID="opensuse-leap"
ID_LIKE="suse opensuse"
VERSION_ID="15.5"'
    w "$t" /etc/SUSE-brand 'openSUSE'
    w "$t" /etc/fstab "UUID=$uuid / ext4 defaults 0 1"
    w "$t" /etc/HOSTNAME 'suse-vm1'
    w "$t" /etc/sysconfig/network/ifcfg-eth0 "BOOTPROTO='dhcp'
STARTMODE='auto'
LLADDR='52:54:00:aa:bb:cc'"
    w "$t" /etc/sysconfig/network/config 'NETCONFIG_DNS_POLICY="auto"'
    w "$t" /var/cache/zypp/packages/repo-oss/x86_64/bash.rpm 'rpm'
    w "$t" /var/cache/zypper/RPMS/a.rpm 'rpm'
    w "$t" /var/lib/wicked/lease-eth0-dhcp-ipv4.xml '<lease/>'
    w "$t" /var/lib/rpm/__db.001 'rpm lock'
    w "$t" /var/lib/rpm/Packages 'rpm database stays'
    w "$t" /var/spool/cron/tabs/root '@daily true' 0600
    w "$t" /var/log/zypper.log 'zypper'
    w "$t" /var/log/zypp/history 'zypp history'
}

# ---------------------------------------------------------------- trees
SUSE_UUID=5d1e7a2c-3b4f-4c6d-9e8f-0a1b2c3d4e5f
T=$WORK/trees
redhat_tree "$T/fedora" fedora fed-vm1 0f1e2d3c4b5a69788796a5b4c3d2e1f0 LABEL=fedroot
debian_tree "$T/debian"
suse_tree "$T/suse" "$SUSE_UUID"

# Two disks: the root (Fedora-like) on one, /home on the other by LABEL=.
redhat_tree "$T/twodisk-root" fedora two-vm1 11112222333344445555666677778888 LABEL=tworoot
w "$T/twodisk-root" /etc/fstab 'LABEL=tworoot / ext4 defaults 1 1
LABEL=twohome /home ext4 defaults 1 2'
mv "$T/twodisk-root/home" "$T/twodisk-home"
mkdir -p "$T/twodisk-root/home"
w "$T/twodisk-home" /bob/.bash_history 'cat /etc/shadow' 0600
w "$T/twodisk-home" /bob/.zsh_history ': 1700000000:0;ls' 0600
w "$T/twodisk-home" /bob/.ssh/authorized_keys 'ssh-ed25519 AAAA bob@laptop' 0600
w "$T/twodisk-home" /bob/Documents/plan.txt 'Bob keeps this.'
# a guest file name that would forge a line and clear a terminal (tmp-files
# removes it; the e2e test follows its name to vmsealctl status --files)
w "$T/twodisk-root" $'/var/tmp/two\nlines \e[2J' 'a name with a newline and an escape'
own "$T/twodisk-home" 1001:1001 /bob

# ---------------------------------------------------------------- layouts
LVM_ROOT_UUID=3f0a9c1e-52b4-4d8e-9a17-6c2e0b1d4a01
LVM_BOOT_UUID=3f0a9c1e-52b4-4d8e-9a17-6c2e0b1d4a02
USR_PARTUUID=7d4b2a10-9c3e-4f51-8a6b-0e1f2a3b4c5d
layout_tree() { # TREE HOST FSTAB
    debian_tree "$1"
    w "$1" /etc/hostname "$2"
    w "$1" /etc/fstab "$3"
    w "$1" /boot/grub/grub.cfg 'set default=0'
}
layout_tree "$T/lvm" lvm-vm1 "# <file system> <mount point> <type> <options> <dump> <pass>
# / was on /dev/mapper/vg0-root during installation
UUID=$LVM_ROOT_UUID /               xfs     defaults        0       1
# /boot was on /dev/sda1 during installation
UUID=$LVM_BOOT_UUID /boot           ext4    defaults        0       2
/dev/mapper/vg0-var /var            ext4    defaults        0       2
/dev/mapper/vg--data-srv--data /srv/data ext4 defaults     0       2
/dev/mapper/vg0-swap none           swap    sw              0       0
/dev/sr0        /media/cdrom0   udf,iso9660 user,noauto     0       0"
w "$T/lvm" /srv/data/keep.txt 'data volume content stays'
mkdir -p "$T/lvm/media/cdrom0"

layout_tree "$T/btrfs" btrfs-vm1 "LABEL=btrfsroot / btrfs defaults,subvol=@ 0 0
LABEL=btrfsroot /home btrfs defaults,subvolid=257 0 0
tmpfs /tmp tmpfs defaults 0 0"

# Fedora's layout (anaconda): subvolumes "root" and "home" of one btrfs
# filesystem, named by its UUID, compression on.
FEDBTRFS_UUID=b7e1c9a4-2d3f-4e5a-8b6c-7d8e9f0a1b2c
redhat_tree "$T/btrfs-fedora" fedora fbt-vm1 5a4b3c2d1e0f11223344556677889900 "UUID=$FEDBTRFS_UUID"
w "$T/btrfs-fedora" /etc/fstab "
#
# /etc/fstab
# Created by anaconda on Mon Apr 15 12:00:00 2024
#
UUID=$FEDBTRFS_UUID /                       btrfs   subvol=root,compress=zstd:1 0 0
UUID=$FEDBTRFS_UUID /home                   btrfs   subvol=home,compress=zstd:1 0 0"
# a systemd-nspawn container below the root: a Linux tree, not a root of its own
C=$T/btrfs-fedora/var/lib/machines/f38
w "$C" /usr/lib/os-release 'NAME="Fedora Linux"
ID=fedora
VERSION_ID=38'
mkdir -p "$C/etc"
ln -s ../usr/lib/os-release "$C/etc/os-release"
: > "$C/etc/fstab"
w "$C" /usr/bin/sh '#!/bin/true' 0755
w "$C" /etc/container-note 'an nspawn container stays as it is'

# openSUSE's layout: the root in the default subvolume (a snapper snapshot),
# fstab / without subvol=, /var and /home in subvolumes of "@".
SUSEBTRFS_UUID=c3d4e5f6-0718-4a29-8b3c-4d5e6f708192
suse_tree "$T/btrfs-default" "$SUSEBTRFS_UUID"
w "$T/btrfs-default" /etc/fstab "UUID=$SUSEBTRFS_UUID  /                       btrfs  defaults                      0  0
UUID=$SUSEBTRFS_UUID  /var                    btrfs  subvol=/@/var                 0  0
UUID=$SUSEBTRFS_UUID  /home                   btrfs  subvol=/@/home                0  0"
mkdir -p "$T/btrfs-default/.snapshots"

layout_tree "$T/usrvar" usrvar-vm1 "LABEL=uvroot / ext4 errors=remount-ro 0 1
PARTUUID=$USR_PARTUUID /usr ext4 defaults 0 2
/dev/mapper/vgvar-var /var ext4 defaults 0 2
LABEL=data\\040disk /srv/My\\040Data ext4 defaults 0 2
server:/export /mnt/nfs nfs defaults 0 0"
# merged /usr: os-release lives below /usr
mv "$T/usrvar/etc/os-release" "$T/usrvar/usr/lib/os-release" 2>/dev/null ||
    { mkdir -p "$T/usrvar/usr/lib"; mv "$T/usrvar/etc/os-release" "$T/usrvar/usr/lib/os-release"; }
ln -s ../usr/lib/os-release "$T/usrvar/etc/os-release"
w "$T/usrvar" "/srv/My Data/report.txt" 'a mount point with a space'
mkdir -p "$T/usrvar/mnt/nfs"

layout_tree "$T/luks" luks-vm1 "LABEL=luksroot / ext4 defaults 0 1
/dev/mapper/cryptdata /data ext4 defaults 0 2"
mkdir -p "$T/luks/data"

# A LUKS1 header (magic, version 1, cipher, uuid at 168): what blkid needs
# to call the partition crypto_LUKS; no key material.
{ printf 'LUKS\272\276\000\001aes'; head -c 29 /dev/zero; printf 'xts-plain64'; head -c 21 /dev/zero
  printf 'sha256'; head -c 90 /dev/zero; printf '6a3e6d1c-0b5f-4d7e-9a2c-1f0e3d4c5b6a'; head -c 356 /dev/zero
} > "$WORK/luks-header"

# split_tar TREE NAME DIR… - a tarball of TREE without DIR…'s contents
# (their mount points stay, empty), one per DIR as NAME-<dir>.tar.
split_tar() {
    local tree=$1 name=$2 d stage
    shift 2
    stage=$WORK/split-$name
    cp -a "$tree" "$stage"
    for d in "$@"; do
        tar -C "$stage$d" --numeric-owner -cf "$WORK/$name-$(echo "${d#/}" | tr '/ ' '__').tar" .
        find "$stage$d" -mindepth 1 -delete
    done
    tar -C "$stage" --numeric-owner -cf "$WORK/$name.tar" .
}
split_tar "$T/lvm" lvm /srv/data /var /boot
split_tar "$T/btrfs" btrfs /home
split_tar "$T/btrfs-fedora" btrfs-fedora /home
split_tar "$T/btrfs-default" btrfs-default /var /home
split_tar "$T/usrvar" usrvar "/srv/My Data" /var /usr
split_tar "$T/luks" luks

# Tarballs with numeric owners (the appliance has no alice/bob).
debian_tree "$T/bigfstab"

# Hostile content: symlinks that resolve into the appliance, FIFOs.
H=$T/hostile
debian_tree "$H"
w "$H" /etc/fstab 'LABEL=hostroot / ext4 defaults 0 1
LABEL=hostroot /x/usr/bin ext4 defaults 0 2'
rm -rf "$H/tmp" "$H/var/log" "$H/etc/hostname" "$H/etc/network/interfaces"
ln -s / "$H/tmp"
ln -s /usr/lib "$H/var/log"
ln -s / "$H/x"
w "$H" /usr/lib/keep.txt 'guest library file'
w "$H" /usr/lib/syslog 'a guest file named like a log'
mkfifo "$H/etc/hostname" "$H/etc/network/interfaces"
w "$H" $'/var/tmp/evil\nremoved tmp-files \e[2J' 'a name with a newline and an escape'

for g in fedora debian suse twodisk-root twodisk-home bigfstab hostile; do
    tar -C "$T/$g" --numeric-owner -cf "$WORK/$g.tar" .
done

# ---------------------------------------------------------------- images
for i in $IMAGES; do
    case $i in lvm) size=1G ;; btrfs*|usrvar-sys) size=512M ;; *) size=256M ;; esac
    qemu-img create -q -f qcow2 "$WORK/$i.qcow2" $size
done

# One appliance for everything.  Devices follow the order of -a.
guestfish --format=qcow2 \
    -a "$WORK/fedora.qcow2" -a "$WORK/debian.qcow2" -a "$WORK/suse.qcow2" \
    -a "$WORK/twodisk-root.qcow2" -a "$WORK/twodisk-home.qcow2" \
    -a "$WORK/windows.qcow2" -a "$WORK/lvm.qcow2" -a "$WORK/btrfs.qcow2" \
    -a "$WORK/usrvar-sys.qcow2" -a "$WORK/usrvar-var.qcow2" -a "$WORK/luks.qcow2" \
    -a "$WORK/bigfstab.qcow2" -a "$WORK/hostile.qcow2" \
    -a "$WORK/btrfs-fedora.qcow2" -a "$WORK/btrfs-default.qcow2" <<EOF
run
mkfs ext4 /dev/sda label:fedroot
mount /dev/sda /
tar-in $WORK/fedora.tar /
umount /
mkfs ext4 /dev/sdb label:debroot
mount /dev/sdb /
tar-in $WORK/debian.tar /
umount /
mkfs ext4 /dev/sdc label:suseroot
set-uuid /dev/sdc $SUSE_UUID
mount /dev/sdc /
tar-in $WORK/suse.tar /
umount /
mkfs ext4 /dev/sdd label:tworoot
mount /dev/sdd /
tar-in $WORK/twodisk-root.tar /
umount /
mkfs ext4 /dev/sde label:twohome
mount /dev/sde /
tar-in $WORK/twodisk-home.tar /
umount /
mkfs ntfs /dev/sdf
mount /dev/sdf /
mkdir-p /Windows/System32/config
mkdir-p /Windows/System32/drivers
mkdir-p /Users/Public
write /Windows/System32/config/SOFTWARE ""
write /Windows/System32/config/SYSTEM ""
write /Windows/System32/cmd.exe "MZ"
write /Windows/System32/ntoskrnl.exe "MZ"
write /pagefile.sys ""
umount /
part-init /dev/sdg gpt
part-add /dev/sdg p 2048 411647
part-add /dev/sdg p 411648 1845247
part-add /dev/sdg p 1845248 -34
pvcreate /dev/sdg2
pvcreate /dev/sdg3
vgcreate vg0 /dev/sdg2
vgcreate vg-data /dev/sdg3
lvcreate root vg0 400
lvcreate var vg0 200
lvcreate swap vg0 32
lvcreate srv-data vg-data 64
mkfs xfs /dev/vg0/root
set-uuid /dev/vg0/root $LVM_ROOT_UUID
mkfs ext4 /dev/sdg1
set-uuid /dev/sdg1 $LVM_BOOT_UUID
mkfs ext4 /dev/vg0/var
mkfs ext4 /dev/vg-data/srv-data
mkswap /dev/vg0/swap
mount /dev/vg0/root /
tar-in $WORK/lvm.tar /
mount /dev/sdg1 /boot
tar-in $WORK/lvm-boot.tar /boot
mount /dev/vg0/var /var
tar-in $WORK/lvm-var.tar /var
mount /dev/vg-data/srv-data /srv/data
tar-in $WORK/lvm-srv_data.tar /srv/data
umount-all
part-disk /dev/sdh gpt
mkfs btrfs /dev/sdh1 label:btrfsroot
mount /dev/sdh1 /
btrfs-subvolume-create /@
btrfs-subvolume-create /@home
umount /
mount-options subvol=@ /dev/sdh1 /
tar-in $WORK/btrfs.tar /
mount-options subvolid=257 /dev/sdh1 /home
tar-in $WORK/btrfs-home.tar /home
umount-all
part-init /dev/sdi gpt
part-add /dev/sdi p 2048 206847
part-add /dev/sdi p 206848 821247
part-add /dev/sdi p 821248 -34
part-set-gpt-guid /dev/sdi 2 $USR_PARTUUID
mkfs ext4 /dev/sdi1 label:uvroot
mkfs ext4 /dev/sdi2
mkfs ext4 /dev/sdi3 "label:data disk"
pvcreate /dev/sdj
vgcreate vgvar /dev/sdj
lvcreate var vgvar 200
mkfs ext4 /dev/vgvar/var
mount /dev/sdi1 /
tar-in $WORK/usrvar.tar /
mount /dev/sdi2 /usr
tar-in $WORK/usrvar-usr.tar /usr
mount /dev/vgvar/var /var
tar-in $WORK/usrvar-var.tar /var
mount /dev/sdi3 "/srv/My Data"
tar-in $WORK/usrvar-srv_My_Data.tar "/srv/My Data"
umount-all
part-init /dev/sdk gpt
part-add /dev/sdk p 2048 206847
part-add /dev/sdk p 206848 -34
mkfs ext4 /dev/sdk1 label:luksroot
mount /dev/sdk1 /
tar-in $WORK/luks.tar /
umount /
upload $WORK/luks-header /dev/sdk2
mkfs ext4 /dev/sdl
mount /dev/sdl /
tar-in $WORK/bigfstab.tar /
truncate-size /etc/fstab 8589934592
umount /
mkfs ext4 /dev/sdm label:hostroot
mount /dev/sdm /
tar-in $WORK/hostile.tar /
umount /
part-disk /dev/sdn gpt
mkfs btrfs /dev/sdn1 label:fedora
set-uuid /dev/sdn1 $FEDBTRFS_UUID
mount /dev/sdn1 /
btrfs-subvolume-create /root
btrfs-subvolume-create /home
mkdir-p /root/var/lib
btrfs-subvolume-create /root/var/lib/machines
btrfs-subvolume-create /root/var/lib/machines/f38
umount /
mount-options subvol=root /dev/sdn1 /
tar-in $WORK/btrfs-fedora.tar /
mount-options subvol=home /dev/sdn1 /home
tar-in $WORK/btrfs-fedora-home.tar /home
umount-all
part-disk /dev/sdo gpt
mkfs btrfs /dev/sdo1
set-uuid /dev/sdo1 $SUSEBTRFS_UUID
mount /dev/sdo1 /
btrfs-subvolume-create /@
btrfs-subvolume-create /@/.snapshots
mkdir /@/.snapshots/1
btrfs-subvolume-create /@/.snapshots/1/snapshot
btrfs-subvolume-create /@/home
btrfs-subvolume-create /@/var
btrfs-subvolume-set-default 258 /
umount /
mount /dev/sdo1 /
tar-in $WORK/btrfs-default.tar /
mount-options subvol=/@/var /dev/sdo1 /var
tar-in $WORK/btrfs-default-var.tar /var
mount-options subvol=/@/home /dev/sdo1 /home
tar-in $WORK/btrfs-default-home.tar /home
umount-all
shutdown
EOF

# Publish: images and reference trees, then the stamp.
rm -rf "$OUTDIR/trees"
mv "$T" "$OUTDIR/trees"
for i in $IMAGES; do mv -f "$WORK/$i.qcow2" "$OUTDIR/$i.qcow2"; done
printf '%s\n' "$LVM_ROOT_UUID" > "$OUTDIR/lvm.root-uuid"
chmod a-w "$OUTDIR"/*.qcow2
echo "$script_hash" > "$OUTDIR/stamp"
awk -v t0="$t0" -v t1="$(date +%s.%N)" -v o="$OUTDIR" -v i="$IMAGES" \
    'BEGIN { printf "guests: built %s in %s in %.1f s\n", i, o, t1 - t0 }'
