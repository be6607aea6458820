/* store_pg.c - the PostgreSQL backend of the store (store_int.h); the only
 * file that sees libpq.
 *
 * One connection, one statement at a time: prepared statements (cached by
 * the SQL's address, placeholders rewritten from `?`/`?N` to `$N`), text
 * results, blobs as binary parameters and bytea results.  The tables live in
 * the first schema of the connection's search_path (the deployment's role
 * has `vmseal` there; tests use a schema each).  Outbox ids come from a
 * sequence: ids are not in commit order across sessions, but only the
 * leader's one session writes the outbox, so they are in its commit order.
 *
 * A failed statement on a connection that is gone (CONNECTION_BAD, SQLSTATE
 * class 08, 57P01 terminated by an administrator, 57P02/57P03 shutting down)
 * makes the store lost (-VMS_E_DB_LOST): the producer closes it and
 * reconnects.  Leadership: see store.h; the advisory lock's key is derived
 * from the schema's name, so producers of one schema compete. */
#include "store_int.h"

#include <libpq-fe.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "util.h"

#define STMT_CACHE    48
#define PARAMS_MAX    32
#define PENDING_MAX   128
#define STMT_NAME_LEN 24 /* "s" and a size_t */

struct pg {
    PGconn *conn;
    const char *cached[STMT_CACHE]; /* prepared as "s<index>" */
    size_t n_cached;
    PGresult *res; /* the current statement's result */
    int row, n_rows;
    int n_pending;                /* statements sent in pipeline mode, unread */
    bool expect_one[PENDING_MAX]; /* ... each: must change exactly one row */
    unsigned char *blob;          /* the last bytea read (PQfreemem) */
    int64_t generation;           /* the lease we took; 0 = none */
    bool locked;                  /* the session's advisory lock: the lead */
    char fatal[256];              /* the server's FATAL while idle (its reason to close) */
};

#define PG(st) ((struct pg *)(st)->impl)

/* migration[i] brings schema_version i to i+1; history, never edited.  The
 * same tables as the SQLite migrations (jobs.rowid: SQLite's implicit
 * insertion order, explicit here), plus the lease. */
static const char *const migrations[] = {
    "CREATE TABLE templates ("
    "  id TEXT PRIMARY KEY, name TEXT NOT NULL, state INTEGER NOT NULL,"
    "  step INTEGER NOT NULL, final_state INTEGER NOT NULL, seal INTEGER NOT NULL,"
    "  request BYTEA NOT NULL, error_step TEXT, error_code TEXT, error_message TEXT,"
    "  created_ms BIGINT NOT NULL, updated_ms BIGINT NOT NULL);"
    "CREATE INDEX templates_state ON templates(state, updated_ms);"
    "CREATE INDEX templates_updated ON templates(updated_ms);"
    "CREATE TABLE disks ("
    "  template_id TEXT NOT NULL REFERENCES templates(id), idx INTEGER NOT NULL,"
    "  src_sd TEXT NOT NULL, src_img TEXT NOT NULL, src_vol TEXT NOT NULL,"
    "  dst_sd TEXT NOT NULL, dst_img TEXT NOT NULL, dst_vol TEXT NOT NULL,"
    "  generation INTEGER NOT NULL, legality INTEGER NOT NULL, voltype INTEGER NOT NULL,"
    "  state INTEGER NOT NULL, PRIMARY KEY (template_id, idx));"
    "CREATE TABLE jobs ("
    "  rowid BIGSERIAL, id TEXT PRIMARY KEY, template_id TEXT NOT NULL REFERENCES templates(id),"
    "  step INTEGER NOT NULL, kind INTEGER NOT NULL, disk INTEGER NOT NULL,"
    "  attempt INTEGER NOT NULL, state INTEGER NOT NULL, timeout_s BIGINT NOT NULL,"
    "  generation INTEGER NOT NULL, legality INTEGER NOT NULL, voltype INTEGER NOT NULL,"
    "  not_before_ms BIGINT NOT NULL, deadline_ms BIGINT NOT NULL,"
    "  created_ms BIGINT NOT NULL, started_ms BIGINT NOT NULL,"
    "  finished_ms BIGINT NOT NULL, last_event_ms BIGINT NOT NULL,"
    "  error_code TEXT, error_message TEXT, progress INTEGER NOT NULL DEFAULT 0, worker_id TEXT);"
    "CREATE INDEX jobs_template ON jobs(template_id, created_ms);"
    "CREATE INDEX jobs_active ON jobs(state) WHERE state <= 2;"
    "CREATE TABLE events_seen (event_id TEXT PRIMARY KEY, seen_ms BIGINT NOT NULL);"
    "CREATE INDEX events_seen_ms ON events_seen(seen_ms);"
    "CREATE TABLE outbox ("
    "  id BIGSERIAL PRIMARY KEY, exchange TEXT NOT NULL,"
    "  routing_key TEXT NOT NULL, message_id TEXT NOT NULL, type TEXT,"
    "  reason TEXT, body BYTEA NOT NULL, created_ms BIGINT NOT NULL);"
    "CREATE TABLE lease (id INTEGER PRIMARY KEY CHECK (id = 1), generation BIGINT NOT NULL,"
    "  holder TEXT NOT NULL, since_ms BIGINT NOT NULL);"
    "INSERT INTO lease VALUES (1, 0, '', 0);",
    /* 1 -> 2: the broker identity (AMQP user-id) that holds each job */
    "ALTER TABLE jobs ADD COLUMN holder TEXT;",
    /* 2 -> 3: what a vm.seal attempt did (its final event's files, encoded) */
    "ALTER TABLE jobs ADD COLUMN files BYTEA;",
};
_Static_assert(sizeof migrations / sizeof *migrations == STORE_SCHEMA_VERSION, "one migration per version");

