/* wftest.c - the fixture of wftest.h. */
#include "wftest.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "control.h"
#include "err.h"
#include "mq.h"
#include "testpg.h"
#include "testutil.h"
#include "util.h"

int fx_setup(void **state) {
    struct fx *f = xcalloc(1, sizeof *f);
    assert_int_equal(testutil_dir_make("producer", &f->dir), 0);
    assert_int_equal(testpg_target(f->dir, "producer", &f->db, &f->schema), 0);
    char err[ERR_WHY_LEN];
    int r = store_open(f->db, &f->st, err);
    if (r < 0)
        fprintf(stderr, "store_open: %s\n", err);
    assert_int_equal(r, 0);
    snprintf(f->storage.domains[0].id, sizeof f->storage.domains[0].id, "%s", SD1);
    snprintf(f->storage.domains[1].id, sizeof f->storage.domains[1].id, "%s", SD2);
    f->storage.n_domains = 2;
    wf_opts_default(&f->o);
    f->o.storage = &f->storage;
    f->o.producer_id = "producer@test";
    assert_int_equal(wf_new(f->st, &f->o, &f->wf), 0);
    f->now = 1700000000000LL;
    *state = f;
    return 0;
}

int fx_teardown(void **state) {
    struct fx *f = *state;
    wf_free(f->wf);
    store_close(f->st);
    testutil_dir_remove(f->dir);
    testpg_schema_drop(f->schema);
    free(f->schema);
    free(f->dir);
    free(f->db);
    free(f);
    return 0;
}

void fx_reopen(struct fx *f) {
    wf_free(f->wf);
    store_close(f->st);
    char err[ERR_WHY_LEN];
    assert_int_equal(store_open(f->db, &f->st, err), 0);
    assert_int_equal(wf_new(f->st, &f->o, &f->wf), 0);
    assert_int_equal(wf_resume(f->wf, f->now), 0);
}

void req_create(const char *template_id, size_t n_disks, bool seal, char **ret_buf, size_t *ret_len) {
    struct proto_vol_ref disks[8];
    struct proto_template_create m = { .name = "tmpl", .disks = disks, .n_disks = n_disks, .seal = seal };
    snprintf(m.template_id, sizeof m.template_id, "%s", template_id);
    for (size_t i = 0; i < n_disks; i++) {
        snprintf(disks[i].sd_id, sizeof disks[i].sd_id, "%s", SD1);
        uuid_new(disks[i].img_id);
        uuid_new(disks[i].vol_id);
    }
    assert_int_equal(proto_encode_template_create(&m, ret_buf, ret_len), 0);
}

enum wf_outcome fx_request(struct fx *f, const void *body, size_t len, char why[ERR_WHY_LEN]) {
    enum wf_outcome o = WF_ACCEPTED;
    assert_int_equal(wf_on_request(f->wf, body, len, "msg-1", f->now, &o, why), 0);
    return o;
}

void fx_submit(struct fx *f, const char *template_id, size_t n_disks, bool seal, struct msgs *m) {
    char *body;
    size_t len;
    char why[ERR_WHY_LEN];
    req_create(template_id, n_disks, seal, &body, &len);
    assert_int_equal(fx_request(f, body, len, why), WF_ACCEPTED);
    free(body);
    fx_take(f, m);
}

void fx_cancel(struct fx *f, const char *template_id) {
    struct proto_template_cancel c;
    snprintf(c.template_id, sizeof c.template_id, "%s", template_id);
    char *body;
    size_t len;
    char why[ERR_WHY_LEN];
    assert_int_equal(proto_encode_template_cancel(&c, &body, &len), 0);
    assert_int_equal(fx_request(f, body, len, why), WF_ACCEPTED);
    free(body);
}

void msgs_free(struct msgs *m) {
    for (size_t i = 0; i < m->n_jobs; i++)
        proto_job_free(&m->jobs[i]);
    for (size_t i = 0; i < m->n_events; i++)
        proto_event_free(&m->events[i]);
    memset(m, 0, sizeof *m);
}

