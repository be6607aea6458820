/* test_engine.c - what an engine relies on in the producer (label unit):
 * the ids it chose for the new volumes are used, or refused when already in
 * use; every template event carries the template's volumes, so a READY
 * template can be registered from its event alone. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "util.h"
#include "wftest.h"

#define TID1    "aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaa1"
#define TID2    "aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaa2"
#define NEW_IMG "cccccccc-cccc-4ccc-8ccc-cccccccccc01"
#define NEW_VOL "cccccccc-cccc-4ccc-8ccc-cccccccccc02"
#define OTHER   "cccccccc-cccc-4ccc-8ccc-cccccccccc99"

/* A template.create of two disks on SD1 (fresh source ids), the first with
 * engine ids. */
struct req {
    proto_uuid template_id;
    struct proto_vol_ref disks[2];
    struct proto_new_vol nv[2];
    char why[ERR_WHY_LEN];
};

static void req_init(struct req *q, const char *tid, const char *img, const char *vol) {
    memset(q, 0, sizeof *q);
    snprintf(q->template_id, sizeof q->template_id, "%s", tid);
    snprintf(q->nv[0].img_id, sizeof q->nv[0].img_id, "%s", img);
    snprintf(q->nv[0].vol_id, sizeof q->nv[0].vol_id, "%s", vol);
    for (int i = 0; i < 2; i++) {
        snprintf(q->disks[i].sd_id, sizeof q->disks[i].sd_id, "%s", SD1);
        uuid_new(q->disks[i].img_id);
        uuid_new(q->disks[i].vol_id);
    }
}

/* Submit q (again); the outcome, with the reason in q->why. */
static enum wf_outcome req_submit(struct fx *f, struct req *q) {
    struct proto_template_create m = {
        .name = "engine", .disks = q->disks, .n_disks = 2, .new_vols = q->nv, .seal = true
    };
    memcpy(m.template_id, q->template_id, sizeof m.template_id);
    char *body;
    size_t len;
    assert_int_equal(proto_encode_template_create(&m, &body, &len), 0);
    enum wf_outcome o = fx_request(f, body, len, q->why);
    free(body);
    return o;
}

/* Submit a new template with engine ids, asserted accepted; its first messages in m. */
static void req_accept(struct fx *f, struct req *q, const char *tid, const char *img, const char *vol,
                       struct msgs *m) {
    req_init(q, tid, img, vol);
    assert_int_equal(req_submit(f, q), WF_ACCEPTED);
    fx_take(f, m);
}

static void assert_volumes(const struct proto_event *e, enum vol_state state, enum vol_legality l,
                           enum vol_type t) {
    assert_int_equal(e->n_volumes, 2);
    assert_string_equal(e->volumes[0].vol.sd_id, SD1);
    assert_string_equal(e->volumes[0].vol.img_id, NEW_IMG);
    assert_string_equal(e->volumes[0].vol.vol_id, NEW_VOL);
    for (size_t i = 0; i < 2; i++) {
        assert_int_equal(e->volumes[i].state, state);
        assert_int_equal(e->volumes[i].legality, l);
        assert_int_equal(e->volumes[i].voltype, t);
    }
}

