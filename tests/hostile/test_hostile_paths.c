/* test_hostile_paths.c - a worker never touches anything outside its
 * configured domains, whatever the jobs on the broker say (labels broker,
 * e2e).  A real worker (real executor: volume.* through qemu-img and the
 * metadata code, vm.seal refusing before any appliance starts) gets jobs
 * whose paths lead out of the domain through symlinks planted inside it:
 *
 *   - volume.copy into an image dir that is a symlink to a folder outside;
 *   - volume.copy / volume.delete / vm.seal of a volume whose image dir is a
 *     symlink to an outside copy of a real volume;
 *   - volume.update of a volume whose .meta is a symlink to an outside file;
 *   - volume.delete of a volume whose data file is a symlink outside.
 *
 * Each must fail with path_escape (a delete of a volume whose .meta or data
 * file is a symlink may also succeed: it unlinks the link, never its
 * target), and the outside folder must be exactly
 * as before: same names, sizes, times, contents.  Ids with "../" or absolute
 * paths never reach a path at all: test_hostile dead-letters them.
 */
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

#include "e2e.h"
#include "testutil.h"
#include "util.h"

#define WAIT_MS 60000

/* A committed RAW source volume of 1 MiB in the domain. */
static void source_make(struct e2e *e, struct proto_vol_ref *ret) {
    assert_int_equal(e2e_source_make(e, 1 << 20, ret), 0);
}

/* Names, types, sizes, mtimes, link targets and sha256 of everything below dir. */
static char *snapshot(const char *dir) {
    _cleanup_free_ char *cmd = xasprintf("cd '%s' && find . -printf '%%p %%y %%s %%T@ %%l\\n' | sort && "
                                         "find . -type f -print0 | sort -z | xargs -0 -r sha256sum",
                                         dir);
    const char *argv[] = { "sh", "-c", cmd, NULL };
    char *out = NULL;
    assert_int_equal(testutil_cmd_run(argv, 30000, &out), 0);
    return out;
}

static void sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void sh(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    char *cmd = NULL;
    assert_true(vasprintf(&cmd, fmt, ap) >= 0);
    va_end(ap);
    const char *argv[] = { "sh", "-c", cmd, NULL };
    char *out = NULL;
    int r = testutil_cmd_run(argv, 30000, &out);
    if (r != 0)
        fail_msg("'%s' failed (%d): %s", cmd, r, out ? out : "");
    free(out);
    free(cmd);
}

/* Publish job, wait for its end; returns the final event. */
static const struct proto_event *run_job(struct e2e *e, struct proto_job *j) {
    assert_int_equal(testevents_publish_job(e->te, j), 0);
    const struct proto_event *ev = NULL;
    if (testevents_wait(e->te, j->job_id, -1, WAIT_MS, &ev) != 0) {
        e2e_dump_logs(e);
        fail_msg("job %s (%s) did not end", j->job_id, job_kind_to_string(j->kind));
    }
    return ev;
}

/* Run j, which must fail with path_escape; frees j. */
static void expect_escape(struct e2e *e, const char *what, struct proto_job *j) {
    const struct proto_event *ev = run_job(e, j);
    if (ev->state != EV_FAILED || !ev->has_error || strcmp(ev->error.code, "path_escape") != 0) {
        e2e_dump_logs(e);
        fail_msg("%s: expected failed/path_escape, got %s/%s: %s", what, event_state_to_string(ev->state),
                 ev->has_error ? ev->error.code : "-", ev->has_error ? ev->error.message : "");
    }
    printf("  %-52s -> failed: %s: %s\n", what, ev->error.code, ev->error.message);
    proto_job_free(j);
}

/* volume.copy of src into dst_img/dst_vol of the domain (fresh ids when
 * dst_img is NULL). */
static void copy_job(struct proto_job *j, struct e2e *e, const struct proto_vol_ref *src, const char *dst_img,
                     const char *dst_vol, enum vol_format format) {
    testevents_job_init(j, JOB_VOLUME_COPY);
    memcpy(j->args.copy.sd_id, e->sd_id, sizeof(proto_uuid));
    memcpy(j->args.copy.src_img_id, src->img_id, sizeof(proto_uuid));
    memcpy(j->args.copy.src_vol_id, src->vol_id, sizeof(proto_uuid));
    memcpy(j->args.copy.dst.sd_id, e->sd_id, sizeof(proto_uuid));
    if (dst_img) {
        memcpy(j->args.copy.dst.img_id, dst_img, sizeof(proto_uuid));
        memcpy(j->args.copy.dst.vol_id, dst_vol, sizeof(proto_uuid));
    } else {
        uuid_new(j->args.copy.dst.img_id);
        uuid_new(j->args.copy.dst.vol_id);
    }
    j->args.copy.format = format;
}

