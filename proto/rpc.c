/* rpc.c - rpc.request / rpc.reply of vmseal.rpc (contract in rpc.h). */
#include "rpc.h"

#include <string.h>

#include "err.h"
#include "msg.h"
#include "util.h"
#include "wire.h"
#include "wire_names.h"

#define RPC_STATE_MAX 32
#define RPC_MAX_ITEMS 100000

static const char *const rpc_method_names[] = { "status", "list", "workers" };

const char *rpc_method_to_string(enum rpc_method m) {
    return (unsigned)m < ARRAY_SIZE(rpc_method_names) ? rpc_method_names[m] : "unknown";
}

/* Validate, check "v" and "type", name the root after the type, read
 * "method" (both rpc.request and rpc.reply start so). */
static int rpc_open(const void *buf, size_t len, const char *type, struct wire_map *root,
                    enum rpc_method *ret_method, char *why) {
    int64_t v = 0;
    int method = 0;
    _cleanup_free_ char *t = NULL;
    int r = wire_open(buf, len, "message", root, why);
    if (r >= 0)
        r = wire_map_int(root, "v", WIRE_REQUIRED, INT64_MIN, INT64_MAX, &v, why);
    if (r >= 0 && v != PROTO_VERSION) {
        wire_why(why, root->path, "v", "version %lld is not supported (this build reads %d)", (long long)v,
                 PROTO_VERSION);
        return -VMS_E_MSG_VERSION;
    }
    if (r >= 0)
        r = wire_map_str(root, "type", WIRE_REQUIRED, 1, 64, &t, why);
    if (r >= 0 && strcmp(t, type) != 0) {
        wire_why(why, root->path, "type", "expected \"%s\", got \"%s\"", type, t);
        return -VMS_E_MSG_BAD_VALUE;
    }
    if (r >= 0)
        wire_map_rename(root, type);
    if (r >= 0)
        r = wire_map_enum(root, "method", WIRE_REQUIRED, rpc_method_names, ARRAY_SIZE(rpc_method_names), &method,
                          why);
    *ret_method = (enum rpc_method)method;
    return r < 0 ? r : 0;
}

/* ---- request ------------------------------------------------------------ */

int rpc_encode_request(const struct rpc_request *m, char **ret_buf, size_t *ret_len) {
    bool status = m->method == RPC_STATUS, list = m->method == RPC_LIST;
    bool state = list && m->state, limit = list && m->limit > 0;
    if (status && !uuid_is_canonical(m->template_id))
        return -VMS_E_BAD_UUID;
    struct wire_packer w;
    wire_pack_init(&w);
    wire_pack_head(&w, RPC_REQUEST_TYPE, 1 + status + state + limit);
    wire_pack_kv_str(&w, "method", rpc_method_to_string(m->method));
    if (status)
        wire_pack_kv_str(&w, "template_id", m->template_id);
    if (state)
        wire_pack_kv_str(&w, "state", m->state);
    if (limit)
        wire_pack_kv_int(&w, "limit", m->limit);
    wire_pack_finish(&w, ret_buf, ret_len);
    return 0;
}

int rpc_decode_request(const void *buf, size_t len, struct rpc_request *ret, char *why) {
    struct wire_map root;
    memset(ret, 0, sizeof *ret);
    int r = rpc_open(buf, len, RPC_REQUEST_TYPE, &root, &ret->method, why);
    if (r >= 0 && ret->method == RPC_STATUS)
        r = wire_map_uuid(&root, "template_id", WIRE_REQUIRED, ret->template_id, why);
    if (r >= 0 && ret->method == RPC_LIST)
        r = wire_map_name(&root, "state", WIRE_OPTIONAL, 1, RPC_STATE_MAX, wire_cs_text, &ret->state, why);
    if (r >= 0 && ret->method == RPC_LIST)
        r = wire_map_int(&root, "limit", WIRE_OPTIONAL, 1, RPC_LIST_MAX_LIMIT, &ret->limit, why);
    if (r < 0) {
        rpc_request_free(ret);
        return r;
    }
    return 0;
}

void rpc_request_free(struct rpc_request *m) {
    if (!m)
        return;
    free(m->state);
    memset(m, 0, sizeof *m);
}

