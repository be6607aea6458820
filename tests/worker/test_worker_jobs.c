/* test_worker_jobs.c - vmseal-worker end to end over a real broker: every
 * job kind with its events in order, dead-lettering, unknown domains,
 * cancellation, heartbeats, light jobs in reused runners, coalesced
 * progress.  Label: broker. */
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "control.h"
#include "err.h"
#include "runtime_int.h"
#include "sd.h"
#include "testutil.h"
#include "util.h"
#include "wtest.h"

#define WAIT_MS 30000

static int64_t result_int(const struct proto_event *ev, const char *key) {
    const struct proto_kv *kv = testevents_result(ev, key);
    assert_non_null(kv);
    return kv->i;
}

static const char *result_str(const struct proto_event *ev, const char *key) {
    const struct proto_kv *kv = testevents_result(ev, key);
    assert_non_null(kv);
    assert_int_equal(kv->type, KV_STR);
    return kv->s;
}

/* copy (qemu-img) -> update (and its retry, and a mismatch) -> delete (twice). */
static void test_volume_jobs_real(void **state) {
    struct wtest *w = *state;
    proto_uuid src_img, src_vol, img, vol;
    struct proto_job j;
    const struct proto_event *ev;
    struct vol_meta m;

    wtest_start(w, &(struct wtest_worker_opts){ .id = "real1" }, 24 << 20, src_img, src_vol);

    wtest_copy_job(&j, w->sd_id, src_img, src_vol, FORMAT_COW, img, vol);
    ev = wtest_job_run(w, &j, WAIT_MS);
    assert_int_equal(ev->state, EV_SUCCEEDED);
    assert_string_equal(ev->worker_id, "real1");
    assert_int_equal(result_int(ev, "generation"), 0);
    assert_string_equal(result_str(ev, "voltype"), "LEAF");
    assert_string_equal(result_str(ev, "legality"), "LEGAL");
    assert_string_equal(result_str(ev, "format"), "COW");
    assert_int_equal(result_int(ev, "cap_bytes"), 24 << 20);
    wtest_assert_event_order(w, j.job_id, EV_SUCCEEDED);
    wtest_job_process(w, "real1", j.job_id, false); /* a real copy: a fresh child */
    proto_job_free(&j);
    wtest_meta_read(w, img, vol, &m, 0);
    assert_int_equal(m.voltype, VOLTYPE_LEAF);
    assert_int_equal(m.format, FORMAT_COW);
    {
        _cleanup_free_ char *a = wtest_volume_path(w, src_img, src_vol, "");
        _cleanup_free_ char *b = wtest_volume_path(w, img, vol, "");
        const char *argv[] = { "qemu-img", "compare", "-q", "-f", "raw", "-F", "qcow2", a, b, NULL };
        assert_int_equal(testutil_cmd_run(argv, 60000, NULL), 0);
        assert_int_equal(wtest_tmp_count(w, img), 0);
    }

    wtest_update_job(&j, w->sd_id, img, vol, 0, LEGALITY_ILLEGAL, VOLTYPE_NONE);
    ev = wtest_job_run(w, &j, WAIT_MS);
    assert_int_equal(ev->state, EV_SUCCEEDED);
    assert_int_equal(result_int(ev, "generation"), 1);
    assert_string_equal(result_str(ev, "legality"), "ILLEGAL");
    wtest_assert_event_order(w, j.job_id, EV_SUCCEEDED);
    pid_t runner = wtest_job_process(w, "real1", j.job_id, true); /* update: a runner, also when real */
    /* the same update again (a retry): success without a change */
    uuid_new(j.job_id);
    ev = wtest_job_run(w, &j, WAIT_MS);
    assert_int_equal(ev->state, EV_SUCCEEDED);
    assert_int_equal(result_int(ev, "generation"), 1);
    proto_job_free(&j);
    /* a stale generation: permanent failure */
    wtest_update_job(&j, w->sd_id, img, vol, 7, LEGALITY_LEGAL, VOLTYPE_SHARED);
    ev = wtest_job_run(w, &j, WAIT_MS);
    assert_int_equal(ev->state, EV_FAILED);
    assert_true(ev->has_error);
    assert_string_equal(ev->error.code, "generation_mismatch");
    assert_true(ev->error.permanent);
    wtest_assert_event_order(w, j.job_id, EV_FAILED);
    proto_job_free(&j);
    wtest_meta_read(w, img, vol, &m, 0);
    assert_int_equal(m.gen, 1);
    assert_int_equal(m.legality, LEGALITY_ILLEGAL);

    for (int i = 0; i < 2; i++) { /* the second delete finds nothing: success */
        wtest_delete_job(&j, w->sd_id, img, vol);
        ev = wtest_job_run(w, &j, WAIT_MS);
        assert_int_equal(ev->state, EV_SUCCEEDED);
        wtest_assert_event_order(w, j.job_id, EV_SUCCEEDED);
        assert_int_equal(wtest_job_process(w, "real1", j.job_id, true), runner);
        proto_job_free(&j);
        wtest_meta_read(w, img, vol, &m, -VMS_E_NO_VOLUME);
    }
}

