/* store.h - the producer's durable state, the contract of its two
 * backends: SQLite (store_sqlite.c, the embedded default: producer.db is a
 * path) and PostgreSQL (store_pg.c: producer.db is a postgresql:// or
 * postgres:// URI).  Every failure comes back as -VMS_E_DB, -VMS_E_NOT_FOUND
 * for a missing row, -VMS_E_DB_LOST once the database connection is gone or
 * -VMS_E_LEASE_LOST once another producer took the lead; the last two stick
 * (store_status()): the store must be closed and opened again.
 * store_why() has the database's text.
 *
 * Both backends hold the same schema, versioned (SQLite: PRAGMA
 * user_version; PostgreSQL: table schema_version) and migrated forward only
 * by the store that holds the lead (below): store_open takes it when it is
 * free, else store_lease_try migrates when it takes it, so a standby of a
 * newer version never changes the schema under an older active producer.
 * A newer schema is refused.
 *   templates   one row per template: state, step, the rollback's final state,
 *               the canonical template.create body (duplicate detection and
 *               the seal's sysprep), error step/code/message, timestamps.
 *   disks       per template and disk index: source and target volume, the
 *               target's last known GEN / legality / voltype, enum disk_state.
 *   jobs        one row per attempt (job_id is per attempt): template, step,
 *               kind, disk (-1 = all), attempt, enum job_state, update args,
 *               schedule (not_before, deadline), timings, error, the holder
 *               (the broker identity whose event claimed it; schema 2),
 *               what a vm.seal attempt did to the guest (its final event's
 *               `files`, proto_files_encode(); schema 3).
 *   events_seen event_id of every final job event handled (idempotence).
 *   outbox      messages to publish: exchange, routing key, message id, type,
 *               dead-letter reason, body.  A row is deleted once confirmed.
 *   lease       (PostgreSQL) the active producer's name and generation.
 * Durability: SQLite runs WAL with synchronous=FULL; PostgreSQL commits
 * with the server's synchronous_commit (on by default).
 *
 * Leadership (store_lease_try): one producer per store is active.  SQLite:
 * an flock() of "<path>.lock", held until the store closes (the producers
 * share one machine's disk).  PostgreSQL: a session advisory lock, which the
 * server drops the moment the holder's connection ends (process killed,
 * backend terminated), plus a generation in the lease row that the new
 * leader increments; every transaction begins by reading it and fails with
 * -VMS_E_LEASE_LOST when it is no longer the one this store took.
 *
 * Transactions: store_begin() ... store_commit(), or store_rollback() on
 * any error.  They nest: inside a transaction, store_begin opens a
 * savepoint, so a caller may batch several workflow calls (each its own
 * savepoint) into one commit, and roll back just one.  Row structs returned
 * by getters own their strings; free with the matching *_free (NULL-safe).
 */
#ifndef VMSEAL_STORE_H
#define VMSEAL_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "model.h"
#include "proto.h"

#define STORE_SCHEMA_VERSION 3

struct store;

struct store_template {
    proto_uuid id;
    char *name;
    enum tpl_state state;
    enum tpl_step step;
    enum tpl_state final_state; /* while ROLLING_BACK: FAILED or CANCELLED */
    bool seal;
    void *request;
    size_t request_len;                            /* canonical template.create */
    char *error_step, *error_code, *error_message; /* NULL = none */
    int64_t created_ms, updated_ms;
};

struct store_disk {
    proto_uuid template_id;
    int idx;
    struct proto_vol_ref src, dst;
    int generation; /* the target's GEN as last known (expected next) */
    enum vol_legality legality;
    enum vol_type voltype;
    enum disk_state state;
};

struct store_job {
    proto_uuid id, template_id;
    enum tpl_step step;
    enum job_kind kind;
    int disk; /* disk index; -1 for vm.seal */
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
    int progress;    /* 0..100, last reported */
    char *worker_id; /* the worker that last reported on it */
    char *holder;    /* the broker identity (AMQP user-id) whose event
                                      claimed it; NULL until the first event */
};

struct store_outbox {
    int64_t id;
    char *exchange, *routing_key, *message_id, *type, *reason;
    void *body;
    size_t body_len;
};

/* Whether a producer.db value names a PostgreSQL database (a URI). */
bool store_target_is_pg(const char *target);
/* Open (creating if needed) and migrate; on failure why says why.  target:
 * a SQLite path or a PostgreSQL URI; password (PostgreSQL, may be NULL)
 * adds to what libpq finds itself (URI, service file, .pgpass, certificate). */
int store_open_with(const char *target, const char *password, struct store **ret, char why[ERR_WHY_LEN]);
int store_open(const char *target, struct store **ret, char why[ERR_WHY_LEN]);
void store_close(struct store *st);
const char *store_why(const struct store *st);
/* 0, or -VMS_E_DB_LOST / -VMS_E_LEASE_LOST once the store is unusable. */
int store_status(const struct store *st);
const char *store_backend_name(const struct store *st); /* "sqlite", "postgresql" */
/* A database connection's socket (PostgreSQL; else -1): poll it for input
 * between statements and call store_watch() when it is readable, so that a
 * connection the server ended (its backend terminated, the server shut
 * down) makes the store lost at once rather than at its next statement. */
int store_watch_fd(struct store *st);
void store_watch(struct store *st);

/* Become the active producer if none is (see above): *ret_taken, and when
 * not taken the active one's name in ret_holder (PostgreSQL; else ""). */
int store_lease_try(struct store *st, const char *holder, bool *ret_taken, char *ret_holder, size_t len);

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
int store_template_list(struct store *st, int state, int limit, struct store_template **ret, size_t *ret_n);
void store_template_free(struct store_template *t);
void store_template_array_free(struct store_template *a, size_t n);

int store_disk_insert(struct store *st, const struct store_disk *d);
int store_disk_update(struct store *st, const struct store_disk *d);
int store_disks_get(struct store *st, const char *template_id, struct store_disk **ret, size_t *ret_n);
/* Whether another template than template_id uses img_id or vol_id in domain
 * sd_id: as a source, or as a target that is not deleted. */
int store_volume_id_used(struct store *st, const char *template_id, const char *sd_id, const char *img_id,
                         const char *vol_id, bool *ret_used);

int store_job_insert(struct store *st, const struct store_job *j);
/* Writes state, not_before, deadline, started/finished/last_event, error_*,
 * progress, worker_id. */
int store_job_update(struct store *st, const struct store_job *j);
int store_job_get(struct store *st, const char *id, struct store_job *ret);
/* In creation order (attempts ascending). */
int store_jobs_get(struct store *st, const char *template_id, struct store_job **ret, size_t *ret_n);
/* What a vm.seal attempt did (its final event's files, proto.h), kept with
 * the job; store_job_files_get gives *ret NULL when none was kept, else a
 * malloc'd struct (proto_files_free, then free).  Stored bytes that do not
 * decode are -VMS_E_DB. */
int store_job_files_set(struct store *st, const char *job_id, const struct proto_files *f);
int store_job_files_get(struct store *st, const char *job_id, struct proto_files **ret);
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
int store_outbox_list(struct store *st, int64_t after_id, int limit, struct store_outbox **ret, size_t *ret_n);
/* Delete rows (confirmed by the broker) in one transaction of its own. */
int store_outbox_delete(struct store *st, const int64_t *ids, size_t n);
/* Drop unpublished rows of one message (a job given up before it went out). */
int store_outbox_forget(struct store *st, const char *message_id);
int store_outbox_count(struct store *st, int64_t *ret_n);
void store_outbox_array_free(struct store_outbox *a, size_t n);

#endif
