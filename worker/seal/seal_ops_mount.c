/* seal_ops_mount.c - mount the guest's filesystems by its own /etc/fstab.
 *
 * The root (found by seal.c) is mounted read-write at "/"; then each fstab
 * entry that names a local filesystem (UUID=, LABEL=, PARTUUID=,
 * /dev/disk/by-{uuid,label}/…, /dev/…) is resolved to an appliance device and
 * mounted, parents before children (mount-point depth order).  Swap, network
 * and virtual filesystems and bind mounts are skipped.  An entry whose device
 * is not in this guest, or whose mount point does not exist, is skipped and
 * reported; a device that exists but fails to mount fails the job (sealing
 * half a guest silently is worse than failing).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "err.h"
#include "seal_ops.h"
#include "util.h"

struct fstab_entry {
    char *spec, *mp, *type, *opts;
    int depth;
};

static void report(struct seal_ctx *ctx, const char *fmt, const char *a, const char *b)
{
    if (!ctx->cb)
        return;
    char msg[512];
    snprintf(msg, sizeof(msg), fmt, a, b);
    ctx->cb(ctx->ud, SEAL_EV_PHASE, "mount", ctx->percent, msg);
}

/* fstab escapes spaces and friends as \ooo. */
static char *unescape(const char *s)
{
    char *out = xmalloc(strlen(s) + 1), *o = out;
    for (; *s; s++) {
        if (s[0] == '\\' && s[1] >= '0' && s[1] <= '3' && s[2] >= '0' && s[2] <= '7' &&
            s[3] >= '0' && s[3] <= '7') {
            *o++ = (char)((s[1] - '0') * 64 + (s[2] - '0') * 8 + (s[3] - '0'));
            s += 3;
        } else {
            *o++ = *s;
        }
    }
    *o = '\0';
    return out;
}

static bool has_opt(const char *opts, const char *name)
{
    size_t n = strlen(name);
    for (const char *p = opts; p && *p;) {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        if (len == n && strncmp(p, name, n) == 0)
            return true;
        p = comma ? comma + 1 : NULL;
    }
    return false;
}

static bool entry_skipped(const struct fstab_entry *e)
{
    static const char *const types[] = {
        "swap", "none", "nfs", "nfs4", "cifs", "smbfs", "smb3", "ceph", "glusterfs", "9p",
        "virtiofs", "tmpfs", "ramfs", "proc", "sysfs", "devpts", "devtmpfs", "securityfs",
        "cgroup", "cgroup2", "debugfs", "tracefs", "hugetlbfs", "mqueue", "efivarfs",
        "autofs", "overlay", "fuse", "fuse.sshfs", "binfmt_misc", "iso9660", "udf", NULL,
    };
    if (e->mp[0] != '/' || strcmp(e->mp, "/") == 0)
        return true;
    if (has_opt(e->opts, "bind") || has_opt(e->opts, "rbind"))
        return true;
    for (const char *const *t = types; *t; t++)
        if (strcmp(e->type, *t) == 0)
            return true;
    return strncmp(e->spec, "/dev/", 5) != 0 && !strchr(e->spec, '=');
}

static size_t fstab_parse(char *buf, struct fstab_entry **ret)
{
    size_t n = 0, cap = 8;
    struct fstab_entry *v = xcalloc(cap, sizeof(*v));
    for (char *save = NULL, *line = strtok_r(buf, "\n", &save); line;
         line = strtok_r(NULL, "\n", &save)) {
        char *f[4] = { NULL }, *fsave = NULL;
        size_t k = 0;
        for (char *tok = strtok_r(line, " \t", &fsave); tok && k < 4; tok = strtok_r(NULL, " \t", &fsave))
            f[k++] = tok;
        if (k < 3 || f[0][0] == '#')
            continue;
        struct fstab_entry e = {
            .spec = unescape(f[0]), .mp = unescape(f[1]), .type = xstrdup(f[2]),
            .opts = xstrdup(k > 3 ? f[3] : "defaults"),
        };
        size_t mlen = strlen(e.mp);
        while (mlen > 1 && e.mp[mlen - 1] == '/')
            e.mp[--mlen] = '\0';
        for (const char *p = e.mp; *p; p++)
            e.depth += *p == '/';
        if (n == cap)
            v = xrealloc(v, (cap *= 2) * sizeof(*v));
        v[n++] = e;
    }
    *ret = v;
    return n;
}

static void fstab_free(struct fstab_entry *v, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(v[i].spec);
        free(v[i].mp);
        free(v[i].type);
        free(v[i].opts);
    }
    free(v);
}