/* The dry-run executor: copy writes metadata and an empty sparse file,
 * vm.seal sleeps with progress (its final event's files: none touched);
 * the heartbeat describes the worker. */
static void test_dry_run_copy_and_seal(void **state) {
    struct wtest *w = *state;
    proto_uuid src_img, src_vol, img, vol;
    struct proto_job j;
    const struct proto_event *ev;
    const struct proto_heartbeat *hb;
    struct vol_meta m;
    struct stat st;

    wtest_start(w,
                &(struct wtest_worker_opts){ .id = "dry1", .dry_run = true, .dry_run_seal_ms = 1500, .slots = 3 },
                4 << 20, src_img, src_vol);
    assert_int_equal(testevents_wait_heartbeat(w->te, "dry1", 1000, &hb), 0);
    assert_int_equal(hb->slots, 3);
    assert_int_equal(hb->n_sd_ids, 1);
    assert_string_equal(hb->sd_ids[0], w->sd_id);
    assert_non_null(strstr(hb->libguestfs_version, "1."));
    assert_int_equal(hb->n_pools, 1);
    assert_string_equal(hb->pools[0], "default");

    wtest_copy_job(&j, w->sd_id, src_img, src_vol, FORMAT_RAW, img, vol);
    int64_t t_pub = time_now_ms();
    ev = wtest_job_run(w, &j, WAIT_MS);
    assert_int_equal(ev->state, EV_SUCCEEDED);
    wtest_assert_event_order(w, j.job_id, EV_SUCCEEDED);
    { /* done within WORKER_RUNNING_DELAY_MS of its start: no running event */
        const struct proto_event *evs[8];
        if (ev->ts_ms - t_pub < WORKER_RUNNING_DELAY_MS)
            assert_int_equal(testevents_of_job(w->te, j.job_id, evs, 8), 1);
    }
    proto_job_free(&j);
    wtest_meta_read(w, img, vol, &m, 0);
    assert_int_equal(m.cap_bytes, 4 << 20);
    assert_int_equal(m.gen, 0);
    {
        _cleanup_free_ char *p = wtest_volume_path(w, img, vol, "");
        assert_int_equal(stat(p, &st), 0);
        assert_int_equal(st.st_size, 4 << 20);
        assert_int_equal(st.st_blocks, 0);
    }

    wtest_seal_job(&j, w, img, vol);
    j.args.seal.sysprep.selinux_relabel = true;
    int64_t t0 = time_mono_ms();
    /* while it runs, the heartbeat lists it (heartbeats come every 10 s) */
    wtest_job_start(w, &j, WAIT_MS);
    assert_int_equal(testevents_wait(w->te, j.job_id, -1, WAIT_MS, &ev), 0);
    assert_int_equal(ev->state, EV_SUCCEEDED);
    assert_true(time_mono_ms() - t0 >= 1500);
    const struct proto_kv *kv = testevents_result(ev, "dry_run");
    assert_non_null(kv);
    assert_int_equal(kv->i, 1);
    wtest_assert_event_order(w, j.job_id, EV_SUCCEEDED);
    const struct proto_event *evs[64];
    size_t n = testevents_of_job(w->te, j.job_id, evs, 64);
    assert_true(n >= 4); /* running, progress..., succeeded */
    /* the running event, sent once the job had run 100 ms, is dated at its start */
    assert_int_equal(evs[0]->state, EV_RUNNING);
    assert_true(evs[n - 1]->ts_ms - evs[0]->ts_ms >= 1500);
    /* what the seal did rides on its final event only: a dry run, nothing */
    for (size_t i = 0; i + 1 < n; i++)
        assert_null(evs[i]->files);
    assert_non_null(ev->files);
    assert_int_equal(ev->files->n_ops, 0);
    assert_false(ev->files->truncated);
    proto_job_free(&j);
}

