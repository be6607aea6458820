/* testevents.c - see testevents.h. */
#include "testevents.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "util.h"

#define TE_CONFIRM_MS 10000

struct te_dead {
    char *message_id, *reason;
};

struct testevents {
    mq_t *mq;
    char queue[256];
    bool dead_consuming;
    struct proto_event *evs;
    size_t n_evs, cap_evs;
    struct proto_heartbeat *hbs;
    size_t n_hbs, cap_hbs;
    struct te_dead *dead;
    size_t n_dead, cap_dead;
};

int testevents_open(const struct config_broker *broker, struct testevents **ret) {
    struct testevents *te = xcalloc(1, sizeof(*te));
    struct mq_opts o = { .broker = broker, .conn_name = "vmseal test events", .stamp_user_id = true };
    static const char *const all[] = { "#" };
    int r = mq_open(&o, &te->mq);
    if (r == 0)
        r = mq_declare_topology(te->mq);
    if (r == 0)
        r = mq_declare_pool(te->mq, "default", all, 1);
    if (r == 0)
        r = mq_declare_exclusive_queue(te->mq, te->queue);
    if (r == 0)
        r = mq_bind(te->mq, te->queue, MQ_X_EVENTS, "#");
    if (r == 0)
        r = mq_consume(te->mq, te->queue, 0, true, true);
    if (r < 0) {
        fprintf(stderr, "testevents_open: %s (%s)\n", err_str(r), te->mq ? mq_why(te->mq) : "");
        testevents_close(te);
        return r;
    }
    *ret = te;
    return 0;
}

void testevents_close(struct testevents *te) {
    if (!te)
        return;
    mq_close(te->mq);
    for (size_t i = 0; i < te->n_evs; i++)
        proto_event_free(&te->evs[i]);
    for (size_t i = 0; i < te->n_hbs; i++)
        proto_heartbeat_free(&te->hbs[i]);
    for (size_t i = 0; i < te->n_dead; i++) {
        free(te->dead[i].message_id);
        free(te->dead[i].reason);
    }
    free(te->evs);
    free(te->hbs);
    free(te->dead);
    free(te);
}

mq_t *testevents_mq(struct testevents *te) { return te->mq; }

void testevents_job_init(struct proto_job *job, enum job_kind kind) {
    memset(job, 0, sizeof(*job));
    static proto_uuid template_id; /* one workflow per test program: a job may
                                        delete what an earlier one copied */
    if (!template_id[0])
        uuid_new(template_id);
    uuid_new(job->job_id);
    memcpy(job->template_id, template_id, sizeof template_id);
    job->kind = kind;
    job->attempt = 1;
    job->timeout_s = 600;
}

static const char *job_route_sd(const struct proto_job *job) {
    switch (job->kind) {
    case JOB_VOLUME_COPY: return job->args.copy.dst.sd_id;
    case JOB_VOLUME_UPDATE: return job->args.update.vol.sd_id;
    case JOB_VOLUME_DELETE: return job->args.del.vol.sd_id;
    case JOB_VM_SEAL: return job->args.seal.n_disks ? job->args.seal.disks[0].sd_id : uuid_nil;
    }
    return uuid_nil;
}

int testevents_publish_to(struct testevents *te, const char *exchange, const char *routing_key, const char *type,
                          const void *body, size_t len) {
    proto_uuid id;
    uuid_new(id);
    struct mq_props p = { .message_id = id, .type = type };
    return mq_publish_wait(te->mq, exchange, routing_key, &p, body, len, TE_CONFIRM_MS);
}

int testevents_publish_job(struct testevents *te, const struct proto_job *job) {
    char *buf = NULL;
    size_t len = 0;
    int r = proto_encode_job(job, &buf, &len);
    if (r < 0)
        return r;
    char *rk = xasprintf("%s.%s", job->kind == JOB_VM_SEAL ? "virt" : "storage", job_route_sd(job));
    struct mq_props p = { .message_id = job->job_id, .type = "job" };
    r = mq_publish_wait(te->mq, MQ_X_JOBS, rk, &p, buf, len, TE_CONFIRM_MS);
    free(rk);
    free(buf);
    return r;
}

int testevents_publish_raw(struct testevents *te, const char *routing_key, const void *body, size_t len,
                           const char *message_id) {
    struct mq_props p = { .message_id = message_id, .type = "job" };
    return mq_publish_wait(te->mq, MQ_X_JOBS, routing_key, &p, body, len, TE_CONFIRM_MS);
}

