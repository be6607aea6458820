/* test_hostile.c - a catalogue of malformed and malicious messages sent to
 * every vmseal queue while a real producer and a real (dry-run) worker run
 * (labels broker, e2e):
 *
 *   vmseal.requests      each is dead-lettered with an x-vmseal-reason
 *   vmseal.jobs.default  each is dead-lettered with a reason, or (valid in
 *                        form, hostile in meaning: unknown domain, update or
 *                        seal of a SHARED volume, missing source) fails with
 *                        a failed event naming the problem
 *   vmseal.rpc           each gets an rpc.reply with ok = false, an error
 *                        code and a message naming the problem
 *   vmseal.control       each is logged by the worker as "invalid control
 *                        message ignored: <reason>"
 *
 * Then both processes must still be up, and a valid sealed template must
 * end READY with nothing else created in the domain.
 */
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "catalogue.h"
#include "control.h"
#include "e2e.h"
#include "mq.h"
#include "rpc.h"
#include "util.h"

#define WAIT_MS       30000
#define MIN_PER_QUEUE 30

/* A committed RAW source volume of 1 MiB in the domain. */
static void source_make(struct e2e *e, struct proto_vol_ref *ret) {
    assert_int_equal(e2e_source_make(e, 1 << 20, ret), 0);
}

/* Make v SHARED (GEN 0 -> 1) with a real volume.update through the worker. */
static void make_shared(struct e2e *e, const struct proto_vol_ref *v) {
    struct proto_job j;
    testevents_job_init(&j, JOB_VOLUME_UPDATE);
    j.args.update.vol = *v;
    j.args.update.generation = 0;
    j.args.update.voltype = VOLTYPE_SHARED;
    assert_int_equal(testevents_publish_job(e->te, &j), 0);
    const struct proto_event *ev = NULL;
    assert_int_equal(testevents_wait(e->te, j.job_id, -1, WAIT_MS, &ev), 0);
    assert_int_equal(ev->state, EV_SUCCEEDED);
    proto_job_free(&j);
}

static char *q(const char *s) { return xasprintf("'%s'", s); }

static char *volref_text(const char *sd, const char *img, const char *vol) {
    return xasprintf("{sd_id:'%s', img_id:'%s', vol_id:'%s'}", sd, img, vol);
}

static int publish(struct e2e *e, const char *exchange, const char *rk, const struct hostile_msg *m,
                   const char *type, const char *reply_to) {
    struct mq_props p = { .message_id = m->id,
                          .correlation_id = reply_to ? m->id : NULL,
                          .reply_to = reply_to,
                          .type = type,
                          .transient = reply_to != NULL };
    mq_t *mq = reply_to ? e->rpc : testevents_mq(e->te);
    return mq_publish_wait(mq, exchange, rk, &p, m->body, m->len, 10000);
}

static void check_alive(struct e2e *e, pid_t producer, pid_t worker, const char *after) {
    if (kill(producer, 0) != 0 || kill(worker, 0) != 0) {
        e2e_dump_logs(e);
        fail_msg("after %s: producer %s, worker %s", after, kill(producer, 0) == 0 ? "up" : "GONE",
                 kill(worker, 0) == 0 ? "up" : "GONE");
    }
}

/* Every message must come back from vmseal.dead with a reason. */
static void expect_dead(struct e2e *e, const struct catalogue *c, const char *queue) {
    for (size_t i = 0; i < c->n; i++) {
        char *reason = NULL;
        int r = testevents_wait_dead(e->te, c->v[i].id, WAIT_MS, &reason);
        if (r != 0 || !reason || !reason[0]) {
            e2e_dump_logs(e);
            fail_msg("%s: '%s' (%s) was not dead-lettered with a reason (%d)", queue, c->v[i].name, c->v[i].id, r);
        }
        printf("  %-20s %-38s -> dead: %s\n", queue, c->v[i].name, reason);
        free(reason);
    }
}

/* ---- vmseal.requests ---------------------------------------------------- */

