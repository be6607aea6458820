/* store.c - SQLite store of the producer; the only file that sees SQLITE_*. */
#include "store.h"

#include <errno.h>
#include <fcntl.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <string.h>
#include <sys/stat.h>

#include "err.h"
#include "util.h"

#define STMT_CACHE 48

struct stmt_slot {
    const char *sql;          /* a string literal: the cache key is its address */
    sqlite3_stmt *stmt;
};

struct store {
    sqlite3 *db;
    char why[ERR_WHY_LEN];
    struct stmt_slot cache[STMT_CACHE];
    size_t n_cache;
    int depth;                /* store_begin nesting */
};

/* Migrations: migration[i] brings user_version i to i+1.  A migration is
 * history: its text never changes.  Queries bind enum values; the active
 * jobs' partial index spells them once, as numbers, and SQLite uses it for a
 * query whose bound values imply its condition (state <= JOB_RUNNING). */
_Static_assert(JOB_WAITING == 0 && JOB_QUEUED == 1 && JOB_RUNNING == 2,
               "the jobs_active index of migration 0 is WHERE state <= 2");
static const char *const migrations[] = {
    "CREATE TABLE templates ("
    "  id TEXT PRIMARY KEY, name TEXT NOT NULL, state INTEGER NOT NULL,"
    "  step INTEGER NOT NULL, final_state INTEGER NOT NULL, seal INTEGER NOT NULL,"
    "  request BLOB NOT NULL, error_step TEXT, error_code TEXT, error_message TEXT,"
    "  created_ms INTEGER NOT NULL, updated_ms INTEGER NOT NULL);"
    "CREATE INDEX templates_state ON templates(state, updated_ms);"
    "CREATE INDEX templates_updated ON templates(updated_ms);"
    "CREATE TABLE disks ("
    "  template_id TEXT NOT NULL REFERENCES templates(id), idx INTEGER NOT NULL,"
    "  src_sd TEXT NOT NULL, src_img TEXT NOT NULL, src_vol TEXT NOT NULL,"
    "  dst_sd TEXT NOT NULL, dst_img TEXT NOT NULL, dst_vol TEXT NOT NULL,"
    "  generation INTEGER NOT NULL, legality INTEGER NOT NULL, voltype INTEGER NOT NULL,"
    "  state INTEGER NOT NULL, PRIMARY KEY (template_id, idx)) WITHOUT ROWID;"
    "CREATE TABLE jobs ("
    "  id TEXT PRIMARY KEY, template_id TEXT NOT NULL REFERENCES templates(id),"
    "  step INTEGER NOT NULL, kind INTEGER NOT NULL, disk INTEGER NOT NULL,"
    "  attempt INTEGER NOT NULL, state INTEGER NOT NULL, timeout_s INTEGER NOT NULL,"
    "  generation INTEGER NOT NULL, legality INTEGER NOT NULL, voltype INTEGER NOT NULL,"
    "  not_before_ms INTEGER NOT NULL, deadline_ms INTEGER NOT NULL,"
    "  created_ms INTEGER NOT NULL, started_ms INTEGER NOT NULL,"
    "  finished_ms INTEGER NOT NULL, last_event_ms INTEGER NOT NULL,"
    "  error_code TEXT, error_message TEXT, progress INTEGER NOT NULL DEFAULT 0, worker_id TEXT);"
    "CREATE INDEX jobs_template ON jobs(template_id, created_ms);"
    "CREATE INDEX jobs_active ON jobs(state) WHERE state <= 2;"
    "CREATE TABLE events_seen (event_id TEXT PRIMARY KEY, seen_ms INTEGER NOT NULL) WITHOUT ROWID;"
    "CREATE INDEX events_seen_ms ON events_seen(seen_ms);"
    "CREATE TABLE outbox ("
    "  id INTEGER PRIMARY KEY AUTOINCREMENT, exchange TEXT NOT NULL,"
    "  routing_key TEXT NOT NULL, message_id TEXT NOT NULL, type TEXT,"
    "  reason TEXT, body BLOB NOT NULL, created_ms INTEGER NOT NULL);",
    /* 1 -> 2: the broker identity (AMQP user-id) that holds each job */
    "ALTER TABLE jobs ADD COLUMN holder TEXT;",
};

