/* jobs.c - the jobs a worker holds: the job process that runs each one (a
 * reusable runner for light jobs, a fresh child otherwise: job_uses_runner),
 * its result pipe, its timeout, and the job's events up to the final one,
 * whose broker confirm releases the delivery (ack).
 *
 * A job moves RUNNING -> [EXITED ->] FINAL -> (freed):
 *   RUNNING  the job process runs it; its pipe is polled; its deadline is
 *            watched; a runner's job leaves RUNNING at its final line, the
 *            runner going back to the pool;
 *   EXITED   the job process was reaped (a fresh child's end, or a runner
 *            killed or dead in the middle of the job); we wait until nothing
 *            of its process group is left (killing stragglers), so a
 *            `failed`/`cancelled` event is only sent once the group is
 *            really gone;
 *   FINAL    the final event is published (or waits to be republished); its
 *            confirm acks the delivery and frees the job.
 * Jobs that never ran (unknown domain, cancelled before start) start in
 * FINAL.  A job whose delivery went stale (connection lost) or that is
 * killed for shutdown leaves no event: the broker hands it out again.
 * Timeouts, cancels and shutdown kill the job process's whole group, a
 * runner's included (a killed runner is never reused).
 *
 * The running event waits WORKER_RUNNING_DELAY_MS (jobs_tick() sends it,
 * dated when the job started): a job that ends sooner, such as a metadata
 * update, reports only its final event, which says as much.  Progress events
 * are coalesced: at most one per WORKER_PROGRESS_MIN_MS per job, counted from
 * the start; a newer value in between waits as pending for jobs_tick(), and
 * the final event drops it.
 *
 * The worker is a child subreaper (runtime.c), so grandchildren left behind
 * by a killed job (qemu-img, the libguestfs appliance) are reparented to it
 * and reaped here.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "err.h"
#include "executor.h"
#include "log.h"
#include "runner.h"
#include "runtime_int.h"
#include "worker_metrics.h"
#include "util.h"

enum job_phase { PHASE_RUNNING, PHASE_EXITED, PHASE_FINAL };
enum job_end { END_NATURAL, END_TIMEOUT, END_CANCEL, END_LOST, END_SHUTDOWN };

struct job {
    struct job *next;
    struct proto_job pj;
    struct mq_delivery d; /* only queue, delivery_tag, epoch (owned queue) */
    enum job_phase phase;
    enum job_end end;
    char ctx[400];         /* log context */
    pid_t pid;             /* also the process group id */
    struct runner *runner; /* the runner running it, or NULL */
    int fd;                /* read end of the pipe (the runner's while
                                        runner is set), -1 when closed */
    int wstatus;
    int timeout_s;
    int64_t start_ms, deadline_ms; /* monotonic */
    int64_t start_wall_ms;         /* the running event's ts_ms */
    bool running_sent;
    char line[EXEC_LINE_MAX];
    size_t line_len;
    struct exec_outcome out;
    int last_pct; /* the last progress published */
    char last_step[128];
    int64_t last_progress_ms; /* ... and when (or the job's start) */
    bool pending;             /* a newer progress waits for the interval */
    int pending_pct;
    char pending_step[128];
    char seal_phase[128];  /* vm.seal: the step reported last, for its duration */
    int64_t seal_phase_ms; /* ... since (monotonic) */
    /* the final event */
    char *body;
    size_t body_len;
    char rk[300]; /* job.<kind>.<state>.<broker user (<= 255)> */
    proto_uuid event_id;
    uint64_t seq;
    bool published;
    int64_t retry_ms;
    int refused; /* publishes not confirmed so far */
};

static int job_timeout_s(const struct config_worker *cw, const struct proto_job *pj) {
    int t = cw->timeout_seal_s;
    switch (pj->kind) {
    case JOB_VOLUME_COPY: t = cw->timeout_copy_s; break;
    case JOB_VOLUME_UPDATE: t = cw->timeout_update_s; break;
    case JOB_VOLUME_DELETE: t = cw->timeout_delete_s; break;
    case JOB_VM_SEAL: t = cw->timeout_seal_s; break;
    }
    if (pj->timeout_s > 0 && pj->timeout_s < t)
        t = (int)pj->timeout_s;
    return t;
}

