/* test_e2e_systemd.c - the daemons' sd_notify messages as systemd would get
 * them: each process started with NOTIFY_SOCKET (a datagram socket of the
 * test) and WATCHDOG_USEC.  READY=1 once connected and consuming (the
 * standby producer too, with a STATUS saying standby), STATUS lines, and
 * WATCHDOG=1 from the main loops at half the interval. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "e2e.h"
#include "testutil.h"
#include "util.h"

struct notify {
    int fd;
    char *env[3]; /* NOTIFY_SOCKET=..., WATCHDOG_USEC=..., NULL */
    char *seen;   /* every datagram so far, one per line */
};

static void notify_open(struct e2e *e, const char *name, struct notify *n) {
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    snprintf(sa.sun_path, sizeof sa.sun_path, "%s/%s.notify", e->dir, name);
    n->fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    assert_true(n->fd >= 0);
    assert_int_equal(bind(n->fd, (struct sockaddr *)&sa, sizeof sa), 0);
    n->env[0] = xasprintf("NOTIFY_SOCKET=%s", sa.sun_path);
    n->env[1] = xstrdup("WATCHDOG_USEC=1000000");
    n->env[2] = NULL;
    n->seen = xstrdup("\n");
    e->env_add = (const char *const *)n->env;
}

static void notify_close(struct notify *n) {
    close(n->fd);
    free(n->env[0]);
    free(n->env[1]);
    free(n->seen);
}

/* Keep what has arrived (a full socket would block the sender's
 * sd_notify, as systemd never lets happen). */
static void notify_drain(struct notify *n) {
    char buf[512];
    ssize_t r;
    while ((r = recv(n->fd, buf, sizeof buf - 1, MSG_DONTWAIT)) > 0) {
        buf[r] = '\0';
        char *more = xasprintf("%s%s\n", n->seen, buf);
        free(n->seen);
        n->seen = more;
    }
}

/* Read datagrams until `line` was seen `times` times (20 s). */
static void notify_expect(struct notify *n, const char *line, int times) {
    _cleanup_free_ char *needle = xasprintf("\n%s\n", line);
    int64_t end = time_mono_ms() + 20000;
    for (;;) {
        int count = 0;
        for (const char *p = n->seen; (p = strstr(p, needle)); p++)
            count++;
        if (count >= times)
            return;
        int64_t left = end - time_mono_ms();
        struct pollfd p = { .fd = n->fd, .events = POLLIN };
        if (left <= 0 || poll(&p, 1, (int)left) != 1)
            fail_msg("\"%s\" not seen %d times; got:%s", line, times, n->seen);
        char buf[512];
        ssize_t r = recv(n->fd, buf, sizeof buf - 1, 0);
        buf[r > 0 ? r : 0] = '\0';
        char *more = xasprintf("%s%s\n", n->seen, buf);
        free(n->seen);
        n->seen = more;
    }
}

static void test_notify_ready_status_watchdog(void **state) {
    struct e2e *e = *state;
    struct notify np, ns, nw;
    pid_t pa, pb, w;

    notify_open(e, "producer-a", &np);
    assert_int_equal(e2e_producer_start(e, "producer-a", true, &pa), 0);
    notify_expect(&np, "READY=1", 1);
    notify_expect(&np, "STATUS=active (sqlite database), broker connected, 0 jobs in flight", 1);
    notify_expect(&np, "WATCHDOG=1", 3); /* every 500 ms */

    notify_open(e, "producer-b", &ns);
    assert_int_equal(e2e_producer_start(e, "producer-b", false, &pb), 0);
    _cleanup_free_ char *standby =
        xasprintf("STATUS=standby: the holder of %s.lock is the active producer", e->db);
    notify_expect(&ns, "READY=1", 1);
    notify_expect(&ns, standby, 1);
    notify_expect(&ns, "WATCHDOG=1", 3); /* while waiting for the lock */

    notify_open(e, "w1", &nw);
    assert_int_equal(e2e_worker_start(e, "w1", true, 4000, 2, &w), 0);
    notify_expect(&nw, "READY=1", 1);
    notify_expect(&nw, "STATUS=vmseal.jobs.default: 0 of 2 slots busy, broker connected", 1);
    notify_expect(&nw, "WATCHDOG=1", 3);

    /* A seal running (4 s): one slot busy, one job in flight. */
    struct proto_vol_ref src;
    assert_int_equal(e2e_source_make(e, 1024 * 1024, &src), 0);
    proto_uuid tid;
    assert_int_equal(e2e_submit(e, "status", &src, 1, true, tid), 0);
    assert_int_equal(e2e_wait_job_running(e, tid, JOB_VM_SEAL, 60000), 0);
    notify_expect(&nw, "STATUS=vmseal.jobs.default: 1 of 2 slots busy, broker connected", 1);
    notify_expect(&np, "STATUS=active (sqlite database), broker connected, 1 job in flight", 1);
    bool ready = false;
    for (int64_t end = time_mono_ms() + 60000; !ready && time_mono_ms() < end; usleep(100 * 1000)) {
        notify_drain(&np);
        notify_drain(&ns);
        notify_drain(&nw);
        struct rpc_reply rep;
        if (e2e_status(e, tid, &rep) == 0) {
            ready = rep.ok && strcmp(rep.tpl.state, "ready") == 0;
            rpc_reply_free(&rep);
        }
    }
    assert_true(ready);

    /* The active producer dies: the standby takes over and says so. */
    e2e_kill(e, pa);
    notify_expect(&ns, "STATUS=active (sqlite database), broker connected, 0 jobs in flight", 1);
    e->env_add = NULL;
    notify_close(&np);
    notify_close(&ns);
    notify_close(&nw);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_notify_ready_status_watchdog, e2e_setup, e2e_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
