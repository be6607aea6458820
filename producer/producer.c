/* producer.c - the daemon loop: leadership, broker, deliveries, outbox pump, RPC. */
#include "producer.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "err.h"
#include "log.h"
#include "mq.h"
#include "producer_metrics.h"
#include "proto.h"
#include "rpc_server.h"
#include "service.h"
#include "store.h"
#include "util.h"
#include "workflow.h"

#define PUMP_BATCH         256
#define PUMP_MAX_INFLIGHT  2048
#define RETURNED_RETRY_MS  1000
#define NACKED_RETRY_MS    1000 /* mq repairs a path the broker keeps refusing */
#define REFUSED_MAX        64
#define TICK_MAX_MS        1000 /* deadlines are checked at least this often */
#define TICK_AFTER_WORK_MS 100  /* ... and this soon after a message changed something */
#define FLUSH_MAX_MS       20   /* confirmed rows are deleted within this (or when idle) */
#define BATCH_MAX          64   /* deliveries per transaction */
#define LOOP_MAX_EVENTS    512  /* events pulled before the loop commits and publishes */
#define PREFETCH_REQUESTS  32
#define PREFETCH_EVENTS    256
#define PREFETCH_RPC       16
#define LOST_TERM_WAIT_MS  2000 /* after a lost term, standbys (polling every 500 ms) take the lead first */
#define STATUS_JOBS_MS     2000 /* STATUS='s count of jobs in flight is this fresh */

struct inflight {
    uint64_t seq;
    int64_t row;
};

struct producer {
    struct producer_ctx *ctx;
    char id[300];
    int sig_fd;
    struct store *st;
    wf_t *wf;
    mq_t *mq;
    struct producer_metrics *pm; /* NULL without producer.metrics_listen */
    size_t status_jobs;          /* jobs in flight, for systemd's STATUS= */
    int64_t status_jobs_next_mono;
    struct worker_table workers;
    /* outbox pump */
    int64_t cursor; /* rows up to here were handed to the broker */
    struct inflight *inflight;
    size_t n_inflight, cap_inflight;
    int64_t retry_from;           /* rows after this go out again at retry_at */
    int64_t retry_at_mono;        /* 0 = nothing to retry */
    int64_t published_max;        /* highest row id ever handed to the broker */
    int64_t returned_max;         /* highest row id reported unroutable */
    int64_t refused[REFUSED_MAX]; /* rows the broker refuses, each logged once */
    size_t n_refused;
    uint64_t n_events_refused; /* job events refused for their sender (logged) */
    int64_t *confirmed;        /* rows to delete (one transaction per loop turn) */
    size_t n_confirmed, cap_confirmed;
    int64_t confirmed_since_mono;
    int64_t next_tick_mono;
    struct pending {
        struct mq_event ev;
        int r;
    } batch[BATCH_MAX];
    size_t n_batch;
    bool batch_open;
    bool stop;
    int terms; /* times this producer became the active one */
};

/* ---- outbox pump --------------------------------------------------------- */

static bool pump_is_inflight(const struct producer *p, int64_t row) {
    for (size_t i = 0; i < p->n_inflight; i++)
        if (p->inflight[i].row == row)
            return true;
    return false;
}

static void pump_retry_later(struct producer *p, int64_t row, int64_t delay_ms) {
    int64_t at = time_mono_ms() + delay_ms;
    if (p->retry_at_mono == 0 || row - 1 < p->retry_from)
        p->retry_from = row - 1;
    if (p->retry_at_mono == 0 || at < p->retry_at_mono)
        p->retry_at_mono = at;
}

/* Forget confirmed rows (inside the open batch, if any).  A failure, or
 * the batch's rollback, only means they may go out once more. */
static void pump_flush(struct producer *p) {
    if (p->n_confirmed && store_outbox_delete(p->st, p->confirmed, p->n_confirmed) < 0)
        log_err("outbox: cannot delete %zu confirmed rows: %s", p->n_confirmed, store_why(p->st));
    p->n_confirmed = 0;
}

