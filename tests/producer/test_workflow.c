/* test_workflow.c - the template state machine driven by synthetic events
 * over a real SQLite store (label unit). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "err.h"
#include "util.h"
#include "wftest.h"

#define TID "aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa"

static void disks_get(struct fx *f, struct store_disk **d, size_t *n) {
    assert_int_equal(store_disks_get(f->st, TID, d, n), 0);
}

static const struct proto_job *job_for_disk(const struct msgs *m, int64_t idx, const struct store_disk *d) {
    for (size_t i = 0; i < m->n_jobs; i++) {
        const struct proto_job *j = &m->jobs[i];
        const char *vol = j->kind == JOB_VOLUME_COPY     ? j->args.copy.dst.vol_id
                          : j->kind == JOB_VOLUME_UPDATE ? j->args.update.vol.vol_id
                          : j->kind == JOB_VOLUME_DELETE ? j->args.del.vol.vol_id
                                                         : "";
        if (strcmp(vol, d[idx].dst.vol_id) == 0)
            return j;
    }
    fail_msg("no job for disk %lld", (long long)idx);
    return NULL;
}

static void expect_jobs(const struct msgs *m, size_t n, enum job_kind kind) {
    assert_int_equal(m->n_jobs, n);
    for (size_t i = 0; i < n; i++)
        assert_int_equal(m->jobs[i].kind, kind);
}

static void expect_event(const struct msgs *m, enum event_state state, const char *step) {
    assert_true(m->n_events >= 1);
    const struct proto_event *e = &m->events[m->n_events - 1];
    assert_int_equal(e->state, state);
    assert_string_equal(e->template_id, TID);
    if (step)
        assert_string_equal(e->step, step);
}

/* Walk a fresh 2-disk template to the start of `step` (seal on). */
static void walk_to(struct fx *f, enum tpl_step step, struct msgs *m) {
    fx_submit(f, TID, 2, true, m);
    for (enum tpl_step s = STEP_COPY; s < step; s++)
        fx_succeed_all(f, m);
    enum tpl_step now_step;
    assert_int_equal(fx_state(f, TID, &now_step), TPL_CREATING);
    assert_int_equal(now_step, step);
}

static void test_happy_seal(void **state) {
    struct fx *f = *state;
    struct msgs m;
    struct store_disk *d;
    size_t n;
    fx_submit(f, TID, 2, true, &m);
    expect_jobs(&m, 2, JOB_VOLUME_COPY);
    expect_event(&m, EV_CREATING, "copy");
    disks_get(f, &d, &n);
    assert_int_equal(n, 2);
    for (size_t i = 0; i < 2; i++) { /* the target uuids were stored before the copy went out */
        const struct proto_job *j = job_for_disk(&m, (int64_t)i, d);
        assert_string_equal(j->args.copy.dst.img_id, d[i].dst.img_id);
        assert_string_equal(j->args.copy.dst.sd_id, SD1);
        assert_string_equal(j->args.copy.src_vol_id, d[i].src.vol_id);
        assert_int_equal(j->attempt, 1);
    }
    free(d);

    fx_succeed_all(f, &m);
    expect_jobs(&m, 2, JOB_VOLUME_UPDATE);
    expect_event(&m, EV_CREATING, "mark_illegal");
    for (size_t i = 0; i < 2; i++) {
        assert_int_equal(m.jobs[i].args.update.generation, 0);
        assert_int_equal(m.jobs[i].args.update.legality, LEGALITY_ILLEGAL);
        assert_int_equal(m.jobs[i].args.update.voltype, VOLTYPE_NONE);
    }

    fx_succeed_all(f, &m);
    expect_jobs(&m, 1, JOB_VM_SEAL);
    expect_event(&m, EV_CREATING, "seal");
    assert_int_equal(m.jobs[0].args.seal.n_disks, 2);
    assert_true(m.jobs[0].args.seal.sysprep.selinux_relabel);
    disks_get(f, &d, &n);
    for (size_t i = 0; i < 2; i++) {
        assert_string_equal(m.jobs[0].args.seal.disks[i].vol_id, d[i].dst.vol_id);
        assert_int_equal(d[i].generation, 1);
        assert_int_equal(d[i].legality, LEGALITY_ILLEGAL);
    }
    free(d);

    fx_succeed_all(f, &m);
    expect_jobs(&m, 2, JOB_VOLUME_UPDATE);
    expect_event(&m, EV_CREATING, "mark_shared");
    for (size_t i = 0; i < 2; i++) {
        assert_int_equal(m.jobs[i].args.update.generation, 1);
        assert_int_equal(m.jobs[i].args.update.legality, LEGALITY_LEGAL);
        assert_int_equal(m.jobs[i].args.update.voltype, VOLTYPE_SHARED);
    }

    fx_succeed_all(f, &m);
    assert_int_equal(m.n_jobs, 0);
    expect_event(&m, EV_READY, "done");
    assert_int_equal(fx_state(f, TID, NULL), TPL_READY);
    disks_get(f, &d, &n);
    for (size_t i = 0; i < 2; i++) {
        assert_int_equal(d[i].generation, 2);
        assert_int_equal(d[i].legality, LEGALITY_LEGAL);
        assert_int_equal(d[i].voltype, VOLTYPE_SHARED);
        assert_int_equal(d[i].state, DISK_PRESENT);
    }
    free(d);
    assert_int_equal(fx_job_rows(f, TID), 7);
    msgs_free(&m);
}

