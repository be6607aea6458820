/* ctl_json.c - the small streaming JSON writer of vmsealctl's --json output,
 * and the wire structs rendered with it (see ctl_priv.h). */
#include <inttypes.h>
#include <string.h>

#include "ctl_priv.h"

void json_begin(struct json *j, FILE *f) {
    memset(j, 0, sizeof *j);
    j->f = f;
    j->first[0] = true;
}

static void json_quoted(FILE *f, const char *s) {
    fputc('"', f);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        switch (*p) {
        case '"': fputs("\\\"", f); break;
        case '\\': fputs("\\\\", f); break;
        case '\n': fputs("\\n", f); break;
        case '\t': fputs("\\t", f); break;
        case '\r': fputs("\\r", f); break;
        default:
            if (*p < 0x20 || *p == 0x7f)
                fprintf(f, "\\u%04x", *p);
            else
                fputc(*p, f);
        }
    }
    fputc('"', f);
}

/* Separator and key before a value. */
static void json_member(struct json *j, const char *key) {
    if (!j->first[j->depth])
        fputc(',', j->f);
    j->first[j->depth] = false;
    if (key) {
        json_quoted(j->f, key);
        fputc(':', j->f);
    }
}

static void json_open(struct json *j, const char *key, char c) {
    json_member(j, key);
    fputc(c, j->f);
    if (j->depth + 1 < JSON_MAX_DEPTH)
        j->depth++;
    j->first[j->depth] = true;
    j->closer[j->depth] = c == '{' ? '}' : ']';
}

void json_obj_open(struct json *j, const char *key) { json_open(j, key, '{'); }
void json_arr_open(struct json *j, const char *key) { json_open(j, key, '['); }

void json_close(struct json *j) {
    if (j->depth > 0) {
        fputc(j->closer[j->depth], j->f);
        j->depth--;
    }
}

void json_str(struct json *j, const char *key, const char *val) {
    json_member(j, key);
    if (val)
        json_quoted(j->f, val);
    else
        fputs("null", j->f);
}

void json_int(struct json *j, const char *key, int64_t val) {
    json_member(j, key);
    fprintf(j->f, "%" PRId64, val);
}

void json_bool(struct json *j, const char *key, bool val) {
    json_member(j, key);
    fputs(val ? "true" : "false", j->f);
}

void json_null(struct json *j, const char *key) {
    json_member(j, key);
    fputs("null", j->f);
}

void json_end(struct json *j) {
    fputc('\n', j->f);
    fflush(j->f);
}

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
    json_int(j, "ts_ms", ev->ts_ms);
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
