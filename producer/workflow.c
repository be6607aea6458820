/* workflow.c - every transition of the template state machine (README.md "The flow").
 *
 * Each public entry point is one transaction: load what it needs of a
 * template (struct tpl), decide, write the new rows and the outbox rows, commit.
 * Forward steps create all their jobs at once; a step is complete when none
 * of its jobs is active (each failure either scheduled a retry - a new active
 * attempt - or turned the template ROLLING_BACK).
 */
#include "workflow_int.h"

#include <errno.h>
#include <string.h>

#include "err.h"
#include "outbox.h"
#include "store.h"
#include "sysprep_ops.h"
#include "util.h"

#define EVENTS_SEEN_KEEP_MS   (7LL * 24 * 3600 * 1000)
#define EVENTS_PRUNE_EVERY_MS (3600LL * 1000)

/* One template with its disks and jobs, as loaded for one transaction. */
struct tpl {
    struct store_template t;
    struct store_disk *disks;
    size_t n_disks;
    struct store_job *jobs;
    size_t n_jobs;
    bool have_req;
    struct proto_template_create req;  /* decoded t.request, for the seal's sysprep */
    struct proto_sysprep seal_sysprep; /* req's sysprep as the vm.seal job carries it (tpl_sysprep) */
};

void wf_opts_default(struct wf_opts *o) {
    *o = (struct wf_opts){
        .max_attempts = 3,
        .backoff_base_ms = 200,
        .backoff_max_ms = 30000,
        .timeout_s = { [JOB_VOLUME_COPY] = 3600,
                       [JOB_VOLUME_UPDATE] = 60,
                       [JOB_VOLUME_DELETE] = 300,
                       [JOB_VM_SEAL] = 3600 },
        .grace_ms = 30000,
        .producer_id = "producer",
    };
}

int wf_new(struct store *st, const struct wf_opts *opts, wf_t **ret) {
    if (!st || !opts || opts->max_attempts < 1)
        return -EINVAL;
    struct wf *wf = xcalloc(1, sizeof *wf);
    wf->st = st;
    wf->o = *opts;
    *ret = wf;
    return 0;
}

void wf_free(wf_t *wf) { free(wf); }

/* ---- loading and saving ---------------------------------------------------- */

static void tpl_free(struct tpl *c) {
    store_template_free(&c->t);
    free(c->disks);
    store_job_array_free(c->jobs, c->n_jobs);
    proto_template_create_free(&c->req);
    proto_sysprep_free(&c->seal_sysprep);
    memset(c, 0, sizeof *c);
}

static int tpl_load(struct wf *wf, const char *id, struct tpl *c) {
    memset(c, 0, sizeof *c);
    int r = store_template_get(wf->st, id, &c->t);
    if (r == 0)
        r = store_disks_get(wf->st, id, &c->disks, &c->n_disks);
    if (r == 0)
        r = store_jobs_get(wf->st, id, &c->jobs, &c->n_jobs);
    if (r < 0)
        tpl_free(c);
    return r;
}

static struct store_disk *tpl_disk(struct tpl *c, int idx) {
    for (size_t i = 0; i < c->n_disks; i++)
        if (c->disks[i].idx == idx)
            return &c->disks[i];
    return NULL;
}

static ssize_t tpl_job_index(const struct tpl *c, const char *job_id) {
    for (size_t i = 0; i < c->n_jobs; i++)
        if (strcmp(c->jobs[i].id, job_id) == 0)
            return (ssize_t)i;
    return -1;
}

static bool tpl_has_active_job(const struct tpl *c) {
    for (size_t i = 0; i < c->n_jobs; i++)
        if (job_state_active(c->jobs[i].state))
            return true;
    return false;
}

static void str_set(char **dst, const char *src) {
    free(*dst);
    *dst = src ? xstrdup(src) : NULL;
}

/* Save the template row and announce its state/step as a template event. */
static int tpl_save(struct wf *wf, struct tpl *c, int64_t now_ms) {
    c->t.updated_ms = now_ms;
    if (wf->o.transition_cb)
        wf->o.transition_cb(wf->o.transition_arg, &c->t);
    int r = store_template_update(wf->st, &c->t);
    return r < 0 ? r : outbox_template_event(wf->st, &c->t, c->disks, c->n_disks, wf->o.producer_id, now_ms);
}