/* Submit a 1-disk sealed template with the sysprep choice s; return the
 * vm.seal job's choice (free with proto_sysprep_free). */
static void seal_job_sysprep(struct fx *f, const char *tid, const struct proto_sysprep *s,
                             struct proto_sysprep *ret) {
    struct proto_vol_ref disk = { SD1, "", "" };
    uuid_new(disk.img_id);
    uuid_new(disk.vol_id);
    struct proto_template_create c = {
        .name = "t", .disks = &disk, .n_disks = 1, .seal = true, .has_sysprep = true, .sysprep = *s
    };
    snprintf(c.template_id, sizeof c.template_id, "%s", tid);
    char *body, why[ERR_WHY_LEN];
    size_t len;
    assert_int_equal(proto_encode_template_create(&c, &body, &len), 0);
    assert_int_equal(fx_request(f, body, len, why), WF_ACCEPTED);
    free(body);
    struct msgs m;
    fx_take(f, &m);
    fx_succeed_all(f, &m); /* copy -> mark_illegal */
    fx_succeed_all(f, &m); /* -> seal */
    assert_int_equal(m.n_jobs, 1);
    assert_int_equal(m.jobs[0].kind, JOB_VM_SEAL);
    proto_sysprep_copy(ret, &m.jobs[0].args.seal.sysprep);
    msgs_free(&m);
}

static bool strv_has(char *const *v, size_t n, const char *name) {
    for (size_t i = 0; i < n; i++)
        if (strcmp(v[i], name) == 0)
            return true;
    return false;
}

/* A chosen selection goes to the worker spelled out (enable = every
 * operation to run, disable = every other default one, no operations),
 * which older and newer workers read alike; a choice of disable only goes
 * out as it came. */
static void test_seal_sysprep_spelled_out(void **state) {
    struct fx *f = *state;
    char *ops[] = { "-all", "ssh-hostkeys", "firewall-rules" }, *disable[] = { "logfiles" };
    struct proto_sysprep req = {
        .operations = ops, .n_operations = 3, .hostname = "tpl", .selinux_relabel = false
    };
    struct proto_sysprep job;
    seal_job_sysprep(f, TID, &req, &job);
    assert_int_equal(job.n_operations, 0);
    assert_int_equal(job.n_enable, 2);
    assert_string_equal(job.enable[0], "ssh-hostkeys");
    assert_string_equal(job.enable[1], "firewall-rules");
    assert_true(strv_has(job.disable, job.n_disable, "tmp-files"));
    assert_true(strv_has(job.disable, job.n_disable, "machine-id"));
    assert_false(strv_has(job.disable, job.n_disable, "ssh-hostkeys"));
    assert_false(strv_has(job.disable, job.n_disable, "kerberos-data")); /* not a default: nothing to turn off */
    assert_string_equal(job.hostname, "tpl");
    assert_false(job.selinux_relabel);
    proto_sysprep_free(&job);

    req = (struct proto_sysprep){ .disable = disable, .n_disable = 1, .selinux_relabel = true };
    seal_job_sysprep(f, "bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb", &req, &job);
    assert_int_equal(job.n_enable, 0);
    assert_int_equal(job.n_disable, 1);
    assert_string_equal(job.disable[0], "logfiles");
    proto_sysprep_free(&job);
}

