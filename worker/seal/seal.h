/* seal.h - the seal engine: native sysprep of a Linux guest through the
 * libguestfs C API (the `vm.seal` job and `vmseal-worker seal`; vmseal-worker(8)).
 *
 * seal_run() seals the guest whose disks are given, in one libguestfs
 * session:
 *   1. one handle; every disk added read-write with its format (read-only
 *      in a dry run, seal_opts.dry_run); backend,
 *      backend settings and appliance memory from seal_opts (NULL / 0 = the
 *      libguestfs default, which also honours $LIBGUESTFS_BACKEND and
 *      $LIBGUESTFS_BACKEND_SETTINGS); launch;
 *   2. root discovery: every partition, whole disk and logical volume is
 *      identified (blkid) and probed READ-ONLY; on btrfs the default
 *      subvolume (the root as the device itself, e.g. /dev/sda1) and every
 *      other subvolume (btrfsvol:/dev/sda1/root) except snapshots and those
 *      inside a root; never a RAID or LVM member directly (MD arrays the
 *      appliance assembled are probed on the slow path);
 *      exactly one Linux root must exist.  A LUKS device anywhere =>
 *      -VMS_E_ENCRYPTED_GUEST, a Windows guest => -VMS_E_UNSUPPORTED_GUEST,
 *      no root => -VMS_E_NO_ROOT, several => -VMS_E_MULTI_ROOT, a disk that
 *      cannot be opened => -VMS_E_GUESTFS;
 *   3. never a silent partial seal: the root and every filesystem of the
 *      guest's /etc/fstab (seal_fstab.h resolves UUID=, LABEL=, PARTUUID=,
 *      PARTLABEL=, /dev/disk/by-*, /dev/mapper, /dev/VG/LV, sdX/vdX/hdX/xvdX)
 *      are mounted READ-ONLY first; one the guest mounts at boot that is not
 *      on the disks, has no real mount point or does not mount =>
 *      -VMS_E_INCOMPLETE_GUEST naming the fstab line, unless its mount point
 *      is in sysprep->allow_missing (then listed in report->missing).  All
 *      refusals above happen before the first write: the images stay
 *      byte-identical.  Then the same plan is mounted read-write (after the
 *      device-level operations) and listed in report->fs;
 *   4. the selected operations run (see seal_op_* below), each reporting
 *      progress through the callback;
 *   5. umount_all; guestfs_shutdown, whose error fails the job (it reports
 *      write errors that close would swallow); close.
 *
 * Errors: 0, or a negative code: -VMS_E_GUESTFS (with libguestfs' message
 * in why), -VMS_E_UNSUPPORTED_GUEST (also: a guest file the engine reads
 * is over 1 MiB), -VMS_E_NO_ROOT, -VMS_E_MULTI_ROOT, -VMS_E_ENCRYPTED_GUEST,
 * -VMS_E_INCOMPLETE_GUEST,
 * -VMS_E_UNKNOWN_OP (why names the operation), -VMS_E_INVALID,
 * -VMS_E_CANCELLED (the cancel hook said so between operations).  why (may
 * be NULL) always receives a one-line human message on failure.
 *
 * Threads: one seal_run per thread at a time is fine (one handle each); the
 * callback runs synchronously in the calling thread.
 */
#ifndef VMSEAL_SEAL_H
#define VMSEAL_SEAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "proto.h"

/* One disk of the guest; format "qcow2" or "raw" (NULL = let qemu probe,
 * which is unsafe for untrusted raw images: always pass it in the worker). */
struct seal_disk {
    const char *path;
    const char *format;
};

/* From config worker.guestfs.  NULL / 0 leaves the libguestfs default
 * (which reads $LIBGUESTFS_BACKEND / $LIBGUESTFS_BACKEND_SETTINGS). */
