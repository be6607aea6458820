/* test_producer_broker.c - the vmseal-producer binary on the private broker
 * (label broker), with a fake worker inside the test: it consumes
 * vmseal.jobs.default and answers each job with running + succeeded events
 * (or holds jobs when told to).  The real worker's end-to-end tests live
 * elsewhere.
 *
 * Checks: a sealed 2-disk template ends READY with the expected jobs and
 * generations (RPC status, list, workers over direct reply-to); an invalid
 * request (undecodable, or naming an unknown sysprep operation) is
 * dead-lettered with its reason and creates nothing; a duplicate is a no-op; a producer
 * killed with SIGKILL mid-workflow is replaced by its waiting standby, which
 * resumes the template to READY without re-running finished steps; every
 * connection closed by the broker mid-workflow costs nothing; a job published
 * before any pool queue exists waits in the outbox until one does.
 */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include <cmocka.h>

#include "err.h"
#include "mq.h"
#include "proto.h"
#include "rpc.h"
#include "testbroker.h"
#include "testpg.h"
#include "testutil.h"
#include "util.h"

#define SD1 "11111111-1111-4111-8111-111111111111"

struct bt {
    struct testbroker *tb;
    char *dir, *cfg, *log;
    char *db, *db_schema; /* the store target (testpg.h) */
    mq_t *mq;
    char events_q[256];
    pid_t producer[2];
    bool hold_seal;          /* keep vm.seal jobs instead of answering */
    struct mq_delivery held; /* the held seal job's delivery */
    struct proto_job held_job;
    bool have_held;
    size_t jobs_seen[4]; /* distinct job ids per kind */
    proto_uuid ids[256];
    size_t n_ids;       /* every job id seen (a republished job comes again) */
    size_t redelivered; /* deliveries of a job id seen before */
    const char *me;     /* the routing keys' identity; NULL: tb's user */
};

static struct bt B;

static void write_config(struct bt *b) {
    const struct config_broker *br = &b->tb->broker;
    b->cfg = xasprintf("%s/producer.conf", b->dir);
    FILE *f = fopen(b->cfg, "w");
    assert_non_null(f);
    assert_int_equal(fchmod(fileno(f), 0600), 0); /* it holds a password */
    fprintf(
        f,
        "broker = { hosts = [ \"%s\" ]; vhost = \"%s\"; user = \"%s\"; password = \"%s\"; heartbeat_s = 10; };\n"
        "producer = { db = \"%s\"; max_attempts = 3; };\n"
        "storage = { domains = ( { id = \"%s\"; path = \"%s\"; } ); };\n"
        "log = { level = \"debug\"; };\n",
        br->hosts[0], br->vhost, br->user, br->password, b->db, SD1, b->dir);
    fclose(f);
}

static void producer_start(struct bt *b, int slot) {
    char *bin = testutil_build_path("bin/vmseal-producer");
    char id[32];
    snprintf(id, sizeof id, "producer-%d", slot);
    const char *argv[] = { bin, "--config", b->cfg, "--id", id, NULL };
    assert_int_equal(testutil_proc_spawn(argv, NULL, b->log, &b->producer[slot]), 0);
    free(bin);
}

static void pool_open(struct bt *b) {
    static const char *const all[] = { "#" };
    assert_int_equal(mq_declare_pool(b->mq, "default", all, 1), 0);
    assert_int_equal(mq_consume(b->mq, MQ_Q_JOBS_PREFIX "default", 10, false, false), 0);
}

/* The fake worker's side on b->tb's vhost: topology, an exclusive queue on
 * template events, the dead letters, direct reply-to, and (with_pool) the
 * default pool's jobs. */
static void bt_open(struct bt *b, const char *name, bool with_pool) {
    assert_int_equal(testutil_dir_make(name, &b->dir), 0);
    b->log = xasprintf("%s/producer.log", b->dir);
    assert_int_equal(testpg_target(b->dir, name, &b->db, &b->db_schema), 0);
    write_config(b);
    char err[256] = "";
    struct mq_opts o = { .broker = &b->tb->broker,
                         .conn_name = "fake-worker",
                         .stamp_user_id = true,
                         .why = err,
                         .why_len = sizeof err };
    if (mq_open(&o, &b->mq) < 0)
        fail_msg("mq_open: %s", err);
    assert_int_equal(mq_declare_topology(b->mq), 0);
    assert_int_equal(mq_declare_exclusive_queue(b->mq, b->events_q), 0);
    assert_int_equal(mq_bind(b->mq, b->events_q, MQ_X_EVENTS, "template.#"), 0);
    assert_int_equal(mq_consume(b->mq, b->events_q, 100, true, false), 0);
    assert_int_equal(mq_consume(b->mq, MQ_Q_DEAD, 10, false, false), 0);
    assert_int_equal(mq_consume(b->mq, RPC_REPLY_TO, 0, false, true), 0);
    if (with_pool)
        pool_open(b);
}