/* Publish outbox rows after the cursor (stops early when disconnected). */
static int pump_run(struct producer *p) {
    if (p->retry_at_mono && time_mono_ms() >= p->retry_at_mono) {
        pump_flush(p); /* confirmed rows must not go out again */
        if (p->retry_from < p->cursor)
            p->cursor = p->retry_from;
        p->retry_at_mono = 0;
    }
    for (;;) {
        if (!mq_connected(p->mq) || p->n_inflight >= PUMP_MAX_INFLIGHT)
            return 0;
        struct store_outbox *rows = NULL;
        size_t n = 0;
        int r = store_outbox_list(p->st, p->cursor, PUMP_BATCH, &rows, &n);
        if (r < 0) {
            log_err("outbox: %s", store_why(p->st));
            return r;
        }
        size_t i = 0;
        for (; i < n && p->n_inflight < PUMP_MAX_INFLIGHT; i++) {
            const struct store_outbox *o = &rows[i];
            /* only after a rewind can a row still be in flight */
            if (o->id > p->published_max || !pump_is_inflight(p, o->id)) {
                struct mq_props props = { .message_id = o->message_id,
                                          .type = o->type,
                                          .reason = o->reason,
                                          .mandatory = strcmp(o->exchange, MQ_X_JOBS) == 0 };
                uint64_t seq = 0;
                r = mq_publish(p->mq, o->exchange, o->routing_key, &props, o->body, o->body_len, &seq);
                if (r < 0)
                    break; /* connection trouble: mq_wait reconnects, RECONNECTED resets the cursor */
                if (p->n_inflight == p->cap_inflight) {
                    p->cap_inflight = p->cap_inflight ? 2 * p->cap_inflight : 64;
                    p->inflight = xrealloc(p->inflight, p->cap_inflight * sizeof *p->inflight);
                }
                p->inflight[p->n_inflight++] = (struct inflight){ seq, o->id };
                if (o->id > p->published_max)
                    p->published_max = o->id;
            }
            p->cursor = o->id;
        }
        store_outbox_array_free(rows, n);
        if (r < 0 || i < n || n < PUMP_BATCH)
            return 0;
    }
}

/* Rows refused by the broker (not unroutable): each is logged once, and
 * once more when the last of them is accepted.  Past REFUSED_MAX rows the
 * others go unsaid (debug level). */
static bool pump_refused_remember(struct producer *p, int64_t row) {
    for (size_t i = 0; i < p->n_refused; i++)
        if (p->refused[i] == row)
            return false;
    if (p->n_refused == REFUSED_MAX)
        return false;
    p->refused[p->n_refused++] = row;
    return true;
}

static bool pump_refused_forget(struct producer *p, int64_t row) {
    for (size_t i = 0; i < p->n_refused; i++)
        if (p->refused[i] == row) {
            p->refused[i] = p->refused[--p->n_refused];
            return true;
        }
    return false;
}

static void pump_confirm(struct producer *p, uint64_t seq, int status) {
    for (size_t i = 0; i < p->n_inflight; i++) {
        if (p->inflight[i].seq != seq)
            continue;
        int64_t row = p->inflight[i].row;
        p->inflight[i] = p->inflight[--p->n_inflight];
        if (status == 0) {
            if (pump_refused_forget(p, row) && p->n_refused == 0)
                log_notice("outbox: the broker accepts the rows it refused");
            if (p->n_confirmed == p->cap_confirmed) {
                p->cap_confirmed = p->cap_confirmed ? 2 * p->cap_confirmed : 256;
                p->confirmed = xrealloc(p->confirmed, p->cap_confirmed * sizeof *p->confirmed);
            }
            if (p->n_confirmed == 0)
                p->confirmed_since_mono = time_mono_ms();
            p->confirmed[p->n_confirmed++] = row;
        } else {
            /* An unroutable job comes back every second until a pool binds
             * its key, a refused row until the broker takes it: say it once. */
            bool returned = status == -VMS_E_RETURNED;
            bool again = returned ? row <= p->returned_max : !pump_refused_remember(p, row);
            log_msg(again      ? LOG_LVL_DEBUG
                    : returned ? LOG_LVL_WARN
                               : LOG_LVL_NOTICE,
                    NULL, "outbox: row %lld not accepted by the broker (%s), trying again%s", (long long)row,
                    err_str(status), returned ? " every second (no queue bound its key?)" : " until it is");
            if (returned && row > p->returned_max)
                p->returned_max = row;
            pump_retry_later(p, row, returned ? RETURNED_RETRY_MS : status == -VMS_E_NACKED ? NACKED_RETRY_MS : 0);
        }
        return;
    }
    /* not an outbox row (an RPC reply) */
}

