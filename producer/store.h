/* store.h - the producer's durable state in SQLite (the one adapter for
 * SQLITE_* errors: every failure comes back as -VMS_E_DB, or -VMS_E_NOT_FOUND
 * for a missing row; store_why() has SQLite's text).
 *
 * Page size 1 KiB (set when the file is created: random-uuid keys dirty one
 * page per insert, and small pages cut the WAL bytes written per commit by
 * about a third of the producer's system time), WAL journal, synchronous=NORMAL: a committed transaction survives a crash
 * of the process (the WAL is in the OS page cache, written before commit
 * returns); only an OS crash or power loss can lose the last transactions,
 * and every effect is idempotent and redelivered, so that costs retries, not
 * correctness.  Measured on this machine (ext4 on virtio): 3000 small
 * transactions take 0.47 s with NORMAL and 17.4 s with FULL (an fsync per
 * commit, ~6 ms each), which would cap the producer far below its target.
 *
 * Schema (PRAGMA user_version = STORE_SCHEMA_VERSION; store_open migrates
 * older files forward, refuses newer ones):
 *   templates   one row per template: state, step, the rollback's final state,
 *               the canonical template.create body (duplicate detection and
 *               the seal's sysprep), error step/code/message, timestamps.
 *   disks       per template and disk index: source and target volume, the
 *               target's last known GEN / legality / voltype, enum disk_state.
 *   jobs        one row per attempt (job_id is per attempt): template, step,
 *               kind, disk (-1 = all), attempt, enum job_state, update args,
 *               schedule (not_before, deadline), timings, error, the holder
 *               (the broker identity whose event claimed it; schema 2).
 *   events_seen event_id of every final job event handled (idempotence).
 *   outbox      messages to publish: exchange, routing key, message id, type,
 *               dead-letter reason, body.  A row is deleted once confirmed.
 *
 * Transactions: store_begin() (BEGIN IMMEDIATE) ... store_commit(), or
 * store_rollback() on any error.  They nest: inside a transaction,
 * store_begin opens a savepoint, so a caller may batch several workflow
 * calls (each its own savepoint) into one commit, and roll back just one.  Row structs returned by getters own their
 * strings; free with the matching *_free (NULL-safe).
 */
#ifndef VMSEAL_STORE_H
#define VMSEAL_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "model.h"
#include "proto.h"

#define STORE_SCHEMA_VERSION 2

struct store;

struct store_template {
    proto_uuid id;
    char *name;
    enum tpl_state state;
    enum tpl_step step;
    enum tpl_state final_state;    /* while ROLLING_BACK: FAILED or CANCELLED */
    bool seal;
    void *request; size_t request_len;  /* canonical template.create */
    char *error_step, *error_code, *error_message; /* NULL = none */
    int64_t created_ms, updated_ms;
};

struct store_disk {
    proto_uuid template_id;
    int idx;
    struct proto_vol_ref src, dst;
    int generation;                /* the target's GEN as last known (expected next) */
    enum vol_legality legality;
    enum vol_type voltype;
    enum disk_state state;
};

struct store_job {
    proto_uuid id, template_id;
    enum tpl_step step;
    enum job_kind kind;
    int disk;                      /* disk index; -1 for vm.seal */
    int attempt;
    enum job_state state;
    int64_t timeout_s;
    /* volume.update arguments */
    int generation;
    enum vol_legality legality;
    enum vol_type voltype;
    int64_t not_before_ms, deadline_ms;
    int64_t created_ms, started_ms, finished_ms, last_event_ms; /* 0 = not yet */
    char *error_code, *error_message;
    int progress;                  /* 0..100, last reported */
    char *worker_id;               /* the worker that last reported on it */
    char *holder;                  /* the broker identity (AMQP user-id) whose event
                                      claimed it; NULL until the first event */
};

struct store_outbox {
    int64_t id;
    char *exchange, *routing_key, *message_id, *type, *reason;
    void *body; size_t body_len;
};

/* Open (creating if needed) and migrate; on failure `why` has the reason. */
int store_open(const char *path, struct store **ret, char why[ERR_WHY_LEN]);
void store_close(struct store *st);
const char *store_why(const struct store *st);

int store_begin(struct store *st);
int store_commit(struct store *st);
void store_rollback(struct store *st);
/* End what store_begin() opened with the outcome r of the work inside:
 * commit when r is 0, roll back when r or the commit failed.  Returns r, or
 * the commit's error. */
int store_end(struct store *st, int r);

int store_template_insert(struct store *st, const struct store_template *t);
int store_template_get(struct store *st, const char *id, struct store_template *ret);
/* Writes state, step, final_state, error_* and updated_ms. */
int store_template_update(struct store *st, const struct store_template *t);
/* Summaries (request not loaded), newest first; state < 0 = any; limit <= 0 = all. */
int store_template_list(struct store *st, int state, int limit,
                        struct store_template **ret, size_t *ret_n);
void store_template_free(struct store_template *t);
void store_template_array_free(struct store_template *a, size_t n);

int store_disk_insert(struct store *st, const struct store_disk *d);
int store_disk_update(struct store *st, const struct store_disk *d);
int store_disks_get(struct store *st, const char *template_id, struct store_disk **ret, size_t *ret_n);

int store_job_insert(struct store *st, const struct store_job *j);
/* Writes state, not_before, deadline, started/finished/last_event, error_*,
 * progress, worker_id. */
int store_job_update(struct store *st, const struct store_job *j);
int store_job_get(struct store *st, const char *id, struct store_job *ret);
/* In creation order (attempts ascending). */
int store_jobs_get(struct store *st, const char *template_id, struct store_job **ret, size_t *ret_n);
/* Active jobs (waiting/queued/running) whose not_before (waiting) or deadline
 * (queued/running) is <= now. */
int store_jobs_due(struct store *st, int64_t now_ms, struct store_job **ret, size_t *ret_n);
/* Earliest not_before/deadline of any active job; INT64_MAX if none. */
int store_jobs_next_due(struct store *st, int64_t *ret_ms);
/* All queued/running jobs (for wf_resume). */
int store_jobs_inflight(struct store *st, struct store_job **ret, size_t *ret_n);
void store_job_free(struct store_job *j);
void store_job_array_free(struct store_job *a, size_t n);

/* Record an event id: *ret_seen = true if it was already there. */
int store_event_mark_seen(struct store *st, const char *event_id, int64_t now_ms, bool *ret_seen);
/* Forget event ids seen before `before_ms` (housekeeping). */
int store_events_prune(struct store *st, int64_t before_ms);

int store_outbox_add(struct store *st, const struct store_outbox *o, int64_t now_ms);
/* Up to `limit` rows with id > after_id, in id order. */
int store_outbox_list(struct store *st, int64_t after_id, int limit,
                      struct store_outbox **ret, size_t *ret_n);
/* Delete rows (confirmed by the broker) in one transaction of its own. */
int store_outbox_delete(struct store *st, const int64_t *ids, size_t n);
/* Drop unpublished rows of one message (a job given up before it went out). */
int store_outbox_forget(struct store *st, const char *message_id);
int store_outbox_count(struct store *st, int64_t *ret_n);
void store_outbox_array_free(struct store_outbox *a, size_t n);

#endif