static void test_happy_no_seal(void **state) {
    struct fx *f = *state;
    struct msgs m;
    fx_submit(f, TID, 1, false, &m);
    expect_jobs(&m, 1, JOB_VOLUME_COPY);
    fx_succeed_all(f, &m);
    expect_jobs(&m, 1, JOB_VOLUME_UPDATE);
    assert_int_equal(m.jobs[0].args.update.generation, 0);
    assert_int_equal(m.jobs[0].args.update.voltype, VOLTYPE_SHARED);
    fx_succeed_all(f, &m);
    expect_event(&m, EV_READY, NULL);
    struct store_disk *d;
    size_t n;
    disks_get(f, &d, &n);
    assert_int_equal(d[0].generation, 1);
    assert_int_equal(d[0].voltype, VOLTYPE_SHARED);
    free(d);
    msgs_free(&m);
}

static void test_transient_retry_backoff(void **state) {
    struct fx *f = *state;
    struct msgs m, r;
    fx_submit(f, TID, 1, true, &m);
    proto_uuid dst_vol;
    memcpy(dst_vol, m.jobs[0].args.copy.dst.vol_id, sizeof dst_vol);
    fx_event(f, &m.jobs[0], EV_FAILED, "qemu_img", false);
    fx_take(f, &r);
    assert_int_equal(r.n_jobs, 0); /* backoff first */
    f->now += 199;
    fx_tick(f);
    fx_take(f, &r);
    assert_int_equal(r.n_jobs, 0);
    f->now += 1; /* 200 ms after attempt 1 */
    fx_tick(f);
    fx_take(f, &r);
    expect_jobs(&r, 1, JOB_VOLUME_COPY);
    assert_int_equal(r.jobs[0].attempt, 2);
    assert_string_equal(r.jobs[0].args.copy.dst.vol_id, dst_vol); /* same target volume */
    assert_string_not_equal(r.jobs[0].job_id, m.jobs[0].job_id);
    fx_event(f, &r.jobs[0], EV_FAILED, "timeout", false);
    f->now += 399;
    fx_tick(f);
    msgs_free(&r);
    fx_take(f, &r);
    assert_int_equal(r.n_jobs, 0);
    f->now += 1; /* 400 ms: doubled */
    fx_tick(f);
    msgs_free(&r);
    fx_take(f, &r);
    expect_jobs(&r, 1, JOB_VOLUME_COPY);
    assert_int_equal(r.jobs[0].attempt, 3);
    fx_succeed_all(f, &r);
    expect_jobs(&r, 1, JOB_VOLUME_UPDATE);
    assert_int_equal(fx_state(f, TID, NULL), TPL_CREATING);
    msgs_free(&m);
    msgs_free(&r);
}

static void test_attempts_exhausted(void **state) {
    struct fx *f = *state;
    struct msgs m;
    fx_submit(f, TID, 1, false, &m);
    for (int a = 1; a <= 3; a++) {
        assert_int_equal(m.jobs[0].attempt, a);
        struct proto_job j = m.jobs[0];
        fx_event(f, &j, EV_FAILED, "qemu_img", false);
        f->now += 60000;
        fx_tick(f);
        msgs_free(&m);
        fx_take(f, &m);
        if (a < 3)
            expect_jobs(&m, 1, JOB_VOLUME_COPY);
    }
    expect_jobs(&m, 1, JOB_VOLUME_DELETE);
    enum tpl_step step;
    assert_int_equal(fx_state(f, TID, &step), TPL_ROLLING_BACK);
    assert_int_equal(step, STEP_DELETE);
    fx_succeed_all(f, &m);
    assert_int_equal(fx_state(f, TID, NULL), TPL_FAILED);
    msgs_free(&m);
}

