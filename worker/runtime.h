/* runtime.h - the worker daemon: consume a pool's jobs, run each in a child
 * process, report events and heartbeats (docs/protocol.md §3, §9).
 *
 * worker_run() is everything vmseal-worker does after its configuration is
 * loaded.  It opens (and scrubs) the configured storage domains, connects to
 * the broker, declares its pool queue (pool "default" binds `#`, any other
 * pool `storage.<sd>` and `virt.<sd>` for each configured domain) and an
 * exclusive queue on vmseal.control, then serves until SIGTERM/SIGINT:
 *
 *  - at most worker.slots jobs at once (the consumer's prefetch);
 *  - each job runs in a forked child in its own process group (jobs.c,
 *    executor.c); progress comes back over a pipe and becomes `running`,
 *    `progress` (throttled) and one final `succeeded` / `failed` /
 *    `cancelled` event on vmseal.events, routing key job.<kind>.<state>;
 *  - a job is acknowledged only after its final event is confirmed;
 *  - a job past its timeout (worker.timeouts_s, or the job's timeout_s if
 *    smaller) has its whole process group killed and fails as `timeout`
 *    (transient); a job.cancel on vmseal.control does the same and reports
 *    `cancelled`;
 *  - an undecodable or invalid job is published to vmseal.dlx with the
 *    decoder's reason in MQ_HDR_REASON, then acknowledged;
 *  - after a broker connection loss the running jobs' deliveries are stale
 *    (the broker hands them out again): their process groups are killed;
 *  - SIGTERM/SIGINT: stop consuming, let running jobs finish for grace_s,
 *    kill the rest and requeue them, return 0.
 *
 * Returns 0 after a clean shutdown, or a negative code when the worker could
 * not start (domains, broker refused access); the reason is logged.
 */
#ifndef VMSEAL_WORKER_RUNTIME_H
#define VMSEAL_WORKER_RUNTIME_H

#include "config.h"

#define WORKER_DEFAULT_GRACE_S 30
#define WORKER_HEARTBEAT_MS    10000

struct worker_ctx {
    const struct config *cfg; /* loaded with BROKER | WORKER | STORAGE */
    int grace_s;              /* SIGTERM drain time; 0 = WORKER_DEFAULT_GRACE_S */
};

int worker_run(const struct worker_ctx *ctx);

#endif
