/* test_e2e_flow.c - the control plane end to end with dry-run workers (no
 * libguestfs): cancel during the seal, producer killed and restarted, worker
 * killed during its job, standby producer taking over, invalid requests.
 *
 * Real processes (vmseal-producer, vmseal-worker, vmsealctl), the test
 * broker, a real SQLite file and a real storage domain (e2e.h).
 *
 * Standby (producer.h): the producers share one SQLite file on one
 * host; the active one holds flock(<db>.lock), the standby waits for it and
 * only then opens the store and the broker (vmseal.requests is also single
 * active consumer).  Two producers on separate databases are not a supported
 * standby: the standby would not know the active one's templates. */
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "e2e.h"
#include "err.h"
#include "testutil.h"
#include "util.h"

#define FLOW_TIMEOUT_MS 60000

/* A committed RAW source volume of 2 MiB of non-zero data in the domain. */
static void source_make(struct e2e *e, struct proto_vol_ref *ret) {
    assert_int_equal(e2e_source_make(e, 2 * 1024 * 1024, ret), 0);
}

/* producer-a and the dry-run worker w1 (seal_ms per vm.seal, slots) up,
 * then n source volumes made into src. */
static void flow_start(struct e2e *e, int seal_ms, int slots, struct proto_vol_ref *src, size_t n,
                       pid_t *ret_producer, pid_t *ret_worker) {
    assert_int_equal(e2e_producer_start(e, "producer-a", true, ret_producer), 0);
    assert_int_equal(e2e_worker_start(e, "w1", true, seal_ms, slots, ret_worker), 0);
    for (size_t i = 0; i < n; i++)
        source_make(e, &src[i]);
}

/* Submit a sealed template `name` of the n disks and wait until its vm.seal
 * job runs; its id goes to ret_tid. */
static void submit_until_sealing(struct e2e *e, const char *name, const struct proto_vol_ref *src, size_t n,
                                 proto_uuid ret_tid) {
    assert_int_equal(e2e_submit(e, name, src, n, true, ret_tid), 0);
    assert_int_equal(e2e_wait_job_running(e, ret_tid, JOB_VM_SEAL, FLOW_TIMEOUT_MS), 0);
}

/* The id of the template's (one) vm.seal job. */
static void seal_job_id(struct e2e *e, const char *tid, proto_uuid ret) {
    struct rpc_reply rep;
    assert_int_equal(e2e_status(e, tid, &rep), 0);
    assert_true(rep.ok);
    ret[0] = '\0';
    for (size_t i = 0; i < rep.tpl.n_jobs; i++)
        if (rep.tpl.jobs[i].kind == JOB_VM_SEAL)
            memcpy(ret, rep.tpl.jobs[i].job_id, sizeof(proto_uuid));
    rpc_reply_free(&rep);
    assert_true(ret[0]);
}

/* cancel while vm.seal runs: CANCELLED, every created volume deleted. */
static void test_cancel_during_seal(void **state) {
    struct e2e *e = *state;
    pid_t p, w;
    struct proto_vol_ref src[2];
    proto_uuid tid;
    flow_start(e, 30000, 2, src, 2, &p, &w);
    _cleanup_free_ char *before = e2e_sd_listing(e);
    submit_until_sealing(e, "cancel-me", src, 2, tid);
    assert_int_equal(e2e_volume_count(e), 4);
    char *out = NULL;
    assert_int_equal(e2e_ctl(e, &out, "cancel", tid, NULL), 0);
    free(out);
    struct rpc_reply rep;
    assert_int_equal(e2e_wait_state(e, tid, NULL, FLOW_TIMEOUT_MS, &rep), 0);
    assert_string_equal(rep.tpl.state, "cancelled");
    for (size_t i = 0; i < rep.tpl.n_disks; i++)
        assert_string_equal(rep.tpl.disks[i].state, "deleted");
    assert_int_equal(rep.tpl.n_leftovers, 0);
    assert_int_equal(e2e_jobs_in_state(&rep.tpl, "delete", "succeeded"), 2);
    rpc_reply_free(&rep);
    _cleanup_free_ char *after = e2e_sd_listing(e);
    assert_string_equal(before, after);
    assert_int_equal(e2e_volume_count(e), 2);
}

