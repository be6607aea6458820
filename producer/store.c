/* store.c - the producer's store: the SQL and the row mapping, shared by the
 * SQLite and PostgreSQL backends (store_int.h), and the transactions. */
#include "store_int.h"

#include <limits.h>
#include <stdarg.h>
#include <string.h>
#include <sys/stat.h>

#include "err.h"
#include "util.h"

/* ---- opening: the target chooses the backend ------------------------------ */

bool store_target_is_pg(const char *target) {
    return strncmp(target, "postgresql://", 13) == 0 || strncmp(target, "postgres://", 11) == 0;
}

int store_open_with(const char *target, const char *password, struct store **ret, char why[ERR_WHY_LEN]) {
    struct store *st = xcalloc(1, sizeof *st);
    st->be = store_target_is_pg(target) ? &store_backend_pg : &store_backend_sqlite;
    int r = st->be->open(st, target, password);
    if (r < 0) {
        snprintf(why, ERR_WHY_LEN, "%.200s: %.300s", st->be->name, st->why);
        store_close(st);
        *ret = NULL;
        return r;
    }
    *ret = st;
    return 0;
}

int store_open(const char *target, struct store **ret, char why[ERR_WHY_LEN]) {
    return store_open_with(target, NULL, ret, why);
}

void store_close(struct store *st) {
    if (!st)
        return;
    st->be->close(st);
    free(st);
}

const char *store_why(const struct store *st) { return st ? st->why : "no store"; }

int store_status(const struct store *st) { return st->lost; }

const char *store_backend_name(const struct store *st) { return st->be->name; }

int store_watch_fd(struct store *st) { return st->lost || !st->be->watch_fd ? -1 : st->be->watch_fd(st); }

void store_watch(struct store *st) {
    if (!st->lost && st->be->watch)
        st->be->watch(st);
}

int store_lease_try(struct store *st, const char *holder, bool *ret_taken, char *ret_holder, size_t len) {
    return st->lost ? st->lost : st->be->lease_try(st, holder, ret_taken, ret_holder, len);
}

/* ---- statements ---------------------------------------------------------------- */

static int db_query(struct store *st, const char *sql, const char *fmt, ...) {
    if (st->lost)
        return st->lost;
    va_list ap;
    va_start(ap, fmt);
    int r = st->be->query(st, sql, fmt, ap);
    va_end(ap);
    return r;
}

/* Statements without rows; db_run_one: it must change exactly one row
 * (else -VMS_E_NOT_FOUND).  A backend may report their failure later, at
 * the next statement that returns rows or at the end of the savepoint. */
static int db_runv(struct store *st, const char *sql, int expect, const char *fmt, va_list ap) {
    return st->lost ? st->lost : st->be->run(st, sql, expect, fmt, ap);
}

static int db_run(struct store *st, const char *sql, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int r = db_runv(st, sql, -1, fmt, ap);
    va_end(ap);
    return r;
}

static int db_run_one(struct store *st, const char *sql, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int r = db_runv(st, sql, 1, fmt, ap);
    va_end(ap);
    return r;
}

static int db_next(struct store *st) { return st->be->next(st); }

static int col_int(struct store *st, int i) { return (int)st->be->col_int(st, i); }
static int64_t col_i64(struct store *st, int i) { return st->be->col_int(st, i); }

static char *col_str(struct store *st, int i) {
    const char *t = st->be->col_text(st, i);
    return t ? xstrdup(t) : NULL;
}

static void col_uuid(struct store *st, int i, proto_uuid out) {
    const char *t = st->be->col_text(st, i);
    snprintf(out, sizeof(proto_uuid), "%s", t ? t : "");
}

static void *col_blob(struct store *st, int i, size_t *ret_len) {
    size_t n = 0;
    const void *p = st->be->col_blob(st, i, &n);
    void *out = xmalloc(n ? n : 1);
    if (n > 0)
        memcpy(out, p, n);
    *ret_len = n;
    return out;
}