/* Undecodable and invalid jobs go to vmseal.dead with the reason; the
 * worker keeps serving. */
static void test_malformed_dead_lettered(void **state) {
    struct wtest *w = *state;
    proto_uuid img, vol, id1, id2;
    struct proto_job j;
    char *reason = NULL, *buf = NULL;
    size_t len;
    const struct proto_event *ev;

    pid_t pid = wtest_start(w, &(struct wtest_worker_opts){ .id = "dlq1", .dry_run = true }, 1 << 20, img, vol);
    _cleanup_free_ char *rk = xasprintf("storage.%s", w->sd_id);

    /* not msgpack at all */
    uuid_new(id1);
    assert_int_equal(testevents_publish_raw(w->te, rk, "\xc1garbage", 8, id1), 0);
    assert_int_equal(testevents_wait_dead(w->te, id1, WAIT_MS, &reason), 0);
    assert_non_null(reason);
    assert_true(strlen(reason) > 0);
    free(reason);
    reason = NULL;

    /* a valid job cut short by 5 bytes */
    wtest_update_job(&j, w->sd_id, img, vol, 0, LEGALITY_ILLEGAL, VOLTYPE_NONE);
    assert_int_equal(proto_encode_job(&j, &buf, &len), 0);
    uuid_new(id2);
    assert_int_equal(testevents_publish_raw(w->te, rk, buf, len - 5, id2), 0);
    assert_int_equal(testevents_wait_dead(w->te, id2, WAIT_MS, &reason), 0);
    assert_non_null(reason);
    free(reason);
    free(buf);

    /* and the worker still serves a valid job */
    ev = wtest_job_run(w, &j, WAIT_MS);
    assert_int_equal(ev->state, EV_SUCCEEDED);
    proto_job_free(&j);
    assert_int_equal(kill(pid, 0), 0);
}

/* A job for a domain this worker does not have fails permanently. */
static void test_unknown_domain(void **state) {
    struct wtest *w = *state;
    pid_t pid;
    proto_uuid sd, img, vol;
    struct proto_job j;
    const struct proto_event *ev;

    assert_int_equal(wtest_worker_start(w, &(struct wtest_worker_opts){ .id = "dom1", .dry_run = true }, &pid), 0);
    uuid_new(sd);
    uuid_new(img);
    uuid_new(vol);
    wtest_update_job(&j, sd, img, vol, 0, LEGALITY_ILLEGAL, VOLTYPE_NONE);
    ev = wtest_job_run(w, &j, WAIT_MS);
    assert_int_equal(ev->state, EV_FAILED);
    assert_string_equal(ev->error.code, "unknown_domain");
    assert_true(ev->error.permanent);
    proto_job_free(&j);
}

/* A worker of another pool binds only its domains (storage.<sd>, virt.<sd>)
 * and serves jobs routed to them. */
