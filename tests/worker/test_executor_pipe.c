/* test_executor_pipe.c - the child -> parent pipe protocol of job processes
 * (worker/executor.h): what the child writes is what the parent reads, text
 * with tabs/newlines stays on one line, malformed lines are ignored, nothing
 * after the final line counts.  Label: unit. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <cmocka.h>

#include "err.h"
#include "executor.h"
#include "util.h"

/* Read everything the write end produced and feed it line by line. */
static void parse_all(int rfd, struct exec_outcome *out, int *n_progress, int *last_pct, char *last_step) {
    char buf[16384];
    ssize_t n = read(rfd, buf, sizeof(buf) - 1);
    assert_true(n > 0);
    buf[n] = '\0';
    char *save = NULL;
    for (char *line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        int pct = -1;
        char step[128];
        if (exec_line_parse(line, out, &pct, step, sizeof(step)) == EXEC_LINE_PROGRESS) {
            (*n_progress)++;
            *last_pct = pct;
            snprintf(last_step, 128, "%s", step);
        }
    }
}

static void test_round_trip(void **state) {
    int p[2];
    assert_int_equal(pipe(p), 0);
    struct exec_child c = { .fd = p[1] };
    exec_report_progress(&c, 10, "copying");
    exec_report_progress(&c, 150, "a\tstep\nwith breaks");
    exec_report_int(&c, "generation", 999);
    exec_report_int(&c, "cap_bytes", INT64_C(1) << 40);
    exec_report_str(&c, "voltype", "SHARED");
    exec_report_str(&c, "msg", "two\nlines\tand tab");
    exec_report_bool(&c, "deleted", true);
    /* the results wait for the final line: only the progress is in the pipe */
    int avail = -1;
    assert_int_equal(ioctl(p[0], FIONREAD, &avail), 0);
    assert_int_equal(avail, (int)(strlen("P\t10\tcopying\n") + strlen("P\t100\ta step with breaks\n")));
    exec_report_final(&c, 0, NULL);
    close(p[1]);

    struct exec_outcome out = { 0 };
    int n_progress = 0, last_pct = -1;
    char last_step[128] = "";
    parse_all(p[0], &out, &n_progress, &last_pct, last_step);
    close(p[0]);
    assert_int_equal(n_progress, 2);
    assert_int_equal(last_pct, 100); /* clamped */
    assert_string_equal(last_step, "a step with breaks");
    assert_true(out.final);
    assert_int_equal(out.err, 0);
    assert_int_equal(out.n_results, 5);
    assert_string_equal(out.results[0].key, "generation");
    assert_int_equal(out.results[0].type, KV_INT);
    assert_int_equal(out.results[0].i, 999);
    assert_int_equal(out.results[1].i, INT64_C(1) << 40);
    assert_int_equal(out.results[2].type, KV_STR);
    assert_string_equal(out.results[2].s, "SHARED");
    assert_string_equal(out.results[3].s, "two lines and tab");
    assert_int_equal(out.results[4].type, KV_BOOL);
    assert_int_equal(out.results[4].i, 1);
    exec_outcome_clear(&out);
    assert_int_equal(out.n_results, 0);
}

static void test_failure_line(void **state) {
    struct exec_outcome out = { 0 };
    int pct;
    char step[64];
    char line[128];
    snprintf(line, sizeof(line), "E\t%d\tvolume is at generation 3, expected 7", -VMS_E_GENERATION_MISMATCH);
    assert_int_equal(exec_line_parse(line, &out, &pct, step, sizeof(step)), EXEC_LINE_FINAL);
    assert_true(out.final);
    assert_int_equal(out.err, -VMS_E_GENERATION_MISMATCH);
    assert_string_equal(out.why, "volume is at generation 3, expected 7");
    /* nothing after the final line counts */
    char d[] = "D";
    assert_int_equal(exec_line_parse(d, &out, &pct, step, sizeof(step)), EXEC_LINE_IGNORED);
    assert_int_equal(out.err, -VMS_E_GENERATION_MISMATCH);
    char r[] = "R\tk\ti\t1";
    assert_int_equal(exec_line_parse(r, &out, &pct, step, sizeof(step)), EXEC_LINE_IGNORED);
    assert_int_equal(out.n_results, 0);
    exec_outcome_clear(&out);
}

