/* test_intake.c - request validation, duplicates, dead letters, and the RPC
 * answers built from the store, what seal attempts did included (label unit). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>
#include <msgpack.h>

#include "err.h"
#include "rpc.h"
#include "rpc_server.h"
#include "util.h"
#include "wftest.h"

#define TID "bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb"

/* Submit body: expect a rejection whose reason contains `needle`, a dead
 * letter with that reason, a template.failed event iff with_event, and no
 * template row. */
static void expect_rejected(struct fx *f, const void *body, size_t len, const char *needle, bool with_event) {
    char why[ERR_WHY_LEN];
    assert_int_equal(fx_request(f, body, len, why), WF_REJECTED);
    if (!strstr(why, needle))
        fail_msg("reason \"%s\" does not mention \"%s\"", why, needle);
    struct msgs m;
    fx_take(f, &m);
    assert_int_equal(m.n_jobs, 0);
    assert_int_equal(m.n_dead, 1);
    assert_string_equal(m.dead[0], why);
    assert_int_equal(m.n_events, with_event ? 1 : 0);
    if (with_event) {
        assert_int_equal(m.events[0].state, EV_FAILED);
        assert_true(m.events[0].has_error);
        assert_string_equal(m.events[0].error.message, why);
    }
    msgs_free(&m);
}

static void create_encode(struct proto_template_create *c, char **body, size_t *len) {
    assert_int_equal(proto_encode_template_create(c, body, len), 0);
}

static void test_undecodable(void **state) {
    struct fx *f = *state;
    static const char junk[] = "\x93\x01\x02\x03"; /* an array, not a map */
    expect_rejected(f, junk, sizeof junk - 1, "map", false);
    static const char trunc[] = "\x82\xa1v\x01"; /* map of 2 with one pair */
    expect_rejected(f, trunc, sizeof trunc - 1, "", false);
}

static void pk_str(msgpack_packer *pk, const char *v) {
    msgpack_pack_str(pk, strlen(v));
    msgpack_pack_str_body(pk, v, strlen(v));
}

/* A hand-made template.create (the encoder refuses to write bad ones):
 * n_disks disks on SD1 whose img_id is `img_id`. */
static void bad_create(msgpack_sbuffer *sb, size_t n_disks, const char *img_id) {
    msgpack_packer pk;
    msgpack_sbuffer_init(sb);
    msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, 6);
    pk_str(&pk, "v");
    msgpack_pack_int(&pk, 1);
    pk_str(&pk, "type");
    pk_str(&pk, "template.create");
    pk_str(&pk, "template_id");
    pk_str(&pk, TID);
    pk_str(&pk, "name");
    pk_str(&pk, "x");
    pk_str(&pk, "disks");
    msgpack_pack_array(&pk, n_disks);
    for (size_t i = 0; i < n_disks; i++) {
        msgpack_pack_map(&pk, 3);
        pk_str(&pk, "sd_id");
        pk_str(&pk, SD1);
        pk_str(&pk, "img_id");
        pk_str(&pk, img_id);
        pk_str(&pk, "vol_id");
        pk_str(&pk, "cccccccc-cccc-4ccc-8ccc-cccccccccccc");
    }
    pk_str(&pk, "seal");
    msgpack_pack_true(&pk);
}

static void test_bad_fields_with_id(void **state) {
    struct fx *f = *state;
    msgpack_sbuffer sb;
    bad_create(&sb, 0, "");
    expect_rejected(f, sb.data, sb.size, "disks", true);
    msgpack_sbuffer_destroy(&sb);
    bad_create(&sb, 1, "ABCDEF");
    expect_rejected(f, sb.data, sb.size, "disks[0].img_id", true);
    msgpack_sbuffer_destroy(&sb);
    bad_create(&sb, 1, "../../etc");
    expect_rejected(f, sb.data, sb.size, "img_id", true);
    msgpack_sbuffer_destroy(&sb);
}