/* ---- the libpq adapter ---------------------------------------------------------- */

static bool pg_conn_gone(PGconn *conn, const PGresult *res) {
    if (PQstatus(conn) == CONNECTION_BAD)
        return true;
    const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    return state && (strncmp(state, "08", 2) == 0 || strcmp(state, "57P01") == 0 || strcmp(state, "57P02") == 0 ||
                     strcmp(state, "57P03") == 0);
}

/* Record the error of res (or of the connection) and PQclear res. */
static int pg_fail(struct store *st, PGresult *res) {
    struct pg *pg = PG(st);
    const char *msg = res ? PQresultErrorMessage(res) : "";
    snprintf(st->why, sizeof st->why, "%s", *msg ? msg : PQerrorMessage(pg->conn));
    st->why[strcspn(st->why, "\n")] = '\0';
    bool gone = pg_conn_gone(pg->conn, res);
    PQclear(res);
    if (gone)
        st->lost = -VMS_E_DB_LOST;
    return gone ? -VMS_E_DB_LOST : -VMS_E_DB;
}

/* ---- the pipeline ---------------------------------------------------------------
 * Statements without rows (INSERT, UPDATE, DELETE, SAVEPOINT) are sent in
 * libpq's pipeline mode and not waited for: they go out with the next
 * statement that returns rows, or with the RELEASE or COMMIT that ends their
 * savepoint or transaction, in one round trip.  Their failure is reported
 * there, so within the same savepoint: rolling it back undoes the right
 * work.  About 25 round trips per template instead of 60. */

/* Read every result sent in pipeline mode and leave it; the last statement's
 * rows go to *ret_last (when not NULL).  Returns the first failure. */
static int pg_sync(struct store *st, PGresult **ret_last) {
    struct pg *pg = PG(st);
    if (PQpipelineStatus(pg->conn) == PQ_PIPELINE_OFF)
        return 0;
    int r = PQpipelineSync(pg->conn) == 1 ? 0 : pg_fail(st, NULL);
    for (int idx = 0, nulls = 0; r != -VMS_E_DB_LOST;) {
        PGresult *res = PQgetResult(pg->conn);
        if (!res) {
            if (PQstatus(pg->conn) == CONNECTION_BAD || ++nulls > pg->n_pending) {
                r = pg_fail(st, NULL);
                break;
            }
            idx++;
            continue;
        }
        ExecStatusType s = PQresultStatus(res);
        if (s == PGRES_PIPELINE_SYNC) {
            PQclear(res);
            break;
        }
        if (s == PGRES_FATAL_ERROR && r == 0) {
            r = pg_fail(st, res);
            continue;
        }
        if (r == 0 && s == PGRES_COMMAND_OK && pg->expect_one[idx] && strcmp(PQcmdTuples(res), "1") != 0) {
            snprintf(st->why, sizeof st->why, "no such row");
            r = -VMS_E_NOT_FOUND;
        }
        if (r == 0 && s == PGRES_TUPLES_OK && ret_last && idx == pg->n_pending - 1)
            *ret_last = res;
        else
            PQclear(res);
    }
    pg->n_pending = 0;
    if (r != -VMS_E_DB_LOST && PQexitPipelineMode(pg->conn) != 1 && r == 0)
        r = pg_fail(st, NULL);
    return r;
}