static void test_named_pool(void **state) {
    struct wtest *w = *state;
    proto_uuid img, vol;
    struct proto_job j;
    const struct proto_event *ev;

    /* the pool's queue and bindings are the broker administrator's (definitions) */
    _cleanup_free_ char *sk = xasprintf("storage.%s", w->sd_id), *vk = xasprintf("virt.%s", w->sd_id);
    assert_int_equal(mq_declare_pool(testevents_mq(w->te), "fast-1", (const char *const[]){ sk, vk }, 2), 0);
    wtest_start(w, &(struct wtest_worker_opts){ .id = "pool1", .pool = "fast-1", .dry_run = true }, 1 << 20, img,
                vol);
    wtest_update_job(&j, w->sd_id, img, vol, 0, LEGALITY_ILLEGAL, VOLTYPE_NONE);
    ev = wtest_job_run(w, &j, WAIT_MS);
    assert_int_equal(ev->state, EV_SUCCEEDED);
    assert_string_equal(ev->worker_id, "pool1");
    proto_job_free(&j);
    wtest_seal_job(&j, w, img, vol);
    ev = wtest_job_run(w, &j, WAIT_MS);
    assert_int_equal(ev->state, EV_SUCCEEDED);
    assert_string_equal(ev->worker_id, "pool1");
    proto_job_free(&j);
}

/* A job the producer did not publish (no user-id: the default exchange
 * reaches the pool queue too) is dead-lettered unread, the volume untouched. */
static void test_job_not_from_producer(void **state) {
    struct wtest *w = *state;
    proto_uuid img, vol;
    struct proto_job j;
    struct vol_meta m;
    wtest_start(w, &(struct wtest_worker_opts){ .id = "auth1", .dry_run = true }, 1 << 20, img, vol);
    wtest_update_job(&j, w->sd_id, img, vol, 0, LEGALITY_ILLEGAL, VOLTYPE_NONE);
    char *body = NULL, err[256] = "";
    size_t len = 0;
    assert_int_equal(proto_encode_job(&j, &body, &len), 0);
    mq_t *mq = NULL;
    assert_int_equal(mq_open(
                         &(struct mq_opts){
                             .broker = &w->tb.broker, .conn_name = "unnamed", .why = err, .why_len = sizeof err },
                         &mq),
                     0);
    struct mq_props p = { .message_id = j.job_id, .type = "job" };
    assert_int_equal(mq_publish_wait(mq, "", MQ_Q_JOBS_PREFIX "default", &p, body, len, 10000), 0);
    mq_close(mq);
    char *reason = NULL;
    assert_int_equal(testevents_wait_dead(w->te, j.job_id, WAIT_MS, &reason), 0);
    assert_non_null(reason);
    assert_non_null(strstr(reason, "not published by the producer"));
    free(reason);
    free(body);
    assert_int_equal(testevents_of_job(w->te, j.job_id, NULL, 0), 0); /* never run */
    wtest_meta_read(w, img, vol, &m, 0);
    assert_int_equal(m.legality, LEGALITY_LEGAL);
    assert_int_equal(m.gen, 0);
    proto_job_free(&j);
}

/* job.cancel on vmseal.control kills the job's process group. */
static void test_cancel(void **state) {
    struct wtest *w = *state;
    proto_uuid img, vol;
    struct proto_job j;
    const struct proto_event *ev;
    char *buf = NULL;
    size_t len;

    pid_t pid =
        wtest_start(w, &(struct wtest_worker_opts){ .id = "can1", .dry_run = true, .dry_run_seal_ms = 60000 },
                    1 << 20, img, vol);
    wtest_seal_job(&j, w, img, vol);
    wtest_job_start(w, &j, WAIT_MS);
    pid_t child = wtest_child_of(pid);
    assert_true(child > 0);
    assert_int_equal(getpgid(child), child);

    struct proto_job_cancel c;
    memcpy(c.job_id, j.job_id, sizeof(proto_uuid));
    memcpy(c.template_id, j.template_id, sizeof(proto_uuid));
    assert_int_equal(proto_encode_job_cancel(&c, &buf, &len), 0);
    assert_int_equal(testevents_publish_to(w->te, MQ_X_CONTROL, "", PROTO_JOB_CANCEL_TYPE, buf, len), 0);
    free(buf);
    assert_int_equal(testevents_wait(w->te, j.job_id, -1, WAIT_MS, &ev), 0);
    assert_int_equal(ev->state, EV_CANCELLED);
    assert_false(wtest_group_alive(child));
    wtest_assert_event_order(w, j.job_id, EV_CANCELLED);

    /* a cancel that arrives before its job: the job is refused when it comes */
    uuid_new(j.job_id);
    memcpy(c.job_id, j.job_id, sizeof(proto_uuid));
    assert_int_equal(proto_encode_job_cancel(&c, &buf, &len), 0);
    assert_int_equal(testevents_publish_to(w->te, MQ_X_CONTROL, "", PROTO_JOB_CANCEL_TYPE, buf, len), 0);
    free(buf);
    testevents_pump(w->te, 300);
    ev = wtest_job_run(w, &j, WAIT_MS);
    assert_int_equal(ev->state, EV_CANCELLED);
    proto_job_free(&j);
}