static void pump_reset(struct producer *p) {
    pump_flush(p);
    p->n_inflight = 0;
    p->cursor = 0;
    p->retry_at_mono = 0;
}

/* ---- deliveries ------------------------------------------------------------ */

static void work_done(struct producer *p) {
    int64_t soon = time_mono_ms() + TICK_AFTER_WORK_MS;
    if (soon < p->next_tick_mono)
        p->next_tick_mono = soon;
}

/* A message the store could not take goes back to the queue. */
static void settle_failed(struct producer *p, const struct mq_delivery *d, int r) {
    log_err("%s: message %s not handled (%s: %s); returned to the queue", d->queue,
            d->message_id ? d->message_id : "-", err_str(r), store_why(p->st));
    (void)mq_nack(p->mq, d, true);
}

static int on_request(struct producer *p, const struct mq_delivery *d) {
    enum wf_outcome outcome = WF_ACCEPTED;
    char why[ERR_WHY_LEN];
    int r = wf_on_request(p->wf, d->body, d->body_len, d->message_id, time_now_ms(), &outcome, why);
    if (r == 0) {
        _cleanup_free_ char *ctx = xasprintf("message=%s", d->message_id ? d->message_id : "-");
        if (outcome == WF_REJECTED) {
            log_msg(LOG_LVL_WARN, ctx, "request rejected and dead-lettered: %s", why);
            producer_metrics_dead_letter(p->pm, d->queue, true);
        } else {
            log_msg(LOG_LVL_INFO, ctx, "request %s", outcome == WF_ACCEPTED ? "accepted" : "already known: no-op");
        }
    }
    return r;
}

static int on_event(struct producer *p, const struct mq_delivery *d) {
    struct proto_msg m;
    char why[ERR_WHY_LEN] = "";
    int64_t now = time_now_ms();
    int r = proto_decode(d->body, d->body_len, &m, why);
    if (r < 0) {
        log_warn("%s: undecodable message dead-lettered: %s", d->queue, why);
        producer_metrics_dead_letter(p->pm, d->queue, false);
        r = wf_dead_letter(p->wf, d->queue, d->message_id, d->body, d->body_len, why, now);
    } else if (m.type == PROTO_EVENT) {
        /* only through vmseal.events, where topic permissions hold (not the default exchange) */
        const char *rk = d->exchange && strcmp(d->exchange, MQ_X_EVENTS) == 0 ? d->routing_key : "";
        r = wf_on_event(p->wf, &m.u.event, d->user_id, rk ? rk : "", now, why);
        if (r == -VMS_E_ACCESS_REFUSED) {
            log_warn("%s: %s (%llu events refused so far)", d->queue, why,
                     (unsigned long long)++p->n_events_refused);
            r = 0; /* dropped: nothing changed */
        }
    } else if (m.type == PROTO_HEARTBEAT) {
        /* worker.heartbeat.<user-id> through vmseal.events, or it keeps nothing alive */
        _cleanup_free_ char *want = xasprintf("worker.heartbeat.%s", d->user_id ? d->user_id : "");
        bool named = d->user_id && d->exchange && strcmp(d->exchange, MQ_X_EVENTS) == 0 && d->routing_key &&
                     strcmp(d->routing_key, want) == 0;
        r = wf_on_heartbeat(p->wf, &m.u.heartbeat, named ? d->user_id : NULL, now);
        worker_table_update(&p->workers, &m.u.heartbeat, now);
    } else {
        snprintf(why, sizeof why, "message.type: %s does not belong on %s", proto_type_to_string(m.type),
                 d->queue);
        log_warn("%s", why);
        producer_metrics_dead_letter(p->pm, d->queue, false);
        r = wf_dead_letter(p->wf, d->queue, d->message_id, d->body, d->body_len, why, now);
    }
    proto_msg_free(&m); /* a heartbeat's contents were moved to the table */
    return r;
}

