/* seal_ops.h - internal interface between the seal engine (seal.c) and the
 * operations (seal_ops*.c).  Not for use outside the seal module.
 *
 * The operations run with the guest's filesystems mounted read-write under
 * the appliance's "/".  Every guestfs error is turned into a project error by
 * seal_gerr() (seal.c, the one libguestfs adapter); an operation returns 0 or
 * a negative code with the message already in ctx->why.
 */
#ifndef VMSEAL_SEAL_OPS_H
#define VMSEAL_SEAL_OPS_H

#include <guestfs.h>

#include "seal.h"
#include "seal_fstab.h"

/* One filesystem of the plan (seal_fstab_plan), mounted read-write later. */
struct seal_mount {
    char *device; /* appliance mountable */
    char *mountpoint;
    char *options; /* btrfs subvol=… or "" */
};

struct seal_ctx {
    guestfs_h *g;
    enum seal_family family;
    const char *distro;   /* os-release ID */
    const char *hostname; /* never NULL */
    bool selinux_relabel;
    seal_progress_cb cb;
    void *ud;
    bool (*cancel_cb)(void *ud); /* may be NULL; polled between operations */
    int percent;                 /* current whole-job progress */
    struct seal_op_result *cur;  /* the running operation's counters */
    char *why;                   /* the caller's, ERR_WHY_LEN bytes */
    bool has_lvm;                /* an LVM PV was seen while probing */
    char *hv_wrapper;            /* seal.c: a temporary qemu wrapper, removed after launch */
    bool launching;              /* seal.c: collecting launch errors */
    char launch_err[256];
    /* seal_ops_mount.c: the guest's block devices and the mount plan. */
    struct seal_blockdev *devs;
    size_t n_devs, n_disks;
    struct seal_mount *plan;
    size_t n_plan;
    char *const *allow_missing; /* mount points the operator accepts missing */
    size_t n_allow_missing;
    struct seal_report *report; /* filesystems sealed / missing are recorded here */
    char **contained;           /* directories seal_path_contained found free of symlinks */
    size_t n_contained;
    /* seal_warm.c: the guest's disks as the warm appliance named them when
     * they were hot-plugged (NULL: a cold appliance, every device is one),
     * and the QMP socket a warm appliance's qemu listens on. */
    char **disk_devs;
    char ***disk_blkid; /* blkid of each such disk when taken while plugging it (else NULL) */
    const char *qmp_path;
};

/* seal.c: create the handle as opts say and add the disks (none for a warm
 * start); launch it.  -VMS_E_GUESTFS with ctx->why on failure. */
int seal_handle_open(struct seal_ctx *ctx, const struct seal_opts *opts, const struct seal_disk *disks,
                     size_t n_disks);
int seal_launch(struct seal_ctx *ctx);

/* seal_kernel.c: the uncompressed (PVH) image of the appliance's kernel in
 * libguestfs' cache folder cachedir, extracted on first use: 0 with the
 * kernel's path, the image's path and the kernel's "size-inode" stamp
 * (all malloc'd); < 0 when there is none to be had (boot the bzImage). */
int seal_kernel_pvh(const char *cachedir, char **ret_kernel, char **ret_vmlinux, char **ret_stamp);
/* libguestfs' own folder in cachedir (<cachedir>/.guestfs-<euid>) when it is
 * ours and only ours to write, else NULL.  Malloc'd. */
char *seal_cache_dir(const char *cachedir);

/* seal_warm.c: hot-plug the disks into the warm appliance w, whose handle
 * becomes ctx->g, and collect the guest's block devices
 * (seal_blockdevs_collect).  0; 1 when the warm appliance cannot be used
 * (why in note, ERR_WHY_LEN bytes: the caller closes ctx->g and launches
 * cold; always for a dry run); < 0 on a guest error. */
int seal_warm_attach(struct seal_warm *w, struct seal_ctx *ctx, const struct seal_disk *disks, size_t n_disks,
                     bool dry_run, char *note);

/* Record libguestfs' last error as "<what>: <message>" in ctx->why and return
 * -VMS_E_GUESTFS. */
int seal_gerr(struct seal_ctx *ctx, const char *what);

/* Report one removed / changed guest path (counts it and calls the callback). */
void seal_note_removed(struct seal_ctx *ctx, const char *path);
void seal_note_changed(struct seal_ctx *ctx, const char *path);

/* seal_ops_mount.c.
 * seal_blockdevs_collect: every partition (or whole disk without any) and
 * logical volume with its blkid attributes into ctx->devs.
 * seal_fstab_plan: mounts root and every fstab filesystem READ-ONLY, records
 * the plan in ctx->plan, unmounts all.  A filesystem the guest mounts at boot
 * that is not on the disks, has no real mount point or does not mount =>
 * -VMS_E_INCOMPLETE_GUEST naming the fstab line, unless its mount point is in
 * ctx->allow_missing (then recorded in report->missing).  Writes nothing.
 * seal_fstab_mount: mounts root and the plan read-write; each filesystem is
 * recorded in report->fs and announced as a SEAL_EV_PHASE "mount" message.
 * seal_plan_free: frees devs and plan. */
int seal_blockdevs_collect(struct seal_ctx *ctx);
/* The name a report gives an appliance mountable: a hot-plugged disk's
 * partition named as the guest's disk order has it (the first disk
 * /dev/sda…), as after a cold launch; anything else as it is.  Malloc'd. */
