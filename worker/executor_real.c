/* executor_real.c - the real executor (config worker.executor = "real"):
 * volume.* through worker/sd/volume.h; vm.seal in executor_seal.c. */
#include <stdio.h>
#include <string.h>

#include "err.h"
#include "executor.h"
#include "util.h"
#include "volume.h"

static void volume_progress_to_pipe(int percent, const char *step, void *userdata) {
    exec_report_progress(userdata, percent, step);
}

static int fail_why(int r, const char *what, const char *cause, char why[ERR_WHY_LEN]) {
    snprintf(why, ERR_WHY_LEN, "%s: %s", what, cause && cause[0] ? cause : err_str(r));
    return r;
}

/* ---- the real executor ------------------------------------------------ */

static int real_copy(struct exec_child *c, const struct proto_job *job, char why[ERR_WHY_LEN]) {
    struct sd *src = NULL, *dst = NULL;
    char cause[ERR_WHY_LEN] = "";
    struct vol_meta m;
    enum vol_format format = job->args.copy.format;
    int r = exec_sd_open(c, job->args.copy.sd_id, &src, why);
    if (r < 0)
        goto out;
    if (strcmp(job->args.copy.sd_id, job->args.copy.dst.sd_id) == 0)
        dst = src;
    else if ((r = exec_sd_open(c, job->args.copy.dst.sd_id, &dst, why)) < 0)
        goto out;
    if (format == FORMAT_NONE) {
        r = sd_volume_meta_read(src, job->args.copy.src_img_id, job->args.copy.src_vol_id, &m, cause);
        if (r < 0) {
            fail_why(r, "read source metadata", cause, why);
            goto out;
        }
        format = m.format;
    }
    r = volume_copy(src, job->args.copy.src_img_id, job->args.copy.src_vol_id, dst, job->args.copy.dst.img_id,
                    job->args.copy.dst.vol_id, format, job->template_id, volume_progress_to_pipe, c, cause);
    if (r < 0) {
        fail_why(r, "copy", cause, why);
        goto out;
    }
    r = sd_volume_meta_read(dst, job->args.copy.dst.img_id, job->args.copy.dst.vol_id, &m, cause);
    if (r < 0) {
        fail_why(r, "read destination metadata", cause, why);
        goto out;
    }
    exec_report_meta(c, &m);
out:
    if (dst != src)
        sd_close(dst);
    sd_close(src);
    return r;
}

static int real_update(struct exec_child *c, const struct proto_job *job, char why[ERR_WHY_LEN]) {
    struct sd *sd = NULL;
    char cause[ERR_WHY_LEN] = "";
    struct vol_meta m;
    const struct proto_vol_ref *v = &job->args.update.vol;
    struct volume_change ch = {
        .generation = (int)job->args.update.generation,
        .legality = job->args.update.legality,
        .voltype = job->args.update.voltype,
        .description = job->args.update.description,
    };
    int r = exec_sd_open(c, v->sd_id, &sd, why);
    if (r < 0)
        return r;
    r = volume_update(sd, v->img_id, v->vol_id, &ch, volume_progress_to_pipe, c, &m, cause);
    if (r < 0)
        fail_why(r, "update", cause, why);
    else
        exec_report_meta(c, &m);
    sd_close(sd);
    return r;
}

static int real_delete(struct exec_child *c, const struct proto_job *job, char why[ERR_WHY_LEN]) {
    struct sd *sd = NULL;
    char cause[ERR_WHY_LEN] = "";
    const struct proto_vol_ref *v = &job->args.del.vol;
    int r = exec_sd_open(c, v->sd_id, &sd, why);
    if (r < 0)
        return r;
    r = volume_delete(sd, v->img_id, v->vol_id, job->template_id, volume_progress_to_pipe, c, cause);
    if (r < 0)
        fail_why(r, "delete", cause, why);
    else
        exec_report_bool(c, "deleted", true);
    sd_close(sd);
    return r;
}

int exec_real_run(struct exec_child *c, const struct proto_job *job, char why[ERR_WHY_LEN]) {
    switch (job->kind) {
    case JOB_VOLUME_COPY: return real_copy(c, job, why);
    case JOB_VOLUME_UPDATE: return real_update(c, job, why);
    case JOB_VOLUME_DELETE: return real_delete(c, job, why);
    case JOB_VM_SEAL: return exec_seal_real(c, job, why);
    }
    snprintf(why, ERR_WHY_LEN, "unknown job kind %d", (int)job->kind);
    return -VMS_E_INVALID;
}
