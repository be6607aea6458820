/* test_worker_faults.c - vmseal-worker under failure, over a real broker:
 * a worker killed in the middle of a real copy, a job past its timeout,
 * SIGTERM during a job, a lost connection, runners killed by a timeout or
 * from outside.  Label: broker. */
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

#include "err.h"
#include "sd.h"
#include "testutil.h"
#include "util.h"
#include "wtest.h"

#define WAIT_MS 60000
/* A copy that takes seconds even with copy offload on a fast disk (1 GiB
 * took 0.8 s here, fsync included: under the 1 s timeout below, and too
 * quick for a progress event before the kill) */
#define BIG_BYTES (4096LL << 20)

static void assert_copy_valid(struct wtest *w, const char *src_img, const char *src_vol, const char *img,
                              const char *vol) {
    struct vol_meta m;
    wtest_meta_read(w, img, vol, &m, 0);
    assert_int_equal(m.legality, LEGALITY_LEGAL);
    assert_int_equal(m.voltype, VOLTYPE_LEAF);
    assert_int_equal(m.cap_bytes, BIG_BYTES);
    _cleanup_free_ char *a = wtest_volume_path(w, src_img, src_vol, "");
    _cleanup_free_ char *b = wtest_volume_path(w, img, vol, "");
    const char *check[] = { "qemu-img", "check", "-q", "-f", "qcow2", b, NULL };
    assert_int_equal(testutil_cmd_run(check, 120000, NULL), 0);
    const char *cmp[] = { "qemu-img", "compare", "-q", "-f", "raw", "-F", "qcow2", a, b, NULL };
    assert_int_equal(testutil_cmd_run(cmp, 120000, NULL), 0);
    assert_int_equal(wtest_tmp_count(w, img), 0);
}

/* Worker A dies (SIGKILL) while qemu-img copies; the broker redelivers the
 * job to worker B, which completes it: a valid destination, no temporary
 * file.  (A's orphaned job holds the image lock until it ends, so B never
 * writes the same volume at the same time.) */
static void test_sigkill_mid_copy_redelivered(void **state) {
    struct wtest *w = *state;
    pid_t a, b;
    proto_uuid src_img, src_vol, img, vol;
    struct proto_job j;
    const struct proto_event *ev;
    int status;

    a = wtest_start(w, &(struct wtest_worker_opts){ .id = "killA" }, BIG_BYTES, src_img, src_vol);
    wtest_copy_job(&j, w->sd_id, src_img, src_vol, FORMAT_COW, img, vol);
    assert_int_equal(testevents_publish_job(w->te, &j), 0);
    assert_int_equal(testevents_wait(w->te, j.job_id, EV_PROGRESS, WAIT_MS, &ev), 0);
    assert_string_equal(ev->worker_id, "killA");
    assert_true(ev->progress < 100);
    pid_t orphan = wtest_child_of(a);
    assert_int_equal(kill(a, SIGKILL), 0);
    assert_int_equal(testutil_proc_wait(a, 10000, &status), 0);
    assert_int_equal(status, 128 + SIGKILL);

    assert_int_equal(wtest_worker_start(w, &(struct wtest_worker_opts){ .id = "killB" }, &b), 0);
    assert_int_equal(testevents_wait(w->te, j.job_id, -1, WAIT_MS, &ev), 0);
    assert_int_equal(ev->state, EV_SUCCEEDED);
    assert_string_equal(ev->worker_id, "killB");
    if (orphan > 0) /* the orphan ended (it let B take the image lock by ending) */
        assert_true(wtest_group_wait_gone(orphan, 5000));
    assert_copy_valid(w, src_img, src_vol, img, vol);
    proto_job_free(&j);
}

/* A copy past its timeout: failed, transient, `timeout`, and nothing of its
 * process group (qemu-img included) is left.  The same job again with time
 * enough cleans the partial destination and completes. */
static void test_timeout_kills_group(void **state) {
    struct wtest *w = *state;
    proto_uuid src_img, src_vol, img, vol;
    struct proto_job j;
    const struct proto_event *ev;

    pid_t pid = wtest_start(w, &(struct wtest_worker_opts){ .id = "tmo1" }, BIG_BYTES, src_img, src_vol);
    wtest_copy_job(&j, w->sd_id, src_img, src_vol, FORMAT_COW, img, vol);
    j.timeout_s = 1;
    wtest_job_start(w, &j, WAIT_MS);
    pid_t child = wtest_child_of(pid);
    assert_true(child > 0);
    assert_int_equal(testevents_wait(w->te, j.job_id, -1, WAIT_MS, &ev), 0);
    assert_int_equal(ev->state, EV_FAILED);
    assert_string_equal(ev->error.code, "timeout");
    assert_false(ev->error.permanent);
    assert_false(wtest_group_alive(child));
    wtest_assert_event_order(w, j.job_id, EV_FAILED);

    /* the producer's retry (same ids, next attempt) */
    uuid_new(j.job_id);
    j.attempt = 2;
    j.timeout_s = 600;
    ev = wtest_job_run(w, &j, WAIT_MS);
    assert_int_equal(ev->state, EV_SUCCEEDED);
    assert_copy_valid(w, src_img, src_vol, img, vol);
    proto_job_free(&j);
}