/* SIGKILL the producer while the seal runs, start it again: the template
 * completes, nothing was done twice. */
static void test_producer_killed(void **state) {
    struct e2e *e = *state;
    pid_t p, w;
    struct proto_vol_ref src[2];
    proto_uuid tid;
    flow_start(e, 3000, 2, src, 2, &p, &w);
    submit_until_sealing(e, "survivor", src, 2, tid);
    proto_uuid seal_job;
    seal_job_id(e, tid, seal_job);
    e2e_kill(e, p);
    /* The seal ends while no producer runs: its events wait in the queue. */
    assert_int_equal(testevents_wait(e->te, seal_job, EV_SUCCEEDED, FLOW_TIMEOUT_MS, NULL), 0);
    assert_int_equal(e2e_producer_start(e, "producer-a2", true, &p), 0);
    e2e_assert_ready_clean(e, tid, FLOW_TIMEOUT_MS, 2);
}

/* SIGKILL the worker running the seal: the job goes back to the queue and
 * the second worker finishes the template. */
static void test_worker_killed(void **state) {
    struct e2e *e = *state;
    pid_t p, w1, w2;
    struct proto_vol_ref src;
    proto_uuid tid;
    flow_start(e, 4000, 1, &src, 1, &p, &w1);
    submit_until_sealing(e, "orphaned-job", &src, 1, tid);
    /* Only now the second worker: the seal job is surely w1's. */
    assert_int_equal(e2e_worker_start(e, "w2", true, 200, 1, &w2), 0);
    e2e_kill(e, w1);
    e2e_assert_ready_clean(e, tid, FLOW_TIMEOUT_MS, 1);
}

/* On how many lines above debug level `text` occurs in the log of the
 * started process `name`. */
static int log_count(struct e2e *e, const char *name, const char *text) {
    for (size_t i = 0; i < e->n_procs; i++) {
        if (strcmp(e->procs[i].name, name) != 0)
            continue;
        _cleanup_free_ char *buf = NULL;
        size_t len;
        if (read_file_all(e->procs[i].log, 64 << 20, &buf, &len) < 0)
            return -1;
        int n = 0;
        for (char *line = strtok(buf, "\n"); line; line = strtok(NULL, "\n"))
            n += strncmp(line, "<7>", 3) != 0 && strstr(line, text);
        return n;
    }
    return -1;
}

static void wait_log(struct e2e *e, const char *name, const char *text) {
    int64_t deadline = time_mono_ms() + FLOW_TIMEOUT_MS;
    while (log_count(e, name, text) < 1) {
        if (time_mono_ms() > deadline)
            fail_msg("no '%s' in the log of %s", text, name);
        usleep(100 * 1000);
    }
}

/* A quorum queue of the test's vhost refuses publishes over a length limit
 * of 0 (overflow reject-publish), or no longer (on false). */
static void refuse(struct e2e *e, const char *name, const char *pattern, bool on) {
    assert_int_equal(
        testbroker_policy(&e->tb, name, pattern, on ? "{\"max-length\":0,\"overflow\":\"reject-publish\"}" : NULL),
        0);
}

/* Fill a queue whose consumer is stopped until the broker refuses a
 * filler: the limit is in force (a policy takes effect a moment after
 * rabbitmqctl returns), the consumer's prefetch is taken (the producer's
 * is 256), and every channel publishing to the queue was told to refuse.
 * The fillers are dead-lettered by their consumer later. */