static void bt_close(struct bt *b) {
    for (int i = 0; i < 2; i++)
        testutil_proc_kill(b->producer[i], SIGTERM, 5000, NULL);
    mq_close(b->mq);
    if (getenv("VMSEAL_KEEP_LOGS") == NULL)
        testutil_dir_remove(b->dir);
    testpg_schema_drop(b->db_schema);
    free(b->db_schema);
    free(b->db);
    free(b->dir);
    free(b->cfg);
    free(b->log);
}

static int group_setup(void **state) {
    int r = testbroker_group_setup((void **)&B.tb);
    if (r != 0)
        return r;
    bt_open(&B, "producer-broker", true);
    *state = &B;
    return 0;
}

static int group_teardown(void **state) {
    bt_close(&B);
    void *tb = B.tb;
    return testbroker_group_teardown(&tb);
}

static void publish(struct bt *b, const char *exchange, const char *key, const char *id, const char *type,
                    const char *body, size_t len) {
    struct mq_props p = { .message_id = id, .type = type };
    assert_int_equal(mq_publish_wait(b->mq, exchange, key, &p, body, len, 5000), 0);
}

static void job_event(struct bt *b, const struct proto_job *j, enum event_state st) {
    struct proto_event ev = { .worker_id = "fake", .state = st, .progress = -1, .ts_ms = time_now_ms() };
    uuid_new(ev.event_id);
    memcpy(ev.job_id, j->job_id, sizeof ev.job_id);
    memcpy(ev.template_id, j->template_id, sizeof ev.template_id);
    char *body;
    size_t len;
    assert_int_equal(proto_encode_event(&ev, &body, &len), 0);
    char key[320];
    snprintf(key, sizeof key, "job.%s.%s.%s", job_kind_to_string(j->kind), event_state_to_string(st),
             b->me ? b->me : b->tb->broker.user);
    publish(b, MQ_X_EVENTS, key, ev.event_id, "event", body, len);
    free(body);
}

static void heartbeat(struct bt *b) {
    struct proto_heartbeat hb = { .worker_id = "fake",
                                  .host = "fakehost",
                                  .version = "0",
                                  .libguestfs_version = "",
                                  .pools = (char *[]){ "default" },
                                  .n_pools = 1,
                                  .slots = 4,
                                  .ts_ms = time_now_ms() };
    char *body;
    size_t len;
    assert_int_equal(proto_encode_heartbeat(&hb, &body, &len), 0);
    proto_uuid id;
    uuid_new(id);
    _cleanup_free_ char *key = xasprintf("worker.heartbeat.%s", b->tb->broker.user);
    publish(b, MQ_X_EVENTS, key, id, "worker.heartbeat", body, len);
    free(body);
}

/* The fake worker's answer to one job delivery. */
static void on_job(struct bt *b, const struct mq_delivery *d) {
    struct proto_job j;
    char why[ERR_WHY_LEN];
    if (proto_decode_job(d->body, d->body_len, &j, why) != 0)
        fail_msg("job does not decode: %s", why);
    bool again = false;
    for (size_t i = 0; i < b->n_ids; i++)
        again |= strcmp(b->ids[i], j.job_id) == 0;
    if (again)
        b->redelivered++;
    else if (b->n_ids < ARRAY_SIZE(b->ids))
        memcpy(b->ids[b->n_ids++], j.job_id, sizeof(proto_uuid)), b->jobs_seen[j.kind]++;
    if (j.kind == JOB_VM_SEAL && b->hold_seal && !b->have_held) {
        b->held_job = j; /* answered later, with the producer gone */
        b->have_held = true;
        assert_int_equal(mq_ack(b->mq, d), 0);
        return;
    }
    job_event(b, &j, EV_RUNNING);
    job_event(b, &j, EV_SUCCEEDED);
    assert_int_equal(mq_ack(b->mq, d), 0);
    proto_job_free(&j);
}

