/* seal_ops_edit.c - the operations that do more than remove paths by glob:
 * they edit files, walk trees, or change LVM metadata.
 */
#include <fnmatch.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "err.h"
#include "seal_ops.h"
#include "seal_text.h"
#include "util.h"

static bool backup_name_matches(const char *name) {
    return fnmatch("*.bak", name, FNM_NOESCAPE) == 0 || fnmatch("*~", name, FNM_NOESCAPE) == 0;
}

int seal_op_backup_files(struct seal_ctx *ctx) {
    static const char *const tops[] = { "/etc", "/root", "/srv", "/tmp", "/var" };
    for (size_t i = 0; i < ARRAY_SIZE(tops); i++) {
        int r = seal_rm_walk(ctx, tops[i], backup_name_matches, false);
        if (r < 0)
            return r;
    }
    return 0;
}

int seal_op_lvm_uuids(struct seal_ctx *ctx) {
    if (!ctx->has_lvm)
        return 0; /* root discovery saw no PV: spare the two lvm runs */
    const char *const feature[] = { "lvm2", NULL };
    int r = guestfs_feature_available(ctx->g, (char *const *)feature);
    if (r <= 0)
        return r < 0 ? seal_gerr(ctx, "feature_available lvm2") : 0;
    char **pvs = guestfs_pvs(ctx->g);
    if (!pvs)
        return seal_gerr(ctx, "pvs");
    char **vgs = guestfs_vgs(ctx->g);
    if (!vgs) {
        seal_strv_free(pvs);
        return seal_gerr(ctx, "vgs");
    }
    r = 0;
    if (pvs[0] && guestfs_pvchange_uuid_all(ctx->g) < 0)
        r = seal_gerr(ctx, "pvchange_uuid_all");
    for (char **p = pvs; r == 0 && *p; p++)
        seal_note_changed(ctx, *p);
    if (r == 0 && vgs[0] && guestfs_vgchange_uuid_all(ctx->g) < 0)
        r = seal_gerr(ctx, "vgchange_uuid_all");
    for (char **p = vgs; r == 0 && *p; p++) {
        _cleanup_free_ char *name = xasprintf("/dev/%s", *p);
        seal_note_changed(ctx, name);
    }
    seal_strv_free(pvs);
    seal_strv_free(vgs);
    return r;
}

int seal_op_machine_id(struct seal_ctx *ctx) {
    static const char *const paths[] = { "/etc/machine-id", "/var/lib/dbus/machine-id" };
    for (size_t i = 0; i < ARRAY_SIZE(paths); i++) {
        /* Regular files only: /var/lib/dbus/machine-id is often a symlink. */
        int r = seal_path_contained(ctx, paths[i]);
        if (r < 0)
            return r;
        if (r == 0)
            continue;
        r = seal_lstat_type(ctx, paths[i]);
        if (r < 0)
            return r;
        if (r != S_IFREG)
            continue;
        int64_t size = guestfs_filesize(ctx->g, paths[i]);
        if (size < 0)
            return seal_gerr(ctx, paths[i]);
        if (size == 0)
            continue;
        if (guestfs_truncate(ctx->g, paths[i]) < 0)
            return seal_gerr(ctx, paths[i]);
        seal_note_changed(ctx, paths[i]);
    }
    return 0;
}

static int filter_glob(struct seal_ctx *ctx, const char *glob, const char *const *keys) {
    char **paths = NULL;
    int r = seal_glob(ctx, glob, &paths);
    for (char **p = paths; r == 0 && p && *p; p++)
        r = seal_filter_lines(ctx, *p, seal_text_keep_unless_key, keys);
    seal_strv_free(paths);
    return r;
}

static const char *ifcfg_glob(const struct seal_ctx *ctx) {
    return ctx->family == SEAL_FAMILY_SUSE ? "/etc/sysconfig/network/ifcfg-*"
                                           : "/etc/sysconfig/network-scripts/ifcfg-*";
}

int seal_op_net_hostname(struct seal_ctx *ctx) {
    return filter_glob(ctx, ifcfg_glob(ctx), seal_keys_ifcfg_hostname);
}

int seal_op_net_hwaddr(struct seal_ctx *ctx) { return filter_glob(ctx, ifcfg_glob(ctx), seal_keys_ifcfg_hwaddr); }

int seal_op_net_nmconn(struct seal_ctx *ctx) {
    return seal_rm_globs(ctx,
                         (const char *const[]){ "/etc/NetworkManager/system-connections/*.nmconnection", NULL },
                         SEAL_RM_FILES);
}

int seal_op_net_interfaces_hwaddr(struct seal_ctx *ctx) {
    int r = filter_glob(ctx, "/etc/network/interfaces", seal_keys_interfaces_hwaddr);
    return r < 0 ? r : filter_glob(ctx, "/etc/network/interfaces.d/*", seal_keys_interfaces_hwaddr);
}

