/* warm.c - the warm seal process: a job process forked ahead of the next
 * vm.seal job, which launches an appliance with no guest disk in it
 * (seal_warm_start, seal.h) and then waits for its one job.
 *
 * worker.guestfs.warm = true (real executor only): whenever the worker has a
 * free slot, is not draining and has no warm process, it forks one
 * (warm_tick).  A vm.seal job then goes to it (warm_take) instead of a fresh
 * fork: the command pipe carries the job exactly as for a runner (runner.h:
 * struct runner_cmd, then the job's msgpack body), and from there on it is
 * the job's process, like a fresh child: its result pipe, its process
 * group, its exit ends the job.  It serves that one job and exits, so no
 * appliance ever sees two templates; the next idle moment starts another.
 *
 * The appliance costs memory while it waits (about what a seal's appliance
 * takes at its start).  A warm start that fails leaves the process waiting
 * all the same: its job launches a fresh appliance (seal_run says so in a
 * "launch" phase message).  A warm process that dies before its job (qemu
 * or the process killed) is reaped and replaced no sooner than
 * WARM_RETRY_MS later.  At EOF on its command pipe (the worker is gone or
 * drops it) it closes the appliance and exits.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "executor.h"
#include "log.h"
#include "runtime_int.h"
#include "seal.h"
#include "util.h"

#define WARM_RETRY_MS 10000
/* A job body is written in one go into the (empty) pipe: at most what a
 * pipe holds by default; a longer one gets a fresh fork. */
#define WARM_BODY_MAX (60 * 1024)

struct warm {
    pid_t pid; /* also its process group */
    int cmd_fd, res_fd;
};

/* ---- the warm process ---- */

static _Noreturn void warm_main(const struct config *cfg, int result_fd, int command_fd) {
    if (exec_process_setup(result_fd, command_fd) < 0)
        _exit(127);
    const struct config_worker *cw = &cfg->worker;
    struct seal_opts opts = {
        .backend = cw->guestfs_backend,
        .backend_settings = cw->guestfs_backend_settings,
        .n_backend_settings = cw->n_guestfs_backend_settings,
        .memsize_mb = cw->guestfs_memsize_mb,
    };
    struct exec_child c = { .fd = EXEC_FD_RESULT, .cfg = cfg };
    char why[ERR_WHY_LEN] = "";
    int64_t launch_ms = 0;
    if (seal_warm_start(&opts, &c.warm, &launch_ms, why) < 0)
        log_warn("warm appliance: %s (the next seal launches its own)", why);
    else
        log_info("warm appliance ready in %lld ms (pid %d)", (long long)launch_ms, (int)getpid());
    struct runner_cmd cmd;
    char *body = NULL;
    if (runner_read_exact(EXEC_FD_COMMAND, &cmd, sizeof(cmd)) <= 0 || cmd.body_len > WARM_BODY_MAX ||
        !(body = malloc(cmd.body_len ? cmd.body_len : 1)) ||
        runner_read_exact(EXEC_FD_COMMAND, body, cmd.body_len) != (ssize_t)cmd.body_len) {
        seal_warm_free(c.warm); /* no job: the worker is gone or dropped us */
        _exit(0);
    }
    struct proto_job job;
    memset(&job, 0, sizeof(job));
    exec_backstop_arm(cmd.backstop_s);
    int r = proto_decode_job(body, cmd.body_len, &job, why);
    if (r < 0)
        exec_report_final(&c, r, why); /* the worker decoded it already: cannot happen */
    else
        exec_job_run(&c, &job);
    seal_warm_free(c.warm); /* a job other than vm.seal left it unused */
    _exit(0);
}

/* ---- the worker's side ---- */

static void warm_drop(struct worker *w, bool kill_it) {
    if (!w->warm)
        return;
    if (kill_it)
        kill(-w->warm->pid, SIGKILL);
    close(w->warm->cmd_fd);
    if (w->warm->res_fd >= 0)
        close(w->warm->res_fd);
    free(w->warm);
    w->warm = NULL;
}

void warm_tick(struct worker *w) {
    const struct config_worker *cw = &w->cfg->worker;
    if (!cw->guestfs_warm || cw->dry_run)
        return;
    if (w->draining) {
        warm_drop(w, true);
        return;
    }
    if (w->warm || w->n_jobs >= (size_t)cw->slots || time_mono_ms() < w->warm_retry_ms)
        return;
    int res[2], cmd[2];
    if (pipe2(res, O_CLOEXEC) < 0)
        return;
    if (pipe2(cmd, O_CLOEXEC) < 0) {
        close(res[0]);
        close(res[1]);
        return;
    }
    pid_t pid = fork();
    if (pid == 0) {
        setpgid(0, 0);
        warm_main(w->cfg, res[1], cmd[0]);
    }
    close(res[1]);
    close(cmd[0]);
    if (pid < 0) {
        log_warn("warm appliance: fork: %s", strerror(errno));
        close(res[0]);
        close(cmd[1]);
        w->warm_retry_ms = time_mono_ms() + WARM_RETRY_MS;
        return;
    }
    setpgid(pid, pid); /* both sides, so no kill(-pid) can race the child's own call */
    fcntl(res[0], F_SETFL, O_NONBLOCK);
    fcntl(cmd[1], F_SETFL, O_NONBLOCK);
    w->warm = xcalloc(1, sizeof(*w->warm));
    *w->warm = (struct warm){ .pid = pid, .cmd_fd = cmd[1], .res_fd = res[0] };
    log_debug("warm appliance: starting (pid %d)", (int)pid);
}

int warm_take(struct worker *w, const void *body, size_t len, int backstop_s, pid_t *ret_pid, int *ret_fd) {
    if (!w->warm)
        return -ENOENT;
    if (len > WARM_BODY_MAX)
        return -E2BIG;
    int r = runner_cmd_write(w->warm->cmd_fd, body, len, backstop_s);
    if (r < 0) {
        warm_drop(w, true); /* dead (not reaped yet), or a partial write: of no use */
        return r;
    }
    *ret_pid = w->warm->pid;
    *ret_fd = w->warm->res_fd;
    w->warm->res_fd = -1; /* the job's now */
    warm_drop(w, false);
    return 0;
}

bool warm_reaped(struct worker *w, pid_t pid) {
    if (!w->warm || w->warm->pid != pid)
        return false;
    log_warn("warm appliance process %d ended before its job; another in %d s", (int)pid, WARM_RETRY_MS / 1000);
    warm_drop(w, true); /* nothing of it outlives it */
    w->warm_retry_ms = time_mono_ms() + WARM_RETRY_MS;
    return true;
}

void warm_kill(struct worker *w) { warm_drop(w, true); }
