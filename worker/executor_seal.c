/* executor_seal.c - the vm.seal job: open and lock the disks, run the seal
 * engine, report its progress and result. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "err.h"
#include "executor.h"
#include "log.h"
#include "seal.h"
#include "seal_log.h"
#include "util.h"

struct disk_order {
    const struct proto_vol_ref *ref;
    size_t index;
};

static int disk_order_cmp(const void *a, const void *b) {
    const struct disk_order *x = a, *y = b;
    int c = strcmp(x->ref->sd_id, y->ref->sd_id);
    return c ? c : strcmp(x->ref->img_id, y->ref->img_id);
}

void exec_disks_close(struct exec_disks *d) {
    for (size_t i = 0; i < d->n; i++) {
        if (d->img_fds && d->img_fds[i] >= 0)
            close(d->img_fds[i]);
        if (d->sds)
            sd_close(d->sds[i]);
        if (d->paths)
            free(d->paths[i]);
    }
    free(d->sds);
    free(d->img_fds);
    free(d->paths);
    free(d->metas);
    memset(d, 0, sizeof(*d));
}

static int disk_open_one(const struct proto_vol_ref *ref, struct exec_disks *d, size_t i, char why[ERR_WHY_LEN]) {
    char cause[ERR_WHY_LEN] = "";
    int r = sd_volume_meta_read(d->sds[i], ref->img_id, ref->vol_id, &d->metas[i], cause);
    if (r < 0) {
        snprintf(why, ERR_WHY_LEN, "disk %s/%s: %s", ref->img_id, ref->vol_id, cause[0] ? cause : err_str(r));
        return r;
    }
    if (d->metas[i].voltype == VOLTYPE_SHARED) {
        snprintf(why, ERR_WHY_LEN, "disk %s/%s is SHARED and cannot be sealed", ref->img_id, ref->vol_id);
        return -VMS_E_VOLUME_SHARED;
    }
    /* a workflow marks its copies ILLEGAL before the seal: a LEGAL volume is
     * in use (a VM's disk) or done, never a seal's */
    if (d->metas[i].legality != LEGALITY_ILLEGAL) {
        snprintf(why, ERR_WHY_LEN, "disk %s/%s is LEGAL: only an ILLEGAL volume is sealed", ref->img_id,
                 ref->vol_id);
        return -VMS_E_STATE;
    }
    /* the data a guest session opens by name: a regular file, no symlink (we hold the image lock) */
    _cleanup_close_ int img_fd = -1, fd = -1;
    r = sd_image_dir_open(d->sds[i], ref->img_id, false, &img_fd);
    if (r == 0)
        r = sd_openat_file(img_fd, ref->vol_id, O_RDONLY, &fd);
    if (r < 0) {
        snprintf(why, ERR_WHY_LEN, "disk %s/%s data: %s", ref->img_id, ref->vol_id, err_str(r));
        return r == -ENOENT ? -VMS_E_NO_VOLUME : r;
    }
    r = sd_volume_path(d->sds[i], ref->img_id, ref->vol_id, "", &d->paths[i]);
    if (r < 0)
        snprintf(why, ERR_WHY_LEN, "disk %s/%s: %s", ref->img_id, ref->vol_id, err_str(r));
    return r;
}

int exec_disks_open(struct exec_child *c, const struct proto_job *job, struct exec_disks *d,
                    char why[ERR_WHY_LEN]) {
    size_t n = job->args.seal.n_disks;
    int r = 0;
    memset(d, 0, sizeof(*d));
    if (n == 0) {
        snprintf(why, ERR_WHY_LEN, "no disks to seal");
        return -VMS_E_INVALID;
    }
    d->n = n;
    d->sds = xcalloc(n, sizeof(*d->sds));
    d->img_fds = xcalloc(n, sizeof(*d->img_fds));
    d->paths = xcalloc(n, sizeof(*d->paths));
    d->metas = xcalloc(n, sizeof(*d->metas));
    for (size_t i = 0; i < n; i++)
        d->img_fds[i] = -1;

    struct disk_order *order = xcalloc(n, sizeof(*order));
    for (size_t i = 0; i < n; i++)
        order[i] = (struct disk_order){ &job->args.seal.disks[i], i };
    qsort(order, n, sizeof(*order), disk_order_cmp);
    /* Lock first (in the global order), then read: what we read then stays
     * true while we hold the locks. */
    for (size_t k = 0; k < n && r == 0; k++) {
        size_t i = order[k].index;
        const struct proto_vol_ref *ref = order[k].ref;
        if ((r = exec_sd_open(c, ref->sd_id, &d->sds[i], why)) < 0)
            break;
        if (k > 0 && disk_order_cmp(&order[k - 1], &order[k]) == 0)
            continue; /* same image dir: already locked (a second flock would wait on us) */
        r = sd_image_dir_open(d->sds[i], ref->img_id, false, &d->img_fds[i]);
        if (r == 0)
            r = sd_image_lock(d->img_fds[i]);
        if (r < 0)
            snprintf(why, ERR_WHY_LEN, "disk %s/%s: %s", ref->img_id, ref->vol_id,
                     r == -ENOENT ? err_str(-VMS_E_NO_VOLUME) : err_str(r));
        if (r == -ENOENT)
            r = -VMS_E_NO_VOLUME;
    }
    free(order);
    for (size_t i = 0; i < n && r == 0; i++)
        r = disk_open_one(&job->args.seal.disks[i], d, i, why);
    if (r < 0)
        exec_disks_close(d);
    return r;
}

