/* msg_event.c - status events and worker heartbeats. */
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "msg.h"
#include "util.h"
#include "wire_names.h"

/* ---- event ---------------------------------------------------------------- */

void proto_event_free(struct proto_event *m) {
    if (!m)
        return;
    free(m->worker_id);
    free(m->step);
    free(m->error.code);
    free(m->error.message);
    for (size_t i = 0; m->result && i < m->n_result; i++) {
        free(m->result[i].key);
        free(m->result[i].s);
    }
    free(m->result);
    free(m->volumes);
    proto_files_free(m->files);
    free(m->files);
    memset(m, 0, sizeof(*m));
}

static int error_read(const struct wire_map *root, struct proto_event *m, char *why) {
    struct wire_map e;
    int r = wire_map_map(root, "error", WIRE_OPTIONAL, &e, why);
    if (r <= 0)
        return r;
    m->has_error = true;
    r = wire_map_name(&e, "code", WIRE_REQUIRED, 1, MSG_ERR_CODE_MAX, WIRE_CS_ERR_CODE, &m->error.code, why);
    if (r >= 0)
        r = wire_map_str(&e, "message", WIRE_REQUIRED, 0, MSG_ERR_MESSAGE_MAX, &m->error.message, why);
    if (r >= 0)
        r = wire_map_bool(&e, "permanent", WIRE_REQUIRED, &m->error.permanent, why);
    return r;
}

/* result: string keys -> str / int / bool */
static int result_read(const struct wire_map *root, struct proto_event *m, char *why) {
    struct wire_map res;
    int r = wire_map_map(root, "result", WIRE_OPTIONAL, &res, why);
    if (r <= 0)
        return r;
    if (res.n_pairs > MSG_RESULT_MAX) {
        wire_why(why, res.path, NULL, "%zu entries, at most %d allowed", res.n_pairs, MSG_RESULT_MAX);
        return -VMS_E_MSG_BAD_VALUE;
    }
    m->result = xcalloc(res.n_pairs ? res.n_pairs : 1, sizeof(*m->result));
    struct wire_map_iter it = { 0 };
    const char *k;
    size_t kn;
    struct wire_val v;
    while (wire_map_iter_next(&res, &it, &k, &kn, &v)) {
        struct wire_val kv = { .type = WIRE_STR, .body = (const uint8_t *)k, .n = kn };
        struct proto_kv *e = &m->result[m->n_result];
        char key[MSG_RESULT_KEY_MAX + 1];
        r = wire_check_str(&kv, res.path, "<key>", 1, MSG_RESULT_KEY_MAX, wire_cs_text, why);
        if (r < 0)
            return r;
        memcpy(key, k, kn);
        key[kn] = '\0';
        if (v.type == WIRE_STR) {
            r = wire_check_str(&v, res.path, key, 0, MSG_RESULT_STR_MAX, NULL, why);
            if (r < 0)
                return r;
            e->type = KV_STR;
            e->s = xstrndup((const char *)v.body, v.n);
        } else if (v.type == WIRE_INT && !v.big) {
            e->type = KV_INT;
            e->i = v.i;
        } else if (v.type == WIRE_BOOL) {
            e->type = KV_BOOL;
            e->i = v.b;
        } else {
            wire_why(why, res.path, key, "expected a string, integer or bool, got %s%s", wire_type_name(v.type),
                     v.big ? " above INT64_MAX" : "");
            return v.big ? -VMS_E_MSG_BAD_VALUE : -VMS_E_MSG_BAD_TYPE;
        }
        e->key = xstrdup(key);
        m->n_result++;
    }
    return 1;
}

/* volumes: [{sd_id, img_id, vol_id, state, legality, voltype}] */
static int volumes_read(const struct wire_map *root, struct proto_event *m, char *why) {
    struct wire_array a;
    int r = wire_map_array(root, "volumes", WIRE_OPTIONAL, 0, MSG_DISKS_MAX, &a, why);
    if (r <= 0)
        return r;
    m->volumes = xcalloc(a.n ? a.n : 1, sizeof(*m->volumes));
    for (size_t i = 0; i < a.n && r >= 0; i++) {
        struct proto_event_volume *v = &m->volumes[m->n_volumes++];
        struct wire_map vm;
        int st = 0, l = 0, t = 0;
        r = wire_array_next_map(&a, &vm, why);
        if (r >= 0)
            r = msg_vol_ref_read(&vm, true, &v->vol, why);
        if (r >= 0)
            r = wire_map_enum(&vm, "state", WIRE_REQUIRED, vol_state_names, VOL_N_STATES, &st, why);
        if (r >= 0)
            r = wire_map_enum(&vm, "legality", WIRE_REQUIRED, vol_legality_names, ARRAY_SIZE(vol_legality_names),
                              &l, why);
        if (r >= 0)
            r = wire_map_enum(&vm, "voltype", WIRE_REQUIRED, vol_type_names, ARRAY_SIZE(vol_type_names), &t, why);
        v->state = (enum vol_state)st;
        v->legality = (enum vol_legality)l;
        v->voltype = (enum vol_type)t;
    }
    return r;
}

