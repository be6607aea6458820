/* test_testutil.c - the shared test helpers do what their header says. */
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "testutil.h"
#include "util.h"

static void test_dir_make_remove(void **state) {
    char *dir = NULL, *sub, *file;
    struct stat st;

    assert_int_equal(testutil_dir_make("tu", &dir), 0);
    assert_int_equal(stat(dir, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0700);
    sub = xasprintf("%s/a/b", dir);
    file = xasprintf("%s/a/b/f", dir);
    {
        char *a = xasprintf("%s/a", dir);
        assert_int_equal(mkdir(a, 0755), 0);
        assert_int_equal(mkdir(sub, 0755), 0);
        free(a);
    }
    FILE *f = fopen(file, "w");
    assert_non_null(f);
    fclose(f);
    assert_int_equal(testutil_dir_remove(dir), 0);
    assert_int_equal(stat(dir, &st), -1);
    assert_int_equal(testutil_dir_remove(dir), 0); /* missing: fine */
    free(sub);
    free(file);
    free(dir);
}

static void test_cmd_run(void **state) {
    char *out = NULL;
    const char *echo[] = { "sh", "-c", "echo out; echo err >&2; exit 3", NULL };
    const char *missing[] = { "/nonexistent/binary", NULL };
    const char *slow[] = { "sleep", "30", NULL };
    int64_t t0;

    assert_int_equal(testutil_cmd_run(echo, 5000, &out), 3);
    assert_non_null(strstr(out, "out\n"));
    assert_non_null(strstr(out, "err\n"));
    free(out);

    assert_int_equal(testutil_cmd_run(missing, 5000, NULL), 127);

    t0 = time_mono_ms();
    assert_int_equal(testutil_cmd_run(slow, 300, NULL), -ETIMEDOUT);
    assert_true(time_mono_ms() - t0 < 5000);
}

static bool file_exists_cb(void *arg) { return access((const char *)arg, F_OK) == 0; }

/* True when pid no longer runs (gone, or a zombie not yet reaped by init). */
static bool proc_gone_cb(void *arg) {
    pid_t pid = *(pid_t *)arg;
    char *path = xasprintf("/proc/%d/stat", (int)pid), *st = NULL;
    size_t len;
    bool gone = true;

    if (read_file_all(path, 4096, &st, &len) == 0) {
        const char *p = strrchr(st, ')');
        gone = p && p[1] && p[2] == 'Z';
        free(st);
    }
    free(path);
    return gone;
}

/* A spawned shell with a background grandchild: kill takes the whole group. */
static void test_spawn_kill_group(void **state) {
    char *dir = NULL, *ready, *log, *script;
    pid_t pid;
    int status = -1;

    assert_int_equal(testutil_dir_make("tu", &dir), 0);
    ready = xasprintf("%s/ready", dir);
    log = xasprintf("%s/log", dir);
    script =
        xasprintf("sleep 300 & echo $! > %s.tmp; echo \"$VMSEAL_TU\"; mv %s.tmp %s; wait", ready, ready, ready);
    const char *argv[] = { "sh", "-c", script, NULL };
    const char *env[] = { "VMSEAL_TU=hello", NULL };

    assert_int_equal(testutil_proc_spawn(argv, env, log, &pid), 0);
    assert_int_equal(getpgid(pid), pid);
    assert_int_equal(testutil_wait_for(file_exists_cb, ready, 10000, 10), 0);

    char *buf = NULL;
    size_t len;
    assert_int_equal(read_file_all(ready, 64, &buf, &len), 0);
    pid_t grandchild = (pid_t)atoi(buf);
    free(buf);
    assert_true(grandchild > 0);
    assert_int_equal(kill(grandchild, 0), 0);

    assert_int_equal(testutil_proc_kill(pid, SIGTERM, 5000, &status), 0);
    assert_int_equal(status, 128 + SIGTERM);
    /* The grandchild was in the group: it dies too. */
    assert_int_equal(testutil_wait_for(proc_gone_cb, &grandchild, 5000, 10), 0);

    assert_int_equal(read_file_all(log, 4096, &buf, &len), 0);
    assert_string_equal(buf, "hello\n");
    free(buf);

    assert_int_equal(testutil_dir_remove(dir), 0);
    free(ready);
    free(log);
    free(script);
    free(dir);
}

static void test_proc_wait_timeout(void **state) {
    const char *argv[] = { "sleep", "30", NULL };
    pid_t pid;
    int status = -1;

    assert_int_equal(testutil_proc_spawn(argv, NULL, NULL, &pid), 0);
    assert_int_equal(testutil_proc_wait(pid, 100, &status), -ETIMEDOUT);
    assert_int_equal(testutil_proc_kill(pid, SIGKILL, 1000, &status), 0);
    assert_int_equal(status, 128 + SIGKILL);
    assert_int_equal(testutil_proc_kill(0, SIGKILL, 0, NULL), 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dir_make_remove),
        cmocka_unit_test(test_cmd_run),
        cmocka_unit_test(test_spawn_kill_group),
        cmocka_unit_test(test_proc_wait_timeout),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
