/* seal_ops.c - the sysprep operations table and the operations.
 *
 * The names, defaults, descriptions and order are the wire vocabulary
 * (proto/sysprep_ops.h, PROTO_SYSPREP_OPS); the table below adds each
 * operation's function, distro families and whether it runs on devices.
 *
 * The default set is every operation virt-sysprep 1.48 enables by default,
 * doing the same to the guest filesystem (paths taken from guestfs-tools
 * 1.48), with these deliberate differences:
 *   - machine-id: /etc/machine-id and /var/lib/dbus/machine-id are left
 *     EMPTY.  virt-sysprep's "customize" step refills them with one random id
 *     that every clone of the template then shares.
 *   - customize (default in virt-sysprep) is not an operation here: with no
 *     options its only effects are that new machine-id and new random-seed
 *     contents (again identical in every clone).  We empty the machine id and
 *     remove the seed files instead (random-seed).
 *   - script (default, but a no-op without --script) does not exist here.
 *   - ipa-client removes the IPA CA files but does not rebuild the guest's CA
 *     store (virt-sysprep runs update-ca-trust in the guest for that).
 * Then the operations vmseal adds beyond virt-sysprep: hostname, net-interfaces-hwaddr,
 * net-nm-macaddr, lvm-system-devices, cloud-init-state, random-seed,
 * zsh-history, selinux-relabel.
 */
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "err.h"
#include "seal_ops.h"
#include "sysprep_ops.h"
#include "util.h"

#define GLOBS(...) ((const char *const[]){ __VA_ARGS__, NULL })

typedef int (*seal_op_fn)(struct seal_ctx *ctx);

struct seal_op {
    struct seal_op_info info;
    seal_op_fn fn;
    bool on_devices; /* runs before the filesystems are mounted read-write */
};

/* ---- simple glob removals ---- */

static int op_abrt_data(struct seal_ctx *ctx) {
    return seal_rm_globs(ctx, GLOBS("/var/spool/abrt/*"), SEAL_RM_RF);
}

static int op_bash_history(struct seal_ctx *ctx) {
    return seal_rm_globs(ctx, GLOBS("/root/.bash_history", "/home/*/.bash_history"), SEAL_RM_FILES);
}

static int op_blkid_tab(struct seal_ctx *ctx) {
    return seal_rm_globs(ctx,
                         GLOBS("/var/run/blkid.tab", "/var/run/blkid.tab.old", "/etc/blkid/blkid.tab",
                               "/etc/blkid/blkid.tab.old", "/etc/blkid.tab", "/etc/blkid.tab.old",
                               "/dev/.blkid.tab", "/dev/.blkid.tab.old"),
                         SEAL_RM_NOSYMLINK);
}

static int op_crash_data(struct seal_ctx *ctx) {
    return seal_rm_globs(ctx, GLOBS("/var/crash/*", "/var/log/dump/*"), SEAL_RM_RF);
}

static int op_cron_spool(struct seal_ctx *ctx) {
    /* Files only: Debian's /var/spool/cron/crontabs (mode 1730, group
     * crontab) must survive for crontab(1) to work. */
    int r = seal_rm_files_below(ctx, "/var/spool/cron");
    if (r == 0)
        r = seal_rm_globs(ctx,
                          GLOBS("/var/spool/atjobs/*", "/var/spool/atjobs/.SEQ", "/var/spool/atspool/*",
                                "/var/spool/at/*", "/var/spool/at/.SEQ", "/var/spool/at/spool/*"),
                          SEAL_RM_FILES);
    return r;
}

static int op_dhcp_client_state(struct seal_ctx *ctx) {
    /* virt-sysprep's two, then NetworkManager's internal client, dhcpcd and
     * wicked (SUSE) leases, which it misses. */
    return seal_rm_globs(ctx,
                         GLOBS("/var/lib/dhclient/*", "/var/lib/dhcp/*", "/var/lib/NetworkManager/*.lease",
                               "/var/lib/NetworkManager/dhclient-*", "/var/lib/dhcpcd/*.lease",
                               "/var/lib/wicked/lease-*"),
                         SEAL_RM_RF);
}