static void take_row(struct msgs *m, const struct store_outbox *o) {
    char why[ERR_WHY_LEN] = "";
    if (strcmp(o->exchange, MQ_X_JOBS) == 0) {
        assert_true(m->n_jobs < WFT_MAX);
        struct proto_job *j = &m->jobs[m->n_jobs++];
        assert_int_equal(proto_decode_job(o->body, o->body_len, j, why), 0);
        assert_string_equal(o->message_id, j->job_id);
        const char *cls = j->kind == JOB_VM_SEAL ? "virt." : "storage.";
        assert_memory_equal(o->routing_key, cls, strlen(cls));
    } else if (strcmp(o->exchange, MQ_X_EVENTS) == 0) {
        assert_true(m->n_events < WFT_MAX);
        struct proto_event *e = &m->events[m->n_events++];
        assert_int_equal(proto_decode_event(o->body, o->body_len, e, why), 0);
        assert_string_equal(e->job_id, "");
        char key[64];
        snprintf(key, sizeof key, "template.%s", event_state_to_string(e->state));
        assert_string_equal(o->routing_key, key);
    } else if (strcmp(o->exchange, MQ_X_CONTROL) == 0) {
        struct proto_job_cancel c;
        assert_int_equal(proto_decode_job_cancel(o->body, o->body_len, &c, why), 0);
        memcpy(m->cancels[m->n_cancels++], c.job_id, sizeof(proto_uuid));
    } else {
        assert_string_equal(o->exchange, MQ_X_DLX);
        assert_non_null(o->reason);
        snprintf(m->dead[m->n_dead++], sizeof m->dead[0], "%s", o->reason);
    }
}

void fx_take(struct fx *f, struct msgs *m) {
    memset(m, 0, sizeof *m);
    struct store_outbox *rows;
    size_t n;
    assert_int_equal(store_outbox_list(f->st, 0, 1000, &rows, &n), 0);
    for (size_t i = 0; i < n; i++) {
        take_row(m, &rows[i]);
        assert_int_equal(store_outbox_delete(f->st, &rows[i].id, 1), 0);
    }
    store_outbox_array_free(rows, n);
}

size_t fx_outbox_count(struct fx *f) {
    int64_t n = 0;
    assert_int_equal(store_outbox_count(f->st, &n), 0);
    return (size_t)n;
}

void fx_event_struct(struct proto_event *ev, const struct proto_job *j, enum event_state state, const char *code,
                     bool permanent, int64_t now) {
    memset(ev, 0, sizeof *ev);
    uuid_new(ev->event_id);
    memcpy(ev->job_id, j->job_id, sizeof ev->job_id);
    memcpy(ev->template_id, j->template_id, sizeof ev->template_id);
    ev->worker_id = "w1";
    ev->state = state;
    ev->progress = -1;
    ev->ts_ms = now;
    if (code) {
        ev->has_error = true;
        ev->error.code = (char *)code;
        ev->error.message = "boom";
        ev->error.permanent = permanent;
    }
}

void fx_event(struct fx *f, const struct proto_job *j, enum event_state state, const char *code, bool permanent) {
    struct proto_event ev;
    char why[ERR_WHY_LEN];
    fx_event_struct(&ev, j, state, code, permanent, f->now);
    assert_int_equal(wf_on_event(f->wf, &ev, "worker", NULL, f->now, why), 0);
}

void fx_succeed_all(struct fx *f, struct msgs *m) {
    struct msgs old = *m;
    for (size_t i = 0; i < old.n_jobs; i++) {
        fx_event(f, &old.jobs[i], EV_RUNNING, NULL, false);
        fx_event(f, &old.jobs[i], EV_SUCCEEDED, NULL, false);
    }
    msgs_free(&old);
    fx_take(f, m);
}

void fx_tick(struct fx *f) {
    int64_t next;
    assert_int_equal(wf_on_tick(f->wf, f->now, &next), 0);
}

enum tpl_state fx_state(struct fx *f, const char *template_id, enum tpl_step *ret_step) {
    struct store_template t;
    assert_int_equal(store_template_get(f->st, template_id, &t), 0);
    enum tpl_state s = t.state;
    if (ret_step)
        *ret_step = t.step;
    store_template_free(&t);
    return s;
}

size_t fx_job_rows(struct fx *f, const char *template_id) {
    struct store_job *jobs;
    size_t n;
    assert_int_equal(store_jobs_get(f->st, template_id, &jobs, &n), 0);
    store_job_array_free(jobs, n);
    return n;
}
