/* testpg.c - see testpg.h. */
#include "testpg.h"

#include <ctype.h>
#include <errno.h>
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"
#include "util.h"

bool testpg_wanted(void) {
    const char *s = getenv("VMSEAL_TEST_STORE");
    return s && strcmp(s, "pg") == 0;
}

static const char *pg_uri(void) {
    const char *uri = getenv("VMSEAL_TEST_PG_URI");
    if (!uri || !*uri)
        fprintf(stderr, "testpg: VMSEAL_TEST_PG_URI is not set: run through tests/run.sh, or\n"
                        "  eval \"$(deploy/postgresql/node.sh start /tmp/pg-test)\"\n");
    return uri && *uri ? uri : NULL;
}

static void notice_cb(void *arg, const char *message) {
    (void)arg;
    (void)message;
}

int testpg_sql(const char *sql) {
    const char *uri = pg_uri();
    if (!uri)
        return -ENOENT;
    PGconn *c = PQconnectdb(uri);
    PQsetNoticeProcessor(c, notice_cb, NULL);
    PGresult *res = PQstatus(c) == CONNECTION_OK ? PQexec(c, sql) : NULL;
    ExecStatusType s = PQresultStatus(res);
    int r = s == PGRES_COMMAND_OK || s == PGRES_TUPLES_OK ? 0 : -EIO;
    if (r < 0)
        fprintf(stderr, "testpg: %s: %s", sql, res ? PQresultErrorMessage(res) : PQerrorMessage(c));
    PQclear(res);
    PQfinish(c);
    return r;
}

int testpg_target(const char *dir, const char *name, char **ret_target, char **ret_schema) {
    *ret_schema = NULL;
    if (!testpg_wanted()) {
        *ret_target = xasprintf("%s/producer.db", dir);
        return 0;
    }
    const char *uri = pg_uri();
    if (!uri)
        return -ENOENT;
    char id[VMS_UUID_STRLEN + 1];
    uuid_new(id);
    char *schema = xasprintf("t_%.30s_%.8s", name, id);
    for (char *p = schema; *p; p++)
        *p = isalnum((unsigned char)*p) ? (char)tolower((unsigned char)*p) : '_';
    _cleanup_free_ char *sql = xasprintf("CREATE SCHEMA %s", schema);
    int r = testpg_sql(sql);
    if (r < 0) {
        free(schema);
        return r;
    }
    *ret_target = xasprintf("%s&options=-csearch_path%%3D%s", uri, schema);
    *ret_schema = schema;
    return 0;
}

void testpg_schema_drop(const char *schema) {
    if (!schema)
        return;
    _cleanup_free_ char *sql = xasprintf("DROP SCHEMA %s CASCADE", schema);
    (void)testpg_sql(sql);
}

static int node_sh(const char *cmd) {
    const char *dir = getenv("VMSEAL_TEST_PG_DIR"), *src = getenv("VMSEAL_SOURCE_DIR");
    if (!dir || !src) {
        fprintf(stderr, "testpg: VMSEAL_TEST_PG_DIR or VMSEAL_SOURCE_DIR is not set\n");
        return -ENOENT;
    }
    _cleanup_free_ char *script = xasprintf("%s/deploy/postgresql/node.sh", src);
    const char *argv[] = { script, cmd, dir, NULL };
    char *out = NULL;
    int r = testutil_cmd_run(argv, 90000, &out);
    if (r != 0)
        fprintf(stderr, "testpg: node.sh %s: %d: %s\n", cmd, r, out ? out : "");
    free(out);
    return r == 0 ? 0 : -EIO;
}

int testpg_cluster_restart(void) { return node_sh("restart"); }
int testpg_cluster_stop(void) { return node_sh("stop"); }
int testpg_cluster_start(void) { return node_sh("start"); }
