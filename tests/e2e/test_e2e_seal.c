/* test_e2e_seal.c - the whole product with a real seal: vmseal-producer, a
 * real vmseal-worker (libguestfs) and vmsealctl on the test broker, with the
 * test guests of tests/guests/build.sh imported into a storage domain by
 * `vmsealctl sd import`.
 *
 *   sealed:  the two-disk guest (/ on one disk, /home on the other) becomes a
 *            READY template: both volumes LEGAL SHARED GEN 2, the guest in
 *            them sealed (checked read-only with guestfish, one launch), the
 *            source volumes byte-identical to before.  The worker runs with
 *            worker.guestfs.warm: the seal job goes to the appliance it
 *            launched while idle, with both disks hot-plugged (its log says
 *            so, and not that it fell back to a fresh launch).  What the seal
 *            did (its files: a guest file name with a newline and ESC, a
 *            path on /home) in the RPC status, `vmsealctl status --files`
 *            and `--json`, escaped, never raw.
 *   refused: the Windows-like disk: FAILED at step seal with the worker's
 *            error (and its files: nothing removed or changed), its volumes
 *            deleted, the source untouched.
 * Three appliance launches in all (two seals, one check). */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "e2e.h"
#include "testutil.h"
#include "util.h"

#define SEAL_TIMEOUT_S 400

static char *guest_path(const char *name) {
    _cleanup_free_ char *rel = xasprintf("guests/%s.qcow2", name);
    char *p = testutil_build_path(rel);
    if (access(p, R_OK) != 0)
        fail_msg("test guest %s missing: run through ctest (fixture `guests`, tests/guests/build.sh)", p);
    return p;
}

static void source_import(struct e2e *e, const char *guest, struct proto_vol_ref *ret, char sha[65]) {
    _cleanup_free_ char *path = guest_path(guest);
    memcpy(ret->sd_id, e->sd_id, sizeof(proto_uuid));
    assert_int_equal(e2e_import(e, path, "qcow2", ret->img_id, ret->vol_id), 0);
    _cleanup_free_ char *vol = e2e_vol_path(e, ret, "");
    assert_int_equal(e2e_sha256(vol, sha), 0);
}

static void assert_source_untouched(struct e2e *e, const struct proto_vol_ref *v, const char *sha) {
    char now[65], val[64];
    _cleanup_free_ char *vol = e2e_vol_path(e, v, "");
    assert_int_equal(e2e_sha256(vol, now), 0);
    assert_string_equal(now, sha);
    assert_int_equal(e2e_meta_get(e, v, "LEGALITY", val, sizeof val), 0);
    assert_string_equal(val, "LEGAL");
    assert_int_equal(e2e_meta_get(e, v, "GEN", val, sizeof val), 0);
    assert_string_equal(val, "0");
}

/* `vmsealctl submit --seal --wait` of the disks; returns its exit status and
 * the template id (first output line). */
static int submit_wait(struct e2e *e, const char *name, const struct proto_vol_ref *d, size_t n, proto_uuid ret_id,
                       char **ret_out) {
    char spec[2][120];
    for (size_t i = 0; i < n && i < 2; i++)
        snprintf(spec[i], sizeof spec[i], "%s:%s:%s", d[i].sd_id, d[i].img_id, d[i].vol_id);
    char timeout[16];
    snprintf(timeout, sizeof timeout, "%d", SEAL_TIMEOUT_S);
    int r = n == 2 ? e2e_ctl(e, ret_out, "submit", "--name", name, "--disk", spec[0], "--disk", spec[1], "--seal",
                             "--wait", "--timeout", timeout, NULL)
                   : e2e_ctl(e, ret_out, "submit", "--name", name, "--disk", spec[0], "--seal", "--wait",
                             "--timeout", timeout, NULL);
    assert_non_null(*ret_out);
    snprintf(ret_id, sizeof(proto_uuid), "%.36s", *ret_out);
    assert_true(uuid_is_canonical(ret_id));
    return r;
}