static void test_permanent_failure_rollback(void **state) {
    struct fx *f = *state;
    struct msgs m, r;
    struct store_disk *d;
    size_t n;
    fx_submit(f, TID, 2, true, &m);
    disks_get(f, &d, &n);
    fx_event(f, job_for_disk(&m, 0, d), EV_RUNNING, NULL, false);
    fx_event(f, job_for_disk(&m, 1, d), EV_FAILED, "no_volume", true);
    fx_take(f, &r);
    /* disk 0's copy still runs: it is told to stop, nothing is deleted yet */
    assert_int_equal(r.n_cancels, 1);
    assert_string_equal(r.cancels[0], job_for_disk(&m, 0, d)->job_id);
    assert_int_equal(r.n_jobs, 0);
    expect_event(&r, EV_ROLLING_BACK, "drain");
    msgs_free(&r);
    fx_event(f, job_for_disk(&m, 0, d), EV_CANCELLED, NULL, false);
    fx_take(f, &r);
    expect_jobs(&r, 2, JOB_VOLUME_DELETE); /* both volumes: each copy had started */
    job_for_disk(&r, 0, d);
    job_for_disk(&r, 1, d);
    fx_succeed_all(f, &r);
    expect_event(&r, EV_FAILED, "done");
    assert_string_equal(r.events[0].error.code, "no_volume");
    assert_string_equal(r.events[0].error.message, "boom");
    struct store_template t;
    assert_int_equal(store_template_get(f->st, TID, &t), 0);
    assert_int_equal(t.state, TPL_FAILED);
    assert_string_equal(t.error_step, "copy");
    assert_string_equal(t.error_code, "no_volume");
    store_template_free(&t);
    free(d);
    disks_get(f, &d, &n);
    assert_int_equal(d[0].state, DISK_DELETED);
    assert_int_equal(d[1].state, DISK_DELETED);
    free(d);
    msgs_free(&m);
    msgs_free(&r);
}

/* A generation a worker reports outside 0..999 is not believed: the step fails
 * for good and rolls back instead of storing the number. */
static void test_bad_generation(void **state) {
    char why[ERR_WHY_LEN];
    struct fx *f = *state;
    struct msgs m;
    fx_submit(f, TID, 1, true, &m);
    struct proto_event ev;
    struct proto_kv kv = { .key = "generation", .type = KV_INT, .i = 5000 };
    fx_event_struct(&ev, &m.jobs[0], EV_SUCCEEDED, NULL, false, f->now);
    ev.result = &kv;
    ev.n_result = 1;
    assert_int_equal(wf_on_event(f->wf, &ev, "worker", NULL, f->now, why), 0);
    msgs_free(&m);
    fx_take(f, &m);
    expect_jobs(&m, 1, JOB_VOLUME_DELETE);
    fx_succeed_all(f, &m);
    expect_event(&m, EV_FAILED, NULL);
    assert_string_equal(m.events[0].error.code, "invalid");
    assert_non_null(strstr(m.events[0].error.message, "generation 5000"));
    msgs_free(&m);
}

static void test_delete_failure_leftover(void **state) {
    struct fx *f = *state;
    struct msgs m;
    struct store_disk *d;
    size_t n;
    fx_submit(f, TID, 1, true, &m);
    fx_succeed_all(f, &m);                                           /* copied: LEGAL, GEN 0 */
    fx_event(f, &m.jobs[0], EV_FAILED, "generation_mismatch", true); /* mark_illegal fails */
    msgs_free(&m);
    fx_take(f, &m);
    expect_jobs(&m, 1, JOB_VOLUME_DELETE);
    struct proto_job del = m.jobs[0];
    memset(&m.jobs[0], 0, sizeof m.jobs[0]);
    m.n_jobs = 0;
    fx_event(f, &del, EV_FAILED, "EACCES", true);
    msgs_free(&m);
    fx_take(f, &m);
    /* not deletable and still LEGAL: marked ILLEGAL instead */
    expect_jobs(&m, 1, JOB_VOLUME_UPDATE);
    assert_int_equal(m.jobs[0].args.update.legality, LEGALITY_ILLEGAL);
    assert_int_equal(m.jobs[0].args.update.generation, 0);
    fx_succeed_all(f, &m);
    expect_event(&m, EV_FAILED, NULL);
    assert_string_equal(m.events[0].error.code, "generation_mismatch");
    disks_get(f, &d, &n);
    assert_int_equal(d[0].state, DISK_LEFTOVER);
    assert_int_equal(d[0].legality, LEGALITY_ILLEGAL);
    assert_int_equal(d[0].generation, 1);
    free(d);
    proto_job_free(&del);
    msgs_free(&m);
}

