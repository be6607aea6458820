# expect.sh - what `vmseal-worker seal` (default operations) must do to the
# test guests of tests/guests/build.sh.  Sourced by test_seal_guests.sh.
#
# GONE lines: "OPERATION FAMILIES PATH…".  FAMILIES is A (every Linux guest)
# or letters: F Fedora-like (fedora and the two-disk guest), D Debian-like,
# S SUSE-like, T the two-disk guest only.  Each PATH must be removed.
# Where an operation may keep a directory skeleton (package caches), the
# files are listed, not their directories.
GONE_TABLE=$(cat <<'EOF'
abrt-data F /var/spool/abrt/ccpp-2024-01-01-00:00:00-1234
backup-files A /etc/resolv.conf.bak /etc/fstab~ /root/notes~ /srv/data.txt.bak /var/lib/misc/state.bak
bash-history A /root/.bash_history /home/alice/.bash_history
bash-history T /home/bob/.bash_history
blkid-tab A /etc/blkid/blkid.tab /etc/blkid.tab
crash-data A /var/crash/127.0.0.1-2024-01-01
cron-spool A /var/spool/at/a0001a01 /var/spool/atjobs/a0002
cron-spool F /var/spool/cron/root
cron-spool D /var/spool/cron/crontabs/alice
cron-spool S /var/spool/cron/tabs/root
dhcp-client-state F /var/lib/dhclient/dhclient-eth0.leases
dhcp-client-state D /var/lib/dhcp/dhclient.eth0.leases
dhcp-client-state A /var/lib/NetworkManager/internal-0123-eth0.lease
dhcp-client-state S /var/lib/wicked/lease-eth0-dhcp-ipv4.xml
dhcp-server-state A /var/lib/dhcpd/dhcpd.leases
dovecot-data A /var/lib/dovecot/instances
ipa-client A /etc/ipa/ca.crt /etc/ipa/default.conf /var/lib/ipa-client/sysrestore/sysrestore.state
kerberos-hostkeytab A /etc/krb5.keytab
logfiles A /var/log/messages /var/log/syslog /var/log/secure /var/log/cron /var/log/dmesg /var/log/boot.log /var/log/wtmp /var/log/btmp /var/log/lastlog /var/log/faillog /var/log/tallylog /var/log/maillog /var/log/debug /var/log/xferlog /var/log/spooler /var/log/kern.log /var/log/messages-20240101 /var/log/cloud-init.log
logfiles A /var/log/audit/audit.log /var/log/anaconda/anaconda.log /var/log/httpd/access_log /var/log/sa/sa01 /var/log/ntpstats/loopstats /var/lib/logrotate.status /var/cache/man/index.db /var/cache/fontconfig/abc-le64.cache-7 /root/anaconda-ks.cfg /root/install.log
logfiles F /var/log/dnf.log /var/log/yum.log
logfiles D /var/log/apt/history.log /var/log/apt/term.log /var/log/installer/syslog /var/log/exim4/mainlog
logfiles S /var/log/zypper.log
mail-spool A /var/spool/mail/alice /var/mail/root
package-manager-cache F /var/cache/dnf/fedora-1234/repodata/repomd.xml /var/cache/dnf/packages.db /var/cache/yum/x86_64/base/packages/a.rpm
package-manager-cache D /var/cache/apt/archives/bash_5.2_amd64.deb
package-manager-cache S /var/cache/zypp/packages/repo-oss/x86_64/bash.rpm /var/cache/zypper/RPMS/a.rpm
pam-data A /var/run/console/alice /var/run/faillock/alice /var/run/sepermit/alice
passwd-backups A /etc/passwd- /etc/group- /etc/shadow- /etc/gshadow- /etc/subuid- /etc/subgid-
puppet-data-log A /var/log/puppet/puppet.log /var/lib/puppet/ssl/certs/host.pem
rh-subscription-manager F /etc/pki/consumer/cert.pem /etc/pki/entitlement/123.pem
rhn-systemid F /etc/sysconfig/rhn/systemid
rpm-db F /var/lib/rpm/__db.001 /var/lib/rpm/__db.002
rpm-db S /var/lib/rpm/__db.001
samba-db-log A /var/lib/samba/private/secrets.tdb /var/log/samba/log.smbd
smolt-uuid F /etc/smolt/uuid /etc/sysconfig/hw-uuid
ssh-hostkeys A /etc/ssh/ssh_host_rsa_key /etc/ssh/ssh_host_rsa_key.pub /etc/ssh/ssh_host_ecdsa_key /etc/ssh/ssh_host_ecdsa_key.pub /etc/ssh/ssh_host_ed25519_key /etc/ssh/ssh_host_ed25519_key.pub
ssh-userdir A /root/.ssh /home/alice/.ssh
ssh-userdir T /home/bob/.ssh
sssd-db-log A /var/lib/sss/db/cache_default.ldb /var/log/sssd/sssd.log
tmp-files A /tmp/build.log /tmp/.hidden-lock /tmp/session /var/tmp/cache.bin /var/tmp/.hidden
udev-persistent-net A /etc/udev/rules.d/70-persistent-net.rules
utmp A /var/run/utmp
yum-uuid F /var/lib/yum/uuid
net-nmconn F /etc/NetworkManager/system-connections/eth0.nmconnection
lvm-system-devices A /etc/lvm/devices/system.devices
cloud-init-state A /var/lib/cloud/instance /var/lib/cloud/instances /var/lib/cloud/data
random-seed A /var/lib/systemd/random-seed
zsh-history A /root/.zsh_history /home/alice/.zsh_history
zsh-history T /home/bob/.zsh_history
EOF
)

