/* test_seal_log.c - the JSON seal report (worker/seal_log.c): paths grouped
 * by operation and filesystem, guest names escaped, failures reported. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "err.h"
#include "seal_log.h"
#include "util.h"

struct fixture {
    char dir[64];
    char *path;
};

static int setup(void **state) {
    struct fixture *f = calloc(1, sizeof(*f));
    snprintf(f->dir, sizeof(f->dir), "/tmp/test_seal_log.XXXXXX");
    if (!mkdtemp(f->dir))
        return -1;
    f->path = xasprintf("%s/report.json", f->dir);
    *state = f;
    return 0;
}

static int teardown(void **state) {
    struct fixture *f = *state;
    unlink(f->path);
    rmdir(f->dir);
    free(f->path);
    free(f);
    return 0;
}

static char *slurp(const char *path) {
    char *buf = NULL;
    size_t len = 0;
    assert_int_equal(read_file_all(path, 1 << 20, &buf, &len), 0);
    return buf;
}

static void report_fill(struct seal_report *rep) {
    memset(rep, 0, sizeof(*rep));
    snprintf(rep->root_device, sizeof(rep->root_device), "/dev/vg0/root");
    snprintf(rep->distro, sizeof(rep->distro), "debian");
    rep->family = SEAL_FAMILY_DEBIAN;
    const char *mps[] = { "/", "/var", "/var/lib/big" };
    for (size_t i = 0; i < 3; i++) {
        snprintf(rep->fs[i].device, sizeof(rep->fs[i].device), "/dev/sd%c", (char)('a' + i));
        snprintf(rep->fs[i].type, sizeof(rep->fs[i].type), "ext4");
        snprintf(rep->fs[i].mountpoint, sizeof(rep->fs[i].mountpoint), "%s", mps[i]);
    }
    rep->n_fs = 3;
    snprintf(rep->missing[0].device, sizeof(rep->missing[0].device), "LABEL=backup");
    snprintf(rep->missing[0].type, sizeof(rep->missing[0].type), "allowed");
    snprintf(rep->missing[0].mountpoint, sizeof(rep->missing[0].mountpoint), "/backup");
    rep->n_missing = 1;
    rep->ops[0] = (struct seal_op_result){ "logfiles", 3, 0, 12 };
    rep->ops[1] = (struct seal_op_result){ "hostname", 0, 1, 2 };
    rep->n_ops = 2;
}

static void test_grouped(void **state) {
    struct fixture *f = *state;
    struct seal_report rep;
    report_fill(&rep);
    struct seal_log *l = seal_log_new();
    seal_log_event(l, SEAL_EV_PHASE, "launch", "starting");
    seal_log_event(l, SEAL_EV_REMOVED, "logfiles", "/var/log/syslog");
    seal_log_event(l, SEAL_EV_REMOVED, "logfiles", "/varnish.log");
    seal_log_event(l, SEAL_EV_REMOVED, "logfiles", "/var/lib/big/x.log");
    seal_log_event(l, SEAL_EV_CHANGED, "hostname", "/etc/hostname");
    seal_log_event(l, SEAL_EV_PHASE, "skip", "/tmp/x: /tmp is a symlink in the guest, left alone");
    seal_log_event(l, SEAL_EV_REMOVED, "logfiles", "/var/tmp/evil\nname\x1b[2J\"q\\");
    assert_int_equal(seal_log_write_json(l, &rep, 0, NULL, f->path), 0);
    seal_log_free(l);
    seal_log_free(NULL);
    char *s = slurp(f->path);
    static const char *const want[] = {
        "\"result\":\"sealed\"",
        "\"filesystems\":[{\"device\":\"/dev/sda\",\"type\":\"ext4\",\"mountpoint\":\"/\"}",
        "\"not_sealed\":[{\"spec\":\"LABEL=backup\",\"reason\":\"allow-missing\",\"mountpoint\":\"/backup\"}]",
        "{\"name\":\"logfiles\",\"removed\":3,\"changed\":0,\"ms\":12,\"filesystems\":["
        "{\"mountpoint\":\"/\",\"removed\":[\"/varnish.log\"],\"changed\":[]},"
        "{\"mountpoint\":\"/var\",\"removed\":[\"/var/log/syslog\",\"/var/tmp/"
        "evil\\nname\\u001b[2J\\\"q\\\\\"],\"changed\":[]},"
        "{\"mountpoint\":\"/var/lib/big\",\"removed\":[\"/var/lib/big/x.log\"],\"changed\":[]}]}",
        "{\"name\":\"hostname\",\"removed\":0,\"changed\":1,\"ms\":2,\"filesystems\":["
        "{\"mountpoint\":\"/\",\"removed\":[],\"changed\":[\"/etc/hostname\"]}]}",
        "\"skipped\":[\"/tmp/x: /tmp is a symlink in the guest, left alone\"]",
    };
    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++)
        if (!strstr(s, want[i]))
            fail_msg("missing %s in\n%s", want[i], s);
    assert_null(strchr(s, '\x1b'));
    assert_null(strstr(s, "\"error\""));
    assert_non_null(strstr(s, "\"dry_run\":false"));
    free(s);

    /* a dry run says so: the paths are what a seal would remove */
    rep.dry_run = true;
    l = seal_log_new();
    seal_log_event(l, SEAL_EV_REMOVED, "logfiles", "/var/log/syslog");
    assert_int_equal(seal_log_write_json(l, &rep, 0, NULL, f->path), 0);
    seal_log_free(l);
    s = slurp(f->path);
    if (!strstr(s, "\"result\":\"dry-run\",\"dry_run\":true,") || !strstr(s, "\"/var/log/syslog\""))
        fail_msg("unexpected dry-run report:\n%s", s);
    free(s);
}

static void test_failed(void **state) {
    struct fixture *f = *state;
    struct seal_report rep;
    memset(&rep, 0, sizeof(rep));
    struct seal_log *l = seal_log_new();
    assert_int_equal(seal_log_write_json(l, &rep, -VMS_E_INCOMPLETE_GUEST, "fstab line 3 \"x\"", f->path), 0);
    seal_log_free(l);
    char *s = slurp(f->path);
    if (!strstr(s, "\"result\":\"failed\",\"error\":{\"code\":\"incomplete_guest\","
                   "\"message\":\"fstab line 3 \\\"x\\\"\",\"permanent\":true}"))
        fail_msg("unexpected report:\n%s", s);
    free(s);
    /* A folder that does not exist: -ENOENT, nothing left behind. */
    assert_int_equal(seal_log_write_json(l = seal_log_new(), &rep, 0, NULL, "/nonexistent-dir/r.json"), -ENOENT);
    seal_log_free(l);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_grouped, setup, teardown),
        cmocka_unit_test_setup_teardown(test_failed, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