static void test_delete_failure_already_illegal(void **state) {
    struct fx *f = *state;
    struct msgs m;
    struct store_disk *d;
    size_t n;
    walk_to(f, STEP_SEAL, &m);
    fx_event(f, &m.jobs[0], EV_FAILED, "unsupported_guest", true);
    msgs_free(&m);
    fx_take(f, &m);
    expect_jobs(&m, 2, JOB_VOLUME_DELETE);
    disks_get(f, &d, &n);
    fx_event(f, job_for_disk(&m, 0, d), EV_SUCCEEDED, NULL, false);
    fx_event(f, job_for_disk(&m, 1, d), EV_FAILED, "EACCES", true);
    free(d);
    msgs_free(&m);
    fx_take(f, &m);
    assert_int_equal(m.n_jobs, 0); /* already ILLEGAL: no update needed */
    expect_event(&m, EV_FAILED, NULL);
    struct store_template t;
    assert_int_equal(store_template_get(f->st, TID, &t), 0);
    assert_string_equal(t.error_step, "seal");
    assert_string_equal(t.error_code, "unsupported_guest");
    store_template_free(&t);
    disks_get(f, &d, &n);
    assert_int_equal(d[0].state, DISK_DELETED);
    assert_int_equal(d[1].state, DISK_LEFTOVER);
    assert_int_equal(d[1].legality, LEGALITY_ILLEGAL);
    free(d);
    msgs_free(&m);
}

static void cancel_in(void **state, enum tpl_step step) {
    struct fx *f = *state;
    struct msgs m, r;
    walk_to(f, step, &m);
    for (size_t i = 0; i < m.n_jobs; i++)
        fx_event(f, &m.jobs[i], EV_RUNNING, NULL, false);
    fx_cancel(f, TID);
    fx_take(f, &r);
    assert_int_equal(r.n_cancels, m.n_jobs);
    assert_int_equal(r.n_jobs, 0);
    expect_event(&r, EV_ROLLING_BACK, "drain");
    for (size_t i = 0; i < m.n_jobs; i++)
        fx_event(f, &m.jobs[i], EV_CANCELLED, NULL, false);
    msgs_free(&r);
    fx_take(f, &r);
    expect_jobs(&r, 2, JOB_VOLUME_DELETE);
    fx_succeed_all(f, &r);
    expect_event(&r, EV_CANCELLED, "done");
    struct store_template t;
    assert_int_equal(store_template_get(f->st, TID, &t), 0);
    assert_int_equal(t.state, TPL_CANCELLED);
    assert_string_equal(t.error_step, tpl_step_to_string(step));
    assert_string_equal(t.error_code, "cancelled");
    store_template_free(&t);
    msgs_free(&m);
    msgs_free(&r);
}

static void test_cancel_copy(void **state) { cancel_in(state, STEP_COPY); }
static void test_cancel_mark_illegal(void **state) { cancel_in(state, STEP_MARK_ILLEGAL); }
static void test_cancel_seal(void **state) { cancel_in(state, STEP_SEAL); }
static void test_cancel_mark_shared(void **state) { cancel_in(state, STEP_MARK_SHARED); }

static void test_cancel_waiting_retry(void **state) {
    struct fx *f = *state;
    struct msgs m, r;
    fx_submit(f, TID, 1, false, &m);
    fx_event(f, &m.jobs[0], EV_FAILED, "timeout", false); /* retry waits for its backoff */
    fx_cancel(f, TID);
    fx_take(f, &r);
    assert_int_equal(r.n_cancels, 0); /* nothing was out: deletes go at once */
    expect_jobs(&r, 1, JOB_VOLUME_DELETE);
    f->now += 10000;
    fx_tick(f);
    fx_succeed_all(f, &r);
    assert_int_equal(r.n_jobs, 0); /* the cancelled retry never went out */
    assert_int_equal(fx_state(f, TID, NULL), TPL_CANCELLED);
    msgs_free(&m);
    msgs_free(&r);
}

static void test_duplicate_events(void **state) {
    char why[ERR_WHY_LEN];
    struct fx *f = *state;
    struct msgs m, r;
    fx_submit(f, TID, 1, false, &m);
    struct proto_event ev;
    fx_event_struct(&ev, &m.jobs[0], EV_FAILED, "timeout", false, f->now);
    assert_int_equal(wf_on_event(f->wf, &ev, "worker", NULL, f->now, why), 0);
    assert_int_equal(wf_on_event(f->wf, &ev, "worker", NULL, f->now, why), 0);
    f->now += 1000;
    fx_tick(f);
    fx_take(f, &r);
    expect_jobs(&r, 1, JOB_VOLUME_COPY); /* one retry, not two */
    assert_int_equal(fx_job_rows(f, TID), 2);
    struct proto_event ok;
    fx_event_struct(&ok, &r.jobs[0], EV_SUCCEEDED, NULL, false, f->now);
    assert_int_equal(wf_on_event(f->wf, &ok, "worker", NULL, f->now, why), 0);
    assert_int_equal(wf_on_event(f->wf, &ok, "worker", NULL, f->now, why), 0);
    msgs_free(&r);
    fx_take(f, &r);
    expect_jobs(&r, 1, JOB_VOLUME_UPDATE);
    assert_int_equal(fx_job_rows(f, TID), 3);
    msgs_free(&m);
    msgs_free(&r);
}