/* The sysprep choice of the template's vm.seal job: the request's, with a
 * chosen selection spelled out (proto_sysprep_spelled_out), so that every
 * worker runs the same operations whichever meaning of `enable` it was
 * built with (docs/protocol.md, section 5).  A request that no longer
 * checks (stored by a producer that knew other names) goes out as it is:
 * the worker refuses it with its own error. */
static int tpl_sysprep(struct tpl *c, const struct proto_sysprep **ret) {
    static const struct proto_sysprep defaults = { .selinux_relabel = true };
    if (!c->have_req) {
        int r = proto_decode_template_create(c->t.request, c->t.request_len, &c->req, NULL);
        if (r < 0)
            return r;
        c->have_req = true;
        if (c->req.has_sysprep && proto_sysprep_spelled_out(&c->req.sysprep, &c->seal_sysprep, NULL, 0) < 0)
            proto_sysprep_copy(&c->seal_sysprep, &c->req.sysprep);
    }
    *ret = c->req.has_sysprep ? &c->seal_sysprep : &defaults;
    return 0;
}

/* ---- jobs -------------------------------------------------------------------- */

static int64_t job_span_ms(const struct wf *wf, enum job_kind k) {
    return wf->o.timeout_s[k] * 1000 + wf->o.grace_ms;
}

/* A job no worker has reported on yet is waiting in its pool's durable queue,
 * possibly behind a backlog, not lost: it gets as long as the longest job
 * could keep a slot busy.  (With its own span, volume.update jobs queued
 * behind 10,000 copies were "lost" after 90 s, and their retries, queued at
 * the back again, failed the templates: tests/load.) */
static int64_t job_queued_span_ms(const struct wf *wf) {
    int64_t longest = 0;
    for (size_t k = 0; k < ARRAY_SIZE(wf->o.timeout_s); k++)
        if (wf->o.timeout_s[k] > longest)
            longest = wf->o.timeout_s[k];
    return longest * 1000 + wf->o.grace_ms;
}

/* The silence after which job j is given up for lost. */
static int64_t job_silence_span_ms(const struct wf *wf, const struct store_job *j) {
    return j->state == JOB_QUEUED ? job_queued_span_ms(wf) : job_span_ms(wf, j->kind);
}

static int64_t backoff_ms(const struct wf *wf, int attempt) {
    int64_t d = wf->o.backoff_base_ms;
    for (int i = 1; i < attempt && d < wf->o.backoff_max_ms; i++)
        d *= 2;
    return d < wf->o.backoff_max_ms ? d : wf->o.backoff_max_ms;
}

/* Job ji goes out now: QUEUED, deadline set, job message in the outbox. */
static int job_publish(struct wf *wf, struct tpl *c, size_t ji, int64_t now_ms) {
    struct store_job *j = &c->jobs[ji];
    const struct proto_sysprep *sysprep = NULL;
    int r = j->kind == JOB_VM_SEAL ? tpl_sysprep(c, &sysprep) : 0;
    j->state = JOB_QUEUED;
    j->deadline_ms = now_ms + job_silence_span_ms(wf, j);
    if (r == 0)
        r = store_job_update(wf->st, j);
    return r < 0 ? r : outbox_job(wf->st, j, c->disks, c->n_disks, sysprep, now_ms);
}

struct job_spec {
    enum tpl_step step;
    enum job_kind kind;
    int disk, attempt, generation;
    enum vol_legality legality;
    enum vol_type voltype;
};

/* A new attempt row; published at once unless not_before is in the future. */
static int job_add(struct wf *wf, struct tpl *c, const struct job_spec *s, int64_t not_before_ms, int64_t now_ms) {
    struct store_job j = {
        .step = s->step,
        .kind = s->kind,
        .disk = s->disk,
        .attempt = s->attempt,
        .state = JOB_WAITING,
        .timeout_s = wf->o.timeout_s[s->kind],
        .generation = s->generation,
        .legality = s->legality,
        .voltype = s->voltype,
        .not_before_ms = not_before_ms,
        .created_ms = now_ms,
    };
    uuid_new(j.id);
    memcpy(j.template_id, c->t.id, sizeof j.template_id);
    int r = store_job_insert(wf->st, &j);
    if (r < 0)
        return r;
    c->jobs = xrealloc(c->jobs, (c->n_jobs + 1) * sizeof *c->jobs);
    c->jobs[c->n_jobs++] = j;
    return not_before_ms > now_ms ? 0 : job_publish(wf, c, c->n_jobs - 1, now_ms);
}

