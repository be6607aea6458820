/* executor.c - the job process: its setup, the dispatch to the configured
 * executor and the helpers the executors share.  The pipe protocol is in
 * executor_pipe.c; the executors in executor_real.c (volume.*),
 * executor_seal.c (vm.seal) and executor_dry.c; the runner's loop in
 * runner.c. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "err.h"
#include "executor.h"
#include "log.h"
#include "util.h"

/* ---- the job process's setup ---------------------------------------------- */

static void backstop_alarm(int sig) {
    (void)sig;
    kill(0, SIGKILL);
}

static void child_reset_signals(void) {
    static const int sigs[] = { SIGCHLD, SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGALRM };
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = SIG_DFL;
    for (size_t i = 0; i < ARRAY_SIZE(sigs); i++)
        sigaction(sigs[i], &sa, NULL);
    /* A parent that is gone must not kill us half way through a metadata
     * write: report writes then fail with EPIPE instead. */
    sa.sa_handler = SIG_IGN;
    sigaction(SIGPIPE, &sa, NULL);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
}

int exec_process_setup(int result_fd, int command_fd) {
    int fds[2] = { result_fd, command_fd }, tmp[2] = { -1, -1 };
    child_reset_signals();
    /* Copy both above 4 first, so that moving one onto 3 or 4 cannot close
     * the other; close_range() then closes the copies with the rest. */
    for (int i = 0; i < 2; i++)
        if (fds[i] >= 0 && (tmp[i] = fcntl(fds[i], F_DUPFD_CLOEXEC, EXEC_FD_COMMAND + 1)) < 0)
            return -errno;
    if (dup3(tmp[0], EXEC_FD_RESULT, O_CLOEXEC) < 0)
        return -errno;
    if (tmp[1] >= 0 && dup3(tmp[1], EXEC_FD_COMMAND, O_CLOEXEC) < 0)
        return -errno;
    if (close_range(tmp[1] >= 0 ? EXEC_FD_COMMAND + 1 : EXEC_FD_RESULT + 1, ~0U, 0) < 0)
        return -errno;
    /* libsystemd's journal socket was one of the closed fds (its number may
     * come back as another socket, e.g. libguestfs'): plain lines on stderr,
     * which is the journal's stream anyway. */
    log_set_sink(NULL);
    return 0;
}

void exec_backstop_arm(int seconds) {
    if (seconds > 0) {
        struct sigaction sa;
        memset(&sa, 0, sizeof(sa));
        sa.sa_handler = backstop_alarm;
        sigaction(SIGALRM, &sa, NULL);
    }
    alarm(seconds > 0 ? (unsigned)seconds : 0);
}

void exec_job_run(struct exec_child *c, const struct proto_job *job) {
    char why[ERR_WHY_LEN] = "";
    int r = c->cfg->worker.dry_run ? exec_dry_run(c, job, why) : exec_real_run(c, job, why);
    exec_report_final(c, r < 0 ? r : 0, why);
}

_Noreturn void executor_child_main(const struct config *cfg, const struct proto_job *job, int pipe_fd,
                                   int backstop_s) {
    if (exec_process_setup(pipe_fd, -1) < 0)
        _exit(127);
    exec_backstop_arm(backstop_s);
    struct exec_child c = { .fd = EXEC_FD_RESULT, .cfg = cfg };
    exec_job_run(&c, job);
    _exit(0);
}

/* ---- helpers shared by the executors ------------------------------------ */

int exec_sd_open(struct exec_child *c, const char *sd_id, struct sd **ret_sd, char why[ERR_WHY_LEN]) {
    const struct config_domain *d = config_domain_find(&c->cfg->storage, sd_id);
    char cause[ERR_WHY_LEN] = "";
    if (!d) {
        snprintf(why, ERR_WHY_LEN, "storage domain %s is not configured on this worker", sd_id);
        return -VMS_E_UNKNOWN_DOMAIN;
    }
    int r = sd_open(d->id, d->path, ret_sd, cause);
    if (r < 0)
        snprintf(why, ERR_WHY_LEN, "open storage domain %s: %s", sd_id, cause[0] ? cause : err_str(r));
    return r;
}

void exec_report_meta(struct exec_child *c, const struct vol_meta *m) {
    exec_report_int(c, "generation", m->gen);
    exec_report_str(c, "legality", vol_legality_to_string(m->legality));
    exec_report_str(c, "voltype", vol_type_to_string(m->voltype));
    exec_report_str(c, "format", vol_format_to_string(m->format));
    exec_report_int(c, "cap_bytes", m->cap_bytes);
}