/* ---- the SQLITE_* adapter ---------------------------------------------- */

static int db_fail(struct store *st, int rc) {
    snprintf(st->why, sizeof st->why, "%s (%s)", st->db ? sqlite3_errmsg(st->db) : "no database",
             sqlite3_errstr(rc));
    return -VMS_E_DB;
}

static int db_exec(struct store *st, const char *sql) {
    char *msg = NULL;
    int rc = sqlite3_exec(st->db, sql, NULL, NULL, &msg);
    if (rc == SQLITE_OK)
        return 0;
    snprintf(st->why, sizeof st->why, "%s", msg ? msg : sqlite3_errstr(rc));
    sqlite3_free(msg);
    return -VMS_E_DB;
}

/* A cached prepared statement, reset and with bindings cleared. */
static int db_stmt(struct store *st, const char *sql, sqlite3_stmt **ret) {
    for (size_t i = 0; i < st->n_cache; i++)
        if (st->cache[i].sql == sql) {
            sqlite3_reset(st->cache[i].stmt);
            sqlite3_clear_bindings(st->cache[i].stmt);
            *ret = st->cache[i].stmt;
            return 0;
        }
    sqlite3_stmt *s = NULL;
    int rc = sqlite3_prepare_v3(st->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &s, NULL);
    if (rc != SQLITE_OK)
        return db_fail(st, rc);
    if (st->n_cache == STMT_CACHE) {
        sqlite3_finalize(s);
        snprintf(st->why, sizeof st->why, "statement cache full");
        return -VMS_E_DB;
    }
    st->cache[st->n_cache++] = (struct stmt_slot){ sql, s };
    *ret = s;
    return 0;
}

/* Bind from a format: 't' text (NULL ok), 'i' int, 'I' int64, 'b' blob (ptr, size_t). */
static int db_bindv(struct store *st, sqlite3_stmt *s, const char *fmt, va_list ap) {
    int rc = SQLITE_OK;
    for (int i = 1; *fmt && rc == SQLITE_OK; fmt++, i++) {
        switch (*fmt) {
        case 't': {
            const char *v = va_arg(ap, const char *);
            rc = v ? sqlite3_bind_text(s, i, v, -1, SQLITE_TRANSIENT) : sqlite3_bind_null(s, i);
            break;
        }
        case 'i': rc = sqlite3_bind_int(s, i, va_arg(ap, int)); break;
        case 'I': rc = sqlite3_bind_int64(s, i, va_arg(ap, int64_t)); break;
        case 'b': {
            const void *p = va_arg(ap, const void *);
            size_t n = va_arg(ap, size_t);
            rc = sqlite3_bind_blob64(s, i, p, n, SQLITE_TRANSIENT);
            break;
        }
        default: rc = SQLITE_MISUSE;
        }
    }
    return rc == SQLITE_OK ? 0 : db_fail(st, rc);
}

/* Prepare + bind; the statement is ready for sqlite3_step. */
static int db_query(struct store *st, sqlite3_stmt **ret, const char *sql, const char *fmt, ...) {
    int r = db_stmt(st, sql, ret);
    if (r < 0)
        return r;
    va_list ap;
    va_start(ap, fmt);
    r = db_bindv(st, *ret, fmt, ap);
    va_end(ap);
    return r;
}