static int op_dhcp_server_state(struct seal_ctx *ctx) {
    return seal_rm_globs(ctx, GLOBS("/var/lib/dhcpd/*"), SEAL_RM_RF);
}

static int op_dovecot_data(struct seal_ctx *ctx) {
    return seal_rm_globs(ctx, GLOBS("/var/lib/dovecot/*"), SEAL_RM_FILES);
}

static int op_ipa_client(struct seal_ctx *ctx) {
    return seal_rm_globs(ctx,
                         GLOBS("/etc/ipa/ca.crt", "/etc/ipa/default.conf", "/var/lib/ipa-client/sysrestore/*",
                               "/var/lib/ipa-client/pki/*", "/etc/pki/ca-trust/source/anchors/ipa-ca.crt",
                               "/usr/local/share/ca-certificates/ipa-ca.crt",
                               "/etc/pki/ca-trust/source/ipa.p11-kit"),
                         SEAL_RM_FILES);
}

static int op_kerberos_hostkeytab(struct seal_ctx *ctx) {
    return seal_rm_globs(ctx, GLOBS("/etc/krb5.keytab"), SEAL_RM_FILES);
}

static int op_logfiles(struct seal_ctx *ctx) {
    return seal_rm_globs(
        ctx,
        GLOBS("/etc/Pegasus/*.cnf", "/etc/Pegasus/*.crt", "/etc/Pegasus/*.csr", "/etc/Pegasus/*.pem",
              "/etc/Pegasus/*.srl", "/root/anaconda-ks.cfg", "/root/anaconda-post.log",
              "/root/initial-setup-ks.cfg", "/root/install.log", "/root/install.log.syslog",
              "/root/original-ks.cfg", "/var/cache/fontconfig/*", "/var/cache/gdm/*", "/var/cache/man/*",
              "/var/lib/AccountService/users/*", "/var/lib/fprint/*", "/var/lib/logrotate.status",
              "/var/log/*.log*", "/var/log/BackupPC/LOG", "/var/log/ConsoleKit/*", "/var/log/anaconda.syslog",
              "/var/log/anaconda/*", "/var/log/apache2/*_log", "/var/log/apache2/*_log-*", "/var/log/apt/*",
              "/var/log/aptitude*", "/var/log/audit/*", "/var/log/btmp*", "/var/log/ceph/*.log",
              "/var/log/chrony/*.log", "/var/log/cron*", "/var/log/cups/*_log*", "/var/log/debug*",
              "/var/log/dmesg*", "/var/log/exim4/*", "/var/log/faillog*", "/var/log/firewalld*", "/var/log/gdm/*",
              "/var/log/glusterfs/*glusterd.vol.log", "/var/log/glusterfs/glusterfs.log", "/var/log/grubby*",
              "/var/log/httpd/*log", "/var/log/installer/*", "/var/log/jetty/jetty-console.log",
              "/var/log/journal/*", "/var/log/lastlog*", "/var/log/libvirt/libvirtd.log",
              "/var/log/libvirt/libxl/*.log", "/var/log/libvirt/lxc/*.log", "/var/log/libvirt/qemu/*.log",
              "/var/log/libvirt/uml/*.log", "/var/log/lightdm/*", "/var/log/mail/*", "/var/log/maillog*",
              "/var/log/messages*", "/var/log/ntp", "/var/log/ntpstats/*", "/var/log/ppp/connect-errors",
              "/var/log/rhsm/*", "/var/log/sa/*", "/var/log/secure*", "/var/log/setroubleshoot/*.log",
              "/var/log/spooler*", "/var/log/squid/*.log", "/var/log/syslog*", "/var/log/tallylog*",
              "/var/log/tuned/tuned.log", "/var/log/wtmp*", "/var/log/xferlog*", "/var/named/data/named.run"),
        SEAL_RM_RF);
}

