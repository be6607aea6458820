/* e2e.h - fixtures of the end-to-end tests: real vmseal-producer,
 * vmseal-worker and vmsealctl processes on a private vhost of the test
 * broker, a real store (a SQLite file, or with VMSEAL_TEST_STORE=pg a
 * schema of the private PostgreSQL: testpg.h) and a real storage domain made with
 * `vmsealctl sd create` in a temporary folder.
 *
 * Each test gets a fresh struct e2e (cmocka setup/teardown): vhost with the
 * protocol's topology and a monitor (testevents), folder, domain, configuration
 * files (producer.conf, ctl.conf; workers get their own), and a dedicated
 * connection for RPC queries.  Teardown SIGKILLs every process it started;
 * VMSEAL_TEST_VERBOSE=1 prints the tail of their logs, VMSEAL_TEST_KEEP=1
 * keeps the folder.
 */
#ifndef VMSEAL_TESTS_E2E_H
#define VMSEAL_TESTS_E2E_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "mq.h"
#include "proto.h"
#include "rpc.h"
#include "testbroker.h"
#include "testevents.h"

#define E2E_MAX_PROCS 64 /* the chaos test restarts workers and producers many times */

struct e2e_proc {
    pid_t pid;
    char *name, *log;
};

struct e2e {
    struct testbroker tb;
    struct testevents *te;
    mq_t *rpc; /* consuming amq.rabbitmq.reply-to */
    char *dir, *sd_path, *db, *producer_conf, *ctl_conf;
    char *db_schema; /* PostgreSQL runs (testpg.h): the test's schema */
    proto_uuid sd_id;
    struct e2e_proc procs[E2E_MAX_PROCS];
    size_t n_procs;
    const char *worker_extra;   /* more settings of the worker group of workers started next, or NULL */
    const char *const *env_add; /* "KEY=value" list for processes started next, or NULL */
};

int e2e_setup(void **state);
int e2e_teardown(void **state);

/* Rewrite producer.conf with `extra` (settings) inside its producer group. */
int e2e_producer_conf_write(struct e2e *e, const char *extra);
/* Start a producer named id (config producer.conf: the test's domain, db).
 * With wait_active, wait until it answers RPC (20 s). */
int e2e_producer_start(struct e2e *e, const char *id, bool wait_active, pid_t *ret_pid);
/* The same with another configuration file (e.g. a copy in a folder of its
 * own: producers that share no file, as on two hosts). */
int e2e_producer_start_with(struct e2e *e, const char *id, const char *conf, bool wait_active, pid_t *ret_pid);
/* Start a worker (dry_run: seal_ms per vm.seal job) and wait for its heartbeat. */
int e2e_worker_start(struct e2e *e, const char *id, bool dry_run, int seal_ms, int slots, pid_t *ret_pid);
/* SIGKILL a started process (and the job processes it started), reap it. */
void e2e_kill(struct e2e *e, pid_t pid);

/* Run `vmsealctl ARGS... --config ctl.conf` (NULL-terminated); output
 * (stdout+stderr) in *ret_out if not NULL.  Returns the exit status. */
int e2e_ctl(struct e2e *e, char **ret_out, ...) __attribute__((sentinel));
/* `vmsealctl sd import` of file into the domain; ids of the new volume. */
int e2e_import(struct e2e *e, const char *file, const char *format, proto_uuid ret_img, proto_uuid ret_vol);
/* A committed RAW source volume of `bytes` of non-zero data, imported into
 * the test's domain (vmsealctl sd import); its ids in *ret. */
int e2e_source_make(struct e2e *e, size_t bytes, struct proto_vol_ref *ret);
/* `vmsealctl submit` (no wait) with the given extra arguments after the
 * disks; the template id is written to ret_id. */
int e2e_submit(struct e2e *e, const char *name, const struct proto_vol_ref *disks, size_t n_disks, bool seal,
               proto_uuid ret_id);

/* RPC status of a template; 0 with ret->ok false when the producer says no. */
int e2e_status(struct e2e *e, const char *template_id, struct rpc_reply *ret);
/* Poll status every 100 ms until the template's state is `state` (or, when
 * state is NULL, any terminal state); ret may be NULL.  -ETIMEDOUT. */
int e2e_wait_state(struct e2e *e, const char *template_id, const char *state, int timeout_ms,
                   struct rpc_reply *ret);
/* Poll until a job of `kind` of the template is "running". */
int e2e_wait_job_running(struct e2e *e, const char *template_id, enum job_kind kind, int timeout_ms);

/* Path of a volume (suffix "" or ".meta") in the domain; malloc'd. */
char *e2e_vol_path(struct e2e *e, const struct proto_vol_ref *v, const char *suffix);
/* A metadata value of a volume ("LEGALITY", "VOLTYPE", "GEN" ...) into out;
 * -ENOENT when the volume (or key) does not exist. */
int e2e_meta_get(struct e2e *e, const struct proto_vol_ref *v, const char *key, char *out, size_t len);
/* Number of committed volumes in the domain (.meta files). */
int e2e_volume_count(struct e2e *e);
/* sha256 of a file (hex) through sha256sum. */
int e2e_sha256(const char *path, char out[65]);
/* `vmsealctl sd list --json` output of the domain, malloc'd (for "unchanged"). */
char *e2e_sd_listing(struct e2e *e);
/* Print the tail of every started process's log on stderr. */
void e2e_dump_logs(struct e2e *e);

/* cmocka assertions.  Jobs of the template's status at `step` in `state`. */
/* Wait for the template's end; it must be READY with every target volume
 * LEGAL SHARED GEN 2 (status and .meta), each forward step succeeded exactly
 * once per disk (seal once).  Returns its number of disks. */
size_t e2e_assert_ready(struct e2e *e, const char *tid, int timeout_ms);
size_t e2e_jobs_in_state(const struct rpc_template *t, const char *step, const char *state);
/* e2e_assert_ready, and the domain must hold exactly n_sources + the
 * targets (no orphan volume). */
void e2e_assert_ready_clean(struct e2e *e, const char *tid, int timeout_ms, size_t n_sources);

#endif
