/* test_ctl_status.c - what vmsealctl prints of a template whose texts carry
 * control characters (a guest's file name in a seal error, a tenant's
 * template name): `status` as text and --json, an event line (watch, submit
 * --wait without a terminal) and the live view's final error.  Nothing
 * printed may hold a control character but the newline ending each line;
 * the JSON keeps the text, escaped.  Output goes to an open_memstream. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl_priv.h"

#define HOSTILE "bad\nline\x1b[2J\rend\\x"

/* No control character in text but the newline that ends each line. */
static void assert_no_controls(const char *text) {
    for (const unsigned char *p = (const unsigned char *)text; *p; p++)
        if (*p != '\n')
            assert_false(*p < 0x20 || *p == 0x7f);
}

/* A seal's files as the decoder hands them out: guest names escaped. */
static struct proto_file_op seal_ops[] = { { "tmp-files", 3, 0 }, { "hostname", 0, 1 } };
static struct proto_file seal_paths[] = {
    { "tmp-files", FILE_REMOVED, "/", "/var/tmp/two\\x0alines \\x1b[2J" },
    { "hostname", FILE_CHANGED, "/srv/My Data", "/srv/My Data/x\\x5cy" },
};
static struct proto_files seal_files = { seal_ops, 2, seal_paths, 2, 0, true };

enum out_mode { OUT_TEXT, OUT_JSON, OUT_FILES };

static char *status_output(enum out_mode mode, struct proto_files *files) {
    struct rpc_job job = {
        .job_id = "11111111-1111-4111-8111-111111111111",
        .kind = JOB_VM_SEAL,
        .step = HOSTILE,
        .disk = -1,
        .attempt = 1,
        .state = "failed",
        .progress = 40,
        .worker_id = "w1",
        .error_code = "incomplete_guest",
        .error_message = "fstab line 3: /dev/x for /mnt/" HOSTILE,
        .files = files,
    };
    struct rpc_template t = {
        .id = "22222222-2222-4222-8222-222222222222",
        .name = "tpl " HOSTILE,
        .state = "failed",
        .step = HOSTILE,
        .error_step = "seal",
        .error_code = "incomplete_guest",
        .error_message = "guest file /etc/" HOSTILE " is a FIFO",
        .jobs = &job,
        .n_jobs = 1,
    };
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    assert_non_null(f);
    if (mode == OUT_FILES)
        ctl_status_print_files(f, &t);
    else
        ctl_status_print(f, &t, mode == OUT_JSON);
    fclose(f);
    return buf;
}

static size_t count_lines(const char *s) {
    size_t lines = 0;
    for (const char *p = s; *p; p++)
        lines += *p == '\n';
    return lines;
}

static void test_status_text(void **state) {
    (void)state;
    char *out = status_output(OUT_TEXT, NULL);
    assert_no_controls(out);
    assert_non_null(strstr(out, "tpl bad\\x0aline\\x1b[2J\\x0dend\\x5cx"));
    assert_non_null(strstr(out, "guest file /etc/bad\\x0aline"));
    assert_non_null(strstr(out, "/mnt/bad\\x0aline"));
    /* One line per item: template, state, created, error, disks, jobs, the job. */
    assert_int_equal(count_lines(out), 7);
    free(out);
    /* a seal job with files: one line more, its counts */
    out = status_output(OUT_TEXT, &seal_files);
    assert_int_equal(count_lines(out), 8);
    assert_non_null(strstr(out, "files: 3 removed, 1 changed; 2 paths listed, truncated"));
    free(out);
}

/* --files: one line per path, the guest's escaped name printed once (not
 * escaped again), the counts per operation since the list is cut. */
static void test_status_files(void **state) {
    (void)state;
    char *out = status_output(OUT_FILES, &seal_files);
    assert_no_controls(out);
    assert_non_null(strstr(out, "seal job 11111111-1111-4111-8111-111111111111 attempt 1 (failed): 3 removed, "
                                "1 changed; 2 paths listed, truncated"));
    assert_non_null(strstr(out, "\n  total  tmp-files                3 removed, 0 changed\n"));
    assert_non_null(strstr(out, "\n  tmp-files                removed  /  /var/tmp/two\\x0alines \\x1b[2J\n"));
    assert_non_null(strstr(out, "\n  hostname                 changed  /srv/My Data  /srv/My Data/x\\x5cy\n"));
    assert_null(strstr(out, "\\x5cx0a"));
    assert_int_equal(count_lines(out), 5);
    free(out);
    out = status_output(OUT_FILES, NULL);
    assert_string_equal(out,
                        "no seal attempt of template 22222222-2222-4222-8222-222222222222 reported its files\n");
    free(out);
}

static void test_status_json(void **state) {
    (void)state;
    char *out = status_output(OUT_JSON, &seal_files);
    assert_no_controls(out);
    assert_non_null(strstr(out, "\"files\":{\"ops\":[{\"name\":\"tmp-files\",\"removed\":3,\"changed\":0}"));
    assert_non_null(strstr(out, "{\"op\":\"tmp-files\",\"action\":\"removed\",\"mountpoint\":\"/\","
                                "\"path\":\"/var/tmp/two\\\\x0alines \\\\x1b[2J\"}"));
    assert_non_null(strstr(out, "\"truncated\":true}"));
    assert_non_null(strstr(out, "\"name\":\"tpl bad\\nline\\u001b[2J\\rend\\\\x\""));
    assert_non_null(strstr(out, "\"message\":\"guest file /etc/bad\\nline\\u001b[2J\\rend\\\\x is a FIFO\""));
    free(out);
}

static void test_event_line_and_view(void **state) {
    (void)state;
    struct proto_event ev = {
        .job_id = "",
        .template_id = "22222222-2222-4222-8222-222222222222",
        .worker_id = "p1",
        .state = EV_FAILED,
        .progress = -1,
        .step = HOSTILE,
        .has_error = true,
        .error = { .code = "encrypted_guest", .message = "LUKS on /dev/sdb " HOSTILE, .permanent = true },
        .ts_ms = 1000,
    };
    char line[1024];
    ctl_event_line("template.failed", &ev, line, sizeof line);
    assert_no_controls(line);
    assert_null(strchr(line, '\n'));
    assert_non_null(strstr(line, "step=bad\\x0aline\\x1b[2J\\x0dend\\x5cx"));

    struct ctl_view *v = ctl_view_new(ev.template_id, "tpl\x1b]0;title\x07", true);
    assert_true(ctl_view_event(v, "template.failed", &ev));
    const struct ctl_view_final *fin = ctl_view_final(v);
    assert_non_null(fin);
    assert_no_controls(fin->step);
    assert_no_controls(fin->code);
    assert_no_controls(fin->message);
    assert_string_equal(fin->message, "LUKS on /dev/sdb bad\\x0aline\\x1b[2J\\x0dend\\x5cx");
    ctl_view_free(v);
}

static void test_print_line(void **state) {
    (void)state;
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    ctl_print_line(f, "worker=%s host=%s", "w\x7f", "h\t1");
    fclose(f);
    assert_string_equal(buf, "worker=w\\x7f host=h\\x091\n");
    free(buf);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_status_text), cmocka_unit_test(test_status_files),
        cmocka_unit_test(test_status_json), cmocka_unit_test(test_event_line_and_view),
        cmocka_unit_test(test_print_line),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