/* ---- transactions ---------------------------------------------------------------- */

/* Nesting: the outermost level is a transaction, inner levels savepoints. */
int store_begin(struct store *st) {
    if (st->lost)
        return st->lost;
    int r = st->depth == 0 ? st->be->begin(st) : st->be->exec(st, "SAVEPOINT nest");
    if (r == 0)
        st->depth++;
    return r;
}

int store_commit(struct store *st) {
    if (st->depth == 0) {
        snprintf(st->why, sizeof st->why, "commit without a transaction");
        return -VMS_E_DB;
    }
    int r = st->lost ? st->lost : st->be->exec(st, st->depth == 1 ? "COMMIT" : "RELEASE nest");
    if (r == 0)
        st->depth--;
    return r;
}

void store_rollback(struct store *st) {
    if (st->depth == 0)
        return;
    if (st->lost) {
        /* nothing to undo on a connection that is gone */
    } else if (st->depth == 1) {
        if (st->be->in_transaction(st))
            (void)st->be->exec(st, "ROLLBACK");
    } else {
        (void)st->be->exec(st, "ROLLBACK TO nest");
        (void)st->be->exec(st, "RELEASE nest");
    }
    st->depth--;
}

int store_end(struct store *st, int r) {
    if (r == 0)
        r = store_commit(st);
    if (r < 0)
        store_rollback(st);
    return r;
}

/* ---- templates ----------------------------------------------------------- */

#define TPL_COLS                                                                        \
    "id, name, state, step, final_state, seal, error_step, error_code, error_message, " \
    "created_ms, updated_ms"

static void tpl_read(struct store *st, struct store_template *t) {
    memset(t, 0, sizeof *t);
    col_uuid(st, 0, t->id);
    t->name = col_str(st, 1);
    t->state = col_int(st, 2);
    t->step = col_int(st, 3);
    t->final_state = col_int(st, 4);
    t->seal = col_int(st, 5) != 0;
    t->error_step = col_str(st, 6);
    t->error_code = col_str(st, 7);
    t->error_message = col_str(st, 8);
    t->created_ms = col_i64(st, 9);
    t->updated_ms = col_i64(st, 10);
}

int store_template_insert(struct store *st, const struct store_template *t) {
    return db_run(st, "INSERT INTO templates (" TPL_COLS ", request) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
                  "ttiiiitttIIb", t->id, t->name, (int)t->state, (int)t->step, (int)t->final_state, (int)t->seal,
                  t->error_step, t->error_code, t->error_message, t->created_ms, t->updated_ms, t->request,
                  t->request_len);
}

int store_template_get(struct store *st, const char *id, struct store_template *ret) {
    int r = db_query(st, "SELECT " TPL_COLS ", request FROM templates WHERE id = ?", "t", id);
    if (r < 0 || (r = db_next(st)) < 0)
        return r;
    if (r == 0)
        return -VMS_E_NOT_FOUND;
    tpl_read(st, ret);
    ret->request = col_blob(st, 11, &ret->request_len);
    st->be->done(st);
    return 0;
}

int store_template_update(struct store *st, const struct store_template *t) {
    return db_run_one(st,
                      "UPDATE templates SET state=?, step=?, final_state=?, error_step=?, error_code=?,"
                      " error_message=?, updated_ms=? WHERE id=?",
                      "iiitttIt", (int)t->state, (int)t->step, (int)t->final_state, t->error_step, t->error_code,
                      t->error_message, t->updated_ms, t->id);
}

