/* runtime_int.h - state shared by runtime.c (the event loop, deliveries,
 * heartbeats, signals) and jobs.c (the running jobs and their events).
 * Internal to worker/. */
#ifndef VMSEAL_WORKER_RUNTIME_INT_H
#define VMSEAL_WORKER_RUNTIME_INT_H

#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "config.h"
#include "metrics.h"
#include "mq.h"
#include "proto.h"
#include "runner.h"
#include "runtime.h"

#define WORKER_CANCEL_MEMORY    256  /* cancelled job ids remembered */
#define WORKER_RUNNING_DELAY_MS 100  /* a job that ends sooner sends no running event */
#define WORKER_PROGRESS_MIN_MS  500  /* at most one progress event per job this often */
#define WORKER_REPUBLISH_MS     1000 /* retry delay of a final event not confirmed */

struct job;
struct warm;

struct worker {
    const struct config *cfg;
    int grace_s;
    mq_t *mq;
    char conn_name[320]; /* the connection's name (mq keeps a pointer to it) */
    char pool_queue[256];
    char control_queue[256];
    char host[256];
    char guestfs_version[64];
    int sig_fd; /* signalfd: SIGCHLD, SIGTERM, SIGINT */

    struct job *jobs; /* every job this worker holds a delivery of */
    size_t n_jobs;
    struct runner_pool runners; /* reusable job processes (max = worker.slots) */
    struct metrics *metrics;    /* NULL without worker.metrics_listen */

    bool draining;             /* SIGTERM seen: consumer cancelled */
    int failed;                /* why the worker stops on its own (exit non-zero), or 0 */
    int64_t drain_deadline_ms; /* monotonic */
    int64_t next_heartbeat_ms; /* monotonic */

    struct warm *warm;     /* warm.c: the warm seal process, or NULL */
    int64_t warm_retry_ms; /* ... not started again before (monotonic) */

    proto_uuid cancelled[WORKER_CANCEL_MEMORY];
    size_t cancelled_next;
};

/* jobs.c */

/* Start `job` (ownership of its contents moves to the job table) for the
 * delivery d: hand it to a runner (light jobs; d's body is sent as is) or
 * fork a fresh child, publish `running`. */
void jobs_start(struct worker *w, struct proto_job *job, const struct mq_delivery *d);
/* A job that ends without running (unknown domain, cancelled before it
 * started): publish its final event; ack after the confirm. */
void jobs_end_now(struct worker *w, struct proto_job *job, const struct mq_delivery *d, enum event_state state,
                  int err, const char *why);
/* Fill pfds with the pipes of running jobs; returns how many. */
size_t jobs_pollfds(struct worker *w, struct pollfd *pfds, size_t cap);
/* Read whatever the pipes in pfds have. */
void jobs_on_pollfds(struct worker *w, const struct pollfd *pfds, size_t n);
/* Reap exited children (SIGCHLD): job processes, runners, reparented
 * grandchildren. */
void jobs_reap(struct worker *w);
/* Timeouts, pending progress, finished process groups, republishing;
 * returns the ms until it wants to run again (capped by the caller). */
int64_t jobs_tick(struct worker *w);
void jobs_on_confirm(struct worker *w, uint64_t seq, int status);
/* Kill the job's group and report `cancelled`; false if not running here. */
bool jobs_cancel(struct worker *w, const char *job_id);
/* The connection was lost: running jobs' deliveries are stale; kill them. */
void jobs_on_reconnect(struct worker *w);
/* Shutdown: kill every running job and requeue its delivery. */
void jobs_kill_for_shutdown(struct worker *w);
/* Ids of the running jobs (for the heartbeat); malloc'd. */
size_t jobs_running_ids(struct worker *w, proto_uuid **ret_ids);
/* Kill and free every job and every runner (end of worker_run). */
void jobs_free_all(struct worker *w);

/* warm.c (worker.guestfs.warm).
 * warm_tick: start the warm seal process when there is a free slot and none
 * is running (or drop it while draining); from the loop.
 * warm_take: hand the job body to it; 0 with its pid (process group) and
 * result pipe, which are the job's from now on (as after a fresh fork);
 * -ENOENT when there is none, other negatives when it cannot take it (the
 * caller forks a fresh child).
 * warm_reaped: true when pid was the warm process (dropped).
 * warm_kill: shutdown. */
void warm_tick(struct worker *w);
int warm_take(struct worker *w, const void *body, size_t len, int backstop_s, pid_t *ret_pid, int *ret_fd);
bool warm_reaped(struct worker *w, pid_t pid);
void warm_kill(struct worker *w);

#endif
