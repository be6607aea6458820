/* rpc_server.c - status / list / workers answers from the store. */
#include "rpc_server.h"

#include <string.h>

#include "err.h"
#include "util.h"

void worker_table_update(struct worker_table *t, struct proto_heartbeat *hb, int64_t now_ms) {
    size_t keep = 0;
    bool stored = false;
    for (size_t i = 0; i < t->n; i++) {
        struct rpc_worker *w = &t->v[i];
        if (strcmp(w->hb.worker_id, hb->worker_id) == 0) {
            proto_heartbeat_free(&w->hb);
            w->hb = *hb;
            w->received_ms = now_ms;
            stored = true;
        } else if (now_ms - w->received_ms > RPC_WORKER_TTL_MS) {
            proto_heartbeat_free(&w->hb);
            continue;
        }
        t->v[keep++] = *w;
    }
    t->n = keep;
    if (!stored) {
        t->v = xrealloc(t->v, (t->n + 1) * sizeof *t->v);
        t->v[t->n++] = (struct rpc_worker){ .hb = *hb, .received_ms = now_ms };
    }
    memset(hb, 0, sizeof *hb);
}

void worker_table_free(struct worker_table *t) {
    for (size_t i = 0; t && i < t->n; i++)
        proto_heartbeat_free(&t->v[i].hb);
    if (t) {
        free(t->v);
        t->v = NULL;
        t->n = 0;
    }
}

static char *xstrdup_or_null(const char *s) { return s ? xstrdup(s) : NULL; }

static void status_disks(struct rpc_template *t, const struct store_disk *d, size_t n) {
    t->disks = xcalloc(n, sizeof *t->disks);
    t->leftovers = xcalloc(n, sizeof *t->leftovers);
    for (size_t i = 0; i < n; i++) {
        t->disks[i] = (struct rpc_disk){
            .index = d[i].idx,
            .source = d[i].src,
            .target = d[i].dst,
            .state = xstrdup(disk_state_to_string(d[i].state)),
            .legality = d[i].legality,
            .voltype = d[i].voltype,
            .generation = d[i].generation,
        };
        if (d[i].state == DISK_LEFTOVER)
            t->leftovers[t->n_leftovers++] = d[i].dst;
    }
    t->n_disks = n;
}

static void status_jobs(struct rpc_template *t, const struct store_job *j, size_t n) {
    t->jobs = xcalloc(n, sizeof *t->jobs);
    for (size_t i = 0; i < n; i++) {
        struct rpc_job *o = &t->jobs[i];
        memcpy(o->job_id, j[i].id, sizeof o->job_id);
        o->kind = j[i].kind;
        o->step = xstrdup(tpl_step_to_string(j[i].step));
        o->disk = j[i].disk;
        o->attempt = j[i].attempt;
        o->state = xstrdup(job_state_to_string(j[i].state));
        o->created_ms = j[i].created_ms;
        o->started_ms = j[i].started_ms;
        o->finished_ms = j[i].finished_ms;
        o->progress = j[i].progress;
        o->worker_id = xstrdup_or_null(j[i].worker_id);
        o->error_code = xstrdup_or_null(j[i].error_code);
        o->error_message = o->error_code ? xstrdup(j[i].error_message ? j[i].error_message : "") : NULL;
    }
    t->n_jobs = n;
}

/* What the seal attempts did: newest first, the paths while the reply's
 * budget allows (RPC_STATUS_FILES_*), the counts only after that. */
static int status_files(struct store *st, struct rpc_template *t) {
    size_t paths = 0, bytes = 0;
    for (size_t i = t->n_jobs; i-- > 0;) {
        struct rpc_job *j = &t->jobs[i];
        int r = j->kind == JOB_VM_SEAL ? store_job_files_get(st, j->job_id, &j->files) : 0;
        if (r < 0)
            return r;
        if (!j->files)
            continue;
        paths += j->files->n_paths;
        bytes += j->files->path_bytes;
        if (paths > RPC_STATUS_FILES_PATHS_MAX || bytes > RPC_STATUS_FILES_BYTES_MAX)
            proto_files_drop_paths(j->files);
    }
    return 0;
}