int store_template_list(struct store *st, int state, int limit, struct store_template **ret, size_t *ret_n) {
    int r = db_query(st,
                     "SELECT " TPL_COLS " FROM templates WHERE (?1 < 0 OR state = ?1)"
                     " ORDER BY updated_ms DESC, id LIMIT ?2",
                     "ii", state, limit > 0 ? limit : INT_MAX);
    *ret = NULL;
    *ret_n = 0;
    size_t cap = 0;
    while (r >= 0 && (r = db_next(st)) == 1) {
        if (*ret_n == cap)
            *ret = xrealloc(*ret, (cap = cap ? cap * 2 : 16) * sizeof **ret);
        tpl_read(st, &(*ret)[(*ret_n)++]);
    }
    if (r < 0) {
        store_template_array_free(*ret, *ret_n);
        *ret = NULL, *ret_n = 0;
    }
    return r < 0 ? r : 0;
}

void store_template_free(struct store_template *t) {
    if (!t)
        return;
    free(t->name);
    free(t->request);
    free(t->error_step);
    free(t->error_code);
    free(t->error_message);
    memset(t, 0, sizeof *t);
}

void store_template_array_free(struct store_template *a, size_t n) {
    for (size_t i = 0; a && i < n; i++)
        store_template_free(&a[i]);
    free(a);
}

/* ---- disks ----------------------------------------------------------------- */

int store_disk_insert(struct store *st, const struct store_disk *d) {
    return db_run(st,
                  "INSERT INTO disks (template_id, idx, src_sd, src_img, src_vol, dst_sd, dst_img, dst_vol,"
                  " generation, legality, voltype, state) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
                  "tittttttiiii", d->template_id, d->idx, d->src.sd_id, d->src.img_id, d->src.vol_id, d->dst.sd_id,
                  d->dst.img_id, d->dst.vol_id, d->generation, (int)d->legality, (int)d->voltype, (int)d->state);
}

int store_disk_update(struct store *st, const struct store_disk *d) {
    return db_run_one(
        st, "UPDATE disks SET generation=?, legality=?, voltype=?, state=? WHERE template_id=? AND idx=?",
        "iiiiti", d->generation, (int)d->legality, (int)d->voltype, (int)d->state, d->template_id, d->idx);
}

int store_disks_get(struct store *st, const char *template_id, struct store_disk **ret, size_t *ret_n) {
    int r = db_query(st,
                     "SELECT template_id, idx, src_sd, src_img, src_vol, dst_sd, dst_img, dst_vol,"
                     " generation, legality, voltype, state FROM disks WHERE template_id=? ORDER BY idx",
                     "t", template_id);
    *ret = NULL;
    *ret_n = 0;
    size_t cap = 0;
    while (r >= 0 && (r = db_next(st)) == 1) {
        if (*ret_n == cap)
            *ret = xrealloc(*ret, (cap = cap ? cap * 2 : 4) * sizeof **ret);
        struct store_disk *d = &(*ret)[(*ret_n)++];
        memset(d, 0, sizeof *d);
        col_uuid(st, 0, d->template_id);
        d->idx = col_int(st, 1);
        col_uuid(st, 2, d->src.sd_id);
        col_uuid(st, 3, d->src.img_id);
        col_uuid(st, 4, d->src.vol_id);
        col_uuid(st, 5, d->dst.sd_id);
        col_uuid(st, 6, d->dst.img_id);
        col_uuid(st, 7, d->dst.vol_id);
        d->generation = col_int(st, 8);
        d->legality = col_int(st, 9);
        d->voltype = col_int(st, 10);
        d->state = col_int(st, 11);
    }
    if (r < 0) {
        free(*ret);
        *ret = NULL, *ret_n = 0;
    }
    return r < 0 ? r : 0;
}

/* ---- jobs ------------------------------------------------------------------ */

#define JOB_COLS                                                                          \
    "id, template_id, step, kind, disk, attempt, state, timeout_s, generation, legality," \
    " voltype, not_before_ms, deadline_ms, created_ms, started_ms, finished_ms,"          \
    " last_event_ms, error_code, error_message, progress, worker_id, holder"