static void test_unknown_domain(void **state) {
    struct fx *f = *state;
    struct proto_vol_ref d = { SD_UNKNOWN, "", "" };
    uuid_new(d.img_id);
    uuid_new(d.vol_id);
    struct proto_template_create c = { .template_id = TID, .name = "t", .disks = &d, .n_disks = 1 };
    char *body;
    size_t len;
    create_encode(&c, &body, &len);
    expect_rejected(f, body, len, "unknown storage domain " SD_UNKNOWN, true);
    free(body);
    memcpy(d.sd_id, SD1, sizeof d.sd_id);
    memcpy(c.target_sd_id, SD_UNKNOWN, sizeof c.target_sd_id);
    create_encode(&c, &body, &len);
    expect_rejected(f, body, len, "target_sd_id", true);
    free(body);
    /* target on another known domain is fine */
    memcpy(c.target_sd_id, SD2, sizeof c.target_sd_id);
    create_encode(&c, &body, &len);
    char why[ERR_WHY_LEN];
    assert_int_equal(fx_request(f, body, len, why), WF_ACCEPTED);
    free(body);
    struct msgs m;
    fx_take(f, &m);
    assert_string_equal(m.jobs[0].args.copy.dst.sd_id, SD2);
    assert_string_equal(m.jobs[0].args.copy.sd_id, SD1);
    msgs_free(&m);
}

static void test_same_disk_twice(void **state) {
    struct fx *f = *state;
    struct proto_vol_ref d[2] = { { SD1, "", "" } };
    uuid_new(d[0].img_id);
    uuid_new(d[0].vol_id);
    d[1] = d[0];
    struct proto_template_create c = { .template_id = TID, .name = "t", .disks = d, .n_disks = 2 };
    char *body;
    size_t len;
    create_encode(&c, &body, &len);
    expect_rejected(f, body, len, "same volume", true);
    free(body);
}

/* An operation name the vocabulary does not have: refused at intake with
 * the name in the reason (before any copy), not at the seal minutes later. */
static void test_unknown_sysprep_op(void **state) {
    struct fx *f = *state;
    struct proto_vol_ref d = { SD1, "", "" };
    uuid_new(d.img_id);
    uuid_new(d.vol_id);
    char *enable[] = { "logfiles", "ssh-hostkey" }, *disable[] = { "tmp-files", "no-such-op" };
    struct proto_template_create c = { .template_id = TID,
                                       .name = "t",
                                       .disks = &d,
                                       .n_disks = 1,
                                       .seal = true,
                                       .has_sysprep = true,
                                       .sysprep = { .enable = enable, .n_enable = 2, .selinux_relabel = true } };
    char *body;
    size_t len;
    create_encode(&c, &body, &len);
    expect_rejected(f, body, len, "template.create.sysprep.enable[1]: unknown sysprep operation 'ssh-hostkey'",
                    true);
    free(body);
    struct store_template t;
    assert_int_equal(store_template_get(f->st, TID, &t), -VMS_E_NOT_FOUND);
    assert_int_equal(fx_job_rows(f, TID), 0);

    c.sysprep = (struct proto_sysprep){ .disable = disable, .n_disable = 2, .selinux_relabel = true };
    create_encode(&c, &body, &len);
    expect_rejected(f, body, len, "sysprep.disable[1]: unknown sysprep operation 'no-such-op'", true);
    free(body);
    assert_int_equal(store_template_get(f->st, TID, &t), -VMS_E_NOT_FOUND);

    /* operations entries: names after an optional '-', or the meta-names */
    char *ops[] = { "defaults", "-tmp-file" }, *empty[] = { "all", "-" };
    c.sysprep = (struct proto_sysprep){ .operations = ops, .n_operations = 2, .selinux_relabel = true };
    create_encode(&c, &body, &len);
    expect_rejected(f, body, len,
                    "template.create.sysprep.operations[1]: unknown sysprep operation '-tmp-file' (did you mean "
                    "'tmp-files'?)",
                    true);
    free(body);
    c.sysprep = (struct proto_sysprep){ .operations = empty, .n_operations = 2, .selinux_relabel = true };
    create_encode(&c, &body, &len);
    expect_rejected(f, body, len, "template.create.sysprep.operations[1]: empty operation name", true);
    free(body);
    assert_int_equal(store_template_get(f->st, TID, &t), -VMS_E_NOT_FOUND);

    /* known names only: accepted, the seal job will carry them */
    c.sysprep = (struct proto_sysprep){
        .enable = enable, .n_enable = 1, .disable = disable, .n_disable = 1, .selinux_relabel = true
    };
    create_encode(&c, &body, &len);
    char why[ERR_WHY_LEN];
    assert_int_equal(fx_request(f, body, len, why), WF_ACCEPTED);
    assert_string_equal(why, "");
    free(body);
    struct msgs m;
    fx_take(f, &m);
    assert_int_equal(m.n_jobs, 1);
    msgs_free(&m);
}