static int answer_status(struct store *st, const char *id, struct rpc_reply *rep) {
    struct store_template t;
    struct store_disk *disks = NULL;
    struct store_job *jobs = NULL;
    size_t n_disks = 0, n_jobs = 0;
    int r = store_template_get(st, id, &t);
    if (r < 0)
        return r;
    if ((r = store_disks_get(st, id, &disks, &n_disks)) == 0 &&
        (r = store_jobs_get(st, id, &jobs, &n_jobs)) == 0) {
        struct rpc_template *o = &rep->tpl;
        memcpy(o->id, t.id, sizeof o->id);
        o->name = xstrdup(t.name);
        o->state = xstrdup(tpl_state_to_string(t.state));
        o->step = xstrdup(tpl_step_to_string(t.step));
        o->seal = t.seal;
        o->created_ms = t.created_ms;
        o->updated_ms = t.updated_ms;
        if (t.error_code) {
            o->error_step = xstrdup(t.error_step ? t.error_step : "");
            o->error_code = xstrdup(t.error_code);
            o->error_message = xstrdup(t.error_message ? t.error_message : "");
        }
        status_disks(o, disks, n_disks);
        status_jobs(o, jobs, n_jobs);
        r = status_files(st, o);
    }
    free(disks);
    store_job_array_free(jobs, n_jobs);
    store_template_free(&t);
    return r;
}

static int answer_list(struct store *st, const struct rpc_request *rq, struct rpc_reply *rep) {
    enum tpl_state state = TPL_CREATING;
    if (rq->state && tpl_state_from_string(rq->state, &state) < 0)
        return -VMS_E_INVALID;
    struct store_template *v = NULL;
    size_t n = 0;
    int r = store_template_list(st, rq->state ? (int)state : -1,
                                rq->limit > 0 ? (int)rq->limit : RPC_LIST_DEFAULT_LIMIT, &v, &n);
    if (r < 0)
        return r;
    rep->templates = xcalloc(n, sizeof *rep->templates);
    for (size_t i = 0; i < n; i++) {
        struct rpc_summary *s = &rep->templates[i];
        memcpy(s->id, v[i].id, sizeof s->id);
        s->name = xstrdup(v[i].name);
        s->state = xstrdup(tpl_state_to_string(v[i].state));
        s->step = xstrdup(tpl_step_to_string(v[i].step));
        s->updated_ms = v[i].updated_ms;
    }
    rep->n_templates = n;
    store_template_array_free(v, n);
    return 0;
}

/* Borrow the table's heartbeats (not freed with the reply). */
static void answer_workers(const struct worker_table *w, int64_t now_ms, struct rpc_reply *rep) {
    rep->workers = xcalloc(w ? w->n : 0, sizeof *rep->workers);
    for (size_t i = 0; w && i < w->n; i++)
        if (now_ms - w->v[i].received_ms <= RPC_WORKER_TTL_MS)
            rep->workers[rep->n_workers++] = w->v[i];
}

int rpc_server_answer(struct store *st, const struct worker_table *workers, const void *body, size_t len,
                      int64_t now_ms, char **ret_buf, size_t *ret_len) {
    char why[ERR_WHY_LEN] = "";
    struct rpc_request rq;
    struct rpc_reply rep = { 0 };
    int r = rpc_decode_request(body, len, &rq, why);
    if (r == 0) {
        rep.method = rq.method;
        if (rq.method == RPC_STATUS)
            r = answer_status(st, rq.template_id, &rep);
        else if (rq.method == RPC_LIST)
            r = answer_list(st, &rq, &rep);
        else
            answer_workers(workers, now_ms, &rep);
        if (r == -VMS_E_NOT_FOUND)
            snprintf(why, sizeof why, "no template %s", rq.template_id);
        else if (r == -VMS_E_INVALID)
            snprintf(why, sizeof why, "rpc.request.state: unknown template state \"%s\"", rq.state);
        else if (r < 0)
            snprintf(why, sizeof why, "%s: %s", err_str(r), store_why(st));
    }
    rep.ok = r == 0;
    if (r < 0) {
        rpc_template_free(&rep.tpl);
        rep.error_code = xstrdup(err_name(r));
        rep.error_message = xstrdup(why);
    }
    int e = rpc_encode_reply(&rep, ret_buf, ret_len);
    /* the workers' heartbeats belong to the table */
    free(rep.workers);
    rep.workers = NULL;
    rep.n_workers = 0;
    rpc_reply_free(&rep);
    rpc_request_free(&rq);
    return e;
}