static struct job *job_new(struct worker *w, struct proto_job *pj, const struct mq_delivery *d) {
    struct job *j = xcalloc(1, sizeof(*j));
    j->pj = *pj;
    memset(pj, 0, sizeof(*pj)); /* moved */
    j->d.queue = xstrdup(d->queue ? d->queue : "");
    j->d.delivery_tag = d->delivery_tag;
    j->d.epoch = d->epoch;
    j->fd = -1;
    j->last_pct = -1;
    j->start_ms = time_mono_ms();
    j->start_wall_ms = time_now_ms();
    snprintf(j->ctx, sizeof(j->ctx), "job=%s template=%s kind=%s attempt=%lld worker=%s", j->pj.job_id,
             j->pj.template_id, job_kind_to_string(j->pj.kind), (long long)j->pj.attempt, w->cfg->worker.id);
    j->next = w->jobs;
    w->jobs = j;
    w->n_jobs++;
    return j;
}

static void job_free(struct worker *w, struct job *j) {
    for (struct job **p = &w->jobs; *p; p = &(*p)->next) {
        if (*p == j) {
            *p = j->next;
            w->n_jobs--;
            break;
        }
    }
    if (j->fd >= 0 && !j->runner)
        close(j->fd);
    proto_job_free(&j->pj);
    exec_outcome_clear(&j->out);
    free(j->d.queue);
    free(j->body);
    free(j);
}

/* ---- events ------------------------------------------------------------ */

static char *job_event_encode(struct worker *w, const struct job *j, enum event_state state, int pct,
                              const char *step, int err, const char *why, char *ret_event_id, size_t *ret_len) {
    struct proto_event ev;
    memset(&ev, 0, sizeof(ev));
    uuid_new(ev.event_id);
    memcpy(ev.job_id, j->pj.job_id, sizeof(ev.job_id));
    memcpy(ev.template_id, j->pj.template_id, sizeof(ev.template_id));
    ev.worker_id = w->cfg->worker.id;
    ev.state = state;
    ev.progress = pct;
    ev.step = (char *)step;
    if (err) {
        ev.has_error = true;
        ev.error.code = (char *)err_name(err);
        ev.error.message = (char *)(why && why[0] ? why : err_str(err));
        ev.error.permanent = err_permanent(err);
    }
    if (state == EV_SUCCEEDED) {
        ev.result = (struct proto_kv *)j->out.results;
        ev.n_result = j->out.n_results;
    }
    /* What a seal did, once its process said it was done (a final line):
     * what one killed halfway reported may miss its last paths. */
    bool final = state != EV_RUNNING && state != EV_PROGRESS;
    if (j->pj.kind == JOB_VM_SEAL && final && j->out.final)
        ev.files = (struct proto_files *)&j->out.files;
    ev.ts_ms = state == EV_RUNNING ? j->start_wall_ms : time_now_ms();
    char *buf = NULL;
    int r = proto_encode_event(&ev, &buf, ret_len);
    if (r < 0) {
        log_msg(LOG_LVL_ERR, j->ctx, "cannot encode %s event: %s", event_state_to_string(state), err_str(r));
        return NULL;
    }
    memcpy(ret_event_id, ev.event_id, sizeof(proto_uuid));
    return buf;
}

/* job.<kind>.<state>.<our broker user>: the broker's topic permissions let a
 * worker identity publish only keys that end with its own name. */
static void job_rk(const struct worker *w, const struct job *j, enum event_state state, char *rk, size_t len) {
    snprintf(rk, len, "job.%s.%s.%s", job_kind_to_string(j->pj.kind), event_state_to_string(state),
             w->cfg->broker.user);
}

