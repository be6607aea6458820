/* store_sqlite.c - the SQLite backend of the store (store_int.h); the only
 * file that sees SQLITE_*.
 *
 * WAL journal, synchronous=FULL (a commit acknowledges messages, so it must
 * survive a power loss), statement journal in memory (every delivery of a
 * batch is a savepoint whose journal spilled to a temporary file: ~5 times
 * the WAL's writes).  Leadership: flock() of "<path>.lock". */
#include "store_int.h"

#include <errno.h>
#include <fcntl.h>
#include <sqlite3.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "err.h"
#include "util.h"

#define STMT_CACHE 48

struct stmt_slot {
    const char *sql; /* a string literal: the cache key is its address */
    sqlite3_stmt *stmt;
};

struct sq {
    sqlite3 *db;
    char *path;
    int lock_fd;
    struct stmt_slot cache[STMT_CACHE];
    size_t n_cache;
    sqlite3_stmt *cur; /* the current statement */
};

#define SQ(st) ((struct sq *)(st)->impl)

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
    /* 2 -> 3: what a vm.seal attempt did (its final event's files, encoded) */
    "ALTER TABLE jobs ADD COLUMN files BLOB;",
};
_Static_assert(sizeof migrations / sizeof *migrations == STORE_SCHEMA_VERSION, "one migration per version");

/* The database file is the producer's alone: mode 0600 whatever the umask
 * (SQLite gives its -wal and -shm files the database file's mode). */
static int db_file_private(const char *path) {
    if (path[0] == '\0' || strcmp(path, ":memory:") == 0)
        return 0;
    _cleanup_close_ int fd = open(path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
    return fd < 0 || fchmod(fd, 0600) < 0 ? -errno : 0;
}

static int sq_fail(struct store *st, int rc) {
    struct sq *q = SQ(st);
    snprintf(st->why, sizeof st->why, "%s (%s)", q->db ? sqlite3_errmsg(q->db) : "no database",
             sqlite3_errstr(rc));
    return -VMS_E_DB;
}

static int sq_exec(struct store *st, const char *sql) {
    char *msg = NULL;
    int rc = sqlite3_exec(SQ(st)->db, sql, NULL, NULL, &msg);
    if (rc == SQLITE_OK)
        return 0;
    snprintf(st->why, sizeof st->why, "%s", msg ? msg : sqlite3_errstr(rc));
    sqlite3_free(msg);
    return -VMS_E_DB;
}

static int sq_begin(struct store *st) { return sq_exec(st, "BEGIN IMMEDIATE"); }

static bool sq_in_transaction(struct store *st) { return !sqlite3_get_autocommit(SQ(st)->db); }

/* A cached prepared statement, reset and with bindings cleared. */
static int sq_stmt(struct store *st, const char *sql, sqlite3_stmt **ret) {
    struct sq *q = SQ(st);
    for (size_t i = 0; i < q->n_cache; i++)
        if (q->cache[i].sql == sql) {
            sqlite3_reset(q->cache[i].stmt);
            sqlite3_clear_bindings(q->cache[i].stmt);
            *ret = q->cache[i].stmt;
            return 0;
        }
    sqlite3_stmt *s = NULL;
    int rc = sqlite3_prepare_v3(q->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &s, NULL);
    if (rc != SQLITE_OK)
        return sq_fail(st, rc);
    if (q->n_cache == STMT_CACHE) {
        sqlite3_finalize(s);
        snprintf(st->why, sizeof st->why, "statement cache full");
        return -VMS_E_DB;
    }
    q->cache[q->n_cache++] = (struct stmt_slot){ sql, s };
    *ret = s;
    return 0;
}

static int sq_query(struct store *st, const char *sql, const char *fmt, va_list ap) {
    struct sq *q = SQ(st);
    q->cur = NULL;
    sqlite3_stmt *s;
    int r = sq_stmt(st, sql, &s);
    if (r < 0)
        return r;
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
    if (rc != SQLITE_OK)
        return sq_fail(st, rc);
    q->cur = s;
    return 0;
}

static int sq_next(struct store *st) {
    struct sq *q = SQ(st);
    if (!q->cur)
        return 0;
    int rc = sqlite3_step(q->cur);
    if (rc == SQLITE_ROW)
        return 1;
    sqlite3_reset(q->cur);
    q->cur = NULL;
    return rc == SQLITE_DONE ? 0 : sq_fail(st, rc);
}

static void sq_done(struct store *st) {
    struct sq *q = SQ(st);
    if (q->cur)
        sqlite3_reset(q->cur);
    q->cur = NULL;
}

static bool sq_col_null(struct store *st, int i) { return sqlite3_column_type(SQ(st)->cur, i) == SQLITE_NULL; }
static int64_t sq_col_int(struct store *st, int i) { return sqlite3_column_int64(SQ(st)->cur, i); }
static const char *sq_col_text(struct store *st, int i) {
    return (const char *)sqlite3_column_text(SQ(st)->cur, i);
}
static const void *sq_col_blob(struct store *st, int i, size_t *ret_len) {
    const void *p = sqlite3_column_blob(SQ(st)->cur, i);
    *ret_len = (size_t)sqlite3_column_bytes(SQ(st)->cur, i);
    return p;
}
static int sq_run(struct store *st, const char *sql, int expect, const char *fmt, va_list ap) {
    int r = sq_query(st, sql, fmt, ap);
    while (r >= 0 && (r = sq_next(st)) == 1)
        ;
    if (r == 0 && expect >= 0 && sqlite3_changes(SQ(st)->db) != expect) {
        snprintf(st->why, sizeof st->why, "no such row");
        r = -VMS_E_NOT_FOUND;
    }
    return r;
}

/* Refuse a newer schema; with apply, migrate an older one forward. */
static int sq_migrate(struct store *st, bool apply) {
    sqlite3_stmt *s;
    int r = sq_stmt(st, "PRAGMA user_version", &s);
    if (r < 0)
        return r;
    int rc = sqlite3_step(s);
    int version = sqlite3_column_int(s, 0);
    sqlite3_reset(s);
    if (rc != SQLITE_ROW)
        return sq_fail(st, rc);
    if (version > STORE_SCHEMA_VERSION) {
        snprintf(st->why, sizeof st->why, "database schema version %d is newer than this program's %d", version,
                 STORE_SCHEMA_VERSION);
        return -VMS_E_DB;
    }
    for (int v = version; apply && v < STORE_SCHEMA_VERSION; v++) {
        _cleanup_free_ char *sql =
            xasprintf("BEGIN IMMEDIATE; %s PRAGMA user_version = %d; COMMIT;", migrations[v], v + 1);
        if ((r = sq_exec(st, sql)) < 0) {
            (void)sq_exec(st, "ROLLBACK");
            return r;
        }
    }
    return 0;
}

/* The producers of one SQLite file share its machine: an flock() of
 * "<path>.lock" decides, held until the store closes.  *ret_locked false:
 * another process holds it. */
static int sq_lock(struct store *st, bool *ret_locked) {
    struct sq *q = SQ(st);
    *ret_locked = q->lock_fd >= 0;
    if (*ret_locked)
        return 0;
    _cleanup_free_ char *path = xasprintf("%s.lock", q->path);
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0) {
        snprintf(st->why, sizeof st->why, "cannot open %s: %s", path, strerror(errno));
        return -errno;
    }
    if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
        int e = errno;
        close(fd);
        if (e == EWOULDBLOCK || e == EINTR)
            return 0;
        snprintf(st->why, sizeof st->why, "cannot lock %s: %s", path, strerror(e));
        return -e;
    }
    q->lock_fd = fd;
    *ret_locked = true;
    return 0;
}