/* ---- reply: packing ------------------------------------------------------- */

static void pack_error(struct wire_packer *w, const char *step, const char *code, const char *message) {
    wire_pack_str(w, "error");
    wire_pack_map(w, 2 + (step != NULL));
    if (step)
        wire_pack_kv_str(w, "step", step);
    wire_pack_kv_str(w, "code", code);
    wire_pack_kv_str(w, "message", message ? message : "");
}

static void pack_disk(struct wire_packer *w, const struct rpc_disk *d) {
    wire_pack_map(w, 7);
    wire_pack_kv_int(w, "index", d->index);
    wire_pack_str(w, "source");
    msg_vol_ref_pack(w, &d->source, true);
    wire_pack_str(w, "target");
    msg_vol_ref_pack(w, &d->target, true);
    wire_pack_kv_str(w, "state", d->state);
    wire_pack_kv_str(w, "legality", vol_legality_to_string(d->legality));
    wire_pack_kv_str(w, "voltype", vol_type_to_string(d->voltype));
    wire_pack_kv_int(w, "generation", d->generation);
}

static void pack_job(struct wire_packer *w, const struct rpc_job *j) {
    bool err = j->error_code != NULL, worker = j->worker_id != NULL, files = j->files != NULL;
    wire_pack_map(w, 10 + worker + err + files);
    wire_pack_kv_str(w, "job_id", j->job_id);
    wire_pack_kv_str(w, "kind", job_kind_to_string(j->kind));
    wire_pack_kv_str(w, "step", j->step);
    wire_pack_kv_int(w, "disk", j->disk);
    wire_pack_kv_int(w, "attempt", j->attempt);
    wire_pack_kv_str(w, "state", j->state);
    wire_pack_kv_int(w, "created_ms", j->created_ms);
    wire_pack_kv_int(w, "started_ms", j->started_ms);
    wire_pack_kv_int(w, "finished_ms", j->finished_ms);
    wire_pack_kv_int(w, "progress", j->progress);
    if (worker)
        wire_pack_kv_str(w, "worker_id", j->worker_id);
    if (err)
        pack_error(w, NULL, j->error_code, j->error_message);
    if (files)
        msg_files_pack(w, "files", j->files);
}

/* "id", "name", "state", "step": the first keys of a template and of its
 * summary (read back by head_read). */
static void pack_head(struct wire_packer *w, const char *id, const char *name, const char *state,
                      const char *step) {
    wire_pack_kv_str(w, "id", id);
    wire_pack_kv_str(w, "name", name);
    wire_pack_kv_str(w, "state", state);
    wire_pack_kv_str(w, "step", step);
}

static void pack_template(struct wire_packer *w, const struct rpc_template *t) {
    bool err = t->error_code != NULL;
    wire_pack_str(w, "template");
    wire_pack_map(w, 10 + err);
    pack_head(w, t->id, t->name, t->state, t->step);
    wire_pack_kv_bool(w, "seal", t->seal);
    wire_pack_kv_int(w, "created_ms", t->created_ms);
    wire_pack_kv_int(w, "updated_ms", t->updated_ms);
    if (err)
        pack_error(w, t->error_step ? t->error_step : "", t->error_code, t->error_message);
    wire_pack_str(w, "disks");
    wire_pack_array(w, t->n_disks);
    for (size_t i = 0; i < t->n_disks; i++)
        pack_disk(w, &t->disks[i]);
    wire_pack_str(w, "jobs");
    wire_pack_array(w, t->n_jobs);
    for (size_t i = 0; i < t->n_jobs; i++)
        pack_job(w, &t->jobs[i]);
    wire_pack_str(w, "leftovers");
    wire_pack_array(w, t->n_leftovers);
    for (size_t i = 0; i < t->n_leftovers; i++)
        msg_vol_ref_pack(w, &t->leftovers[i], true);
}

static void pack_summaries(struct wire_packer *w, const struct rpc_summary *s, size_t n) {
    wire_pack_str(w, "templates");
    wire_pack_array(w, n);
    for (size_t i = 0; i < n; i++) {
        wire_pack_map(w, 5);
        pack_head(w, s[i].id, s[i].name, s[i].state, s[i].step);
        wire_pack_kv_int(w, "updated_ms", s[i].updated_ms);
    }
}

