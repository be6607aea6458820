/* runner.c - reusable job processes: the runner's loop (child side) and the
 * worker's pool of them (parent side).  See runner.h. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "executor.h"
#include "proto.h"
#include "runner.h"
#include "util.h"

/* ---- the runner process ------------------------------------------------ */

ssize_t runner_read_exact(int fd, void *buf, size_t len) {
    size_t got = 0;
    while (got < len) {
        ssize_t n = read(fd, (char *)buf + got, len - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return n == 0 && got == 0 ? 0 : -1;
        got += (size_t)n;
    }
    return (ssize_t)got;
}

/* One command: decode the job and run it, with the backstop armed. */
static void runner_job_run(struct exec_child *c, const struct runner_cmd *cmd, const char *body) {
    struct proto_job job;
    char why[ERR_WHY_LEN] = "";
    memset(&job, 0, sizeof(job));
    exec_backstop_arm(cmd->backstop_s);
    int r = proto_decode_job(body, cmd->body_len, &job, why);
    if (r < 0)
        exec_report_final(c, r, why); /* the worker decoded it already: cannot happen */
    else
        exec_job_run(c, &job);
    exec_backstop_arm(0);
    proto_job_free(&job);
}

_Noreturn void runner_main(const struct config *cfg, int result_fd, int command_fd) {
    char body[RUNNER_BODY_MAX];
    if (exec_process_setup(result_fd, command_fd) < 0)
        _exit(127);
    struct exec_child c = { .fd = EXEC_FD_RESULT, .cfg = cfg };
    for (;;) {
        struct runner_cmd cmd;
        ssize_t n = runner_read_exact(EXEC_FD_COMMAND, &cmd, sizeof(cmd));
        if (n == 0)
            _exit(0); /* the worker is gone (or dropped us) */
        if (n < 0 || cmd.body_len > RUNNER_BODY_MAX ||
            runner_read_exact(EXEC_FD_COMMAND, body, cmd.body_len) != (ssize_t)cmd.body_len)
            _exit(1); /* a broken command: the parent sees a job process die */
        runner_job_run(&c, &cmd, body);
    }
}

/* ---- the pool (the worker's side) --------------------------------------- */

static int runner_spawn(const struct config *cfg, struct runner **ret) {
    int res[2], cmd[2];
    if (pipe2(res, O_CLOEXEC) < 0)
        return -errno;
    if (pipe2(cmd, O_CLOEXEC) < 0) {
        int r = -errno;
        close(res[0]);
        close(res[1]);
        return r;
    }
    pid_t pid = fork();
    if (pid < 0) {
        int r = -errno;
        close(res[0]);
        close(res[1]);
        close(cmd[0]);
        close(cmd[1]);
        return r;
    }
    if (pid == 0) {
        setpgid(0, 0);
        runner_main(cfg, res[1], cmd[0]);
    }
    setpgid(pid, pid); /* both sides, so no kill(-pid) can race the child's own call */
    close(res[1]);
    close(cmd[0]);
    fcntl(res[0], F_SETFL, O_NONBLOCK);
    fcntl(cmd[1], F_SETFL, O_NONBLOCK);
    struct runner *r = xcalloc(1, sizeof(*r));
    r->pid = pid;
    r->res_fd = res[0];
    r->cmd_fd = cmd[1];
    *ret = r;
    return 0;
}

int runner_pool_acquire(struct runner_pool *p, const struct config *cfg, struct runner **ret) {
    struct runner *r;
    for (r = p->list; r; r = r->next)
        if (!r->busy)
            break;
    if (!r) {
        if (p->n >= p->max)
            return -EBUSY;
        int e = runner_spawn(cfg, &r);
        if (e < 0)
            return e;
        r->next = p->list;
        p->list = r;
        p->n++;
    }
    r->busy = true;
    *ret = r;
    return 0;
}

int runner_cmd_write(int fd, const void *body, size_t len, int backstop_s) {
    char *buf = xmalloc(sizeof(struct runner_cmd) + len);
    struct runner_cmd cmd = { .body_len = (uint32_t)len, .backstop_s = backstop_s };
    memcpy(buf, &cmd, sizeof(cmd));
    memcpy(buf + sizeof(cmd), body, len);
    ssize_t n;
    while ((n = write(fd, buf, sizeof(cmd) + len)) < 0 && errno == EINTR)
        ;
    int r = n < 0 ? -errno : 0;
    free(buf);
    if (r == 0 && n != (ssize_t)(sizeof(cmd) + len))
        r = -EIO;
    return r;
}

int runner_send(struct runner *r, const void *body, size_t len, int backstop_s) {
    if (len > RUNNER_BODY_MAX)
        return -E2BIG;
    return runner_cmd_write(r->cmd_fd, body, len, backstop_s); /* <= PIPE_BUF: whole or not at all */
}

void runner_pool_release(struct runner_pool *p, struct runner *r) {
    (void)p;
    r->busy = false;
}

struct runner *runner_pool_find(struct runner_pool *p, pid_t pid) {
    for (struct runner *r = p->list; r; r = r->next)
        if (r->pid == pid)
            return r;
    return NULL;
}

int runner_pool_detach(struct runner_pool *p, struct runner *r) {
    for (struct runner **pp = &p->list; *pp; pp = &(*pp)->next) {
        if (*pp == r) {
            *pp = r->next;
            p->n--;
            break;
        }
    }
    int fd = r->res_fd;
    close(r->cmd_fd);
    free(r);
    return fd;
}

void runner_pool_kill_all(struct runner_pool *p) {
    while (p->list) {
        struct runner *r = p->list;
        pid_t pid = r->pid;
        kill(-pid, SIGKILL);
        close(runner_pool_detach(p, r));
        while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
            ;
    }
}