static int job_retry(struct wf *wf, struct tpl *c, size_t ji, int64_t now_ms) {
    const struct store_job *j = &c->jobs[ji];
    struct job_spec s = { j->step, j->kind, j->disk, j->attempt + 1, j->generation, j->legality, j->voltype };
    return job_add(wf, c, &s, now_ms + backoff_ms(wf, j->attempt), now_ms);
}

/* ---- steps ------------------------------------------------------------------ */

static int step_start(struct wf *wf, struct tpl *c, enum tpl_step step, int64_t now_ms) {
    int r = 0;
    c->t.step = step;
    for (size_t i = 0; i < c->n_disks && r == 0; i++) {
        const struct store_disk *d = &c->disks[i];
        struct job_spec s = { .step = step, .disk = d->idx, .attempt = 1, .generation = d->generation };
        switch (step) {
        case STEP_COPY: s.kind = JOB_VOLUME_COPY; break;
        case STEP_MARK_ILLEGAL: s.kind = JOB_VOLUME_UPDATE, s.legality = LEGALITY_ILLEGAL; break;
        case STEP_MARK_SHARED:
            s.kind = JOB_VOLUME_UPDATE, s.legality = LEGALITY_LEGAL, s.voltype = VOLTYPE_SHARED;
            break;
        case STEP_SEAL: /* one job over all disks */
            if (i > 0)
                continue;
            s.kind = JOB_VM_SEAL, s.disk = -1;
            break;
        case STEP_DELETE: /* every volume whose copy was started */
            if (d->state != DISK_COPYING && d->state != DISK_PRESENT)
                continue;
            s.kind = JOB_VOLUME_DELETE;
            break;
        default: continue;
        }
        r = job_add(wf, c, &s, now_ms, now_ms);
    }
    return r < 0 ? r : tpl_save(wf, c, now_ms);
}

static enum tpl_step step_next(const struct tpl *c) {
    switch (c->t.step) {
    case STEP_COPY: return c->t.seal ? STEP_MARK_ILLEGAL : STEP_MARK_SHARED;
    case STEP_MARK_ILLEGAL: return STEP_SEAL;
    case STEP_SEAL: return STEP_MARK_SHARED;
    default: return STEP_DONE;
    }
}

static int tpl_finish(struct wf *wf, struct tpl *c, enum tpl_state state, int64_t now_ms) {
    c->t.state = state;
    c->t.step = STEP_DONE;
    return tpl_save(wf, c, now_ms);
}

/* Move on while nothing is in flight. */
static int tpl_advance(struct wf *wf, struct tpl *c, int64_t now_ms) {
    int r = 0;
    while (r == 0 && !tpl_has_active_job(c)) {
        if (c->t.state == TPL_CREATING) {
            enum tpl_step next = step_next(c);
            r = next == STEP_DONE ? tpl_finish(wf, c, TPL_READY, now_ms) : step_start(wf, c, next, now_ms);
            if (next == STEP_DONE)
                break;
        } else if (c->t.state == TPL_ROLLING_BACK && c->t.step == STEP_DRAIN) {
            r = step_start(wf, c, STEP_DELETE, now_ms);
        } else if (c->t.state == TPL_ROLLING_BACK) {
            /* every disk is deleted or a leftover now */
            r = tpl_finish(wf, c, c->t.final_state, now_ms);
            break;
        } else {
            break;
        }
    }
    return r;
}