static size_t hostile_requests(struct e2e *e, const struct proto_vol_ref *src) {
    proto_uuid tid, unknown;
    uuid_new(tid);
    uuid_new(unknown);
    _cleanup_free_ char *tq = q(tid), *disk = volref_text(src->sd_id, src->img_id, src->vol_id);
    _cleanup_free_ char *disks = xasprintf("[%s]", disk);
    struct hostile_kv base[] = { { "v", "1" },          { "type", "'template.create'" },
                                 { "template_id", tq }, { "name", "'hostile'" },
                                 { "disks", disks },    { "seal", "true" } };
    size_t n = sizeof base / sizeof base[0];
    struct catalogue c = { 0 };
    catalogue_build(&c, base, n);
    _cleanup_free_ char *d1 = xasprintf("[%s]", volref_text(src->sd_id, "../../../etc", src->vol_id));
    _cleanup_free_ char *d2 = xasprintf("[%s]", volref_text(src->sd_id, src->img_id, "/etc/passwd"));
    _cleanup_free_ char *d3 = xasprintf("[%s]", volref_text(unknown, src->img_id, src->vol_id));
    _cleanup_free_ char *d4 = xasprintf("[%s]", volref_text(src->sd_id, "..", src->vol_id));
    _cleanup_free_ char *uq = q(unknown);
    catalogue_add_with(&c, "template_id ../../etc/passwd", base, n, "template_id", "'../../etc/passwd'", NULL);
    catalogue_add_with(&c, "template_id absolute path", base, n, "template_id", "'/var/lib/vmseal/producer.db'",
                       NULL);
    catalogue_add_with(&c, "template_id upper case", base, n, "template_id",
                       "'0B6C9C43-5D1E-4A77-9B1F-1A2B3C4D5E6F'", NULL);
    catalogue_add_with(&c, "disk img_id ../../../etc", base, n, "disks", d1, NULL);
    catalogue_add_with(&c, "disk img_id ..", base, n, "disks", d4, NULL);
    catalogue_add_with(&c, "disk vol_id /etc/passwd", base, n, "disks", d2, NULL);
    catalogue_add_with(&c, "disk in an unknown domain", base, n, "disks", d3, NULL);
    catalogue_add_with(&c, "target_sd_id unknown", base, n, "target_sd_id", uq, NULL);
    catalogue_add_with(&c, "no disks", base, n, "disks", "[]", NULL);
    catalogue_add_with(&c, "disk is not a map", base, n, "disks", "[1]", NULL);
    catalogue_add_with(&c, "sysprep.enable not an array", base, n, "sysprep", "{enable:123}", NULL);
    catalogue_add_with(&c, "unknown sysprep op", base, n, "sysprep", "{enable:['format-disk']}", NULL);

    for (size_t i = 0; i < c.n; i++)
        assert_int_equal(publish(e, "", MQ_Q_REQUESTS, &c.v[i], "template.create", NULL), 0);
    expect_dead(e, &c, MQ_Q_REQUESTS);
    size_t count = c.n;
    catalogue_free(&c);
    return count;
}

/* ---- vmseal.jobs.default -------------------------------------------------- */

/* A job valid in form: base with a fresh job_id, `kind` and `args`. */
static void add_job(struct catalogue *c, const char *name, const struct hostile_kv *base, size_t n,
                    const char *kind, const char *args, const char *code) {
    struct hostile_kv b[16];
    proto_uuid id;
    uuid_new(id);
    _cleanup_free_ char *idq = q(id);
    assert_true(n <= 16);
    memcpy(b, base, n * sizeof *b);
    for (size_t i = 0; i < n; i++) {
        if (strcmp(b[i].key, "job_id") == 0)
            b[i].value = idq;
        else if (strcmp(b[i].key, "kind") == 0)
            b[i].value = kind;
    }
    catalogue_add_with(c, name, b, n, "args", args, code);
}

