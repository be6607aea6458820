/* ctl_json.c - the wire structs in vmsealctl's --json output, written with
 * the streaming JSON writer of common/json.h (see ctl_priv.h). */
#include <inttypes.h>
#include <string.h>

#include "ctl_priv.h"

void json_vol_ref(struct json *j, const char *key, const struct proto_vol_ref *v) {
    json_obj_open(j, key);
    json_str(j, "sd_id", v->sd_id);
    json_str(j, "img_id", v->img_id);
    json_str(j, "vol_id", v->vol_id);
    json_close(j);
}

void json_event(struct json *j, const char *key, const struct proto_event *ev) {
    json_obj_open(j, key);
    json_str(j, "event_id", ev->event_id);
    json_str(j, "job_id", ev->job_id[0] ? ev->job_id : NULL);
    json_str(j, "template_id", ev->template_id);
    json_str(j, "worker_id", ev->worker_id);
    json_str(j, "state", event_state_to_string(ev->state));
    if (ev->progress >= 0)
        json_int(j, "progress", ev->progress);
    if (ev->step)
        json_str(j, "step", ev->step);
    if (ev->has_error) {
        json_obj_open(j, "error");
        json_str(j, "code", ev->error.code);
        json_str(j, "message", ev->error.message);
        json_bool(j, "permanent", ev->error.permanent);
        json_close(j);
    }
    if (ev->n_result) {
        json_obj_open(j, "result");
        for (size_t i = 0; i < ev->n_result; i++) {
            const struct proto_kv *kv = &ev->result[i];
            if (kv->type == KV_STR)
                json_str(j, kv->key, kv->s);
            else if (kv->type == KV_BOOL)
                json_bool(j, kv->key, kv->i != 0);
            else
                json_int(j, kv->key, kv->i);
        }
        json_close(j);
    }
    if (ev->files)
        json_files(j, "files", ev->files);
    json_int(j, "ts_ms", ev->ts_ms);
    json_close(j);
}

void json_files(struct json *j, const char *key, const struct proto_files *f) {
    json_obj_open(j, key);
    json_arr_open(j, "ops");
    for (size_t i = 0; i < f->n_ops; i++) {
        json_obj_open(j, NULL);
        json_str(j, "name", f->ops[i].name);
        json_int(j, "removed", f->ops[i].removed);
        json_int(j, "changed", f->ops[i].changed);
        json_close(j);
    }
    json_close(j);
    json_arr_open(j, "paths");
    for (size_t i = 0; i < f->n_paths; i++) {
        json_obj_open(j, NULL);
        json_str(j, "op", f->paths[i].op);
        json_str(j, "action", proto_file_action_to_string(f->paths[i].action));
        json_str(j, "mountpoint", f->paths[i].mountpoint);
        json_str(j, "path", f->paths[i].path);
        json_close(j);
    }
    json_close(j);
    json_bool(j, "truncated", f->truncated);
    json_close(j);
}

static void json_str_array(struct json *j, const char *key, char *const *v, size_t n) {
    json_arr_open(j, key);
    for (size_t i = 0; i < n; i++)
        json_str(j, NULL, v[i]);
    json_close(j);
}

void json_heartbeat(struct json *j, const char *key, const struct proto_heartbeat *hb) {
    json_obj_open(j, key);
    json_str(j, "worker_id", hb->worker_id);
    json_str(j, "host", hb->host);
    json_str(j, "version", hb->version);
    json_str(j, "libguestfs_version", hb->libguestfs_version);
    json_str_array(j, "pools", hb->pools, hb->n_pools);
    json_arr_open(j, "sd_ids");
    for (size_t i = 0; i < hb->n_sd_ids; i++)
        json_str(j, NULL, hb->sd_ids[i]);
    json_close(j);
    json_int(j, "slots", hb->slots);
    json_arr_open(j, "running");
    for (size_t i = 0; i < hb->n_running; i++)
        json_str(j, NULL, hb->running[i]);
    json_close(j);
    json_int(j, "ts_ms", hb->ts_ms);
    json_close(j);
}
