/* runtime.c - the worker daemon's event loop: broker setup, deliveries
 * (jobs, dead letters, cancels), heartbeats, signals and the SIGTERM drain.
 * The jobs themselves (job processes, runners, pipes, events, acks) live in
 * jobs.c and runner.c. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "control.h"
#include "err.h"
#include "log.h"
#include "runtime_int.h"
#include "worker_metrics.h"
#include "service.h"
#include "sd.h"
#include "seal.h"
#include "util.h"

#define WORKER_DLQ_CONFIRM_MS   10000
#define WORKER_FINAL_CONFIRM_MS 10000 /* after the grace: wait this long for confirms */

/* ---- startup ------------------------------------------------------------- */

/* Open every configured domain once and remove what a crash left
 * half-created (images another process holds locked are left alone). */
static int domains_scrub(struct worker *w) {
    const struct config_storage *s = &w->cfg->storage;
    for (size_t i = 0; i < s->n_domains; i++) {
        struct sd *sd = NULL;
        char why[ERR_WHY_LEN] = "";
        unsigned removed = 0, skipped = 0;
        int r = sd_open(s->domains[i].id, s->domains[i].path, &sd, why);
        if (r == 0)
            r = sd_scrub(sd, &removed, &skipped, why);
        sd_close(sd);
        if (r < 0) {
            log_err("storage domain %s at %s: %s", s->domains[i].id, s->domains[i].path,
                    why[0] ? why : err_str(r));
            return r;
        }
        log_info("storage domain %s at %s: ready (%u half-created file(s) removed, %u foreign entr%s skipped)",
                 s->domains[i].id, s->domains[i].path, removed, skipped, skipped == 1 ? "y" : "ies");
    }
    return 0;
}

static int signals_setup(struct worker *w, sigset_t *ret_old) {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGCHLD);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    if (sigprocmask(SIG_BLOCK, &set, ret_old) < 0)
        return -errno;
    w->sig_fd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
    if (w->sig_fd < 0)
        return -errno;
    signal(SIGPIPE, SIG_IGN);
    /* Grandchildren of a killed job come to us, so we can reap them and
     * tell when a job's process group is really gone. */
    if (prctl(PR_SET_CHILD_SUBREAPER, 1) < 0)
        return -errno;
    return 0;
}

static int broker_setup(struct worker *w) {
    const struct config_worker *cw = &w->cfg->worker;
    /* mq keeps the name's pointer for every reconnect: it lives in w. */
    snprintf(w->conn_name, sizeof(w->conn_name), "vmseal-worker %s", cw->id);
    struct mq_opts opts = {
        .broker = &w->cfg->broker, .conn_name = w->conn_name, .publish_channel = true, .stamp_user_id = true
    };
    int r = mq_open(&opts, &w->mq);
    if (r < 0) {
        log_err("broker: %s (%s)", err_str(r), w->mq ? mq_why(w->mq) : "no connection");
        return r;
    }
    /* A worker configures nothing shared (deploy/rabbitmq/definitions.json):
     * its pool queue and the queue's bindings to vmseal.jobs exist already
     * (the definitions, or an administrator); it only makes sure of it. */
    snprintf(w->pool_queue, sizeof(w->pool_queue), "%s%s", MQ_Q_JOBS_PREFIX, cw->pool);
    r = mq_check_queue(w->mq, w->pool_queue);
    if (r == -VMS_E_NOT_FOUND)
        log_err("pool queue %s does not exist: declare it and bind its domains' keys (storage.<sd>, virt.<sd>) "
                "in the broker definitions",
                w->pool_queue);
    if (r == 0)
        r = mq_declare_exclusive_queue(w->mq, w->control_queue);
    if (r == 0)
        r = mq_bind(w->mq, w->control_queue, MQ_X_CONTROL, "");
    if (r == 0)
        r = mq_consume(w->mq, w->control_queue, 0, true, true);
    if (r == 0)
        r = mq_consume(w->mq, w->pool_queue, (uint16_t)cw->slots, false, false);
    if (r < 0)
        log_err("broker setup: %s (%s)", err_str(r), mq_why(w->mq));
    else
        log_info("consuming %s with %d slot(s) (%s executor)", w->pool_queue, cw->slots,
                 cw->dry_run ? "dry-run" : "real");
    return r;
}

/* ---- heartbeats ---------------------------------------------------------- */