/* Prepare, bind, step to completion: for statements without rows. */
static int db_run(struct store *st, const char *sql, const char *fmt, ...) {
    sqlite3_stmt *s;
    int r = db_stmt(st, sql, &s);
    if (r < 0)
        return r;
    va_list ap;
    va_start(ap, fmt);
    r = db_bindv(st, s, fmt, ap);
    va_end(ap);
    if (r < 0)
        return r;
    int rc = sqlite3_step(s);
    sqlite3_reset(s);
    return rc == SQLITE_DONE ? 0 : db_fail(st, rc);
}

/* SQLITE_ROW -> 1, SQLITE_DONE -> 0, else error. */
static int db_next(struct store *st, sqlite3_stmt *s) {
    int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW)
        return 1;
    sqlite3_reset(s);
    return rc == SQLITE_DONE ? 0 : db_fail(st, rc);
}

static char *col_str(sqlite3_stmt *s, int i) {
    const unsigned char *t = sqlite3_column_text(s, i);
    return t ? xstrdup((const char *)t) : NULL;
}

static void col_uuid(sqlite3_stmt *s, int i, proto_uuid out) {
    const unsigned char *t = sqlite3_column_text(s, i);
    snprintf(out, sizeof(proto_uuid), "%s", t ? (const char *)t : "");
}

static void *col_blob(sqlite3_stmt *s, int i, size_t *ret_len) {
    int n = sqlite3_column_bytes(s, i);
    const void *p = sqlite3_column_blob(s, i);
    void *out = xmalloc((size_t)n);
    if (n > 0)
        memcpy(out, p, (size_t)n);
    *ret_len = (size_t)n;
    return out;
}

/* ---- open, migrate, transactions ---------------------------------------- */

static int store_migrate(struct store *st) {
    sqlite3_stmt *s;
    int r = db_query(st, &s, "PRAGMA user_version", "");
    if (r < 0)
        return r;
    if ((r = db_next(st, s)) <= 0)
        return r < 0 ? r : -VMS_E_DB;
    int version = sqlite3_column_int(s, 0);
    sqlite3_reset(s);
    if (version > STORE_SCHEMA_VERSION) {
        snprintf(st->why, sizeof st->why, "database schema version %d is newer than this program's %d",
                 version, STORE_SCHEMA_VERSION);
        return -VMS_E_DB;
    }
    for (int v = version; v < STORE_SCHEMA_VERSION; v++) {
        _cleanup_free_ char *sql = xasprintf("BEGIN IMMEDIATE; %s PRAGMA user_version = %d; COMMIT;",
                                             migrations[v], v + 1);
        if ((r = db_exec(st, sql)) < 0) {
            (void)db_exec(st, "ROLLBACK");
            return r;
        }
    }
    return 0;
}

/* The database file is the producer's alone: mode 0600 whatever the umask
 * (SQLite gives its -wal and -shm files the database file's mode). */