/* Run the fake worker until a template event with `state` for tid, or a
 * dead letter when tid is NULL (its reason copied to ret_reason). */
/* Fail at once when a producer that should run has exited. */
static void producers_alive(struct bt *b) {
    for (int i = 0; i < 2; i++) {
        int status = 0;
        if (b->producer[i] > 0 && testutil_proc_wait(b->producer[i], 0, &status) == 0) {
            b->producer[i] = 0;
            fail_msg("producer %d exited with status %d (log: %s)", i, status, b->log);
        }
    }
}

static void run_until(struct bt *b, const char *tid, enum event_state state, int timeout_ms, char *ret_reason) {
    int64_t end = time_mono_ms() + timeout_ms;
    while (time_mono_ms() < end) {
        producers_alive(b);
        struct mq_event ev;
        memset(&ev, 0, sizeof ev);
        if (mq_wait(b->mq, 200, NULL, 0, &ev) < 0 || ev.type != MQ_EV_DELIVERY) {
            mq_event_clear(&ev);
            continue;
        }
        const struct mq_delivery *d = &ev.delivery;
        bool done = false;
        if (strcmp(d->queue, MQ_Q_JOBS_PREFIX "default") == 0) {
            on_job(b, d);
        } else if (strcmp(d->queue, MQ_Q_DEAD) == 0) {
            assert_int_equal(mq_ack(b->mq, d), 0);
            if (!tid) {
                snprintf(ret_reason, ERR_WHY_LEN, "%s", d->reason ? d->reason : "");
                done = true;
            }
        } else if (strcmp(d->queue, b->events_q) == 0) {
            struct proto_event e;
            assert_int_equal(proto_decode_event(d->body, d->body_len, &e, NULL), 0);
            done = tid && strcmp(e.template_id, tid) == 0 && e.state == state;
            if (tid && strcmp(e.template_id, tid) == 0 && (e.state == EV_FAILED || e.state == EV_CANCELLED) &&
                e.state != state)
                fail_msg("template ended %s: %s", event_state_to_string(e.state),
                         e.has_error ? e.error.message : "");
            proto_event_free(&e);
            assert_int_equal(mq_ack(b->mq, d), 0);
        }
        mq_event_clear(&ev);
        if (done)
            return;
    }
    fail_msg("timed out waiting for %s (producer log: %s)", tid ? event_state_to_string(state) : "a dead letter",
             b->log);
}

static void submit(struct bt *b, const char *tid, size_t n, bool seal, char **ret_body, size_t *ret_len) {
    struct proto_vol_ref disks[4];
    struct proto_template_create m = { .name = "broker-test", .disks = disks, .n_disks = n, .seal = seal };
    snprintf(m.template_id, sizeof m.template_id, "%s", tid);
    for (size_t i = 0; i < n; i++) {
        snprintf(disks[i].sd_id, sizeof disks[i].sd_id, "%s", SD1);
        uuid_new(disks[i].img_id);
        uuid_new(disks[i].vol_id);
    }
    char *body;
    size_t len;
    assert_int_equal(proto_encode_template_create(&m, &body, &len), 0);
    publish(b, "", MQ_Q_REQUESTS, tid, "template.create", body, len);
    if (ret_body) {
        *ret_body = body;
        *ret_len = len;
    } else {
        free(body);
    }
}

static void rpc_call(struct bt *b, const struct rpc_request *rq, struct rpc_reply *rep) {
    char *body;
    size_t len;
    assert_int_equal(rpc_encode_request(rq, &body, &len), 0);
    proto_uuid corr;
    uuid_new(corr);
    struct mq_props p = {
        .message_id = corr, .correlation_id = corr, .reply_to = RPC_REPLY_TO, .transient = true
    };
    assert_int_equal(mq_publish(b->mq, "", MQ_Q_RPC, &p, body, len, NULL), 0);
    free(body);
    int64_t end = time_mono_ms() + 10000;
    while (time_mono_ms() < end) {
        struct mq_event ev;
        memset(&ev, 0, sizeof ev);
        if (mq_wait(b->mq, 200, NULL, 0, &ev) == 0 && ev.type == MQ_EV_DELIVERY && ev.delivery.correlation_id &&
            strcmp(ev.delivery.correlation_id, corr) == 0) {
            char why[ERR_WHY_LEN] = "";
            if (rpc_decode_reply(ev.delivery.body, ev.delivery.body_len, rep, why) != 0)
                fail_msg("rpc reply: %s", why);
            mq_event_clear(&ev);
            return;
        }
        mq_event_clear(&ev);
    }
    fail_msg("no rpc reply in 10 s");
}

