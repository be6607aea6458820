/* seal_ops_mount.c - the guest's block devices, and its filesystems mounted
 * by its own /etc/fstab (seal_fstab.c parses and resolves).
 *
 * Never a silent partial seal: seal_fstab_plan() runs before anything is
 * written.  It mounts the root and every fstab filesystem READ-ONLY, exactly
 * as the read-write mount will, and fails with -VMS_E_INCOMPLETE_GUEST naming
 * the fstab line when one that the guest mounts at boot is not on the disks,
 * or its mount point is missing or below a symlink, or it does not mount.
 * The operator may accept such a line by its mount point (allow_missing);
 * noauto / nofail lines are sealed when they mount and noted when not.
 * seal_fstab_mount() then mounts the same plan read-write.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "err.h"
#include "seal_ops.h"
#include "util.h"

/* ---- block devices ---- */

/* The value of key in blkid's "-o export" output, which escapes blanks and
 * shell characters with a backslash ("data\ disk"). */
static char *kv_get(char **kv, const char *key) {
    for (size_t i = 0; kv && kv[i] && kv[i + 1]; i += 2) {
        if (strcmp(kv[i], key) != 0)
            continue;
        char *v = xstrdup(kv[i + 1]), *o = v;
        for (const char *p = kv[i + 1]; *p; p++)
            *o++ = p[0] == '\\' && p[1] ? *++p : *p;
        *o = '\0';
        return v;
    }
    return NULL;
}

/* blkid of one device (kv: taken before, else NULL); a device with nothing
 * on it makes blkid fail: it then has empty attributes. */
static void blockdev_probe(struct seal_ctx *ctx, struct seal_blockdev *b, char **kv) {
    if (!kv)
        kv = guestfs_blkid(ctx->g, b->dev);
    b->type = kv_get(kv, "TYPE");
    b->uuid = kv_get(kv, "UUID");
    b->label = kv_get(kv, "LABEL");
    b->partuuid = kv_get(kv, "PART_ENTRY_UUID");
    if (!b->partuuid)
        b->partuuid = kv_get(kv, "PARTUUID");
    b->partlabel = kv_get(kv, "PART_ENTRY_NAME");
    if (!b->type)
        b->type = xstrdup("");
    seal_strv_free(kv);
}

static char *strip_dashes(char *s) {
    char *o = s;
    for (char *p = s; p && *p; p++)
        if (*p != '-')
            *o++ = *p;
    if (o)
        *o = '\0';
    return s;
}

static struct seal_blockdev *blockdev_add(struct seal_ctx *ctx, const char *dev, int disk, int part) {
    ctx->devs = xrealloc(ctx->devs, (ctx->n_devs + 1) * sizeof(*ctx->devs));
    struct seal_blockdev *b = &ctx->devs[ctx->n_devs++];
    *b = (struct seal_blockdev){ .dev = xstrdup(dev), .disk = disk, .part = part };
    char **kv = NULL;
    if (part == 0 && disk >= 0 && ctx->disk_blkid) { /* taken while the disk was plugged (seal_warm.c) */
        kv = ctx->disk_blkid[disk];
        ctx->disk_blkid[disk] = NULL;
    }
    blockdev_probe(ctx, b, kv);
    return b;
}

static int lvs_add(struct seal_ctx *ctx) {
    char **lvs = guestfs_lvs(ctx->g);
    if (!lvs)
        return seal_gerr(ctx, "lvs");
    for (char **l = lvs; *l; l++) {
        const char *vg = *l + 5, *slash = strchr(vg, '/');
        if (strncmp(*l, "/dev/", 5) != 0 || !slash)
            continue;
        struct seal_blockdev *b = blockdev_add(ctx, *l, -1, 0);
        b->vg = xstrndup(vg, (size_t)(slash - vg));
        b->lv = xstrdup(slash + 1);
    }
    seal_strv_free(lvs);
    return 0;
}

/* The device-mapper UUID of every logical volume (for fstab's
 * /dev/disk/by-id/dm-uuid-LVM-…): two LVM calls per volume (≈0.5 s under
 * TCG), so only when an fstab line needs them. */
static void dm_uuids_fill(struct seal_ctx *ctx) {
    for (size_t i = 0; i < ctx->n_devs; i++) {
        struct seal_blockdev *b = &ctx->devs[i];
        if (!b->vg || b->dm_uuid)
            continue;
        char *vg_uuid = strip_dashes(guestfs_vguuid(ctx->g, b->vg));
        char *lv_uuid = strip_dashes(guestfs_lvuuid(ctx->g, b->dev));
        if (vg_uuid && lv_uuid)
            b->dm_uuid = xasprintf("LVM-%s%s", vg_uuid, lv_uuid);
        free(vg_uuid);
        free(lv_uuid);
    }
}

