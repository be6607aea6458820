/* testpg.h - the private PostgreSQL cluster of the store tests.
 *
 * tests/run.sh starts one cluster (deploy/postgresql/node.sh: Unix socket
 * only, in a temporary folder) and exports VMSEAL_TEST_PG_DIR, _URI (the
 * superuser on database vmseal) and _BIN.  Tests isolate by schema:
 * testpg_target() gives each a fresh schema and a URI whose search_path is
 * that schema, so the store's tables (and its leadership lock) are the
 * test's own.
 *
 * A test runs on PostgreSQL when VMSEAL_TEST_STORE=pg (CMake registers the
 * `_pg` variants so); then a missing cluster makes it fail with the reason,
 * never skip.  Otherwise the target is a SQLite file in the test's folder. */
#ifndef VMSEAL_TESTPG_H
#define VMSEAL_TESTPG_H

#include <stdbool.h>

/* Whether this run uses PostgreSQL (VMSEAL_TEST_STORE=pg). */
bool testpg_wanted(void);

/* The store target of a test: "<dir>/producer.db", or (testpg_wanted) a
 * fresh schema "t_<name>_<random>" and its URI.  *ret_schema NULL for
 * SQLite.  Prints the reason and returns negative on failure. */
int testpg_target(const char *dir, const char *name, char **ret_target, char **ret_schema);

/* Drop a schema made by testpg_target (NULL is a no-op). */
void testpg_schema_drop(const char *schema);

/* Run SQL as the superuser on the test database; 0 or -EIO (printed). */
int testpg_sql(const char *sql);

/* `node.sh restart` of the private cluster: the database's outage. */
int testpg_cluster_restart(void);
int testpg_cluster_stop(void);
int testpg_cluster_start(void);

#endif