static void fill_until_refused(struct e2e *e, const char *queue) {
    int64_t deadline = time_mono_ms() + 20000;
    for (int i = 0; time_mono_ms() < deadline; i++) {
        int r = mq_publish_wait(e->rpc, "", queue, NULL, "filler", 6, 5000);
        if (r == -VMS_E_NACKED)
            return;
        assert_int_equal(r, 0);
        if (i >= 300)
            usleep(100 * 1000);
    }
    fail_msg("%s refused no filler within 20 s", queue);
}

/* The broker refuses (nacks) first the worker's publishes, then the
 * producer's, in the way that never clears by itself (RELIABILITY.md, "Nacks
 * after a node loss"): a queue over a reject-publish limit tells every
 * channel publishing to it to refuse, and a limit lifted while the queue is
 * over it never tells them to accept again.  Both repair their publish path
 * on their own, say so once, lose nothing and take new work. */
static void test_broker_refusals(void **state) {
    struct e2e *e = *state;
    pid_t p, w;
    struct proto_vol_ref src;
    proto_uuid a, c, d;
    flow_start(e, 4000, 1, &src, 1, &p, &w);

    /* The worker: its seal's final event, to vmseal.events.producer whose
     * consumer, the producer, is stopped. */
    refuse(e, "refuse-events", "^vmseal\\.events\\.producer$", true);
    submit_until_sealing(e, "worker-refused", &src, 1, a);
    assert_int_equal(kill(p, SIGSTOP), 0);
    fill_until_refused(e, MQ_Q_EVENTS_PRODUCER);
    wait_log(e, "w1", "final event not confirmed");
    refuse(e, "refuse-events", NULL, false);
    assert_int_equal(kill(p, SIGCONT), 0);
    e2e_assert_ready_clean(e, a, FLOW_TIMEOUT_MS, 1);
    assert_true(log_count(e, "w1", "broker: the broker refused") >= 1);
    assert_true(log_count(e, "w1", "replaced the publish channel") >= 1);
    assert_int_equal(log_count(e, "w1", "final event not confirmed"), 1);
    assert_int_equal(log_count(e, "w1", "final event confirmed after"), 1);

    /* The producer: a template's first job, to vmseal.jobs.default whose
     * consumer, the worker, is stopped. */
    refuse(e, "refuse-jobs", "^vmseal\\.jobs\\.default$", true);
    assert_int_equal(kill(w, SIGSTOP), 0);
    fill_until_refused(e, "vmseal.jobs.default");
    assert_int_equal(e2e_submit(e, "producer-refused", &src, 1, true, c), 0);
    wait_log(e, "producer-a", "not accepted by the broker (broker refused");
    refuse(e, "refuse-jobs", NULL, false);
    assert_int_equal(kill(w, SIGCONT), 0);
    e2e_assert_ready_clean(e, c, FLOW_TIMEOUT_MS, 2);
    assert_true(log_count(e, "producer-a", "replaced the publish channel") >= 1);
    assert_int_equal(log_count(e, "producer-a", "not accepted by the broker (broker refused"), 1);
    assert_int_equal(log_count(e, "producer-a", "accepts the rows it refused"), 1);

    /* and new work */
    assert_int_equal(e2e_submit(e, "after-refusals", &src, 1, true, d), 0);
    e2e_assert_ready_clean(e, d, FLOW_TIMEOUT_MS, 3);
}

/* Two producers on one database: the standby takes over when the active one
 * is SIGKILLed during a workflow. */