static size_t hostile_jobs(struct e2e *e, const struct proto_vol_ref *src, const struct proto_vol_ref *shared) {
    proto_uuid jid, tid, unknown, nowhere;
    uuid_new(jid);
    uuid_new(tid);
    uuid_new(unknown);
    uuid_new(nowhere);
    _cleanup_free_ char *jq = q(jid), *tq = q(tid);
    /* The base: a volume.update of the source with a generation it does not
     * have, so that even an accidentally valid mutation changes nothing. */
    _cleanup_free_ char *args =
        xasprintf("{sd_id:'%s', img_id:'%s', vol_id:'%s', generation:500, legality:'ILLEGAL'}", src->sd_id,
                  src->img_id, src->vol_id);
    struct hostile_kv base[] = { { "v", "1" },
                                 { "type", "'job'" },
                                 { "job_id", jq },
                                 { "template_id", tq },
                                 { "kind", "'volume.update'" },
                                 { "attempt", "1" },
                                 { "timeout_s", "60" },
                                 { "args", args } };
    size_t n = sizeof base / sizeof base[0];
    struct catalogue c = { 0 };
    catalogue_build(&c, base, n);

#define ARGS(...) xasprintf(__VA_ARGS__)
    char *a[20];
    size_t na = 0;
    a[na++] = ARGS("{sd_id:'%s', img_id:'../../../etc', vol_id:'%s', generation:0}", src->sd_id, src->vol_id);
    a[na++] = ARGS("{sd_id:'%s', img_id:'%s', vol_id:'/etc/passwd', generation:0}", src->sd_id, src->img_id);
    a[na++] =
        ARGS("{sd_id:'../%s', img_id:'%s', vol_id:'%s', generation:0}", src->sd_id, src->img_id, src->vol_id);
    a[na++] =
        ARGS("{sd_id:'%s', img_id:'%s', vol_id:'%s', generation:5000}", src->sd_id, src->img_id, src->vol_id);
    a[na++] = ARGS("{sd_id:'%s', img_id:'%s', vol_id:'%s', generation:0, legality:'MAYBE'}", src->sd_id,
                   src->img_id, src->vol_id);
    catalogue_add_with(&c, "args.img_id ../../../etc", base, n, "args", a[0], NULL);
    catalogue_add_with(&c, "args.vol_id /etc/passwd", base, n, "args", a[1], NULL);
    catalogue_add_with(&c, "args.sd_id ../<uuid>", base, n, "args", a[2], NULL);
    catalogue_add_with(&c, "generation 5000", base, n, "args", a[3], NULL);
    catalogue_add_with(&c, "legality MAYBE", base, n, "args", a[4], NULL);
    catalogue_add_with(&c, "kind unknown (volume.format)", base, n, "kind", "'volume.format'", NULL);
    catalogue_add_with(&c, "kind vm.seal with update args", base, n, "kind", "'vm.seal'", NULL);
    catalogue_add_with(&c, "job_id not a uuid", base, n, "job_id", "'job-1'", NULL);
    catalogue_add_with(&c, "attempt 0", base, n, "attempt", "0", NULL);
    catalogue_add_with(&c, "timeout_s -5", base, n, "timeout_s", "-5", NULL);
    size_t n_dead = c.n;

    /* Valid in form, hostile in meaning: a failed event naming the problem. */
    a[na++] = ARGS("{sd_id:'%s', img_id:'%s', vol_id:'%s', generation:0, legality:'ILLEGAL'}", unknown,
                   src->img_id, src->vol_id);
    add_job(&c, "job for an unknown domain", base, n, "'volume.update'", a[na - 1], "unknown_domain");
    a[na++] = ARGS("{sd_id:'%s', img_id:'%s', vol_id:'%s', generation:1, legality:'ILLEGAL'}", shared->sd_id,
                   shared->img_id, shared->vol_id);
    add_job(&c, "volume.update of a SHARED volume", base, n, "'volume.update'", a[na - 1], "volume_shared");
    a[na++] = ARGS("{sd_id:'%s', img_id:'%s', vol_id:'%s', generation:1, description:'x'}", shared->sd_id,
                   shared->img_id, shared->vol_id);
    add_job(&c, "description change of a SHARED volume", base, n, "'volume.update'", a[na - 1], "volume_shared");
    a[na++] =
        ARGS("{disks:[{sd_id:'%s', img_id:'%s', vol_id:'%s'}]}", shared->sd_id, shared->img_id, shared->vol_id);
    add_job(&c, "vm.seal of a LEGAL SHARED volume", base, n, "'vm.seal'", a[na - 1], "volume_shared");
    /* jobs limited to what a workflow asks: never seal a LEGAL leaf (a VM's
     * disk), never delete a SHARED volume or one another workflow made */
    a[na++] = ARGS("{disks:[{sd_id:'%s', img_id:'%s', vol_id:'%s'}]}", src->sd_id, src->img_id, src->vol_id);
    add_job(&c, "vm.seal of a LEGAL leaf (a VM's disk)", base, n, "'vm.seal'", a[na - 1], "state");
    a[na++] = ARGS("{sd_id:'%s', img_id:'%s', vol_id:'%s'}", shared->sd_id, shared->img_id, shared->vol_id);
    add_job(&c, "volume.delete of a SHARED volume", base, n, "'volume.delete'", a[na - 1], "volume_shared");
    a[na++] = ARGS("{sd_id:'%s', img_id:'%s', vol_id:'%s'}", src->sd_id, src->img_id, src->vol_id);
    add_job(&c, "volume.delete of the source VM's disk", base, n, "'volume.delete'", a[na - 1], "not_owner");
    /* A producer that knows an operation this worker does not: the job fails
     * permanently before any disk is opened. */
    a[na++] = ARGS("{disks:[{sd_id:'%s', img_id:'%s', vol_id:'%s'}], sysprep:{enable:['format-disk']}}",
                   src->sd_id, src->img_id, src->vol_id);
    add_job(&c, "vm.seal naming an unknown sysprep op", base, n, "'vm.seal'", a[na - 1], "unknown_op");
    a[na++] = ARGS(
        "{sd_id:'%s', src:{img_id:'%s', vol_id:'%s'}, dst:{sd_id:'%s', img_id:'%s', vol_id:'%s'}, format:'RAW'}",
        src->sd_id, nowhere, nowhere, src->sd_id, jid, tid);
    add_job(&c, "volume.copy of a missing source", base, n, "'volume.copy'", a[na - 1], "no_volume");
    for (size_t i = 0; i < na; i++)
        free(a[i]);
#undef ARGS

    for (size_t i = 0; i < c.n; i++) {
        _cleanup_free_ char *rk = xasprintf("storage.%s", e->sd_id);
        assert_int_equal(publish(e, MQ_X_JOBS, rk, &c.v[i], "job", NULL), 0);
    }
    struct catalogue dead = { .v = c.v, .n = n_dead };
    expect_dead(e, &dead, "vmseal.jobs.default");
    for (size_t i = n_dead; i < c.n; i++) {
        /* the job id is in the body: decode it back */
        struct proto_job j;
        char why[ERR_WHY_LEN] = "";
        if (proto_decode_job(c.v[i].body, c.v[i].len, &j, why) != 0)
            fail_msg("jobs: '%s' is not a valid job: %s", c.v[i].name, why);
        const struct proto_event *ev = NULL;
        int r = testevents_wait(e->te, j.job_id, -1, WAIT_MS, &ev);
        if (r != 0 || ev->state != EV_FAILED || !ev->has_error ||
            strcmp(ev->error.code, c.v[i].expect_code) != 0 || !ev->error.message || !ev->error.message[0]) {
            e2e_dump_logs(e);
            fail_msg("jobs: '%s' did not fail with %s (r=%d state=%s code=%s)", c.v[i].name, c.v[i].expect_code, r,
                     ev ? event_state_to_string(ev->state) : "-", ev && ev->has_error ? ev->error.code : "-");
        }
        printf("  %-20s %-38s -> failed: %s: %s\n", "vmseal.jobs.default", c.v[i].name, ev->error.code,
               ev->error.message);
        proto_job_free(&j);
    }
    size_t count = c.n;
    catalogue_free(&c);
    return count;
}