static const char *qemu_format(struct e2e *e, const struct proto_vol_ref *v) {
    char f[16];
    assert_int_equal(e2e_meta_get(e, v, "FORMAT", f, sizeof f), 0);
    return strcmp(f, "RAW") == 0 ? "raw" : "qcow2";
}

/* One read-only appliance over the template's two volumes: what the seal
 * must have removed is gone, what must stay is there. */
static void assert_guest_sealed(struct e2e *e, const struct rpc_template *t) {
    _cleanup_free_ char *root = e2e_vol_path(e, &t->disks[0].target, "");
    _cleanup_free_ char *home = e2e_vol_path(e, &t->disks[1].target, "");
    _cleanup_free_ char *fmt_root = xasprintf("--format=%s", qemu_format(e, &t->disks[0].target));
    _cleanup_free_ char *fmt_home = xasprintf("--format=%s", qemu_format(e, &t->disks[1].target));
    const char *argv[] = {
        "guestfish", "--ro",        fmt_root,
        "-a",        root,          fmt_home,
        "-a",        home,          "--",
        "run",       ":",           "mount-ro",
        "/dev/sda",  "/",           ":",
        "mount-ro",  "/dev/sdb",    "/home",
        ":",         "echo",        "machine-id-size",
        ":",         "filesize",    "/etc/machine-id",
        ":",         "echo",        "ssh-host-keys",
        ":",         "glob-expand", "/etc/ssh/ssh_host_*",
        ":",         "echo",        "root-history",
        ":",         "exists",      "/root/.bash_history",
        ":",         "echo",        "bob-history",
        ":",         "exists",      "/home/bob/.bash_history",
        ":",         "echo",        "bob-ssh",
        ":",         "exists",      "/home/bob/.ssh",
        ":",         "echo",        "bob-plan",
        ":",         "cat",         "/home/bob/Documents/plan.txt",
        ":",         "echo",        "sshd-config",
        ":",         "exists",      "/etc/ssh/sshd_config",
        NULL,
    };
    static const char expect[] = "machine-id-size\n0\n"
                                 "ssh-host-keys\n"
                                 "root-history\nfalse\n"
                                 "bob-history\nfalse\n"
                                 "bob-ssh\nfalse\n"
                                 "bob-plan\nBob keeps this.\n\n" /* cat: the file's newline, then guestfish's */
                                 "sshd-config\ntrue\n";
    char *out = NULL;
    int r = testutil_cmd_run(argv, 300000, &out);
    if (r != 0 || !out || strcmp(out, expect) != 0)
        fail_msg("guestfish check of the sealed template: exit %d, output:\n%s\nexpected:\n%s", r, out ? out : "",
                 expect);
    free(out);
}

/* The seal job of t and what it did (its files, as the producer kept them). */
static const struct proto_files *seal_files(const struct rpc_template *t) {
    for (size_t i = 0; i < t->n_jobs; i++)
        if (t->jobs[i].kind == JOB_VM_SEAL && strcmp(t->jobs[i].state, "succeeded") == 0)
            return t->jobs[i].files;
    return NULL;
}

static bool has_path(const struct proto_files *f, const char *op, const char *mountpoint, const char *path) {
    for (size_t i = 0; i < f->n_paths; i++)
        if (strcmp(f->paths[i].op, op) == 0 && strcmp(f->paths[i].mountpoint, mountpoint) == 0 &&
            strcmp(f->paths[i].path, path) == 0)
            return true;
    return false;
}

/* What the seal did reached the producer and vmsealctl: the guest's file
 * named "/var/tmp/two<LF>lines <ESC>[2J" (tmp-files) in its escaped form
 * everywhere, never raw; /home/bob/.bash_history on the second disk's /home. */