static void test_standby_takeover(void **state) {
    struct e2e *e = *state;
    pid_t pa, pb, w;
    struct proto_vol_ref src;
    proto_uuid tid;
    assert_int_equal(e2e_producer_start(e, "producer-a", true, &pa), 0);
    assert_int_equal(e2e_producer_start(e, "producer-b", false, &pb), 0);
    assert_int_equal(e2e_worker_start(e, "w1", true, 3000, 2, &w), 0);
    source_make(e, &src);
    submit_until_sealing(e, "handover", &src, 1, tid);
    int status;
    assert_int_equal(testutil_proc_wait(pb, 0, &status), -ETIMEDOUT); /* the standby still runs */
    e2e_kill(e, pa);
    e2e_assert_ready_clean(e, tid, FLOW_TIMEOUT_MS, 1);
    /* It was producer-b that finished it. */
    struct rpc_reply rep;
    assert_int_equal(e2e_status(e, tid, &rep), 0);
    assert_true(rep.ok);
    rpc_reply_free(&rep);
    char *out = NULL;
    const char *argv[] = { "grep", "-l", "taking over", e->procs[1].log, NULL };
    assert_int_equal(testutil_cmd_run(argv, 5000, &out), 0);
    free(out);
}

/* ---- invalid requests ------------------------------------------------------ */

/* Encode a valid template.create, then damage its template_id in place
 * (uppercase: not canonical).  Returns the damaged id. */
static char *create_with_bad_id(const struct proto_vol_ref *src, char **ret_body, size_t *ret_len) {
    struct proto_template_create tc = { .name = "bad-id", .disks = (struct proto_vol_ref *)src, .n_disks = 1 };
    uuid_new(tc.template_id);
    assert_int_equal(proto_encode_template_create(&tc, ret_body, ret_len), 0);
    char *p = memmem(*ret_body, *ret_len, tc.template_id, 36);
    assert_non_null(p);
    for (int i = 0; i < 36; i++)
        if (p[i] >= 'a' && p[i] <= 'f')
            p[i] = (char)(p[i] - 'a' + 'A');
    return xasprintf("%.36s", p);
}

/* A template.create without disks: the encoder refuses one, so it is built
 * by hand (msgpack: fixmap of 5). */
static void create_without_disks(const char *tid, char **ret_body, size_t *ret_len) {
    char *b = xmalloc(256);
    size_t n = 0;
#define STR(s)                      \
    do {                            \
        size_t l_ = strlen(s);      \
        b[n++] = (char)(0xa0 | l_); \
        memcpy(b + n, s, l_);       \
        n += l_;                    \
    } while (0)
    b[n++] = (char)0x85;
    STR("v");
    b[n++] = 1;
    STR("type");
    STR("template.create");
    STR("template_id");
    b[n++] = (char)0xd9;
    b[n++] = 36;
    memcpy(b + n, tid, 36);
    n += 36;
    STR("name");
    STR("nodisks");
    STR("disks");
    b[n++] = (char)0x90;
#undef STR
    *ret_body = b;
    *ret_len = n;
}

static void assert_dead_has(const char *dead_json, const char *message_id, const char *reason_part) {
    const char *p = strstr(dead_json, message_id);
    if (!p)
        fail_msg("no dead letter %s in:\n%s", message_id, dead_json);
    const char *end = strchr(p, '}');
    const char *r = strstr(p, reason_part);
    if (!r || (end && r > end))
        fail_msg("dead letter %s has no reason with '%s':\n%s", message_id, reason_part, dead_json);
}