struct seal_opts {
    const char *backend;
    char *const *backend_settings;
    size_t n_backend_settings;
    int memsize_mb; /* 0 = SEAL_DEFAULT_MEMSIZE_MB */
    int smp;        /* 0 = 1 vCPU */
    /* Only when the backend settings force TCG (software emulation, no KVM):
     * qemu's translation cache in MB.  qemu 7.2 defaults to 1 GiB, which
     * an appliance boot fills with ≈500 MB of resident code; a bounded cache
     * keeps the job's RSS down.  0 = SEAL_DEFAULT_TCG_TB_MB, -1 = qemu's
     * default.  Applied through a qemu wrapper (libguestfs "QEMU WRAPPERS"). */
    int tcg_tb_mb;
    /* Polled between operations; returning true aborts with -VMS_E_CANCELLED
     * (images may then be partly sealed: the caller rolls back).  May be NULL. */
    bool (*cancel_cb)(void *ud);
    /* A warm appliance (seal_warm_start) to seal in instead of launching
     * one; consumed by seal_run whatever happens.  NULL = a cold launch. */
    struct seal_warm *warm;
    /* A dry run (vmseal-worker seal -n): every disk is added READ-ONLY, so
     * libguestfs sends the guest's writes to a throw-away overlay; all else
     * runs as in a seal, and the events report what a seal would remove and
     * change.  The images stay byte-identical. */
    bool dry_run;
    bool verbose; /* libguestfs debug messages on stderr (guestfs_set_verbose) */
    bool trace;   /* every libguestfs call on stderr (guestfs_set_trace) */
    /* Boot the appliance's bzImage as libguestfs does, not its uncompressed
     * image (seal_kernel.c); for comparisons. */
    bool compressed_kernel;
};

/* Default appliance memory: enough for the daemon and page cache while
 * removing files; far below libguestfs' 1280 MB (see the benchmark note). */
#define SEAL_DEFAULT_MEMSIZE_MB 512
#define SEAL_DEFAULT_TCG_TB_MB  96 /* 128: 420 MB peak RSS, 96: 387 MB, same wall; 64: 343 MB, +0.3 s */

/* Distro families an operation applies to (bit mask). */
enum seal_family {
    SEAL_FAMILY_DEBIAN = 1 << 0, /* debian, ubuntu, … (/etc/debian_version, ID_LIKE) */
    SEAL_FAMILY_REDHAT = 1 << 1, /* fedora, rhel, centos, rocky, alma, … */
    SEAL_FAMILY_SUSE = 1 << 2,   /* sles, opensuse */
    SEAL_FAMILY_OTHER = 1 << 3,  /* any other Linux */
    SEAL_FAMILY_ALL = 0xf,
};
const char *seal_family_to_string(enum seal_family f); /* "debian", …, "all" */

/* Progress events passed to the callback.
 *   SEAL_EV_PHASE    op = phase name ("launch", "inspect", "mount",
 *                    "operations", "shutdown"), detail = human text; or
 *                    op = "skip", detail = a guest path left alone and why
 *                    (below a guest symlink, not a regular file);
 *   SEAL_EV_OP_START op = operation name, detail = its description;
 *   SEAL_EV_REMOVED  detail = guest path removed (a directory counts once);
 *   SEAL_EV_CHANGED  detail = guest path edited / truncated / created;
 *   SEAL_EV_OP_DONE  op = operation name, detail = "removed=N changed=M ms=T".
 * percent is the whole job's progress, 0..100, monotonic. */
enum seal_event {
    SEAL_EV_PHASE,
    SEAL_EV_OP_START,
    SEAL_EV_REMOVED,
    SEAL_EV_CHANGED,
    SEAL_EV_OP_DONE,
};
typedef void (*seal_progress_cb)(void *ud, enum seal_event ev, const char *op, int percent, const char *detail);

/* Result of one operation that ran. */
struct seal_op_result {
    const char *name; /* static, from the operations table */
    unsigned removed; /* paths removed */
    unsigned changed; /* paths edited, truncated or created */
    int64_t ms;       /* wall time of the operation */
};

/* A filesystem sealed (report->fs), or an fstab line not sealed
 * (report->missing: device = the fstab spec, type = "allowed" when the
 * operator accepted it missing, "optional" for a noauto/nofail line). */
struct seal_fs_info {
    char device[128];
    char type[24];
    char mountpoint[256];
};

