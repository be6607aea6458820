/* wtest.h - fixtures of the worker broker tests: a private vhost with the
 * protocol's topology and an event monitor, a temporary storage domain, real
 * vmseal-worker processes started from generated configuration files, and
 * volumes made directly in the domain. */
#ifndef VMSEAL_TESTS_WTEST_H
#define VMSEAL_TESTS_WTEST_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "proto.h"
#include "sd.h"
#include "testbroker.h"
#include "testevents.h"

#define WTEST_MAX_WORKERS 4

struct wtest {
    struct testbroker tb;
    struct testevents *te;
    char *dir; /* this test's temp folder (configs, logs, domain) */
    proto_uuid sd_id;
    char *sd_path;
    pid_t pids[WTEST_MAX_WORKERS];
    char *logs[WTEST_MAX_WORKERS];
    size_t n_workers;
};

struct wtest_worker_opts {
    const char *id;   /* worker id; also names its config and log */
    const char *pool; /* NULL = "default" */
    int slots;        /* 0 = 2 */
    bool dry_run;
    int dry_run_seal_ms; /* 0 = default */
    int timeout_copy_s;  /* 0 = default */
    int grace_s;         /* 0 = default (--grace-s not passed) */
    bool warm;           /* worker.guestfs.warm */
};

/* Setup/teardown for one test (cmocka test setup/teardown signature). */
int wtest_setup(void **state);
int wtest_teardown(void **state);

/* Write the worker's config, start it, wait for its first heartbeat.
 * Returns 0 and its pid. */
int wtest_worker_start(struct wtest *w, const struct wtest_worker_opts *o, pid_t *ret_pid);
/* The usual start of a test: a volume of size_bytes (wtest_volume_make; ids
 * in ret_img/ret_vol), then worker o started.  Fails the test otherwise;
 * returns the worker's pid. */
pid_t wtest_start(struct wtest *w, const struct wtest_worker_opts *o, int64_t size_bytes, proto_uuid ret_img,
                  proto_uuid ret_vol);
/* Stop a worker with sig and wait up to wait_ms; *ret_status as testutil. */
int wtest_worker_stop(struct wtest *w, pid_t pid, int sig, int wait_ms, int *ret_status);

/* Close worker `id`'s broker connection from the broker side (rabbitmqctl
 * close_connection), as a network failure would. */
int wtest_worker_conn_close(struct wtest *w, const char *id);

/* The first child process of `parent` (a job's process, = its process
 * group), or -1 when it has none. */
pid_t wtest_child_of(pid_t parent);
/* Whether any process of group pgid is left (zombies of our own children
 * are reaped first); the second form waits up to timeout_ms for it to go. */
bool wtest_group_alive(pid_t pgid);
bool wtest_group_wait_gone(pid_t pgid, int timeout_ms);

/* How worker `id` started job_id, from its log ("started (runner pid N"
 * or "started (pid N"): *ret_pid (its process, = its process group) and
 * *ret_runner (true: a reusable runner).  0, or -ENOENT when the log has no
 * such line. */
int wtest_job_pid(struct wtest *w, const char *id, const char *job_id, pid_t *ret_pid, bool *ret_runner);
/* Check that a runner holds no fd but stdio and its two pipes (3 and 4),
 * and no socket at all (the worker's AMQP connection must not live in it).
 * Fails the test. */
void wtest_assert_runner_fds(pid_t pid);

/* A committed RAW volume of size_bytes filled with non-zero data (so
 * qemu-img has to copy every byte), written straight into the domain. */
int wtest_volume_make(struct wtest *w, int64_t size_bytes, proto_uuid ret_img, proto_uuid ret_vol);
/* Path of a volume file (suffix "" or ".meta"), malloc'd. */
char *wtest_volume_path(struct wtest *w, const char *img, const char *vol, const char *suffix);
/* Number of *.tmp files in an image dir. */
int wtest_tmp_count(struct wtest *w, const char *img);

/* Check events of a job: running first (absent only when the final event
 * is the only one: the job ended within WORKER_RUNNING_DELAY_MS), then
 * progress*, then exactly one final event in state `final`, nothing after
 * it.  Fails the test. */
void wtest_assert_event_order(struct wtest *w, const char *job_id, enum event_state final);

/* ---- jobs ----------------------------------------------------------------
 * Built on testevents_job_init() (fresh ids, attempt 1, timeout 600 s);
 * every volume is in domain sd.  Free with proto_job_free(). */

/* volume.copy of img/vol to a new volume in format fmt; its fresh ids go to
 * ret_img/ret_vol. */
void wtest_copy_job(struct proto_job *j, const char *sd, const char *img, const char *vol, enum vol_format fmt,
                    proto_uuid ret_img, proto_uuid ret_vol);
/* volume.update of img/vol from generation gen: legality leg, voltype vt
 * (LEGALITY_NONE / VOLTYPE_NONE: unchanged). */
void wtest_update_job(struct proto_job *j, const char *sd, const char *img, const char *vol, int gen,
                      enum vol_legality leg, enum vol_type vt);
void wtest_delete_job(struct proto_job *j, const char *sd, const char *img, const char *vol);
/* vm.seal of the one disk img/vol of w's domain, marked ILLEGAL first when it is a
 * LEGAL LEAF (as a workflow does before its seal). */
void wtest_seal_job(struct proto_job *j, struct wtest *w, const char *img, const char *vol);

/* Publish j and wait up to wait_ms for its final event, which is returned
 * (owned by w->te); fails the test otherwise. */
const struct proto_event *wtest_job_run(struct wtest *w, const struct proto_job *j, int wait_ms);
/* Publish j and wait up to wait_ms for its running event; fails the test
 * otherwise. */
void wtest_job_start(struct wtest *w, const struct proto_job *j, int wait_ms);
/* The process that ran job_id on worker `id` (wtest_job_pid); fails the test
 * unless it is found and is a reusable runner exactly when `runner`. */
pid_t wtest_job_process(struct wtest *w, const char *id, const char *job_id, bool runner);
/* sd_volume_meta_read() of img/vol in the test's domain into *ret; fails the
 * test unless it returns `expect`. */
void wtest_meta_read(struct wtest *w, const char *img, const char *vol, struct vol_meta *ret, int expect);

#endif
