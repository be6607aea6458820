/* seal.c - the seal engine: one libguestfs session per job (see seal.h).
 *
 * This is the one adapter between libguestfs' error style and the project's:
 * the handle has no error handler (nothing is printed), and every failed call
 * is turned into -VMS_E_GUESTFS with guestfs_last_error() by seal_gerr().
 *
 * Root discovery does not use guestfs_inspect_os (≈4.5 s under TCG, most of
 * it spent on things we do not need).  Each filesystem is mounted read-only
 * and probed with one lstatnslist call; the guest is refused before anything
 * is mounted read-write.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "err.h"
#include "seal_ops.h"
#include "seal_text.h"
#include "util.h"

int seal_gerr(struct seal_ctx *ctx, const char *what) {
    const char *msg = guestfs_last_error(ctx->g);
    if (!msg)
        msg = "libguestfs call failed";
    snprintf(ctx->why, ERR_WHY_LEN, "%s: %.*s", what, (int)strcspn(msg, "\n"), msg);
    return -VMS_E_GUESTFS;
}

static void note(struct seal_ctx *ctx, enum seal_event ev, const char *path) {
    if (ctx->cur) {
        if (ev == SEAL_EV_REMOVED)
            ctx->cur->removed++;
        else
            ctx->cur->changed++;
    }
    if (ctx->cb)
        ctx->cb(ctx->ud, ev, ctx->cur ? ctx->cur->name : NULL, ctx->percent, path);
}

void seal_note_removed(struct seal_ctx *ctx, const char *path) { note(ctx, SEAL_EV_REMOVED, path); }

void seal_note_changed(struct seal_ctx *ctx, const char *path) { note(ctx, SEAL_EV_CHANGED, path); }

const char *seal_family_to_string(enum seal_family f) {
    switch (f) {
    case SEAL_FAMILY_DEBIAN: return "debian";
    case SEAL_FAMILY_REDHAT: return "redhat";
    case SEAL_FAMILY_SUSE: return "suse";
    case SEAL_FAMILY_OTHER: return "other";
    case SEAL_FAMILY_ALL: return "all";
    }
    return "?";
}

static void phase(struct seal_ctx *ctx, const char *name, int percent, const char *detail) {
    ctx->percent = percent;
    if (ctx->cb)
        ctx->cb(ctx->ud, SEAL_EV_PHASE, name, percent, detail);
}

/* ---- handle setup ---- */

/* The qemu wrapper (libguestfs "QEMU WRAPPERS"), always:
 *   - qemu dies with the process that started it (setpriv --pdeathsig, from
 *     util-linux): libguestfs' recovery process, which otherwise kills it,
 *     is a fork of that process and dies with it when both are killed by
 *     name (pkill -f) or by process group, leaving the appliance running;
 *   - with force_tcg, qemu runs with "-machine accel=tcg", which cannot carry
 *     TCG's tb-size; tb != 0 turns it into "-accel tcg,tb-size=N";
 *   - with force_tcg (tb != 0) the emulated CPU "max" becomes "qemu64": with
 *     max, the appliance's programs take their AVX code paths, which TCG
 *     emulates slowly; qemu64 (SSE2) sealed the same guest in 10.8–11.2 s
 *     instead of 12.9–13.2 (launch, inspection and operations all faster);
 *   - the appliance's kernel is booted uncompressed (seal_kernel.c): the
 *     -kernel argument that names the appliance's bzImage is replaced by its
 *     ELF image, while the bzImage is still the file (size, inode) it was
 *     extracted from.
 * Every other argument is left alone. */