static void test_stale_attempt_ignored(void **state) {
    struct fx *f = *state;
    struct msgs m, r;
    fx_submit(f, TID, 1, false, &m);
    f->now += (3600 + 30) * 1000LL; /* copy deadline: the worker went silent */
    fx_tick(f);
    fx_take(f, &r);
    assert_int_equal(r.n_cancels, 1);
    assert_int_equal(r.n_jobs, 0);
    f->now += 200;
    fx_tick(f);
    msgs_free(&r);
    fx_take(f, &r);
    expect_jobs(&r, 1, JOB_VOLUME_COPY);
    assert_int_equal(r.jobs[0].attempt, 2);
    /* the lost attempt speaks up late: ignored */
    fx_event(f, &m.jobs[0], EV_SUCCEEDED, NULL, false);
    fx_event(f, &m.jobs[0], EV_FAILED, "EACCES", true);
    assert_int_equal(fx_state(f, TID, NULL), TPL_CREATING);
    assert_int_equal(fx_outbox_count(f), 0);
    fx_succeed_all(f, &r);
    expect_jobs(&r, 1, JOB_VOLUME_UPDATE);
    msgs_free(&m);
    msgs_free(&r);
}

static void test_lost_unpublished_job_dropped(void **state) {
    struct fx *f = *state;
    struct msgs m;
    char *body;
    size_t len;
    char why[ERR_WHY_LEN];
    req_create(TID, 1, false, &body, &len);
    assert_int_equal(fx_request(f, body, len, why), WF_ACCEPTED);
    free(body);
    /* the copy never left the outbox (say, no pool bound its key) */
    f->now += (3600 + 30) * 1000LL;
    fx_tick(f);
    fx_take(f, &m);
    assert_int_equal(m.n_jobs, 0); /* attempt 1 will not go out late */
    assert_int_equal(m.n_cancels, 1);
    f->now += 200;
    fx_tick(f);
    msgs_free(&m);
    fx_take(f, &m);
    expect_jobs(&m, 1, JOB_VOLUME_COPY);
    assert_int_equal(m.jobs[0].attempt, 2);
    msgs_free(&m);
}

/* An event is believed only from the identity that holds the job (the first
 * event of the attempt claims it), with a user-id, for the job's template and
 * kind; anything else changes nothing. */