/* running / progress: best effort, the confirm is not waited for. */
static void job_publish_transient(struct worker *w, struct job *j, enum event_state state, int pct,
                                  const char *step) {
    proto_uuid id;
    size_t len;
    char rk[300];
    char *buf = job_event_encode(w, j, state, pct, step, 0, NULL, id, &len);
    if (!buf)
        return;
    job_rk(w, j, state, rk, sizeof(rk));
    struct mq_props p = { .message_id = id, .type = "event" };
    uint64_t seq;
    int r = mq_publish(w->mq, MQ_X_EVENTS, rk, &p, buf, len, &seq);
    if (r < 0)
        log_msg(LOG_LVL_DEBUG, j->ctx, "%s event not published: %s", event_state_to_string(state), err_str(r));
    free(buf);
}

static void job_final_send(struct worker *w, struct job *j) {
    struct mq_props p = { .message_id = j->event_id, .type = "event" };
    int r = mq_publish(w->mq, MQ_X_EVENTS, j->rk, &p, j->body, j->body_len, &j->seq);
    j->published = r == 0;
    if (r < 0) {
        j->retry_ms = time_mono_ms() + WORKER_REPUBLISH_MS;
        log_msg(LOG_LVL_DEBUG, j->ctx, "final event not published yet: %s", err_str(r));
    }
}

/* Publish the final event; the job then waits in FINAL for its confirm. */
static void job_final(struct worker *w, struct job *j, enum event_state state, int err, const char *why) {
    j->phase = PHASE_FINAL;
    job_rk(w, j, state, j->rk, sizeof(j->rk));
    j->body = job_event_encode(w, j, state, -1, NULL, err, why, j->event_id, &j->body_len);
    int64_t ms = time_mono_ms() - j->start_ms;
    worker_metrics_job_end(w->metrics, j->pj.kind, state, err, ms);
    if (j->seal_phase[0])
        worker_metrics_seal_phase(w->metrics, j->seal_phase, time_mono_ms() - j->seal_phase_ms);
    if (state == EV_SUCCEEDED)
        log_msg(LOG_LVL_INFO, j->ctx, "succeeded in %lld ms", (long long)ms);
    else {
        _cleanup_free_ char *ctx = xasprintf("%s error=%s", j->ctx, err_name(err));
        log_msg(LOG_LVL_WARN, ctx, "%s after %lld ms: %s (%s, %s)", event_state_to_string(state), (long long)ms,
                why && why[0] ? why : err_str(err), err_name(err), err_permanent(err) ? "permanent" : "transient");
    }
    if (!j->body) {
        /* Cannot happen with valid ids; leave the delivery to the broker. */
        mq_nack(w->mq, &j->d, true);
        job_free(w, j);
        return;
    }
    job_final_send(w, j);
}

void jobs_end_now(struct worker *w, struct proto_job *pj, const struct mq_delivery *d, enum event_state state,
                  int err, const char *why) {
    struct job *j = job_new(w, pj, d);
    job_final(w, j, state, err, why);
}

/* ---- starting ------------------------------------------------------------ */

/* Which jobs run in a reusable runner: the light ones, whose whole cost is a
 * metadata write or two, so that a fork per job would cost more than the
 * job: volume.update and volume.delete always, and every kind under the
 * dry-run executor (nothing heavy runs there).  A real volume.copy
 * (qemu-img) and a real vm.seal (libguestfs, qemu) get a fresh child each:
 * they take seconds to minutes, and a fresh process gives all their memory
 * back when it ends. */
static bool job_uses_runner(const struct config_worker *cw, const struct proto_job *pj) {
    return cw->dry_run || pj->kind == JOB_VOLUME_UPDATE || pj->kind == JOB_VOLUME_DELETE;
}

/* Hand the job to a runner of the pool; negative when none can take it
 * (the caller forks a fresh child instead). */
