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

#define TID1 "aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaa1"
#define TID2 "aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaa2"
#define NEW_IMG "cccccccc-cccc-4ccc-8ccc-cccccccccc01"
#define NEW_VOL "cccccccc-cccc-4ccc-8ccc-cccccccccc02"

/* A create of two disks on SD1; the first with engine ids (img, vol). */
static void create_with_ids(const char *tid, const char *img, const char *vol, struct proto_vol_ref *disks,
                            struct proto_new_vol *nv, char **body, size_t *len) {
    struct proto_template_create m = { .name = "engine", .disks = disks, .n_disks = 2, .new_vols = nv,
                                       .seal = true };
    snprintf(m.template_id, sizeof m.template_id, "%s", tid);
    memset(nv, 0, 2 * sizeof *nv);
    snprintf(nv[0].img_id, sizeof nv[0].img_id, "%s", img);
    snprintf(nv[0].vol_id, sizeof nv[0].vol_id, "%s", vol);
    for (int i = 0; i < 2; i++) {
        snprintf(disks[i].sd_id, sizeof disks[i].sd_id, "%s", SD1);
        uuid_new(disks[i].img_id);
        uuid_new(disks[i].vol_id);
    }
    assert_int_equal(proto_encode_template_create(&m, body, len), 0);
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
    struct proto_vol_ref disks[2];
    struct proto_new_vol nv[2];
    char *body, why[PROTO_WHY_LEN];
    size_t len;
    create_with_ids(TID1, NEW_IMG, NEW_VOL, disks, nv, &body, &len);
    assert_int_equal(fx_request(f, body, len, why), WF_ACCEPTED);
    struct msgs m;
    fx_take(f, &m);
    assert_int_equal(m.n_jobs, 2);
    assert_string_equal(m.jobs[0].args.copy.dst.img_id, NEW_IMG);
    assert_string_equal(m.jobs[0].args.copy.dst.vol_id, NEW_VOL);
    assert_string_not_equal(m.jobs[1].args.copy.dst.vol_id, NEW_VOL);   /* chosen by the producer */
    assert_int_equal(m.n_events, 1);
    assert_int_equal(m.events[0].state, EV_CREATING);
    assert_volumes(&m.events[0], VOL_STATE_COPYING, LEGALITY_LEGAL, VOLTYPE_LEAF);
    /* a redelivered request is a duplicate, not a reuse of the ids */
    assert_int_equal(fx_request(f, body, len, why), WF_DUPLICATE);
    free(body);
    for (int step = 0; step < 6 && fx_state(f, TID1, NULL) != TPL_READY; step++)
        fx_succeed_all(f, &m);
    assert_int_equal(fx_state(f, TID1, NULL), TPL_READY);
    assert_true(m.n_events >= 1);
    const struct proto_event *ready = &m.events[m.n_events - 1];
    assert_int_equal(ready->state, EV_READY);
    assert_volumes(ready, VOL_STATE_PRESENT, LEGALITY_LEGAL, VOLTYPE_SHARED);
    msgs_free(&m);
}

static void expect_refused(struct fx *f, const char *tid, const char *img, const char *vol) {
    struct proto_vol_ref disks[2];
    struct proto_new_vol nv[2];
    char *body, why[PROTO_WHY_LEN];
    size_t len;
    create_with_ids(tid, img, vol, disks, nv, &body, &len);
    assert_int_equal(fx_request(f, body, len, why), WF_REJECTED);
    free(body);
    if (!strstr(why, "already used in storage domain " SD1))
        fail_msg("reason: %s", why);
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
    struct proto_vol_ref disks[2];
    struct proto_new_vol nv[2];
    char *body, why[PROTO_WHY_LEN];
    size_t len;
    create_with_ids(TID1, NEW_IMG, NEW_VOL, disks, nv, &body, &len);
    assert_int_equal(fx_request(f, body, len, why), WF_ACCEPTED);
    free(body);
    struct msgs m;
    fx_take(f, &m);
    msgs_free(&m);
    /* another template: the same volume id, or the same image id */
    expect_refused(f, TID2, "cccccccc-cccc-4ccc-8ccc-cccccccccc99", NEW_VOL);
    expect_refused(f, TID2, NEW_IMG, "cccccccc-cccc-4ccc-8ccc-cccccccccc99");
    /* a source volume of the first template as the new volume */
    expect_refused(f, TID2, "cccccccc-cccc-4ccc-8ccc-cccccccccc99", disks[1].vol_id);
    assert_int_equal(fx_job_rows(f, TID1), 2);
}

/* Within one request: a new id equal to one of its sources. */
static void test_engine_ids_clash_in_request(void **state) {
    struct fx *f = *state;
    struct proto_vol_ref disks[2];
    struct proto_new_vol nv[2];
    char *body, why[PROTO_WHY_LEN];
    size_t len;
    create_with_ids(TID1, NEW_IMG, NEW_VOL, disks, nv, &body, &len);
    free(body);
    struct proto_template_create c = { .name = "engine", .disks = disks, .n_disks = 2, .new_vols = nv,
                                       .seal = true };
    snprintf(c.template_id, sizeof c.template_id, "%s", TID1);
    memcpy(nv[0].vol_id, disks[1].img_id, sizeof(proto_uuid));
    assert_int_equal(proto_encode_template_create(&c, &body, &len), 0);
    assert_int_equal(fx_request(f, body, len, why), WF_REJECTED);
    free(body);
    assert_non_null(strstr(why, "template.create.disks[0]: new_img_id"));
}

/* A rollback reports the volumes deleted; their ids are free again. */
static void test_engine_ids_after_rollback(void **state) {
    struct fx *f = *state;
    struct proto_vol_ref disks[2];
    struct proto_new_vol nv[2];
    char *body, why[PROTO_WHY_LEN];
    size_t len;
    create_with_ids(TID1, NEW_IMG, NEW_VOL, disks, nv, &body, &len);
    assert_int_equal(fx_request(f, body, len, why), WF_ACCEPTED);
    free(body);
    struct msgs m;
    fx_take(f, &m);
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
    create_with_ids(TID2, NEW_IMG, NEW_VOL, disks, nv, &body, &len);
    assert_int_equal(fx_request(f, body, len, why), WF_ACCEPTED);
    free(body);
}

int main(void) {
    const struct CMUnitTest tests[] = {
#define T(fn) cmocka_unit_test_setup_teardown(fn, fx_setup, fx_teardown)
        T(test_engine_ids_to_ready),
        T(test_engine_ids_in_use_refused),
        T(test_engine_ids_clash_in_request),
        T(test_engine_ids_after_rollback),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
