/* test_service.c - common/systemd: what reaches $NOTIFY_SOCKET (a real
 * datagram socket here), and the journald fields of log records
 * (sd_journal_sendv wrapped: -Wl,--wrap=sd_journal_sendv). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <unistd.h>

#include "log.h"
#include "service.h"
#include "testutil.h"
#include "util.h"

/* ---- the journal seam --------------------------------------------------- */

static char journal_fields[1024]; /* the last record's fields, "\n"-separated */
static int journal_records;

int __wrap_sd_journal_sendv(const struct iovec *iov, int n);
int __wrap_sd_journal_sendv(const struct iovec *iov, int n) {
    size_t len = 0;
    for (int i = 0; i < n; i++)
        len += (size_t)snprintf(journal_fields + len, sizeof journal_fields - len, "%.*s\n", (int)iov[i].iov_len,
                                (const char *)iov[i].iov_base);
    journal_records++;
    return 0;
}

static void expect_field(const char *field) {
    _cleanup_free_ char *line = xasprintf("%s\n", field);
    if (!strstr(journal_fields, line))
        fail_msg("no field %s in:\n%s", field, journal_fields);
}

/* ---- the notify socket -------------------------------------------------- */

struct sfx {
    char *dir;
    int fd;
};

/* The next datagram within timeout_ms into out ("" when none came). */
static void notify_read(struct sfx *f, int timeout_ms, char *out, size_t len) {
    struct pollfd p = { .fd = f->fd, .events = POLLIN };
    out[0] = '\0';
    if (poll(&p, 1, timeout_ms) == 1) {
        ssize_t n = recv(f->fd, out, len - 1, 0);
        out[n > 0 ? n : 0] = '\0';
    }
}

static int sfx_setup(void **state) {
    struct sfx *f = xcalloc(1, sizeof *f);
    if (testutil_dir_make("service", &f->dir) < 0)
        return -1;
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    snprintf(sa.sun_path, sizeof sa.sun_path, "%s/notify", f->dir);
    f->fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (f->fd < 0 || bind(f->fd, (struct sockaddr *)&sa, sizeof sa) < 0)
        return -1;
    setenv("NOTIFY_SOCKET", sa.sun_path, 1);
    setenv("WATCHDOG_USEC", "400000", 1);
    *state = f;
    return 0;
}

static int sfx_teardown(void **state) {
    struct sfx *f = *state;
    close(f->fd);
    testutil_dir_remove(f->dir);
    free(f->dir);
    free(f);
    unsetenv("NOTIFY_SOCKET");
    unsetenv("WATCHDOG_USEC");
    return 0;
}

static void test_notify(void **state) {
    struct sfx *f = *state;
    char msg[256];
    service_init();
    assert_int_equal(service_watchdog_ms(), 200);
    service_ready();
    notify_read(f, 1000, msg, sizeof msg);
    assert_string_equal(msg, "READY=1");
    service_ready(); /* once only */
    service_status("active, broker %s", "connected");
    notify_read(f, 1000, msg, sizeof msg);
    assert_string_equal(msg, "STATUS=active, broker connected");
    service_status("active, broker connected"); /* unchanged: not sent */
    service_watchdog();
    notify_read(f, 1000, msg, sizeof msg);
    assert_string_equal(msg, "WATCHDOG=1");
    service_watchdog(); /* within half the interval: not sent */
    notify_read(f, 50, msg, sizeof msg);
    assert_string_equal(msg, "");
    usleep(210 * 1000);
    service_watchdog();
    notify_read(f, 1000, msg, sizeof msg);
    assert_string_equal(msg, "WATCHDOG=1");
    service_stopping();
    notify_read(f, 1000, msg, sizeof msg);
    assert_string_equal(msg, "STOPPING=1");
}

static void test_journal_fields(void **state) {
    service_journal_sink(LOG_LVL_WARN, "worker[h1]",
                         "job=J1 template=T1 kind=vm.seal attempt=2 worker=w1 step=seal error=timeout",
                         "failed after 5 ms");
    expect_field("PRIORITY=4");
    expect_field("SYSLOG_IDENTIFIER=worker[h1]");
    expect_field("JOB_ID=J1");
    expect_field("TEMPLATE_ID=T1");
    expect_field("WORKER=w1");
    expect_field("STEP=seal");
    expect_field("ERROR=timeout");
    expect_field("VMSEAL_KIND=vm.seal");
    expect_field("VMSEAL_ATTEMPT=2");
    expect_field("MESSAGE=job=J1 template=T1 kind=vm.seal attempt=2 worker=w1 step=seal error=timeout: "
                 "failed after 5 ms");
    service_journal_sink(LOG_LVL_INFO, "producer", NULL, "plain");
    expect_field("MESSAGE=plain");
    assert_null(strstr(journal_fields, "TEMPLATE_ID"));
}

/* Log records go to the journal only when stderr is the journal's stream. */
static void test_journal_stream(void **state) {
    int before = journal_records;
    log_info("not under journald");
    assert_int_equal(journal_records, before);
    struct stat st;
    assert_int_equal(fstat(2, &st), 0);
    _cleanup_free_ char *js = xasprintf("%llu:%llu", (unsigned long long)st.st_dev, (unsigned long long)st.st_ino);
    setenv("JOURNAL_STREAM", js, 1);
    service_init();
    log_msg(LOG_LVL_NOTICE, "template=T9", "under journald");
    assert_int_equal(journal_records, before + 1);
    expect_field("PRIORITY=5");
    expect_field("TEMPLATE_ID=T9");
    expect_field("MESSAGE=template=T9: under journald");
    log_set_sink(NULL);
    unsetenv("JOURNAL_STREAM");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_notify, sfx_setup, sfx_teardown),
        cmocka_unit_test(test_journal_fields),
        cmocka_unit_test(test_journal_stream),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