/* The partition number of part when it is a partition of the whole-disk
 * device dev (/dev/sdc -> /dev/sdc2, /dev/nvme0n1 -> /dev/nvme0n1p2), else 0. */
static int partition_of(const char *part, const char *dev) {
    size_t n = strlen(dev);
    if (strncmp(part, dev, n) != 0)
        return 0;
    const char *p = part + n;
    if (*p == 'p' && n > 0 && dev[n - 1] >= '0' && dev[n - 1] <= '9')
        p++;
    if (*p < '1' || *p > '9' || strspn(p, "0123456789") != strlen(p))
        return 0;
    return atoi(p);
}

int seal_blockdevs_collect(struct seal_ctx *ctx) {
    /* The guest's disks: hot-plugged into a warm appliance (ctx->disk_devs,
     * seal_warm.c), or every device of a cold one. */
    char **devs = ctx->disk_devs ? seal_strv_copy(ctx->disk_devs) : guestfs_list_devices(ctx->g);
    if (!devs)
        return seal_gerr(ctx, "list_devices");
    char **parts = guestfs_list_partitions(ctx->g);
    if (!parts) {
        seal_strv_free(devs);
        return seal_gerr(ctx, "list_partitions");
    }
    for (char **d = devs; *d; d++)
        ctx->n_disks++;
    for (int i = 0; devs[i]; i++) {
        bool partitioned = false;
        for (char **p = parts; *p; p++) {
            int part = partition_of(*p, devs[i]);
            if (part > 0) {
                blockdev_add(ctx, *p, i, part);
                partitioned = true;
            }
        }
        if (!partitioned)
            blockdev_add(ctx, devs[i], i, 0);
    }
    seal_strv_free(parts);
    seal_strv_free(devs);
    bool lvm = false;
    for (size_t i = 0; i < ctx->n_devs; i++)
        lvm |= strcmp(ctx->devs[i].type, "LVM2_member") == 0;
    ctx->has_lvm = lvm;
    /* A cold appliance activates every volume group at boot; disks
     * hot-plugged later are the caller's to activate. */
    if (lvm && ctx->disk_devs && guestfs_vg_activate_all(ctx->g, 1) < 0)
        return seal_gerr(ctx, "vg_activate_all");
    return lvm ? lvs_add(ctx) : 0;
}

/* ---- the plan ---- */

static void note(struct seal_ctx *ctx, const char *msg) {
    if (ctx->cb)
        ctx->cb(ctx->ud, SEAL_EV_PHASE, "mount", ctx->percent, msg);
}

static bool allowed_missing(const struct seal_ctx *ctx, const char *mountpoint) {
    for (size_t i = 0; i < ctx->n_allow_missing; i++)
        if (strcmp(ctx->allow_missing[i], mountpoint) == 0)
            return true;
    return false;
}

/* An fstab line that cannot be sealed: refused, or accepted and recorded. */
static int entry_missing(struct seal_ctx *ctx, const struct seal_fstab_entry *e, const char *why) {
    struct seal_report *rep = ctx->report;
    bool allowed = allowed_missing(ctx, e->mountpoint);
    if (e->cls == SEAL_FSTAB_BOOT && !allowed) {
        snprintf(ctx->why, ERR_WHY_LEN,
                 "fstab line %u \"%s\": %s; the guest mounts it at boot, so sealing without it "
                 "would be partial (accept with --allow-missing %s)",
                 e->lineno, e->line, why, e->mountpoint);
        return -VMS_E_INCOMPLETE_GUEST;
    }
    _cleanup_free_ char *msg = xasprintf("fstab line %u: %s for %s: %s; not sealed (%s)", e->lineno, e->spec,
                                         e->mountpoint, why, allowed ? "allowed missing" : "noauto/nofail");
    note(ctx, msg);
    if (rep && rep->n_missing < ARRAY_SIZE(rep->missing)) {
        struct seal_fs_info *m = &rep->missing[rep->n_missing++];
        snprintf(m->device, sizeof(m->device), "%s", e->spec);
        snprintf(m->type, sizeof(m->type), "%s", allowed ? "allowed" : "optional");
        snprintf(m->mountpoint, sizeof(m->mountpoint), "%s", e->mountpoint);
    }
    return 0;
}

/* The mount point and each directory above it is a real directory of the
 * guest, not a symlink (which the appliance would resolve against its own
 * tree).  Returns 1 when it is, 0 with why filled when not. */