static int op_mail_spool(struct seal_ctx *ctx) {
    return seal_rm_globs(ctx, GLOBS("/var/spool/mail/*", "/var/mail/*"), SEAL_RM_RF);
}

static int op_pam_data(struct seal_ctx *ctx) {
    return seal_rm_globs(ctx, GLOBS("/var/run/console/*", "/var/run/faillock/*", "/var/run/sepermit/*"),
                         SEAL_RM_FILES);
}

static int op_passwd_backups(struct seal_ctx *ctx) {
    return seal_rm_globs(
        ctx, GLOBS("/etc/group-", "/etc/gshadow-", "/etc/passwd-", "/etc/shadow-", "/etc/subgid-", "/etc/subuid-"),
        SEAL_RM_FILES);
}

static int op_puppet_data_log(struct seal_ctx *ctx) {
    return seal_rm_globs(ctx, GLOBS("/var/log/puppet/*", "/var/lib/puppet/*/*", "/var/lib/puppet/*/*/*"),
                         SEAL_RM_FILES);
}

static int op_rh_subscription_manager(struct seal_ctx *ctx) {
    return seal_rm_globs(ctx, GLOBS("/etc/pki/consumer/*", "/etc/pki/entitlement/*"), SEAL_RM_RF);
}

static int op_rhn_systemid(struct seal_ctx *ctx) {
    return seal_rm_globs(ctx, GLOBS("/etc/sysconfig/rhn/systemid", "/etc/sysconfig/rhn/osad-auth.conf"),
                         SEAL_RM_FILES);
}

static int op_rpm_db(struct seal_ctx *ctx) {
    return seal_rm_globs(ctx, GLOBS("/var/lib/rpm/__db.*"), SEAL_RM_FILES);
}

static int op_samba_db_log(struct seal_ctx *ctx) {
    return seal_rm_globs(
        ctx, GLOBS("/var/log/samba/old/*", "/var/log/samba/*", "/var/lib/samba/*/*", "/var/lib/samba/*"),
        SEAL_RM_FILES);
}

static int op_smolt_uuid(struct seal_ctx *ctx) {
    return seal_rm_globs(ctx, GLOBS("/etc/sysconfig/hw-uuid", "/etc/smolt/uuid", "/etc/smolt/hw-uuid"),
                         SEAL_RM_FILES);
}

static int op_ssh_hostkeys(struct seal_ctx *ctx) {
    return seal_rm_globs(ctx, GLOBS("/etc/ssh/*_host_*"), SEAL_RM_FILES);
}

static int op_ssh_userdir(struct seal_ctx *ctx) {
    return seal_rm_globs(ctx, GLOBS("/root/.ssh", "/home/*/.ssh"), SEAL_RM_RF);
}

static int op_sssd_db_log(struct seal_ctx *ctx) {
    return seal_rm_globs(ctx, GLOBS("/var/log/sssd/*", "/var/lib/sss/db/*"), SEAL_RM_FILES);
}

static int op_tmp_files(struct seal_ctx *ctx) {
    /* Everything in /tmp and /var/tmp, dot files included: one ls each. */
    static const char *const dirs[] = { "/tmp", "/var/tmp" };
    for (size_t i = 0; i < ARRAY_SIZE(dirs); i++) {
        /* A symlinked /tmp (to "/", say) resolves in the appliance: left alone. */
        int r = seal_lstat_type(ctx, dirs[i]);
        if (r < 0)
            return r;
        if (r != S_IFDIR || seal_path_contained(ctx, dirs[i]) <= 0)
            continue;
        char **names = guestfs_ls(ctx->g, dirs[i]);
        if (!names)
            return seal_gerr(ctx, dirs[i]);
        for (char **n = names; *n && r >= 0; n++) {
            _cleanup_free_ char *path = xasprintf("%s/%s", dirs[i], *n);
            r = seal_rm_path(ctx, path, SEAL_RM_RF);
        }
        seal_strv_free(names);
        if (r < 0)
            return r;
    }
    return 0;
}