static void heartbeat_publish(struct worker *w) {
    const struct config_worker *cw = &w->cfg->worker;
    const struct config_storage *s = &w->cfg->storage;
    struct proto_heartbeat hb;
    memset(&hb, 0, sizeof(hb));
    hb.worker_id = cw->id;
    hb.host = w->host;
    hb.version = VMSEAL_VERSION;
    hb.libguestfs_version = w->guestfs_version;
    char *pools[1] = { cw->pool };
    hb.pools = pools;
    hb.n_pools = 1;
    hb.sd_ids = xcalloc(s->n_domains + 1, sizeof(*hb.sd_ids));
    for (size_t i = 0; i < s->n_domains; i++)
        memcpy(hb.sd_ids[i], s->domains[i].id, sizeof(proto_uuid));
    hb.n_sd_ids = s->n_domains;
    hb.slots = cw->slots;
    hb.n_running = jobs_running_ids(w, &hb.running);
    hb.ts_ms = time_now_ms();

    char *buf = NULL;
    size_t len = 0;
    int r = proto_encode_heartbeat(&hb, &buf, &len);
    if (r == 0) {
        proto_uuid id;
        uuid_new(id);
        struct mq_props p = { .message_id = id, .type = "worker.heartbeat" };
        uint64_t seq;
        char rk[300];
        snprintf(rk, sizeof rk, "worker.heartbeat.%s", w->cfg->broker.user); /* see job_rk() */
        r = mq_publish(w->mq, MQ_X_EVENTS, rk, &p, buf, len, &seq);
    }
    if (r < 0)
        log_debug("heartbeat not published: %s", err_str(r));
    free(buf);
    free(hb.sd_ids);
    free(hb.running);
}

/* ---- deliveries ---------------------------------------------------------- */

/* Publish the original body to vmseal.dlx with the reason, then ack it. */
static void dead_letter(struct worker *w, const struct mq_delivery *d, const char *why) {
    proto_uuid id;
    if (!d->message_id)
        uuid_new(id);
    struct mq_props p = {
        .message_id = d->message_id ? d->message_id : id,
        .type = d->type,
        .reason = why,
    };
    log_warn("invalid job %s from %s dead-lettered: %s", p.message_id, d->queue, why);
    metrics_add(w->metrics, "vmseal_worker_dead_letters_total", NULL, 1);
    int r = mq_publish_wait(w->mq, MQ_X_DLX, d->queue, &p, d->body, d->body_len, WORKER_DLQ_CONFIRM_MS);
    if (r == 0)
        r = mq_ack(w->mq, d);
    else
        r = mq_nack(w->mq, d, false); /* the queue's own dead-lettering, without our reason */
    if (r < 0 && r != -VMS_E_STALE)
        log_warn("dead-lettering %s: %s", p.message_id, err_str(r));
}

/* The first domain the job names that is not configured here, or NULL. */
static const char *job_unknown_domain(const struct worker *w, const struct proto_job *j) {
    const struct config_storage *s = &w->cfg->storage;
    switch (j->kind) {
    case JOB_VOLUME_COPY:
        if (!config_domain_find(s, j->args.copy.sd_id))
            return j->args.copy.sd_id;
        return config_domain_find(s, j->args.copy.dst.sd_id) ? NULL : j->args.copy.dst.sd_id;
    case JOB_VOLUME_UPDATE:
        return config_domain_find(s, j->args.update.vol.sd_id) ? NULL : j->args.update.vol.sd_id;
    case JOB_VOLUME_DELETE: return config_domain_find(s, j->args.del.vol.sd_id) ? NULL : j->args.del.vol.sd_id;
    case JOB_VM_SEAL:
        for (size_t i = 0; i < j->args.seal.n_disks; i++)
            if (!config_domain_find(s, j->args.seal.disks[i].sd_id))
                return j->args.seal.disks[i].sd_id;
        return NULL;
    }
    return NULL;
}

static bool cancel_remembered(const struct worker *w, const char *job_id) {
    for (size_t i = 0; i < WORKER_CANCEL_MEMORY; i++)
        if (strcmp(w->cancelled[i], job_id) == 0)
            return true;
    return false;
}

static void on_job_delivery(struct worker *w, const struct mq_delivery *d) {
    struct proto_job job;
    char why[ERR_WHY_LEN] = "";

    if (w->draining) {
        mq_nack(w->mq, d, true);
        return;
    }
    const char *producer = w->cfg->broker.producer_user;
    if (!d->user_id || strcmp(d->user_id, producer) != 0) { /* the default exchange reaches this queue too */
        snprintf(why, sizeof(why), "job not published by the producer (user-id %s, expected %s): refused",
                 d->user_id ? d->user_id : "absent", producer);
        log_warn("%s", why);
        dead_letter(w, d, why);
        return;
    }
    memset(&job, 0, sizeof(job));
    int r = proto_decode_job(d->body, d->body_len, &job, why);
    if (r < 0) {
        dead_letter(w, d, why[0] ? why : err_str(r));
        return;
    }
    const char *sd = job_unknown_domain(w, &job);
    if (sd) {
        snprintf(why, sizeof(why), "storage domain %s is not configured on worker %s", sd, w->cfg->worker.id);
        jobs_end_now(w, &job, d, EV_FAILED, -VMS_E_UNKNOWN_DOMAIN, why);
    } else if (cancel_remembered(w, job.job_id)) {
        jobs_end_now(w, &job, d, EV_CANCELLED, -VMS_E_CANCELLED, "cancelled before it started");
    } else {
        jobs_start(w, &job, d);
    }
    proto_job_free(&job); /* empty when moved into the job table */
}

