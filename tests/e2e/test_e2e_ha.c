/* test_e2e_ha.c - producers on two "hosts" (separate folders, no shared
 * file) over one PostgreSQL database (issue 16; registered with
 * VMSEAL_TEST_STORE=pg only: without the private cluster it fails).
 *
 * Each checks the producers' log and what `systemctl status` would show
 * (sd_notify STATUS= on a $NOTIFY_SOCKET of the test's).
 *   kill_active       SIGKILL of the active producer with 50 sealed
 *                     workflows in flight: the standby, which said it was
 *                     one, takes over; all 50 end READY, each job's effect
 *                     once (GEN 2, every step succeeded once per disk, no
 *                     orphan volume).
 *   connection_cut    the same, the active producer's database connection
 *                     terminated (pg_terminate_backend) instead: it pauses,
 *                     the standby takes over.
 *   database_restart  one producer, the private cluster restarted mid-run:
 *                     the producer pauses, reconnects, loses nothing. */
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cmocka.h>

#include "e2e.h"
#include "err.h"
#include "testpg.h"
#include "testutil.h"
#include "util.h"

#define N_FLOWS       50
#define HA_TIMEOUT_MS 120000

struct ha {
    struct e2e *e;
    int notify_fd;       /* the producers' $NOTIFY_SOCKET (systemctl status) */
    char notified[8192]; /* every STATUS= received, one a line */
    char *conf_b;        /* host b's copy of producer.conf */
    struct proto_vol_ref src[N_FLOWS];
    proto_uuid tid[N_FLOWS];
};

/* How many lines of a process's log contain text. */
static int log_has(struct e2e *e, const char *name, const char *text) {
    for (size_t i = 0; i < e->n_procs; i++) {
        if (strcmp(e->procs[i].name, name) != 0)
            continue;
        _cleanup_free_ char *out = NULL;
        const char *argv[] = { "grep", "-c", "--", text, e->procs[i].log, NULL };
        testutil_cmd_run(argv, 5000, &out);
        if (out && atoi(out) > 0)
            return atoi(out);
    }
    return 0;
}

struct log_wait {
    struct e2e *e;
    const char *name, *text;
};

static bool log_has_cb(void *arg) {
    struct log_wait *w = arg;
    return log_has(w->e, w->name, w->text) > 0;
}

static void log_wait(struct e2e *e, const char *name, const char *text, int timeout_ms) {
    struct log_wait w = { e, name, text };
    if (testutil_wait_for(log_has_cb, &w, timeout_ms, 100) < 0) {
        e2e_dump_logs(e);
        fail_msg("%s did not log \"%s\" within %d ms", name, text, timeout_ms);
    }
}

/* A $NOTIFY_SOCKET for the producers started after this: what `systemctl
 * status` would show. */
static void notify_open(struct ha *h) {
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    snprintf(sa.sun_path, sizeof sa.sun_path, "%s/notify", h->e->dir);
    h->notify_fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    assert_true(h->notify_fd >= 0);
    assert_int_equal(bind(h->notify_fd, (struct sockaddr *)&sa, sizeof sa), 0);
    assert_int_equal(setenv("NOTIFY_SOCKET", sa.sun_path, 1), 0);
}

static void notify_close(struct ha *h) {
    unsetenv("NOTIFY_SOCKET");
    close(h->notify_fd);
}

struct notify_wait {
    struct ha *h;
    const char *text;
};

static bool notified_cb(void *arg) {
    struct notify_wait *w = arg;
    char buf[1024];
    ssize_t n;
    while ((n = recv(w->h->notify_fd, buf, sizeof buf - 1, 0)) > 0) {
        buf[n] = '\0';
        size_t len = strlen(w->h->notified);
        snprintf(w->h->notified + len, sizeof w->h->notified - len, "%s\n", buf);
    }
    return strstr(w->h->notified, w->text) != NULL;
}

/* Wait until a producer reported STATUS=<text...>. */
static void notify_wait(struct ha *h, const char *text, int timeout_ms) {
    struct notify_wait w = { h, text };
    if (testutil_wait_for(notified_cb, &w, timeout_ms, 50) < 0)
        fail_msg("no \"%s\" within %d ms; statuses:\n%s", text, timeout_ms, h->notified);
}

/* Host b: a folder of its own with its copy of the configuration. */
static void host_b_make(struct ha *h) {
    _cleanup_free_ char *dir = xasprintf("%s/host-b", h->e->dir), *text = NULL;
    size_t len;
    assert_int_equal(mkdir(dir, 0700), 0);
    assert_int_equal(read_file_all(h->e->producer_conf, 1 << 20, &text, &len), 0);
    h->conf_b = xasprintf("%s/producer.conf", dir);
    FILE *f = fopen(h->conf_b, "w");
    assert_non_null(f);
    assert_int_equal(fchmod(fileno(f), 0600), 0);
    fputs(text, f);
    fclose(f);
}

/* Sources made, n sealed templates submitted, then the workers started (so
 * that all n are in flight together, however slowly they went in), and the
 * first template's seal running. */