static void volumes_pack(struct wire_packer *w, const struct proto_event *m) {
    wire_pack_str(w, "volumes");
    wire_pack_array(w, m->n_volumes);
    for (size_t i = 0; i < m->n_volumes; i++) {
        const struct proto_event_volume *v = &m->volumes[i];
        wire_pack_map(w, 6);
        wire_pack_kv_str(w, "sd_id", v->vol.sd_id);
        wire_pack_kv_str(w, "img_id", v->vol.img_id);
        wire_pack_kv_str(w, "vol_id", v->vol.vol_id);
        wire_pack_kv_str(w, "state", vol_state_to_string(v->state));
        wire_pack_kv_str(w, "legality", vol_legality_to_string(v->legality));
        wire_pack_kv_str(w, "voltype", vol_type_to_string(v->voltype));
    }
}

static bool state_is_job_state(enum event_state s) { return s <= EV_CANCELLED; }

int msg_event_read(const struct wire_map *root, struct proto_event *ret, char *why) {
    memset(ret, 0, sizeof(*ret));
    ret->progress = -1;
    int state = 0;
    int64_t progress = -1;
    int r = wire_map_uuid(root, "event_id", WIRE_REQUIRED, ret->event_id, why);
    if (r >= 0)
        r = wire_map_uuid(root, "job_id", WIRE_OPTIONAL, ret->job_id, why);
    if (r >= 0)
        r = wire_map_uuid(root, "template_id", WIRE_REQUIRED, ret->template_id, why);
    if (r >= 0)
        r = wire_map_name(root, "worker_id", WIRE_REQUIRED, 1, MSG_NAME_MAX, wire_cs_text, &ret->worker_id, why);
    if (r >= 0)
        r = wire_map_enum(root, "state", WIRE_REQUIRED, event_state_names, EV_N_STATES, &state, why);
    ret->state = (enum event_state)state;
    if (r >= 0 && ret->job_id[0] && !state_is_job_state(ret->state)) {
        wire_why(why, root->path, "state", "\"%s\" is a template state, not valid for a job event",
                 event_state_names[state]);
        r = -VMS_E_MSG_BAD_VALUE;
    }
    if (r >= 0)
        r = wire_map_int(root, "progress", WIRE_OPTIONAL, 0, 100, &progress, why);
    ret->progress = (int)progress;
    if (r >= 0)
        r = wire_map_name(root, "step", WIRE_OPTIONAL, 0, MSG_STEP_MAX, wire_cs_text, &ret->step, why);
    if (r >= 0)
        r = error_read(root, ret, why);
    if (r >= 0)
        r = result_read(root, ret, why);
    if (r >= 0)
        r = volumes_read(root, ret, why);
    if (r >= 0)
        r = msg_files_read(root, "files", &ret->files, why);
    if (r >= 0)
        r = wire_map_int(root, "ts_ms", WIRE_REQUIRED, 0, INT64_MAX, &ret->ts_ms, why);
    if (r < 0) {
        proto_event_free(ret);
        ret->progress = -1;
        return r;
    }
    return 0;
}

int proto_decode_event(const void *buf, size_t len, struct proto_event *ret, char *why) {
    struct wire_map root;
    memset(ret, 0, sizeof(*ret));
    ret->progress = -1;
    int r = msg_open(buf, len, PROTO_EVENT, &root, why);
    return r < 0 ? r : msg_event_read(&root, ret, why);
}

static void result_pack(struct wire_packer *w, const struct proto_event *m) {
    wire_pack_str(w, "result");
    wire_pack_map(w, m->n_result);
    for (size_t i = 0; i < m->n_result; i++) {
        const struct proto_kv *e = &m->result[i];
        wire_pack_str(w, e->key);
        if (e->type == KV_STR)
            wire_pack_str(w, e->s);
        else if (e->type == KV_INT)
            wire_pack_int(w, e->i);
        else
            wire_pack_bool(w, e->i != 0);
    }
}

/* v, type, event_id, [job_id], template_id, worker_id, state, [progress],
 * [step], [error {code, message, permanent}], [result], [volumes], [files],
 * ts_ms */