static const char hv_wrapper_fmt[] =
    "#!/bin/sh\n"
    "# vmseal: qemu for the seal engine (worker/seal/seal.c)\n"
    "tb=%d kernel='%s' vmlinux='%s' stamp='%s'\n"
    "if [ -n \"$vmlinux\" ] && [ \"$(stat -c %%s-%%i \"$kernel\" 2>/dev/null)\" != \"$stamp\" ]; then vmlinux=; "
    "fi\n"
    "n=0 held= k= c=\n"
    "for a do\n"
    "  if [ $n = 0 ]; then set --; n=1; fi\n"
    "  if [ -n \"$k\" ]; then k=; if [ -n \"$vmlinux\" ] && [ \"$a\" = \"$kernel\" ]; then a=$vmlinux; fi; fi\n"
    "  if [ -n \"$c\" ]; then c=; case $a in max|max,*) [ $tb != 0 ] && a=qemu64;; esac; fi\n"
    "  if [ -n \"$held\" ]; then\n"
    "    held=\n"
    "    if [ $tb != 0 ] && [ \"$a\" = accel=tcg ]; then set -- \"$@\" -accel tcg,tb-size=$tb; continue; fi\n"
    "    set -- \"$@\" -machine\n"
    "  fi\n"
    "  if [ \"$a\" = -machine ]; then held=1; continue; fi\n"
    "  if [ \"$a\" = -kernel ]; then k=1; fi\n"
    "  if [ \"$a\" = -cpu ]; then c=1; fi\n"
    "  set -- \"$@\" \"$a\"\n"
    "done\n"
    "if [ -n \"$held\" ]; then set -- \"$@\" -machine; fi\n"
    "d=; if command -v setpriv >/dev/null 2>&1; then d='setpriv --pdeathsig KILL'; fi\n"
    "exec $d '%s' \"$@\"\n";

static bool tcg_forced(guestfs_h *g) {
    char **v = guestfs_get_backend_settings(g);
    bool forced = false;
    for (char **p = v; p && *p; p++)
        forced |= strcmp(*p, "force_tcg") == 0;
    seal_strv_free(v);
    return forced;
}

/* A file holding script, executable: 0 with its path.  In libguestfs'
 * folder (when ours), named by the script's hash and kept: the same path
 * every launch, so libguestfs' cache of qemu's features (by path) holds
 * (probing costs ≈0.25 s under TCG).  Else a temporary file in TMPDIR that
 * the caller removes after the launch (*ret_temporary). */
static int wrapper_file(const char *cache, const char *script, char **ret_path, bool *ret_temporary) {
    uint64_t h = 1469598103934665603ULL; /* FNV-1a */
    for (const char *p = script; *p; p++)
        h = (h ^ (unsigned char)*p) * 1099511628211ULL;
    const char *tmp = getenv("TMPDIR");
    const char *dir = cache ? cache : tmp && *tmp ? tmp : "/tmp";
    struct statvfs vfs;
    if (statvfs(dir, &vfs) < 0 || (vfs.f_flag & ST_NOEXEC))
        return -EACCES; /* a wrapper there could not be executed */
    _cleanup_free_ char *stable = cache ? xasprintf("%s/vmseal-qemu-%016llx", cache, (unsigned long long)h) : NULL;
    if (stable && access(stable, X_OK) == 0) {
        *ret_path = xstrdup(stable);
        *ret_temporary = false;
        return 0;
    }
    char *path = xasprintf("%s/vmseal-qemu-XXXXXX", dir);
    int fd = mkstemp(path);
    bool ok = fd >= 0 && write_all(fd, script, strlen(script)) == 0 && fchmod(fd, 0700) == 0;
    if (fd >= 0)
        close(fd);
    if (ok && stable && rename(path, stable) == 0) {
        free(path);
        *ret_path = xstrdup(stable);
        *ret_temporary = false;
        return 0;
    }
    if (!ok) {
        if (fd >= 0)
            unlink(path);
        free(path);
        return -EIO;
    }
    *ret_path = path;
    *ret_temporary = true;
    return 0;
}

/* Best effort: without the wrapper the job still runs, only bigger and
 * slower (and its qemu left to libguestfs' recovery process).  tb 0 = no
 * tb-size; kernel NULL = no kernel substitution. */
static void hv_wrapper_install(struct seal_ctx *ctx, const char *cache, int tb, const char *kernel,
                               const char *vmlinux, const char *stamp) {
    char *hv = guestfs_get_hv(ctx->g);
    if (!kernel)
        kernel = vmlinux = stamp = "";
    if (!hv || strchr(hv, '\'') || strchr(kernel, '\'') || strchr(vmlinux, '\'')) {
        free(hv);
        return;
    }
    char *script = xasprintf(hv_wrapper_fmt, tb, kernel, vmlinux, stamp, hv);
    char *path = NULL;
    bool temporary = false;
    if (wrapper_file(cache, script, &path, &temporary) == 0) {
        if (guestfs_set_hv(ctx->g, path) == 0 && temporary) {
            ctx->hv_wrapper = path;
            path = NULL;
        } else if (temporary) {
            unlink(path);
        }
    }
    free(path);
    free(script);
    free(hv);
}