static int op_udev_persistent_net(struct seal_ctx *ctx) {
    return seal_rm_globs(ctx, GLOBS("/etc/udev/rules.d/70-persistent-net.rules"), SEAL_RM_FILES);
}

static int op_utmp(struct seal_ctx *ctx) { return seal_rm_globs(ctx, GLOBS("/var/run/utmp"), SEAL_RM_FILES); }

static int op_yum_uuid(struct seal_ctx *ctx) {
    return seal_rm_globs(ctx, GLOBS("/var/lib/yum/uuid"), SEAL_RM_FILES);
}

static int op_firewall_rules(struct seal_ctx *ctx) {
    return seal_rm_globs(ctx,
                         GLOBS("/etc/sysconfig/iptables", "/etc/firewalld/services/*", "/etc/firewalld/zones/*"),
                         SEAL_RM_FILES);
}

static int op_kerberos_data(struct seal_ctx *ctx) {
    return seal_rm_globs(ctx, GLOBS("/var/kerberos/krb5kdc/*"), SEAL_RM_FILES);
}

static int op_flag_reconfiguration(struct seal_ctx *ctx) {
    if (guestfs_touch(ctx->g, "/.unconfigured") < 0)
        return seal_gerr(ctx, "/.unconfigured");
    seal_note_changed(ctx, "/.unconfigured");
    return 0;
}

/* The extras beyond virt-sysprep that are plain removals. */

static int op_lvm_system_devices(struct seal_ctx *ctx) {
    return seal_rm_globs(ctx, GLOBS("/etc/lvm/devices/system.devices"), SEAL_RM_FILES);
}

static int op_cloud_init_state(struct seal_ctx *ctx) {
    return seal_rm_globs(ctx, GLOBS("/var/lib/cloud/instance*", "/var/lib/cloud/data"), SEAL_RM_RF);
}

static int op_random_seed(struct seal_ctx *ctx) {
    return seal_rm_globs(ctx,
                         GLOBS("/var/lib/systemd/random-seed", "/var/lib/random-seed",
                               "/var/lib/urandom/random-seed", "/var/lib/misc/random-seed", "/etc/random-seed"),
                         SEAL_RM_FILES);
}

static int op_zsh_history(struct seal_ctx *ctx) {
    return seal_rm_globs(ctx, GLOBS("/root/.zsh_history", "/home/*/.zsh_history"), SEAL_RM_FILES);
}

#define ALL     SEAL_FAMILY_ALL
#define RH      SEAL_FAMILY_REDHAT
#define RH_SUSE (SEAL_FAMILY_REDHAT | SEAL_FAMILY_SUSE)

/* What only the worker knows about each operation of the wire vocabulary
 * (proto/sysprep_ops.h, which has the names, defaults and descriptions):
 * IMPL_<IDENT> = function, runs on devices, families.  A vocabulary entry
 * without its IMPL_ line does not compile. */
