/* workflow.h - the template state machine of README.md "The flow" (every transition is in
 * workflow.c).
 *
 * A template walks CREATING (steps copy -> mark_illegal -> seal ->
 * mark_shared; without seal: copy -> mark_shared) to READY.  A failure or a
 * cancel turns it ROLLING_BACK: running jobs get a job.cancel and are waited
 * for (until their event or their deadline), then every volume the workflow
 * started to create is deleted; a volume whose delete fails for good is set
 * ILLEGAL (if it is not already) and kept as a leftover.  It ends FAILED
 * (failing step and the worker's error kept) or CANCELLED.
 *
 * Each entry point (wf_on_request, wf_on_event, wf_on_heartbeat,
 * wf_on_tick) is pure logic over the store: it reads, decides, and writes the
 * new state together with every message that state implies (jobs,
 * job.cancel, template.<state> events, dead letters) as outbox rows, in ONE
 * transaction.  Nothing is published here: the producer's outbox pump does
 * that after the commit, and acks the input only then.
 *
 * Jobs: one row per attempt, each attempt with its own job_id, so an event
 * for an old attempt is recognised and ignored.  A transient failure (or a
 * silent worker: no event and no heartbeat naming the job for its deadline)
 * gets a new attempt after backoff_base_ms * 2^(attempt-1) (capped), up to
 * max_attempts; a permanent one fails the template at once.
 *
 * The states and steps are in model.h.
 */
#ifndef VMSEAL_WORKFLOW_H
#define VMSEAL_WORKFLOW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "err.h"
#include "model.h"
#include "proto.h"

struct store;
struct store_template;
struct store_job;

struct wf_opts {
    int max_attempts;                     /* >= 1 */
    int64_t backoff_base_ms;              /* default 200 */
    int64_t backoff_max_ms;               /* default 30000 */
    int64_t timeout_s[4];                 /* per enum job_kind, sent as the job's timeout_s */
    int64_t grace_ms;                     /* deadline = timeout + grace since last sign of life;
                                        * a job no worker has reported on yet (queued,
                                        * maybe behind a backlog): the longest timeout + grace */
    const struct config_storage *storage; /* known domains; NULL or empty = accept any */
    const char *producer_id;              /* worker_id of template events */
    /* Optional: told of every template state/step change (inside the
     * transaction that writes it), e.g. to log it.  t is a struct store_template. */
    void (*transition_cb)(void *arg, const struct store_template *t);
    /* Optional: told when a job attempt ends (succeeded, failed, cancelled,
     * lost), inside the transaction that writes it; j is a struct store_job. */
    void (*job_end_cb)(void *arg, const struct store_job *j);
    void *transition_arg; /* the callbacks' arg */
};
/* Defaults: 3 attempts, 200 ms .. 30 s backoff, timeouts copy 3600, update
 * 60, delete 300, seal 3600 s, grace 30 s. */
void wf_opts_default(struct wf_opts *o);

typedef struct wf wf_t;

int wf_new(struct store *st, const struct wf_opts *opts, wf_t **ret);
void wf_free(wf_t *wf);

enum wf_outcome {
    WF_ACCEPTED,  /* a new template (or a cancel) was recorded */
    WF_DUPLICATE, /* same template id, same content (or a no-op cancel) */
    WF_REJECTED,  /* invalid: a template failed event (when an id was read) and a
                     * dead letter with the reason were written to the outbox */
};

/* A message from vmseal.requests (raw body, as delivered).  `why` receives
 * the rejection reason.  Errors (negative) are store errors only: the
 * transaction was rolled back and the caller must not ack. */
int wf_on_request(wf_t *wf, const void *body, size_t len, const char *message_id, int64_t now_ms,
                  enum wf_outcome *ret_outcome, char why[ERR_WHY_LEN]);
/* A job event (template events and unknown jobs are ignored).  Duplicates
 * (event_id seen) and events for old attempts are no-ops.  user_id is the
 * message's AMQP user-id (the broker checked it is the sender's login; NULL
 * when absent), routing_key its routing key (NULL: not checked).  The first
 * event of an attempt claims the job for user_id; an event without user-id,
 * from another identity, or whose template or routing key (it must be
 * job.<kind>.<state>.<user_id>, which topic permissions let only user_id
 * publish) is not the job's changes nothing and returns
 * -VMS_E_ACCESS_REFUSED with the reason in why: the caller logs, counts and
 * drops it.  A holder silent for WF_HOLDER_SILENT_MS (no event, no heartbeat
 * naming the job: a dead worker) gives the job up to the identity its
 * redelivery reached. */
#define WF_HOLDER_SILENT_MS 30000
int wf_on_event(wf_t *wf, const struct proto_event *ev, const char *user_id, const char *routing_key,
                int64_t now_ms, char why[ERR_WHY_LEN]);
/* A worker's heartbeat: the jobs it names as running that user_id (its AMQP
 * user-id) holds are alive (deadline moved); without user_id, none. */
int wf_on_heartbeat(wf_t *wf, const struct proto_heartbeat *hb, const char *user_id, int64_t now_ms);
/* Deadlines, due retries.  ret_next_ms: when it wants to be called again
 * (INT64_MAX when nothing is pending). */
int wf_on_tick(wf_t *wf, int64_t now_ms, int64_t *ret_next_ms);
/* After a (re)start: extend the deadlines of active jobs to now + their span
 * (the producer was away, not the workers). */
int wf_resume(wf_t *wf, int64_t now_ms);
/* Write a dead letter for an undecodable message from `queue` to the outbox. */
int wf_dead_letter(wf_t *wf, const char *queue, const char *message_id, const void *body, size_t len,
                   const char *reason, int64_t now_ms);

#endif