static void test_invalid_requests(void **state) {
    struct e2e *e = *state;
    pid_t p;
    struct proto_vol_ref src, unknown;
    assert_int_equal(e2e_producer_start(e, "producer-a", true, &p), 0);
    source_make(e, &src);
    _cleanup_free_ char *before = e2e_sd_listing(e);

    /* bad id */
    char *body = NULL;
    size_t len = 0;
    _cleanup_free_ char *bad_id = create_with_bad_id(&src, &body, &len);
    assert_int_equal(testevents_publish_to(e->te, "", MQ_Q_REQUESTS, "template.create", body, len), 0);
    free(body);
    /* no disks */
    proto_uuid tid_nodisks;
    uuid_new(tid_nodisks);
    create_without_disks(tid_nodisks, &body, &len);
    assert_int_equal(testevents_publish_to(e->te, "", MQ_Q_REQUESTS, "template.create", body, len), 0);
    free(body);
    /* unknown domain, through `vmsealctl submit --wait`: the intake's
     * template.failed event ends it with the reason (a rejected request is
     * never stored: RPC status does not know it) */
    unknown = src;
    uuid_new(unknown.sd_id);
    proto_uuid tid_unknown;
    uuid_new(tid_unknown);
    char spec_unknown[120];
    snprintf(spec_unknown, sizeof spec_unknown, "%s:%s:%s", unknown.sd_id, unknown.img_id, unknown.vol_id);
    char *out = NULL;
    assert_int_equal(e2e_ctl(e, &out, "submit", "--id", tid_unknown, "--name", "unknown-domain", "--disk",
                             spec_unknown, "--wait", "--timeout", "60", NULL),
                     1);
    if (!strstr(out, "FAILED at step intake: unknown_domain"))
        fail_msg("unexpected vmsealctl submit output:\n%s", out);
    free(out);
    struct rpc_reply rep;
    assert_int_equal(e2e_status(e, tid_unknown, &rep), 0);
    assert_false(rep.ok);
    assert_string_equal(rep.error_code, "not_found");
    rpc_reply_free(&rep);
    _cleanup_free_ char *after_rejects = e2e_sd_listing(e);
    assert_string_equal(before, after_rejects);

    /* duplicate id with different content: the first is accepted, the second not */
    pid_t w;
    assert_int_equal(e2e_worker_start(e, "w1", true, 0, 2, &w), 0);
    proto_uuid tid_dup;
    uuid_new(tid_dup);
    char spec[120];
    snprintf(spec, sizeof spec, "%s:%s:%s", src.sd_id, src.img_id, src.vol_id);
    assert_int_equal(
        e2e_ctl(e, &out, "submit", "--id", tid_dup, "--name", "first", "--disk", spec, "--wait", NULL), 0);
    free(out);
    _cleanup_free_ char *after_first = e2e_sd_listing(e);
    assert_int_equal(
        e2e_ctl(e, &out, "submit", "--id", tid_dup, "--name", "second", "--disk", spec, "--seal", NULL), 0);
    free(out);

    /* the dead letters, with their reasons, through vmsealctl dead */
    char *dead = NULL;
    for (int i = 0; i < 100; i++) {
        free(dead);
        dead = NULL;
        assert_int_equal(e2e_ctl(e, &dead, "dead", "--json", NULL), 0);
        if (strstr(dead, tid_dup) && strstr(dead, tid_nodisks) && strstr(dead, tid_unknown) &&
            strstr(dead, "template_id"))
            break;
        usleep(100 * 1000);
    }
    assert_dead_has(dead, tid_unknown, "unknown storage domain");
    assert_dead_has(dead, tid_nodisks, "disks");
    assert_dead_has(dead, tid_dup, "different");
    if (!strstr(dead, "not a canonical UUID"))
        fail_msg("no dead letter for the bad id %s:\n%s", bad_id, dead);
    /* `dead` removes nothing: a second look sees the same letters */
    char *dead2 = NULL;
    assert_int_equal(e2e_ctl(e, &dead2, "dead", NULL), 0);
    assert_non_null(strstr(dead2, "4 dead letters"));
    free(dead2);
    free(dead);

    /* nothing created by the rejected ones */
    assert_int_equal(e2e_status(e, tid_nodisks, &rep), 0);
    assert_false(rep.ok);
    assert_string_equal(rep.error_code, "not_found");
    rpc_reply_free(&rep);
    assert_int_equal(e2e_wait_state(e, tid_dup, "ready", FLOW_TIMEOUT_MS, &rep), 0);
    assert_string_equal(rep.tpl.name, "first");
    assert_false(rep.tpl.seal);
    rpc_reply_free(&rep);
    _cleanup_free_ char *after = e2e_sd_listing(e);
    assert_string_equal(after_first, after);
}

/* ---- vmsealctl's read commands and its errors --------------------------------- */

