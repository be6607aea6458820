/* ctl_status.c - how `vmsealctl status ID` prints a template: text, every
 * line through ctl_print_line() (names, steps and error messages come from
 * tenants and guests and are escaped), or --json (common/json.h escapes). */
#include <inttypes.h>
#include <string.h>

#include "ctl_priv.h"
#include "util.h"

static void status_json(FILE *f, const struct rpc_template *t) {
    struct json j;
    json_begin(&j, f);
    json_obj_open(&j, NULL);
    json_str(&j, "id", t->id);
    json_str(&j, "name", t->name);
    json_str(&j, "state", t->state);
    json_str(&j, "step", t->step);
    json_bool(&j, "seal", t->seal);
    json_int(&j, "created_ms", t->created_ms);
    json_int(&j, "updated_ms", t->updated_ms);
    if (t->error_code) {
        json_obj_open(&j, "error");
        json_str(&j, "step", t->error_step);
        json_str(&j, "code", t->error_code);
        json_str(&j, "message", t->error_message);
        json_close(&j);
    } else {
        json_null(&j, "error");
    }
    json_arr_open(&j, "disks");
    for (size_t i = 0; i < t->n_disks; i++) {
        const struct rpc_disk *d = &t->disks[i];
        json_obj_open(&j, NULL);
        json_int(&j, "index", d->index);
        json_vol_ref(&j, "source", &d->source);
        json_vol_ref(&j, "target", &d->target);
        json_str(&j, "state", d->state);
        json_str(&j, "legality", vol_legality_to_string(d->legality));
        json_str(&j, "voltype", vol_type_to_string(d->voltype));
        json_int(&j, "generation", d->generation);
        json_close(&j);
    }
    json_close(&j);
    json_arr_open(&j, "jobs");
    for (size_t i = 0; i < t->n_jobs; i++) {
        const struct rpc_job *jb = &t->jobs[i];
        json_obj_open(&j, NULL);
        json_str(&j, "job_id", jb->job_id);
        json_str(&j, "kind", job_kind_to_string(jb->kind));
        json_str(&j, "step", jb->step);
        json_int(&j, "disk", jb->disk);
        json_int(&j, "attempt", jb->attempt);
        json_str(&j, "state", jb->state);
        json_int(&j, "created_ms", jb->created_ms);
        json_int(&j, "started_ms", jb->started_ms);
        json_int(&j, "finished_ms", jb->finished_ms);
        json_int(&j, "progress", jb->progress);
        json_str(&j, "worker_id", jb->worker_id);
        if (jb->error_code) {
            json_obj_open(&j, "error");
            json_str(&j, "code", jb->error_code);
            json_str(&j, "message", jb->error_message);
            json_close(&j);
        }
        if (jb->files)
            json_files(&j, "files", jb->files);
        json_close(&j);
    }
    json_close(&j);
    json_arr_open(&j, "leftovers");
    for (size_t i = 0; i < t->n_leftovers; i++)
        json_vol_ref(&j, NULL, &t->leftovers[i]);
    json_close(&j);
    json_close(&j);
    json_end(&j);
}

/* "<prefix>: R removed, C changed; N paths listed[, truncated]" */
static void files_summary(FILE *f, const char *prefix, const struct proto_files *fl) {
    int64_t removed = 0, changed = 0;
    for (size_t i = 0; i < fl->n_ops; i++) {
        removed += fl->ops[i].removed;
        changed += fl->ops[i].changed;
    }
    ctl_print_line(f, "%s: %" PRId64 " removed, %" PRId64 " changed; %zu paths listed%s", prefix, removed, changed,
                   fl->n_paths, fl->truncated ? ", truncated (the rest counted only)" : "");
}