/* Failure or cancel: stop what runs, remember why, then delete. */
static int rollback_enter(struct wf *wf, struct tpl *c, enum tpl_state final, const char *step, const char *code,
                          const char *message, int64_t now_ms) {
    int r = 0;
    for (size_t i = 0; i < c->n_jobs && r == 0; i++) {
        struct store_job *j = &c->jobs[i];
        if (j->state == JOB_WAITING) {
            j->state = JOB_CANCELLED;
            j->finished_ms = now_ms;
            r = store_job_update(wf->st, j);
        } else if (job_state_active(j->state)) {
            r = outbox_job_cancel(wf->st, j, now_ms); /* drained by its event or deadline */
        }
    }
    c->t.state = TPL_ROLLING_BACK;
    c->t.final_state = final;
    c->t.step = STEP_DRAIN;
    str_set(&c->t.error_step, step);
    str_set(&c->t.error_code, code);
    str_set(&c->t.error_message, message);
    return r < 0 ? r : tpl_save(wf, c, now_ms);
}

/* ---- job outcomes ------------------------------------------------------------- */

static int64_t result_int(const struct proto_event *ev, const char *key, int64_t dflt) {
    for (size_t i = 0; ev && i < ev->n_result; i++)
        if (ev->result[i].type == KV_INT && strcmp(ev->result[i].key, key) == 0)
            return ev->result[i].i;
    return dflt;
}

static int job_succeeded(struct wf *wf, struct tpl *c, size_t ji, const struct proto_event *ev, int64_t now_ms) {
    struct store_job *j = &c->jobs[ji];
    j->state = JOB_SUCCEEDED;
    j->finished_ms = j->last_event_ms = now_ms;
    if (wf->o.job_end_cb)
        wf->o.job_end_cb(wf->o.transition_arg, j);
    int r = store_job_update(wf->st, j);
    struct store_disk *d = tpl_disk(c, j->disk);
    if (r < 0 || !d)
        return r;
    switch (j->kind) {
    case JOB_VOLUME_COPY:
        d->state = DISK_PRESENT;
        d->generation = (int)result_int(ev, "generation", 0);
        d->legality = LEGALITY_LEGAL;
        d->voltype = VOLTYPE_LEAF;
        break;
    case JOB_VOLUME_UPDATE:
        d->generation = (int)result_int(ev, "generation", (j->generation + 1) % 1000);
        if (j->legality != LEGALITY_NONE)
            d->legality = j->legality;
        if (j->voltype != VOLTYPE_NONE)
            d->voltype = j->voltype;
        if (j->step == STEP_DELETE) /* the ILLEGAL mark of a volume that could not be deleted */
            d->state = DISK_LEFTOVER;
        break;
    case JOB_VOLUME_DELETE: d->state = DISK_DELETED; break;
    case JOB_VM_SEAL: return 0;
    }
    return store_disk_update(wf->st, d);
}

/* A delete that failed for good: mark the volume ILLEGAL if it may not be,
 * and keep it as a leftover. */
static int delete_failed(struct wf *wf, struct tpl *c, const struct store_job *j, int64_t now_ms) {
    struct store_disk *d = tpl_disk(c, j->disk);
    if (!d)
        return -VMS_E_INTERNAL;
    if (j->kind == JOB_VOLUME_DELETE && d->legality != LEGALITY_ILLEGAL) {
        struct job_spec s = { STEP_DELETE,   JOB_VOLUME_UPDATE, d->idx,      1,
                              d->generation, LEGALITY_ILLEGAL,  VOLTYPE_NONE };
        return job_add(wf, c, &s, now_ms, now_ms);
    }
    d->state = DISK_LEFTOVER;
    return store_disk_update(wf->st, d);
}

/* Job ji ended without success (final: FAILED, CANCELLED or LOST). */
static int job_failed(struct wf *wf, struct tpl *c, size_t ji, enum job_state final, const char *code,
                      const char *message, bool permanent, int64_t now_ms) {
    struct store_job *j = &c->jobs[ji];
    j->state = final;
    j->finished_ms = now_ms;
    str_set(&j->error_code, code);
    str_set(&j->error_message, message);
    if (wf->o.job_end_cb)
        wf->o.job_end_cb(wf->o.transition_arg, j);
    int r = store_job_update(wf->st, j);
    if (r < 0)
        return r;
    bool retry = !permanent && j->attempt < wf->o.max_attempts;
    if (c->t.state == TPL_CREATING && j->step == c->t.step)
        return retry ? job_retry(wf, c, ji, now_ms)
                     : rollback_enter(wf, c, TPL_FAILED, tpl_step_to_string(j->step), code, message, now_ms);
    if (c->t.state == TPL_ROLLING_BACK && j->step == STEP_DELETE) {
        if (retry)
            return job_retry(wf, c, ji, now_ms);
        struct store_job copy = *j; /* job_add may move c->jobs */
        return delete_failed(wf, c, &copy, now_ms);
    }
    return 0; /* a forward job ending while rolling back: the drain goes on */
}