static void on_control_delivery(struct worker *w, const struct mq_delivery *d) {
    struct proto_job_cancel c;
    char why[ERR_WHY_LEN] = "";
    if (!d->user_id || strcmp(d->user_id, w->cfg->broker.producer_user) != 0) {
        log_warn("control message from %s ignored: only the producer cancels jobs",
                 d->user_id ? d->user_id : "an unnamed sender");
        return;
    }
    int r = proto_decode_job_cancel(d->body, d->body_len, &c, why);
    if (r < 0) {
        log_warn("invalid control message ignored: %s", why[0] ? why : err_str(r));
        return;
    }
    if (!jobs_cancel(w, c.job_id)) {
        /* Maybe still on its way to us: refuse it when it comes. */
        memcpy(w->cancelled[w->cancelled_next], c.job_id, sizeof(proto_uuid));
        w->cancelled_next = (w->cancelled_next + 1) % WORKER_CANCEL_MEMORY;
        log_debug("cancel for job %s (not running here) remembered", c.job_id);
    }
}

/* ---- the loop ---------------------------------------------------------- */

static void drain_begin(struct worker *w, int sig) {
    int64_t now = time_mono_ms();
    if (w->draining) {
        log_notice("%s again: ending running jobs now", strsignal(sig));
        w->drain_deadline_ms = now;
        return;
    }
    w->draining = true;
    w->drain_deadline_ms = now + (int64_t)w->grace_s * 1000;
    int r = mq_cancel(w->mq, w->pool_queue);
    if (r < 0 && r != -VMS_E_NOT_FOUND)
        log_warn("cancel consumer of %s: %s", w->pool_queue, err_str(r));
    log_notice("%s: no new jobs; %zu job(s) get %d s to finish", w->failed ? "stopping" : strsignal(sig),
               w->n_jobs, w->grace_s);
}

