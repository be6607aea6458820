#!/bin/bash
# test_pg_role.sh - deploy/postgresql/setup.sql on the private test cluster
# (VMSEAL_TEST_PG_*, tests/run.sh): a fresh database and role, then the
# producer's store opened as that role (its tables land in its own schema),
# and the role refused everything else (schema public, tables in other
# databases, creating databases or roles).  Fails without the cluster.
set -euo pipefail
: "${VMSEAL_TEST_PG_DIR:?not set: run through tests/run.sh, or eval \"\$(deploy/postgresql/node.sh start DIR)\"}"
SRC=${VMSEAL_SOURCE_DIR:?}
BUILD=${VMSEAL_BUILD_DIR:?}
N=$RANDOM$RANDOM
DB=vmseal_role_$N
ROLE=vmseal_role_$N
admin() { PGOPTIONS='-c client_min_messages=warning' psql -h "$VMSEAL_TEST_PG_DIR" -U vmseal_admin -v ON_ERROR_STOP=1 -qAt "$@"; }
as_role() { psql -h "$VMSEAL_TEST_PG_DIR" -U "$ROLE" -d "$DB" -v ON_ERROR_STOP=1 -qAt "$@"; }
cleanup() {
    admin -d postgres -c "DROP DATABASE IF EXISTS $DB" >/dev/null 2>&1 || true
    admin -d postgres -c "DROP ROLE IF EXISTS $ROLE" >/dev/null 2>&1 || true
}
trap cleanup EXIT
fail() { echo "test_pg_role: FAIL: $*" >&2; exit 1; }

admin -d postgres -v db="$DB" -v role="$ROLE" -f "$SRC/deploy/postgresql/setup.sql" >/dev/null
# twice: idempotent
admin -d postgres -v db="$DB" -v role="$ROLE" -f "$SRC/deploy/postgresql/setup.sql" >/dev/null

# The store as the role: migrations run, the tables are the role's, in its schema.
"$BUILD/bin/test_store_open" "postgresql:///$DB?host=$VMSEAL_TEST_PG_DIR&user=$ROLE" ||
    fail "the store does not open as $ROLE"
owners=$(as_role -c "SELECT DISTINCT schemaname || ':' || tableowner FROM pg_tables WHERE tablename IN ('templates', 'jobs', 'outbox', 'lease')")
[ "$owners" = "$ROLE:$ROLE" ] || fail "tables not in schema $ROLE owned by $ROLE: $owners"

# Refused: schema public, creating databases and roles, tables elsewhere;
# and only the role may connect to its database.
as_role -c "CREATE TABLE public.x (i int)" 2>/dev/null && fail "$ROLE may create in schema public"
as_role -c "CREATE DATABASE x_$N" 2>/dev/null && fail "$ROLE may create databases"
as_role -c "CREATE ROLE x_$N" 2>/dev/null && fail "$ROLE may create roles"
psql -h "$VMSEAL_TEST_PG_DIR" -U "$ROLE" -d postgres -qAtc "CREATE TABLE x_$N (i int)" 2>/dev/null &&
    fail "$ROLE may create tables in another database"
[ "$(admin -d postgres -c "SELECT count(*) FROM pg_database, aclexplode(datacl) a
      WHERE datname = '$DB' AND a.grantee = 0 AND a.privilege_type = 'CONNECT'")" = 0 ] ||
    fail "every role may connect to $DB"
[ "$(as_role -c "SHOW idle_session_timeout")" = 10s ] || fail "idle_session_timeout not set for $ROLE"
[ "$(as_role -c "SELECT rolsuper OR rolcreatedb OR rolcreaterole FROM pg_roles WHERE rolname = current_user")" = f ] ||
    fail "$ROLE has administrative attributes"
echo "test_pg_role: ok ($DB, $ROLE)"
