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

static char *status_output(bool json) {
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
    ctl_status_print(f, &t, json);
    fclose(f);
    return buf;
}

static void test_status_text(void **state) {
    (void)state;
    char *out = status_output(false);
    assert_no_controls(out);
    assert_non_null(strstr(out, "tpl bad\\x0aline\\x1b[2J\\x0dend\\x5cx"));
    assert_non_null(strstr(out, "guest file /etc/bad\\x0aline"));
    assert_non_null(strstr(out, "/mnt/bad\\x0aline"));
    /* One line per item: template, state, created, error, disks, jobs, the job. */
    size_t lines = 0;
    for (const char *p = out; *p; p++)
        lines += *p == '\n';
    assert_int_equal(lines, 7);
    free(out);
}

static void test_status_json(void **state) {
    (void)state;
    char *out = status_output(true);
    assert_no_controls(out);
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
        cmocka_unit_test(test_status_text),
        cmocka_unit_test(test_status_json),
        cmocka_unit_test(test_event_line_and_view),
        cmocka_unit_test(test_print_line),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