static void test_engine_ids_to_ready(void **state) {
    struct fx *f = *state;
    struct req q;
    struct msgs m;
    req_accept(f, &q, TID1, NEW_IMG, NEW_VOL, &m);
    assert_int_equal(m.n_jobs, 2);
    assert_string_equal(m.jobs[0].args.copy.dst.img_id, NEW_IMG);
    assert_string_equal(m.jobs[0].args.copy.dst.vol_id, NEW_VOL);
    assert_string_not_equal(m.jobs[1].args.copy.dst.vol_id, NEW_VOL); /* chosen by the producer */
    assert_int_equal(m.n_events, 1);
    assert_int_equal(m.events[0].state, EV_CREATING);
    assert_volumes(&m.events[0], VOL_STATE_COPYING, LEGALITY_LEGAL, VOLTYPE_LEAF);
    /* a redelivered request is a duplicate, not a reuse of the ids */
    assert_int_equal(req_submit(f, &q), WF_DUPLICATE);
    for (int step = 0; step < 6 && fx_state(f, TID1, NULL) != TPL_READY; step++)
        fx_succeed_all(f, &m);
    assert_int_equal(fx_state(f, TID1, NULL), TPL_READY);
    assert_true(m.n_events >= 1);
    const struct proto_event *ready = &m.events[m.n_events - 1];
    assert_int_equal(ready->state, EV_READY);
    assert_volumes(ready, VOL_STATE_PRESENT, LEGALITY_LEGAL, VOLTYPE_SHARED);
    msgs_free(&m);
}

/* Submit q: refused at intake with volume_exists, nothing created. */
static void expect_refused(struct fx *f, struct req *q) {
    assert_int_equal(req_submit(f, q), WF_REJECTED);
    if (!strstr(q->why, "template.create.disks[0]: new_img_id"))
        fail_msg("reason: %s", q->why);
    struct msgs m;
    fx_take(f, &m);
    assert_int_equal(m.n_jobs, 0);
    assert_int_equal(m.n_events, 1);
    assert_string_equal(m.events[0].error.code, "volume_exists");
    assert_null(m.events[0].volumes);
    msgs_free(&m);
}

static void test_engine_ids_in_use_refused(void **state) {
    struct fx *f = *state;
    struct req first, q;
    struct msgs m;
    req_accept(f, &first, TID1, NEW_IMG, NEW_VOL, &m);
    msgs_free(&m);
    /* another template: the same volume id, or the same image id */
    req_init(&q, TID2, OTHER, NEW_VOL);
    expect_refused(f, &q);
    req_init(&q, TID2, NEW_IMG, OTHER);
    expect_refused(f, &q);
    /* a source volume of the first template as the new volume */
    req_init(&q, TID2, OTHER, first.disks[1].vol_id);
    expect_refused(f, &q);
    assert_int_equal(fx_job_rows(f, TID1), 2);
    /* within one request: a new id equal to one of its sources */
    req_init(&q, TID2, NEW_IMG, NEW_VOL);
    memcpy(q.nv[0].vol_id, q.disks[1].img_id, sizeof(proto_uuid));
    expect_refused(f, &q);
}

/* A rollback reports the volumes deleted; their ids are free again. */
static void test_engine_ids_after_rollback(void **state) {
    struct fx *f = *state;
    struct req q;
    struct msgs m;
    req_accept(f, &q, TID1, NEW_IMG, NEW_VOL, &m);
    fx_event(f, &m.jobs[0], EV_FAILED, "qemu_img", true);
    fx_event(f, &m.jobs[1], EV_SUCCEEDED, NULL, false);
    msgs_free(&m);
    fx_take(f, &m);
    for (int step = 0; step < 4 && fx_state(f, TID1, NULL) != TPL_FAILED; step++)
        fx_succeed_all(f, &m);
    assert_int_equal(fx_state(f, TID1, NULL), TPL_FAILED);
    const struct proto_event *failed = &m.events[m.n_events - 1];
    assert_int_equal(failed->state, EV_FAILED);
    assert_int_equal(failed->n_volumes, 2);
    for (size_t i = 0; i < 2; i++)
        assert_int_equal(failed->volumes[i].state, VOL_STATE_DELETED);
    msgs_free(&m);
    req_accept(f, &q, TID2, NEW_IMG, NEW_VOL, &m);
    msgs_free(&m);
}

int main(void) {
    const struct CMUnitTest tests[] = {
#define T(fn) cmocka_unit_test_setup_teardown(fn, fx_setup, fx_teardown)
        T(test_engine_ids_to_ready),
        T(test_engine_ids_in_use_refused),
        T(test_engine_ids_after_rollback),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