static void assert_files_reported(struct e2e *e, const char *tid, const struct rpc_template *t) {
    static const char hostile[] = "/var/tmp/two\\x0alines \\x1b[2J";
    const struct proto_files *f = seal_files(t);
    assert_non_null(f);
    assert_false(f->truncated);
    assert_true(has_path(f, "tmp-files", "/", hostile));
    assert_true(has_path(f, "bash-history", "/home", "/home/bob/.bash_history"));
    assert_true(has_path(f, "machine-id", "/", "/etc/machine-id"));

    char *out = NULL;
    int r = e2e_ctl(e, &out, "status", tid, "--files", NULL);
    if (r != 0 || !strstr(out, "  tmp-files                removed  /  /var/tmp/two\\x0alines \\x1b[2J\n") ||
        !strstr(out, "  bash-history             removed  /home  /home/bob/.bash_history\n") ||
        !strstr(out, "  machine-id               changed  /  /etc/machine-id\n") || strstr(out, "truncated"))
        fail_msg("vmsealctl status --files: exit %d:\n%s", r, out);
    for (const unsigned char *p = (const unsigned char *)out; *p; p++)
        if ((*p < 0x20 && *p != '\n') || *p == 0x7f)
            fail_msg("vmsealctl status --files printed a raw control byte 0x%02x:\n%s", *p, out);
    /* one line per path, after the job's summary line */
    size_t lines = 0;
    for (const char *p = out; *p; p++)
        lines += *p == '\n';
    assert_int_equal(lines, 1 + f->n_paths);
    free(out);

    r = e2e_ctl(e, &out, "status", tid, "--json", NULL);
    if (r != 0 ||
        !strstr(out, "{\"op\":\"tmp-files\",\"action\":\"removed\",\"mountpoint\":\"/\","
                     "\"path\":\"/var/tmp/two\\\\x0alines \\\\x1b[2J\"}") ||
        !strstr(out, "\"mountpoint\":\"/home\",\"path\":\"/home/bob/.bash_history\"") ||
        !strstr(out, "\"truncated\":false"))
        fail_msg("vmsealctl status --json: exit %d:\n%s", r, out);
    assert_null(strchr(out, '\x1b'));
    free(out);

    r = e2e_ctl(e, &out, "status", tid, NULL); /* the plain status works too, with the counts */
    if (r != 0 || !strstr(out, " paths listed\n") || strchr(out, '\x1b'))
        fail_msg("vmsealctl status: exit %d:\n%s", r, out);
    free(out);
}

/* The log of the process started as name (the last one). */
static char *proc_log(struct e2e *e, const char *name) {
    for (size_t i = e->n_procs; i-- > 0;) {
        if (strcmp(e->procs[i].name, name) != 0)
            continue;
        FILE *f = fopen(e->procs[i].log, "r");
        assert_non_null(f);
        char *buf = xcalloc(1, 1 << 20);
        size_t n = fread(buf, 1, (1 << 20) - 1, f);
        buf[n] = '\0';
        fclose(f);
        return buf;
    }
    fail_msg("no process %s", name);
    return NULL;
}