static void hv_wrapper_remove(struct seal_ctx *ctx) {
    if (ctx->hv_wrapper) {
        unlink(ctx->hv_wrapper);
        free(ctx->hv_wrapper);
        ctx->hv_wrapper = NULL;
    }
}

/* guestfs_launch fails with a generic last error ("guestfs_launch failed")
 * after the useful ones (qemu's, the backend's): keep the first message
 * raised while launching. */
static void launch_error_cb(guestfs_h *g, void *opaque, const char *msg) {
    struct seal_ctx *ctx = opaque;
    if (ctx->launching && !ctx->launch_err[0])
        snprintf(ctx->launch_err, sizeof(ctx->launch_err), "%.*s", (int)strcspn(msg, "\n"), msg);
}

int seal_launch(struct seal_ctx *ctx) {
    ctx->launching = true;
    ctx->launch_err[0] = '\0';
    int r = guestfs_launch(ctx->g);
    ctx->launching = false;
    hv_wrapper_remove(ctx); /* qemu runs by now (or never will) */
    if (r == 0)
        return 0;
    const char *last_full = guestfs_last_error(ctx->g);
    char last[256] = "";
    if (last_full)
        snprintf(last, sizeof(last), "%.*s", (int)strcspn(last_full, "\n"), last_full);
    snprintf(ctx->why, ERR_WHY_LEN, "launch: %s%s%s", ctx->launch_err[0] ? ctx->launch_err : "",
             ctx->launch_err[0] && strcmp(last, ctx->launch_err) != 0 ? " / " : "",
             strcmp(last, ctx->launch_err) != 0 ? last : "");
    return -VMS_E_GUESTFS;
}

int seal_handle_open(struct seal_ctx *ctx, const struct seal_opts *opts, const struct seal_disk *disks,
                     size_t n_disks) {
    /* guestfs_create() reads $LIBGUESTFS_BACKEND{,_SETTINGS}; configured
     * values override them below. */
    ctx->g = guestfs_create();
    if (!ctx->g) {
        snprintf(ctx->why, ERR_WHY_LEN, "cannot create libguestfs handle");
        return -VMS_E_GUESTFS;
    }
    /* Nothing printed; launch errors collected (see launch_error_cb). */
    guestfs_set_error_handler(ctx->g, launch_error_cb, ctx);
    if (opts && opts->backend && guestfs_set_backend(ctx->g, opts->backend) < 0)
        return seal_gerr(ctx, "set_backend");
    if (opts && opts->n_backend_settings > 0) {
        char **v = xcalloc(opts->n_backend_settings + 1, sizeof(*v));
        for (size_t i = 0; i < opts->n_backend_settings; i++)
            v[i] = opts->backend_settings[i];
        int r = guestfs_set_backend_settings(ctx->g, v);
        free(v);
        if (r < 0)
            return seal_gerr(ctx, "set_backend_settings");
    }
    int memsize = opts && opts->memsize_mb > 0 ? opts->memsize_mb : SEAL_DEFAULT_MEMSIZE_MB;
    if (guestfs_set_memsize(ctx->g, memsize) < 0)
        return seal_gerr(ctx, "set_memsize");
    if (opts && opts->smp > 1 && guestfs_set_smp(ctx->g, opts->smp) < 0)
        return seal_gerr(ctx, "set_smp");
    guestfs_set_program(ctx->g, "vmseal");
    bool dry_run = opts && opts->dry_run;
    if (opts && opts->verbose && guestfs_set_verbose(ctx->g, 1) < 0)
        return seal_gerr(ctx, "set_verbose");
    if (opts && opts->trace && guestfs_set_trace(ctx->g, 1) < 0)
        return seal_gerr(ctx, "set_trace");
    int tb_mb = opts && opts->tcg_tb_mb ? opts->tcg_tb_mb : SEAL_DEFAULT_TCG_TB_MB;
    int tb = tb_mb > 0 && tcg_forced(ctx->g) ? tb_mb : 0;
    char *cachedir = guestfs_get_cachedir(ctx->g), *kernel = NULL, *vmlinux = NULL, *stamp = NULL;
    char *cache = cachedir ? seal_cache_dir(cachedir) : NULL;
    if (!(opts && opts->compressed_kernel) && cachedir &&
        seal_kernel_pvh(cachedir, &kernel, &vmlinux, &stamp) == 0)
        phase(ctx, "launch", 0, "booting the appliance's kernel uncompressed");
    hv_wrapper_install(ctx, cache, tb, kernel, vmlinux, stamp);
    free(cachedir);
    free(cache);
    free(kernel);
    free(vmlinux);
    free(stamp);
    /* A warm appliance's qemu listens on QMP (seal_warm.c). */
    if (ctx->qmp_path) {
        _cleanup_free_ char *qmp = xasprintf("unix:%s,server=on,wait=off", ctx->qmp_path);
        if (guestfs_config(ctx->g, "-qmp", qmp) < 0)
            return seal_gerr(ctx, "config -qmp");
    }
    /* A dry run's writes go to libguestfs' temporary overlay of each disk. */
    for (size_t i = 0; i < n_disks; i++) {
        int r =
            disks[i].format
                ? guestfs_add_drive_opts(ctx->g, disks[i].path, GUESTFS_ADD_DRIVE_OPTS_FORMAT, disks[i].format,
                                         GUESTFS_ADD_DRIVE_OPTS_READONLY, (int)dry_run, -1)
                : guestfs_add_drive_opts(ctx->g, disks[i].path, GUESTFS_ADD_DRIVE_OPTS_READONLY, (int)dry_run, -1);
        if (r < 0)
            return seal_gerr(ctx, disks[i].path);
    }
    return 0;
}