static int mountpoint_ok(struct seal_ctx *ctx, const char *mp, char *why, size_t why_len) {
    _cleanup_free_ char *path = xstrdup(mp);
    for (char *p = path + 1;; p++) {
        if (*p != '/' && *p != '\0')
            continue;
        char c = *p;
        *p = '\0';
        int type = seal_lstat_type(ctx, path);
        if (type < 0)
            return type;
        if (type != S_IFDIR) {
            snprintf(why, why_len, "%s %s", path,
                     type == S_IFLNK ? "is a symlink in the guest" : "is not a directory in the guest");
            return 0;
        }
        if (c == '\0')
            return 1;
        *p = c;
    }
}

static int plan_add(struct seal_ctx *ctx, const char *dev, const char *mp, const char *opts) {
    ctx->plan = xrealloc(ctx->plan, (ctx->n_plan + 1) * sizeof(*ctx->plan));
    ctx->plan[ctx->n_plan++] = (struct seal_mount){
        .device = xstrdup(dev),
        .mountpoint = xstrdup(mp),
        .options = xstrdup(opts),
    };
    return 0;
}

/* Mount one entry read-only as planned; 0 also when it was accepted missing. */
static int plan_entry(struct seal_ctx *ctx, const struct seal_fstab_entry *e) {
    char why[256];
    int i = seal_fstab_resolve(ctx->devs, ctx->n_devs, ctx->n_disks, e->spec, why, sizeof(why));
    if (i < 0) {
        char msg[300];
        snprintf(msg, sizeof(msg), "%s: %s", e->spec, why);
        return entry_missing(ctx, e, msg);
    }
    const char *dev = ctx->devs[i].dev;
    int r = mountpoint_ok(ctx, e->mountpoint, why, sizeof(why));
    if (r <= 0)
        return r < 0 ? r : entry_missing(ctx, e, why);
    _cleanup_free_ char *opts = seal_fstab_mount_options(e->options);
    _cleanup_free_ char *ro = xasprintf("%s%s%s", seal_ro_options(ctx->devs[i].type), opts[0] ? "," : "", opts);
    if (guestfs_mount_options(ctx->g, ro, dev, e->mountpoint) < 0) {
        const char *msg = guestfs_last_error(ctx->g);
        snprintf(why, sizeof(why), "%s (%s) does not mount: %.*s", e->spec, dev, msg ? (int)strcspn(msg, "\n") : 0,
                 msg ? msg : "");
        return entry_missing(ctx, e, why);
    }
    return plan_add(ctx, dev, e->mountpoint, opts);
}

/* The guest's fstab, size and type checked. */
static int fstab_read(struct seal_ctx *ctx, struct seal_fstab_entry **ret, size_t *ret_n) {
    char *buf = NULL;
    size_t len = 0;
    *ret = NULL;
    *ret_n = 0;
    int r = seal_read(ctx, "/etc/fstab", &buf, &len);
    if (r < 0)
        return r;
    if (!buf) {
        snprintf(ctx->why, ERR_WHY_LEN,
                 "/etc/fstab is not a regular file: what the guest mounts "
                 "at boot is unknown, so a complete seal cannot be promised");
        return -VMS_E_INCOMPLETE_GUEST;
    }
    seal_fstab_parse(buf, len, ret, ret_n);
    free(buf);
    return 0;
}

/* The filesystem type of an appliance mountable (a device, or
 * btrfsvol:DEVICE/SUBVOLUME): what blkid said when the devices were
 * collected, else libguestfs' vfs_type (a blkid run in the appliance, ≈0.1 s
 * under TCG).  Malloc'd; NULL when unknown. */
static char *type_of(struct seal_ctx *ctx, const char *mountable) {
    const char *dev = strncmp(mountable, "btrfsvol:", 9) == 0 ? mountable + 9 : mountable;
    for (size_t i = 0; i < ctx->n_devs; i++) {
        const struct seal_blockdev *b = &ctx->devs[i];
        size_t n = strlen(b->dev);
        if (b->type[0] && strncmp(dev, b->dev, n) == 0 && (dev[n] == '\0' || (dev != mountable && dev[n] == '/')))
            return xstrdup(b->type);
    }
    return guestfs_vfs_type(ctx->g, mountable);
}