static int db_file_private(const char *path) {
    if (path[0] == '\0' || strcmp(path, ":memory:") == 0)
        return 0;
    _cleanup_close_ int fd = open(path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
    return fd < 0 || fchmod(fd, 0600) < 0 ? -errno : 0;
}

int store_open(const char *path, struct store **ret, char why[ERR_WHY_LEN]) {
    int e = db_file_private(path);
    if (e < 0) {
        snprintf(why, ERR_WHY_LEN, "%s: %s", path, strerror(-e));
        return e;
    }
    struct store *st = xcalloc(1, sizeof *st);
    int rc = sqlite3_open_v2(path, &st->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                             NULL);
    int r = rc == SQLITE_OK ? 0 : db_fail(st, rc);
    if (r == 0)
        sqlite3_busy_timeout(st->db, 5000);
    /* temp_store=MEMORY: every delivery of a batch is a savepoint, whose
     * statement journal grows past SQLite's 64 KiB spill size within a batch;
     * on disk that was ~5 times as many pwrite()s as the WAL itself. */
    if (r == 0)
        r = db_exec(st, "PRAGMA page_size=4096; PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA cache_size=-32768; PRAGMA temp_store=MEMORY; PRAGMA foreign_keys=ON;");
    if (r == 0)
        r = store_migrate(st);
    if (r < 0) {
        snprintf(why, ERR_WHY_LEN, "%.200s: %.300s", path, st->why);
        store_close(st);
        *ret = NULL;
        return r;
    }
    *ret = st;
    return 0;
}

void store_close(struct store *st) {
    if (!st)
        return;
    for (size_t i = 0; i < st->n_cache; i++)
        sqlite3_finalize(st->cache[i].stmt);
    sqlite3_close(st->db);
    free(st);
}

const char *store_why(const struct store *st) { return st ? st->why : "no store"; }

/* Nesting: the outermost level is a transaction, inner levels savepoints. */
int store_begin(struct store *st) {
    int r = st->depth == 0 ? db_run(st, "BEGIN IMMEDIATE", "") : db_run(st, "SAVEPOINT nest", "");
    if (r == 0)
        st->depth++;
    return r;
}

int store_commit(struct store *st) {
    if (st->depth == 0) {
        snprintf(st->why, sizeof st->why, "commit without a transaction");
        return -VMS_E_DB;
    }
    int r = st->depth == 1 ? db_run(st, "COMMIT", "") : db_run(st, "RELEASE nest", "");
    if (r == 0)
        st->depth--;
    return r;
}

void store_rollback(struct store *st) {
    if (st->depth == 0)
        return;
    if (st->depth == 1) {
        if (!sqlite3_get_autocommit(st->db))
            (void)db_run(st, "ROLLBACK", "");
    } else {
        (void)db_run(st, "ROLLBACK TO nest", "");
        (void)db_run(st, "RELEASE nest", "");
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

/* Every UPDATE below must hit exactly one row. */
static int db_changed_one(struct store *st, int r) {
    if (r < 0)
        return r;
    return sqlite3_changes(st->db) == 1 ? 0 : -VMS_E_NOT_FOUND;
}

/* ---- templates ----------------------------------------------------------- */

#define TPL_COLS "id, name, state, step, final_state, seal, error_step, error_code, error_message, " \
                 "created_ms, updated_ms"

static void tpl_read(sqlite3_stmt *s, struct store_template *t) {
    memset(t, 0, sizeof *t);
    col_uuid(s, 0, t->id);
    t->name = col_str(s, 1);
    t->state = sqlite3_column_int(s, 2);
    t->step = sqlite3_column_int(s, 3);
    t->final_state = sqlite3_column_int(s, 4);
    t->seal = sqlite3_column_int(s, 5) != 0;
    t->error_step = col_str(s, 6);
    t->error_code = col_str(s, 7);
    t->error_message = col_str(s, 8);
    t->created_ms = sqlite3_column_int64(s, 9);
    t->updated_ms = sqlite3_column_int64(s, 10);
}

int store_template_insert(struct store *st, const struct store_template *t) {
    return db_run(st, "INSERT INTO templates (" TPL_COLS ", request) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
                  "ttiiiitttIIb", t->id, t->name, (int)t->state, (int)t->step, (int)t->final_state,
                  (int)t->seal, t->error_step, t->error_code, t->error_message, t->created_ms,
                  t->updated_ms, t->request, t->request_len);
}

int store_template_get(struct store *st, const char *id, struct store_template *ret) {
    sqlite3_stmt *s;
    int r = db_query(st, &s, "SELECT " TPL_COLS ", request FROM templates WHERE id = ?", "t", id);
    if (r < 0 || (r = db_next(st, s)) < 0)
        return r;
    if (r == 0)
        return -VMS_E_NOT_FOUND;
    tpl_read(s, ret);
    ret->request = col_blob(s, 11, &ret->request_len);
    sqlite3_reset(s);
    return 0;
}

int store_template_update(struct store *st, const struct store_template *t) {
    return db_changed_one(st, db_run(st,
        "UPDATE templates SET state=?, step=?, final_state=?, error_step=?, error_code=?,"
        " error_message=?, updated_ms=? WHERE id=?",
        "iiitttIt", (int)t->state, (int)t->step, (int)t->final_state, t->error_step, t->error_code,
        t->error_message, t->updated_ms, t->id));
}

int store_template_list(struct store *st, int state, int limit, struct store_template **ret, size_t *ret_n) {
    sqlite3_stmt *s;
    int r = db_query(st, &s,
                     "SELECT " TPL_COLS " FROM templates WHERE (?1 < 0 OR state = ?1)"
                     " ORDER BY updated_ms DESC, id LIMIT ?2",
                     "ii", state, limit > 0 ? limit : -1);
    *ret = NULL;
    *ret_n = 0;
    size_t cap = 0;
    while (r >= 0 && (r = db_next(st, s)) == 1) {
        if (*ret_n == cap)
            *ret = xrealloc(*ret, (cap = cap ? cap * 2 : 16) * sizeof **ret);
        tpl_read(s, &(*ret)[(*ret_n)++]);
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
        "tittttttiiii",
        d->template_id, d->idx, d->src.sd_id, d->src.img_id, d->src.vol_id, d->dst.sd_id,
        d->dst.img_id, d->dst.vol_id, d->generation, (int)d->legality, (int)d->voltype, (int)d->state);
}

int store_disk_update(struct store *st, const struct store_disk *d) {
    return db_changed_one(st, db_run(st,
        "UPDATE disks SET generation=?, legality=?, voltype=?, state=? WHERE template_id=? AND idx=?",
        "iiiiti", d->generation, (int)d->legality, (int)d->voltype, (int)d->state, d->template_id, d->idx));
}

int store_disks_get(struct store *st, const char *template_id, struct store_disk **ret, size_t *ret_n) {
    sqlite3_stmt *s;
    int r = db_query(st, &s,
                     "SELECT template_id, idx, src_sd, src_img, src_vol, dst_sd, dst_img, dst_vol,"
                     " generation, legality, voltype, state FROM disks WHERE template_id=? ORDER BY idx",
                     "t", template_id);
    *ret = NULL;
    *ret_n = 0;
    size_t cap = 0;
    while (r >= 0 && (r = db_next(st, s)) == 1) {
        if (*ret_n == cap)
            *ret = xrealloc(*ret, (cap = cap ? cap * 2 : 4) * sizeof **ret);
        struct store_disk *d = &(*ret)[(*ret_n)++];
        memset(d, 0, sizeof *d);
        col_uuid(s, 0, d->template_id);
        d->idx = sqlite3_column_int(s, 1);
        col_uuid(s, 2, d->src.sd_id);
        col_uuid(s, 3, d->src.img_id);
        col_uuid(s, 4, d->src.vol_id);
        col_uuid(s, 5, d->dst.sd_id);
        col_uuid(s, 6, d->dst.img_id);
        col_uuid(s, 7, d->dst.vol_id);
        d->generation = sqlite3_column_int(s, 8);
        d->legality = sqlite3_column_int(s, 9);
        d->voltype = sqlite3_column_int(s, 10);
        d->state = sqlite3_column_int(s, 11);
    }
    if (r < 0) {
        free(*ret);
        *ret = NULL, *ret_n = 0;
    }
    return r < 0 ? r : 0;
}

/* ---- jobs ------------------------------------------------------------------ */

#define JOB_COLS "id, template_id, step, kind, disk, attempt, state, timeout_s, generation, legality," \
                 " voltype, not_before_ms, deadline_ms, created_ms, started_ms, finished_ms," \
                 " last_event_ms, error_code, error_message, progress, worker_id, holder"

static void job_read(sqlite3_stmt *s, struct store_job *j) {
    memset(j, 0, sizeof *j);
    col_uuid(s, 0, j->id);
    col_uuid(s, 1, j->template_id);
    j->step = sqlite3_column_int(s, 2);
    j->kind = sqlite3_column_int(s, 3);
    j->disk = sqlite3_column_int(s, 4);
    j->attempt = sqlite3_column_int(s, 5);
    j->state = sqlite3_column_int(s, 6);
    j->timeout_s = sqlite3_column_int64(s, 7);
    j->generation = sqlite3_column_int(s, 8);
    j->legality = sqlite3_column_int(s, 9);
    j->voltype = sqlite3_column_int(s, 10);
    j->not_before_ms = sqlite3_column_int64(s, 11);
    j->deadline_ms = sqlite3_column_int64(s, 12);
    j->created_ms = sqlite3_column_int64(s, 13);
    j->started_ms = sqlite3_column_int64(s, 14);
    j->finished_ms = sqlite3_column_int64(s, 15);
    j->last_event_ms = sqlite3_column_int64(s, 16);
    j->error_code = col_str(s, 17);
    j->error_message = col_str(s, 18);
    j->progress = sqlite3_column_int(s, 19);
    j->worker_id = col_str(s, 20);
    j->holder = col_str(s, 21);
}

/* Collect every row of a prepared job query. */
static int jobs_collect(struct store *st, sqlite3_stmt *s, int r, struct store_job **ret, size_t *ret_n) {
    *ret = NULL;
    *ret_n = 0;
    size_t cap = 0;
    while (r >= 0 && (r = db_next(st, s)) == 1) {
        if (*ret_n == cap)
            *ret = xrealloc(*ret, (cap = cap ? cap * 2 : 8) * sizeof **ret);
        job_read(s, &(*ret)[(*ret_n)++]);
    }
    if (r < 0) {
        store_job_array_free(*ret, *ret_n);
        *ret = NULL, *ret_n = 0;
    }
    return r < 0 ? r : 0;
}

int store_job_insert(struct store *st, const struct store_job *j) {
    return db_run(st, "INSERT INTO jobs (" JOB_COLS ") VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                  "ttiiiiiIiiiIIIIIIttitt", j->id, j->template_id, (int)j->step, (int)j->kind, j->disk,
                  j->attempt, (int)j->state, j->timeout_s, j->generation, (int)j->legality,
                  (int)j->voltype, j->not_before_ms, j->deadline_ms, j->created_ms, j->started_ms,
                  j->finished_ms, j->last_event_ms, j->error_code, j->error_message, j->progress, j->worker_id,
                  j->holder);
}

int store_job_update(struct store *st, const struct store_job *j) {
    return db_changed_one(st, db_run(st,
        "UPDATE jobs SET state=?, not_before_ms=?, deadline_ms=?, started_ms=?, finished_ms=?,"
        " last_event_ms=?, error_code=?, error_message=?, progress=?, worker_id=?, holder=? WHERE id=?",
        "iIIIIIttittt", (int)j->state, j->not_before_ms, j->deadline_ms, j->started_ms, j->finished_ms,
        j->last_event_ms, j->error_code, j->error_message, j->progress, j->worker_id, j->holder, j->id));
}

int store_job_get(struct store *st, const char *id, struct store_job *ret) {
    sqlite3_stmt *s;
    int r = db_query(st, &s, "SELECT " JOB_COLS " FROM jobs WHERE id=?", "t", id);
    if (r < 0 || (r = db_next(st, s)) < 0)
        return r;
    if (r == 0)
        return -VMS_E_NOT_FOUND;
    job_read(s, ret);
    sqlite3_reset(s);
    return 0;
}

int store_jobs_get(struct store *st, const char *template_id, struct store_job **ret, size_t *ret_n) {
    sqlite3_stmt *s;
    int r = db_query(st, &s, "SELECT " JOB_COLS " FROM jobs WHERE template_id=? ORDER BY created_ms, rowid",
                     "t", template_id);
    return jobs_collect(st, s, r, ret, ret_n);
}

int store_jobs_due(struct store *st, int64_t now_ms, struct store_job **ret, size_t *ret_n) {
    sqlite3_stmt *s;
    int r = db_query(st, &s,
                     "SELECT " JOB_COLS " FROM jobs WHERE state <= ?2 AND"
                     " ((state = ?3 AND not_before_ms <= ?1) OR (state > ?3 AND deadline_ms <= ?1))"
                     " ORDER BY created_ms, rowid",
                     "Iii", now_ms, JOB_RUNNING, JOB_WAITING);
    return jobs_collect(st, s, r, ret, ret_n);
}

int store_jobs_next_due(struct store *st, int64_t *ret_ms) {
    sqlite3_stmt *s;
    int r = db_query(st, &s,
                     "SELECT MIN(CASE WHEN state = ?1 THEN not_before_ms ELSE deadline_ms END)"
                     " FROM jobs WHERE state <= ?2", "ii", JOB_WAITING, JOB_RUNNING);
    if (r < 0 || (r = db_next(st, s)) < 0)
        return r;
    *ret_ms = sqlite3_column_type(s, 0) == SQLITE_NULL ? INT64_MAX : sqlite3_column_int64(s, 0);
    sqlite3_reset(s);
    return 0;
}

int store_jobs_inflight(struct store *st, struct store_job **ret, size_t *ret_n) {
    sqlite3_stmt *s;
    int r = db_query(st, &s, "SELECT " JOB_COLS " FROM jobs WHERE state BETWEEN ?1 AND ?2", "ii",
                     JOB_QUEUED, JOB_RUNNING);
    return jobs_collect(st, s, r, ret, ret_n);
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
    int r = db_run(st, "INSERT OR IGNORE INTO events_seen (event_id, seen_ms) VALUES (?, ?)", "tI",
                   event_id, now_ms);
    if (r < 0)
        return r;
    *ret_seen = sqlite3_changes(st->db) == 0;
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
    sqlite3_stmt *s;
    int r = db_query(st, &s,
                     "SELECT id, exchange, routing_key, message_id, type, reason, body FROM outbox"
                     " WHERE id > ? ORDER BY id LIMIT ?", "Ii", after_id, limit);
    *ret = NULL;
    *ret_n = 0;
    size_t cap = 0;
    while (r >= 0 && (r = db_next(st, s)) == 1) {
        if (*ret_n == cap)
            *ret = xrealloc(*ret, (cap = cap ? cap * 2 : 16) * sizeof **ret);
        struct store_outbox *o = &(*ret)[(*ret_n)++];
        o->id = sqlite3_column_int64(s, 0);
        o->exchange = col_str(s, 1);
        o->routing_key = col_str(s, 2);
        o->message_id = col_str(s, 3);
        o->type = col_str(s, 4);
        o->reason = col_str(s, 5);
        o->body = col_blob(s, 6, &o->body_len);
    }
    if (r < 0) {
        store_outbox_array_free(*ret, *ret_n);
        *ret = NULL, *ret_n = 0;
    }
    return r < 0 ? r : 0;
}

int store_outbox_delete(struct store *st, const int64_t *ids, size_t n) {
    int r = store_begin(st);
    for (size_t i = 0; i < n && r == 0; i++)
        r = db_run(st, "DELETE FROM outbox WHERE id = ?", "I", ids[i]);
    return store_end(st, r);
}

int store_outbox_forget(struct store *st, const char *message_id) {
    return db_run(st, "DELETE FROM outbox WHERE message_id = ?", "t", message_id);
}

int store_outbox_count(struct store *st, int64_t *ret_n) {
    sqlite3_stmt *s;
    int r = db_query(st, &s, "SELECT COUNT(*) FROM outbox", "");
    if (r < 0 || (r = db_next(st, s)) < 0)
        return r;
    *ret_n = sqlite3_column_int64(s, 0);
    sqlite3_reset(s);
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