static void flows_start(struct ha *h, size_t n, int seal_ms) {
    pid_t w;
    for (size_t i = 0; i < n; i++)
        assert_int_equal(e2e_source_make(h->e, 64 * 1024, &h->src[i]), 0);
    for (size_t i = 0; i < n; i++) {
        char name[32];
        snprintf(name, sizeof name, "ha-%zu", i);
        assert_int_equal(e2e_submit(h->e, name, &h->src[i], 1, true, h->tid[i]), 0);
    }
    /* the workers' own STATUS= would fill the producers' notify socket */
    _cleanup_free_ char *notify = getenv("NOTIFY_SOCKET") ? xstrdup(getenv("NOTIFY_SOCKET")) : NULL;
    unsetenv("NOTIFY_SOCKET");
    assert_int_equal(e2e_worker_start(h->e, "w1", true, seal_ms, 16, &w), 0);
    assert_int_equal(e2e_worker_start(h->e, "w2", true, seal_ms, 16, &w), 0);
    if (notify)
        assert_int_equal(setenv("NOTIFY_SOCKET", notify, 1), 0);
    assert_int_equal(e2e_wait_job_running(h->e, h->tid[0], JOB_VM_SEAL, HA_TIMEOUT_MS), 0);
}

static void flows_check(struct ha *h, size_t n) {
    size_t ended = 0;
    for (size_t i = 0; i < n; i++) {
        struct rpc_reply rep;
        assert_int_equal(e2e_status(h->e, h->tid[i], &rep), 0);
        ended += rep.ok && strcmp(rep.tpl.state, "creating") != 0;
        rpc_reply_free(&rep);
    }
    fprintf(stderr, "ha: %zu of %zu templates had ended when the producer was back\n", ended, n);
    for (size_t i = 0; i < n; i++)
        assert_int_equal(e2e_assert_ready(h->e, h->tid[i], HA_TIMEOUT_MS), 1);
    assert_int_equal(e2e_volume_count(h->e), (int)(2 * n));
}

/* The backend of the producer holding the lease of this test's schema. */
static void active_connection_cut(struct e2e *e) {
    _cleanup_free_ char *sql =
        xasprintf("SELECT pg_terminate_backend(l.pid) FROM pg_locks l JOIN pg_stat_activity s USING (pid)"
                  " WHERE l.locktype = 'advisory' AND l.granted AND s.datname = current_database()"
                  " AND l.objid = (hashtextextended('vmseal.lease.%s', 0) & 4294967295)::oid",
                  e->db_schema);
    assert_int_equal(testpg_sql(sql), 0);
}

static void takeover(void **state, bool kill) {
    struct ha h = { .e = *state };
    pid_t pa, pb;
    host_b_make(&h);
    notify_open(&h);
    assert_int_equal(e2e_producer_start(h.e, "producer-a", true, &pa), 0);
    notify_wait(&h, "STATUS=active (postgresql database)", 5000);
    assert_int_equal(e2e_producer_start_with(h.e, "producer-b", h.conf_b, false, &pb), 0);
    log_wait(h.e, "producer-b", "standby: producer-a", 20000);
    notify_wait(&h, "STATUS=standby: producer-a", 5000);
    h.notified[0] = '\0';
    flows_start(&h, N_FLOWS, 1500);
    int64_t t0 = time_mono_ms();
    if (kill)
        e2e_kill(h.e, pa);
    else
        active_connection_cut(h.e);
    if (!kill) { /* at once: it watches its connection */
        log_wait(h.e, "producer-a", "paused (", 5000);
        fprintf(stderr, "ha: producer-a paused %lld ms after the fault\n", (long long)(time_mono_ms() - t0));
    }
    log_wait(h.e, "producer-b", "taking over as the active producer", 10000);
    fprintf(stderr, "ha: producer-b active %lld ms after the fault\n", (long long)(time_mono_ms() - t0));
    notify_wait(&h, "STATUS=active", 5000);
    if (!kill)
        notify_wait(&h, "STATUS=paused: database connection lost", 5000);
    flows_check(&h, N_FLOWS);
    if (!kill) { /* producer-a came back as the standby */
        log_wait(h.e, "producer-a", "standby: producer-b", 10000);
        notify_wait(&h, "STATUS=standby: producer-b", 5000);
    }
    notify_close(&h);
    free(h.conf_b);
}

static void test_ha_kill_active(void **state) { takeover(state, true); }
static void test_ha_connection_cut(void **state) { takeover(state, false); }

static void test_ha_database_restart(void **state) {
    struct ha h = { .e = *state };
    pid_t pa;
    notify_open(&h);
    assert_int_equal(e2e_producer_start(h.e, "producer-a", true, &pa), 0);
    flows_start(&h, 20, 4000);
    int64_t t0 = time_mono_ms();
    assert_int_equal(testpg_cluster_restart(), 0);
    fprintf(stderr, "ha: cluster restarted in %lld ms\n", (long long)(time_mono_ms() - t0));
    log_wait(h.e, "producer-a", "paused", 10000);
    notify_wait(&h, "STATUS=paused", 10000);
    log_wait(h.e, "producer-a", "taking over as the active producer", 30000);
    fprintf(stderr, "ha: producer-a active again %lld ms after the restart began\n",
            (long long)(time_mono_ms() - t0));
    flows_check(&h, 20);
    notify_close(&h);
}

int main(void) {
    if (!testpg_wanted()) {
        fprintf(stderr, "test_e2e_ha runs on PostgreSQL only: VMSEAL_TEST_STORE=pg (ctest sets it)\n");
        return 1;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_ha_kill_active, e2e_setup, e2e_teardown),
        cmocka_unit_test_setup_teardown(test_ha_connection_cut, e2e_setup, e2e_teardown),
        cmocka_unit_test_setup_teardown(test_ha_database_restart, e2e_setup, e2e_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