/* ---- vmseal.rpc --------------------------------------------------------------- */

static size_t hostile_rpc(struct e2e *e) {
    proto_uuid tid;
    uuid_new(tid);
    _cleanup_free_ char *tq = q(tid);
    struct hostile_kv base[] = {
        { "v", "1" }, { "type", "'rpc.request'" }, { "method", "'status'" }, { "template_id", tq }
    };
    size_t n = sizeof base / sizeof base[0];
    struct catalogue c = { 0 };
    catalogue_build(&c, base, n);
    catalogue_add_with(&c, "method unknown", base, n, "method", "'drop_tables'", NULL);
    catalogue_add_with(&c, "template_id ../../etc/passwd", base, n, "template_id", "'../../etc/passwd'", NULL);
    catalogue_add_with(&c, "template_id SQL injection", base, n, "template_id",
                       "'x\\' OR 1=1; DROP TABLE templates; --'", NULL);
    catalogue_add_with(&c, "status of an unknown template", base, n, "template_id", tq, NULL);
    {
        struct hostile_kv lb[] = {
            { "v", "1" }, { "type", "'rpc.request'" }, { "method", "'list'" }, { "limit", "100000" }
        };
        catalogue_add_with(&c, "list limit 100000", lb, 4, "limit", "100000", NULL);
        catalogue_add_with(&c, "list limit 0", lb, 4, "limit", "0", NULL);
        catalogue_add_with(&c, "list limit -1", lb, 4, "limit", "-1", NULL);
        catalogue_add_with(&c, "list state bogus", lb, 4, "state", "'bogus'", NULL);
    }

    for (size_t i = 0; i < c.n; i++) {
        struct hostile_msg *m = &c.v[i];
        assert_int_equal(publish(e, "", MQ_Q_RPC, m, RPC_REQUEST_TYPE, RPC_REPLY_TO), 0);
        int64_t deadline = time_mono_ms() + 10000;
        bool answered = false;
        while (!answered && time_mono_ms() < deadline) {
            struct mq_event ev;
            memset(&ev, 0, sizeof ev);
            if (mq_wait(e->rpc, 200, NULL, 0, &ev) == 0 && ev.type == MQ_EV_DELIVERY &&
                ev.delivery.correlation_id && strcmp(ev.delivery.correlation_id, m->id) == 0) {
                struct rpc_reply rep;
                char why[ERR_WHY_LEN] = "";
                assert_int_equal(rpc_decode_reply(ev.delivery.body, ev.delivery.body_len, &rep, why), 0);
                if (rep.ok || !rep.error_code || !rep.error_code[0] || !rep.error_message || !rep.error_message[0])
                    fail_msg("rpc: '%s' was not refused with a reason (ok=%d)", m->name, rep.ok);
                printf("  %-20s %-38s -> %s: %s\n", MQ_Q_RPC, m->name, rep.error_code, rep.error_message);
                rpc_reply_free(&rep);
                answered = true;
            }
            mq_event_clear(&ev);
        }
        if (!answered) {
            e2e_dump_logs(e);
            fail_msg("rpc: no reply to '%s'", m->name);
        }
    }
    size_t count = c.n;
    catalogue_free(&c);
    return count;
}