static void test_sealed_template(void **state) {
    struct e2e *e = *state;
    pid_t p, w;
    struct proto_vol_ref src[2];
    char sha[2][65];
    proto_uuid tid;
    source_import(e, "twodisk-root", &src[0], sha[0]);
    source_import(e, "twodisk-home", &src[1], sha[1]);
    assert_int_equal(e2e_producer_start(e, "producer", true, &p), 0);
    e->worker_extra = "guestfs = { warm = true; };";
    assert_int_equal(e2e_worker_start(e, "real-w1", false, 0, 1, &w), 0);
    e->worker_extra = NULL;
    char *out = NULL;
    int r = submit_wait(e, "sealed-twodisk", src, 2, tid, &out);
    if (r != 0 || !strstr(out, "READY")) {
        e2e_dump_logs(e);
        fail_msg("vmsealctl submit --wait: exit %d:\n%s", r, out);
    }
    free(out);
    /* the worker's next warm appliance is of no use here: stop it */
    e2e_kill(e, w);
    _cleanup_free_ char *log = proc_log(e, "real-w1");
    if (!strstr(log, "started (warm appliance pid") || !strstr(log, "warm appliance ready in") ||
        strstr(log, "warm appliance not used")) {
        e2e_dump_logs(e);
        fail_msg("the seal did not run in the warm appliance (worker log above)");
    }
    e2e_assert_ready_clean(e, tid, 10000, 2);
    struct rpc_reply rep;
    assert_int_equal(e2e_status(e, tid, &rep), 0);
    assert_true(rep.ok && rep.tpl.seal && rep.tpl.n_disks == 2);
    assert_guest_sealed(e, &rep.tpl);
    assert_files_reported(e, tid, &rep.tpl);
    rpc_reply_free(&rep);
    assert_source_untouched(e, &src[0], sha[0]);
    assert_source_untouched(e, &src[1], sha[1]);
}

static void test_windows_refused(void **state) {
    struct e2e *e = *state;
    pid_t p, w;
    struct proto_vol_ref src;
    char sha[65];
    proto_uuid tid;
    source_import(e, "windows", &src, sha);
    _cleanup_free_ char *before = e2e_sd_listing(e);
    assert_int_equal(e2e_producer_start(e, "producer", true, &p), 0);
    assert_int_equal(e2e_worker_start(e, "real-w1", false, 0, 1, &w), 0);
    char *out = NULL;
    int r = submit_wait(e, "windows", &src, 1, tid, &out);
    if (r != 1 || !strstr(out, "FAILED at step seal: unsupported_guest")) {
        e2e_dump_logs(e);
        fail_msg("vmsealctl submit --wait: exit %d:\n%s", r, out);
    }
    free(out);
    struct rpc_reply rep;
    assert_int_equal(e2e_wait_state(e, tid, "failed", 10000, &rep), 0);
    assert_string_equal(rep.tpl.error_step, "seal");
    assert_string_equal(rep.tpl.error_code, "unsupported_guest");
    assert_int_equal(e2e_jobs_in_state(&rep.tpl, "seal", "failed"), 1); /* permanent: no retry */
    for (size_t i = 0; i < rep.tpl.n_jobs; i++) /* the failed seal said what it did: nothing */
        if (rep.tpl.jobs[i].kind == JOB_VM_SEAL) {
            assert_non_null(rep.tpl.jobs[i].files);
            assert_int_equal(rep.tpl.jobs[i].files->n_ops, 0);
            assert_false(rep.tpl.jobs[i].files->truncated);
        }
    assert_int_equal(rep.tpl.n_disks, 1);
    assert_string_equal(rep.tpl.disks[0].state, "deleted");
    assert_int_equal(rep.tpl.n_leftovers, 0);
    _cleanup_free_ char *tgt = e2e_vol_path(e, &rep.tpl.disks[0].target, "");
    assert_int_equal(access(tgt, F_OK), -1);
    rpc_reply_free(&rep);
    assert_int_equal(e2e_volume_count(e), 1);
    _cleanup_free_ char *after = e2e_sd_listing(e);
    assert_string_equal(before, after);
    assert_source_untouched(e, &src, sha);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_sealed_template, e2e_setup, e2e_teardown),
        cmocka_unit_test_setup_teardown(test_windows_refused, e2e_setup, e2e_teardown),
    };
    if (!getenv("LIBGUESTFS_BACKEND"))
        setenv("LIBGUESTFS_BACKEND", "direct", 0);
    if (getenv("VMSEAL_TEST_FILTER")) /* e.g. VMSEAL_TEST_FILTER=test_windows_refused */
        cmocka_set_test_filter(getenv("VMSEAL_TEST_FILTER"));
    return cmocka_run_group_tests(tests, NULL, NULL);
}
