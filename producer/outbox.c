/* outbox.c - wire messages of the workflow, written as outbox rows. */
#include "outbox.h"

#include <string.h>

#include "control.h"
#include "err.h"
#include "mq.h"
#include "util.h"

/* Take ownership of an encoded body and add it as one row. */
static int outbox_put(struct store *st, const char *exchange, const char *key, const char *message_id,
                      const char *type, const char *reason, char *body, size_t len, int64_t now_ms) {
    struct store_outbox o = {
        .exchange = (char *)exchange,
        .routing_key = (char *)key,
        .message_id = (char *)message_id,
        .type = (char *)type,
        .reason = (char *)reason,
        .body = body,
        .body_len = len,
    };
    int r = store_outbox_add(st, &o, now_ms);
    free(body);
    return r;
}

static const struct store_disk *disk_at(const struct store_disk *disks, size_t n, int idx) {
    for (size_t i = 0; i < n; i++)
        if (disks[i].idx == idx)
            return &disks[i];
    return NULL;
}

/* Fill the kind-specific args of m from the job row and the disks. */
static int job_args_fill(struct proto_job *m, const struct store_job *j, const struct store_disk *disks,
                         size_t n_disks, const struct proto_sysprep *sysprep, const char **ret_sd) {
    const struct store_disk *d = j->kind == JOB_VM_SEAL ? NULL : disk_at(disks, n_disks, j->disk);
    if (j->kind != JOB_VM_SEAL && !d)
        return -VMS_E_INTERNAL;
    switch (j->kind) {
    case JOB_VOLUME_COPY:
        memcpy(m->args.copy.sd_id, d->src.sd_id, sizeof(proto_uuid));
        memcpy(m->args.copy.src_img_id, d->src.img_id, sizeof(proto_uuid));
        memcpy(m->args.copy.src_vol_id, d->src.vol_id, sizeof(proto_uuid));
        m->args.copy.dst = d->dst;
        m->args.copy.format = FORMAT_COW;
        *ret_sd = d->src.sd_id;
        return 0;
    case JOB_VOLUME_UPDATE:
        m->args.update.vol = d->dst;
        m->args.update.generation = j->generation;
        m->args.update.legality = j->legality;
        m->args.update.voltype = j->voltype;
        *ret_sd = d->dst.sd_id;
        return 0;
    case JOB_VOLUME_DELETE:
        m->args.del.vol = d->dst;
        *ret_sd = d->dst.sd_id;
        return 0;
    case JOB_VM_SEAL:
        if (n_disks == 0 || !sysprep)
            return -VMS_E_INTERNAL;
        m->args.seal.disks = xcalloc(n_disks, sizeof *m->args.seal.disks);
        for (size_t i = 0; i < n_disks; i++)
            m->args.seal.disks[i] = disks[i].dst;
        m->args.seal.n_disks = n_disks;
        m->args.seal.sysprep = *sysprep; /* borrowed: not freed below */
        *ret_sd = disks[0].dst.sd_id;
        return 0;
    }
    return -VMS_E_INTERNAL;
}

int outbox_job(struct store *st, const struct store_job *j, const struct store_disk *disks, size_t n_disks,
               const struct proto_sysprep *sysprep, int64_t now_ms) {
    struct proto_job m = { .kind = j->kind, .attempt = j->attempt, .timeout_s = j->timeout_s };
    memcpy(m.job_id, j->id, sizeof m.job_id);
    memcpy(m.template_id, j->template_id, sizeof m.template_id);
    const char *sd = NULL;
    int r = job_args_fill(&m, j, disks, n_disks, sysprep, &sd);
    char *body = NULL;
    size_t len = 0;
    if (r == 0)
        r = proto_encode_job(&m, &body, &len);
    if (j->kind == JOB_VM_SEAL)
        free(m.args.seal.disks);
    if (r < 0)
        return r;
    _cleanup_free_ char *key = xasprintf("%s.%s", j->kind == JOB_VM_SEAL ? "virt" : "storage", sd);
    return outbox_put(st, MQ_X_JOBS, key, j->id, "job", NULL, body, len, now_ms);
}