/* A sign of life from the worker that runs j (a running/progress event, or
 * a heartbeat naming it): the deadline moves. */
static void job_alive(struct wf *wf, struct store_job *j, const char *worker_id, int64_t now_ms) {
    j->state = JOB_RUNNING;
    if (!j->started_ms)
        j->started_ms = now_ms;
    j->last_event_ms = now_ms;
    j->deadline_ms = now_ms + job_span_ms(wf, j->kind);
    str_set(&j->worker_id, worker_id);
}

static bool job_in_flight(const struct store_job *j) { return j->state == JOB_QUEUED || j->state == JOB_RUNNING; }

/* The final event of job ji (running/progress are handled in event_apply). */
static int job_on_event(struct wf *wf, struct tpl *c, size_t ji, const struct proto_event *ev, int64_t now_ms) {
    struct store_job *j = &c->jobs[ji];
    if (!job_in_flight(j))
        return 0;
    if (j->kind == JOB_VM_SEAL && ev->files) { /* what the seal did, kept whatever its outcome */
        int r = store_job_files_set(wf->st, j->id, ev->files);
        if (r < 0)
            return r;
    }
    str_set(&j->worker_id, ev->worker_id);
    if (!j->started_ms)
        j->started_ms = now_ms; /* a short job sends no running event */
    if (ev->state == EV_SUCCEEDED)
        j->progress = 100;
    const char *code = ev->has_error && ev->error.code ? ev->error.code : "internal";
    const char *msg = ev->has_error && ev->error.message ? ev->error.message : "the worker gave no reason";
    int64_t gen = result_int(ev, "generation", 0);
    if (ev->state == EV_SUCCEEDED && (gen < 0 || gen > 999)) { /* a number from a worker: checked before use */
        _cleanup_free_ char *bad = xasprintf("the worker reported generation %lld (not 0..999)", (long long)gen);
        j->last_event_ms = now_ms;
        return job_failed(wf, c, ji, JOB_FAILED, "invalid", bad, true, now_ms);
    }
    switch (ev->state) {
    case EV_SUCCEEDED: return job_succeeded(wf, c, ji, ev, now_ms);
    case EV_FAILED:
        /* deleting what is not there is done (workers say so themselves; older ones may not) */
        if (j->kind == JOB_VOLUME_DELETE && strcmp(code, "no_volume") == 0)
            return job_succeeded(wf, c, ji, ev, now_ms);
        j->last_event_ms = now_ms;
        return job_failed(wf, c, ji, JOB_FAILED, code, msg, ev->has_error ? ev->error.permanent : false, now_ms);
    case EV_CANCELLED:
        j->last_event_ms = now_ms;
        return job_failed(wf, c, ji, JOB_CANCELLED, "cancelled", "the worker cancelled the job", false, now_ms);
    default: return 0; /* template states are not job states */
    }
}

/* ---- entry points ------------------------------------------------------------- */

/* A copy we had given up on (lost, then rolled back) reports success after
 * its volume was deleted: the volume exists again, so roll back again. */
static int copy_resurfaced(struct wf *wf, const struct store_job *j, int64_t now_ms) {
    struct tpl c;
    int r = tpl_load(wf, j->template_id, &c);
    if (r < 0)
        return r;
    struct store_disk *d = tpl_disk(&c, j->disk);
    if (d && d->state == DISK_DELETED && c.t.state != TPL_CREATING && c.t.state != TPL_READY) {
        d->state = DISK_PRESENT;
        d->generation = 0;
        d->legality = LEGALITY_LEGAL;
        r = store_disk_update(wf->st, d);
        struct job_spec s = { .step = STEP_DELETE, .kind = JOB_VOLUME_DELETE, .disk = d->idx, .attempt = 1 };
        c.t.state = TPL_ROLLING_BACK;
        c.t.step = STEP_DELETE;
        if (r == 0)
            r = job_add(wf, &c, &s, now_ms, now_ms);
        if (r == 0)
            r = tpl_save(wf, &c, now_ms);
    }
    tpl_free(&c);
    return r;
}