/* SIGTERM during a job: with grace enough the job completes and the worker
 * exits 0; with too little it is requeued and another worker finishes it. */
static void test_sigterm_completes_or_requeues(void **state) {
    struct wtest *w = *state;
    pid_t a, a2, b;
    proto_uuid img, vol;
    struct proto_job j;
    const struct proto_event *ev;
    int status;

    a = wtest_start(
        w, &(struct wtest_worker_opts){ .id = "termA", .dry_run = true, .dry_run_seal_ms = 2000, .grace_s = 20 },
        1 << 20, img, vol);
    wtest_seal_job(&j, w, img, vol);
    wtest_job_start(w, &j, WAIT_MS);
    assert_int_equal(kill(a, SIGTERM), 0);
    assert_int_equal(testevents_wait(w->te, j.job_id, -1, WAIT_MS, &ev), 0);
    assert_int_equal(ev->state, EV_SUCCEEDED);
    assert_string_equal(ev->worker_id, "termA");
    assert_int_equal(testutil_proc_wait(a, 20000, &status), 0);
    assert_int_equal(status, 0);
    proto_job_free(&j);

    assert_int_equal(
        wtest_worker_start(
            w,
            &(struct wtest_worker_opts){ .id = "termA2", .dry_run = true, .dry_run_seal_ms = 30000, .grace_s = 1 },
            &a2),
        0);
    wtest_seal_job(&j, w, img, vol);
    wtest_job_start(w, &j, WAIT_MS);
    pid_t child = wtest_child_of(a2);
    assert_int_equal(kill(a2, SIGTERM), 0);
    assert_int_equal(testutil_proc_wait(a2, 20000, &status), 0);
    assert_int_equal(status, 0);
    assert_true(child > 0);
    assert_false(wtest_group_alive(child));
    testevents_pump(w->te, 200);
    assert_int_equal(testevents_wait(w->te, j.job_id, -1, 0, NULL), -ETIMEDOUT); /* no final event */

    assert_int_equal(
        wtest_worker_start(
            w, &(struct wtest_worker_opts){ .id = "termB", .dry_run = true, .dry_run_seal_ms = 300 }, &b),
        0);
    assert_int_equal(testevents_wait(w->te, j.job_id, -1, WAIT_MS, &ev), 0);
    assert_int_equal(ev->state, EV_SUCCEEDED);
    assert_string_equal(ev->worker_id, "termB");
    proto_job_free(&j);
}

/* How many events of job_id the monitor has in `state`, or (state -1) in a
 * final state. */
static size_t events_count(struct wtest *w, const char *job_id, int state) {
    const struct proto_event *evs[256];
    size_t n = testevents_of_job(w->te, job_id, evs, 256), count = 0;
    for (size_t i = 0; i < n && i < 256; i++) {
        enum event_state st = evs[i]->state;
        bool final = st == EV_SUCCEEDED || st == EV_FAILED || st == EV_CANCELLED;
        count += state < 0 ? final : st == (enum event_state)state;
    }
    return count;
}

/* The worker's connection is closed by the broker while a job runs: the
 * job's delivery is stale (the broker requeues it), so the worker kills the
 * job's process group at once; after reconnecting it gets the job again and
 * completes it.  Exactly one final event. */
static void test_connection_loss_kills_and_redoes(void **state) {
    struct wtest *w = *state;
    proto_uuid img, vol;
    struct proto_job j;
    const struct proto_event *ev;

    pid_t pid = wtest_start(
        w, &(struct wtest_worker_opts){ .id = "reco1", .dry_run = true, .dry_run_seal_ms = 20000, .slots = 1 },
        1 << 20, img, vol);
    wtest_seal_job(&j, w, img, vol);
    wtest_job_start(w, &j, WAIT_MS);
    pid_t child = wtest_child_of(pid);
    assert_true(child > 0);
    assert_int_equal(wtest_worker_conn_close(w, "reco1"), 0);
    assert_true(wtest_group_wait_gone(child, 5000));
    assert_int_equal(testevents_wait(w->te, j.job_id, -1, 0, NULL), -ETIMEDOUT); /* killed, not finished */
    assert_int_equal(testevents_wait(w->te, j.job_id, -1, WAIT_MS, &ev), 0);
    assert_int_equal(ev->state, EV_SUCCEEDED);
    assert_int_equal(events_count(w, j.job_id, EV_RUNNING), 2);
    testevents_pump(w->te, 500);
    assert_int_equal(events_count(w, j.job_id, -1), 1);
    assert_int_equal(kill(pid, 0), 0);
    proto_job_free(&j);
}