static void on_rpc(struct producer *p, const struct mq_delivery *d) {
    char *reply = NULL;
    size_t len = 0;
    int r = d->reply_to && *d->reply_to
                ? rpc_server_answer(p->st, &p->workers, d->body, d->body_len, time_now_ms(), &reply, &len)
                : -VMS_E_INVALID;
    if (r == 0) {
        proto_uuid id;
        uuid_new(id);
        struct mq_props props = {
            .message_id = id, .correlation_id = d->correlation_id, .type = RPC_REPLY_TYPE, .transient = true
        };
        r = mq_publish(p->mq, "", d->reply_to, &props, reply, len, NULL);
        if (r < 0)
            log_warn("rpc: reply to %s not sent: %s", d->reply_to, err_str(r));
    } else {
        log_warn("rpc: request without reply_to or unanswerable (%s): dropped", err_str(r));
    }
    free(reply);
    (void)mq_ack(p->mq, d); /* a lost reply costs the client a timeout, nothing more */
}

/* Commit the batch (with the outbox rows confirmed so far: one commit, not
 * two), then settle its deliveries: the failed ones go back to their queue,
 * the rest are acked in one frame (every delivery before the batch's last
 * one was handled already: this loop takes them in order). */
static void batch_settle(struct producer *p) {
    int r = 0;
    if (p->batch_open) {
        pump_flush(p);
        r = store_end(p->st, 0);
        p->batch_open = false;
    }
    const struct mq_delivery *last_ok = NULL;
    for (size_t i = 0; i < p->n_batch; i++) {
        int ri = r < 0 ? r : p->batch[i].r;
        if (ri < 0)
            settle_failed(p, &p->batch[i].ev.delivery, ri);
        else
            last_ok = &p->batch[i].ev.delivery;
    }
    if (last_ok) {
        work_done(p);
        int e = mq_ack_upto(p->mq, last_ok);
        if (e < 0 && e != -VMS_E_STALE)
            log_warn("ack failed (%s); the broker will redeliver", err_str(e));
    }
    for (size_t i = 0; i < p->n_batch; i++)
        mq_event_clear(&p->batch[i].ev);
    p->n_batch = 0;
}

/* Requests and events join the open batch (each its own savepoint inside
 * one transaction); their acks wait for its commit. */
static void on_delivery(struct producer *p, struct mq_event *ev) {
    const struct mq_delivery *d = &ev->delivery;
    bool request = strcmp(d->queue, MQ_Q_REQUESTS) == 0;
    if (request || strcmp(d->queue, MQ_Q_EVENTS_PRODUCER) == 0) {
        int r = 0;
        if (!p->batch_open && (r = store_begin(p->st)) == 0)
            p->batch_open = true;
        if (r == 0)
            r = request ? on_request(p, d) : on_event(p, d);
        p->batch[p->n_batch].ev = *ev;
        p->batch[p->n_batch++].r = r;
        memset(ev, 0, sizeof *ev); /* owned by the batch now */
    } else if (strcmp(d->queue, MQ_Q_RPC) == 0) {
        on_rpc(p, d);
    } else {
        (void)mq_nack(p->mq, d, true);
    }
}

/* ---- start-up ---------------------------------------------------------------- */

static int signals_open(struct producer *p) {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    if (sigprocmask(SIG_BLOCK, &set, NULL) < 0)
        return -errno;
    signal(SIGPIPE, SIG_IGN);
    p->sig_fd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
    return p->sig_fd < 0 ? -errno : 0;
}

/* Wait up to timeout_ms for SIGTERM/SIGINT; true when one came. */
static bool signal_wait(struct producer *p, int timeout_ms) {
    service_watchdog();
    struct pollfd pfd = { .fd = p->sig_fd, .events = POLLIN };
    if (poll(&pfd, 1, timeout_ms) <= 0)
        return false;
    struct signalfd_siginfo si;
    if (read(p->sig_fd, &si, sizeof si) == (ssize_t)sizeof si) {
        log_notice("signal %u: stopping", si.ssi_signo);
        p->stop = true;
    }
    return p->stop;
}

/* Prometheus metrics on producer.metrics_listen (served in standby too). */
static int metrics_start(struct producer *p) {
    char why[ERR_WHY_LEN];
    int r = producer_metrics_new(p->ctx->cfg->producer.metrics_listen, &p->pm, why);
    if (r < 0)
        log_err("%s", why);
    else
        log_info("metrics: http://%s/metrics", p->ctx->cfg->producer.metrics_listen);
    producer_metrics_loop(p->pm, false, false, NULL);
    return r;
}

/* Open the store and take the lead, or wait as a standby.  While the
 * database cannot be reached, retry with a backoff (0.5 s doubling to 10 s). */