/* The producer's status of template tid (ok asserted). */
static void status_call(struct bt *b, const char *tid, struct rpc_reply *rep) {
    struct rpc_request rq = { .method = RPC_STATUS };
    memcpy(rq.template_id, tid, sizeof rq.template_id);
    rpc_call(b, &rq, rep);
    assert_true(rep->ok);
}

/* Serve jobs until the fake worker holds a vm.seal job. */
static void wait_held(struct bt *b) {
    int64_t end = time_mono_ms() + 30000;
    while (!b->have_held && time_mono_ms() < end) {
        producers_alive(b);
        struct mq_event ev;
        memset(&ev, 0, sizeof ev);
        if (mq_wait(b->mq, 200, NULL, 0, &ev) == 0 && ev.type == MQ_EV_DELIVERY) {
            if (strcmp(ev.delivery.queue, MQ_Q_JOBS_PREFIX "default") == 0)
                on_job(b, &ev.delivery);
            else if (strcmp(ev.delivery.queue, RPC_REPLY_TO) != 0)
                assert_int_equal(mq_ack(b->mq, &ev.delivery), 0);
        }
        mq_event_clear(&ev);
    }
}

/* Serve (answer jobs, drop everything else) for ms; until `type` when it is
 * not MQ_EV_NONE (then fail if it does not come). */
static void serve_for(struct bt *b, int ms, enum mq_event_type type) {
    int64_t end = time_mono_ms() + ms;
    while (time_mono_ms() < end) {
        producers_alive(b);
        struct mq_event ev;
        memset(&ev, 0, sizeof ev);
        int r = mq_wait(b->mq, 200, NULL, 0, &ev);
        bool hit = r == 0 && type != MQ_EV_NONE && ev.type == type;
        if (r == 0 && ev.type == MQ_EV_DELIVERY) {
            if (strcmp(ev.delivery.queue, MQ_Q_JOBS_PREFIX "default") == 0)
                on_job(b, &ev.delivery);
            else if (strcmp(ev.delivery.queue, RPC_REPLY_TO) != 0)
                (void)mq_ack(b->mq, &ev.delivery);
        }
        mq_event_clear(&ev);
        if (hit)
            return;
    }
    if (type != MQ_EV_NONE)
        fail_msg("no mq event %d in %d ms", (int)type, ms);
}

static void test_sealed_template_ready(void **state) {
    struct bt *b = *state;
    producer_start(b, 0);
    heartbeat(b);
    proto_uuid tid;
    uuid_new(tid);
    char *body;
    size_t len;
    submit(b, tid, 2, true, &body, &len);
    run_until(b, tid, EV_READY, 30000, NULL);
    assert_int_equal(b->jobs_seen[JOB_VOLUME_COPY], 2);
    assert_int_equal(b->jobs_seen[JOB_VOLUME_UPDATE], 4);
    assert_int_equal(b->jobs_seen[JOB_VM_SEAL], 1);

    struct rpc_request rq;
    struct rpc_reply rep;
    status_call(b, tid, &rep);
    assert_string_equal(rep.tpl.state, "ready");
    assert_int_equal(rep.tpl.n_disks, 2);
    for (size_t i = 0; i < 2; i++) {
        assert_int_equal(rep.tpl.disks[i].generation, 2);
        assert_int_equal(rep.tpl.disks[i].legality, LEGALITY_LEGAL);
        assert_int_equal(rep.tpl.disks[i].voltype, VOLTYPE_SHARED);
    }
    assert_int_equal(rep.tpl.n_jobs, 7);
    for (size_t i = 0; i < rep.tpl.n_jobs; i++) {
        assert_string_equal(rep.tpl.jobs[i].state, "succeeded");
        assert_int_equal(rep.tpl.jobs[i].progress, 100);
        assert_string_equal(rep.tpl.jobs[i].worker_id, "fake");
        assert_true(rep.tpl.jobs[i].started_ms > 0);
    }
    rpc_reply_free(&rep);

    rq = (struct rpc_request){ .method = RPC_WORKERS };
    rpc_call(b, &rq, &rep);
    assert_true(rep.ok);
    assert_int_equal(rep.n_workers, 1);
    assert_string_equal(rep.workers[0].hb.worker_id, "fake");
    rpc_reply_free(&rep);

    /* the same request again: a no-op (no new jobs, still one template) */
    publish(b, "", MQ_Q_REQUESTS, tid, "template.create", body, len);
    free(body);
    rq = (struct rpc_request){ .method = RPC_LIST };
    rpc_call(b, &rq, &rep);
    assert_true(rep.ok);
    assert_int_equal(rep.n_templates, 1);
    assert_string_equal(rep.templates[0].state, "ready");
    rpc_reply_free(&rep);
    assert_int_equal(b->jobs_seen[JOB_VOLUME_COPY], 2);
}