static int job_start_runner(struct worker *w, struct job *j, const void *body, size_t len) {
    if (len > RUNNER_BODY_MAX)
        return -E2BIG;
    for (int attempt = 0; attempt < 2; attempt++) {
        struct runner *r;
        int e = runner_pool_acquire(&w->runners, w->cfg, &r);
        if (e < 0)
            return e;
        e = runner_send(r, body, len, j->timeout_s + 10);
        if (e == 0) {
            j->runner = r;
            j->pid = r->pid;
            j->fd = r->res_fd;
            return 0;
        }
        /* An idle runner that died (not reaped yet): drop it, try another. */
        log_msg(LOG_LVL_DEBUG, j->ctx, "runner %d unusable (%s); dropped", (int)r->pid, err_str(e));
        kill(-r->pid, SIGKILL);
        close(runner_pool_detach(&w->runners, r));
    }
    return -EPIPE;
}

static int job_start_fork(struct worker *w, struct job *j) {
    int pfd[2];
    if (pipe2(pfd, O_CLOEXEC) < 0)
        return -errno;
    pid_t pid = fork();
    if (pid < 0) {
        int r = -errno;
        close(pfd[0]);
        close(pfd[1]);
        return r;
    }
    if (pid == 0) {
        setpgid(0, 0);
        executor_child_main(w->cfg, &j->pj, pfd[1], j->timeout_s + 10);
    }
    setpgid(pid, pid); /* both sides, so no kill(-pid) can race the child's own call */
    close(pfd[1]);
    fcntl(pfd[0], F_SETFL, O_NONBLOCK);
    j->pid = pid;
    j->fd = pfd[0];
    return 0;
}

void jobs_start(struct worker *w, struct proto_job *pj, const struct mq_delivery *d) {
    struct job *j = job_new(w, pj, d);
    j->timeout_s = job_timeout_s(&w->cfg->worker, &j->pj);
    int r = -ENOTSUP;
    const char *how = "pid";
    if (job_uses_runner(&w->cfg->worker, &j->pj))
        r = job_start_runner(w, j, d->body, d->body_len);
    else if (j->pj.kind == JOB_VM_SEAL &&
             (r = warm_take(w, d->body, d->body_len, j->timeout_s + 10, &j->pid, &j->fd)) == 0)
        how = "warm appliance pid";
    if (r < 0 && (r = job_start_fork(w, j)) < 0) {
        job_final(w, j, EV_FAILED, r, "cannot start the job's process");
        return;
    }
    j->phase = PHASE_RUNNING;
    j->deadline_ms = j->start_ms + (int64_t)j->timeout_s * 1000;
    log_msg(LOG_LVL_INFO, j->ctx, "started (%s %d, timeout %d s%s)", j->runner ? "runner pid" : how, (int)j->pid,
            j->timeout_s, d->redelivered ? ", redelivered" : "");
    j->last_progress_ms = j->start_ms;
}

/* ---- the pipe ------------------------------------------------------------ */

static void job_running_publish(struct worker *w, struct job *j) {
    j->running_sent = true;
    job_publish_transient(w, j, EV_RUNNING, -1, NULL);
}

static void job_progress_publish(struct worker *w, struct job *j, int64_t now) {
    if (!j->running_sent)
        job_running_publish(w, j);
    j->pending = false;
    j->last_pct = j->pending_pct;
    snprintf(j->last_step, sizeof(j->last_step), "%s", j->pending_step);
    j->last_progress_ms = now;
    job_publish_transient(w, j, EV_PROGRESS, j->last_pct, j->last_step[0] ? j->last_step : NULL);
}

/* Keep the newest value; publish it now if the interval since the last
 * progress (or the running event) has passed, else jobs_tick() will. */