/* Light jobs run one after the other in one runner process (slots = 1):
 * the same pid for every kind, after a failed job too; the runner is the
 * worker's only child, its own process group, and holds no socket and no
 * fd but stdio and its two pipes between jobs. */
static void test_runner_reused(void **state) {
    struct wtest *w = *state;
    pid_t pid, runner = -1;
    proto_uuid src_img, src_vol, img, vol;
    struct proto_job j;
    const struct proto_event *ev;

    pid = wtest_start(
        w, &(struct wtest_worker_opts){ .id = "reuse1", .dry_run = true, .dry_run_seal_ms = 10, .slots = 1 },
        1 << 20, src_img, src_vol);
    wtest_copy_job(&j, w->sd_id, src_img, src_vol, FORMAT_RAW, img, vol);
    ev = wtest_job_run(w, &j, WAIT_MS);
    assert_int_equal(ev->state, EV_SUCCEEDED);
    runner = wtest_job_process(w, "reuse1", j.job_id, true);
    proto_job_free(&j);
    assert_int_equal(getpgid(runner), runner);
    assert_int_equal(wtest_child_of(pid), runner);
    wtest_assert_runner_fds(runner);

    for (int gen = 0; gen < 3; gen++) {
        wtest_update_job(&j, w->sd_id, img, vol, gen, gen % 2 ? LEGALITY_LEGAL : LEGALITY_ILLEGAL, VOLTYPE_NONE);
        ev = wtest_job_run(w, &j, WAIT_MS);
        assert_int_equal(ev->state, EV_SUCCEEDED);
        assert_int_equal(result_int(ev, "generation"), gen + 1);
        wtest_assert_event_order(w, j.job_id, EV_SUCCEEDED);
        assert_int_equal(wtest_job_process(w, "reuse1", j.job_id, true), runner);
        proto_job_free(&j);
    }
    /* a failing job leaves the runner in service */
    wtest_update_job(&j, w->sd_id, img, vol, 42, LEGALITY_LEGAL, VOLTYPE_NONE);
    ev = wtest_job_run(w, &j, WAIT_MS);
    assert_int_equal(ev->state, EV_FAILED);
    assert_string_equal(ev->error.code, "generation_mismatch");
    assert_int_equal(wtest_job_process(w, "reuse1", j.job_id, true), runner);
    proto_job_free(&j);

    wtest_seal_job(&j, w, img, vol);
    ev = wtest_job_run(w, &j, WAIT_MS);
    assert_int_equal(ev->state, EV_SUCCEEDED);
    assert_int_equal(wtest_job_process(w, "reuse1", j.job_id, true), runner);
    proto_job_free(&j);

    wtest_delete_job(&j, w->sd_id, img, vol);
    ev = wtest_job_run(w, &j, WAIT_MS);
    assert_int_equal(ev->state, EV_SUCCEEDED);
    assert_int_equal(wtest_job_process(w, "reuse1", j.job_id, true), runner);
    proto_job_free(&j);

    /* every job gave back what it opened and locked */
    wtest_assert_runner_fds(runner);
    assert_int_equal(wtest_child_of(pid), runner);

    /* the worker stops: its runner goes with it */
    int status;
    assert_int_equal(wtest_worker_stop(w, pid, SIGTERM, 20000, &status), 0);
    assert_int_equal(status, 0);
    assert_true(wtest_group_wait_gone(runner, 5000));
}