char *seal_dev_name(const struct seal_ctx *ctx, const char *mountable);
int seal_fstab_plan(struct seal_ctx *ctx, const char *root);
int seal_fstab_mount(struct seal_ctx *ctx, const char *root);
/* Free ctx->disk_devs and ctx->disk_blkid. */
void seal_disk_devs_free(struct seal_ctx *ctx);
void seal_plan_free(struct seal_ctx *ctx);

/* Run the selected operations (table order).  Progress runs from
 * pct_from to pct_to.  Results are appended to report->ops. */
int seal_ops_run(struct seal_ctx *ctx, const bool *selected, int pct_from, int pct_to, struct seal_report *report);

/* Operations that work on block devices (lvm-uuids) run before the guest is
 * mounted read-write; this runs the selected ones. */
int seal_ops_run_devices(struct seal_ctx *ctx, const bool *selected, struct seal_report *report);

/* Helpers shared by the operation files (seal_ops_util.c). */

/* Containment: inside the appliance a guest's symlink (absolute, or relative
 * with enough "..") resolves to the appliance's own files, so no path is
 * read, edited or removed through one.  1 when no directory above path's
 * last component is a symlink; 0 when one is (noted as a "skip" phase
 * message: the path is left alone); < 0 on error.  The helpers below and
 * seal_read check it themselves. */
int seal_path_contained(struct seal_ctx *ctx, const char *path);
/* path's file type (S_IFMT bits), not following a symlink; 0 when it does
 * not exist; < 0 error.  One lstat: guestfs_is_symlink and guestfs_is_dir
 * cost about five times as much under TCG. */
int seal_lstat_type(struct seal_ctx *ctx, const char *path);
/* Forget the directories found contained (the mounts changed). */
void seal_contained_reset(struct seal_ctx *ctx);
/* Report a path left alone and why (SEAL_EV_PHASE "skip" message). */
void seal_note_skipped(struct seal_ctx *ctx, const char *path, const char *why);
enum seal_rm_mode {
    SEAL_RM_RF,        /* rm -rf every match (files and directories) */
    SEAL_RM_FILES,     /* only non-directories (files, symlinks) */
    SEAL_RM_NOSYMLINK, /* only non-directories that are not symlinks */
};
/* Remove one path by mode (files by unlink, directories by rm_rf); a path
 * that does not exist is not an error and is not reported. */
int seal_rm_path(struct seal_ctx *ctx, const char *path, enum seal_rm_mode mode);
/* Expand each NULL-terminated glob (directoryslash=false) and remove the
 * matches.  A glob that matches nothing is not an error. */
int seal_rm_globs(struct seal_ctx *ctx, const char *const *globs, enum seal_rm_mode mode);
/* Remove every non-directory below dir (recursively), keeping the directory
 * tree; dir missing is not an error. */
int seal_rm_files_below(struct seal_ctx *ctx, const char *dir);
/* Walk the tree below top (symlinked directories not followed) and unlink
 * every regular file (every non-directory with all_types) whose name
 * satisfies match (NULL = all).  top missing is not an error. */
int seal_rm_walk(struct seal_ctx *ctx, const char *top, bool (*match)(const char *name), bool all_types);
/* Expand globs into a NULL-terminated list (caller frees with
 * seal_strv_free); *ret is never NULL on success. */
int seal_glob(struct seal_ctx *ctx, const char *glob, char ***ret);
void seal_strv_free(char **v);
char **seal_strv_copy(char *const *v); /* NULL copies as an empty list */
/* Read a whole guest file, NUL-terminated (*ret_len without the NUL).
 * The type and size are checked first (lstat, no symlink followed): *ret
 * NULL (and 0 returned) when it does not exist or is not a regular file (a
 * symlink, FIFO, device or directory: noted as a "read" phase message); a
 * file over 1 MiB => -VMS_E_UNSUPPORTED_GUEST, nothing read. */
int seal_read(struct seal_ctx *ctx, const char *path, char **ret, size_t *ret_len);
/* Keep only the lines for which keep(line, len, arg) is true; rewrite the
 * file (and note it changed) only when a line was dropped. */
int seal_filter_lines(struct seal_ctx *ctx, const char *path,
                      bool (*keep)(const char *line, size_t len, const void *arg), const void *arg);
/* seal_line_has_key and the pure text helpers: seal_text.h. */

/* The operations defined in seal_ops_edit.c (they edit files or devices). */
int seal_op_backup_files(struct seal_ctx *ctx);
int seal_op_lvm_uuids(struct seal_ctx *ctx);
int seal_op_machine_id(struct seal_ctx *ctx);
int seal_op_net_hostname(struct seal_ctx *ctx);
int seal_op_net_hwaddr(struct seal_ctx *ctx);
int seal_op_net_nmconn(struct seal_ctx *ctx);
int seal_op_pacct_log(struct seal_ctx *ctx);
int seal_op_package_manager_cache(struct seal_ctx *ctx);
int seal_op_hostname(struct seal_ctx *ctx);
int seal_op_net_interfaces_hwaddr(struct seal_ctx *ctx);
int seal_op_net_nm_macaddr(struct seal_ctx *ctx);
int seal_op_selinux_relabel(struct seal_ctx *ctx);

#endif