static void job_on_progress(struct worker *w, struct job *j, int pct, const char *step) {
    j->pending_pct = pct;
    if (j->pj.kind == JOB_VM_SEAL && strcmp(step, j->seal_phase) != 0) {
        if (j->seal_phase[0])
            worker_metrics_seal_phase(w->metrics, j->seal_phase, time_mono_ms() - j->seal_phase_ms);
        snprintf(j->seal_phase, sizeof(j->seal_phase), "%s", step);
        j->seal_phase_ms = time_mono_ms();
    }
    snprintf(j->pending_step, sizeof(j->pending_step), "%s", step);
    j->pending = pct != j->last_pct || strcmp(step, j->last_step) != 0;
    int64_t now = time_mono_ms();
    if (j->pending && j->phase == PHASE_RUNNING && now - j->last_progress_ms >= WORKER_PROGRESS_MIN_MS)
        job_progress_publish(w, j, now);
}

/* Returns true at a runner job's final line (its job ends there). */
static bool job_on_line(struct worker *w, struct job *j, char *line) {
    int pct = 0;
    char step[128];
    enum exec_line_kind k = exec_line_parse(line, &j->out, &pct, step, sizeof(step));
    if (k == EXEC_LINE_PROGRESS && j->end == END_NATURAL)
        job_on_progress(w, j, pct, step);
    /* A runner killed (timeout, cancel...) may have written its final line
     * before it died: the job then ends at the reap, as a killed child's. */
    return k == EXEC_LINE_FINAL && j->runner && j->end == END_NATURAL && j->phase == PHASE_RUNNING;
}

static void job_end_from_outcome(struct worker *w, struct job *j);

/* The runner's job ended at its final line: the runner goes back to the
 * pool, the job to FINAL. */
static void job_runner_done(struct worker *w, struct job *j) {
    runner_pool_release(&w->runners, j->runner);
    j->runner = NULL;
    j->fd = -1;
    j->line_len = 0;
    job_end_from_outcome(w, j);
}

/* Read what the pipe holds (non-blocking); close it at EOF or when `last`
 * (a runner's pipe is the runner's: it ends at the job's final line). */
static void job_read(struct worker *w, struct job *j, bool last) {
    bool done = false;
    while (!done) {
        if (j->line_len == sizeof(j->line))
            j->line_len = 0; /* a line too long: drop it */
        ssize_t n = read(j->fd, j->line + j->line_len, sizeof(j->line) - j->line_len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            if ((n == 0 || last || errno != EAGAIN) && !j->runner) {
                close(j->fd);
                j->fd = -1;
            }
            return;
        }
        j->line_len += (size_t)n;
        char *start = j->line, *nl;
        while (!done && (nl = memchr(start, '\n', j->line_len - (size_t)(start - j->line)))) {
            *nl = '\0';
            done = job_on_line(w, j, start);
            start = nl + 1;
        }
        j->line_len -= (size_t)(start - j->line);
        memmove(j->line, start, j->line_len);
    }
    job_runner_done(w, j); /* may free j */
}

size_t jobs_pollfds(struct worker *w, struct pollfd *pfds, size_t cap) {
    size_t n = 0;
    for (struct job *j = w->jobs; j && n < cap; j = j->next)
        if (j->fd >= 0)
            pfds[n++] = (struct pollfd){ .fd = j->fd, .events = POLLIN };
    return n;
}

void jobs_on_pollfds(struct worker *w, const struct pollfd *pfds, size_t n) {
    for (size_t i = 0; i < n; i++) {
        if (!pfds[i].revents)
            continue;
        for (struct job *j = w->jobs; j; j = j->next)
            if (j->fd == pfds[i].fd) {
                job_read(w, j, false);
                break;
            }
    }
}

/* ---- the end of a child ------------------------------------------------- */

/* A runner's process ended: drop it from the pool; a job it was running
 * now owns its result pipe and ends like a fresh child's (below). */
static void runner_reaped(struct worker *w, struct runner *r) {
    pid_t pid = r->pid;
    struct job *j = w->jobs;
    while (j && j->runner != r)
        j = j->next;
    int fd = runner_pool_detach(&w->runners, r);
    if (j)
        j->runner = NULL;
    else
        close(fd);
    kill(-pid, SIGKILL); /* nothing of it outlives it */
}