static void te_store(struct testevents *te, const struct mq_delivery *d) {
    if (d->queue && strcmp(d->queue, MQ_Q_DEAD) == 0) {
        if (te->n_dead == te->cap_dead) {
            te->cap_dead = te->cap_dead ? 2 * te->cap_dead : 8;
            te->dead = xrealloc(te->dead, te->cap_dead * sizeof(*te->dead));
        }
        te->dead[te->n_dead++] = (struct te_dead){
            .message_id = xstrdup(d->message_id ? d->message_id : ""),
            .reason = d->reason ? xstrdup(d->reason) : NULL,
        };
        return;
    }
    struct proto_msg m;
    char why[ERR_WHY_LEN] = "";
    if (proto_decode(d->body, d->body_len, &m, why) < 0) {
        fprintf(stderr, "testevents: undecodable message on %s: %s\n", d->routing_key ? d->routing_key : "?", why);
        return;
    }
    if (m.type == PROTO_EVENT) {
        if (te->n_evs == te->cap_evs) {
            te->cap_evs = te->cap_evs ? 2 * te->cap_evs : 64;
            te->evs = xrealloc(te->evs, te->cap_evs * sizeof(*te->evs));
        }
        te->evs[te->n_evs++] = m.u.event;
    } else if (m.type == PROTO_HEARTBEAT) {
        if (te->n_hbs == te->cap_hbs) {
            te->cap_hbs = te->cap_hbs ? 2 * te->cap_hbs : 16;
            te->hbs = xrealloc(te->hbs, te->cap_hbs * sizeof(*te->hbs));
        }
        te->hbs[te->n_hbs++] = m.u.heartbeat;
    } else {
        proto_msg_free(&m);
    }
}

static void te_pump_once(struct testevents *te, int timeout_ms) {
    struct mq_event ev;
    if (mq_wait(te->mq, timeout_ms, NULL, 0, &ev) == 0 && ev.type == MQ_EV_DELIVERY)
        te_store(te, &ev.delivery);
    mq_event_clear(&ev);
}

void testevents_pump(struct testevents *te, int ms) {
    int64_t end = time_mono_ms() + ms;
    for (int64_t now = time_mono_ms(); now < end; now = time_mono_ms())
        te_pump_once(te, (int)(end - now));
}

static bool is_final(enum event_state s) { return s == EV_SUCCEEDED || s == EV_FAILED || s == EV_CANCELLED; }

int testevents_wait(struct testevents *te, const char *job_id, int state, int timeout_ms,
                    const struct proto_event **ret_ev) {
    int64_t end = time_mono_ms() + timeout_ms;
    size_t seen = 0;
    for (;;) {
        for (; seen < te->n_evs; seen++) {
            const struct proto_event *e = &te->evs[seen];
            if (strcmp(e->job_id, job_id) != 0)
                continue;
            if (state < 0 ? is_final(e->state) : (int)e->state == state) {
                if (ret_ev)
                    *ret_ev = e;
                return 0;
            }
        }
        int64_t now = time_mono_ms();
        if (now >= end)
            return -ETIMEDOUT;
        te_pump_once(te, (int)(end - now));
    }
}

size_t testevents_of_job(struct testevents *te, const char *job_id, const struct proto_event **ret, size_t cap) {
    size_t n = 0;
    for (size_t i = 0; i < te->n_evs; i++) {
        if (strcmp(te->evs[i].job_id, job_id) != 0)
            continue;
        if (n < cap)
            ret[n] = &te->evs[i];
        n++;
    }
    return n;
}

int testevents_wait_heartbeat(struct testevents *te, const char *worker_id, int timeout_ms,
                              const struct proto_heartbeat **ret_hb) {
    int64_t end = time_mono_ms() + timeout_ms;
    for (;;) {
        for (size_t i = te->n_hbs; i-- > 0;)
            if (strcmp(te->hbs[i].worker_id, worker_id) == 0) {
                if (ret_hb)
                    *ret_hb = &te->hbs[i];
                return 0;
            }
        int64_t now = time_mono_ms();
        if (now >= end)
            return -ETIMEDOUT;
        te_pump_once(te, (int)(end - now));
    }
}

int testevents_wait_dead(struct testevents *te, const char *message_id, int timeout_ms, char **ret_reason) {
    if (!te->dead_consuming) {
        int r = mq_consume(te->mq, MQ_Q_DEAD, 0, false, true);
        if (r < 0)
            return r;
        te->dead_consuming = true;
    }
    int64_t end = time_mono_ms() + timeout_ms;
    for (;;) {
        for (size_t i = 0; i < te->n_dead; i++)
            if (strcmp(te->dead[i].message_id, message_id) == 0) {
                if (ret_reason)
                    *ret_reason = te->dead[i].reason ? xstrdup(te->dead[i].reason) : NULL;
                return 0;
            }
        int64_t now = time_mono_ms();
        if (now >= end)
            return -ETIMEDOUT;
        te_pump_once(te, (int)(end - now));
    }
}

const struct proto_kv *testevents_result(const struct proto_event *ev, const char *key) {
    for (size_t i = 0; i < ev->n_result; i++)
        if (strcmp(ev->result[i].key, key) == 0)
            return &ev->result[i];
    return NULL;
}