int seal_fstab_plan(struct seal_ctx *ctx, const char *root) {
    char *type = type_of(ctx, root);
    int m = guestfs_mount_options(ctx->g, seal_ro_options(type), root, "/");
    free(type);
    if (m < 0)
        return seal_gerr(ctx, root);
    struct seal_fstab_entry *v = NULL;
    size_t n = 0;
    int r = fstab_read(ctx, &v, &n);
    for (size_t i = 0; r == 0 && i < n; i++) {
        if (strncmp(v[i].spec, "/dev/disk/by-id/dm-uuid-", 24) == 0) {
            dm_uuids_fill(ctx);
            break;
        }
    }
    /* Parents first: stable order by depth. */
    for (int depth = 1; r == 0 && depth < 256; depth++)
        for (size_t i = 0; i < n && r == 0; i++)
            if (v[i].depth == depth && (v[i].cls == SEAL_FSTAB_BOOT || v[i].cls == SEAL_FSTAB_OPTIONAL))
                r = plan_entry(ctx, &v[i]);
    for (size_t i = 0; r == 0 && i < ctx->n_allow_missing; i++) {
        bool found = false;
        for (size_t k = 0; k < n; k++)
            found |= strcmp(v[k].mountpoint, ctx->allow_missing[i]) == 0;
        if (!found) {
            _cleanup_free_ char *msg =
                xasprintf("allow-missing %s: no fstab line mounts it", ctx->allow_missing[i]);
            note(ctx, msg);
        }
    }
    seal_fstab_free(v, n);
    if (guestfs_umount_all(ctx->g) < 0 && r == 0)
        r = seal_gerr(ctx, "umount_all");
    return r;
}

char *seal_dev_name(const struct seal_ctx *ctx, const char *mountable) {
    char *out = xstrdup(mountable);
    for (size_t i = 0; ctx->disk_devs && ctx->disk_devs[i]; i++) {
        const char *d = ctx->disk_devs[i], *at = strstr(out, d);
        size_t n = strlen(d);
        if (!at || (at[n] >= 'a' && at[n] <= 'z'))
            continue;
        char name[16];
        if (i < 26)
            snprintf(name, sizeof(name), "/dev/sd%c", (char)('a' + i));
        else
            snprintf(name, sizeof(name), "/dev/sd%c%c", (char)('a' + i / 26 - 1), (char)('a' + i % 26));
        char *fixed = xasprintf("%.*s%s%s", (int)(at - out), out, name, at + n);
        free(out);
        return fixed;
    }
    return out;
}

/* dev is the appliance mountable; options its btrfs subvolume, or "". */
static void fs_record(struct seal_ctx *ctx, const char *mountable, const char *options, const char *mp) {
    struct seal_report *rep = ctx->report;
    char *type = type_of(ctx, mountable);
    _cleanup_free_ char *name = seal_dev_name(ctx, mountable);
    _cleanup_free_ char *dev = options[0] ? xasprintf("%s:%s", name, options) : xstrdup(name);
    _cleanup_free_ char *msg = xasprintf("mounted %s (%s) on %s", dev, type ? type : "?", mp);
    note(ctx, msg);
    if (rep && rep->n_fs < ARRAY_SIZE(rep->fs)) {
        struct seal_fs_info *f = &rep->fs[rep->n_fs++];
        snprintf(f->device, sizeof(f->device), "%s", dev);
        snprintf(f->type, sizeof(f->type), "%s", type ? type : "?");
        snprintf(f->mountpoint, sizeof(f->mountpoint), "%s", mp);
    }
    free(type);
}

int seal_fstab_mount(struct seal_ctx *ctx, const char *root) {
    if (guestfs_mount_options(ctx->g, "", root, "/") < 0)
        return seal_gerr(ctx, root);
    fs_record(ctx, root, "", "/");
    for (size_t i = 0; i < ctx->n_plan; i++) {
        const struct seal_mount *m = &ctx->plan[i];
        if (guestfs_mount_options(ctx->g, m->options, m->device, m->mountpoint) < 0) {
            _cleanup_free_ char *what = xasprintf("mount %s on %s", m->device, m->mountpoint);
            return seal_gerr(ctx, what);
        }
        fs_record(ctx, m->device, m->options, m->mountpoint);
    }
    return 0;
}

void seal_disk_devs_free(struct seal_ctx *ctx) {
    for (size_t i = 0; ctx->disk_blkid && ctx->disk_devs && ctx->disk_devs[i]; i++)
        seal_strv_free(ctx->disk_blkid[i]);
    free(ctx->disk_blkid);
    ctx->disk_blkid = NULL;
    seal_strv_free(ctx->disk_devs);
    ctx->disk_devs = NULL;
}

void seal_plan_free(struct seal_ctx *ctx) {
    seal_contained_reset(ctx);
    for (size_t i = 0; i < ctx->n_plan; i++) {
        free(ctx->plan[i].device);
        free(ctx->plan[i].mountpoint);
        free(ctx->plan[i].options);
    }
    free(ctx->plan);
    ctx->plan = NULL;
    ctx->n_plan = 0;
    seal_blockdev_free(ctx->devs, ctx->n_devs);
    ctx->devs = NULL;
    ctx->n_devs = 0;
    ctx->n_disks = 0;
}