/* Queue a prepared statement (name) or a text without parameters. */
static int pg_send(struct store *st, const char *name, const char *text, bool expect_one, int n,
                   const char *const *values, const int *lengths, const int *formats) {
    struct pg *pg = PG(st);
    int r = pg->n_pending == PENDING_MAX ? pg_sync(st, NULL) : 0;
    if (r < 0)
        return r;
    if (PQpipelineStatus(pg->conn) == PQ_PIPELINE_OFF && PQenterPipelineMode(pg->conn) != 1)
        return pg_fail(st, NULL);
    int ok = name ? PQsendQueryPrepared(pg->conn, name, n, values, lengths, formats, 0)
                  : PQsendQueryParams(pg->conn, text, 0, NULL, NULL, NULL, NULL, 0);
    if (ok != 1)
        return pg_fail(st, NULL);
    pg->expect_one[pg->n_pending++] = expect_one;
    return 0;
}

/* Run sql (may be several statements) after the pipeline; the last result
 * in *ret (or cleared). */
static int pg_run_text(struct store *st, const char *sql, PGresult **ret) {
    int r = pg_sync(st, NULL);
    if (r < 0)
        return r;
    PGresult *res = PQexec(PG(st)->conn, sql);
    ExecStatusType s = PQresultStatus(res);
    if (s != PGRES_COMMAND_OK && s != PGRES_TUPLES_OK)
        return pg_fail(st, res);
    if (ret)
        *ret = res;
    else
        PQclear(res);
    return 0;
}

/* SAVEPOINT waits in the pipeline; RELEASE and COMMIT end it (the point
 * where the savepoint's failures are reported); a rollback first drops
 * what is queued, whatever its outcome. */
static int pg_exec(struct store *st, const char *sql) {
    if (strcmp(sql, "SAVEPOINT nest") == 0)
        return pg_send(st, NULL, sql, false, 0, NULL, NULL, NULL);
    if (strcmp(sql, "RELEASE nest") == 0 || strcmp(sql, "COMMIT") == 0) {
        int r = pg_send(st, NULL, sql, false, 0, NULL, NULL, NULL);
        return r < 0 ? r : pg_sync(st, NULL);
    }
    (void)pg_sync(st, NULL);
    return st->lost ? st->lost : pg_run_text(st, sql, NULL);
}

static void pg_done(struct store *st) {
    struct pg *pg = PG(st);
    PQclear(pg->res);
    pg->res = NULL;
    pg->row = -1;
    pg->n_rows = 0;
    PQfreemem(pg->blob);
    pg->blob = NULL;
}

static bool pg_in_transaction(struct store *st) {
    (void)pg_sync(st, NULL);
    return PQtransactionStatus(PG(st)->conn) != PQTRANS_IDLE;
}

/* `?N` -> `$N`, `?` -> `$k` (k counting). */
static char *pg_sql_rewrite(const char *sql) {
    size_t n = strlen(sql);
    char *out = xmalloc(n * 4 + 1), *o = out;
    int k = 0;
    for (const char *p = sql; *p; p++) {
        if (*p != '?') {
            *o++ = *p;
        } else if (p[1] >= '0' && p[1] <= '9') {
            *o++ = '$';
        } else {
            o += sprintf(o, "$%d", ++k);
        }
    }
    *o = '\0';
    return out;
}