/* The seal's events on the pipe: phases and operations as progress, every
 * path removed or changed as an F line (the final event's `files`). */
struct seal_pipe {
    struct exec_child *c;
    const struct seal_report *rep; /* filled by seal_run as it goes */
};

static void seal_progress_to_pipe(void *ud, enum seal_event ev, const char *op, int percent, const char *detail) {
    const struct seal_pipe *sp = ud;
    if (ev == SEAL_EV_PHASE && strcmp(op, "launch") == 0 && strncmp(detail, "warm appliance not used", 23) == 0)
        log_warn("%s", detail);
    if (ev == SEAL_EV_PHASE || ev == SEAL_EV_OP_START)
        exec_report_progress(sp->c, percent, op);
    else if (ev == SEAL_EV_REMOVED || ev == SEAL_EV_CHANGED)
        exec_report_file(sp->c, op, ev == SEAL_EV_REMOVED ? FILE_REMOVED : FILE_CHANGED,
                         seal_report_mountpoint(sp->rep, detail), detail);
}

/* "DEVICE TYPE MOUNTPOINT; …" (bounded by the result string's limit). */
static void exec_report_fs(struct exec_child *c, const char *key, const struct seal_fs_info *v, size_t n) {
    char buf[1024] = "";
    for (size_t i = 0; i < n; i++) {
        size_t len = strlen(buf);
        snprintf(buf + len, sizeof(buf) - len, "%s%s %s %s", i ? "; " : "", v[i].device, v[i].type,
                 v[i].mountpoint);
    }
    exec_report_str(c, key, buf);
}

int exec_seal_real(struct exec_child *c, const struct proto_job *job, char why[ERR_WHY_LEN]) {
    struct exec_disks d;
    int r = exec_disks_open(c, job, &d, why);
    if (r < 0)
        return r;
    struct seal_disk *disks = xcalloc(d.n, sizeof(*disks));
    for (size_t i = 0; i < d.n; i++) {
        disks[i].path = d.paths[i];
        disks[i].format = d.metas[i].format == FORMAT_COW ? "qcow2" : "raw";
    }
    const struct config_worker *cw = &c->cfg->worker;
    struct seal_opts opts = {
        .backend = cw->guestfs_backend,
        .backend_settings = cw->guestfs_backend_settings,
        .n_backend_settings = cw->n_guestfs_backend_settings,
        .memsize_mb = cw->guestfs_memsize_mb,
        .warm = c->warm, /* consumed by seal_run */
    };
    c->warm = NULL;
    struct seal_report *rep = xcalloc(1, sizeof(*rep));
    struct seal_pipe sp = { c, rep };
    exec_report_progress(c, 0, "launch");
    r = seal_run(&opts, disks, d.n, &job->args.seal.sysprep, seal_progress_to_pipe, &sp, rep, why);
    if (r < 0) {
        if (!why[0])
            snprintf(why, ERR_WHY_LEN, "%s", err_str(r));
    } else {
        exec_report_str(c, "distro", rep->distro);
        exec_report_int(c, "operations", (int64_t)rep->n_ops);
        exec_report_int(c, "removed", rep->removed_total);
        exec_report_int(c, "changed", rep->changed_total);
        exec_report_int(c, "duration_ms", rep->total_ms);
        exec_report_bool(c, "warm_start", rep->warm);
        exec_report_fs(c, "filesystems", rep->fs, rep->n_fs);
        if (rep->n_missing)
            exec_report_fs(c, "not_sealed", rep->missing, rep->n_missing);
    }
    free(rep);
    free(disks);
    exec_disks_close(&d);
    return r;
}
