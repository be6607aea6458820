/* test_ctl_submit.c - `vmsealctl submit` refuses a sysprep operation that
 * does not exist (or one both enabled and disabled) locally: exit status 2
 * (usage error), a message naming it, and no connection to the broker at all.
 *
 * The config points vmsealctl at a TCP listener this test owns, so "nothing
 * was sent" is observed directly: no connection is ever queued on it.  A
 * valid request through the same config does connect (and then fails: the
 * listener never speaks AMQP), which shows the listener would have seen one. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "testutil.h"
#include "util.h"

#define DISK                                                                     \
    "11111111-1111-4111-8111-111111111111:22222222-2222-4222-8222-222222222222:" \
    "33333333-3333-4333-8333-333333333333"

struct fx {
    char *dir, *ctl, *cfg;
    int listen_fd;
};

static int fx_setup(void **state) {
    if (!getenv("VMSEAL_BUILD_DIR")) {
        fprintf(stderr, "VMSEAL_BUILD_DIR not set: run through ctest\n");
        return -1;
    }
    struct fx *f = xcalloc(1, sizeof *f);
    *state = f;
    if (testutil_dir_make("ctl-submit", &f->dir) < 0)
        return -1;
    f->ctl = testutil_build_path("bin/vmsealctl");
    f->listen_fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    socklen_t alen = sizeof a;
    if (f->listen_fd < 0 || bind(f->listen_fd, (struct sockaddr *)&a, sizeof a) < 0 ||
        listen(f->listen_fd, 8) < 0 || getsockname(f->listen_fd, (struct sockaddr *)&a, &alen) < 0) {
        perror("listener");
        return -1;
    }
    f->cfg = xasprintf("%s/vmsealctl.conf", f->dir);
    FILE *c = fopen(f->cfg, "w");
    if (!c)
        return -1;
    if (fchmod(fileno(c), 0600) < 0) { /* it holds a password */
        fclose(c);
        return -1;
    }
    fprintf(
        c,
        "broker = { hosts = [ \"127.0.0.1:%d\" ]; vhost = \"vmseal\"; user = \"producer\"; password = \"x\"; };\n",
        ntohs(a.sin_port));
    fclose(c);
    return 0;
}

static int fx_teardown(void **state) {
    struct fx *f = *state;
    if (f->listen_fd > 0)
        close(f->listen_fd);
    testutil_dir_remove(f->dir);
    free(f->dir);
    free(f->ctl);
    free(f->cfg);
    free(f);
    return 0;
}

/* vmsealctl submit with two more arguments; returns the exit status. */
static int submit(struct fx *f, const char *opt1, const char *val1, const char *opt2, const char *val2,
                  char **out) {
    const char *argv[] = { f->ctl, "submit", "--config", f->cfg, "--name", "t",  "--disk",
                           DISK,   "--seal", opt1,       val1,   opt2,     val2, NULL };
    return testutil_cmd_run(argv, 60000, out);
}

/* A connection is waiting on the listener (accepted and closed if so). */
static bool connection_queued(struct fx *f) {
    struct pollfd p = { .fd = f->listen_fd, .events = POLLIN };
    if (poll(&p, 1, 0) <= 0)
        return false;
    int c = accept(f->listen_fd, NULL, NULL);
    if (c >= 0)
        close(c);
    return true;
}

static void expect_refused(struct fx *f, const char *opt1, const char *val1, const char *opt2, const char *val2,
                           const char *needle) {
    char *out = NULL;
    int status = submit(f, opt1, val1, opt2, val2, &out);
    if (status != 2 || !strstr(out, needle))
        fail_msg("submit %s %s %s %s: status %d, output:\n%s(wanted status 2 and \"%s\")", opt1, val1,
                 opt2 ? opt2 : "", val2 ? val2 : "", status, out, needle);
    if (connection_queued(f))
        fail_msg("submit %s %s connected to the broker before refusing", opt1, val1);
    free(out);
}

static void test_unknown_op_refused_locally(void **state) {
    struct fx *f = *state;
    expect_refused(f, "--disable", "logfiles,ssh-hostkey", NULL, NULL,
                   "vmsealctl submit: --disable: unknown sysprep operation 'ssh-hostkey' "
                   "(did you mean 'ssh-hostkeys'?)");
    expect_refused(f, "--enable", "format-disk", NULL, NULL,
                   "vmsealctl submit: --enable: unknown sysprep operation 'format-disk'");
    expect_refused(f, "--enable", "firewall-rules", "--disable", "firewall-rules",
                   "vmsealctl submit: --disable: 'firewall-rules' is also in --enable");
    /* virt-sysprep's --operations and its rules */
    expect_refused(f, "--ops", "defaults,-tmp-file", NULL, NULL,
                   "vmsealctl submit: --operations: unknown sysprep operation '-tmp-file' (did you mean "
                   "'tmp-files'?)");
    expect_refused(f, "--operations", "defaults,", NULL, NULL,
                   "vmsealctl submit: --operations: empty operation name");
    expect_refused(f, "--operations", "defaults", "--enable", "utmp",
                   "vmsealctl submit: --enable may be given once, before any --operations");
    expect_refused(f, "--operations", "all,utmp", "--disable", "utmp",
                   "vmsealctl submit: --disable: 'utmp' is also in --operations");
}

static void test_help_lists_operations(void **state) {
    struct fx *f = *state;
    const char *argv[] = { f->ctl, "submit", "--help", NULL };
    char *out = NULL;
    assert_int_equal(testutil_cmd_run(argv, 60000, &out), 0);
    if (!strstr(out, "sysprep operations") || !strstr(out, " ssh-hostkeys*") || !strstr(out, " firewall-rules") ||
        strstr(out, "firewall-rules*") || !strstr(out, "--operations OPS") || !strstr(out, "runs ONLY these"))
        fail_msg("submit --help does not list the operations:\n%s", out);
    free(out);
}

/* The same command with known names gets past the check and connects. */
static void test_known_ops_go_to_the_broker(void **state) {
    struct fx *f = *state;
    char *out = NULL;
    int status = submit(f, "--disable", "logfiles,ssh-hostkeys", "--enable", "firewall-rules", &out);
    if (status != 1 || !strstr(out, "cannot reach the broker"))
        fail_msg("valid submit: status %d, output:\n%s", status, out);
    assert_true(connection_queued(f));
    free(out);
    status = submit(f, "--enable", "firewall-rules", "--operation", "defaults,-tmp-files,-all,utmp", &out);
    if (status != 1 || !strstr(out, "cannot reach the broker"))
        fail_msg("valid submit with --operations: status %d, output:\n%s", status, out);
    assert_true(connection_queued(f));
    free(out);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_unknown_op_refused_locally, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_help_lists_operations, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_known_ops_go_to_the_broker, fx_setup, fx_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