static bool file_has(const char *path, const char *needle) {
    _cleanup_free_ char *text = NULL;
    size_t len = 0;
    return read_file_all(path, 1 << 20, &text, &len) == 0 && text && strstr(text, needle);
}

struct file_needle {
    const char *path, *needle;
};

static bool file_has_cb(void *arg) {
    const struct file_needle *fn = arg;
    return file_has(fn->path, fn->needle);
}

static void assert_has(const char *out, const char *needle) {
    if (!out || !strstr(out, needle))
        fail_msg("'%s' not in vmsealctl output:\n%s", needle, out ? out : "(none)");
}

static void test_ctl_commands(void **state) {
    struct e2e *e = *state;
    pid_t p, w, watch;
    struct proto_vol_ref src;
    flow_start(e, 100, 2, &src, 1, &p, &w);
    proto_uuid tid;
    uuid_new(tid);
    char spec[120];
    snprintf(spec, sizeof spec, "%s:%s:%s", src.sd_id, src.img_id, src.vol_id);

    /* watch ID --json, bound before the submit */
    _cleanup_free_ char *exe = testutil_build_path("bin/vmsealctl");
    _cleanup_free_ char *watch_log = xasprintf("%s/watch.log", e->dir);
    const char *wargv[] = { exe, "watch", tid, "--json", "--timeout", "60", "--config", e->ctl_conf, NULL };
    assert_int_equal(testutil_proc_spawn(wargv, NULL, watch_log, &watch), 0);
    struct file_needle bound = { watch_log, "following" };
    assert_int_equal(testutil_wait_for(file_has_cb, &bound, 10000, 50), 0);

    /* submit --wait without a terminal: one plain line per event, exit 0 */
    char *out = NULL;
    assert_int_equal(e2e_ctl(e, &out, "submit", "--id", tid, "--name", "ctl-test", "--disk", spec, "--seal",
                             "--hostname", "tpl", "--disable", "tmp-files", "--wait", NULL),
                     0);
    assert_has(out, "job vm.seal");
    assert_has(out, "ready step=done");
    assert_has(out, "READY");
    free(out);
    int status;
    assert_int_equal(testutil_proc_wait(watch, 20000, &status), 0); /* it ends with the template */
    assert_int_equal(status, 0);
    _cleanup_free_ char *watched = NULL;
    size_t len;
    assert_int_equal(read_file_all(watch_log, 1 << 20, &watched, &len), 0);
    _cleanup_free_ char *seal_key = xasprintf("\"routing_key\":\"job.vm.seal.succeeded.%s\"", e->tb.broker.user);
    assert_has(watched, seal_key); /* the worker's identity ends its keys */
    assert_has(watched, "\"routing_key\":\"template.ready\"");

    /* status / list / workers, text and JSON */
    assert_int_equal(e2e_ctl(e, &out, "status", tid, "--json", NULL), 0);
    assert_has(out, "\"state\":\"ready\"");
    assert_has(out, "\"voltype\":\"SHARED\"");
    assert_has(out, "\"kind\":\"vm.seal\"");
    free(out);
    assert_int_equal(e2e_ctl(e, &out, "status", tid, NULL), 0);
    assert_has(out, "state     ready");
    free(out);
    assert_int_equal(e2e_ctl(e, &out, "list", "--state", "ready", "--json", NULL), 0);
    assert_has(out, tid);
    free(out);
    assert_int_equal(e2e_ctl(e, &out, "list", "--state", "failed", NULL), 0);
    assert_null(strstr(out, tid));
    free(out);
    for (int i = 0; i < 150; i++) { /* the first heartbeat may precede the producer's binding */
        int rc = e2e_ctl(e, &out, "workers", "--json", NULL); /* 1 while no worker is known */
        if (rc == 0 && strstr(out, "\"worker_id\":\"w1\""))
            break;
        free(out);
        out = NULL;
        usleep(100 * 1000);
    }
    assert_has(out, "\"worker_id\":\"w1\"");
    free(out);
    proto_uuid unknown;
    uuid_new(unknown);
    assert_int_equal(e2e_ctl(e, &out, "status", unknown, NULL), 1);
    assert_has(out, "not_found");
    free(out);

    /* the producer gone: a clear timeout; the broker unreachable: host and error */
    e2e_kill(e, p);
    assert_int_equal(e2e_ctl(e, &out, "list", "--timeout", "1", NULL), 1);
    assert_has(out, "the producer is not answering");
    assert_null(strstr(out, e->tb.password));
    free(out);
    _cleanup_free_ char *bad_conf = xasprintf("%s/bad.conf", e->dir);
    _cleanup_free_ char *text =
        xasprintf("broker = { hosts = [ \"127.0.0.1:1\" ]; vhost = \"%s\"; user = \"%s\"; password = \"%s\"; };\n",
                  e->tb.broker.vhost, e->tb.broker.user, e->tb.broker.password);
    FILE *f = fopen(bad_conf, "we");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    chmod(bad_conf, 0600);
    const char *bargv[] = { exe, "status", tid, "--config", bad_conf, NULL };
    assert_int_equal(testutil_cmd_run(bargv, 30000, &out), 1);
    assert_has(out, "cannot reach the broker at 127.0.0.1:1");
    assert_null(strstr(out, e->tb.password));
    free(out);
}