/* ---- root discovery ---- */

enum probe_result { PROBE_NOTHING, PROBE_LINUX, PROBE_WINDOWS };

/* Name in the NULL-terminated list, compared case-insensitively; NULL if absent. */
static const char *strv_find_icase(char **v, const char *name) {
    for (; v && *v; v++)
        if (strcasecmp(*v, name) == 0)
            return *v;
    return NULL;
}

/* What the filesystem mounted at base looks like: a Windows system (a
 * windows dir holding system32, any case), a Linux root (/etc/fstab plus
 * os-release, /bin or /usr), or nothing.  Two or three round trips. */
static int probe_mounted(struct seal_ctx *ctx, const char *base, const char *mountable, enum probe_result *ret) {
    *ret = PROBE_NOTHING;
    char **top = guestfs_ls(ctx->g, base);
    if (!top)
        return seal_gerr(ctx, mountable);
    const char *sep = strcmp(base, "/") == 0 ? "" : "/";
    int r = 0;
    const char *win = strv_find_icase(top, "windows");
    if (win) {
        _cleanup_free_ char *dir = xasprintf("%s%s%s", base, sep, win);
        char **sub = guestfs_ls(ctx->g, dir);
        if (!sub)
            r = seal_gerr(ctx, dir);
        else if (strv_find_icase(sub, "system32"))
            *ret = PROBE_WINDOWS;
        seal_strv_free(sub);
    }
    if (r == 0 && *ret == PROBE_NOTHING && strv_find_icase(top, "etc")) {
        static const char *const names[] = { "fstab", "os-release", NULL };
        _cleanup_free_ char *etc = xasprintf("%s%setc", base, sep);
        struct guestfs_statns_list *st = guestfs_lstatnslist(ctx->g, etc, (char *const *)names);
        if (!st) {
            r = seal_gerr(ctx, mountable);
        } else {
            bool fstab = st->len > 0 && st->val[0].st_ino != -1;
            bool os_release = st->len > 1 && st->val[1].st_ino != -1;
            bool bin = strv_find_icase(top, "bin") || strv_find_icase(top, "usr");
            if (fstab && (os_release || bin))
                *ret = PROBE_LINUX;
            guestfs_free_statns_list(st);
        }
    }
    seal_strv_free(top);
    return r;
}

/* Never mounted to be probed: no filesystem, or a member of something
 * bigger (LVM2_member, linux_raid_member, isw_raid_member, …: a RAID1
 * member with its superblock at the end would mount, and a write to one
 * half of a mirror corrupts it). */
static bool fs_type_skipped(const char *type) {
    static const char *const skip[] = { "swap", "unknown", "", "crypto_LUKS", NULL };
    for (const char *const *s = skip; *s; s++)
        if (strcmp(type, *s) == 0)
            return true;
    size_t n = strlen(type);
    return n >= 7 && strcmp(type + n - 7, "_member") == 0;
}