static int store_lead(struct producer *p) {
    const struct config_producer *cfg = &p->ctx->cfg->producer;
    int delay = 500;
    bool standby = false, paused = false;
    while (!p->stop) {
        char why[ERR_WHY_LEN] = "";
        int r = p->st ? 0 : store_open_with(cfg->db, cfg->db_password, &p->st, why);
        bool taken = false;
        char holder[300] = "";
        if (r == 0 && (r = store_lease_try(p->st, p->id, &taken, holder, sizeof holder)) < 0)
            snprintf(why, sizeof why, "%s", store_why(p->st));
        if (r == 0 && taken) {
            if (standby || paused || p->terms > 0)
                log_notice("taking over as the active producer");
            p->terms++;
            return 0;
        }
        if (r == 0) {
            if (!standby) {
                log_notice("standby: %s is the active producer; waiting to take over", holder);
                service_ready(); /* up as a standby: STATUS says so */
                service_status("standby: %s is the active producer", holder);
            }
            standby = true;
            delay = 500;
        } else if (r == -VMS_E_DB_LOST) {
            log_warn("paused: database unavailable (%s); retrying in %d ms", why, delay);
            service_status("paused: database unavailable (%s)", why);
            paused = true;
            store_close(p->st);
            p->st = NULL;
        } else {
            log_err("store: %s", why);
            return r;
        }
        if (signal_wait(p, r == 0 ? 500 : delay))
            return 0;
        if (r < 0)
            delay = delay * 2 > 10000 ? 10000 : delay * 2;
    }
    return 0;
}

static int broker_connect(struct producer *p) {
    char why[ERR_WHY_LEN] = "";
    struct mq_opts opts = { .broker = &p->ctx->cfg->broker,
                            .conn_name = p->id,
                            .publish_channel = true,
                            .stamp_user_id = true,
                            .why = why,
                            .why_len = sizeof why };
    int delay = 500;
    int r;
    while ((r = mq_open(&opts, &p->mq)) < 0) {
        log_warn("broker: %s (%s); retrying in %d ms", why, err_str(r), delay);
        service_status("active, broker unreachable: %s", why);
        if (r == -VMS_E_ACCESS_REFUSED || signal_wait(p, delay))
            return p->stop ? 0 : r;
        delay = delay * 2 > 10000 ? 10000 : delay * 2;
    }
    if ((r = mq_declare_topology(p->mq)) < 0 ||
        (r = mq_consume(p->mq, MQ_Q_REQUESTS, PREFETCH_REQUESTS, false, false)) < 0 ||
        (r = mq_consume(p->mq, MQ_Q_EVENTS_PRODUCER, PREFETCH_EVENTS, false, false)) < 0 ||
        (r = mq_consume(p->mq, MQ_Q_RPC, PREFETCH_RPC, false, false)) < 0)
        log_err("broker: cannot set up queues: %s (%s)", err_str(r), mq_why(p->mq));
    return r;
}

static void transition_log_cb(void *arg, const struct store_template *t) {
    producer_metrics_transition(((struct producer *)arg)->pm, t, t->updated_ms);
    _cleanup_free_ char *ctx = xasprintf("template=%s step=%s", t->id, tpl_step_to_string(t->step));
    if (t->error_code && (t->state == TPL_FAILED || t->state == TPL_ROLLING_BACK)) {
        char *more = xasprintf("%s error=%s", ctx, t->error_code);
        free(ctx);
        ctx = more;
    }
    if (t->state == TPL_FAILED || (t->state == TPL_ROLLING_BACK && t->final_state == TPL_FAILED))
        log_msg(LOG_LVL_WARN, ctx, "%s (%s): failed in step %s: %s: %s", tpl_state_to_string(t->state),
                tpl_step_to_string(t->step), t->error_step ? t->error_step : "?",
                t->error_code ? t->error_code : "?", t->error_message ? t->error_message : "");
    else
        log_msg(LOG_LVL_INFO, ctx, "%s (%s)", tpl_state_to_string(t->state), tpl_step_to_string(t->step));
}

static void job_end_cb(void *arg, const struct store_job *j) {
    producer_metrics_job_end(((struct producer *)arg)->pm, j);
}