# STAY lines: "FAMILIES PATH…": byte-identical to the pristine tree (content,
# type, mode, owner).
STAY_TABLE=$(cat <<'EOF'
A /etc/passwd /etc/group /etc/shadow /etc/gshadow /etc/subuid /etc/subgid /etc/fstab /etc/os-release
A /etc/hosts /etc/resolv.conf /etc/ssh/sshd_config /etc/ssh/ssh_config /etc/krb5.conf /etc/lvm/lvm.conf
A /root/.bashrc /home/alice/.bashrc /home/alice/Documents/notes.txt /usr/bin/hello /bin/sh /srv/data.txt
A /etc/udev/rules.d/99-local.rules /var/lib/cloud/scripts/per-boot/keep.sh
A /etc/NetworkManager/NetworkManager.conf /var/lib/NetworkManager/timestamps
F /var/lib/rpm/rpmdb.sqlite /etc/selinux/config /etc/sysconfig/network-scripts/ifcfg-lo /etc/fedora-release
D /var/lib/apt/lists/deb.debian.org_debian_dists_bookworm_InRelease /var/lib/dpkg/status /etc/debian_version /var/lib/dbus/machine-id
S /var/lib/rpm/Packages /etc/sysconfig/network/config /etc/SUSE-brand
T /home/bob/Documents/plan.txt
EOF
)

# applies FAMILIES CODES - true when a table line's FAMILIES covers a guest
# whose codes are CODES (e.g. "FT" for the two-disk guest).
applies() {
    [ "$1" = A ] && return 0
    local i
    for ((i = 0; i < ${#1}; i++)); do
        case $2 in *"${1:$i:1}"*) return 0 ;; esac
    done
    return 1
}

# check_gone_table TREE LABEL CODES [DISABLED_OPS…] - every GONE path of the
# guest is removed, except those of disabled operations, which must stay
# byte-identical (REF = pristine tree in $REF_TREE).
check_gone_table() {
    local t=$1 label=$2 codes=$3; shift 3
    local disabled=" $* " op fams paths
    while read -r op fams paths; do
        [ -n "$op" ] || continue
        applies "$fams" "$codes" || continue
        # shellcheck disable=SC2086
        if [[ $disabled == *" $op "* ]]; then
            check_same "$t" "$REF_TREE" "$label (--disable $op)" $paths
        else
            check_gone "$t" "$label ($op)" $paths
        fi
    done <<< "$GONE_TABLE"
}

# check_stay_table TREE LABEL CODES - every STAY path is byte-identical.
check_stay_table() {
    local t=$1 label=$2 codes=$3 fams paths
    while read -r fams paths; do
        [ -n "$fams" ] || continue
        applies "$fams" "$codes" || continue
        # shellcheck disable=SC2086
        check_same "$t" "$REF_TREE" "$label (must stay)" $paths
    done <<< "$STAY_TABLE"
}
