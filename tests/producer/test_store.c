/* test_store.c - the store's contract on each backend (test_store: SQLite,
 * test_store_pg: PostgreSQL): migrations from v1, a newer schema refused,
 * what a seal did kept with its job,
 * leadership (one leader, a standby that names it and does not migrate,
 * the generation every transaction checks) and, on PostgreSQL, the
 * connection cut. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <poll.h>
#include <string.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "err.h"
#include "store.h"
#include "testpg.h"
#include "testutil.h"
#include "util.h"

struct sfx {
    char *dir, *target, *schema;
};

static int setup(void **state) {
    struct sfx *f = xcalloc(1, sizeof *f);
    assert_int_equal(testutil_dir_make("store", &f->dir), 0);
    assert_int_equal(testpg_target(f->dir, "store", &f->target, &f->schema), 0);
    *state = f;
    return 0;
}

static int teardown(void **state) {
    struct sfx *f = *state;
    testutil_dir_remove(f->dir);
    testpg_schema_drop(f->schema);
    free(f->dir);
    free(f->target);
    free(f->schema);
    free(f);
    return 0;
}

static struct store *open_ok(struct sfx *f) {
    struct store *st = NULL;
    char err[ERR_WHY_LEN] = "";
    int r = store_open(f->target, &st, err);
    if (r < 0)
        fail_msg("store_open %s: %s", f->target, err);
    return st;
}

/* What the migration to version i added, undone (a store of version i - 1). */
static const char *const undo[STORE_SCHEMA_VERSION + 1] = {
    [2] = "ALTER TABLE jobs DROP COLUMN holder",
    [3] = "ALTER TABLE jobs DROP COLUMN files",
};

/* Change the store behind its back: the schema version, and with v >= 1
 * the schema too (what the migrations after v added is dropped: a real
 * store of version v). */
static void version_set(struct sfx *f, int v) {
    sqlite3 *db = NULL;
    if (f->schema) {
        _cleanup_free_ char *sql = xasprintf("UPDATE %s.schema_version SET version = %d", f->schema, v);
        assert_int_equal(testpg_sql(sql), 0);
    } else {
        assert_int_equal(sqlite3_open(f->target, &db), SQLITE_OK);
        _cleanup_free_ char *sql = xasprintf("PRAGMA user_version = %d", v);
        assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
    }
    for (int i = STORE_SCHEMA_VERSION; v >= 1 && i > v; i--) {
        if (!f->schema) {
            assert_int_equal(sqlite3_exec(db, undo[i], NULL, NULL, NULL), SQLITE_OK);
            continue;
        }
        _cleanup_free_ char *drop = xasprintf("SET search_path TO %s; %s", f->schema, undo[i]);
        assert_int_equal(testpg_sql(drop), 0);
    }
    if (db)
        sqlite3_close(db);
}

/* Insert a template under a new id (into id). */
static void template_add(struct store *st, proto_uuid id) {
    uuid_new(id);
    struct store_template t = {
        .name = "t", .state = TPL_CREATING, .request = "req", .request_len = 3, .created_ms = 1, .updated_ms = 1
    };
    snprintf(t.id, sizeof t.id, "%s", id);
    assert_int_equal(store_begin(st), 0);
    assert_int_equal(store_end(st, store_template_insert(st, &t)), 0);
}

/* Insert a job of template_id (its id new) into *j. */
static void job_add(struct store *st, const char *template_id, struct store_job *j) {
    uuid_new(j->id);
    snprintf(j->template_id, sizeof j->template_id, "%s", template_id);
    assert_int_equal(store_begin(st), 0);
    assert_int_equal(store_end(st, store_job_insert(st, j)), 0);
}

/* A v1 store with rows opens at the current version, rows kept; a store of
 * a newer version is refused. */
static void test_migrate_from_v1(void **state) {
    struct sfx *f = *state;
    struct store *st = open_ok(f);
    proto_uuid id;
    template_add(st, id);
    store_close(st);
    version_set(f, 1);
    st = open_ok(f);
    struct store_template t;
    assert_int_equal(store_template_get(st, id, &t), 0);
    assert_int_equal(t.request_len, 3);
    assert_memory_equal(t.request, "req", 3);
    store_template_free(&t);
    /* migration 1 -> 2: the jobs' holder column is back */
    struct store_job j = { .step = STEP_COPY, .kind = JOB_VOLUME_COPY, .attempt = 1, .holder = "host-a" };
    job_add(st, id, &j);
    struct store_job got;
    assert_int_equal(store_job_get(st, j.id, &got), 0);
    assert_string_equal(got.holder, "host-a");
    store_job_free(&got);
    /* migration 2 -> 3: and the files column */
    struct proto_files files = { 0 }, *back = NULL;
    assert_int_equal(proto_files_add(&files, "tmp-files", FILE_REMOVED, "/", "/tmp/x"), 0);
    assert_int_equal(store_job_files_set(st, j.id, &files), 0);
    assert_int_equal(store_job_files_get(st, j.id, &back), 0);
    assert_non_null(back);
    assert_string_equal(back->paths[0].path, "/tmp/x");
    proto_files_free(back);
    free(back);
    proto_files_free(&files);
    store_close(st);

    version_set(f, STORE_SCHEMA_VERSION + 1);
    char err[ERR_WHY_LEN] = "";
    assert_int_equal(store_open(f->target, &st, err), -VMS_E_DB);
    assert_non_null(strstr(err, "newer than this program"));
}

