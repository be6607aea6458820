-- deploy/postgresql/setup.sql - the database side of vmseal with least
-- privilege (issue 16).  Run once as a PostgreSQL superuser (or a role with
-- CREATEROLE and CREATEDB):
--
--   sudo -u postgres psql -v ON_ERROR_STOP=1 -f deploy/postgresql/setup.sql
--   sudo -u postgres psql -c '\password vmseal'     (or a client certificate)
--
-- Variables (psql -v NAME=VALUE): db (default vmseal), role (default vmseal).
-- It creates:
--   * the login role :role: no superuser, no CREATEDB, no CREATEROLE, no
--     replication, at most 8 connections (two producers need two);
--   * the database :db, owned by the administrator, not by :role; only
--     :role (and the administrator) may connect;
--   * the schema :role in it, owned by :role: the only place the role can
--     create anything (it has no rights on schema public), and its
--     search_path, so the producer's tables land there.
-- vmseal-producer creates and migrates its tables itself on first start
-- (table schema_version), and takes its leadership with an advisory lock and
-- the lease table: no other privilege is needed.
\if :{?db}
\else
\set db vmseal
\endif
\if :{?role}
\else
\set role vmseal
\endif

SELECT format('CREATE ROLE %I LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS CONNECTION LIMIT 8',
              :'role')
 WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = :'role') \gexec
SELECT format('CREATE DATABASE %I', :'db')
 WHERE NOT EXISTS (SELECT 1 FROM pg_database WHERE datname = :'db') \gexec
SELECT format('REVOKE ALL ON DATABASE %I FROM PUBLIC', :'db') \gexec
SELECT format('GRANT CONNECT ON DATABASE %I TO %I', :'db', :'role') \gexec
SELECT format('ALTER ROLE %I IN DATABASE %I SET search_path = %I', :'role', :'db', :'role') \gexec
-- A producer cut off by the network leaves its session (and its leadership)
-- on the server until TCP notices; the active producer runs a transaction at
-- least every second and a standby polls every 0.5 s, so a session idle for
-- 10 s is one whose producer is gone: the server ends it and a standby takes
-- over.
SELECT format('ALTER ROLE %I IN DATABASE %I SET idle_session_timeout = %L', :'role', :'db', '10s') \gexec

\connect :db
REVOKE ALL ON SCHEMA public FROM PUBLIC;
SELECT format('CREATE SCHEMA IF NOT EXISTS %I AUTHORIZATION %I', :'role', :'role') \gexec