static void test_cancel_unknown(void **state) {
    struct fx *f = *state;
    struct proto_template_cancel c = { TID };
    char *body;
    size_t len;
    assert_int_equal(proto_encode_template_cancel(&c, &body, &len), 0);
    expect_rejected(f, body, len, "no template", false);
    free(body);
}

static void test_duplicate_request(void **state) {
    struct fx *f = *state;
    char *body;
    size_t len;
    char why[ERR_WHY_LEN];
    req_create(TID, 1, true, &body, &len);
    assert_int_equal(fx_request(f, body, len, why), WF_ACCEPTED);
    struct msgs m;
    fx_take(f, &m);
    msgs_free(&m);
    assert_int_equal(fx_request(f, body, len, why), WF_DUPLICATE);
    assert_int_equal(fx_outbox_count(f), 0);
    assert_int_equal(fx_job_rows(f, TID), 1);
    free(body);
    /* same id, other disks: a conflict, the first template is untouched */
    req_create(TID, 1, true, &body, &len);
    expect_rejected(f, body, len, "different content", true);
    free(body);
    assert_int_equal(fx_state(f, TID, NULL), TPL_CREATING);
    assert_int_equal(fx_job_rows(f, TID), 1);
    /* a second cancel is a no-op too */
    fx_cancel(f, TID);
    struct proto_template_cancel c = { TID };
    assert_int_equal(proto_encode_template_cancel(&c, &body, &len), 0);
    assert_int_equal(fx_request(f, body, len, why), WF_DUPLICATE);
    free(body);
}

static void test_not_a_request(void **state) {
    struct fx *f = *state;
    struct proto_heartbeat hb = { .worker_id = "w",
                                  .host = "h",
                                  .version = "1",
                                  .libguestfs_version = "",
                                  .pools = (char *[]){ "default" },
                                  .n_pools = 1,
                                  .slots = 1,
                                  .ts_ms = 1 };
    char *body;
    size_t len;
    assert_int_equal(proto_encode_heartbeat(&hb, &body, &len), 0);
    expect_rejected(f, body, len, "not a request", false);
    free(body);
}

/* ---- RPC ----------------------------------------------------------------- */

static void rpc_ask(struct fx *f, const struct worker_table *w, const struct rpc_request *rq,
                    struct rpc_reply *rep) {
    char *body, *out;
    size_t len, out_len;
    char why[ERR_WHY_LEN] = "";
    assert_int_equal(rpc_encode_request(rq, &body, &len), 0);
    assert_int_equal(rpc_server_answer(f->st, w, body, len, f->now, &out, &out_len), 0);
    if (rpc_decode_reply(out, out_len, rep, why) != 0)
        fail_msg("reply does not decode: %s", why);
    free(body);
    free(out);
}

static void expect_jobs_kind(const struct msgs *m, enum job_kind kind, int attempt) {
    assert_int_equal(m->n_jobs, 1);
    assert_int_equal(m->jobs[0].kind, kind);
    assert_int_equal(m->jobs[0].attempt, attempt);
}

