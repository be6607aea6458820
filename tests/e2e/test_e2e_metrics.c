/* test_e2e_metrics.c - the Prometheus endpoints of a producer and a dry-run
 * worker (producer.metrics_listen, worker.metrics_listen), scraped before,
 * during and after a sealed template's workflow, and their values checked
 * against what the workflow did; the configured retry policy and timeouts,
 * and `vmsealctl dead --requeue/--purge`, observed through them. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "e2e.h"
#include "testutil.h"
#include "util.h"

#define FLOW_TIMEOUT_MS 60000
#define SEAL_MS         3000

struct scrape {
    int port;
    const char *line; /* a whole line of the exposition, e.g. "vmseal_worker_slots 2" */
};

static bool scrape_has_cb(void *arg) {
    const struct scrape *s = arg;
    int status = 0;
    char *body = NULL;
    if (testutil_http_get(s->port, "/metrics", &status, &body) < 0)
        return false;
    _cleanup_free_ char *line = xasprintf("\n%s\n", s->line);
    _cleanup_free_ char *text = xasprintf("\n%s", body);
    free(body);
    return status == 200 && strstr(text, line) != NULL;
}

/* Poll the endpoint until it shows `line` (the producer reads the store's
 * gauges every 2 s). */
static void expect_line(int port, const char *line) {
    struct scrape s = { port, line };
    if (testutil_wait_for(scrape_has_cb, &s, 10000, 100) < 0) {
        int status = 0;
        char *body = NULL;
        if (testutil_http_get(port, "/metrics", &status, &body) == 0)
            fprintf(stderr, "---- port %d (HTTP %d)\n%s", port, status, body);
        free(body);
        fail_msg("port %d: no line \"%s\"", port, line);
    }
}

/* The value of the series `name` (exact, labels included). */
static double value_of(int port, const char *name) {
    int status = 0;
    char *body = NULL;
    assert_int_equal(testutil_http_get(port, "/metrics", &status, &body), 0);
    assert_int_equal(status, 200);
    _cleanup_free_ char *key = xasprintf("\n%s ", name);
    _cleanup_free_ char *text = xasprintf("\n%s", body);
    free(body);
    const char *at = strstr(text, key);
    if (!at)
        fail_msg("port %d: no series %s", port, name);
    return strtod(at + strlen(key), NULL);
}