/* Count a job's progress events; check they are at least
 * WORKER_PROGRESS_MIN_MS (500 ms) apart, the first 500 ms after running,
 * none after the final; returns the count and the running->final time. */
static size_t progress_events(struct wtest *w, const char *job_id, int64_t *ret_span_ms) {
    const struct proto_event *evs[64];
    size_t n = testevents_of_job(w->te, job_id, evs, 64);
    assert_true(n >= 1 && n <= 64);
    wtest_assert_event_order(w, job_id, EV_SUCCEEDED);
    for (size_t i = 1; i + 1 < n; i++)
        assert_true(evs[i]->ts_ms - evs[i - 1]->ts_ms >= 500 - 20); /* wall clock vs monotonic */
    *ret_span_ms = evs[n - 1]->ts_ms - evs[0]->ts_ms;
    return n - 1 - (evs[0]->state == EV_RUNNING);
}

/* A dry-run seal reports 10 progress steps.  With 1 ms they come in one
 * burst: only the final event is published (it supersedes the pending
 * progress, and a job that ends within 100 ms sends no running event);
 * over 2 s, running then at most one progress per 500 ms. */
static void test_progress_coalesced(void **state) {
    struct wtest *w = *state;
    proto_uuid img, vol;
    struct proto_job j;
    const struct proto_event *ev;
    int64_t span_ms;

    pid_t pid = wtest_start(
        w, &(struct wtest_worker_opts){ .id = "prog0", .dry_run = true, .dry_run_seal_ms = 1, .slots = 1 },
        1 << 20, img, vol);
    wtest_seal_job(&j, w, img, vol);
    ev = wtest_job_run(w, &j, WAIT_MS);
    assert_int_equal(ev->state, EV_SUCCEEDED);
    testevents_pump(w->te, 700); /* nothing may follow the final */
    size_t n = progress_events(w, j.job_id, &span_ms);
    assert_true((int64_t)n <= span_ms / 500);
    if (span_ms < 400) /* the usual case; a machine stalled > 500 ms may show one */
        assert_int_equal(n, 0);
    proto_job_free(&j);
    int status;
    assert_int_equal(wtest_worker_stop(w, pid, SIGTERM, 20000, &status), 0);

    assert_int_equal(
        wtest_worker_start(
            w, &(struct wtest_worker_opts){ .id = "prog2", .dry_run = true, .dry_run_seal_ms = 2000, .slots = 1 },
            &pid),
        0);
    wtest_seal_job(&j, w, img, vol);
    ev = wtest_job_run(w, &j, WAIT_MS);
    assert_int_equal(ev->state, EV_SUCCEEDED);
    testevents_pump(w->te, 700);
    n = progress_events(w, j.job_id, &span_ms);
    assert_true(span_ms >= 2000 - 20);
    assert_true(n >= 2);                      /* progress still flows */
    assert_true((int64_t)n <= span_ms / 500); /* 10 steps, at most one per 500 ms */
    proto_job_free(&j);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_volume_jobs_real, wtest_setup, wtest_teardown),
        cmocka_unit_test_setup_teardown(test_dry_run_copy_and_seal, wtest_setup, wtest_teardown),
        cmocka_unit_test_setup_teardown(test_malformed_dead_lettered, wtest_setup, wtest_teardown),
        cmocka_unit_test_setup_teardown(test_unknown_domain, wtest_setup, wtest_teardown),
        cmocka_unit_test_setup_teardown(test_named_pool, wtest_setup, wtest_teardown),
        cmocka_unit_test_setup_teardown(test_job_not_from_producer, wtest_setup, wtest_teardown),
        cmocka_unit_test_setup_teardown(test_cancel, wtest_setup, wtest_teardown),
        cmocka_unit_test_setup_teardown(test_runner_reused, wtest_setup, wtest_teardown),
        cmocka_unit_test_setup_teardown(test_progress_coalesced, wtest_setup, wtest_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