int seal_op_net_nm_macaddr(struct seal_ctx *ctx) {
    return filter_glob(ctx, "/etc/NetworkManager/system-connections/*", seal_keys_nm_macaddr);
}

/* Remove the accounting files in dir, then leave an empty pacct (as
 * virt-sysprep does, so accounting keeps working). */
static int pacct_in(struct seal_ctx *ctx, const char *dir) {
    int r = seal_path_contained(ctx, dir);
    if (r <= 0)
        return r;
    r = seal_lstat_type(ctx, dir);
    if (r != S_IFDIR)
        return r < 0 ? r : 0;
    _cleanup_free_ char *glob = xasprintf("%s/pacct*", dir);
    _cleanup_free_ char *base = xasprintf("%s/pacct", dir);
    unsigned before = ctx->cur ? ctx->cur->removed : 0;
    r = seal_rm_globs(ctx, (const char *const[]){ glob, NULL }, SEAL_RM_FILES);
    if (r < 0 || (ctx->cur && ctx->cur->removed == before))
        return r;
    if (guestfs_touch(ctx->g, base) < 0)
        return seal_gerr(ctx, base);
    return 0;
}

int seal_op_pacct_log(struct seal_ctx *ctx) {
    int r = pacct_in(ctx, "/var/account");
    return r < 0 ? r : pacct_in(ctx, "/var/log/account");
}

/* apt: only the files below archives/ (virt-sysprep's behaviour; apt wants
 * archives/partial to stay).  dnf, yum, zypper: whole cached repositories
 * go, as their tools rebuild them (virt-sysprep keeps the empty directory
 * skeleton, which only hides how stale the template is). */
int seal_op_package_manager_cache(struct seal_ctx *ctx) {
    int r = seal_rm_files_below(ctx, "/var/cache/apt/archives");
    if (r == 0)
        r = seal_rm_globs(
            ctx, (const char *const[]){ "/var/cache/dnf/*", "/var/cache/yum/*", "/var/cache/zypp*/*", NULL },
            SEAL_RM_RF);
    return r;
}

/* Write content to path unless it already holds exactly that. */
static int write_if_different(struct seal_ctx *ctx, const char *path, const char *content) {
    char *old = NULL;
    size_t old_len = 0;
    /* Never written through a symlink, never into a FIFO or device. */
    int r = seal_path_contained(ctx, path);
    if (r <= 0)
        return r;
    int type = seal_lstat_type(ctx, path);
    if (type < 0)
        return type;
    if (type != 0 && type != S_IFREG) {
        seal_note_skipped(ctx, path, "not a regular file");
        return 0;
    }
    r = seal_read(ctx, path, &old, &old_len);
    if (r < 0)
        return r;
    bool same = old && old_len == strlen(content) && memcmp(old, content, old_len) == 0;
    free(old);
    if (same)
        return 0;
    if (guestfs_write(ctx->g, path, content, strlen(content)) < 0)
        return seal_gerr(ctx, path);
    seal_note_changed(ctx, path);
    return 0;
}

int seal_op_hostname(struct seal_ctx *ctx) {
    _cleanup_free_ char *content = xasprintf("%s\n", ctx->hostname);
    int r = seal_lstat_type(ctx, "/etc");
    if (r != S_IFDIR)
        return r < 0 ? r : 0;
    r = write_if_different(ctx, "/etc/hostname", content);
    if (r < 0)
        return r;
    /* SUSE's /etc/HOSTNAME, only where it exists as a regular file. */
    r = seal_lstat_type(ctx, "/etc/HOSTNAME");
    if (r < 0)
        return r;
    if (r == S_IFREG && (r = write_if_different(ctx, "/etc/HOSTNAME", content)) < 0)
        return r;
    /* Red Hat's /etc/sysconfig/network: replace HOSTNAME=, keep the rest. */
    char *net = NULL;
    size_t net_len = 0;
    r = seal_read(ctx, "/etc/sysconfig/network", &net, &net_len);
    if (r < 0 || !net)
        return r;
    _cleanup_free_ char *out = seal_text_sysconfig_network(net, net_len, ctx->hostname);
    free(net);
    return out ? write_if_different(ctx, "/etc/sysconfig/network", out) : 0;
}

int seal_op_selinux_relabel(struct seal_ctx *ctx) {
    if (!ctx->selinux_relabel)
        return 0;
    char *cfg = NULL;
    size_t len = 0;
    int r = seal_read(ctx, "/etc/selinux/config", &cfg, &len);
    if (r < 0 || !cfg)
        return r;
    bool enabled = seal_text_selinux_enabled(cfg, len);
    free(cfg);
    if (!enabled)
        return 0;
    if (guestfs_touch(ctx->g, "/.autorelabel") < 0)
        return seal_gerr(ctx, "/.autorelabel");
    seal_note_changed(ctx, "/.autorelabel");
    return 0;
}