static void test_metrics_during_and_after(void **state) {
    struct e2e *e = *state;
    int pport = testutil_port_free(), wport = testutil_port_free();
    assert_true(pport > 0 && wport > 0 && pport != wport);
    _cleanup_free_ char *pextra = xasprintf("metrics_listen = \"127.0.0.1:%d\";", pport);
    _cleanup_free_ char *wextra = xasprintf("metrics_listen = \"127.0.0.1:%d\";", wport);
    assert_int_equal(e2e_producer_conf_write(e, pextra), 0);
    e->worker_extra = wextra;
    pid_t producer, worker;
    assert_int_equal(e2e_producer_start(e, "producer-m", true, &producer), 0);
    assert_int_equal(e2e_worker_start(e, "wm", true, SEAL_MS, 2, &worker), 0);

    /* Before: up, connected, idle. */
    expect_line(pport, "vmseal_producer_active 1");
    expect_line(pport, "vmseal_broker_connected 1");
    expect_line(pport, "vmseal_outbox_rows 0");
    expect_line(wport, "vmseal_worker_slots 2");
    expect_line(wport, "vmseal_worker_slots_busy 0");
    expect_line(wport, "vmseal_broker_connected 1");
    int status = 0;
    char *body = NULL;
    assert_int_equal(testutil_http_get(wport, "/nothing", &status, &body), 0);
    assert_int_equal(status, 404);
    free(body);

    /* During the seal: one slot busy, the copy done, one template creating. */
    struct proto_vol_ref src;
    assert_int_equal(e2e_source_make(e, 1024 * 1024, &src), 0);
    proto_uuid tid;
    assert_int_equal(e2e_submit(e, "metrics", &src, 1, true, tid), 0);
    assert_int_equal(e2e_wait_job_running(e, tid, JOB_VM_SEAL, FLOW_TIMEOUT_MS), 0);
    expect_line(wport, "vmseal_worker_slots_busy 1");
    expect_line(pport, "vmseal_templates{state=\"creating\"} 1");
    expect_line(pport, "vmseal_job_attempts_total{kind=\"volume.copy\",outcome=\"succeeded\"} 1");
    expect_line(pport, "vmseal_step_duration_seconds_count{step=\"copy\"} 1");
    expect_line(wport, "vmseal_worker_job_duration_seconds_count{kind=\"volume.copy\",outcome=\"succeeded\"} 1");

    /* After: ready, every step timed once, the seal took SEAL_MS. */
    assert_int_equal(e2e_wait_state(e, tid, "ready", FLOW_TIMEOUT_MS, NULL), 0);
    expect_line(pport, "vmseal_templates{state=\"ready\"} 1");
    expect_line(pport, "vmseal_templates{state=\"creating\"} 0");
    expect_line(pport, "vmseal_outbox_rows 0");
    expect_line(wport, "vmseal_worker_slots_busy 0");
    static const char *const steps[] = { "copy", "mark_illegal", "seal", "mark_shared" };
    for (size_t i = 0; i < ARRAY_SIZE(steps); i++) {
        _cleanup_free_ char *line = xasprintf("vmseal_step_duration_seconds_count{step=\"%s\"} 1", steps[i]);
        expect_line(pport, line);
    }
    expect_line(pport, "vmseal_job_attempts_total{kind=\"vm.seal\",outcome=\"succeeded\"} 1");
    expect_line(pport, "vmseal_job_attempts_total{kind=\"volume.update\",outcome=\"succeeded\"} 2");
    double seal_s = value_of(pport, "vmseal_step_duration_seconds_sum{step=\"seal\"}");
    assert_true(seal_s >= SEAL_MS / 1000.0 && seal_s < 30);
    assert_int_equal((int)value_of(pport, "vmseal_step_duration_seconds_bucket{step=\"seal\",le=\"1\"}"), 0);
    assert_int_equal((int)value_of(pport, "vmseal_step_duration_seconds_bucket{step=\"seal\",le=\"+Inf\"}"), 1);
    double wseal_s =
        value_of(wport, "vmseal_worker_job_duration_seconds_sum{kind=\"vm.seal\",outcome=\"succeeded\"}");
    assert_true(wseal_s >= SEAL_MS / 1000.0 && wseal_s <= seal_s);
    expect_line(wport, "vmseal_worker_seal_phase_seconds_count{phase=\"sleeping (dry-run)\"} 1");
    /* Nothing failed, nothing was dead-lettered or rejected. */
    _cleanup_free_ char *none = NULL;
    assert_int_equal(testutil_http_get(pport, "/metrics", &status, &none), 0);
    assert_null(strstr(none, "vmseal_job_failures_total{"));
    assert_null(strstr(none, "vmseal_dead_letters_total{"));
    assert_null(strstr(none, "\nvmseal_requests_rejected_total "));
}

/* The producer's retry policy and per-kind timeouts from its configuration:
 * a seal timeout of 1 s (the dry-run seal takes 5 s; the worker applies the
 * smaller of its own 3600 s and the job's 1 s) fails each of the three
 * attempts with `timeout`, 100 ms apart; the counters say so. */
static void test_timeouts_and_retry_configured(void **state) {
    struct e2e *e = *state;
    int pport = testutil_port_free(), wport = testutil_port_free();
    assert_true(pport > 0 && wport > 0 && pport != wport);
    _cleanup_free_ char *pextra = xasprintf("metrics_listen = \"127.0.0.1:%d\"; timeouts_s = { seal = 1; };"
                                            " retry = { backoff_base_ms = 100; backoff_max_ms = 100; };",
                                            pport);
    _cleanup_free_ char *wextra = xasprintf("metrics_listen = \"127.0.0.1:%d\";", wport);
    assert_int_equal(e2e_producer_conf_write(e, pextra), 0);
    e->worker_extra = wextra;
    pid_t producer, worker;
    assert_int_equal(e2e_producer_start(e, "producer-m", true, &producer), 0);
    assert_int_equal(e2e_worker_start(e, "wm", true, 5000, 1, &worker), 0);
    struct proto_vol_ref src;
    assert_int_equal(e2e_source_make(e, 1024 * 1024, &src), 0);
    proto_uuid tid;
    assert_int_equal(e2e_submit(e, "timeouts", &src, 1, true, tid), 0);
    assert_int_equal(e2e_wait_state(e, tid, "failed", FLOW_TIMEOUT_MS, NULL), 0);
    expect_line(pport, "vmseal_job_failures_total{kind=\"vm.seal\",code=\"timeout\"} 3");
    expect_line(pport, "vmseal_job_attempts_total{kind=\"vm.seal\",outcome=\"failed\"} 3");
    expect_line(pport, "vmseal_templates{state=\"failed\"} 1");
    expect_line(wport, "vmseal_worker_job_failures_total{kind=\"vm.seal\",code=\"timeout\"} 3");
    double worker_s =
        value_of(wport, "vmseal_worker_job_duration_seconds_sum{kind=\"vm.seal\",outcome=\"failed\"}");
    assert_true(worker_s >= 3 * 1.0 && worker_s < 3 * 4.0); /* killed after 1 s each, not 5 */
}

