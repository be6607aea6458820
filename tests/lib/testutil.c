/* testutil.c - see testutil.h. */
#include "testutil.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "util.h"

extern char **environ;

static void sleep_ms(int ms) {
    struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L };
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
        ;
}

int testutil_dir_make(const char *name, char **ret_path) {
    const char *tmp = getenv("TMPDIR");
    char *path = xasprintf("%s/vmseal-%s-XXXXXX", tmp && *tmp ? tmp : "/tmp", name ? name : "test");

    if (!mkdtemp(path)) {
        int r = -errno;
        free(path);
        return r;
    }
    *ret_path = path;
    return 0;
}

/* Returns a positive errno to stop the walk (nftw hands it back). */
static int dir_remove_cb(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
    (void)st;
    (void)ftw;
    if ((flag == FTW_DP ? rmdir(path) : unlink(path)) < 0 && errno != ENOENT)
        return errno;
    return 0;
}

char *testutil_build_path(const char *rel) {
    const char *build = getenv("VMSEAL_BUILD_DIR");

    return xasprintf("%s/%s", build ? build : ".", rel);
}

int testutil_dir_remove(const char *path) {
    int r;

    if (!path)
        return 0;
    r = nftw(path, dir_remove_cb, 16, FTW_DEPTH | FTW_PHYS);
    if (r > 0)
        return -r;
    if (r < 0)
        return errno == ENOENT ? 0 : -errno;
    return 0;
}

/* environ plus env_add, where an added KEY=... replaces an existing KEY. */
static char **env_build(const char *const env_add[]) {
    size_t n_env = 0, n_add = 0, n = 0;
    char **env;

    while (environ[n_env])
        n_env++;
    while (env_add && env_add[n_add])
        n_add++;
    env = xcalloc(n_env + n_add + 1, sizeof(*env));
    for (size_t i = 0; i < n_env; i++) {
        bool replaced = false;
        for (size_t j = 0; j < n_add && !replaced; j++) {
            size_t k = strcspn(env_add[j], "=");
            replaced = strncmp(environ[i], env_add[j], k) == 0 && environ[i][k] == '=';
        }
        if (!replaced)
            env[n++] = environ[i];
    }
    for (size_t j = 0; j < n_add; j++)
        env[n++] = (char *)env_add[j];
    env[n] = NULL;
    return env;
}

/* The child side of a spawn: own process group, stdin /dev/null, stdout and
 * stderr to out_fd when >= 0; exec or _exit(127). */
static void child_exec(const char *const argv[], char **env, int out_fd) {
    int null_fd = open("/dev/null", O_RDONLY);

    setpgid(0, 0);
    if (null_fd >= 0)
        dup2(null_fd, STDIN_FILENO);
    if (out_fd >= 0) {
        dup2(out_fd, STDOUT_FILENO);
        dup2(out_fd, STDERR_FILENO);
    }
    execvpe(argv[0], (char *const *)argv, env);
    dprintf(STDERR_FILENO, "testutil: cannot run %s: %s\n", argv[0], strerror(errno));
    _exit(127);
}

static int spawn_fd(const char *const argv[], const char *const env_add[], int out_fd, pid_t *ret_pid) {
    char **env = env_build(env_add);
    pid_t pid = fork();

    if (pid < 0) {
        int r = -errno;
        free(env);
        return r;
    }
    if (pid == 0)
        child_exec(argv, env, out_fd);
    /* Also set it from the parent: no race with a kill right after spawn. */
    setpgid(pid, pid);
    free(env);
    *ret_pid = pid;
    return 0;
}