static void test_invalid_request_dead_lettered(void **state) {
    struct bt *b = *state;
    publish(b, "", MQ_Q_REQUESTS, "junk-1", "template.create", "\x81\xa1v\x01", 4);
    char reason[ERR_WHY_LEN] = "";
    run_until(b, NULL, EV_FAILED, 15000, reason);
    if (!strstr(reason, "type"))
        fail_msg("dead letter reason \"%s\" does not name the missing key", reason);
}

/* A template.create naming a sysprep operation that does not exist (a typo):
 * refused at intake with a failed template event and a dead letter that both
 * name it; no template is recorded and no job reaches vmseal.jobs. */
static void test_unknown_sysprep_op_rejected(void **state) {
    struct bt *b = *state;
    size_t jobs_before = b->n_ids;
    proto_uuid tid;
    uuid_new(tid);
    struct proto_vol_ref disk = { SD1, "", "" };
    uuid_new(disk.img_id);
    uuid_new(disk.vol_id);
    char *disable[] = { "logfiles", "ssh-hostkey" };
    struct proto_template_create m = { .name = "typo",
                                       .disks = &disk,
                                       .n_disks = 1,
                                       .seal = true,
                                       .has_sysprep = true,
                                       .sysprep = {
                                           .disable = disable, .n_disable = 2, .selinux_relabel = true } };
    memcpy(m.template_id, tid, sizeof m.template_id);
    char *body;
    size_t len;
    assert_int_equal(proto_encode_template_create(&m, &body, &len), 0);
    publish(b, "", MQ_Q_REQUESTS, tid, "template.create", body, len);
    free(body);

    char reason[ERR_WHY_LEN] = "", code[64] = "", message[ERR_WHY_LEN] = "";
    int64_t end = time_mono_ms() + 15000;
    while ((!reason[0] || !code[0]) && time_mono_ms() < end) {
        producers_alive(b);
        struct mq_event ev;
        memset(&ev, 0, sizeof ev);
        if (mq_wait(b->mq, 200, NULL, 0, &ev) == 0 && ev.type == MQ_EV_DELIVERY) {
            const struct mq_delivery *d = &ev.delivery;
            if (strcmp(d->queue, MQ_Q_JOBS_PREFIX "default") == 0) {
                on_job(b, d);
            } else if (strcmp(d->queue, MQ_Q_DEAD) == 0) {
                if (d->message_id && strcmp(d->message_id, tid) == 0)
                    snprintf(reason, sizeof reason, "%s", d->reason ? d->reason : "(no reason)");
                assert_int_equal(mq_ack(b->mq, d), 0);
            } else if (strcmp(d->queue, b->events_q) == 0) {
                struct proto_event e;
                assert_int_equal(proto_decode_event(d->body, d->body_len, &e, NULL), 0);
                if (strcmp(e.template_id, tid) == 0) {
                    if (e.state != EV_FAILED || !e.has_error)
                        fail_msg("template %s: %s event instead of failed", tid, event_state_to_string(e.state));
                    snprintf(code, sizeof code, "%s", e.error.code);
                    snprintf(message, sizeof message, "%s", e.error.message ? e.error.message : "");
                }
                proto_event_free(&e);
                assert_int_equal(mq_ack(b->mq, d), 0);
            }
        }
        mq_event_clear(&ev);
    }
    if (!reason[0] || !code[0])
        fail_msg("no dead letter (%s) or failed event (%s) for the request (producer log: %s)", reason, code,
                 b->log);
    static const char needle[] = "template.create.sysprep.disable[1]: unknown sysprep operation 'ssh-hostkey'";
    if (!strstr(reason, needle))
        fail_msg("dead letter reason \"%s\" does not name the operation", reason);
    assert_string_equal(code, "unknown_op");
    assert_string_equal(message, reason);
    printf("(rejected: %s)\n", reason);

    serve_for(b, 1000, MQ_EV_NONE); /* a job published in the same commit would be here by now */
    assert_int_equal(b->n_ids, jobs_before);
    struct rpc_request rq = { .method = RPC_STATUS };
    memcpy(rq.template_id, tid, sizeof rq.template_id);
    struct rpc_reply rep;
    rpc_call(b, &rq, &rep);
    assert_false(rep.ok);
    assert_string_equal(rep.error_code, "not_found");
    rpc_reply_free(&rep);
}