#define IMPL_ABRT_DATA               op_abrt_data, false, ALL
#define IMPL_BACKUP_FILES            seal_op_backup_files, false, ALL
#define IMPL_BASH_HISTORY            op_bash_history, false, ALL
#define IMPL_BLKID_TAB               op_blkid_tab, false, ALL
#define IMPL_CRASH_DATA              op_crash_data, false, ALL
#define IMPL_CRON_SPOOL              op_cron_spool, false, ALL
#define IMPL_DHCP_CLIENT_STATE       op_dhcp_client_state, false, ALL
#define IMPL_DHCP_SERVER_STATE       op_dhcp_server_state, false, ALL
#define IMPL_DOVECOT_DATA            op_dovecot_data, false, ALL
#define IMPL_IPA_CLIENT              op_ipa_client, false, ALL
#define IMPL_KERBEROS_HOSTKEYTAB     op_kerberos_hostkeytab, false, ALL
#define IMPL_LOGFILES                op_logfiles, false, ALL
#define IMPL_LVM_UUIDS               seal_op_lvm_uuids, true, ALL
#define IMPL_MAIL_SPOOL              op_mail_spool, false, ALL
#define IMPL_NET_HOSTNAME            seal_op_net_hostname, false, RH_SUSE
#define IMPL_NET_HWADDR              seal_op_net_hwaddr, false, RH_SUSE
#define IMPL_NET_NMCONN              seal_op_net_nmconn, false, RH
#define IMPL_PACCT_LOG               seal_op_pacct_log, false, ALL
#define IMPL_PACKAGE_MANAGER_CACHE   seal_op_package_manager_cache, false, ALL
#define IMPL_PAM_DATA                op_pam_data, false, ALL
#define IMPL_PASSWD_BACKUPS          op_passwd_backups, false, ALL
#define IMPL_PUPPET_DATA_LOG         op_puppet_data_log, false, ALL
#define IMPL_RH_SUBSCRIPTION_MANAGER op_rh_subscription_manager, false, ALL
#define IMPL_RHN_SYSTEMID            op_rhn_systemid, false, ALL
#define IMPL_RPM_DB                  op_rpm_db, false, ALL
#define IMPL_SAMBA_DB_LOG            op_samba_db_log, false, ALL
#define IMPL_SMOLT_UUID              op_smolt_uuid, false, ALL
#define IMPL_SSH_HOSTKEYS            op_ssh_hostkeys, false, ALL
#define IMPL_SSH_USERDIR             op_ssh_userdir, false, ALL
#define IMPL_SSSD_DB_LOG             op_sssd_db_log, false, ALL
#define IMPL_TMP_FILES               op_tmp_files, false, ALL
#define IMPL_UDEV_PERSISTENT_NET     op_udev_persistent_net, false, ALL
#define IMPL_UTMP                    op_utmp, false, ALL
#define IMPL_YUM_UUID                op_yum_uuid, false, ALL
#define IMPL_HOSTNAME                seal_op_hostname, false, ALL
#define IMPL_NET_INTERFACES_HWADDR   seal_op_net_interfaces_hwaddr, false, ALL
#define IMPL_NET_NM_MACADDR          seal_op_net_nm_macaddr, false, ALL
#define IMPL_LVM_SYSTEM_DEVICES      op_lvm_system_devices, false, ALL
#define IMPL_CLOUD_INIT_STATE        op_cloud_init_state, false, ALL
#define IMPL_RANDOM_SEED             op_random_seed, false, ALL
#define IMPL_ZSH_HISTORY             op_zsh_history, false, ALL
#define IMPL_MACHINE_ID              seal_op_machine_id, false, ALL
#define IMPL_SELINUX_RELABEL         seal_op_selinux_relabel, false, ALL
#define IMPL_FIREWALL_RULES          op_firewall_rules, false, ALL
#define IMPL_FLAG_RECONFIGURATION    op_flag_reconfiguration, false, ALL
#define IMPL_KERBEROS_DATA           op_kerberos_data, false, ALL

#define OP_IMPL_(ident)                              IMPL_##ident
#define OP_MAKE_(name, default_on, description, ...) OP_MAKE2_(name, default_on, description, __VA_ARGS__)
#define OP_MAKE2_(name, default_on, description, fn, on_devices, families) \
    { { name, default_on, description, families }, fn, on_devices }