static void job_read(struct store *st, struct store_job *j) {
    memset(j, 0, sizeof *j);
    col_uuid(st, 0, j->id);
    col_uuid(st, 1, j->template_id);
    j->step = col_int(st, 2);
    j->kind = col_int(st, 3);
    j->disk = col_int(st, 4);
    j->attempt = col_int(st, 5);
    j->state = col_int(st, 6);
    j->timeout_s = col_i64(st, 7);
    j->generation = col_int(st, 8);
    j->legality = col_int(st, 9);
    j->voltype = col_int(st, 10);
    j->not_before_ms = col_i64(st, 11);
    j->deadline_ms = col_i64(st, 12);
    j->created_ms = col_i64(st, 13);
    j->started_ms = col_i64(st, 14);
    j->finished_ms = col_i64(st, 15);
    j->last_event_ms = col_i64(st, 16);
    j->error_code = col_str(st, 17);
    j->error_message = col_str(st, 18);
    j->progress = col_int(st, 19);
    j->worker_id = col_str(st, 20);
    j->holder = col_str(st, 21);
}

/* Collect every row of a prepared job query. */
static int jobs_collect(struct store *st, int r, struct store_job **ret, size_t *ret_n) {
    *ret = NULL;
    *ret_n = 0;
    size_t cap = 0;
    while (r >= 0 && (r = db_next(st)) == 1) {
        if (*ret_n == cap)
            *ret = xrealloc(*ret, (cap = cap ? cap * 2 : 8) * sizeof **ret);
        job_read(st, &(*ret)[(*ret_n)++]);
    }
    if (r < 0) {
        store_job_array_free(*ret, *ret_n);
        *ret = NULL, *ret_n = 0;
    }
    return r < 0 ? r : 0;
}

int store_job_insert(struct store *st, const struct store_job *j) {
    return db_run(st, "INSERT INTO jobs (" JOB_COLS ") VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                  "ttiiiiiIiiiIIIIIIttitt", j->id, j->template_id, (int)j->step, (int)j->kind, j->disk, j->attempt,
                  (int)j->state, j->timeout_s, j->generation, (int)j->legality, (int)j->voltype, j->not_before_ms,
                  j->deadline_ms, j->created_ms, j->started_ms, j->finished_ms, j->last_event_ms, j->error_code,
                  j->error_message, j->progress, j->worker_id, j->holder);
}

int store_job_update(struct store *st, const struct store_job *j) {
    return db_run_one(
        st,
        "UPDATE jobs SET state=?, not_before_ms=?, deadline_ms=?, started_ms=?, finished_ms=?,"
        " last_event_ms=?, error_code=?, error_message=?, progress=?, worker_id=?, holder=? WHERE id=?",
        "iIIIIIttittt", (int)j->state, j->not_before_ms, j->deadline_ms, j->started_ms, j->finished_ms,
        j->last_event_ms, j->error_code, j->error_message, j->progress, j->worker_id, j->holder, j->id);
}

int store_job_get(struct store *st, const char *id, struct store_job *ret) {
    int r = db_query(st, "SELECT " JOB_COLS " FROM jobs WHERE id=?", "t", id);
    if (r < 0 || (r = db_next(st)) < 0)
        return r;
    if (r == 0)
        return -VMS_E_NOT_FOUND;
    job_read(st, ret);
    st->be->done(st);
    return 0;
}

int store_jobs_get(struct store *st, const char *template_id, struct store_job **ret, size_t *ret_n) {
    int r = db_query(st, "SELECT " JOB_COLS " FROM jobs WHERE template_id=? ORDER BY created_ms, rowid", "t",
                     template_id);
    return jobs_collect(st, r, ret, ret_n);
}

int store_jobs_due(struct store *st, int64_t now_ms, struct store_job **ret, size_t *ret_n) {
    int r = db_query(st,
                     "SELECT " JOB_COLS " FROM jobs WHERE state <= ?2 AND"
                     " ((state = ?3 AND not_before_ms <= ?1) OR (state > ?3 AND deadline_ms <= ?1))"
                     " ORDER BY created_ms, rowid",
                     "Iii", now_ms, JOB_RUNNING, JOB_WAITING);
    return jobs_collect(st, r, ret, ret_n);
}

