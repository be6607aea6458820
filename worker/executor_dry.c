/* executor_dry.c - the dry-run executor (config worker.executor = "dry-run"),
 * for control-plane tests and benchmarks: same protocol, same job process
 * (a reusable runner, see runner.h), same timeouts and cancellation as the
 * real one, but no data is copied and no guest is touched. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "err.h"
#include "executor.h"
#include "seal.h"
#include "util.h"

/* Create the destination's data file as an empty sparse file of cap_bytes. */
static int dry_data_create(int img_fd, const char *vol_id, int64_t cap_bytes) {
    _cleanup_close_ int fd = -1;
    int r = sd_openat_file(img_fd, vol_id, O_WRONLY | O_CREAT | O_TRUNC, &fd);
    if (r < 0)
        return r;
    if (ftruncate(fd, cap_bytes) < 0 || fsync(fd) < 0)
        return -errno;
    return 0;
}

static int dry_copy_locked(struct exec_child *c, struct sd *dst, int img_fd, const struct proto_job *job,
                           const struct vol_meta *src_meta, char why[ERR_WHY_LEN]) {
    const struct proto_vol_ref *to = &job->args.copy.dst;
    enum vol_format format = job->args.copy.format != FORMAT_NONE ? job->args.copy.format : src_meta->format;
    char cause[ERR_WHY_LEN] = "";
    struct vol_meta m;

    int r = sd_volume_meta_readat(dst, img_fd, to->img_id, to->vol_id, &m, cause);
    if (r == 0) {
        /* Committed already: a redelivery of this copy, or another volume. */
        if (m.cap_bytes != src_meta->cap_bytes || m.format != format) {
            snprintf(why, ERR_WHY_LEN, "destination %s/%s exists and is not this copy", to->img_id, to->vol_id);
            return -VMS_E_VOLUME_EXISTS;
        }
        exec_report_meta(c, &m);
        return 0;
    }
    if (r != -VMS_E_NO_VOLUME) {
        snprintf(why, ERR_WHY_LEN, "destination metadata: %s", cause[0] ? cause : err_str(r));
        return r;
    }
    r = dry_data_create(img_fd, to->vol_id, src_meta->cap_bytes);
    if (r < 0) {
        snprintf(why, ERR_WHY_LEN, "create %s/%s: %s", to->img_id, to->vol_id, err_str(r));
        return r;
    }
    exec_report_progress(c, 50, "writing metadata");
    int64_t now_s = time_now_ms() / 1000;
    m = (struct vol_meta){
        .cap_bytes = src_meta->cap_bytes,
        .ctime_s = now_s,
        .mtime_s = now_s,
        .format = format,
        .gen = 0,
        .legality = LEGALITY_LEGAL,
        .voltype = VOLTYPE_LEAF,
    };
    snprintf(m.description, sizeof(m.description), "%s", src_meta->description);
    snprintf(m.domain, sizeof(m.domain), "%s", sd_id(dst));
    snprintf(m.image, sizeof(m.image), "%s", to->img_id);
    snprintf(m.puuid, sizeof(m.puuid), "%s", uuid_nil);
    snprintf(m.template_id, sizeof(m.template_id), "%s", job->template_id);
    r = sd_volume_meta_writeat(dst, img_fd, to->vol_id, &m, cause);
    if (r < 0) {
        snprintf(why, ERR_WHY_LEN, "write metadata: %s", cause[0] ? cause : err_str(r));
        return r;
    }
    exec_report_meta(c, &m);
    return 0;
}

static int dry_copy(struct exec_child *c, const struct proto_job *job, char why[ERR_WHY_LEN]) {
    struct sd *src = NULL, *dst = NULL;
    char cause[ERR_WHY_LEN] = "";
    struct vol_meta src_meta;
    int img_fd = -1;

    int r = exec_sd_open(c, job->args.copy.sd_id, &src, why);
    if (r < 0)
        goto out;
    r = sd_volume_meta_read(src, job->args.copy.src_img_id, job->args.copy.src_vol_id, &src_meta, cause);
    if (r < 0) {
        snprintf(why, ERR_WHY_LEN, "source %s/%s: %s", job->args.copy.src_img_id, job->args.copy.src_vol_id,
                 cause[0] ? cause : err_str(r));
        goto out;
    }
    if ((r = exec_sd_open(c, job->args.copy.dst.sd_id, &dst, why)) < 0)
        goto out;
    exec_report_progress(c, 0, "creating volume (dry-run)");
    r = sd_image_open_locked(dst, job->args.copy.dst.img_id, true, &img_fd);
    if (r < 0) {
        snprintf(why, ERR_WHY_LEN, "destination image %s: %s", job->args.copy.dst.img_id, err_str(r));
        goto out;
    }
    r = dry_copy_locked(c, dst, img_fd, job, &src_meta, why);
out:
    if (img_fd >= 0)
        close(img_fd);
    sd_close(dst);
    sd_close(src);
    return r;
}

static void sleep_ms(int64_t ms) {
    struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000 };
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
        ;
}

/* Check the operations and lock the disks like a real seal (an unknown
 * sysprep operation fails as it would there), then sleep in ten steps. */
static int dry_seal(struct exec_child *c, const struct proto_job *job, char why[ERR_WHY_LEN]) {
    struct exec_disks d;
    bool *selected = xcalloc(seal_ops_count() + 1, sizeof(*selected));
    int r = seal_ops_select(&job->args.seal.sysprep, selected, why);
    free(selected);
    if (r < 0)
        return r;
    r = exec_disks_open(c, job, &d, why);
    if (r < 0)
        return r;
    int64_t total = c->cfg->worker.dry_run_seal_ms;
    for (int i = 0; i < 10; i++) {
        exec_report_progress(c, i * 10, "sleeping (dry-run)");
        sleep_ms(total / 10);
    }
    exec_report_bool(c, "dry_run", true);
    exec_report_int(c, "disks", (int64_t)d.n);
    exec_report_int(c, "removed", 0);
    exec_disks_close(&d);
    return 0;
}

int exec_dry_run(struct exec_child *c, const struct proto_job *job, char why[ERR_WHY_LEN]) {
    switch (job->kind) {
    case JOB_VOLUME_COPY: return dry_copy(c, job, why);
    case JOB_VM_SEAL: return dry_seal(c, job, why);
    case JOB_VOLUME_UPDATE:
    case JOB_VOLUME_DELETE: return exec_real_run(c, job, why); /* metadata only already */
    }
    snprintf(why, ERR_WHY_LEN, "unknown job kind %d", (int)job->kind);
    return -VMS_E_INVALID;
}