/* The partition whose GPT/MBR PARTUUID is uuid; NULL if none. */
static char *find_partuuid(struct seal_ctx *ctx, const char *uuid)
{
    char **parts = guestfs_list_partitions(ctx->g);
    char *found = NULL;
    for (char **p = parts; p && *p && !found; p++) {
        char **kv = guestfs_blkid(ctx->g, *p);
        for (size_t i = 0; kv && kv[i] && kv[i + 1]; i += 2)
            if (strcmp(kv[i], "PARTUUID") == 0 && strcasecmp(kv[i + 1], uuid) == 0)
                found = xstrdup(*p);
        seal_strv_free(kv);
    }
    seal_strv_free(parts);
    return found;
}

/* Appliance device for an fstab spec; NULL when it is not in this guest. */
static char *resolve(struct seal_ctx *ctx, const char *spec)
{
    if (strncmp(spec, "UUID=", 5) == 0)
        return guestfs_findfs_uuid(ctx->g, spec + 5);
    if (strncmp(spec, "LABEL=", 6) == 0)
        return guestfs_findfs_label(ctx->g, spec + 6);
    if (strncmp(spec, "PARTUUID=", 9) == 0)
        return find_partuuid(ctx, spec + 9);
    if (strncmp(spec, "/dev/disk/by-uuid/", 18) == 0)
        return guestfs_findfs_uuid(ctx->g, spec + 18);
    if (strncmp(spec, "/dev/disk/by-label/", 19) == 0)
        return guestfs_findfs_label(ctx->g, spec + 19);
    if (strncmp(spec, "/dev/", 5) == 0) {
        /* The daemon translates /dev/vdX and /dev/hdX to its own names. */
        char *dev = guestfs_canonical_device_name(ctx->g, spec);
        if (!dev)
            return NULL;
        int r = guestfs_is_blockdev_opts(ctx->g, dev, GUESTFS_IS_BLOCKDEV_OPTS_FOLLOWSYMLINKS, 1, -1);
        if (r > 0)
            return dev;
        free(dev);
        return NULL;
    }
    return NULL;
}

/* subvol= from the fstab options (btrfs), passed on to mount. */
static char *mount_options_of(const char *opts)
{
    for (const char *p = opts; p && *p;) {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        if (strncmp(p, "subvol=", 7) == 0 || strncmp(p, "subvolid=", 9) == 0)
            return xstrndup(p, len);
        p = comma ? comma + 1 : NULL;
    }
    return xstrdup("");
}

static int mount_entry(struct seal_ctx *ctx, const struct fstab_entry *e)
{
    char *dev = resolve(ctx, e->spec);
    if (!dev) {
        report(ctx, "fstab: %s for %s is not on these disks, skipped", e->spec, e->mp);
        return 0;
    }
    int r = guestfs_is_dir_opts(ctx->g, e->mp, GUESTFS_IS_DIR_OPTS_FOLLOWSYMLINKS, 0, -1);
    if (r <= 0) {
        free(dev);
        if (r < 0)
            return seal_gerr(ctx, e->mp);
        report(ctx, "fstab: mount point %s missing in the guest, %s skipped", e->mp, e->spec);
        return 0;
    }
    _cleanup_free_ char *opts = mount_options_of(e->opts);
    r = 0;
    if (guestfs_mount_options(ctx->g, opts, dev, e->mp) < 0) {
        _cleanup_free_ char *what = xasprintf("mount %s (%s) on %s", e->spec, dev, e->mp);
        r = seal_gerr(ctx, what);
    } else {
        report(ctx, "mounted %s on %s", dev, e->mp);
    }
    free(dev);
    return r;
}

int seal_fstab_mount(struct seal_ctx *ctx, const char *root)
{
    if (guestfs_mount_options(ctx->g, "", root, "/") < 0)
        return seal_gerr(ctx, root);
    char *buf = NULL;
    size_t len = 0;
    int r = seal_read(ctx, "/etc/fstab", &buf, &len);
    if (r < 0 || !buf)
        return r;
    struct fstab_entry *v = NULL;
    size_t n = fstab_parse(buf, &v);
    free(buf);
    /* Parents first: stable order by depth. */
    for (int depth = 1; r == 0 && depth < 64; depth++)
        for (size_t i = 0; i < n && r == 0; i++)
            if (v[i].depth == depth && !entry_skipped(&v[i]))
                r = mount_entry(ctx, &v[i]);
    fstab_free(v, n);
    return r;
}