static void pack_workers(struct wire_packer *w, const struct rpc_worker *wk, size_t n) {
    wire_pack_str(w, "workers");
    wire_pack_array(w, n);
    for (size_t i = 0; i < n; i++) {
        const struct proto_heartbeat *h = &wk[i].hb;
        wire_pack_map(w, 10);
        wire_pack_kv_str(w, "worker_id", h->worker_id);
        wire_pack_kv_str(w, "host", h->host);
        wire_pack_kv_str(w, "version", h->version);
        wire_pack_kv_str(w, "libguestfs_version", h->libguestfs_version);
        wire_pack_kv_str_array(w, "pools", h->pools, h->n_pools);
        wire_pack_kv_uuid_array(w, "sd_ids", h->sd_ids, h->n_sd_ids);
        wire_pack_kv_int(w, "slots", h->slots);
        wire_pack_kv_uuid_array(w, "running", h->running, h->n_running);
        wire_pack_kv_int(w, "ts_ms", h->ts_ms);
        wire_pack_kv_int(w, "received_ms", wk[i].received_ms);
    }
}

int rpc_encode_reply(const struct rpc_reply *m, char **ret_buf, size_t *ret_len) {
    struct wire_packer w;
    wire_pack_init(&w);
    wire_pack_head(&w, RPC_REPLY_TYPE, 3);
    wire_pack_kv_str(&w, "method", rpc_method_to_string(m->method));
    wire_pack_kv_bool(&w, "ok", m->ok);
    if (!m->ok)
        pack_error(&w, NULL, m->error_code ? m->error_code : "internal", m->error_message);
    else if (m->method == RPC_STATUS)
        pack_template(&w, &m->tpl);
    else if (m->method == RPC_LIST)
        pack_summaries(&w, m->templates, m->n_templates);
    else
        pack_workers(&w, m->workers, m->n_workers);
    /* check our own output with the decoder, as proto's encoders do */
    struct rpc_reply check;
    int r = rpc_decode_reply(w.data, w.len, &check, NULL);
    rpc_reply_free(&check);
    return wire_pack_finish_checked(&w, r, ret_buf, ret_len);
}

/* ---- reply: reading ------------------------------------------------------------ */

#define TEXT(m, key, flags, max, out) wire_map_name(m, key, flags, 0, max, wire_cs_text, out, why)
#define TIME(m, key, out)             wire_map_int(m, key, WIRE_REQUIRED, 0, INT64_MAX, out, why)

static int error_read(const struct wire_map *m, bool with_step, char **step, char **code, char **message,
                      char *why) {
    struct wire_map e;
    int r = wire_map_map(m, "error", WIRE_OPTIONAL, &e, why);
    if (r <= 0)
        return r;
    if (with_step)
        r = TEXT(&e, "step", WIRE_REQUIRED, MSG_STEP_MAX, step);
    if (r >= 0)
        r = wire_map_name(&e, "code", WIRE_REQUIRED, 1, MSG_ERR_CODE_MAX, WIRE_CS_ERR_CODE, code, why);
    if (r >= 0)
        r = TEXT(&e, "message", WIRE_REQUIRED, MSG_ERR_MESSAGE_MAX, message);
    return r;
}

static int vol_ref_at(const struct wire_map *m, const char *key, struct proto_vol_ref *ret, char *why) {
    struct wire_map v;
    int r = wire_map_map(m, key, WIRE_REQUIRED, &v, why);
    return r < 0 ? r : msg_vol_ref_read(&v, true, ret, why);
}

/* The readers of an array's items (wire_map_array_read): each takes one map. */
static int disk_read_cb(const struct wire_map *m, void *it, char *why) {
    struct rpc_disk *d = it;
    int l = 0, t = 0;
    int r = wire_map_int(m, "index", WIRE_REQUIRED, 0, MSG_DISKS_MAX, &d->index, why);
    if (r >= 0)
        r = vol_ref_at(m, "source", &d->source, why);
    if (r >= 0)
        r = vol_ref_at(m, "target", &d->target, why);
    if (r >= 0)
        r = TEXT(m, "state", WIRE_REQUIRED, RPC_STATE_MAX, &d->state);
    if (r >= 0)
        r = wire_map_enum(m, "legality", WIRE_REQUIRED, vol_legality_names, 3, &l, why);
    if (r >= 0)
        r = wire_map_enum(m, "voltype", WIRE_REQUIRED, vol_type_names, 4, &t, why);
    if (r >= 0)
        r = wire_map_int(m, "generation", WIRE_REQUIRED, 0, MSG_GENERATION_MAX, &d->generation, why);
    d->legality = (enum vol_legality)l;
    d->voltype = (enum vol_type)t;
    return r;
}