/* ---- vmseal.control --------------------------------------------------------- */

static size_t count_in_file(const char *path, const char *needle) {
    char *text = NULL;
    size_t len = 0, n = 0;
    if (read_file_all(path, 64 << 20, &text, &len) < 0)
        return 0;
    for (const char *p = text; (p = strstr(p, needle)); p++)
        n++;
    free(text);
    return n;
}

static const char *proc_log(struct e2e *e, pid_t pid) {
    for (size_t i = 0; i < e->n_procs; i++)
        if (e->procs[i].pid == pid)
            return e->procs[i].log;
    return NULL;
}

static size_t hostile_control(struct e2e *e, pid_t worker) {
    proto_uuid jid, tid;
    uuid_new(jid);
    uuid_new(tid);
    _cleanup_free_ char *jq = q(jid), *tq = q(tid);
    struct hostile_kv base[] = {
        { "v", "1" }, { "type", "'job.cancel'" }, { "job_id", jq }, { "template_id", tq }
    };
    size_t n = sizeof base / sizeof base[0];
    struct catalogue c = { 0 };
    catalogue_build(&c, base, n);
    catalogue_add_with(&c, "job_id ../../x", base, n, "job_id", "'../../x'", NULL);
    catalogue_add_with(&c, "job_id absolute path", base, n, "job_id", "'/proc/self/mem'", NULL);
    catalogue_add_with(&c, "template_id upper case", base, n, "template_id",
                       "'0B6C9C43-5D1E-4A77-9B1F-1A2B3C4D5E6F'", NULL);

    const char *log = proc_log(e, worker);
    assert_non_null(log);
    const char *needle = "invalid control message ignored: ";
    size_t before = count_in_file(log, needle);
    for (size_t i = 0; i < c.n; i++)
        assert_int_equal(publish(e, MQ_X_CONTROL, "", &c.v[i], PROTO_JOB_CANCEL_TYPE, NULL), 0);
    int64_t deadline = time_mono_ms() + WAIT_MS;
    size_t got = 0;
    while ((got = count_in_file(log, needle) - before) < c.n && time_mono_ms() < deadline)
        testevents_pump(e->te, 200);
    if (got != c.n) {
        e2e_dump_logs(e);
        fail_msg("control: %zu of %zu invalid messages logged with a reason", got, c.n);
    }
    printf("  %-20s %zu messages -> each logged by the worker as \"%s<reason>\"\n", MQ_X_CONTROL, c.n, needle);
    size_t count = c.n;
    catalogue_free(&c);
    return count;
}