/* A btrfs filesystem on several devices: each carries the filesystem's
 * UUID and mounting any of them mounts all of it; probed once. */
static bool btrfs_probed_before(const struct seal_ctx *ctx, size_t i) {
    const struct seal_blockdev *b = &ctx->devs[i];
    if (strcmp(b->type, "btrfs") != 0 || !b->uuid || !*b->uuid)
        return false;
    for (size_t k = 0; k < i; k++)
        if (strcmp(ctx->devs[k].type, "btrfs") == 0 && ctx->devs[k].uuid &&
            strcmp(ctx->devs[k].uuid, b->uuid) == 0)
            return true;
    return false;
}

struct probe_acc {
    char *root, *windows;
    size_t n_roots;
};

/* Account for what one probed mountable is. */
static void probe_note(struct seal_ctx *ctx, struct probe_acc *acc, const char *mountable, enum probe_result p) {
    if (p == PROBE_WINDOWS && !acc->windows)
        acc->windows = xstrdup(mountable);
    if (p == PROBE_LINUX) {
        if (acc->n_roots++ == 0)
            acc->root = xstrdup(mountable);
        else
            snprintf(ctx->why, ERR_WHY_LEN, "several Linux root filesystems found (%s, %s): refusing to guess",
                     acc->root, mountable);
    }
}

/* True when path lies inside one of the n subvolume paths in roots. */
static bool below_any(const char *path, char *const *roots, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (seal_btrfs_path_below(path, roots[i]))
            return true;
    return false;
}

/* The other subvolumes of the btrfs filesystem on dev, whose default
 * subvolume is mounted at "/" and was probed as dev (default_is_root when
 * it holds a Linux root).  Fedora's "root", Debian's and Ubuntu's "@" sit
 * below a top level that is no root; a default subvolume set to the root is
 * found as dev itself, and another root next to it is a second root.
 *
 * `btrfs subvolume list` gives paths relative to the top level only while
 * the top level is mounted (below a mounted subvolume they are relative to
 * it), so the top level (subvolid=5) is mounted for the probes.  Not
 * probed: the default subvolume again, snapshots, and subvolumes inside a
 * root (systemd-nspawn containers in Fedora's /var/lib/machines subvolume,
 * docker's btrfs driver): those belong to that root's tree, and with a
 * root in the top level itself, every subvolume does. */
static int probe_btrfs_subvolumes(struct seal_ctx *ctx, struct probe_acc *acc, const char *dev,
                                  bool default_is_root) {
    int64_t def = guestfs_btrfs_subvolume_get_default(ctx->g, "/");
    if (def < 0)
        return seal_gerr(ctx, dev);
    if (def == 5 && default_is_root)
        return 0; /* the root is the top level: every subvolume is inside it */
    if (def != 5 && (guestfs_umount_all(ctx->g) < 0 ||
                     guestfs_mount_options(ctx->g, "ro,nologreplay,subvolid=5", dev, "/") < 0))
        return seal_gerr(ctx, dev);
    struct guestfs_btrfssubvolume_list *l = guestfs_btrfs_subvolume_list(ctx->g, "/");
    if (!l)
        return seal_gerr(ctx, dev);
    /* roots[0 .. n_roots): the Linux roots among the subvolumes, the
     * default one first when it is one. */
    char **roots = xcalloc(l->len + 1, sizeof(*roots));
    size_t n_roots = 0, n_default = 0;
    for (uint32_t i = 0; i < l->len; i++)
        if (default_is_root && l->val[i].btrfssubvolume_id == (uint64_t)def)
            roots[n_roots++] = l->val[i].btrfssubvolume_path;
    n_default = n_roots;
    int r = 0;
    for (uint32_t i = 0; i < l->len && r == 0; i++) {
        const char *path = l->val[i].btrfssubvolume_path;
        if (l->val[i].btrfssubvolume_id == (uint64_t)def || seal_btrfs_path_is_snapshot(path) ||
            below_any(path, roots, n_roots))
            continue;
        _cleanup_free_ char *base = xasprintf("/%s", path);
        _cleanup_free_ char *mountable = xasprintf("btrfsvol:%s/%s", dev, path);
        enum probe_result p;
        r = probe_mounted(ctx, base, mountable, &p);
        if (r == 0 && p == PROBE_LINUX)
            roots[n_roots++] = l->val[i].btrfssubvolume_path;
        else if (r == 0)
            probe_note(ctx, acc, mountable, p);
    }
    /* A root listed before the subvolume that holds it is that one's. */
    for (size_t i = n_default; i < n_roots && r == 0; i++) {
        if (below_any(roots[i], roots, n_roots))
            continue;
        _cleanup_free_ char *mountable = xasprintf("btrfsvol:%s/%s", dev, roots[i]);
        probe_note(ctx, acc, mountable, PROBE_LINUX);
    }
    free(roots);
    guestfs_free_btrfssubvolume_list(l);
    return r;
}