static void test_rpc(void **state) {
    struct fx *f = *state;
    struct msgs m, later;
    fx_submit(f, TID, 2, true, &m);
    fx_event(f, &m.jobs[0], EV_RUNNING, NULL, false);
    fx_event(f, &m.jobs[1], EV_FAILED, "EACCES", true);
    fx_take(f, &later);
    assert_int_equal(later.n_cancels, 1);
    fx_event(f, &m.jobs[0], EV_CANCELLED, NULL, false);
    msgs_free(&m);
    msgs_free(&later);

    struct rpc_request rq = { .method = RPC_STATUS, .template_id = TID };
    struct rpc_reply rep;
    rpc_ask(f, NULL, &rq, &rep);
    assert_true(rep.ok);
    assert_string_equal(rep.tpl.id, TID);
    assert_string_equal(rep.tpl.state, "rolling_back");
    assert_string_equal(rep.tpl.step, "delete");
    assert_string_equal(rep.tpl.error_step, "copy");
    assert_string_equal(rep.tpl.error_code, "EACCES");
    assert_int_equal(rep.tpl.n_disks, 2);
    assert_string_equal(rep.tpl.disks[0].source.sd_id, SD1);
    assert_int_equal(rep.tpl.n_jobs, 4); /* 2 copies, 2 deletes */
    assert_string_equal(rep.tpl.jobs[0].worker_id, "w1");
    assert_string_equal(rep.tpl.jobs[1].state, "failed");
    assert_string_equal(rep.tpl.jobs[1].error_code, "EACCES");
    assert_int_equal(rep.tpl.jobs[2].kind, JOB_VOLUME_DELETE);
    rpc_reply_free(&rep);

    rq = (struct rpc_request){ .method = RPC_LIST };
    rpc_ask(f, NULL, &rq, &rep);
    assert_true(rep.ok);
    assert_int_equal(rep.n_templates, 1);
    assert_string_equal(rep.templates[0].state, "rolling_back");
    rpc_reply_free(&rep);
    rq.state = "ready";
    rpc_ask(f, NULL, &rq, &rep);
    assert_int_equal(rep.n_templates, 0);
    rpc_reply_free(&rep);
    rq.state = "bogus";
    rpc_ask(f, NULL, &rq, &rep);
    assert_false(rep.ok);
    assert_string_equal(rep.error_code, "invalid");
    rpc_reply_free(&rep);

    rq = (struct rpc_request){ .method = RPC_STATUS };
    uuid_new(rq.template_id);
    rpc_ask(f, NULL, &rq, &rep);
    assert_false(rep.ok);
    assert_string_equal(rep.error_code, "not_found");
    rpc_reply_free(&rep);

    struct worker_table wt = { 0 };
    struct proto_heartbeat hb = { .worker_id = xstrdup("w1"),
                                  .host = xstrdup("host1"),
                                  .version = xstrdup("0.1"),
                                  .libguestfs_version = xstrdup("1.48"),
                                  .slots = 2,
                                  .ts_ms = f->now };
    hb.pools = xcalloc(1, sizeof *hb.pools);
    hb.pools[0] = xstrdup("default");
    hb.n_pools = 1;
    worker_table_update(&wt, &hb, f->now);
    rq = (struct rpc_request){ .method = RPC_WORKERS };
    rpc_ask(f, &wt, &rq, &rep);
    assert_true(rep.ok);
    assert_int_equal(rep.n_workers, 1);
    assert_string_equal(rep.workers[0].hb.worker_id, "w1");
    assert_int_equal(rep.workers[0].received_ms, f->now);
    rpc_reply_free(&rep);
    worker_table_free(&wt);

    char *out;
    size_t out_len;
    assert_int_equal(rpc_server_answer(f->st, NULL, "\xc1", 1, f->now, &out, &out_len), 0);
    assert_int_equal(rpc_decode_reply(out, out_len, &rep, NULL), 0);
    assert_false(rep.ok);
    rpc_reply_free(&rep);
    free(out);
}