struct ctl_expect {
    struct e2e *e;
    int status;
    const char *needle;
};

static bool ctl_workers_cb(void *arg) {
    struct ctl_expect *x = arg;
    char *out = NULL;
    int rc = e2e_ctl(x->e, &out, "workers", NULL);
    bool ok = rc == x->status && out && strstr(out, x->needle);
    free(out);
    return ok;
}

/* vmsealctl workers: a worker silent for three heartbeat intervals (30 s)
 * is shown down, and with no live worker the exit status is 1. */
static void test_workers_down(void **state) {
    struct e2e *e = *state;
    pid_t p, w;
    assert_int_equal(e2e_producer_start(e, "producer-a", true, &p), 0);
    assert_int_equal(e2e_worker_start(e, "w1", true, 200, 1, &w), 0);
    struct ctl_expect up = { e, 0, "\nw1                    up " };
    assert_int_equal(testutil_wait_for(ctl_workers_cb, &up, 20000, 200), 0);
    e2e_kill(e, w);
    struct ctl_expect down = { e, 1, "\nw1                    down " };
    assert_int_equal(testutil_wait_for(ctl_workers_cb, &down, 45000, 500), 0);
    char *out = NULL;
    assert_int_equal(e2e_ctl(e, &out, "workers", "--json", NULL), 1);
    assert_has(out, "\"alive\":false");
    assert_has(out, "no live worker");
    free(out);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_workers_down, e2e_setup, e2e_teardown),
        cmocka_unit_test_setup_teardown(test_ctl_commands, e2e_setup, e2e_teardown),
        cmocka_unit_test_setup_teardown(test_invalid_requests, e2e_setup, e2e_teardown),
        cmocka_unit_test_setup_teardown(test_cancel_during_seal, e2e_setup, e2e_teardown),
        cmocka_unit_test_setup_teardown(test_worker_killed, e2e_setup, e2e_teardown),
        cmocka_unit_test_setup_teardown(test_producer_killed, e2e_setup, e2e_teardown),
        cmocka_unit_test_setup_teardown(test_standby_takeover, e2e_setup, e2e_teardown),
        cmocka_unit_test_setup_teardown(test_broker_refusals, e2e_setup, e2e_teardown),
    };
    srand((unsigned)getpid());
    if (getenv("VMSEAL_TEST_FILTER")) /* e.g. VMSEAL_TEST_FILTER=test_windows_refused */
        cmocka_set_test_filter(getenv("VMSEAL_TEST_FILTER"));
    return cmocka_run_group_tests(tests, NULL, NULL);
}