/* Fast path: mount every filesystem of the block device table read-only and
 * probe it (btrfs: every subvolume).  guestfs_list_filesystems costs ≈3 s
 * under TCG because it identifies every device again. */
static int probe_fast(struct seal_ctx *ctx, struct probe_acc *acc) {
    int r = 0;
    for (size_t i = 0; i < ctx->n_devs && r == 0; i++) {
        const struct seal_blockdev *b = &ctx->devs[i];
        if (fs_type_skipped(b->type) || btrfs_probed_before(ctx, i) ||
            guestfs_mount_options(ctx->g, seal_ro_options(b->type), b->dev, "/") < 0)
            continue; /* swap, a PV, an empty partition, or not mountable */
        enum probe_result p;
        r = probe_mounted(ctx, "/", b->dev, &p);
        if (r == 0)
            probe_note(ctx, acc, b->dev, p);
        if (r == 0 && strcmp(b->type, "btrfs") == 0)
            r = probe_btrfs_subvolumes(ctx, acc, b->dev, p == PROBE_LINUX);
        if (guestfs_umount_all(ctx->g) < 0 && r == 0)
            r = seal_gerr(ctx, "umount_all");
    }
    return r;
}

/* Slow path (nothing found by the fast one): every filesystem libguestfs
 * knows, including btrfs subvolumes, MD and LDM volumes. */
static int probe_all(struct seal_ctx *ctx, struct probe_acc *acc) {
    char **fs = guestfs_list_filesystems(ctx->g);
    if (!fs)
        return seal_gerr(ctx, "list_filesystems");
    ctx->has_lvm = true; /* not known cheaply here: let lvm-uuids look */
    int r = 0;
    for (size_t i = 0; fs[i] && fs[i + 1] && r == 0; i += 2) {
        if (fs_type_skipped(fs[i + 1]) || guestfs_mount_ro(ctx->g, fs[i], "/") < 0)
            continue;
        enum probe_result p;
        r = probe_mounted(ctx, "/", fs[i], &p);
        if (r == 0)
            probe_note(ctx, acc, fs[i], p);
        if (guestfs_umount_all(ctx->g) < 0 && r == 0)
            r = seal_gerr(ctx, "umount_all");
    }
    seal_strv_free(fs);
    return r;
}

/* Find the one Linux root; refusals (Windows, none, several) come back as
 * their error with a message.  Nothing is mounted read-write here. */
static int root_find(struct seal_ctx *ctx, char **ret_root) {
    struct probe_acc acc = { 0 };
    int r = ctx->n_disks ? 0 : seal_blockdevs_collect(ctx); /* a warm attach collected them */
    for (size_t i = 0; r == 0 && i < ctx->n_devs; i++) {
        if (strcmp(ctx->devs[i].type, "crypto_LUKS") == 0) {
            snprintf(ctx->why, ERR_WHY_LEN,
                     "%s is encrypted (LUKS): vmseal cannot open it, so it cannot seal this guest "
                     "completely; decrypt it or seal the guest another way",
                     ctx->devs[i].dev);
            r = -VMS_E_ENCRYPTED_GUEST;
        }
    }
    if (r == 0)
        r = probe_fast(ctx, &acc);
    if (r == 0 && acc.n_roots == 0 && !acc.windows)
        r = probe_all(ctx, &acc);
    if (r == 0 && acc.windows) {
        snprintf(ctx->why, ERR_WHY_LEN,
                 "Windows guest (%s has /Windows/System32): only Linux guests can be sealed", acc.windows);
        r = -VMS_E_UNSUPPORTED_GUEST;
    } else if (r == 0 && acc.n_roots == 0) {
        snprintf(ctx->why, ERR_WHY_LEN, "no Linux root filesystem found on the disk(s) (blank or unrecognised)");
        r = -VMS_E_NO_ROOT;
    } else if (r == 0 && acc.n_roots > 1) {
        r = -VMS_E_MULTI_ROOT;
    }
    free(acc.windows);
    if (r < 0) {
        free(acc.root);
        return r;
    }
    *ret_root = acc.root;
    return 0;
}