int store_jobs_next_due(struct store *st, int64_t *ret_ms) {
    int r = db_query(st,
                     "SELECT MIN(CASE WHEN state = ?1 THEN not_before_ms ELSE deadline_ms END)"
                     " FROM jobs WHERE state <= ?2",
                     "ii", JOB_WAITING, JOB_RUNNING);
    if (r < 0 || (r = db_next(st)) < 0)
        return r;
    *ret_ms = st->be->col_null(st, 0) ? INT64_MAX : col_i64(st, 0);
    st->be->done(st);
    return 0;
}

int store_jobs_inflight(struct store *st, struct store_job **ret, size_t *ret_n) {
    int r =
        db_query(st, "SELECT " JOB_COLS " FROM jobs WHERE state BETWEEN ?1 AND ?2", "ii", JOB_QUEUED, JOB_RUNNING);
    return jobs_collect(st, r, ret, ret_n);
}

int store_job_files_set(struct store *st, const char *job_id, const struct proto_files *f) {
    _cleanup_free_ char *buf = NULL;
    size_t len = 0;
    int r = proto_files_encode(f, &buf, &len);
    return r < 0 ? r : db_run_one(st, "UPDATE jobs SET files=? WHERE id=?", "bt", buf, len, job_id);
}

int store_job_files_get(struct store *st, const char *job_id, struct proto_files **ret) {
    _cleanup_free_ void *buf = NULL;
    size_t len = 0;
    char why[ERR_WHY_LEN] = "";
    *ret = NULL;
    int r = db_query(st, "SELECT files FROM jobs WHERE id=?", "t", job_id);
    if (r < 0 || (r = db_next(st)) < 0)
        return r;
    if (r == 0)
        return -VMS_E_NOT_FOUND;
    if (!st->be->col_null(st, 0))
        buf = col_blob(st, 0, &len);
    st->be->done(st);
    if (!buf)
        return 0;
    *ret = xcalloc(1, sizeof **ret);
    if (proto_files_decode(buf, len, *ret, why) < 0) {
        snprintf(st->why, sizeof st->why, "job %s: the stored files do not decode: %s", job_id, why);
        free(*ret);
        *ret = NULL;
        return -VMS_E_DB;
    }
    return 0;
}

void store_job_free(struct store_job *j) {
    if (!j)
        return;
    free(j->error_code);
    free(j->error_message);
    free(j->worker_id);
    free(j->holder);
    memset(j, 0, sizeof *j);
}

void store_job_array_free(struct store_job *a, size_t n) {
    for (size_t i = 0; a && i < n; i++)
        store_job_free(&a[i]);
    free(a);
}

/* ---- events seen ------------------------------------------------------------ */

int store_event_mark_seen(struct store *st, const char *event_id, int64_t now_ms, bool *ret_seen) {
    int r = db_query(st,
                     "INSERT INTO events_seen (event_id, seen_ms) VALUES (?, ?) ON CONFLICT DO NOTHING"
                     " RETURNING event_id",
                     "tI", event_id, now_ms);
    if (r < 0 || (r = db_next(st)) < 0)
        return r;
    *ret_seen = r == 0;
    st->be->done(st);
    return 0;
}

int store_events_prune(struct store *st, int64_t before_ms) {
    return db_run(st, "DELETE FROM events_seen WHERE seen_ms < ?", "I", before_ms);
}

/* ---- outbox ------------------------------------------------------------------ */

