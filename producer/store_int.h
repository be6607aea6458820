/* store_int.h - what store.c (the shared SQL and row mapping) needs from a
 * database backend: store_sqlite.c (a file path) and store_pg.c (a
 * postgresql:// URI).  Each backend is the one adapter of its library's
 * errors: failures come back as -VMS_E_DB with st->why filled, or
 * -VMS_E_DB_LOST once the connection is gone (sticky: st->lost).
 *
 * SQL given to query() is written once for both: `?` or `?N` placeholders
 * (the PostgreSQL backend rewrites them to `$N`), portable syntax only
 * (ON CONFLICT DO NOTHING, no LIMIT -1).  The text is a string literal:
 * backends cache prepared statements by its address.  One statement is
 * current at a time: query() starts it, next() steps its rows, the col_*()
 * read the current row, done() ends it early. */
#ifndef VMSEAL_STORE_INT_H
#define VMSEAL_STORE_INT_H

#include <stdarg.h>

#include "store.h"

struct store_backend {
    const char *name;
    /* Connect and migrate to STORE_SCHEMA_VERSION; st->impl is the backend's. */
    int (*open)(struct store *st, const char *target, const char *password);
    void (*close)(struct store *st);
    /* Statements without parameters or rows (transaction control). */
    int (*exec)(struct store *st, const char *sql);
    /* The outermost BEGIN, checking the lease generation where there is one. */
    int (*begin)(struct store *st);
    bool (*in_transaction)(struct store *st);
    /* Bind from fmt: 't' text (NULL ok), 'i' int, 'I' int64, 'b' blob (ptr, size_t). */
    int (*query)(struct store *st, const char *sql, const char *fmt, va_list ap);
    int (*next)(struct store *st); /* 1 a row, 0 done, < 0 error */
    void (*done)(struct store *st);
    bool (*col_null)(struct store *st, int i);
    int64_t (*col_int)(struct store *st, int i);
    const char *(*col_text)(struct store *st, int i); /* NULL for NULL */
    const void *(*col_blob)(struct store *st, int i, size_t *ret_len);
    /* A statement without rows; expect 1: it must change exactly one row
     * (else -VMS_E_NOT_FOUND).  May be queued: its failure then comes from
     * the next query(), or the RELEASE / COMMIT of its savepoint. */
    int (*run)(struct store *st, const char *sql, int expect, const char *fmt, va_list ap);
    int (*lease_try)(struct store *st, const char *holder, bool *ret_taken, char *ret_holder, size_t len);
    /* The connection's socket to poll between statements, or -1 (NULL: none);
     * watch() reads what arrived there and marks the store lost when the
     * server closed the connection. */
    int (*watch_fd)(struct store *st);
    void (*watch)(struct store *st);
    /* The dialects' own SQL: delete the outbox rows of a JSON array of ids. */
    const char *sql_outbox_delete;
};

struct store {
    const struct store_backend *be;
    void *impl;
    char why[ERR_WHY_LEN];
    int depth; /* store_begin nesting */
    int lost;  /* 0, -VMS_E_DB_LOST or -VMS_E_LEASE_LOST: every call fails so */
};

extern const struct store_backend store_backend_sqlite;
extern const struct store_backend store_backend_pg;

#endif