/* Whether the sender may report on job j: it must name itself (AMQP user-id,
 * which the broker checks against the connection's user), be the identity
 * that holds the job (the first event of an attempt claims it), and the
 * event must be about this job's template and kind.  why on refusal. */
static bool event_sender_ok(const struct proto_event *ev, const struct store_job *j, const char *user_id,
                            const char *routing_key, int64_t now_ms, char why[ERR_WHY_LEN]) {
    if (!user_id || !*user_id) {
        snprintf(why, ERR_WHY_LEN, "event for job %s without user-id: refused", ev->job_id);
        return false;
    }
    if (strcmp(ev->template_id, j->template_id) != 0) {
        snprintf(why, ERR_WHY_LEN, "event from %s for job %s names template %s, the job's is %s: refused", user_id,
                 ev->job_id, ev->template_id, j->template_id);
        return false;
    }
    if (routing_key) { /* the broker lets only user_id publish this key (topic permissions) */
        _cleanup_free_ char *want =
            xasprintf("job.%s.%s.%s", job_kind_to_string(j->kind), event_state_to_string(ev->state), user_id);
        if (strcmp(routing_key, want) != 0) {
            snprintf(why, ERR_WHY_LEN, "event from %s for job %s sent as %s, expected %s: refused", user_id,
                     ev->job_id, routing_key, want);
            return false;
        }
    }
    /* A live holder is heard from at least every heartbeat (10 s): after
     * WF_HOLDER_SILENT_MS of silence it is gone, and the identity the job
     * was redelivered to may take the job over. */
    if (j->holder && strcmp(j->holder, user_id) != 0 && now_ms - j->last_event_ms < WF_HOLDER_SILENT_MS) {
        snprintf(why, ERR_WHY_LEN, "event from %s for job %s, held by %s: refused", user_id, ev->job_id,
                 j->holder);
        return false;
    }
    return true;
}

/* Only final events are remembered for idempotence: running and progress
 * are signs of life, harmless to apply twice (and half of all events). */
static int event_apply(struct wf *wf, const struct proto_event *ev, const char *user_id, const char *routing_key,
                       int64_t now_ms, char why[ERR_WHY_LEN]) {
    bool seen = false;
    int r = ev->state == EV_RUNNING || ev->state == EV_PROGRESS
                ? 0
                : store_event_mark_seen(wf->st, ev->event_id, now_ms, &seen);
    if (r < 0 || seen)
        return r;
    struct store_job j;
    r = store_job_get(wf->st, ev->job_id, &j);
    if (r == -VMS_E_NOT_FOUND)
        return 0; /* not ours (another producer's store, or a forgotten job) */
    if (r < 0)
        return r;
    if (!event_sender_ok(ev, &j, user_id, routing_key, now_ms, why)) {
        store_job_free(&j);
        return -VMS_E_ACCESS_REFUSED; /* rolls back the seen mark: nothing changed */
    }
    /* the first event of this attempt claims it (or a takeover, see event_sender_ok) */
    bool claim = job_in_flight(&j) && (!j.holder || strcmp(j.holder, user_id) != 0);
    if (claim)
        str_set(&j.holder, user_id);
    if (!job_in_flight(&j) || ev->state == EV_RUNNING || ev->state == EV_PROGRESS) {
        /* a sign of life: the job row only; an old attempt or a decided job:
         * nothing, unless a copy given up for lost finished after all */
        if (job_in_flight(&j)) {
            job_alive(wf, &j, ev->worker_id, now_ms);
            if (ev->progress >= 0)
                j.progress = ev->progress;
            r = store_job_update(wf->st, &j);
        } else if (j.kind == JOB_VOLUME_COPY && ev->state == EV_SUCCEEDED) {
            r = copy_resurfaced(wf, &j, now_ms);
        }
        store_job_free(&j);
        return r;
    }
    if (claim)
        r = store_job_update(wf->st, &j); /* before tpl_load reads the row */
    struct tpl c;
    if (r == 0)
        r = tpl_load(wf, j.template_id, &c);
    store_job_free(&j);
    if (r < 0)
        return r;
    ssize_t ji = tpl_job_index(&c, ev->job_id);
    r = ji < 0 ? -VMS_E_INTERNAL : job_on_event(wf, &c, (size_t)ji, ev, now_ms);
    if (r == 0)
        r = tpl_advance(wf, &c, now_ms);
    tpl_free(&c);
    return r;
}

