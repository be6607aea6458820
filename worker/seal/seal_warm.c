/* seal_warm.c - warm start: an appliance launched before the job, the job's
 * disks hot-plugged into it through qemu's QMP socket (see seal.h).
 *
 * QMP is one JSON object per line each way (jansson builds and reads them):
 * a greeting, then "qmp_capabilities", then commands, each answered by a
 * "return" or an "error" object; asynchronous "event" objects in between
 * are skipped.  Every read has a deadline: a qemu that stops answering
 * makes the attach fail (and the seal launch cold), never hang.
 */
#include <errno.h>
#include <jansson.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "err.h"
#include "seal_ops.h"
#include "util.h"

#define QMP_TIMEOUT_MS 10000 /* per command */
#define DISK_APPEAR_MS 30000 /* a hot-plugged disk shows in the appliance */
#define DISK_POLL_MS   20
#define QMP_LINE_MAX   65536

struct seal_warm {
    struct seal_ctx ctx; /* the launch's: handle, wrapper, launch errors */
    char why[ERR_WHY_LEN];
    char *dir; /* private folder: the QMP socket */
    char *qmp_path;
    int qmp_fd;
    char *buf; /* QMP bytes read, not consumed yet */
    size_t len;
};

/* ---- QMP ---- */

/* The next object qemu sends that is not an event; NULL with why on EOF,
 * timeout or garbage. */
static json_t *qmp_read(struct seal_warm *w, char why[ERR_WHY_LEN]) {
    int64_t deadline = time_mono_ms() + QMP_TIMEOUT_MS;
    for (;;) {
        char *nl = w->len ? memchr(w->buf, '\n', w->len) : NULL;
        if (nl) {
            size_t n = (size_t)(nl - w->buf) + 1;
            json_error_t jerr;
            json_t *m = json_loadb(w->buf, n, 0, &jerr);
            memmove(w->buf, w->buf + n, w->len - n);
            w->len -= n;
            if (!json_is_object(m)) {
                json_decref(m);
                snprintf(why, ERR_WHY_LEN, "QMP: not a JSON object from qemu");
                return NULL;
            }
            if (json_object_get(m, "event")) {
                json_decref(m);
                continue;
            }
            return m;
        }
        if (w->len >= QMP_LINE_MAX) {
            snprintf(why, ERR_WHY_LEN, "QMP: a line over %d bytes from qemu", QMP_LINE_MAX);
            return NULL;
        }
        int64_t left = deadline - time_mono_ms();
        struct pollfd p = { .fd = w->qmp_fd, .events = POLLIN };
        int pr = left > 0 ? poll(&p, 1, (int)left) : 0;
        if (pr < 0 && errno == EINTR)
            continue;
        if (pr <= 0) {
            snprintf(why, ERR_WHY_LEN, "QMP: no answer from qemu within %d s", QMP_TIMEOUT_MS / 1000);
            return NULL;
        }
        ssize_t n = read(w->qmp_fd, w->buf + w->len, QMP_LINE_MAX - w->len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            snprintf(why, ERR_WHY_LEN, "QMP: qemu closed the socket (%s)", n < 0 ? strerror(errno) : "EOF");
            return NULL;
        }
        w->len += (size_t)n;
    }
}

/* Run one command (cmd is consumed); 0, or -1 with why. */
static int qmp_cmd(struct seal_warm *w, json_t *cmd, char why[ERR_WHY_LEN]) {
    char *text = json_dumps(cmd, JSON_COMPACT);
    const char *name = json_string_value(json_object_get(cmd, "execute"));
    int r = -1;
    if (!text || write_all(w->qmp_fd, text, strlen(text)) < 0 || write_all(w->qmp_fd, "\n", 1) < 0) {
        snprintf(why, ERR_WHY_LEN, "QMP %s: cannot write to qemu", name ? name : "?");
    } else {
        json_t *m = qmp_read(w, why);
        json_t *err = m ? json_object_get(m, "error") : NULL;
        if (err)
            snprintf(why, ERR_WHY_LEN, "QMP %s: %s", name ? name : "?",
                     json_string_value(json_object_get(err, "desc"))
                         ? json_string_value(json_object_get(err, "desc"))
                         : "error");
        else if (m)
            r = 0;
        json_decref(m);
    }
    free(text);
    json_decref(cmd);
    return r;
}