int proto_encode_event(const struct proto_event *m, char **ret_buf, size_t *ret_len) {
    struct wire_packer w;
    bool job = m->job_id[0] != '\0', progress = m->progress >= 0, step = m->step != NULL;
    bool result = m->result != NULL; /* an empty map when n_result is 0 */
    bool volumes = m->volumes != NULL;
    wire_pack_init(&w);
    wire_pack_head(&w, "event", 5 + job + progress + step + m->has_error + result + volumes + (m->files != NULL));
    wire_pack_kv_str(&w, "event_id", m->event_id);
    if (job)
        wire_pack_kv_str(&w, "job_id", m->job_id);
    wire_pack_kv_str(&w, "template_id", m->template_id);
    wire_pack_kv_str(&w, "worker_id", m->worker_id);
    wire_pack_kv_str(&w, "state", event_state_to_string(m->state));
    if (progress)
        wire_pack_kv_int(&w, "progress", m->progress);
    if (step)
        wire_pack_kv_str(&w, "step", m->step);
    if (m->has_error) {
        wire_pack_str(&w, "error");
        wire_pack_map(&w, 3);
        wire_pack_kv_str(&w, "code", m->error.code);
        wire_pack_kv_str(&w, "message", m->error.message);
        wire_pack_kv_bool(&w, "permanent", m->error.permanent);
    }
    if (result)
        result_pack(&w, m);
    if (volumes)
        volumes_pack(&w, m);
    if (m->files)
        msg_files_pack(&w, "files", m->files);
    wire_pack_kv_int(&w, "ts_ms", m->ts_ms);
    return msg_finish(&w, PROTO_EVENT, ret_buf, ret_len);
}

/* ---- worker.heartbeat ------------------------------------------------------ */

void proto_heartbeat_free(struct proto_heartbeat *m) {
    if (!m)
        return;
    free(m->worker_id);
    free(m->host);
    free(m->version);
    free(m->libguestfs_version);
    msg_strv_free(m->pools, m->n_pools);
    free(m->sd_ids);
    free(m->running);
    memset(m, 0, sizeof(*m));
}

int msg_heartbeat_read(const struct wire_map *root, struct proto_heartbeat *ret, char *why) {
    memset(ret, 0, sizeof(*ret));
    int r = wire_map_name(root, "worker_id", WIRE_REQUIRED, 1, MSG_NAME_MAX, wire_cs_text, &ret->worker_id, why);
    if (r >= 0)
        r = wire_map_name(root, "host", WIRE_REQUIRED, 1, 253, WIRE_CS_HOSTNAME, &ret->host, why);
    if (r >= 0 && !wire_hostname_valid(ret->host)) {
        wire_why(why, root->path, "host", "not a valid RFC 1123 host name");
        r = -VMS_E_MSG_BAD_VALUE;
    }
    if (r >= 0)
        r = wire_map_name(root, "version", WIRE_REQUIRED, 1, MSG_VERSION_MAX, wire_cs_text, &ret->version, why);
    if (r >= 0)
        r = wire_map_name(root, "libguestfs_version", WIRE_REQUIRED, 0, MSG_VERSION_MAX, wire_cs_text,
                          &ret->libguestfs_version, why);
    if (r >= 0)
        r = wire_map_name_array(root, "pools", WIRE_REQUIRED, 1, MSG_POOLS_MAX, 1, MSG_POOL_NAME_MAX, WIRE_CS_POOL,
                                &ret->pools, &ret->n_pools, why);
    if (r >= 0)
        r = wire_map_uuid_array(root, "sd_ids", WIRE_REQUIRED, 0, MSG_SD_IDS_MAX, &ret->sd_ids, &ret->n_sd_ids,
                                why);
    if (r >= 0)
        r = wire_map_int(root, "slots", WIRE_REQUIRED, 0, MSG_SLOTS_MAX, &ret->slots, why);
    if (r >= 0)
        r = wire_map_uuid_array(root, "running", WIRE_REQUIRED, 0, MSG_RUNNING_MAX, &ret->running, &ret->n_running,
                                why);
    if (r >= 0)
        r = wire_map_int(root, "ts_ms", WIRE_REQUIRED, 0, INT64_MAX, &ret->ts_ms, why);
    if (r < 0) {
        proto_heartbeat_free(ret);
        return r;
    }
    return 0;
}

int proto_decode_heartbeat(const void *buf, size_t len, struct proto_heartbeat *ret, char *why) {
    struct wire_map root;
    memset(ret, 0, sizeof(*ret));
    int r = msg_open(buf, len, PROTO_HEARTBEAT, &root, why);
    return r < 0 ? r : msg_heartbeat_read(&root, ret, why);
}

/* v, type, worker_id, host, version, libguestfs_version, pools, sd_ids,
 * slots, running, ts_ms */
int proto_encode_heartbeat(const struct proto_heartbeat *m, char **ret_buf, size_t *ret_len) {
    struct wire_packer w;
    wire_pack_init(&w);
    wire_pack_head(&w, "worker.heartbeat", 9);
    wire_pack_kv_str(&w, "worker_id", m->worker_id);
    wire_pack_kv_str(&w, "host", m->host);
    wire_pack_kv_str(&w, "version", m->version);
    wire_pack_kv_str(&w, "libguestfs_version", m->libguestfs_version);
    wire_pack_kv_str_array(&w, "pools", m->pools, m->n_pools);
    wire_pack_kv_uuid_array(&w, "sd_ids", m->sd_ids, m->n_sd_ids);
    wire_pack_kv_int(&w, "slots", m->slots);
    wire_pack_kv_uuid_array(&w, "running", m->running, m->n_running);
    wire_pack_kv_int(&w, "ts_ms", m->ts_ms);
    return msg_finish(&w, PROTO_HEARTBEAT, ret_buf, ret_len);
}