/* volume.update of v from generation 0 to ILLEGAL. */
static void update_job(struct proto_job *j, const struct proto_vol_ref *v) {
    testevents_job_init(j, JOB_VOLUME_UPDATE);
    j->args.update.vol = *v;
    j->args.update.generation = 0;
    j->args.update.legality = LEGALITY_ILLEGAL;
}

static void test_symlink_escapes(void **state) {
    struct e2e *e = *state;
    pid_t w;
    assert_int_equal(e2e_worker_start(e, "worker-paths", false, 0, 2, &w), 0);

    _cleanup_free_ char *out = xasprintf("%s/outside", e->dir);
    assert_int_equal(mkdir(out, 0755), 0);
    sh("mkdir '%s/empty' && echo precious > '%s/precious.txt'", out, out);

    /* A: a real volume moved outside, its image dir replaced by a symlink. */
    struct proto_vol_ref a, b, c, good;
    source_make(e, &a);
    sh("mv '%s/images/%s' '%s/%s' && ln -s '%s/%s' '%s/images/%s'", e->sd_path, a.img_id, out, a.img_id, out,
       a.img_id, e->sd_path, a.img_id);
    /* B: .meta replaced by a symlink to an outside copy. */
    source_make(e, &b);
    sh("mv '%s/images/%s/%s.meta' '%s/b.meta' && ln -s '%s/b.meta' '%s/images/%s/%s.meta'", e->sd_path, b.img_id,
       b.vol_id, out, out, e->sd_path, b.img_id, b.vol_id);
    /* C: data file replaced by a symlink to an outside copy. */
    source_make(e, &c);
    sh("mv '%s/images/%s/%s' '%s/c.data' && ln -s '%s/c.data' '%s/images/%s/%s'", e->sd_path, c.img_id, c.vol_id,
       out, out, e->sd_path, c.img_id, c.vol_id);
    source_make(e, &good);
    /* D: an image id whose dir is a symlink to an empty folder outside. */
    proto_uuid d_img, d_vol;
    uuid_new(d_img);
    uuid_new(d_vol);
    sh("ln -s '%s/empty' '%s/images/%s'", out, e->sd_path, d_img);

    _cleanup_free_ char *before = snapshot(out);
    struct proto_job j;

    copy_job(&j, e, &good, d_img, d_vol, FORMAT_RAW);
    expect_escape(e, "volume.copy into a symlinked image dir", &j);
    copy_job(&j, e, &a, NULL, NULL, FORMAT_COW);
    expect_escape(e, "volume.copy from a symlinked image dir", &j);
    update_job(&j, &a);
    expect_escape(e, "volume.update in a symlinked image dir", &j);
    testevents_job_init(&j, JOB_VOLUME_DELETE);
    j.args.del.vol = a;
    expect_escape(e, "volume.delete in a symlinked image dir", &j);
    testevents_job_init(&j, JOB_VM_SEAL);
    j.args.seal.disks = xcalloc(1, sizeof(*j.args.seal.disks));
    j.args.seal.disks[0] = a;
    j.args.seal.n_disks = 1;
    j.args.seal.sysprep.selinux_relabel = true;
    expect_escape(e, "vm.seal of a disk in a symlinked image dir", &j);
    update_job(&j, &b);
    expect_escape(e, "volume.update of a symlinked .meta", &j);
    copy_job(&j, e, &c, NULL, NULL, FORMAT_RAW);
    expect_escape(e, "volume.copy from a symlinked data file", &j);

    /* A delete removes the volume's directory entries: a symlink is unlinked,
     * its target is not followed (the snapshot below proves it). */
    const struct proto_vol_ref *dels[] = { &b, &c };
    const char *del_names[] = { "volume.delete of a volume with a symlinked .meta",
                                "volume.delete of a symlinked data file" };
    for (size_t i = 0; i < 2; i++) {
        testevents_job_init(&j, JOB_VOLUME_DELETE);
        j.args.del.vol = *dels[i];
        const struct proto_event *ev = run_job(e, &j);
        printf("  %-52s -> %s%s%s\n", del_names[i], event_state_to_string(ev->state),
               ev->has_error ? ": " : " (the link removed, not its target)",
               ev->has_error ? ev->error.message : "");
        /* (or it is refused before: the volume's .meta names no template, not_owner) */
        assert_true(ev->state == EV_SUCCEEDED ||
                    (ev->state == EV_FAILED &&
                     (strcmp(ev->error.code, "path_escape") == 0 || strcmp(ev->error.code, "not_owner") == 0)));
        proto_job_free(&j);
    }

    _cleanup_free_ char *after = snapshot(out);
    if (strcmp(before, after) != 0)
        fail_msg("the folder outside the domain changed:\n--- before\n%s--- after\n%s", before, after);
    printf("  outside folder unchanged (%zu bytes of listing and checksums compared)\n", strlen(after));
    assert_int_equal(kill(w, 0), 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_symlink_escapes, e2e_setup, e2e_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