static void status_text(FILE *f, const struct rpc_template *t) {
    char b1[32], b2[32];
    ctl_print_line(f, "template  %s  \"%s\"", t->id, t->name);
    ctl_print_line(f, "state     %s (step %s)%s", t->state, t->step, t->seal ? "  sealed" : "");
    ctl_print_line(f, "created   %s UTC   updated %s UTC", ctl_time_str(t->created_ms, b1),
                   ctl_time_str(t->updated_ms, b2));
    if (t->error_code)
        ctl_print_line(f, "error     at step %s: %s: %s", t->error_step ? t->error_step : "?", t->error_code,
                       t->error_message ? t->error_message : "");
    ctl_print_line(f, "disks");
    for (size_t i = 0; i < t->n_disks; i++) {
        const struct rpc_disk *d = &t->disks[i];
        ctl_print_line(f, "  %" PRId64 "  %s/%s -> %s:%s:%s  %s %s %s GEN %" PRId64, d->index, d->source.img_id,
                       d->source.vol_id, d->target.sd_id, d->target.img_id, d->target.vol_id, d->state,
                       vol_legality_to_string(d->legality), vol_type_to_string(d->voltype), d->generation);
    }
    ctl_print_line(f, "jobs");
    for (size_t i = 0; i < t->n_jobs; i++) {
        const struct rpc_job *j = &t->jobs[i];
        char disk[24], ms[32] = "";
        snprintf(disk, sizeof disk, j->disk < 0 ? "all" : "%" PRId64, j->disk);
        if (j->finished_ms && j->started_ms)
            snprintf(ms, sizeof ms, "  %" PRId64 " ms", j->finished_ms - j->started_ms);
        ctl_print_line(f, "  %s  %-13s %-12s disk %-3s attempt %" PRId64 "  %-9s %3" PRId64 "%%  %-12s%s%s%s%s%s",
                       j->job_id, job_kind_to_string(j->kind), j->step, disk, j->attempt, j->state, j->progress,
                       j->worker_id ? j->worker_id : "-", ms, j->error_code ? "  " : "",
                       j->error_code ? j->error_code : "", j->error_code ? ": " : "",
                       j->error_code && j->error_message ? j->error_message : "");
        if (j->files)
            files_summary(f, "            files", j->files);
    }
    if (t->n_leftovers) {
        ctl_print_line(f, "leftovers (left ILLEGAL; delete by hand)");
        for (size_t i = 0; i < t->n_leftovers; i++)
            ctl_print_line(f, "  %s:%s:%s", t->leftovers[i].sd_id, t->leftovers[i].img_id, t->leftovers[i].vol_id);
    }
}

void ctl_status_print_files(FILE *f, const struct rpc_template *t) {
    bool any = false;
    for (size_t i = 0; i < t->n_jobs; i++) {
        const struct rpc_job *j = &t->jobs[i];
        const struct proto_files *fl = j->files;
        if (!fl)
            continue;
        any = true;
        char head[128];
        snprintf(head, sizeof head, "seal job %s attempt %" PRId64 " (%s)", j->job_id, j->attempt, j->state);
        files_summary(f, head, fl);
        for (size_t k = 0; fl->truncated && k < fl->n_ops; k++)
            ctl_print_line(f, "  total  %-24s %" PRId64 " removed, %" PRId64 " changed", fl->ops[k].name,
                           fl->ops[k].removed, fl->ops[k].changed);
        /* Guest names arrive escaped (str_escape's form, which the decoder
         * checked): printed as they are, escaping again would double the
         * backslashes. */
        for (size_t k = 0; k < fl->n_paths; k++)
            fprintf(f, "  %-24s %-7s  %s  %s\n", fl->paths[k].op, proto_file_action_to_string(fl->paths[k].action),
                    fl->paths[k].mountpoint, fl->paths[k].path);
    }
    if (!any)
        ctl_print_line(f, "no seal attempt of template %s reported its files", t->id);
}

void ctl_status_print(FILE *f, const struct rpc_template *t, bool json) {
    if (json)
        status_json(f, t);
    else
        status_text(f, t);
}
