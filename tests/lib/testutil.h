/* testutil.h - small helpers every vmseal test uses: temporary folders, child
 * processes in their own process group, polling a condition with a deadline,
 * and running a command with its output captured.
 *
 * All functions return 0 (or a documented non-negative value) on success and
 * a negative errno on failure; none of them prints, exits or calls cmocka, so
 * they work in setup/teardown as well as in tests.  Memory comes from
 * util.h's x* allocators (abort on OOM).
 */
#ifndef VMSEAL_TESTUTIL_H
#define VMSEAL_TESTUTIL_H

#include <stdbool.h>
#include <sys/types.h>

/* Create a fresh private folder $TMPDIR/vmseal-<name>-XXXXXX (TMPDIR defaults
 * to /tmp; mode 0700).  *ret_path is malloc'd. */
int testutil_dir_make(const char *name, char **ret_path);

/* rel (e.g. "bin/vmsealctl", "guests/debian.qcow2") below the build folder:
 * $VMSEAL_BUILD_DIR (ctest sets it), else the current folder.  Malloc'd. */
char *testutil_build_path(const char *rel);

/* Remove path and everything below it (never follows symlinks).  A missing
 * path is not an error.  NULL is accepted. */
int testutil_dir_remove(const char *path);

/* Start argv[0] (searched in PATH) as a child in its own process group.
 * env_add: NULL or a NULL-terminated list of "KEY=value" added to (or
 * replacing in) this process's environment for the child.  log_path: NULL to
 * inherit stdout/stderr, else both are appended to that file.  stdin is
 * /dev/null.  *ret_pid is the child (= its process group id). */
int testutil_proc_spawn(const char *const argv[], const char *const env_add[], const char *log_path,
                        pid_t *ret_pid);

/* Wait up to timeout_ms for the child pid to exit (timeout_ms < 0: forever).
 * *ret_status (may be NULL) gets the exit code, or 128 + signal number.
 * Returns -ETIMEDOUT when it is still running. */
int testutil_proc_wait(pid_t pid, int timeout_ms, int *ret_status);

/* Send sig to the child's whole process group, wait up to grace_ms for the
 * child to exit, then SIGKILL the group and reap the child; stragglers of the
 * group are SIGKILLed too.  *ret_status as for testutil_proc_wait.  pid <= 0
 * is a no-op returning 0. */
int testutil_proc_kill(pid_t pid, int sig, int grace_ms, int *ret_status);

/* Call cond_cb(arg) every interval_ms (default 50 when <= 0) until it returns
 * true (-> 0) or timeout_ms has passed (-> -ETIMEDOUT).  For readiness checks:
 * never sleep a guessed time, poll the real condition. */
int testutil_wait_for(bool (*cond_cb)(void *arg), void *arg, int timeout_ms, int interval_ms);

/* Run argv (PATH search) with stdin /dev/null, stdout and stderr captured
 * together into *ret_output (malloc'd, NUL-terminated; may be NULL to
 * discard).  Killed (whole process group) after timeout_ms (<= 0: 120000).
 * Returns the exit code (0..255), 128 + signal when killed by a signal,
 * -ETIMEDOUT, or -errno when it could not be started. */
int testutil_cmd_run(const char *const argv[], int timeout_ms, char **ret_output);

/* A TCP port on 127.0.0.1 that was free a moment ago (bound to port 0,
 * then closed), or a negative errno. */
int testutil_port_free(void);

/* GET http://127.0.0.1:port<path> (HTTP/1.0, 10 s).  The status code in
 * *ret_status, the body (malloc'd, NUL-terminated) in *ret_body.  0, or a
 * negative errno when nothing answered. */
int testutil_http_get(int port, const char *path, int *ret_status, char **ret_body);

#endif
