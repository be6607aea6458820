/* intake.c - requests from vmseal.requests: decode, check beyond the wire
 * format, detect duplicates, reject with a reason (a template.failed event
 * when the id is known, and a dead letter); what is accepted is applied by
 * workflow.c (wf_template_start, wf_template_cancel). */
#include <string.h>

#include "err.h"
#include "mq.h"
#include "outbox.h"
#include "rpc.h"
#include "store.h"
#include "sysprep_ops.h"
#include "util.h"
#include "workflow_int.h"

struct request {
    const void *body;
    size_t len;
    const char *message_id;
    enum wf_outcome *outcome;
    char *why;
};

/* Refuse: a failed template event (when the id is known) and a dead letter. */
static int request_reject(struct wf *wf, const struct request *rq, const char *template_id, int code,
                          int64_t now_ms) {
    *rq->outcome = WF_REJECTED;
    int r = 0;
    if (template_id && *template_id)
        r = outbox_template_rejected(wf->st, template_id, wf->o.producer_id, err_name(code), rq->why, now_ms);
    return r < 0 ? r
                 : outbox_dead_letter(wf->st, MQ_Q_REQUESTS, rq->message_id, rq->body, rq->len, rq->why, now_ms);
}

static bool domain_known(const struct wf *wf, const char *sd_id) {
    const struct config_storage *s = wf->o.storage;
    return !s || s->n_domains == 0 || config_domain_find(s, sd_id) != NULL;
}

/* Operation names against the vocabulary this build knows (a typo fails
 * here, before any disk is copied, rather than at the seal). */
static int sysprep_check(const struct proto_sysprep *s, char *why) {
    static const char prefix[] = "template.create.";
    memcpy(why, prefix, sizeof prefix);
    int r = proto_sysprep_check(s, why + sizeof prefix - 1, ERR_WHY_LEN - (sizeof prefix - 1));
    if (r == 0)
        why[0] = '\0';
    return r;
}

/* Checks beyond the wire format; 0 or a code with why set. */
static int create_check(const struct wf *wf, const struct proto_template_create *m, char *why) {
    if (m->n_disks == 0) {
        snprintf(why, ERR_WHY_LEN, "template.create.disks: no disks");
        return -VMS_E_INVALID;
    }
    if (m->target_sd_id[0] && !domain_known(wf, m->target_sd_id)) {
        snprintf(why, ERR_WHY_LEN, "template.create.target_sd_id: unknown storage domain %s", m->target_sd_id);
        return -VMS_E_UNKNOWN_DOMAIN;
    }
    for (size_t i = 0; i < m->n_disks; i++) {
        if (!domain_known(wf, m->disks[i].sd_id)) {
            snprintf(why, ERR_WHY_LEN, "template.create.disks[%zu].sd_id: unknown storage domain %s", i,
                     m->disks[i].sd_id);
            return -VMS_E_UNKNOWN_DOMAIN;
        }
        for (size_t k = 0; k < i; k++)
            if (memcmp(&m->disks[k], &m->disks[i], sizeof m->disks[i]) == 0) {
                snprintf(why, ERR_WHY_LEN, "template.create.disks[%zu]: same volume as disks[%zu]", i, k);
                return -VMS_E_INVALID;
            }
    }
    return m->has_sysprep ? sysprep_check(&m->sysprep, why) : 0;
}

static bool id_in_request(const struct proto_template_create *m, size_t upto, const char *id) {
    for (size_t k = 0; k < m->n_disks; k++) {
        const struct proto_new_vol *n = &m->new_vols[k];
        if (strcmp(m->disks[k].img_id, id) == 0 || strcmp(m->disks[k].vol_id, id) == 0 ||
            (k < upto && (strcmp(n->img_id, id) == 0 || strcmp(n->vol_id, id) == 0)))
            return true;
    }
    return false;
}

/* Engine-chosen ids: each one new - not a source of the request, not given
 * twice, not used by another template in the target domain.  0, or
 * -VMS_E_VOLUME_EXISTS with why set. */