/* What a seal did is kept with its job, hostile names in their escaped
 * form, byte for byte; a job without it gives NULL, an unknown job
 * not_found, stored bytes that do not decode a clear db error. */
static void test_job_files(void **state) {
    struct sfx *f = *state;
    struct store *st = open_ok(f);
    proto_uuid tid;
    template_add(st, tid);
    struct store_job j = { .step = STEP_SEAL, .kind = JOB_VM_SEAL, .disk = -1, .attempt = 1 };
    job_add(st, tid, &j);

    struct proto_files *got = (struct proto_files *)&got;
    assert_int_equal(store_job_files_get(st, j.id, &got), 0);
    assert_null(got);
    proto_uuid other;
    uuid_new(other);
    assert_int_equal(store_job_files_get(st, other, &got), -VMS_E_NOT_FOUND);

    struct proto_files files = { 0 };
    char esc[256];
    str_escape("/var/tmp/two\nlines \x1b[2J\xff", esc, sizeof esc);
    assert_int_equal(proto_files_add(&files, "tmp-files", FILE_REMOVED, "/", esc), 0);
    assert_int_equal(proto_files_add(&files, "bash-history", FILE_REMOVED, "/home", "/home/bob/.bash_history"), 0);
    assert_int_equal(proto_files_add(&files, "hostname", FILE_CHANGED, "/", ""), 0); /* counted only */
    assert_int_equal(store_begin(st), 0);
    assert_int_equal(store_end(st, store_job_files_set(st, j.id, &files)), 0);
    assert_int_equal(store_begin(st), 0); /* (PostgreSQL: the row count arrives at the commit) */
    assert_int_equal(store_end(st, store_job_files_set(st, other, &files)), -VMS_E_NOT_FOUND);
    assert_int_equal(store_job_files_get(st, j.id, &got), 0);
    assert_non_null(got);
    assert_int_equal(got->n_ops, 3);
    assert_int_equal(got->n_paths, 2);
    assert_string_equal(got->paths[0].path, "/var/tmp/two\\x0alines \\x1b[2J\\xff");
    assert_string_equal(got->paths[1].mountpoint, "/home");
    assert_int_equal(got->ops[2].changed, 1);
    assert_true(got->truncated);
    proto_files_free(got);
    free(got);
    proto_files_free(&files);
    store_close(st);

    /* bytes that do not decode (written behind the store's back) */
    _cleanup_free_ char *bad =
        xasprintf("UPDATE %s%sjobs SET files = %s WHERE id = '%s'", f->schema ? f->schema : "",
                  f->schema ? "." : "", f->schema ? "'\\x81a178'::bytea" : "x'81a178'", j.id);
    if (f->schema) {
        assert_int_equal(testpg_sql(bad), 0);
    } else {
        sqlite3 *db;
        assert_int_equal(sqlite3_open(f->target, &db), SQLITE_OK);
        assert_int_equal(sqlite3_exec(db, bad, NULL, NULL, NULL), SQLITE_OK);
        sqlite3_close(db);
    }
    st = open_ok(f);
    assert_int_equal(store_job_files_get(st, j.id, &got), -VMS_E_DB);
    assert_null(got);
    assert_non_null(strstr(store_why(st), "do not decode"));
    store_close(st);
}

static bool lease_taken_cb(void *arg) {
    bool taken = false;
    char holder[256];
    return store_lease_try(arg, "producer-b", &taken, holder, sizeof holder) == 0 && taken;
}

/* One leader; the other stands by (naming it on PostgreSQL) and takes over
 * when the leader's store closes. */
static void test_lease_one_leader(void **state) {
    struct sfx *f = *state;
    struct store *a = open_ok(f), *b = open_ok(f);
    bool taken = false;
    char holder[256];
    assert_int_equal(store_lease_try(a, "producer-a", &taken, holder, sizeof holder), 0);
    assert_true(taken);
    assert_int_equal(store_lease_try(b, "producer-b", &taken, holder, sizeof holder), 0);
    assert_false(taken);
    if (f->schema)
        assert_non_null(strstr(holder, "producer-a"));
    proto_uuid id;
    template_add(a, id);
    store_close(a); /* the server ends a's session a moment later */
    assert_int_equal(testutil_wait_for(lease_taken_cb, b, 5000, 20), 0);
    template_add(b, id);
    store_close(b);
}