void jobs_reap(struct worker *w) {
    for (;;) {
        int st;
        pid_t pid = waitpid(-1, &st, WNOHANG);
        if (pid <= 0)
            return;
        if (warm_reaped(w, pid))
            continue;
        struct runner *r = runner_pool_find(&w->runners, pid);
        if (r)
            runner_reaped(w, r);
        for (struct job *j = w->jobs; j; j = j->next) {
            if (j->phase != PHASE_RUNNING || j->pid != pid || j->runner)
                continue;
            j->wstatus = st;
            j->phase = PHASE_EXITED;
            if (j->fd >= 0)
                job_read(w, j, true);
            kill(-pid, SIGKILL); /* nothing of the job outlives it */
            break;
        }
        /* else a grandchild reparented to us (subreaper): reaped, done */
    }
}

static void job_exited(struct worker *w, struct job *j) {
    char why[ERR_WHY_LEN];
    switch (j->end) {
    case END_LOST:
        log_msg(LOG_LVL_WARN, j->ctx, "killed: its delivery went stale with the lost connection");
        job_free(w, j);
        return;
    case END_SHUTDOWN:
        log_msg(LOG_LVL_NOTICE, j->ctx, "killed for shutdown; requeued");
        mq_nack(w->mq, &j->d, true);
        job_free(w, j);
        return;
    case END_TIMEOUT:
        snprintf(why, sizeof(why), "%s timed out after %d s; its process group was killed",
                 job_kind_to_string(j->pj.kind), j->timeout_s);
        job_final(w, j, EV_FAILED, -VMS_E_TIMEOUT, why);
        return;
    case END_CANCEL: job_final(w, j, EV_CANCELLED, -VMS_E_CANCELLED, "cancelled by request"); return;
    case END_NATURAL: break;
    }
    job_end_from_outcome(w, j);
}

/* The natural end: the final line's outcome, or the process's death. */
static void job_end_from_outcome(struct worker *w, struct job *j) {
    char why[ERR_WHY_LEN];
    if (j->out.final && j->out.err == 0) {
        job_final(w, j, EV_SUCCEEDED, 0, NULL);
    } else if (j->out.final) {
        snprintf(why, sizeof(why), "%s", j->out.why);
        job_final(w, j, EV_FAILED, j->out.err, why);
    } else {
        if (WIFSIGNALED(j->wstatus))
            snprintf(why, sizeof(why), "job process killed by signal %d", WTERMSIG(j->wstatus));
        else
            snprintf(why, sizeof(why), "job process exited with status %d without a result",
                     WEXITSTATUS(j->wstatus));
        job_final(w, j, EV_FAILED, -VMS_E_INTERNAL, why);
    }
}

int64_t jobs_tick(struct worker *w) {
    int64_t now = time_mono_ms(), wait = 1000;
    struct job *next;
    for (struct job *j = w->jobs; j; j = next) {
        next = j->next;
        switch (j->phase) {
        case PHASE_RUNNING:
            if (j->end != END_NATURAL)
                break;
            if (now >= j->deadline_ms) {
                j->end = END_TIMEOUT;
                kill(-j->pid, SIGKILL);
                break;
            }
            if (j->deadline_ms - now < wait)
                wait = j->deadline_ms - now;
            if (!j->running_sent && now >= j->start_ms + WORKER_RUNNING_DELAY_MS)
                job_running_publish(w, j);
            else if (!j->running_sent && j->start_ms + WORKER_RUNNING_DELAY_MS - now < wait)
                wait = j->start_ms + WORKER_RUNNING_DELAY_MS - now;
            if (j->pending && now >= j->last_progress_ms + WORKER_PROGRESS_MIN_MS)
                job_progress_publish(w, j, now);
            else if (j->pending && j->last_progress_ms + WORKER_PROGRESS_MIN_MS - now < wait)
                wait = j->last_progress_ms + WORKER_PROGRESS_MIN_MS - now;
            break;
        case PHASE_EXITED:
            if (kill(-j->pid, 0) < 0 && errno == ESRCH) {
                job_exited(w, j);
            } else {
                kill(-j->pid, SIGKILL);
                wait = wait < 10 ? wait : 10;
            }
            break;
        case PHASE_FINAL:
            if (!j->published && now >= j->retry_ms && mq_connected(w->mq))
                job_final_send(w, j);
            if (!j->published)
                wait = wait < WORKER_REPUBLISH_MS ? wait : WORKER_REPUBLISH_MS;
            break;
        }
    }
    return wait < 0 ? 0 : wait;
}