static int job_read_cb(const struct wire_map *m, void *it, char *why) {
    struct rpc_job *j = it;
    int kind = 0;
    int r = wire_map_uuid(m, "job_id", WIRE_REQUIRED, j->job_id, why);
    if (r >= 0)
        r = wire_map_enum(m, "kind", WIRE_REQUIRED, job_kind_names, JOB_N_KINDS, &kind, why);
    j->kind = (enum job_kind)kind;
    if (r >= 0)
        r = TEXT(m, "step", WIRE_REQUIRED, RPC_STATE_MAX, &j->step);
    if (r >= 0)
        r = wire_map_int(m, "disk", WIRE_REQUIRED, -1, MSG_DISKS_MAX, &j->disk, why);
    if (r >= 0)
        r = wire_map_int(m, "attempt", WIRE_REQUIRED, 1, MSG_ATTEMPT_MAX, &j->attempt, why);
    if (r >= 0)
        r = TEXT(m, "state", WIRE_REQUIRED, RPC_STATE_MAX, &j->state);
    if (r >= 0)
        r = TIME(m, "created_ms", &j->created_ms);
    if (r >= 0)
        r = TIME(m, "started_ms", &j->started_ms);
    if (r >= 0)
        r = TIME(m, "finished_ms", &j->finished_ms);
    if (r >= 0)
        r = wire_map_int(m, "progress", WIRE_REQUIRED, 0, 100, &j->progress, why);
    if (r >= 0)
        r = wire_map_name(m, "worker_id", WIRE_OPTIONAL, 1, MSG_NAME_MAX, wire_cs_text, &j->worker_id, why);
    if (r >= 0)
        r = error_read(m, false, NULL, &j->error_code, &j->error_message, why);
    if (r >= 0)
        r = msg_files_read(m, "files", &j->files, why);
    return r;
}

static int vol_read_cb(const struct wire_map *m, void *it, char *why) {
    return msg_vol_ref_read(m, true, it, why);
}

/* The keys pack_head wrote. */
static int head_read(const struct wire_map *m, proto_uuid id, char **name, char **state, char **step, char *why) {
    int r = wire_map_uuid(m, "id", WIRE_REQUIRED, id, why);
    if (r >= 0)
        r = TEXT(m, "name", WIRE_REQUIRED, MSG_NAME_MAX, name);
    if (r >= 0)
        r = TEXT(m, "state", WIRE_REQUIRED, RPC_STATE_MAX, state);
    if (r >= 0)
        r = TEXT(m, "step", WIRE_REQUIRED, RPC_STATE_MAX, step);
    return r;
}

static int summary_read_cb(const struct wire_map *m, void *it, char *why) {
    struct rpc_summary *s = it;
    int r = head_read(m, s->id, &s->name, &s->state, &s->step, why);
    if (r >= 0)
        r = TIME(m, "updated_ms", &s->updated_ms);
    return r;
}

static int worker_read_cb(const struct wire_map *m, void *it, char *why) {
    struct rpc_worker *w = it;
    int r = msg_heartbeat_read(m, &w->hb, why);
    if (r >= 0)
        r = TIME(m, "received_ms", &w->received_ms);
    return r;
}