int testutil_proc_spawn(const char *const argv[], const char *const env_add[], const char *log_path,
                        pid_t *ret_pid) {
    int fd = -1, r;

    if (!argv || !argv[0] || !ret_pid)
        return -EINVAL;
    if (log_path) {
        fd = open(log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
        if (fd < 0)
            return -errno;
    }
    r = spawn_fd(argv, env_add, fd, ret_pid);
    if (fd >= 0)
        close(fd);
    return r;
}

static int status_code(int status) {
    if (WIFEXITED(status))
        return WEXITSTATUS(status);
    if (WIFSIGNALED(status))
        return 128 + WTERMSIG(status);
    return -1;
}

int testutil_proc_wait(pid_t pid, int timeout_ms, int *ret_status) {
    int64_t deadline = time_mono_ms() + timeout_ms;
    int status;

    for (;;) {
        pid_t r = waitpid(pid, &status, timeout_ms < 0 ? 0 : WNOHANG);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return -errno;
        if (r == pid) {
            if (ret_status)
                *ret_status = status_code(status);
            return 0;
        }
        if (time_mono_ms() >= deadline)
            return -ETIMEDOUT;
        sleep_ms(10);
    }
}

int testutil_proc_kill(pid_t pid, int sig, int grace_ms, int *ret_status) {
    int r;

    if (pid <= 0)
        return 0;
    kill(-pid, sig);
    r = testutil_proc_wait(pid, grace_ms, ret_status);
    if (r == -ETIMEDOUT) {
        kill(-pid, SIGKILL);
        r = testutil_proc_wait(pid, -1, ret_status);
    }
    kill(-pid, SIGKILL); /* stragglers of the group, if any */
    return r;
}

int testutil_wait_for(bool (*cond_cb)(void *arg), void *arg, int timeout_ms, int interval_ms) {
    int64_t deadline = time_mono_ms() + timeout_ms;

    if (interval_ms <= 0)
        interval_ms = 50;
    for (;;) {
        if (cond_cb(arg))
            return 0;
        if (time_mono_ms() >= deadline)
            return -ETIMEDOUT;
        sleep_ms(interval_ms);
    }
}

/* Read everything from fd into a growing buffer until EOF or the deadline. */
static int drain_fd(int fd, int64_t deadline, char **buf, size_t *len) {
    size_t cap = 4096;

    *buf = xmalloc(cap);
    *len = 0;
    for (;;) {
        int64_t left = deadline - time_mono_ms();
        struct pollfd p = { .fd = fd, .events = POLLIN };
        if (left <= 0)
            return -ETIMEDOUT;
        int n = poll(&p, 1, (int)(left > 1000 ? 1000 : left));
        if (n < 0 && errno != EINTR)
            return -errno;
        if (n <= 0)
            continue;
        if (cap - *len < 1024) {
            cap *= 2;
            *buf = xrealloc(*buf, cap);
        }
        ssize_t got = read(fd, *buf + *len, cap - *len - 1);
        if (got < 0 && errno == EINTR)
            continue;
        if (got <= 0)
            return got < 0 ? -errno : 0;
        *len += (size_t)got;
    }
}

int testutil_cmd_run(const char *const argv[], int timeout_ms, char **ret_output) {
    int pipe_fd[2], r, status = -1;
    pid_t pid;
    char *buf = NULL;
    size_t len = 0;

    if (!argv || !argv[0])
        return -EINVAL;
    if (timeout_ms <= 0)
        timeout_ms = 120000;
    if (pipe2(pipe_fd, O_CLOEXEC) < 0)
        return -errno;
    r = spawn_fd(argv, NULL, pipe_fd[1], &pid);
    close(pipe_fd[1]);
    if (r < 0) {
        close(pipe_fd[0]);
        return r;
    }
    r = drain_fd(pipe_fd[0], time_mono_ms() + timeout_ms, &buf, &len);
    close(pipe_fd[0]);
    buf[len] = '\0';
    if (r == -ETIMEDOUT) {
        testutil_proc_kill(pid, SIGKILL, 0, NULL);
    } else {
        int w = testutil_proc_wait(pid, -1, &status);
        r = w < 0 ? w : status;
    }
    if (ret_output)
        *ret_output = buf;
    else
        free(buf);
    return r;
}

int testutil_port_free(void) {
    struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    socklen_t len = sizeof sa;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    int r = bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0 || getsockname(fd, (struct sockaddr *)&sa, &len) < 0
                ? -errno
                : ntohs(sa.sin_port);
    close(fd);
    return r;
}

int testutil_http_get(int port, const char *path, int *ret_status, char **ret_body) {
    struct sockaddr_in sa = { .sin_family = AF_INET,
                              .sin_port = htons((uint16_t)port),
                              .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    struct timeval tv = { .tv_sec = 10 };
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    char *req = xasprintf("GET %s HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n", path);
    char *resp = NULL;
    size_t len = 0;
    int r = connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0 ? -errno : write_all(fd, req, strlen(req));
    for (ssize_t n = 1; r == 0 && n > 0;) {
        resp = xrealloc(resp, len + 4097);
        n = read(fd, resp + len, 4096);
        if (n < 0)
            r = -errno;
        else
            len += (size_t)n;
    }
    close(fd);
    free(req);
    const char *body = resp && r == 0 ? strstr(resp, "\r\n\r\n") : NULL;
    if (r == 0 && (!body || sscanf(resp, "HTTP/1.%*d %d", ret_status) != 1))
        r = -EPROTO;
    if (r == 0) {
        resp[len] = '\0';
        *ret_body = xstrdup(body + 4);
    }
    free(resp);
    return r;
}