static void test_standby_takes_over(void **state) {
    struct bt *b = *state;
    b->hold_seal = true;
    producer_start(b, 1); /* standby: producer 0 holds the lock */
    proto_uuid tid;
    uuid_new(tid);
    submit(b, tid, 1, true, NULL, NULL);
    wait_held(b);
    assert_true(b->have_held);
    size_t copies = b->jobs_seen[JOB_VOLUME_COPY];
    int status = 0;
    assert_int_equal(testutil_proc_kill(b->producer[0], SIGKILL, 0, &status), 0);
    b->producer[0] = 0;
    /* the worker finishes the seal while no producer is active */
    job_event(b, &b->held_job, EV_RUNNING);
    job_event(b, &b->held_job, EV_SUCCEEDED);
    proto_job_free(&b->held_job);
    run_until(b, tid, EV_READY, 30000, NULL);
    /* no step ran again: an outbox row not yet confirmed and deleted may be
     * published again after the take-over, but with the same job id (the
     * worker's effects are idempotent by id), never as a new job */
    assert_int_equal(b->jobs_seen[JOB_VOLUME_COPY], copies);
    assert_int_equal(b->jobs_seen[JOB_VM_SEAL], 2); /* one per template */
    if (b->redelivered)
        printf("(%zu job(s) published again after the take-over, same ids)\n", b->redelivered);
    assert_int_equal(testutil_proc_kill(b->producer[1], SIGTERM, 10000, &status), 0);
    b->producer[1] = 0;
    assert_int_equal(status, 0); /* SIGTERM: a clean stop */
}

/* A job published before any pool queue exists is returned by the broker
 * (mandatory), stays in the outbox and goes out once a pool binds its key. */
static void test_unroutable_job_waits_for_a_pool(void **state) {
    struct testbroker tb2;
    memset(&tb2, 0, sizeof tb2);
    assert_int_equal(testbroker_setup(&tb2, "unroutable"), 0);
    struct bt b2 = { .tb = &tb2 };
    bt_open(&b2, "producer-unroutable", false);
    producer_start(&b2, 0);
    proto_uuid tid;
    uuid_new(tid);
    submit(&b2, tid, 1, false, NULL, NULL);
    serve_for(&b2, 2500, MQ_EV_NONE); /* returned at least twice by now */
    struct rpc_request rq = { .method = RPC_STATUS };
    memcpy(rq.template_id, tid, sizeof rq.template_id);
    struct rpc_reply rep;
    rpc_call(&b2, &rq, &rep);
    assert_true(rep.ok);
    assert_string_equal(rep.tpl.state, "creating");
    assert_int_equal(rep.tpl.n_jobs, 1);
    assert_string_equal(rep.tpl.jobs[0].state, "queued");
    rpc_reply_free(&rep);
    pool_open(&b2);
    run_until(&b2, tid, EV_READY, 30000, NULL);
    assert_int_equal(b2.jobs_seen[JOB_VOLUME_COPY], 1);
    bt_close(&b2);
    testbroker_teardown(&tb2);
}

/* Submit a sealed template of n disks (its id in ret_tid) and serve its
 * jobs until the fake worker holds its vm.seal job, unanswered. */
static void submit_and_hold_seal(struct bt *b, size_t n, proto_uuid ret_tid) {
    b->hold_seal = true;
    b->have_held = false;
    uuid_new(ret_tid);
    submit(b, ret_tid, n, true, NULL, NULL);
    wait_held(b);
    assert_true(b->have_held);
}