/* Run a volume.update (generation gen) to success; returns its runner. */
static pid_t update_ok(struct wtest *w, const char *id, const char *img, const char *vol, int gen) {
    struct proto_job j;
    wtest_update_job(&j, w->sd_id, img, vol, gen, gen % 2 ? LEGALITY_LEGAL : LEGALITY_ILLEGAL, VOLTYPE_NONE);
    const struct proto_event *ev = wtest_job_run(w, &j, WAIT_MS);
    assert_int_equal(ev->state, EV_SUCCEEDED);
    pid_t r = wtest_job_process(w, id, j.job_id, true);
    proto_job_free(&j);
    return r;
}

/* A job past its timeout in a runner (a dry-run seal): the runner's group
 * is killed, the job fails with `timeout` as a child's would; the next job
 * gets a fresh runner and succeeds. */
static void test_runner_timeout_replaced(void **state) {
    struct wtest *w = *state;
    proto_uuid img, vol;
    struct proto_job j;
    const struct proto_event *ev;

    wtest_start(
        w, &(struct wtest_worker_opts){ .id = "rtmo1", .dry_run = true, .dry_run_seal_ms = 60000, .slots = 1 },
        1 << 20, img, vol);
    pid_t first = update_ok(w, "rtmo1", img, vol, 0);
    wtest_seal_job(&j, w, img, vol);
    j.timeout_s = 1;
    ev = wtest_job_run(w, &j, WAIT_MS);
    assert_int_equal(ev->state, EV_FAILED);
    assert_string_equal(ev->error.code, "timeout");
    assert_false(ev->error.permanent);
    wtest_assert_event_order(w, j.job_id, EV_FAILED);
    assert_int_equal(wtest_job_process(w, "rtmo1", j.job_id, true), first); /* the seal ran in the same runner */
    assert_false(wtest_group_alive(first));
    proto_job_free(&j);

    pid_t second = update_ok(w, "rtmo1", img, vol, 1);
    assert_true(second != first);
    assert_int_equal(update_ok(w, "rtmo1", img, vol, 2), second);
}

/* A runner killed with SIGKILL from outside in the middle of a job: the job
 * fails as a crashed child does (internal, "killed by signal 9"); the next
 * job succeeds in a new runner.  An idle runner killed: replaced too.  The
 * worker killed: its idle runner exits by itself. */
static void test_runner_sigkill_mid_job(void **state) {
    struct wtest *w = *state;
    proto_uuid img, vol;
    struct proto_job j;
    const struct proto_event *ev;

    pid_t pid = wtest_start(
        w, &(struct wtest_worker_opts){ .id = "rkill1", .dry_run = true, .dry_run_seal_ms = 60000, .slots = 1 },
        1 << 20, img, vol);
    pid_t first = update_ok(w, "rkill1", img, vol, 0);
    wtest_seal_job(&j, w, img, vol);
    wtest_job_start(w, &j, WAIT_MS);
    assert_int_equal(wtest_job_process(w, "rkill1", j.job_id, true), first);
    assert_int_equal(kill(first, SIGKILL), 0);
    assert_int_equal(testevents_wait(w->te, j.job_id, -1, WAIT_MS, &ev), 0);
    assert_int_equal(ev->state, EV_FAILED);
    assert_string_equal(ev->error.code, "internal");
    assert_non_null(strstr(ev->error.message, "killed by signal 9"));
    wtest_assert_event_order(w, j.job_id, EV_FAILED);
    assert_false(wtest_group_alive(first));
    proto_job_free(&j);

    pid_t second = update_ok(w, "rkill1", img, vol, 1);
    assert_true(second != first);
    assert_int_equal(kill(pid, 0), 0);

    /* an idle runner killed between jobs: the next job just gets a new one */
    assert_int_equal(kill(second, SIGKILL), 0);
    assert_true(wtest_group_wait_gone(second, 5000));
    pid_t third = update_ok(w, "rkill1", img, vol, 2);
    assert_true(third != second && third != first);

    /* the worker dies: its idle runner sees EOF on its command pipe and
     * exits by itself (it is reparented to us, the subreaper) */
    int status;
    assert_int_equal(wtest_worker_stop(w, pid, SIGKILL, 10000, &status), 0);
    assert_true(wtest_group_wait_gone(third, 5000));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_sigkill_mid_copy_redelivered, wtest_setup, wtest_teardown),
        cmocka_unit_test_setup_teardown(test_timeout_kills_group, wtest_setup, wtest_teardown),
        cmocka_unit_test_setup_teardown(test_sigterm_completes_or_requeues, wtest_setup, wtest_teardown),
        cmocka_unit_test_setup_teardown(test_connection_loss_kills_and_redoes, wtest_setup, wtest_teardown),
        cmocka_unit_test_setup_teardown(test_runner_timeout_replaced, wtest_setup, wtest_teardown),
        cmocka_unit_test_setup_teardown(test_runner_sigkill_mid_job, wtest_setup, wtest_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