static void test_event_identity(void **state) {
    struct fx *f = *state;
    struct msgs m, r;
    char why[ERR_WHY_LEN];
    enum tpl_step step;
    fx_submit(f, TID, 1, true, &m);
    struct proto_event ev;
    fx_event_struct(&ev, &m.jobs[0], EV_SUCCEEDED, NULL, false, f->now);
    /* no user-id: refused even before anyone holds the job */
    assert_int_equal(wf_on_event(f->wf, &ev, NULL, "job.volume.copy.succeeded.worker", f->now, why),
                     -VMS_E_ACCESS_REFUSED);
    assert_non_null(strstr(why, "without user-id"));
    fx_event(f, &m.jobs[0], EV_RUNNING, NULL, false); /* "worker" claims it */
    assert_int_equal(wf_on_event(f->wf, &ev, "intruder", "job.volume.copy.succeeded.intruder", f->now, why),
                     -VMS_E_ACCESS_REFUSED);
    assert_non_null(strstr(why, "held by worker"));
    assert_int_equal(wf_on_event(f->wf, &ev, "worker", "job.vm.seal.succeeded.worker", f->now, why),
                     -VMS_E_ACCESS_REFUSED);
    assert_non_null(strstr(why, "expected job.volume.copy.succeeded.worker"));
    /* a key without the identity (or another's): not through the topic permissions */
    assert_int_equal(wf_on_event(f->wf, &ev, "worker", "job.volume.copy.succeeded", f->now, why),
                     -VMS_E_ACCESS_REFUSED);
    assert_int_equal(wf_on_event(f->wf, &ev, "worker", "job.volume.copy.succeeded.intruder", f->now, why),
                     -VMS_E_ACCESS_REFUSED);
    assert_int_equal(wf_on_event(f->wf, &ev, "worker", "", f->now, why), -VMS_E_ACCESS_REFUSED);
    uuid_new(ev.template_id);
    assert_int_equal(wf_on_event(f->wf, &ev, "worker", NULL, f->now, why), -VMS_E_ACCESS_REFUSED);
    assert_non_null(strstr(why, "names template"));
    memcpy(ev.template_id, m.jobs[0].template_id, sizeof ev.template_id);
    /* another identity's heartbeat (or one without user-id) does not touch the job */
    struct proto_heartbeat hb = { .worker_id = "evil", .running = &m.jobs[0].job_id, .n_running = 1 };
    assert_int_equal(wf_on_heartbeat(f->wf, &hb, "intruder", f->now + 1000), 0);
    assert_int_equal(wf_on_heartbeat(f->wf, &hb, NULL, f->now + 1000), 0);
    struct store_job j;
    assert_int_equal(store_job_get(f->st, m.jobs[0].job_id, &j), 0);
    assert_string_equal(j.worker_id, "w1");
    assert_string_equal(j.holder, "worker");
    assert_int_equal(j.last_event_ms, f->now);
    store_job_free(&j);
    fx_take(f, &r);
    assert_int_equal(r.n_jobs + r.n_events, 0); /* nothing happened */
    assert_int_equal(fx_state(f, TID, &step), TPL_CREATING);
    assert_int_equal(step, STEP_COPY);
    msgs_free(&r);
    /* a holder silent for WF_HOLDER_SILENT_MS is gone: the identity the job
     * was redelivered to takes it over, and the old one is refused from then on */
    fx_event_struct(&ev, &m.jobs[0], EV_RUNNING, NULL, false, f->now);
    f->now += WF_HOLDER_SILENT_MS - 1;
    assert_int_equal(wf_on_event(f->wf, &ev, "host2", "job.volume.copy.running.host2", f->now, why),
                     -VMS_E_ACCESS_REFUSED);
    f->now += 1;
    assert_int_equal(wf_on_event(f->wf, &ev, "host2", "job.volume.copy.running.host2", f->now, why), 0);
    fx_event_struct(&ev, &m.jobs[0], EV_SUCCEEDED, NULL, false, f->now);
    assert_int_equal(wf_on_event(f->wf, &ev, "worker", "job.volume.copy.succeeded.worker", f->now, why),
                     -VMS_E_ACCESS_REFUSED);
    /* the final event from the new holder, under its own key, is taken */
    assert_int_equal(wf_on_event(f->wf, &ev, "host2", "job.volume.copy.succeeded.host2", f->now, why), 0);
    fx_take(f, &r);
    expect_jobs(&r, 1, JOB_VOLUME_UPDATE);
    msgs_free(&r);
    msgs_free(&m);
}

static void test_deadline_and_heartbeat(void **state) {
    struct fx *f = *state;
    struct msgs m, r;
    fx_submit(f, TID, 1, false, &m);
    fx_succeed_all(f, &m);                            /* volume.update: 60 s + 30 s grace */
    fx_event(f, &m.jobs[0], EV_RUNNING, NULL, false); /* claimed by "worker" */
    f->now += 80000;
    struct proto_heartbeat hb = { .worker_id = "w1", .running = &m.jobs[0].job_id, .n_running = 1 };
    assert_int_equal(wf_on_heartbeat(f->wf, &hb, "worker", f->now), 0); /* alive: deadline moves */
    f->now += 80000;
    fx_tick(f);
    fx_take(f, &r);
    assert_int_equal(r.n_cancels, 0);
    f->now += 10000; /* 90 s after the heartbeat */
    fx_tick(f);
    msgs_free(&r);
    fx_take(f, &r);
    assert_int_equal(r.n_cancels, 1);
    f->now += 200;
    fx_tick(f);
    msgs_free(&r);
    fx_take(f, &r);
    expect_jobs(&r, 1, JOB_VOLUME_UPDATE);
    assert_int_equal(r.jobs[0].attempt, 2);
    assert_int_equal(r.jobs[0].args.update.generation, 0); /* same expected generation */
    msgs_free(&m);
    msgs_free(&r);
}

/* A copy written off as lost (and rolled back) that finishes after all:
 * its volume is deleted again. */