#define OP_ENTRY_(ident, name, default_on, description) \
    [PROTO_SYSPREP_OP_##ident] = OP_MAKE_(name, default_on, description, OP_IMPL_(ident)),

static const struct seal_op ops[] = { PROTO_SYSPREP_OPS(OP_ENTRY_) };

_Static_assert(ARRAY_SIZE(ops) == PROTO_SYSPREP_N_OPS, "one row per operation");
_Static_assert(ARRAY_SIZE(ops) <= ARRAY_SIZE(((struct seal_report *)0)->ops),
               "seal_report.ops too small for the operations table");

size_t seal_ops_count(void) { return ARRAY_SIZE(ops); }

const struct seal_op_info *seal_op_info_get(size_t i) { return i < ARRAY_SIZE(ops) ? &ops[i].info : NULL; }

int seal_ops_select(const struct proto_sysprep *sysprep, bool *ret_selected, char why[ERR_WHY_LEN]) {
    /* ops[] is indexed like the vocabulary: its resolver is ours. */
    return proto_sysprep_select(sysprep, ret_selected, why, ERR_WHY_LEN);
}

static size_t count_selected(const bool *selected, bool on_devices) {
    size_t n = 0;
    for (size_t i = 0; i < ARRAY_SIZE(ops); i++)
        n += selected[i] && ops[i].on_devices == on_devices;
    return n;
}

static int run_one(struct seal_ctx *ctx, size_t i, struct seal_report *report) {
    const struct seal_op *op = &ops[i];
    struct seal_op_result *res = &report->ops[report->n_ops++];
    *res = (struct seal_op_result){ .name = op->info.name };
    if (ctx->cb)
        ctx->cb(ctx->ud, SEAL_EV_OP_START, op->info.name, ctx->percent, op->info.description);
    int r = 0;
    int64_t t0 = time_mono_ms();
    if (op->info.families & ctx->family) {
        ctx->cur = res;
        r = op->fn(ctx);
        ctx->cur = NULL;
    }
    res->ms = time_mono_ms() - t0;
    report->removed_total += res->removed;
    report->changed_total += res->changed;
    if (r < 0)
        return r;
    if (ctx->cb) {
        char detail[64];
        snprintf(detail, sizeof(detail), "removed=%u changed=%u ms=%lld", res->removed, res->changed,
                 (long long)res->ms);
        ctx->cb(ctx->ud, SEAL_EV_OP_DONE, op->info.name, ctx->percent, detail);
    }
    return 0;
}

static int run_set(struct seal_ctx *ctx, const bool *selected, bool on_devices, int pct_from, int pct_to,
                   struct seal_report *report) {
    size_t n = count_selected(selected, on_devices), done = 0;
    for (size_t i = 0; i < ARRAY_SIZE(ops); i++) {
        if (!selected[i] || ops[i].on_devices != on_devices)
            continue;
        ctx->percent = pct_from + (int)((pct_to - pct_from) * done / (n ? n : 1));
        if (ctx->cancel_cb && ctx->cancel_cb(ctx->ud)) {
            snprintf(ctx->why, ERR_WHY_LEN, "cancelled before operation %s", ops[i].info.name);
            return -VMS_E_CANCELLED;
        }
        int r = run_one(ctx, i, report);
        if (r < 0) {
            /* Name the failing operation in front of the guestfs message. */
            size_t len = strlen(ctx->why);
            char *copy = xstrndup(ctx->why, len);
            snprintf(ctx->why, ERR_WHY_LEN, "%s: %s", ops[i].info.name, copy);
            free(copy);
            return r;
        }
        done++;
    }
    ctx->percent = pct_to;
    return 0;
}

int seal_ops_run(struct seal_ctx *ctx, const bool *selected, int pct_from, int pct_to,
                 struct seal_report *report) {
    return run_set(ctx, selected, false, pct_from, pct_to, report);
}

int seal_ops_run_devices(struct seal_ctx *ctx, const bool *selected, struct seal_report *report) {
    return run_set(ctx, selected, true, ctx->percent, ctx->percent, report);
}