static int template_read(const struct wire_map *root, struct rpc_template *t, char *why) {
    struct wire_map m;
    int r = wire_map_map(root, "template", WIRE_REQUIRED, &m, why);
    if (r >= 0)
        r = head_read(&m, t->id, &t->name, &t->state, &t->step, why);
    if (r >= 0)
        r = wire_map_bool(&m, "seal", WIRE_REQUIRED, &t->seal, why);
    if (r >= 0)
        r = TIME(&m, "created_ms", &t->created_ms);
    if (r >= 0)
        r = TIME(&m, "updated_ms", &t->updated_ms);
    if (r >= 0)
        r = error_read(&m, true, &t->error_step, &t->error_code, &t->error_message, why);
    if (r >= 0)
        r = wire_map_array_read(&m, "disks", RPC_MAX_ITEMS, sizeof *t->disks, disk_read_cb, (void **)&t->disks,
                                &t->n_disks, why);
    if (r >= 0)
        r = wire_map_array_read(&m, "jobs", RPC_MAX_ITEMS, sizeof *t->jobs, job_read_cb, (void **)&t->jobs,
                                &t->n_jobs, why);
    if (r >= 0)
        r = wire_map_array_read(&m, "leftovers", RPC_MAX_ITEMS, sizeof *t->leftovers, vol_read_cb,
                                (void **)&t->leftovers, &t->n_leftovers, why);
    return r;
}

int rpc_decode_reply(const void *buf, size_t len, struct rpc_reply *ret, char *why) {
    struct wire_map root;
    memset(ret, 0, sizeof *ret);
    int r = rpc_open(buf, len, RPC_REPLY_TYPE, &root, &ret->method, why);
    if (r >= 0)
        r = wire_map_bool(&root, "ok", WIRE_REQUIRED, &ret->ok, why);
    if (r >= 0 && !ret->ok) {
        r = error_read(&root, false, NULL, &ret->error_code, &ret->error_message, why);
        if (r == 0) {
            wire_why(why, root.path, "error", "required when ok is false");
            r = -VMS_E_MSG_MISSING_KEY;
        }
    } else if (r >= 0 && ret->method == RPC_STATUS) {
        r = template_read(&root, &ret->tpl, why);
    } else if (r >= 0 && ret->method == RPC_LIST) {
        r = wire_map_array_read(&root, "templates", RPC_MAX_ITEMS, sizeof *ret->templates, summary_read_cb,
                                (void **)&ret->templates, &ret->n_templates, why);
    } else if (r >= 0) {
        r = wire_map_array_read(&root, "workers", RPC_MAX_ITEMS, sizeof *ret->workers, worker_read_cb,
                                (void **)&ret->workers, &ret->n_workers, why);
    }
    if (r < 0) {
        rpc_reply_free(ret);
        return r;
    }
    return 0;
}

void rpc_template_free(struct rpc_template *t) {
    if (!t)
        return;
    free(t->name);
    free(t->state);
    free(t->step);
    free(t->error_step);
    free(t->error_code);
    free(t->error_message);
    for (size_t i = 0; i < t->n_disks; i++)
        free(t->disks[i].state);
    free(t->disks);
    for (size_t i = 0; i < t->n_jobs; i++) {
        free(t->jobs[i].step);
        free(t->jobs[i].state);
        free(t->jobs[i].worker_id);
        free(t->jobs[i].error_code);
        free(t->jobs[i].error_message);
        proto_files_free(t->jobs[i].files);
        free(t->jobs[i].files);
    }
    free(t->jobs);
    free(t->leftovers);
    memset(t, 0, sizeof *t);
}

void rpc_reply_free(struct rpc_reply *m) {
    if (!m)
        return;
    free(m->error_code);
    free(m->error_message);
    rpc_template_free(&m->tpl);
    for (size_t i = 0; i < m->n_templates; i++) {
        free(m->templates[i].name);
        free(m->templates[i].state);
        free(m->templates[i].step);
    }
    free(m->templates);
    for (size_t i = 0; i < m->n_workers; i++)
        proto_heartbeat_free(&m->workers[i].hb);
    free(m->workers);
    memset(m, 0, sizeof *m);
}

/* ---- peek ------------------------------------------------------------------------ */

int proto_peek_template_id(const void *buf, size_t len, proto_uuid ret) {
    struct wire_map root;
    ret[0] = '\0';
    int r = wire_open(buf, len, "message", &root, NULL);
    if (r >= 0)
        r = wire_map_uuid(&root, "template_id", WIRE_REQUIRED, ret, NULL);
    if (r < 0)
        ret[0] = '\0';
    return r < 0 ? r : 0;
}