void jobs_on_confirm(struct worker *w, uint64_t seq, int status) {
    for (struct job *j = w->jobs; j; j = j->next) {
        if (j->phase != PHASE_FINAL || !j->published || j->seq != seq)
            continue;
        if (status < 0) {
            /* nacked, or the connection went: publish again once we can.
             * Said once; mq repairs a path the broker keeps refusing. */
            j->published = false;
            j->retry_ms = time_mono_ms() + (status == -VMS_E_CONN_LOST ? 0 : WORKER_REPUBLISH_MS);
            log_msg(j->refused++ ? LOG_LVL_DEBUG : LOG_LVL_NOTICE, j->ctx,
                    "final event not confirmed (%s); will publish again until it is", err_str(status));
            return;
        }
        if (j->refused)
            log_msg(LOG_LVL_NOTICE, j->ctx, "final event confirmed after %d refused publishes", j->refused);
        int r = mq_ack(w->mq, &j->d);
        if (r == -VMS_E_STALE)
            log_msg(LOG_LVL_NOTICE, j->ctx, "final event confirmed; delivery is stale, the broker redelivers it");
        else if (r < 0)
            log_msg(LOG_LVL_WARN, j->ctx, "ack failed: %s", err_str(r));
        job_free(w, j);
        return;
    }
}

/* ---- forced ends ------------------------------------------------------- */

static void job_kill(struct job *j, enum job_end end) {
    if (j->phase != PHASE_RUNNING || j->end != END_NATURAL)
        return;
    j->end = end;
    kill(-j->pid, SIGKILL);
}

bool jobs_cancel(struct worker *w, const char *job_id) {
    bool found = false;
    for (struct job *j = w->jobs; j; j = j->next) {
        if (strcmp(j->pj.job_id, job_id) != 0)
            continue;
        found = true;
        if (j->phase == PHASE_RUNNING && j->end == END_NATURAL)
            log_msg(LOG_LVL_NOTICE, j->ctx, "cancel requested: killing process group %d", (int)j->pid);
        job_kill(j, END_CANCEL);
    }
    return found;
}

void jobs_on_reconnect(struct worker *w) {
    for (struct job *j = w->jobs; j; j = j->next)
        job_kill(j, END_LOST);
}

void jobs_kill_for_shutdown(struct worker *w) {
    for (struct job *j = w->jobs; j; j = j->next)
        job_kill(j, END_SHUTDOWN);
}

size_t jobs_running_ids(struct worker *w, proto_uuid **ret_ids) {
    size_t n = 0;
    proto_uuid *ids = xcalloc(w->n_jobs + 1, sizeof(*ids));
    for (struct job *j = w->jobs; j; j = j->next)
        if (j->phase == PHASE_RUNNING)
            memcpy(ids[n++], j->pj.job_id, sizeof(proto_uuid));
    *ret_ids = ids;
    return n;
}

void jobs_free_all(struct worker *w) {
    while (w->jobs) {
        struct job *j = w->jobs;
        if (j->phase == PHASE_RUNNING)
            kill(-j->pid, SIGKILL);
        job_free(w, j);
    }
    runner_pool_kill_all(&w->runners);
    warm_kill(w);
}