int store_outbox_add(struct store *st, const struct store_outbox *o, int64_t now_ms) {
    return db_run(st,
                  "INSERT INTO outbox (exchange, routing_key, message_id, type, reason, body, created_ms)"
                  " VALUES (?,?,?,?,?,?,?)",
                  "tttttbI", o->exchange, o->routing_key, o->message_id, o->type, o->reason, o->body, o->body_len,
                  now_ms);
}

int store_outbox_list(struct store *st, int64_t after_id, int limit, struct store_outbox **ret, size_t *ret_n) {
    int r = db_query(st,
                     "SELECT id, exchange, routing_key, message_id, type, reason, body FROM outbox"
                     " WHERE id > ? ORDER BY id LIMIT ?",
                     "Ii", after_id, limit);
    *ret = NULL;
    *ret_n = 0;
    size_t cap = 0;
    while (r >= 0 && (r = db_next(st)) == 1) {
        if (*ret_n == cap)
            *ret = xrealloc(*ret, (cap = cap ? cap * 2 : 16) * sizeof **ret);
        struct store_outbox *o = &(*ret)[(*ret_n)++];
        o->id = col_i64(st, 0);
        o->exchange = col_str(st, 1);
        o->routing_key = col_str(st, 2);
        o->message_id = col_str(st, 3);
        o->type = col_str(st, 4);
        o->reason = col_str(st, 5);
        o->body = col_blob(st, 6, &o->body_len);
    }
    if (r < 0) {
        store_outbox_array_free(*ret, *ret_n);
        *ret = NULL, *ret_n = 0;
    }
    return r < 0 ? r : 0;
}

/* One statement per OUTBOX_DELETE_MAX rows: the ids as a JSON array. */
#define OUTBOX_DELETE_MAX 256
int store_outbox_delete(struct store *st, const int64_t *ids, size_t n) {
    int r = store_begin(st);
    char *json = xmalloc(OUTBOX_DELETE_MAX * 21 + 3);
    for (size_t i = 0; i < n && r == 0; i += OUTBOX_DELETE_MAX) {
        size_t len = 0, k = n - i < OUTBOX_DELETE_MAX ? n - i : OUTBOX_DELETE_MAX;
        for (size_t j = 0; j < k; j++)
            len += (size_t)sprintf(json + len, "%c%lld", j ? ',' : '[', (long long)ids[i + j]);
        sprintf(json + len, "]");
        r = db_run(st, st->be->sql_outbox_delete, "t", json);
    }
    free(json);
    return store_end(st, r);
}

int store_outbox_forget(struct store *st, const char *message_id) {
    return db_run(st, "DELETE FROM outbox WHERE message_id = ?", "t", message_id);
}

int store_outbox_count(struct store *st, int64_t *ret_n) {
    int r = db_query(st, "SELECT COUNT(*) FROM outbox", "");
    if (r < 0 || (r = db_next(st)) < 0)
        return r;
    *ret_n = col_i64(st, 0);
    st->be->done(st);
    return 0;
}

int store_volume_id_used(struct store *st, const char *template_id, const char *sd_id, const char *img_id,
                         const char *vol_id, bool *ret_used) {
    int r = db_query(st,
                     "SELECT COUNT(*) FROM disks WHERE template_id <> ?1 AND"
                     " ((src_sd = ?2 AND (src_img = ?3 OR src_vol = ?4)) OR"
                     "  (dst_sd = ?2 AND state <> ?5 AND (dst_img = ?3 OR dst_vol = ?4)))",
                     "tttti", template_id, sd_id, img_id, vol_id, DISK_DELETED);
    if (r < 0 || (r = db_next(st)) < 0)
        return r;
    *ret_used = col_i64(st, 0) > 0;
    st->be->done(st);
    return 0;
}

void store_outbox_array_free(struct store_outbox *a, size_t n) {
    for (size_t i = 0; a && i < n; i++) {
        free(a[i].exchange);
        free(a[i].routing_key);
        free(a[i].message_id);
        free(a[i].type);
        free(a[i].reason);
        free(a[i].body);
    }
    free(a);
}