static void test_lost_copy_resurfaces(void **state) {
    struct fx *f = *state;
    struct msgs m, r;
    fx_submit(f, TID, 1, false, &m);
    fx_event(f, &m.jobs[0], EV_RUNNING, NULL, false);
    fx_cancel(f, TID);
    f->now += (3600 + 30) * 1000LL; /* the worker never answers the cancel */
    fx_tick(f);
    fx_take(f, &r);
    expect_jobs(&r, 1, JOB_VOLUME_DELETE);
    fx_succeed_all(f, &r);
    assert_int_equal(fx_state(f, TID, NULL), TPL_CANCELLED);
    msgs_free(&r);
    fx_event(f, &m.jobs[0], EV_SUCCEEDED, NULL, false); /* ... it was only slow */
    fx_take(f, &r);
    expect_jobs(&r, 1, JOB_VOLUME_DELETE);
    expect_event(&r, EV_ROLLING_BACK, "delete");
    fx_succeed_all(f, &r);
    expect_event(&r, EV_CANCELLED, "done");
    struct store_template t;
    assert_int_equal(store_template_get(f->st, TID, &t), 0);
    assert_string_equal(t.error_code, "cancelled");
    store_template_free(&t);
    msgs_free(&m);
    msgs_free(&r);
}

static void test_restart_resumes(void **state) {
    struct fx *f = *state;
    struct msgs m;
    char *body;
    size_t len;
    char why[ERR_WHY_LEN];
    req_create(TID, 2, true, &body, &len);
    assert_int_equal(fx_request(f, body, len, why), WF_ACCEPTED);
    free(body);
    size_t rows = fx_outbox_count(f);
    assert_int_equal(rows, 3); /* 2 copies + template event, not yet confirmed */
    fx_reopen(f);              /* crash before the pump confirmed anything */
    assert_int_equal(fx_outbox_count(f), rows);
    fx_take(f, &m); /* the pump republishes the same rows */
    expect_jobs(&m, 2, JOB_VOLUME_COPY);
    fx_event(f, &m.jobs[0], EV_SUCCEEDED, NULL, false);
    fx_reopen(f);                             /* a restart between the two copies */
    assert_int_equal(fx_job_rows(f, TID), 2); /* no step re-run */
    assert_int_equal(fx_outbox_count(f), 0);
    fx_event(f, &m.jobs[1], EV_SUCCEEDED, NULL, false);
    msgs_free(&m);
    fx_take(f, &m);
    expect_jobs(&m, 2, JOB_VOLUME_UPDATE);
    fx_succeed_all(f, &m);
    fx_succeed_all(f, &m);
    fx_reopen(f);
    fx_succeed_all(f, &m);
    assert_int_equal(fx_state(f, TID, NULL), TPL_READY);
    assert_int_equal(fx_job_rows(f, TID), 7);
    msgs_free(&m);
}

static void test_job_not_found_is_not_failure(void **state) {
    struct fx *f = *state;
    struct msgs m;
    fx_submit(f, TID, 1, false, &m);
    struct proto_job other = m.jobs[0];
    uuid_new(other.job_id); /* an event about a job we never issued */
    fx_event(f, &other, EV_FAILED, "EACCES", true);
    assert_int_equal(fx_state(f, TID, NULL), TPL_CREATING);
    /* a delete of a volume that is already gone counts as done */
    fx_event(f, &m.jobs[0], EV_FAILED, "EACCES", true);
    msgs_free(&m);
    fx_take(f, &m);
    expect_jobs(&m, 1, JOB_VOLUME_DELETE);
    fx_event(f, &m.jobs[0], EV_FAILED, "no_volume", true);
    assert_int_equal(fx_state(f, TID, NULL), TPL_FAILED);
    msgs_free(&m);
}

int main(void) {
    const struct CMUnitTest tests[] = {
#define T(fn) cmocka_unit_test_setup_teardown(fn, fx_setup, fx_teardown)
        T(test_happy_seal),
        T(test_happy_no_seal),
        T(test_seal_sysprep_spelled_out),
        T(test_transient_retry_backoff),
        T(test_attempts_exhausted),
        T(test_permanent_failure_rollback),
        T(test_bad_generation),
        T(test_event_identity),
        T(test_delete_failure_leftover),
        T(test_delete_failure_already_illegal),
        T(test_cancel_copy),
        T(test_cancel_mark_illegal),
        T(test_cancel_seal),
        T(test_cancel_mark_shared),
        T(test_cancel_waiting_retry),
        T(test_duplicate_events),
        T(test_stale_attempt_ignored),
        T(test_lost_unpublished_job_dropped),
        T(test_deadline_and_heartbeat),
        T(test_lost_copy_resurfaces),
        T(test_restart_resumes),
        T(test_job_not_found_is_not_failure),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