/* Only the leader migrates: a store opened while another holds the lead
 * leaves an older schema alone (here v0 over the v1 tables: migrating it
 * would fail on the existing tables), and refuses a newer one. */
static void test_standby_does_not_migrate(void **state) {
    struct sfx *f = *state;
    struct store *a = open_ok(f), *b;
    version_set(f, 0);
    b = open_ok(f);
    store_close(b);
    version_set(f, STORE_SCHEMA_VERSION + 1);
    char err[ERR_WHY_LEN] = "";
    assert_int_equal(store_open(f->target, &b, err), -VMS_E_DB);
    assert_non_null(strstr(err, "newer than this program"));
    version_set(f, STORE_SCHEMA_VERSION);
    store_close(a);
}

/* PostgreSQL: once another producer bumped the generation, the old
 * leader's next transaction fails and every call after it. */
static void test_lease_generation_checked(void **state) {
    struct sfx *f = *state;
    if (!f->schema) {
        /* SQLite's leadership is the flock: nothing to bump. */
        return;
    }
    struct store *a = open_ok(f);
    bool taken = false;
    char holder[256];
    assert_int_equal(store_lease_try(a, "producer-a", &taken, holder, sizeof holder), 0);
    assert_true(taken);
    _cleanup_free_ char *sql =
        xasprintf("UPDATE %s.lease SET generation = generation + 1, holder = 'producer-x'", f->schema);
    assert_int_equal(testpg_sql(sql), 0);
    assert_int_equal(store_begin(a), -VMS_E_LEASE_LOST);
    assert_non_null(strstr(store_why(a), "producer-x"));
    assert_int_equal(store_status(a), -VMS_E_LEASE_LOST);
    int64_t n;
    assert_int_equal(store_outbox_count(a, &n), -VMS_E_LEASE_LOST);
    store_close(a);
}

/* PostgreSQL: the connection terminated by an administrator makes the
 * store lost, and frees the leadership at once.  The store sees it without
 * a statement, from its socket (SQLite has none). */
static void test_connection_cut(void **state) {
    struct sfx *f = *state;
    struct store *a = open_ok(f);
    if (!f->schema) {
        assert_int_equal(store_watch_fd(a), -1);
        store_close(a);
        return;
    }
    struct store *b = open_ok(f);
    bool taken = false;
    char holder[256];
    assert_int_equal(store_lease_try(a, "producer-a", &taken, holder, sizeof holder), 0);
    assert_true(taken);
    _cleanup_free_ char *sql =
        xasprintf("SELECT pg_terminate_backend(l.pid) FROM pg_locks l JOIN pg_stat_activity s USING (pid)"
                  " WHERE l.locktype = 'advisory' AND l.granted AND s.datname = current_database()"
                  " AND l.objid = (hashtextextended('vmseal.lease.%s', 0) & 4294967295)::oid",
                  f->schema);
    int fd = store_watch_fd(a);
    assert_true(fd >= 0);
    struct pollfd pfd = { .fd = fd, .events = POLLIN };
    assert_int_equal(poll(&pfd, 1, 0), 0); /* nothing to read while connected */
    assert_int_equal(testpg_sql(sql), 0);
    /* the server's last words, then its end of the connection */
    for (int i = 0; i < 10 && store_status(a) == 0; i++) {
        assert_int_equal(poll(&pfd, 1, 5000), 1);
        store_watch(a);
    }
    assert_int_equal(store_status(a), -VMS_E_DB_LOST);
    assert_non_null(strstr(store_why(a), "terminating connection"));
    assert_int_equal(store_watch_fd(a), -1);
    int64_t n;
    assert_int_equal(store_outbox_count(a, &n), -VMS_E_DB_LOST);
    assert_int_equal(store_status(a), -VMS_E_DB_LOST);
    assert_int_equal(store_begin(a), -VMS_E_DB_LOST);
    assert_int_equal(testutil_wait_for(lease_taken_cb, b, 5000, 20), 0);
    store_close(a);
    store_close(b);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_migrate_from_v1, setup, teardown),
        cmocka_unit_test_setup_teardown(test_job_files, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lease_one_leader, setup, teardown),
        cmocka_unit_test_setup_teardown(test_standby_does_not_migrate, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lease_generation_checked, setup, teardown),
        cmocka_unit_test_setup_teardown(test_connection_cut, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
