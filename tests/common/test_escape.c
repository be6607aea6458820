/* test_escape.c - str_escape() (common/util.h) and the log lines of the
 * daemons (common/log.c): a guest's file name or a tenant's template name
 * with control characters never reaches a terminal or the journal raw. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "util.h"

static void test_str_escape(void **state) {
    (void)state;
    char out[64];
    assert_string_equal(str_escape("/var/log/a\nb\x1b[31m\rc\\d\x7f", out, sizeof out),
                        "/var/log/a\\x0ab\\x1b[31m\\x0dc\\x5cd\\x7f");
    assert_string_equal(str_escape("plain /etc/hostname é", out, sizeof out), "plain /etc/hostname é");
    assert_string_equal(str_escape(NULL, out, sizeof out), "");
    /* UTF-8 passes; C1 controls, stray and overlong bytes do not. */
    assert_string_equal(str_escape("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80", out, sizeof out),
                        "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80");
    assert_string_equal(str_escape("a\xc2\x9b"
                                   "2J\xff\xc0\xaf\xe2\x82",
                                   out, sizeof out),
                        "a\\xc2\\x9b"
                        "2J\\xff\\xc0\\xaf\\xe2\\x82");
    assert_string_equal(str_escape("\xed\xa0\x80", out, sizeof out), "\\xed\\xa0\\x80"); /* surrogate */
    /* Cut before an escape that does not fit, always terminated. */
    assert_string_equal(str_escape("ab\ncd", out, 6), "ab");
    assert_string_equal(str_escape("ab\ncd", out, 7), "ab\\x0a");
    assert_string_equal(str_escape("abc", out, 1), "");
    assert_string_equal(str_escape("a\xe2\x82\xac", out, 4), "a"); /* a character is not cut */
}

/* str_is_escaped(): what str_escape() writes, and only that. */
static void test_str_is_escaped(void **state) {
    (void)state;
    static const char *const raw[] = { "/var/tmp/two\nlines \x1b[2J", "a\\b\x7f", "caf\xc3\xa9 \xc2\x9b\xff", "" };
    char out[128];
    for (size_t i = 0; i < ARRAY_SIZE(raw); i++)
        assert_true(str_is_escaped(str_escape(raw[i], out, sizeof out)));
    assert_true(str_is_escaped("\\x41 is not canonical, but unambiguous"));
    assert_false(str_is_escaped("a\nb")); /* a raw control character */
    assert_false(str_is_escaped("a\xc2\x9b"
                                "b")); /* a raw C1 control */
    assert_false(str_is_escaped("a\xff"
                                "b"));           /* not UTF-8 */
    assert_false(str_is_escaped("C:\\Windows")); /* a backslash that is no escape */
    assert_false(str_is_escaped("a\\x0Ab"));     /* uppercase hex */
    assert_false(str_is_escaped("a\\x0"));       /* cut short */
}

struct fixture {
    char path[64];
    int saved_stderr;
};

static int setup(void **state) {
    struct fixture *f = calloc(1, sizeof(*f));
    snprintf(f->path, sizeof(f->path), "/tmp/test_escape.XXXXXX");
    int fd = mkstemp(f->path);
    if (fd < 0)
        return -1;
    fflush(stderr);
    f->saved_stderr = dup(STDERR_FILENO);
    dup2(fd, STDERR_FILENO);
    close(fd);
    *state = f;
    return 0;
}

static int teardown(void **state) {
    struct fixture *f = *state;
    fflush(stderr);
    dup2(f->saved_stderr, STDERR_FILENO);
    close(f->saved_stderr);
    unlink(f->path);
    free(f);
    return 0;
}

static void test_log_line(void **state) {
    struct fixture *f = *state;
    log_set_component("worker[h1]");
    log_msg(LOG_LVL_WARN, "template=t1", "removed /tmp/%s", "x\ny\x1b]0;pwned\x07\rz");
    fflush(stderr);
    char *buf = NULL;
    size_t len = 0;
    assert_int_equal(read_file_all(f->path, 1 << 16, &buf, &len), 0);
    assert_string_equal(buf, "<4>worker[h1] template=t1: removed /tmp/x y\\x1b]0;pwned\\x07\\x0dz\n");
    free(buf);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_str_escape),
        cmocka_unit_test(test_str_is_escaped),
        cmocka_unit_test_setup_teardown(test_log_line, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
