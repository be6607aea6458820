/* test_metrics.c - common/metrics: the exposition text of each type, the
 * HTTP endpoint, listen addresses refused, NULL registries. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "metrics.h"
#include "testutil.h"
#include "util.h"

static const struct metrics_family fams[] = {
    { "t_jobs_total", METRICS_COUNTER, "Jobs" },
    { "t_busy", METRICS_GAUGE, "Busy" },
    { "t_seconds", METRICS_HISTOGRAM, "Durations" },
};

static void test_render(void **state) {
    struct metrics *m;
    char why[ERR_WHY_LEN] = "";
    int port = testutil_port_free();
    _cleanup_free_ char *listen = xasprintf("127.0.0.1:%d", port);
    assert_int_equal(metrics_new(fams, ARRAY_SIZE(fams), listen, &m, why), 0);
    metrics_add(m, "t_jobs_total", "kind=\"a\"", 1);
    metrics_add(m, "t_jobs_total", "kind=\"a\"", 2);
    metrics_add(m, "t_jobs_total", "kind=\"b\"", 1);
    metrics_set(m, "t_busy", NULL, 3);
    metrics_add(m, "t_busy", NULL, -1);
    metrics_observe(m, "t_seconds", "step=\"x\"", 0.2);
    metrics_observe(m, "t_seconds", "step=\"x\"", 7);
    metrics_observe(m, "t_seconds", NULL, 5000);
    metrics_set(m, "t_jobs_total", NULL, 9);  /* a counter cannot be set */
    metrics_observe(m, "t_unknown", NULL, 1); /* undeclared: ignored */
    char *text = metrics_render(m);
    static const char *const want[] = {
        "# HELP t_jobs_total Jobs\n# TYPE t_jobs_total counter\n",
        "\nt_jobs_total{kind=\"a\"} 3\n",
        "\nt_jobs_total{kind=\"b\"} 1\n",
        "# TYPE t_busy gauge\nt_busy 2\n",
        "# TYPE t_seconds histogram\n",
        "\nt_seconds_bucket{step=\"x\",le=\"0.1\"} 0\n",
        "\nt_seconds_bucket{step=\"x\",le=\"0.5\"} 1\n",
        "\nt_seconds_bucket{step=\"x\",le=\"5\"} 1\n",
        "\nt_seconds_bucket{step=\"x\",le=\"10\"} 2\n",
        "\nt_seconds_bucket{step=\"x\",le=\"+Inf\"} 2\n",
        "\nt_seconds_sum{step=\"x\"} 7.2",
        "\nt_seconds_count{step=\"x\"} 2\n",
        "\nt_seconds_bucket{le=\"3600\"} 0\n",
        "\nt_seconds_bucket{le=\"+Inf\"} 1\n",
        "\nt_seconds_count 1\n",
    };
    for (size_t i = 0; i < ARRAY_SIZE(want); i++)
        if (!strstr(text, want[i]))
            fail_msg("missing \"%s\" in:\n%s", want[i], text);
    assert_null(strstr(text, "t_jobs_total 9"));
    assert_null(strstr(text, "t_unknown"));
    /* The same text over HTTP. */
    int status = 0;
    char *body = NULL;
    assert_int_equal(testutil_http_get(port, "/metrics", &status, &body), 0);
    assert_int_equal(status, 200);
    assert_string_equal(body, text);
    free(body);
    assert_int_equal(testutil_http_get(port, "/", &status, &body), 0);
    assert_int_equal(status, 404);
    free(body);
    free(text);
    /* The port is taken now. */
    struct metrics *m2 = NULL;
    assert_true(metrics_new(fams, ARRAY_SIZE(fams), listen, &m2, why) < 0);
    assert_non_null(strstr(why, listen));
    metrics_free(m);
}

static void test_listen_refused(void **state) {
    static const char *const bad[] = { "9464",        "127.0.0.1",       "127.0.0.1:",
                                       "127.0.0.1:0", "127.0.0.1:65536", "localhost:9464",
                                       ":9464",       "127.0.0.1:94x",   "[::1:9464" };
    for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
        struct metrics *m = NULL;
        char why[ERR_WHY_LEN] = "";
        assert_int_equal(metrics_new(fams, ARRAY_SIZE(fams), bad[i], &m, why), -VMS_E_INVALID);
        assert_non_null(strstr(why, bad[i]));
        assert_null(m);
    }
    /* IPv6 in brackets is fine. */
    struct metrics *m = NULL;
    char why[ERR_WHY_LEN] = "";
    _cleanup_free_ char *v6 = xasprintf("[::1]:%d", testutil_port_free());
    int r = metrics_new(fams, ARRAY_SIZE(fams), v6, &m, why);
    if (r < 0)
        fail_msg("%s: %s", v6, why);
    metrics_free(m);
}

static void test_null_registry(void **state) {
    metrics_add(NULL, "t_jobs_total", NULL, 1);
    metrics_set(NULL, "t_busy", NULL, 1);
    metrics_observe(NULL, "t_seconds", NULL, 1);
    metrics_free(NULL);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_render),
        cmocka_unit_test(test_listen_refused),
        cmocka_unit_test(test_null_registry),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