struct seal_report {
    char root_device[128]; /* appliance mountable of the root, e.g. /dev/sda1,
                              btrfsvol:/dev/sda2/@ */
    struct seal_fs_info fs[32];
    size_t n_fs;
    struct seal_fs_info missing[32];
    size_t n_missing;
    bool dry_run;    /* opts->dry_run: nothing was written */
    char distro[32]; /* os-release ID, e.g. "debian" */
    enum seal_family family;
    struct seal_op_result ops[64];
    size_t n_ops;
    unsigned removed_total, changed_total;
    bool warm; /* sealed in a warm appliance (seal_warm_start) */
    /* Wall time per phase, milliseconds. */
    int64_t launch_ms, inspect_ms, ops_ms, shutdown_ms, total_ms;
};

/* Seal the guest.  sysprep may be NULL (all defaults).  cb may be NULL.
 * ret_report may be NULL; it is filled as far as the job got, also on
 * failure.  See the top of this file for the errors. */
int seal_run(const struct seal_opts *opts, const struct seal_disk *disks, size_t n_disks,
             const struct proto_sysprep *sysprep, seal_progress_cb cb, void *ud, struct seal_report *ret_report,
             char why[ERR_WHY_LEN]);

/* ---- Warm start (seal_warm.c) ----
 *
 * seal_warm_start() launches an appliance with no guest disk in it (only a
 * placeholder, /dev/null) ahead of the job, its qemu listening on a QMP
 * socket in a private 0700 folder (through the qemu wrapper).  seal_run()
 * with opts->warm then hot-plugs the job's disks into it (QMP blockdev-add
 * with the disk's format, then a scsi-hd on the appliance's virtio-scsi
 * bus), waits until the appliance sees each, activates LVM, and goes on
 * exactly as after a cold launch.  One appliance serves one seal:
 * seal_run() consumes it whatever the outcome, so nothing of one guest is
 * ever visible to the next seal.  When the warm appliance cannot be used
 * (qemu died, the QMP socket fails, a disk does not appear within 30 s, a
 * disk without a format, a dry run, MD RAID members, which the appliance assembles
 * only at boot), seal_run() says so in a "launch" phase message and
 * launches a fresh appliance with the disks instead.
 *
 * opts are the same as seal_run()'s (backend, memory, TCG cache).  0, or
 * -VMS_E_GUESTFS with why; *ret_launch_ms is the launch's wall time. */
struct seal_warm;
int seal_warm_start(const struct seal_opts *opts, struct seal_warm **ret, int64_t *ret_launch_ms,
                    char why[ERR_WHY_LEN]);
/* Close the appliance (qemu is killed) and remove its folder.  NULL is fine. */
void seal_warm_free(struct seal_warm *w);

/* The libguestfs library version ("1.48.6", or "unknown"), read from a
 * handle that is never launched. */
void seal_libguestfs_version(char *buf, size_t len);

/* ---- The operations table (worker/seal_ops*.c) ----
 * Names, defaults, descriptions and order come from the wire vocabulary
 * (proto/sysprep_ops.h); i here is its enum proto_sysprep_op_id. */

struct seal_op_info {
    const char *name; /* "bash-history", … */
    bool default_on;
    const char *description; /* one line */
    unsigned families;       /* mask of enum seal_family */
};

/* Number of operations and the i-th one (i < seal_ops_count()), in the
 * order they run. */
size_t seal_ops_count(void);
const struct seal_op_info *seal_op_info_get(size_t i);

/* Resolve the request's lists into ret_selected[seal_ops_count()] with the
 * one resolver, proto_sysprep_select() (proto/sysprep_ops.h): the defaults
 * when neither enable nor operations is given, else only enable's names
 * then the operations entries in order (virt-sysprep's --enable and
 * --operations); disable's names removed last.  An unknown name =>
 * -VMS_E_UNKNOWN_OP, why naming the list and the name
 * ("sysprep.enable[0]: unknown sysprep operation 'NAME'"). */
int seal_ops_select(const struct proto_sysprep *sysprep, bool *ret_selected, char why[ERR_WHY_LEN]);

#endif