static int new_vols_check(struct wf *wf, const struct proto_template_create *m, char *why) {
    for (size_t i = 0; m->new_vols && i < m->n_disks; i++) {
        const struct proto_new_vol *n = &m->new_vols[i];
        if (!n->img_id[0])
            continue;
        const char *sd = m->target_sd_id[0] ? m->target_sd_id : m->disks[i].sd_id;
        bool used = id_in_request(m, i, n->img_id) || id_in_request(m, i, n->vol_id);
        int r = used ? 0 : store_volume_id_used(wf->st, m->template_id, sd, n->img_id, n->vol_id, &used);
        if (r < 0)
            return r;
        if (used) {
            snprintf(why, ERR_WHY_LEN,
                     "template.create.disks[%zu]: new_img_id %s or new_vol_id %s is already "
                     "used in storage domain %s",
                     i, n->img_id, n->vol_id, sd);
            return -VMS_E_VOLUME_EXISTS;
        }
    }
    return 0;
}

static int request_create(struct wf *wf, const struct request *rq, const struct proto_template_create *m,
                          int64_t now_ms) {
    int code = create_check(wf, m, rq->why);
    if (code < 0)
        return request_reject(wf, rq, m->template_id, code, now_ms);
    _cleanup_free_ char *canon = NULL;
    size_t canon_len = 0;
    int r = proto_encode_template_create(m, &canon, &canon_len);
    if (r < 0) {
        snprintf(rq->why, ERR_WHY_LEN, "template.create: cannot be re-encoded (%s)", err_str(r));
        return request_reject(wf, rq, m->template_id, r, now_ms);
    }
    struct store_template old;
    r = store_template_get(wf->st, m->template_id, &old);
    if (r == 0) {
        bool same = old.request_len == canon_len && memcmp(old.request, canon, canon_len) == 0;
        store_template_free(&old);
        if (same) {
            *rq->outcome = WF_DUPLICATE;
            return 0;
        }
        snprintf(rq->why, ERR_WHY_LEN, "template.create.template_id: %s exists with different content",
                 m->template_id);
        return request_reject(wf, rq, m->template_id, -VMS_E_CONFLICT, now_ms);
    }
    if (r != -VMS_E_NOT_FOUND)
        return r;
    r = new_vols_check(wf, m, rq->why);
    if (r == -VMS_E_VOLUME_EXISTS)
        return request_reject(wf, rq, m->template_id, r, now_ms);
    if (r < 0)
        return r;
    *rq->outcome = WF_ACCEPTED;
    return wf_template_start(wf, m, canon, canon_len, now_ms);
}

static int request_cancel(struct wf *wf, const struct request *rq, const char *template_id, int64_t now_ms) {
    int r = wf_template_cancel(wf, template_id, rq->outcome, now_ms);
    if (r == -VMS_E_NOT_FOUND) {
        snprintf(rq->why, ERR_WHY_LEN, "template.cancel.template_id: no template %s", template_id);
        return request_reject(wf, rq, NULL, r, now_ms);
    }
    return r;
}

static int request_apply(struct wf *wf, const struct request *rq, int64_t now_ms) {
    struct proto_msg msg;
    memset(&msg, 0, sizeof msg);
    int r = proto_decode(rq->body, rq->len, &msg, rq->why);
    if (r < 0) {
        proto_uuid id = "";
        (void)proto_peek_template_id(rq->body, rq->len, id);
        return request_reject(wf, rq, id, r, now_ms);
    }
    if (msg.type == PROTO_TEMPLATE_CREATE)
        r = request_create(wf, rq, &msg.u.create, now_ms);
    else if (msg.type == PROTO_TEMPLATE_CANCEL)
        r = request_cancel(wf, rq, msg.u.cancel.template_id, now_ms);
    else {
        snprintf(rq->why, ERR_WHY_LEN, "message.type: %s is not a request", proto_type_to_string(msg.type));
        r = request_reject(wf, rq, NULL, -VMS_E_MSG_BAD_VALUE, now_ms);
    }
    proto_msg_free(&msg);
    return r;
}

int wf_on_request(wf_t *wf, const void *body, size_t len, const char *message_id, int64_t now_ms,
                  enum wf_outcome *ret_outcome, char why[ERR_WHY_LEN]) {
    why[0] = '\0';
    struct request rq = { body, len, message_id, ret_outcome, why };
    int r = store_begin(wf->st);
    return store_end(wf->st, r < 0 ? r : request_apply(wf, &rq, now_ms));
}