static void test_malformed_ignored(void **state) {
    static const char *const bad[] = {
        "",
        "X",
        "P",
        "P\t",
        "P\tabc\tstep",
        "P\t-1\tstep",
        "P\t101\tstep",
        "P\t5x\tstep",
        "R",
        "R\tkey",
        "R\tkey\ti",
        "R\tkey\tq\t1",
        "R\tkey\ti\tnot-a-number",
        "R\tkey\tb\t2",
        "R\t\ti\t1",
        "E",
        "E\t0\tzero is not an error",
        "E\t5\tpositive",
        "E\tabc\tmsg",
        "D\textra",
        "Pgarbage",
        "F",
        "F\tlogfiles\tremoved\t/",
        "F\tlogfiles\tmoved\t/\t/x",
        "F\tLogFiles\tremoved\t/\t/x",
        "F\t\tremoved\t/\t/x",
    };
    struct exec_outcome out = { 0 };
    for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
        char line[64];
        int pct = -7;
        char step[32];
        snprintf(line, sizeof(line), "%s", bad[i]);
        assert_int_equal(exec_line_parse(line, &out, &pct, step, sizeof(step)), EXEC_LINE_IGNORED);
        assert_false(out.final);
        assert_int_equal(out.n_results, 0);
        assert_int_equal(out.files.n_ops, 0);
    }
    /* results beyond EXEC_MAX_RESULTS are dropped, not overflowed */
    for (int i = 0; i < EXEC_MAX_RESULTS + 5; i++) {
        char line[64];
        int pct;
        char step[8];
        snprintf(line, sizeof(line), "R\tk%d\ti\t%d", i, i);
        exec_line_parse(line, &out, &pct, step, sizeof(step));
    }
    assert_int_equal(out.n_results, EXEC_MAX_RESULTS);
    exec_outcome_clear(&out);
}

/* vm.seal's F lines: a guest path with a newline, a tab and ESC stays one
 * line and arrives escaped; one too long to carry is counted, not listed. */
static void test_file_lines(void **state) {
    (void)state;
    int p[2];
    assert_int_equal(pipe(p), 0);
    struct exec_child c = { .fd = p[1] };
    char *longer = xmalloc(PROTO_FILE_PATH_MAX + 2);
    memset(longer, 'l', PROTO_FILE_PATH_MAX + 1);
    longer[0] = '/';
    longer[PROTO_FILE_PATH_MAX + 1] = '\0';
    exec_report_file(&c, "tmp-files", FILE_REMOVED, "/", "/var/tmp/two\nlines\t\x1b[2J");
    exec_report_file(&c, "tmp-files", FILE_REMOVED, "/srv/My Data", longer);
    exec_report_file(&c, "hostname", FILE_CHANGED, "/", "/etc/hostname");
    exec_report_final(&c, 0, NULL);
    close(p[1]);
    free(longer);

    struct exec_outcome out = { 0 };
    int n_progress = 0, last_pct = -1;
    char last_step[128] = "";
    parse_all(p[0], &out, &n_progress, &last_pct, last_step);
    close(p[0]);
    assert_true(out.final);
    assert_int_equal(out.files.n_ops, 2);
    assert_string_equal(out.files.ops[0].name, "tmp-files");
    assert_int_equal(out.files.ops[0].removed, 2);
    assert_int_equal(out.files.ops[1].changed, 1);
    assert_int_equal(out.files.n_paths, 2);
    assert_string_equal(out.files.paths[0].path, "/var/tmp/two\\x0alines\\x09\\x1b[2J");
    assert_string_equal(out.files.paths[1].path, "/etc/hostname");
    assert_int_equal(out.files.paths[1].action, FILE_CHANGED);
    assert_true(out.files.truncated);
    exec_outcome_clear(&out);
    assert_int_equal(out.files.n_ops, 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_failure_line),
        cmocka_unit_test(test_malformed_ignored),
        cmocka_unit_test(test_file_lines),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