/* ---- distro family ---- */

static int family_detect(struct seal_ctx *ctx, struct seal_report *rep) {
    char *buf = NULL;
    size_t len = 0;
    /* /usr/lib first: /etc/os-release is usually a symlink to it, and an
     * absolute one would resolve in the appliance, not in the guest. */
    int r = seal_read(ctx, "/usr/lib/os-release", &buf, &len);
    if (r == 0 && !buf)
        r = seal_read(ctx, "/etc/os-release", &buf, &len);
    if (r < 0)
        return r;
    rep->family = SEAL_FAMILY_OTHER;
    if (buf) {
        rep->family = seal_text_os_release(buf, rep->distro, sizeof(rep->distro));
        free(buf);
        return 0;
    }
    static const struct {
        const char *file;
        enum seal_family f;
        const char *distro;
    } marks[] = {
        { "/etc/debian_version", SEAL_FAMILY_DEBIAN, "debian" },
        { "/etc/redhat-release", SEAL_FAMILY_REDHAT, "redhat-based" },
        { "/etc/SuSE-release", SEAL_FAMILY_SUSE, "suse-based" },
    };
    for (size_t i = 0; i < ARRAY_SIZE(marks); i++) {
        r = seal_lstat_type(ctx, marks[i].file);
        if (r < 0)
            return r;
        if (r == S_IFREG) {
            rep->family = marks[i].f;
            snprintf(rep->distro, sizeof(rep->distro), "%s", marks[i].distro);
            break;
        }
    }
    return 0;
}

/* ---- the job ---- */

struct seal_run_state {
    struct seal_ctx ctx;
    bool selected[64];
    char *root;
    int64_t t0;
};

static int64_t lap(int64_t *mark) {
    int64_t now = time_mono_ms(), d = now - *mark;
    *mark = now;
    return d;
}

/* The appliance: the warm one with the job's disks hot-plugged, else (no
 * warm one, or it cannot be used: said in a "launch" phase message) a fresh
 * one launched with them. */
static int appliance_start(struct seal_ctx *ctx, const struct seal_opts *opts, const struct seal_disk *disks,
                           size_t n_disks, struct seal_report *rep) {
    if (opts && opts->warm) {
        char note[ERR_WHY_LEN] = "";
        phase(ctx, "launch", 0, "attaching the disks to the warm appliance");
        int r = seal_warm_attach(opts->warm, ctx, disks, n_disks, opts->dry_run, note);
        if (r <= 0) {
            rep->warm = r == 0;
            return r;
        }
        _cleanup_free_ char *msg = xasprintf("warm appliance not used (%s): starting a fresh one", note);
        phase(ctx, "launch", 0, msg);
        if (ctx->g)
            guestfs_close(ctx->g);
        ctx->g = NULL;
        seal_disk_devs_free(ctx);
        seal_plan_free(ctx);
    } else {
        phase(ctx, "launch", 0, "starting the appliance");
    }
    int r = seal_handle_open(ctx, opts, disks, n_disks);
    return r == 0 ? seal_launch(ctx) : r;
}