static void on_signals(struct worker *w) {
    struct signalfd_siginfo si;
    while (read(w->sig_fd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
        if (si.ssi_signo == SIGCHLD)
            jobs_reap(w);
        else
            drain_begin(w, (int)si.ssi_signo);
    }
}

static void on_event(struct worker *w, struct mq_event *ev) {
    switch (ev->type) {
    case MQ_EV_DELIVERY:
        if (ev->delivery.queue && strcmp(ev->delivery.queue, w->pool_queue) == 0)
            on_job_delivery(w, &ev->delivery);
        else
            on_control_delivery(w, &ev->delivery);
        break;
    case MQ_EV_CONFIRM: jobs_on_confirm(w, ev->seq, ev->status); break;
    case MQ_EV_RECONNECTED:
        log_notice("broker connection restored; running jobs are handed out again by the broker, killing ours");
        metrics_add(w->metrics, "vmseal_broker_reconnects_total", NULL, 1);
        jobs_on_reconnect(w);
        break;
    case MQ_EV_CANCELLED:
        if (ev->consumer_queue && strcmp(ev->consumer_queue, w->pool_queue) == 0) {
            /* Our queue is gone (deleted by an operator?): without it we
             * serve nothing.  Finish what we hold and exit non-zero, so the
             * service manager restarts us and the queue is declared again. */
            log_err(
                "the broker cancelled our consumer of %s (queue deleted?): finishing running jobs, then exiting",
                w->pool_queue);
            w->failed = -VMS_E_BROKER;
            drain_begin(w, SIGTERM);
        } else {
            log_warn("the broker cancelled our consumer of %s", ev->consumer_queue ? ev->consumer_queue : "?");
        }
        break;
    case MQ_EV_REPAIRED: log_warn("broker: %s", ev->text); break;
    case MQ_EV_BLOCKED: log_warn("broker blocked publishing (resource alarm)"); break;
    case MQ_EV_UNBLOCKED: log_notice("broker unblocked publishing"); break;
    case MQ_EV_NONE: break;
    }
}

/* Returns true when the loop should end. */
static bool drain_check(struct worker *w, bool *killed, int64_t *ret_wait) {
    int64_t now = time_mono_ms();
    if (w->n_jobs == 0)
        return true;
    if (!*killed && now >= w->drain_deadline_ms) {
        log_notice("grace period over: killing %zu job(s) and requeueing them", w->n_jobs);
        jobs_kill_for_shutdown(w);
        *killed = true;
        w->drain_deadline_ms = now + WORKER_FINAL_CONFIRM_MS;
    } else if (*killed && now >= w->drain_deadline_ms) {
        log_warn("%zu job(s) still wait for their final event's confirm; leaving them to the broker", w->n_jobs);
        return true;
    }
    if (w->drain_deadline_ms - now < *ret_wait)
        *ret_wait = w->drain_deadline_ms - now;
    return false;
}

static int worker_loop(struct worker *w) {
    struct mq_event ev;
    struct pollfd *pfds = NULL;
    bool killed = false;
    int ret = 0;

    memset(&ev, 0, sizeof(ev));
    w->next_heartbeat_ms = time_mono_ms();
    for (;;) {
        int64_t wait = jobs_tick(w);
        warm_tick(w);
        if (w->draining && drain_check(w, &killed, &wait))
            break;
        int64_t now = time_mono_ms();
        if (now >= w->next_heartbeat_ms) {
            heartbeat_publish(w);
            w->next_heartbeat_ms = now + WORKER_HEARTBEAT_MS;
        }
        if (service_watchdog_ms() < wait)
            wait = service_watchdog_ms();
        if (w->next_heartbeat_ms - now < wait)
            wait = w->next_heartbeat_ms - now;
        pfds = xrealloc(pfds, (w->n_jobs + 1) * sizeof(*pfds));
        pfds[0] = (struct pollfd){ .fd = w->sig_fd, .events = POLLIN };
        size_t n = 1 + jobs_pollfds(w, pfds + 1, w->n_jobs);
        int r = mq_wait(w->mq, wait < 0 ? 0 : (int)wait, pfds, n, &ev);
        if (r == -VMS_E_ACCESS_REFUSED) {
            log_err("broker refused access: %s", mq_why(w->mq));
            ret = r;
            break;
        }
        if (r < 0)
            log_debug("mq_wait: %s (%s)", err_str(r), mq_why(w->mq));
        else
            on_event(w, &ev);
        mq_event_clear(&ev);
        if (pfds[0].revents)
            on_signals(w);
        jobs_on_pollfds(w, pfds + 1, n - 1);
        service_watchdog();
        service_status("%s: %zu of %d slots busy, broker %s", w->draining ? "draining" : w->pool_queue, w->n_jobs,
                       w->cfg->worker.slots, mq_connected(w->mq) ? "connected" : "disconnected: reconnecting");
        worker_metrics_loop(w->metrics, w->n_jobs, w->cfg->worker.slots, mq_connected(w->mq));
    }
    free(pfds);
    return ret;
}

int worker_run(const struct worker_ctx *ctx) {
    struct worker w;
    sigset_t old;
    int r;

    memset(&w, 0, sizeof(w));
    sigprocmask(SIG_SETMASK, NULL, &old);
    w.cfg = ctx->cfg;
    w.grace_s = ctx->grace_s > 0 ? ctx->grace_s : WORKER_DEFAULT_GRACE_S;
    w.sig_fd = -1;
    service_init();
    w.runners.max = (size_t)ctx->cfg->worker.slots;
    if (gethostname(w.host, sizeof(w.host) - 1) < 0)
        snprintf(w.host, sizeof(w.host), "unknown");
    seal_libguestfs_version(w.guestfs_version, sizeof(w.guestfs_version));

    r = domains_scrub(&w);
    if (r < 0)
        return r;
    r = signals_setup(&w, &old);
    if (r < 0) {
        log_err("signal setup: %s", err_str(r));
        goto out;
    }
    if (w.cfg->worker.metrics_listen) {
        char why[ERR_WHY_LEN];
        r = worker_metrics_new(w.cfg->worker.metrics_listen, &w.metrics, why);
        if (r < 0) {
            log_err("%s", why);
            goto out;
        }
        log_info("metrics: http://%s/metrics", w.cfg->worker.metrics_listen);
    }
    r = broker_setup(&w);
    if (r < 0)
        goto out;
    log_notice("worker %s ready (pool %s, %zu domain(s), libguestfs %s)", w.cfg->worker.id, w.cfg->worker.pool,
               w.cfg->storage.n_domains, w.guestfs_version);
    service_ready();
    r = worker_loop(&w);
    service_stopping();
    if (r == 0)
        r = w.failed;
    log_notice("worker %s stopped", w.cfg->worker.id);
out:
    jobs_free_all(&w);
    mq_close(w.mq);
    metrics_free(w.metrics);
    if (w.sig_fd >= 0)
        close(w.sig_fd);
    sigprocmask(SIG_SETMASK, &old, NULL);
    return r;
}