static int store_start(struct producer *p) {
    int r;
    struct wf_opts o;
    wf_opts_default(&o);
    const struct config_producer *cp = &p->ctx->cfg->producer;
    o.max_attempts = cp->max_attempts;
    o.backoff_base_ms = cp->backoff_base_ms;
    o.backoff_max_ms = cp->backoff_max_ms;
    o.timeout_s[JOB_VOLUME_COPY] = cp->timeout_copy_s;
    o.timeout_s[JOB_VOLUME_UPDATE] = cp->timeout_update_s;
    o.timeout_s[JOB_VOLUME_DELETE] = cp->timeout_delete_s;
    o.timeout_s[JOB_VM_SEAL] = cp->timeout_seal_s;
    o.storage = &p->ctx->cfg->storage;
    o.producer_id = p->id;
    o.transition_cb = transition_log_cb;
    o.job_end_cb = job_end_cb;
    o.transition_arg = p;
    if ((r = wf_new(p->st, &o, &p->wf)) == 0 && (r = wf_resume(p->wf, time_now_ms())) < 0)
        log_err("store: cannot resume: %s", store_why(p->st));
    return r;
}

/* ---- the loop ------------------------------------------------------------------ */

static void tick(struct producer *p) {
    int64_t next_wall = INT64_MAX, now = time_now_ms();
    int r = wf_on_tick(p->wf, now, &next_wall);
    if (r < 0)
        log_err("workflow tick: %s: %s", err_str(r), store_why(p->st));
    int64_t wait = next_wall == INT64_MAX ? TICK_MAX_MS : next_wall - now;
    if (wait < 0 || r < 0)
        wait = r < 0 ? TICK_MAX_MS : 0;
    p->next_tick_mono = time_mono_ms() + (wait < TICK_MAX_MS ? wait : TICK_MAX_MS);
}

/* One event; returns false when the loop should stop pulling. */
static bool loop_event(struct producer *p, struct mq_event *ev, int *ret) {
    switch (ev->type) {
    case MQ_EV_DELIVERY: on_delivery(p, ev); return p->n_batch < BATCH_MAX;
    case MQ_EV_CONFIRM: pump_confirm(p, ev->seq, ev->status); return true;
    case MQ_EV_RECONNECTED:
        log_notice("broker: reconnected; publishing the outbox again");
        producer_metrics_reconnected(p->pm);
        batch_settle(p); /* acks of the old connection fail as stale: redelivered */
        pump_reset(p);
        return false;
    case MQ_EV_CANCELLED:
        log_err("broker cancelled the consumer of %s", ev->consumer_queue ? ev->consumer_queue : "?");
        *ret = -VMS_E_BROKER;
        return false;
    case MQ_EV_REPAIRED: log_warn("broker: %s", ev->text); return true;
    case MQ_EV_BLOCKED: /* say why nothing goes out (mq holds the publishes) */
        log_warn("broker blocked publishing (resource alarm): jobs and events wait");
        return false;
    case MQ_EV_UNBLOCKED: log_notice("broker unblocked publishing"); return false;
    default: return false; /* nothing more right now */
    }
}

/* systemd's STATUS=: the broker's state and, read every STATUS_JOBS_MS, the
 * jobs in flight. */
static void status_update(struct producer *p) {
    int64_t now = time_mono_ms();
    if (now >= p->status_jobs_next_mono) {
        struct store_job *jobs;
        if (store_jobs_inflight(p->st, &jobs, &p->status_jobs) == 0)
            store_job_array_free(jobs, p->status_jobs);
        p->status_jobs_next_mono = now + STATUS_JOBS_MS;
    }
    service_status("active (%s database), broker %s, %zu job%s in flight", store_backend_name(p->st),
                   mq_connected(p->mq) ? "connected" : "disconnected: reconnecting", p->status_jobs,
                   p->status_jobs == 1 ? "" : "s");
}