static int seal_session(struct seal_run_state *s, const struct seal_opts *opts, const struct seal_disk *disks,
                        size_t n_disks, struct seal_report *rep) {
    struct seal_ctx *ctx = &s->ctx;
    int64_t mark = time_mono_ms();
    int r = appliance_start(ctx, opts, disks, n_disks, rep);
    rep->launch_ms = lap(&mark);
    if (r < 0)
        return r;

    phase(ctx, "inspect", 40, "looking for the root filesystem");
    r = root_find(ctx, &s->root);
    if (r < 0)
        goto inspected;
    char *root_name = seal_dev_name(ctx, s->root);
    snprintf(rep->root_device, sizeof(rep->root_device), "%s", root_name);
    free(root_name);
    /* Everything the guest mounts at boot is checked read-only before the
     * first write (device-level operations included). */
    phase(ctx, "mount", 42, "checking the guest's fstab (read-only)");
    r = seal_fstab_plan(ctx, s->root);
    if (r < 0)
        goto inspected;
    /* Device-level operations run while nothing is mounted. */
    r = seal_ops_run_devices(ctx, s->selected, rep);
    if (r < 0)
        goto inspected;
    phase(ctx, "mount", 45, rep->root_device);
    r = seal_fstab_mount(ctx, s->root);
    if (r == 0)
        r = family_detect(ctx, rep);
    ctx->family = rep->family;
    ctx->distro = rep->distro;
inspected:
    rep->inspect_ms = lap(&mark);
    if (r < 0)
        return r;

    phase(ctx, "operations", 50, "running operations");
    r = seal_ops_run(ctx, s->selected, 50, 95, rep);
    rep->ops_ms = lap(&mark);
    if (r < 0)
        return r;

    phase(ctx, "shutdown", 95, "unmounting and flushing");
    if (guestfs_umount_all(ctx->g) < 0)
        r = seal_gerr(ctx, "umount_all");
    /* shutdown reports write errors that close would swallow. */
    if (r == 0 && guestfs_shutdown(ctx->g) < 0)
        r = seal_gerr(ctx, "shutdown");
    guestfs_close(ctx->g);
    ctx->g = NULL;
    rep->shutdown_ms = lap(&mark);
    return r;
}

int seal_run(const struct seal_opts *opts, const struct seal_disk *disks, size_t n_disks,
             const struct proto_sysprep *sysprep, seal_progress_cb cb, void *ud, struct seal_report *ret_report,
             char why[ERR_WHY_LEN]) {
    struct seal_report local_report;
    struct seal_report *rep = ret_report ? ret_report : &local_report;
    char local_why[ERR_WHY_LEN];
    if (!why)
        why = local_why;
    memset(rep, 0, sizeof(*rep));
    rep->dry_run = opts && opts->dry_run;
    why[0] = '\0';

    struct seal_run_state s = {
        .ctx = {
            .hostname = sysprep && sysprep->hostname && *sysprep->hostname ? sysprep->hostname
                                                                           : "localhost",
            .selinux_relabel = sysprep ? sysprep->selinux_relabel : true,
            .cb = cb, .ud = ud, .why = why,
            .cancel_cb = opts ? opts->cancel_cb : NULL,
            .allow_missing = sysprep ? sysprep->allow_missing : NULL,
            .n_allow_missing = sysprep ? sysprep->n_allow_missing : 0,
            .report = rep,
        },
        .t0 = time_mono_ms(),
    };
    int r = 0;
    if (n_disks == 0 || !disks) {
        snprintf(why, ERR_WHY_LEN, "no disks given");
        r = -VMS_E_INVALID;
    }
    for (size_t i = 0; r == 0 && i < n_disks; i++) {
        if (!disks[i].path || !*disks[i].path) {
            snprintf(why, ERR_WHY_LEN, "disk %zu has no path", i);
            r = -VMS_E_INVALID;
        }
    }
    if (r == 0 && !hostname_is_valid(s.ctx.hostname)) {
        snprintf(why, ERR_WHY_LEN, "invalid hostname '%.64s' (letters, digits, '-' and '.', at most 253)",
                 s.ctx.hostname);
        r = -VMS_E_INVALID;
    }
    /* An unknown operation fails before any appliance is started. */
    if (r == 0)
        r = seal_ops_select(sysprep, s.selected, why);
    if (r == 0)
        r = seal_session(&s, opts, disks, n_disks, rep);
    if (s.ctx.g)
        guestfs_close(s.ctx.g);
    if (opts)
        seal_warm_free(opts->warm); /* one appliance serves one seal */
    seal_disk_devs_free(&s.ctx);
    hv_wrapper_remove(&s.ctx);
    seal_plan_free(&s.ctx);
    free(s.root);
    rep->total_ms = time_mono_ms() - s.t0;
    if (r == 0)
        phase(&s.ctx, "done", 100, rep->dry_run ? "dry run: nothing was written" : "sealed");
    return r;
}