/* The statement's name, preparing it the first time (after the pipeline). */
static int pg_prepare(struct store *st, const char *sql, char name[STMT_NAME_LEN]) {
    struct pg *pg = PG(st);
    for (size_t i = 0; i < pg->n_cached; i++)
        if (pg->cached[i] == sql) {
            snprintf(name, STMT_NAME_LEN, "s%zu", i);
            return 0;
        }
    if (pg->n_cached == STMT_CACHE) {
        snprintf(st->why, sizeof st->why, "statement cache full");
        return -VMS_E_DB;
    }
    int r = pg_sync(st, NULL);
    if (r < 0)
        return r;
    snprintf(name, STMT_NAME_LEN, "s%zu", pg->n_cached);
    _cleanup_free_ char *text = pg_sql_rewrite(sql);
    PGresult *res = PQprepare(pg->conn, name, text, 0, NULL);
    if (PQresultStatus(res) != PGRES_COMMAND_OK)
        return pg_fail(st, res);
    PQclear(res);
    pg->cached[pg->n_cached++] = sql;
    return 0;
}

struct params {
    const char *values[PARAMS_MAX];
    int lengths[PARAMS_MAX], formats[PARAMS_MAX], n;
    char nums[PARAMS_MAX][24];
};

/* Text parameters, blobs binary. */
static int pg_bind(struct store *st, const char *fmt, va_list ap, struct params *p) {
    for (p->n = 0; *fmt; fmt++, p->n++) {
        int n = p->n;
        if (n == PARAMS_MAX) {
            snprintf(st->why, sizeof st->why, "more than %d parameters", PARAMS_MAX);
            return -VMS_E_DB;
        }
        p->lengths[n] = 0;
        p->formats[n] = 0;
        switch (*fmt) {
        case 't': p->values[n] = va_arg(ap, const char *); break;
        case 'i':
            snprintf(p->nums[n], sizeof p->nums[n], "%d", va_arg(ap, int));
            p->values[n] = p->nums[n];
            break;
        case 'I':
            snprintf(p->nums[n], sizeof p->nums[n], "%lld", (long long)va_arg(ap, int64_t));
            p->values[n] = p->nums[n];
            break;
        case 'b':
            p->values[n] = va_arg(ap, const char *);
            p->lengths[n] = (int)va_arg(ap, size_t);
            p->formats[n] = 1;
            break;
        default: snprintf(st->why, sizeof st->why, "bad bind format '%c'", *fmt); return -VMS_E_DB;
        }
    }
    return 0;
}

/* A statement with rows: sent after what is queued, one round trip. */
static int pg_query(struct store *st, const char *sql, const char *fmt, va_list ap) {
    struct pg *pg = PG(st);
    pg_done(st);
    char name[STMT_NAME_LEN];
    struct params p;
    int r = pg_prepare(st, sql, name);
    if (r == 0)
        r = pg_bind(st, fmt, ap, &p);
    if (r == 0)
        r = pg_send(st, name, NULL, false, p.n, p.values, p.lengths, p.formats);
    PGresult *res = NULL;
    if (r == 0)
        r = pg_sync(st, &res);
    if (r < 0) {
        PQclear(res);
        return r;
    }
    pg->res = res;
    pg->n_rows = res ? PQntuples(res) : 0;
    return 0;
}

/* A statement without rows: queued. */
static int pg_run(struct store *st, const char *sql, int expect, const char *fmt, va_list ap) {
    char name[STMT_NAME_LEN];
    struct params p;
    int r = pg_prepare(st, sql, name);
    if (r == 0)
        r = pg_bind(st, fmt, ap, &p);
    return r < 0 ? r : pg_send(st, name, NULL, expect == 1, p.n, p.values, p.lengths, p.formats);
}

static int pg_next(struct store *st) {
    struct pg *pg = PG(st);
    if (pg->res && ++pg->row < pg->n_rows)
        return 1;
    pg_done(st);
    return 0;
}

static bool pg_col_null(struct store *st, int i) { return PQgetisnull(PG(st)->res, PG(st)->row, i); }

static int64_t pg_col_int(struct store *st, int i) {
    return strtoll(PQgetvalue(PG(st)->res, PG(st)->row, i), NULL, 10);
}

static const char *pg_col_text(struct store *st, int i) {
    return pg_col_null(st, i) ? NULL : PQgetvalue(PG(st)->res, PG(st)->row, i);
}