/* The final event of a seal attempt with files: n paths of tmp-files
 * (some counted only past the wire's bound), plus a hostile name. */
static void seal_event(struct fx *f, const struct proto_job *j, enum event_state state, int n) {
    struct proto_event ev;
    struct proto_files files = { 0 };
    char why[ERR_WHY_LEN], path[32], esc[64];
    for (int i = 0; i < n; i++) {
        snprintf(path, sizeof path, "/tmp/f%d", i);
        assert_int_equal(proto_files_add(&files, "tmp-files", FILE_REMOVED, "/", path), 0);
    }
    str_escape("/var/tmp/two\nlines \x1b[2J", esc, sizeof esc);
    assert_int_equal(proto_files_add(&files, "tmp-files", FILE_REMOVED, "/", esc), 0);
    fx_event_struct(&ev, j, state, state == EV_FAILED ? "guestfs" : NULL, false, f->now);
    ev.files = &files;
    assert_int_equal(wf_on_event(f->wf, &ev, "worker", NULL, f->now, why), 0);
    proto_files_free(&files);
}

/* What each seal attempt did reaches the status, within the reply's budget:
 * the newest attempts keep their paths, an older one its counts only. */
static void test_rpc_seal_files(void **state) {
    struct fx *f = *state;
    struct msgs m;
    fx_submit(f, TID, 1, true, &m);
    fx_succeed_all(f, &m); /* copy */
    fx_succeed_all(f, &m); /* mark_illegal */
    for (int attempt = 1; attempt <= 3; attempt++) {
        expect_jobs_kind(&m, JOB_VM_SEAL, attempt);
        fx_event(f, &m.jobs[0], EV_RUNNING, NULL, false);
        seal_event(f, &m.jobs[0], attempt < 3 ? EV_FAILED : EV_SUCCEEDED, attempt == 1 ? 1200 : 999);
        f->now += 60000;
        fx_tick(f);
        msgs_free(&m);
        fx_take(f, &m);
    }
    msgs_free(&m);

    struct rpc_request rq = { .method = RPC_STATUS, .template_id = TID };
    struct rpc_reply rep;
    rpc_ask(f, NULL, &rq, &rep);
    assert_true(rep.ok);
    const struct proto_files *got[4] = { 0 };
    for (size_t i = 0; i < rep.tpl.n_jobs; i++)
        if (rep.tpl.jobs[i].kind == JOB_VM_SEAL)
            got[rep.tpl.jobs[i].attempt] = rep.tpl.jobs[i].files;
        else
            assert_null(rep.tpl.jobs[i].files);
    for (int a = 1; a <= 3; a++)
        assert_non_null(got[a]);
    /* attempt 3 (newest) and 2: every path, the hostile one escaped */
    assert_int_equal(got[3]->n_paths, 1000);
    assert_false(got[3]->truncated);
    assert_string_equal(got[3]->paths[999].path, "/var/tmp/two\\x0alines \\x1b[2J");
    assert_int_equal(got[2]->n_paths, 1000);
    /* attempt 1: over the budget (and cut by the worker already): counts only */
    assert_int_equal(got[1]->n_paths, 0);
    assert_true(got[1]->truncated);
    assert_int_equal(got[1]->ops[0].removed, 1201);
    rpc_reply_free(&rep);
}

int main(void) {
    const struct CMUnitTest tests[] = {
#define T(fn) cmocka_unit_test_setup_teardown(fn, fx_setup, fx_teardown)
        T(test_undecodable),       T(test_bad_fields_with_id), T(test_unknown_domain),
        T(test_same_disk_twice),   T(test_unknown_sysprep_op), T(test_cancel_unknown),
        T(test_duplicate_request), T(test_not_a_request),      T(test_rpc),
        T(test_rpc_seal_files),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