static int qmp_open(struct seal_warm *w, char why[ERR_WHY_LEN]) {
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", w->qmp_path);
    w->qmp_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (w->qmp_fd < 0 || connect(w->qmp_fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        snprintf(why, ERR_WHY_LEN, "QMP: cannot connect to %s: %s", w->qmp_path, strerror(errno));
        return -VMS_E_GUESTFS;
    }
    json_t *greeting = qmp_read(w, why);
    if (!greeting)
        return -VMS_E_GUESTFS;
    json_decref(greeting);
    return qmp_cmd(w, json_pack("{s:s}", "execute", "qmp_capabilities"), why) < 0 ? -VMS_E_GUESTFS : 0;
}

/* ---- the warm appliance ---- */

int seal_warm_start(const struct seal_opts *opts, struct seal_warm **ret, int64_t *ret_launch_ms,
                    char why[ERR_WHY_LEN]) {
    int64_t t0 = time_mono_ms();
    struct seal_warm *w = xcalloc(1, sizeof(*w));
    w->qmp_fd = -1;
    w->buf = xmalloc(QMP_LINE_MAX);
    w->ctx.why = w->why;
    const char *tmp = getenv("TMPDIR");
    w->dir = xasprintf("%s/vmseal-warm-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    int r = 0;
    if (!mkdtemp(w->dir)) {
        snprintf(w->why, ERR_WHY_LEN, "cannot create %s: %s", w->dir, strerror(errno));
        free(w->dir);
        w->dir = NULL;
        r = -VMS_E_GUESTFS;
    } else {
        /* qemu's option syntax: a comma would end the path */
        w->qmp_path = xasprintf("%s/qmp", w->dir);
        w->ctx.qmp_path = w->qmp_path;
        if (strchr(w->qmp_path, ',') || strlen(w->qmp_path) >= sizeof(((struct sockaddr_un *)0)->sun_path)) {
            snprintf(w->why, ERR_WHY_LEN, "QMP socket path %s is too long or has a comma", w->qmp_path);
            r = -VMS_E_GUESTFS;
        }
    }
    if (r == 0)
        r = seal_handle_open(&w->ctx, opts, NULL, 0);
    /* libguestfs launches only with a drive: an empty placeholder, which
     * the engine never looks at (ctx->disk_devs lists the guest's). */
    if (r == 0 && guestfs_add_drive_opts(w->ctx.g, "/dev/null", GUESTFS_ADD_DRIVE_OPTS_FORMAT, "raw",
                                         GUESTFS_ADD_DRIVE_OPTS_READONLY, 1, -1) < 0)
        r = seal_gerr(&w->ctx, "add_drive /dev/null");
    if (r == 0)
        r = seal_launch(&w->ctx);
    if (r == 0)
        r = qmp_open(w, w->why);
    if (ret_launch_ms)
        *ret_launch_ms = time_mono_ms() - t0;
    if (r < 0) {
        snprintf(why, ERR_WHY_LEN, "warm start: %.*s", ERR_WHY_LEN - 16, w->why);
        seal_warm_free(w);
        return r;
    }
    *ret = w;
    return 0;
}

void seal_warm_free(struct seal_warm *w) {
    if (!w)
        return;
    if (w->qmp_fd >= 0)
        close(w->qmp_fd);
    if (w->ctx.g)
        guestfs_close(w->ctx.g);
    if (w->ctx.hv_wrapper) /* launch removes it; a failure before may not */
        unlink(w->ctx.hv_wrapper);
    free(w->ctx.hv_wrapper);
    if (w->qmp_path)
        unlink(w->qmp_path);
    if (w->dir)
        rmdir(w->dir);
    free(w->qmp_path);
    free(w->dir);
    free(w->buf);
    free(w);
}

/* ---- hot-plug ---- */

/* Disk i's SCSI serial, "vmsealaa", "vmsealab", …: letters only, as the
 * appliance's udev rule for disk labels wants them. */
static void disk_label(size_t i, char out[32]) {
    snprintf(out, 32, "vmseal%c%c", (char)('a' + i / 26 % 26), (char)('a' + i % 26));
}

/* Wait until the appliance names every plugged disk: the appliance's udev
 * links /dev/disk/guestfs/SERIAL to each SCSI disk that has a serial
 * (libguestfs' disk labels), so the names come back by disk, whatever
 * order the kernel found them in.  0 with ctx->disk_devs filled; 1 (note)
 * on timeout or when libguestfs fails. */
static int disks_wait(struct seal_ctx *ctx, size_t n_disks, char *note) {
    int64_t deadline = time_mono_ms() + DISK_APPEAR_MS;
    for (;;) {
        char **kv = guestfs_list_disk_labels(ctx->g);
        if (!kv) {
            const char *e = guestfs_last_error(ctx->g);
            snprintf(note, ERR_WHY_LEN, "list_disk_labels: %s", e ? e : "failed");
            return 1;
        }
        size_t found = 0;
        for (size_t i = 0; i < n_disks; i++) {
            char label[32];
            disk_label(i, label);
            for (size_t k = 0; kv[k] && kv[k + 1] && !ctx->disk_devs[i]; k += 2)
                if (strcmp(kv[k], label) == 0)
                    ctx->disk_devs[i] = xstrdup(kv[k + 1]);
            found += ctx->disk_devs[i] != NULL;
        }
        seal_strv_free(kv);
        if (found == n_disks)
            return 0;
        if (time_mono_ms() > deadline) {
            snprintf(note, ERR_WHY_LEN, "%zu of %zu disks appeared in the appliance within %d s", found, n_disks,
                     DISK_APPEAR_MS / 1000);
            return 1;
        }
        usleep(DISK_POLL_MS * 1000);
    }
}

/* The kernel shows a plugged disk a moment before it has read its
 * partition table: wait until it lists as many partitions of disk i as the
 * table holds (parted's reading).  Its blkid is kept for
 * seal_blockdevs_collect.  0; 1 (note) on timeout; < 0 on error. */
static int partitions_wait(struct seal_ctx *ctx, size_t i, char *note) {
    const char *dev = ctx->disk_devs[i];
    char **kv = guestfs_blkid(ctx->g, dev); /* fails on a disk with nothing on it */
    bool table = false;
    for (size_t k = 0; kv && kv[k] && kv[k + 1]; k += 2)
        table |= strcmp(kv[k], "PTTYPE") == 0;
    ctx->disk_blkid[i] = kv;
    if (!table)
        return 0;
    struct guestfs_partition_list *pl = guestfs_part_list(ctx->g, dev);
    if (!pl)
        return seal_gerr(ctx, dev);
    size_t want = pl->len;
    guestfs_free_partition_list(pl);
    int64_t deadline = time_mono_ms() + DISK_APPEAR_MS;
    for (;;) {
        char **parts = guestfs_list_partitions(ctx->g);
        if (!parts)
            return seal_gerr(ctx, "list_partitions");
        size_t have = 0;
        for (char **p = parts; *p; p++)
            have += strncmp(*p, dev, strlen(dev)) == 0;
        seal_strv_free(parts);
        if (have >= want)
            return 0;
        if (time_mono_ms() > deadline) {
            snprintf(note, ERR_WHY_LEN, "%s: %zu of its %zu partitions appeared within %d s", dev, have, want,
                     DISK_APPEAR_MS / 1000);
            return 1;
        }
        usleep(DISK_POLL_MS * 1000);
    }
}

/* Plug disk i: its file node, its format node, a SCSI disk with the serial
 * disk_label(i) on the appliance's virtio-scsi bus ("scsi.0", libguestfs'
 * direct backend). */
static int disk_plug(struct seal_warm *w, size_t i, const struct seal_disk *d, char *note) {
    char file[32], fmt[32], dev[32], serial[32];
    snprintf(file, sizeof(file), "vmseal-file%zu", i);
    snprintf(fmt, sizeof(fmt), "vmseal-disk%zu", i);
    snprintf(dev, sizeof(dev), "vmseal-scsi%zu", i);
    disk_label(i, serial);
    if (qmp_cmd(w,
                json_pack("{s:s, s:{s:s, s:s, s:s}}", "execute", "blockdev-add", "arguments", "node-name", file,
                          "driver", "file", "filename", d->path),
                note) < 0 ||
        qmp_cmd(w,
                json_pack("{s:s, s:{s:s, s:s, s:s}}", "execute", "blockdev-add", "arguments", "node-name", fmt,
                          "driver", d->format, "file", file),
                note) < 0 ||
        qmp_cmd(w,
                json_pack("{s:s, s:{s:s, s:s, s:s, s:s, s:s}}", "execute", "device_add", "arguments", "driver",
                          "scsi-hd", "bus", "scsi.0", "drive", fmt, "id", dev, "serial", serial),
                note) < 0)
        return 1;
    return 0;
}

int seal_warm_attach(struct seal_warm *w, struct seal_ctx *ctx, const struct seal_disk *disks, size_t n_disks,
                     bool dry_run, char *note) {
    /* The handle is the job's from here on (errors to its why). */
    ctx->g = w->ctx.g;
    w->ctx.g = NULL;
    guestfs_set_error_handler(ctx->g, NULL, NULL);
    ctx->disk_devs = xcalloc(n_disks + 1, sizeof(char *));
    ctx->disk_blkid = xcalloc(n_disks + 1, sizeof(char **));
    if (dry_run) { /* hot-plugged disks are read-write: a dry run opens its own, read-only */
        snprintf(note, ERR_WHY_LEN, "a dry run");
        return 1;
    }
    for (size_t i = 0; i < n_disks; i++) {
        if (!disks[i].format || (strcmp(disks[i].format, "qcow2") != 0 && strcmp(disks[i].format, "raw") != 0)) {
            snprintf(note, ERR_WHY_LEN, "disk %zu has no known format", i);
            return 1;
        }
        int r = disk_plug(w, i, &disks[i], note);
        if (r != 0)
            return r;
    }
    int r = disks_wait(ctx, n_disks, note);
    if (r != 0)
        return r;
    for (size_t i = 0; i < n_disks && r == 0; i++)
        r = partitions_wait(ctx, i, note);
    if (r == 0)
        r = seal_blockdevs_collect(ctx);
    for (size_t i = 0; r == 0 && i < ctx->n_devs; i++) {
        if (strcmp(ctx->devs[i].type, "linux_raid_member") == 0) {
            snprintf(note, ERR_WHY_LEN, "%s is an MD RAID member, assembled only at boot", ctx->devs[i].dev);
            r = 1;
        }
    }
    return r;
}