static void test_hostile_catalogue(void **state) {
    struct e2e *e = *state;
    pid_t p, w;
    assert_int_equal(e2e_producer_start(e, "producer-h", true, &p), 0);
    assert_int_equal(e2e_worker_start(e, "worker-h", true, 200, 2, &w), 0);
    struct proto_vol_ref src, shared;
    source_make(e, &src);
    source_make(e, &shared);
    make_shared(e, &shared);

    size_t n_req = hostile_requests(e, &src);
    check_alive(e, p, w, "vmseal.requests");
    size_t n_jobs = hostile_jobs(e, &src, &shared);
    check_alive(e, p, w, "vmseal.jobs.default");
    size_t n_rpc = hostile_rpc(e);
    check_alive(e, p, w, "vmseal.rpc");
    size_t n_ctl = hostile_control(e, w);
    check_alive(e, p, w, "vmseal.control");
    printf("hostile: %zu requests, %zu jobs, %zu rpc, %zu control messages rejected; producer and worker up\n",
           n_req, n_jobs, n_rpc, n_ctl);
    assert_true(n_req >= MIN_PER_QUEUE && n_jobs >= MIN_PER_QUEUE && n_rpc >= MIN_PER_QUEUE &&
                n_ctl >= MIN_PER_QUEUE);

    /* nothing changed: the source still LEGAL LEAF GEN 0, the shared one as made */
    char val[64];
    assert_int_equal(e2e_meta_get(e, &src, "GEN", val, sizeof val), 0);
    assert_string_equal(val, "0");
    assert_int_equal(e2e_meta_get(e, &shared, "VOLTYPE", val, sizeof val), 0);
    assert_string_equal(val, "SHARED");
    assert_int_equal(e2e_meta_get(e, &shared, "LEGALITY", val, sizeof val), 0);
    assert_string_equal(val, "LEGAL");

    /* and both keep serving: a valid sealed template ends READY */
    proto_uuid tid;
    assert_int_equal(e2e_submit(e, "after-hostile", &src, 1, true, tid), 0);
    e2e_assert_ready_clean(e, tid, 60000, 2);
    check_alive(e, p, w, "the valid template");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_hostile_catalogue, e2e_setup, e2e_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
