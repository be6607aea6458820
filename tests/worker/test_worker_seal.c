/* test_worker_seal.c - a real vm.seal job through vmseal-worker: a test
 * guest imported into the storage domain is sealed in a libguestfs
 * appliance, its final event listing what it removed and changed (one launch: refusals are covered by tests/worker/seal, the failure
 * path of the worker by test_worker_jobs).  Labels: broker,
 * guestfs (needs the `guests` fixture: tests/guests/build.sh).
 *
 * warm_fallback: worker.guestfs.warm, and the warm appliance's qemu killed
 * while the worker waits for a job: the job still seals (a fresh launch,
 * said in the log), and the next warm appliance is started.  The warm path
 * itself is in tests/e2e/test_e2e_seal.c. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "err.h"
#include "sd.h"
#include "testutil.h"
#include "util.h"
#include "volume.h"
#include "wtest.h"

#define WAIT_MS 300000

static void import_guest(struct wtest *w, const char *name, proto_uuid img, proto_uuid vol) {
    _cleanup_free_ char *rel = xasprintf("guests/%s.qcow2", name);
    _cleanup_free_ char *file = testutil_build_path(rel);
    struct sd *sd = NULL;
    char why[ERR_WHY_LEN] = "";
    if (access(file, R_OK) < 0)
        fail_msg("no test guest %s: the fixture test guests_build must run first", file);
    assert_int_equal(sd_open(w->sd_id, w->sd_path, &sd, why), 0);
    int r = volume_create_from_file(sd, file, FORMAT_COW, NULL, NULL, img, vol, why);
    if (r < 0)
        fail_msg("import %s: %s", file, why);
    sd_close(sd);
}

static const struct proto_event *seal(struct wtest *w, const char *img, const char *vol, struct proto_job *j) {
    const struct proto_event *ev = NULL;
    wtest_seal_job(j, w, img, vol); /* marked ILLEGAL first, as a workflow does */
    j->args.seal.sysprep.selinux_relabel = true;
    assert_int_equal(testevents_publish_job(w->te, j), 0);
    assert_int_equal(testevents_wait(w->te, j->job_id, -1, WAIT_MS, &ev), 0);
    return ev;
}

static void test_seal_real(void **state) {
    struct wtest *w = *state;
    pid_t pid;
    proto_uuid img, vol;
    struct proto_job j;
    const struct proto_event *ev;

    import_guest(w, "debian", img, vol);
    assert_int_equal(wtest_worker_start(w, &(struct wtest_worker_opts){ .id = "seal1", .slots = 1 }, &pid), 0);

    ev = seal(w, img, vol, &j);
    if (ev->state != EV_SUCCEEDED)
        fail_msg("seal failed: %s: %s", ev->error.code, ev->error.message);
    const struct proto_kv *kv = testevents_result(ev, "removed");
    assert_non_null(kv);
    assert_true(kv->i > 0);
    /* the final event lists what was removed: as many paths as the result
     * counts (the debian guest stays far below the bounds) */
    assert_non_null(ev->files);
    assert_false(ev->files->truncated);
    int64_t removed = 0;
    bool machine_id = false;
    for (size_t i = 0; i < ev->files->n_ops; i++)
        removed += ev->files->ops[i].removed;
    for (size_t i = 0; i < ev->files->n_paths; i++)
        machine_id |= strcmp(ev->files->paths[i].path, "/etc/machine-id") == 0 &&
                      ev->files->paths[i].action == FILE_CHANGED &&
                      strcmp(ev->files->paths[i].op, "machine-id") == 0;
    assert_int_equal(removed, kv->i);
    assert_true(machine_id);
    kv = testevents_result(ev, "distro");
    assert_non_null(kv);
    assert_string_equal(kv->s, "debian");
    wtest_assert_event_order(w, j.job_id, EV_SUCCEEDED);
    const struct proto_event *evs[512];
    size_t n = testevents_of_job(w->te, j.job_id, evs, 512);
    assert_true(n >= 4); /* running, progress (launch, operations...), succeeded */
    proto_job_free(&j);
}

static bool log_has(struct wtest *w, const char *needle) {
    char *buf = NULL;
    size_t len = 0;
    bool found = false;
    if (read_file_all(w->logs[w->n_workers - 1], 1 << 22, &buf, &len) == 0)
        found = strstr(buf, needle) != NULL;
    free(buf);
    return found;
}

static bool warm_ready(void *arg) { return log_has(arg, "warm appliance ready in"); }

/* The qemu below the worker's warm process (worker -> warm process -> qemu). */
static pid_t warm_qemu(pid_t worker) {
    pid_t warm = wtest_child_of(worker);
    return warm > 0 ? wtest_child_of(warm) : -1;
}

static void test_seal_warm_fallback(void **state) {
    struct wtest *w = *state;
    pid_t pid;
    proto_uuid img, vol;
    struct proto_job j;

    import_guest(w, "debian", img, vol);
    assert_int_equal(
        wtest_worker_start(w, &(struct wtest_worker_opts){ .id = "warm1", .slots = 1, .warm = true }, &pid), 0);
    if (testutil_wait_for(warm_ready, w, WAIT_MS, 200) < 0)
        fail_msg("the worker's warm appliance was not ready within %d s", WAIT_MS / 1000);
    pid_t qemu = warm_qemu(pid);
    assert_true(qemu > 0);
    assert_int_equal(kill(qemu, SIGKILL), 0);

    const struct proto_event *ev = seal(w, img, vol, &j);
    if (ev->state != EV_SUCCEEDED)
        fail_msg("seal failed: %s: %s", ev->error.code, ev->error.message);
    const struct proto_kv *kv = testevents_result(ev, "warm_start");
    assert_non_null(kv);
    assert_int_equal(kv->i, 0); /* sealed in a fresh appliance */
    kv = testevents_result(ev, "removed");
    assert_non_null(kv);
    assert_true(kv->i > 0);
    assert_true(log_has(w, "warm appliance not used (QMP"));
    assert_true(log_has(w, "started (warm appliance pid"));
    proto_job_free(&j);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_seal_real, wtest_setup, wtest_teardown),
        cmocka_unit_test_setup_teardown(test_seal_warm_fallback, wtest_setup, wtest_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