static const void *pg_col_blob(struct store *st, int i, size_t *ret_len) {
    struct pg *pg = PG(st);
    PQfreemem(pg->blob);
    pg->blob = PQunescapeBytea((const unsigned char *)PQgetvalue(pg->res, pg->row, i), ret_len);
    if (!pg->blob)
        abort(); /* out of memory: the policy of util.h */
    return pg->blob;
}

/* ---- transactions, leadership ------------------------------------------------------ */

/* BEGIN and, once this store leads, read the lease in the same round trip. */
static int pg_begin(struct store *st) {
    struct pg *pg = PG(st);
    if (pg->generation == 0)
        return pg_exec(st, "BEGIN");
    PGresult *res = NULL;
    int r = pg_run_text(st, "BEGIN; SELECT generation, holder FROM lease", &res);
    if (r < 0)
        return r;
    int64_t gen = PQntuples(res) == 1 ? strtoll(PQgetvalue(res, 0, 0), NULL, 10) : -1;
    if (gen != pg->generation) {
        snprintf(st->why, sizeof st->why, "lease generation %lld is not ours (%lld): %s leads", (long long)gen,
                 (long long)pg->generation, gen < 0 ? "nobody" : PQgetvalue(res, 0, 1));
        PQclear(res);
        (void)pg_exec(st, "ROLLBACK");
        st->lost = -VMS_E_LEASE_LOST;
        return st->lost;
    }
    PQclear(res);
    return 0;
}

static int pg_migrate(struct store *st, bool apply);

/* The lead: a session advisory lock on a key of the schema's name, held
 * until the session ends. */
static int pg_lock(struct store *st) {
    PGresult *res = NULL;
    int r = pg_run_text(
        st, "SELECT pg_try_advisory_lock(hashtextextended('vmseal.lease.' || current_schema(), 0))", &res);
    if (r == 0)
        PG(st)->locked = strcmp(PQgetvalue(res, 0, 0), "t") == 0;
    PQclear(res);
    return r;
}

/* Taking the lock (perhaps at open) is taking the lead: migrate if this
 * store could not at open, then a new lease generation. */
static int pg_lease_try(struct store *st, const char *holder, bool *ret_taken, char *ret_holder, size_t len) {
    struct pg *pg = PG(st);
    if (len)
        ret_holder[0] = '\0';
    *ret_taken = pg->generation > 0;
    if (*ret_taken)
        return 0;
    bool had = pg->locked;
    int r = had ? 0 : pg_lock(st);
    if (r == 0 && pg->locked && !had)
        r = pg_migrate(st, true);
    if (r < 0)
        return r;
    char now[24];
    snprintf(now, sizeof now, "%lld", (long long)time_now_ms());
    const char *params[] = { holder, now };
    PGresult *res = pg->locked
                        ? PQexecParams(pg->conn,
                                       "UPDATE lease SET generation = generation + 1, holder = $1, since_ms = $2"
                                       " RETURNING generation, holder",
                                       2, NULL, params, NULL, NULL, 0)
                        : PQexec(pg->conn, "SELECT generation, holder FROM lease");
    if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1)
        return pg_fail(st, res);
    if (pg->locked)
        pg->generation = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
    else
        snprintf(ret_holder, len, "%s (lease generation %s)", PQgetvalue(res, 0, 1), PQgetvalue(res, 0, 0));
    PQclear(res);
    *ret_taken = pg->locked;
    return 0;
}

/* ---- open, migrate ---------------------------------------------------------------- */

/* Refuse a newer schema; with apply (the lead is ours), migrate an older
 * one forward, under a transaction-scoped advisory lock besides.  Without
 * apply, a schema not there yet counts as version 0. */