struct dead_wait {
    struct e2e *e;
    const char *needle;
    char *out; /* the last `dead --json` output */
};

static bool dead_has_cb(void *arg) {
    struct dead_wait *d = arg;
    free(d->out);
    d->out = NULL;
    return e2e_ctl(d->e, &d->out, "dead", "--json", NULL) == 0 && strstr(d->out, d->needle);
}

/* vmsealctl dead --requeue ID puts a dead letter back where it came from
 * (a rejected request: vmseal.requests, where the producer rejects it
 * again, as its counter shows), --purge empties vmseal.dead. */
static void test_dead_requeue_purge(void **state) {
    struct e2e *e = *state;
    int pport = testutil_port_free();
    _cleanup_free_ char *pextra = xasprintf("metrics_listen = \"127.0.0.1:%d\";", pport);
    assert_int_equal(e2e_producer_conf_write(e, pextra), 0);
    pid_t producer;
    assert_int_equal(e2e_producer_start(e, "producer-m", true, &producer), 0);
    proto_uuid tid, sd, img, vol;
    uuid_new(tid);
    uuid_new(sd);
    uuid_new(img);
    uuid_new(vol);
    _cleanup_free_ char *disk = xasprintf("%s:%s:%s", sd, img, vol);
    char *out = NULL;
    assert_int_equal(e2e_ctl(e, &out, "submit", "--id", tid, "--name", "rejected", "--disk", disk, NULL), 0);
    free(out);
    struct dead_wait d = { e, tid, NULL };
    assert_int_equal(testutil_wait_for(dead_has_cb, &d, 20000, 200), 0);
    expect_line(pport, "vmseal_requests_rejected_total 1");
    expect_line(pport, "vmseal_dead_letters_total{queue=\"vmseal.requests\"} 1");
    const char *mid = strstr(d.out, "\"message_id\":\"");
    assert_non_null(mid);
    _cleanup_free_ char *message_id = xstrndup(mid + strlen("\"message_id\":\""), 36);

    assert_int_equal(e2e_ctl(e, &out, "dead", "--requeue", message_id, NULL), 0);
    _cleanup_free_ char *said = xasprintf("requeued %s to vmseal.requests", message_id);
    if (!strstr(out, said))
        fail_msg("dead --requeue said:\n%s", out);
    free(out);
    expect_line(pport, "vmseal_requests_rejected_total 2"); /* it went back and was rejected again */
    assert_int_equal(testutil_wait_for(dead_has_cb, &d, 20000, 200), 0);
    assert_int_equal(e2e_ctl(e, &out, "dead", NULL), 0);
    assert_non_null(strstr(out, "1 dead letter in vmseal.dead"));
    free(out);

    proto_uuid none;
    uuid_new(none);
    assert_int_equal(e2e_ctl(e, &out, "dead", "--requeue", none, NULL), 1);
    assert_non_null(strstr(out, "no such dead letter"));
    free(out);
    assert_int_equal(e2e_ctl(e, &out, "dead", "--requeue", none, "--purge", NULL), 2);
    free(out);
    assert_int_equal(e2e_ctl(e, &out, "dead", "--purge", NULL), 0);
    assert_non_null(strstr(out, "purged 1 dead letter from vmseal.dead"));
    free(out);
    assert_int_equal(e2e_ctl(e, &out, "dead", NULL), 0);
    assert_non_null(strstr(out, "0 dead letters in vmseal.dead"));
    free(out);
    free(d.out);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_dead_requeue_purge, e2e_setup, e2e_teardown),
        cmocka_unit_test_setup_teardown(test_timeouts_and_retry_configured, e2e_setup, e2e_teardown),
        cmocka_unit_test_setup_teardown(test_metrics_during_and_after, e2e_setup, e2e_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