int wf_on_event(wf_t *wf, const struct proto_event *ev, const char *user_id, const char *routing_key,
                int64_t now_ms, char why[ERR_WHY_LEN]) {
    if (!ev->job_id[0])
        return 0;
    int r = store_begin(wf->st);
    return store_end(wf->st, r < 0 ? r : event_apply(wf, ev, user_id, routing_key, now_ms, why));
}

static int heartbeat_apply(struct wf *wf, const struct proto_heartbeat *hb, const char *user_id, int64_t now_ms) {
    int r = 0;
    for (size_t i = 0; i < hb->n_running && r == 0; i++) {
        struct store_job j;
        r = store_job_get(wf->st, hb->running[i], &j);
        if (r == -VMS_E_NOT_FOUND) {
            r = 0;
            continue;
        }
        /* only the jobs this identity holds */
        if (r == 0 && job_in_flight(&j) && j.holder && strcmp(j.holder, user_id) == 0) {
            job_alive(wf, &j, hb->worker_id, now_ms);
            r = store_job_update(wf->st, &j);
        }
        store_job_free(&j);
    }
    return r;
}

int wf_on_heartbeat(wf_t *wf, const struct proto_heartbeat *hb, const char *user_id, int64_t now_ms) {
    if (hb->n_running == 0 || !user_id)
        return 0;
    int r = store_begin(wf->st);
    return store_end(wf->st, r < 0 ? r : heartbeat_apply(wf, hb, user_id, now_ms));
}

/* One due job: publish a waiting retry, or give up on a silent worker. */
static int tick_job(struct wf *wf, const struct store_job *due, int64_t now_ms) {
    struct tpl c;
    int r = tpl_load(wf, due->template_id, &c);
    if (r < 0)
        return r;
    ssize_t ji = tpl_job_index(&c, due->id);
    struct store_job *j = ji < 0 ? NULL : &c.jobs[ji];
    if (!j) {
        r = -VMS_E_INTERNAL;
    } else if (j->state == JOB_WAITING && j->not_before_ms <= now_ms) {
        r = job_publish(wf, &c, (size_t)ji, now_ms);
    } else if (job_in_flight(j) && j->deadline_ms <= now_ms) {
        _cleanup_free_ char *msg = xasprintf("no event and no heartbeat for the job in %lld s",
                                             (long long)(job_silence_span_ms(wf, j) / 1000));
        r = outbox_job_cancel(wf->st, j, now_ms);
        if (r == 0) /* still unpublished (e.g. no pool bound its key): never send it now */
            r = store_outbox_forget(wf->st, j->id);
        if (r == 0)
            r = job_failed(wf, &c, (size_t)ji, JOB_LOST, err_name(-VMS_E_WORKER_LOST), msg, false, now_ms);
        if (r == 0)
            r = tpl_advance(wf, &c, now_ms);
    }
    tpl_free(&c);
    return r;
}

static int tick_apply(struct wf *wf, int64_t now_ms, int64_t *ret_next_ms) {
    struct store_job *due = NULL;
    size_t n = 0;
    int r = store_jobs_due(wf->st, now_ms, &due, &n);
    for (size_t i = 0; i < n && r == 0; i++)
        r = tick_job(wf, &due[i], now_ms);
    store_job_array_free(due, n);
    if (r == 0 && now_ms - wf->last_prune_ms >= EVENTS_PRUNE_EVERY_MS) {
        r = store_events_prune(wf->st, now_ms - EVENTS_SEEN_KEEP_MS);
        wf->last_prune_ms = now_ms;
    }
    return r < 0 ? r : store_jobs_next_due(wf->st, ret_next_ms);
}