int outbox_job_cancel(struct store *st, const struct store_job *j, int64_t now_ms) {
    struct proto_job_cancel m;
    memcpy(m.job_id, j->id, sizeof m.job_id);
    memcpy(m.template_id, j->template_id, sizeof m.template_id);
    char *body = NULL;
    size_t len = 0;
    int r = proto_encode_job_cancel(&m, &body, &len);
    if (r < 0)
        return r;
    /* message_id: the cancel is about one job; a fresh id keeps it distinct from the job */
    proto_uuid id;
    uuid_new(id);
    return outbox_put(st, MQ_X_CONTROL, "", id, PROTO_JOB_CANCEL_TYPE, NULL, body, len, now_ms);
}

_Static_assert((int)DISK_COPYING == (int)VOL_STATE_COPYING && (int)DISK_PRESENT == (int)VOL_STATE_PRESENT &&
                   (int)DISK_DELETED == (int)VOL_STATE_DELETED && (int)DISK_LEFTOVER == (int)VOL_STATE_LEFTOVER,
               "a disk's state is its volume's state in template events");

/* The template's volumes as known now (NULL when it has none yet). */
static struct proto_event_volume *template_volumes(const struct store_disk *disks, size_t n) {
    if (!disks || n == 0)
        return NULL;
    struct proto_event_volume *v = xcalloc(n, sizeof *v);
    for (size_t i = 0; i < n; i++)
        v[i] = (struct proto_event_volume){ disks[i].dst, (enum vol_state)disks[i].state, disks[i].legality,
                                            disks[i].voltype };
    return v;
}

static int template_event_put(struct store *st, const char *template_id, enum event_state state, const char *step,
                              const char *producer_id, const char *code, const char *message,
                              const struct store_disk *disks, size_t n_disks, int64_t now_ms) {
    _cleanup_free_ struct proto_event_volume *volumes = template_volumes(disks, n_disks);
    struct proto_event ev = {
        .worker_id = (char *)producer_id,
        .state = state,
        .progress = -1,
        .step = (char *)step,
        .has_error = code != NULL,
        .volumes = volumes,
        .n_volumes = volumes ? n_disks : 0,
        .ts_ms = now_ms,
    };
    uuid_new(ev.event_id);
    snprintf(ev.template_id, sizeof ev.template_id, "%s", template_id);
    ev.error.code = (char *)code;
    ev.error.message = (char *)(message ? message : "");
    ev.error.permanent = true;
    char *body = NULL;
    size_t len = 0;
    int r = proto_encode_event(&ev, &body, &len);
    if (r < 0)
        return r;
    _cleanup_free_ char *key = xasprintf("template.%s", event_state_to_string(state));
    return outbox_put(st, MQ_X_EVENTS, key, ev.event_id, "event", NULL, body, len, now_ms);
}

int outbox_template_event(struct store *st, const struct store_template *t, const struct store_disk *disks,
                          size_t n_disks, const char *producer_id, int64_t now_ms) {
    return template_event_put(st, t->id, tpl_state_event(t->state), tpl_step_to_string(t->step), producer_id,
                              t->error_code, t->error_message, disks, n_disks, now_ms);
}

int outbox_template_rejected(struct store *st, const char *template_id, const char *producer_id, const char *code,
                             const char *message, int64_t now_ms) {
    return template_event_put(st, template_id, EV_FAILED, "intake", producer_id, code, message, NULL, 0, now_ms);
}

int outbox_dead_letter(struct store *st, const char *queue, const char *message_id, const void *body, size_t len,
                       const char *reason, int64_t now_ms) {
    char *copy = xmalloc(len);
    if (len)
        memcpy(copy, body, len);
    proto_uuid id;
    if (!message_id || !*message_id)
        uuid_new(id);
    return outbox_put(st, MQ_X_DLX, queue, message_id && *message_id ? message_id : id, NULL, reason, copy, len,
                      now_ms);
}