/* Taking the lock is taking the lead; only the leader migrates (a standby
 * of a newer version must not change the schema under an older active). */
static int sq_lease_try(struct store *st, const char *holder, bool *ret_taken, char *ret_holder, size_t len) {
    (void)holder;
    bool had = SQ(st)->lock_fd >= 0;
    int r = sq_lock(st, ret_taken);
    if (r == 0 && *ret_taken && !had)
        r = sq_migrate(st, true);
    if (r == 0 && !*ret_taken)
        snprintf(ret_holder, len, "the holder of %s.lock", SQ(st)->path);
    return r;
}

static int sq_open(struct store *st, const char *path, const char *password) {
    (void)password;
    struct sq *q = xcalloc(1, sizeof *q);
    st->impl = q;
    q->lock_fd = -1;
    q->path = xstrdup(path);
    int e = db_file_private(path);
    if (e < 0) {
        snprintf(st->why, sizeof st->why, "%s: %s", path, strerror(-e));
        return e;
    }
    int rc = sqlite3_open_v2(path, &q->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
    int r = rc == SQLITE_OK ? 0 : sq_fail(st, rc);
    if (r == 0)
        sqlite3_busy_timeout(q->db, 5000);
    if (r == 0)
        r = sq_exec(st, "PRAGMA page_size=4096; PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;"
                        " PRAGMA cache_size=-32768; PRAGMA temp_store=MEMORY; PRAGMA foreign_keys=ON;");
    bool locked = false;
    if (r == 0)
        r = sq_lock(st, &locked);
    return r == 0 ? sq_migrate(st, locked) : r;
}

static void sq_close(struct store *st) {
    struct sq *q = SQ(st);
    if (!q)
        return;
    for (size_t i = 0; i < q->n_cache; i++)
        sqlite3_finalize(q->cache[i].stmt);
    sqlite3_close(q->db);
    if (q->lock_fd >= 0)
        close(q->lock_fd);
    free(q->path);
    free(q);
}

const struct store_backend store_backend_sqlite = {
    .name = "sqlite",
    .open = sq_open,
    .close = sq_close,
    .exec = sq_exec,
    .begin = sq_begin,
    .in_transaction = sq_in_transaction,
    .query = sq_query,
    .next = sq_next,
    .done = sq_done,
    .col_null = sq_col_null,
    .col_int = sq_col_int,
    .col_text = sq_col_text,
    .col_blob = sq_col_blob,
    .run = sq_run,
    .lease_try = sq_lease_try,
    .sql_outbox_delete = "DELETE FROM outbox WHERE id IN (SELECT value FROM json_each(?))",
};