/* Every connection of the vhost closed mid-workflow (the producer's and the
 * worker's): both reconnect and the template completes. */
static void test_connections_closed(void **state) {
    struct bt *b = *state;
    proto_uuid tid;
    producer_start(b, 0);
    submit_and_hold_seal(b, 2, tid);
    char *out = NULL;
    int rc = testbroker_ctl(b->tb, &out, "close_all_connections", "-p", b->tb->vhost, "vmseal test", NULL);
    if (rc != 0)
        fail_msg("close_all_connections: %s", out ? out : "?");
    free(out);
    serve_for(b, 30000, MQ_EV_RECONNECTED);
    job_event(b, &b->held_job, EV_RUNNING);
    job_event(b, &b->held_job, EV_SUCCEEDED);
    proto_job_free(&b->held_job);
    run_until(b, tid, EV_READY, 30000, NULL);
}

static bool log_has_cb(void *arg) {
    const char *const *a = arg; /* { file, text } */
    _cleanup_free_ char *text = NULL;
    size_t len;
    return read_file_all(a[0], 16 << 20, &text, &len) == 0 && strstr(text, a[1]) != NULL;
}

/* A final event for the held seal job from a second broker identity, and one
 * without user-id: the producer refuses both (logged and counted) and the
 * template stays in its seal step; the holder's own events then make it READY. */
static void test_forged_events(void **state) {
    struct bt *b = *state;
    proto_uuid tid;
    if (b->producer[0] <= 0)
        producer_start(b, 0);
    submit_and_hold_seal(b, 1, tid);
    job_event(b, &b->held_job, EV_RUNNING); /* the holder claims the job */

    /* the second identity: a user of its own on this vhost */
    char *out = NULL;
    if (testbroker_ctl(b->tb, &out, "add_user", "forger", "forger-pw", NULL) != 0 ||
        testbroker_ctl(b->tb, &out, "set_permissions", "-p", b->tb->vhost, "forger", ".*", ".*", ".*", NULL) != 0)
        fail_msg("forger user: %s", out ? out : "?");
    free(out);
    struct config_broker fb = b->tb->broker;
    fb.user = "forger";
    fb.password = "forger-pw";
    struct bt forger = *b, unnamed = *b;
    forger.me = "forger";
    char err[256] = "";
    assert_int_equal(
        mq_open(
            &(struct mq_opts){
                .broker = &fb, .conn_name = "forger", .stamp_user_id = true, .why = err, .why_len = sizeof err },
            &forger.mq),
        0);
    assert_int_equal(mq_open(
                         &(struct mq_opts){
                             .broker = &b->tb->broker, .conn_name = "unnamed", .why = err, .why_len = sizeof err },
                         &unnamed.mq),
                     0);
    job_event(&forger, &b->held_job, EV_SUCCEEDED);
    job_event(&unnamed, &b->held_job, EV_SUCCEEDED);
    mq_close(forger.mq);
    mq_close(unnamed.mq);
    const char *refused[] = { b->log, "(2 events refused so far)" };
    if (testutil_wait_for(log_has_cb, refused, 15000, 50) != 0)
        fail_msg("the producer did not refuse both forged events (log: %s)", b->log);
    const char *named[] = { b->log, "held by " };
    const char *anon[] = { b->log, "without user-id: refused" };
    assert_true(log_has_cb(named) && log_has_cb(anon));

    struct rpc_reply rep;
    status_call(b, tid, &rep);
    assert_string_equal(rep.tpl.state, "creating");
    assert_string_equal(rep.tpl.step, "seal");
    rpc_reply_free(&rep);

    job_event(b, &b->held_job, EV_SUCCEEDED);
    proto_job_free(&b->held_job);
    run_until(b, tid, EV_READY, 30000, NULL);
    (void)testbroker_ctl(b->tb, NULL, "delete_user", "forger", NULL);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sealed_template_ready),
        cmocka_unit_test(test_invalid_request_dead_lettered),
        cmocka_unit_test(test_unknown_sysprep_op_rejected),
        cmocka_unit_test(test_standby_takes_over),
        cmocka_unit_test(test_connections_closed),
        cmocka_unit_test(test_forged_events),
        cmocka_unit_test(test_unroutable_job_waits_for_a_pool),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