static int loop_once(struct producer *p) {
    /* signals, and the database connection: its server ending it ends the term now */
    struct pollfd pfd[2] = { { .fd = p->sig_fd, .events = POLLIN },
                             { .fd = store_watch_fd(p->st), .events = POLLIN } };
    struct mq_event ev;
    memset(&ev, 0, sizeof ev);
    int64_t now = time_mono_ms();
    int64_t due = p->next_tick_mono;
    if (p->retry_at_mono && p->retry_at_mono < due)
        due = p->retry_at_mono;
    int timeout = due <= now ? 0 : (int)(due - now);
    int ret = 0;
    bool idle = true;
    /* drain what is ready (bounded), then commit once */
    for (int n = 0; n < LOOP_MAX_EVENTS; n++) {
        pfd[0].revents = pfd[1].revents = 0;
        int r = mq_wait(p->mq, n == 0 ? timeout : 0, pfd, pfd[1].fd < 0 ? 1 : 2, &ev);
        if (r < 0 && r != -VMS_E_CONN_LOST)
            log_warn("broker: %s (%s)", err_str(r), mq_why(p->mq));
        if (pfd[0].revents & POLLIN)
            (void)signal_wait(p, 0);
        if (pfd[1].revents)
            store_watch(p->st);
        bool more = r == 0 && store_status(p->st) == 0 && loop_event(p, &ev, &ret);
        idle = idle && (r < 0 || ev.type == MQ_EV_NONE);
        mq_event_clear(&ev);
        if (!more || p->stop)
            break;
    }
    batch_settle(p);
    if (time_mono_ms() >= p->next_tick_mono)
        tick(p);
    if (idle || p->n_confirmed >= PUMP_BATCH || time_mono_ms() - p->confirmed_since_mono >= FLUSH_MAX_MS)
        pump_flush(p);
    int e = pump_run(p);
    service_watchdog();
    status_update(p);
    producer_metrics_loop(p->pm, true, mq_connected(p->mq), p->st);
    if (store_status(p->st) < 0)
        return store_status(p->st); /* nothing more goes out: see producer_run */
    return ret < 0 ? ret : e;
}

/* Everything of one term as the active producer; deliveries not acked
 * go back to their queues with the connection. */
static void session_end(struct producer *p) {
    if (p->st && store_status(p->st) == 0)
        pump_flush(p);
    mq_close(p->mq);
    p->mq = NULL;
    wf_free(p->wf);
    p->wf = NULL;
    store_close(p->st);
    p->st = NULL;
    p->n_inflight = p->n_confirmed = p->n_refused = 0;
    p->cursor = p->published_max = p->returned_max = 0;
    p->retry_at_mono = 0;
}

static void producer_free(struct producer *p) {
    session_end(p);
    producer_metrics_free(p->pm);
    worker_table_free(&p->workers);
    free(p->inflight);
    free(p->confirmed);
    if (p->sig_fd >= 0)
        close(p->sig_fd);
}

/* Terms as the active producer: a lost database connection or leadership
 * ends one (the store refuses every call from then on, so nothing more is
 * published), and the producer goes back to store_lead(). */
int producer_run(struct producer_ctx *ctx) {
    struct producer p = { .ctx = ctx, .sig_fd = -1 };
    if (ctx->id) {
        snprintf(p.id, sizeof p.id, "%s", ctx->id);
    } else {
        char host[256] = "localhost";
        (void)gethostname(host, sizeof host - 1);
        snprintf(p.id, sizeof p.id, "producer@%s", host);
    }
    log_set_component(p.id);
    service_init();
    int r = signals_open(&p);
    if (r < 0)
        log_err("signals: %s", strerror(-r));
    if (r == 0 && ctx->cfg->producer.metrics_listen)
        r = metrics_start(&p);
    while (r == 0 && !p.stop) {
        r = store_lead(&p);
        if (r == 0 && !p.stop)
            r = store_start(&p);
        if (r == 0 && !p.stop)
            r = broker_connect(&p);
        if (r == 0 && !p.stop) {
            log_notice("active: database (%s), max_attempts %d", store_backend_name(p.st),
                       ctx->cfg->producer.max_attempts);
            service_ready();
            tick(&p);
        }
        while (r == 0 && !p.stop)
            r = loop_once(&p);
        if (r == -VMS_E_DB_LOST || r == -VMS_E_LEASE_LOST) {
            log_warn("%s (%s): stopped publishing and consuming; %s", r == -VMS_E_DB_LOST ? "paused" : "standby",
                     store_why(p.st), r == -VMS_E_DB_LOST ? "reconnecting" : "another producer leads");
            service_status("%s (%s)",
                           r == -VMS_E_DB_LOST ? "paused: database connection lost" : "standby: lease lost",
                           store_why(p.st));
            session_end(&p);
            r = 0;
            (void)signal_wait(&p, LOST_TERM_WAIT_MS);
        }
    }
    service_stopping();
    producer_free(&p);
    return r;
}