static int pg_migrate(struct store *st, bool apply) {
    PGresult *res = NULL;
    int r = !apply
                ? pg_run_text(st, "SELECT CASE WHEN to_regclass('schema_version') IS NULL THEN 'none' END", &res)
                : 0;
    bool none = r == 0 && !apply && !PQgetisnull(res, 0, 0);
    PQclear(res);
    res = NULL;
    if (r < 0 || none)
        return r;
    r = pg_run_text(
        st,
        !apply ? "BEGIN; SELECT COALESCE(MAX(version), 0) FROM schema_version"
               : "BEGIN;"
                 " SELECT pg_advisory_xact_lock(hashtextextended('vmseal.migrate.' || current_schema(), 0));"
                 " CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL);"
                 " SELECT COALESCE(MAX(version), 0) FROM schema_version",
        &res);
    if (r < 0)
        return r;
    int version = atoi(PQgetvalue(res, 0, 0));
    PQclear(res);
    if (version > STORE_SCHEMA_VERSION) {
        snprintf(st->why, sizeof st->why, "database schema version %d is newer than this program's %d", version,
                 STORE_SCHEMA_VERSION);
        r = -VMS_E_DB;
    }
    for (int v = version; apply && v < STORE_SCHEMA_VERSION && r == 0; v++) {
        _cleanup_free_ char *sql = xasprintf(
            "%s DELETE FROM schema_version; INSERT INTO schema_version VALUES (%d);", migrations[v], v + 1);
        r = pg_exec(st, sql);
    }
    if (r == 0)
        return pg_exec(st, "COMMIT");
    if (!st->lost)
        (void)pg_exec(st, "ROLLBACK");
    return r;
}

/* Notices (e.g. "relation already exists, skipping") are not errors, and a
 * library never prints.  libpq hands here too the error a server sends
 * while no statement runs, before it closes the connection. */
static void pg_notice_cb(void *arg, const char *message) {
    struct pg *pg = arg;
    if (strncmp(message, "FATAL:", 6) == 0)
        snprintf(pg->fatal, sizeof pg->fatal, "%s", message);
}

/* Keepalives find a server that vanished without closing the connection;
 * the URI may override them. */
static int pg_open(struct store *st, const char *uri, const char *password) {
    struct pg *pg = xcalloc(1, sizeof *pg);
    st->impl = pg;
    pg->row = -1;
    const char *keys[] = { "connect_timeout",  "keepalives_idle", "keepalives_interval",        "keepalives_count",
                           "application_name", "dbname",          password ? "password" : NULL, NULL };
    const char *values[] = { "5", "5", "2", "3", "vmseal-producer", uri, password, NULL };
    pg->conn = PQconnectdbParams(keys, values, 1);
    if (PQstatus(pg->conn) != CONNECTION_OK) {
        snprintf(st->why, sizeof st->why, "%s", PQerrorMessage(pg->conn));
        st->why[strcspn(st->why, "\n")] = '\0';
        return -VMS_E_DB_LOST;
    }
    PQsetNoticeProcessor(pg->conn, pg_notice_cb, pg);
    int r = pg_lock(st);
    return r < 0 ? r : pg_migrate(st, pg->locked);
}

static int pg_watch_fd(struct store *st) { return PQsocket(PG(st)->conn); }

/* Input between statements: results of queued statements (kept for their
 * reader), or the server's last words before it closes the connection. */
static void pg_watch(struct store *st) {
    PGconn *conn = PG(st)->conn;
    if (PQconsumeInput(conn) == 1 && PQstatus(conn) != CONNECTION_BAD) {
        (void)PQisBusy(conn); /* parses it: an error outside a statement goes to pg_notice_cb */
        return;
    }
    snprintf(st->why, sizeof st->why, "%s", *PG(st)->fatal ? PG(st)->fatal : PQerrorMessage(conn));
    st->why[strcspn(st->why, "\n")] = '\0';
    st->lost = -VMS_E_DB_LOST;
}

static void pg_close(struct store *st) {
    struct pg *pg = PG(st);
    if (!pg)
        return;
    pg_done(st);
    PQfinish(pg->conn);
    free(pg);
}

const struct store_backend store_backend_pg = {
    .name = "postgresql",
    .open = pg_open,
    .close = pg_close,
    .exec = pg_exec,
    .begin = pg_begin,
    .in_transaction = pg_in_transaction,
    .query = pg_query,
    .next = pg_next,
    .done = pg_done,
    .col_null = pg_col_null,
    .col_int = pg_col_int,
    .col_text = pg_col_text,
    .col_blob = pg_col_blob,
    .run = pg_run,
    .lease_try = pg_lease_try,
    .watch_fd = pg_watch_fd,
    .watch = pg_watch,
    .sql_outbox_delete = "DELETE FROM outbox WHERE id IN (SELECT json_array_elements_text(?::json)::bigint)",
};