int wf_on_tick(wf_t *wf, int64_t now_ms, int64_t *ret_next_ms) {
    int r = store_begin(wf->st);
    return store_end(wf->st, r < 0 ? r : tick_apply(wf, now_ms, ret_next_ms));
}

static int resume_apply(struct wf *wf, int64_t now_ms) {
    struct store_job *jobs = NULL;
    size_t n = 0;
    int r = store_jobs_inflight(wf->st, &jobs, &n);
    for (size_t i = 0; i < n && r == 0; i++) {
        int64_t d = now_ms + job_silence_span_ms(wf, &jobs[i]);
        if (jobs[i].deadline_ms < d) {
            jobs[i].deadline_ms = d;
            r = store_job_update(wf->st, &jobs[i]);
        }
    }
    store_job_array_free(jobs, n);
    return r;
}

int wf_resume(wf_t *wf, int64_t now_ms) {
    int r = store_begin(wf->st);
    return store_end(wf->st, r < 0 ? r : resume_apply(wf, now_ms));
}

int wf_dead_letter(wf_t *wf, const char *queue, const char *message_id, const void *body, size_t len,
                   const char *reason, int64_t now_ms) {
    int r = store_begin(wf->st);
    return store_end(wf->st, r < 0 ? r : outbox_dead_letter(wf->st, queue, message_id, body, len, reason, now_ms));
}

/* ---- requests (intake.c decides, these apply) ------------------------------------ */

int wf_template_start(struct wf *wf, const struct proto_template_create *m, char *canon, size_t canon_len,
                      int64_t now_ms) {
    struct tpl c = { 0 };
    c.t = (struct store_template){
        .name = m->name,
        .state = TPL_CREATING,
        .step = STEP_COPY,
        .final_state = TPL_FAILED,
        .seal = m->seal,
        .request = canon,
        .request_len = canon_len,
        .created_ms = now_ms,
        .updated_ms = now_ms,
    };
    memcpy(c.t.id, m->template_id, sizeof c.t.id);
    int r = store_template_insert(wf->st, &c.t);
    c.disks = xcalloc(m->n_disks, sizeof *c.disks);
    for (size_t i = 0; i < m->n_disks && r == 0; i++) {
        struct store_disk *d = &c.disks[c.n_disks++];
        memcpy(d->template_id, m->template_id, sizeof d->template_id);
        d->idx = (int)i;
        d->src = m->disks[i];
        memcpy(d->dst.sd_id, m->target_sd_id[0] ? m->target_sd_id : m->disks[i].sd_id, sizeof(proto_uuid));
        if (m->new_vols && m->new_vols[i].img_id[0]) { /* chosen by the engine, checked at intake */
            memcpy(d->dst.img_id, m->new_vols[i].img_id, sizeof(proto_uuid));
            memcpy(d->dst.vol_id, m->new_vols[i].vol_id, sizeof(proto_uuid));
        } else {
            uuid_new(d->dst.img_id); /* chosen before the copy is published: retries reuse them */
            uuid_new(d->dst.vol_id);
        }
        d->legality = LEGALITY_LEGAL;
        d->voltype = VOLTYPE_LEAF;
        d->state = DISK_COPYING;
        r = store_disk_insert(wf->st, d);
    }
    if (r == 0)
        r = step_start(wf, &c, STEP_COPY, now_ms);
    /* name and request are borrowed */
    c.t.name = NULL;
    c.t.request = NULL;
    tpl_free(&c);
    return r;
}

int wf_template_cancel(struct wf *wf, const char *template_id, enum wf_outcome *ret_outcome, int64_t now_ms) {
    struct tpl c;
    int r = tpl_load(wf, template_id, &c);
    if (r < 0)
        return r;
    if (c.t.state == TPL_CREATING) {
        *ret_outcome = WF_ACCEPTED;
        r = rollback_enter(wf, &c, TPL_CANCELLED, tpl_step_to_string(c.t.step), err_name(-VMS_E_CANCELLED),
                           "cancelled by request", now_ms);
        if (r == 0)
            r = tpl_advance(wf, &c, now_ms);
    } else {
        *ret_outcome = WF_DUPLICATE; /* already rolling back or finished */
    }
    tpl_free(&c);
    return r;
}
