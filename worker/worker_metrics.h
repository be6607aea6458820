/* worker_metrics.h - what a worker tells Prometheus (README "Metrics"):
 * slots busy and total, broker connection state and reconnects, job
 * durations by kind and outcome, failures by error code, seal phase
 * durations (a vm.seal job's progress steps), dead letters.  The families
 * over common/metrics; each function accepts m == NULL (no
 * worker.metrics_listen) and then does nothing. */
#ifndef VMSEAL_WORKER_METRICS_H
#define VMSEAL_WORKER_METRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "metrics.h"
#include "proto.h"

/* Serve on `listen` ("host:port"); errors as metrics_new(). */
int worker_metrics_new(const char *listen, struct metrics **ret, char why[ERR_WHY_LEN]);

/* A job's final event: state EV_SUCCEEDED, EV_FAILED or EV_CANCELLED, err its code. */
void worker_metrics_job_end(struct metrics *m, enum job_kind kind, enum event_state state, int err,
                            int64_t duration_ms);
/* A seal phase (progress step) that lasted duration_ms. */
void worker_metrics_seal_phase(struct metrics *m, const char *phase, int64_t duration_ms);
/* From the loop. */
void worker_metrics_loop(struct metrics *m, size_t busy, int slots, bool connected);

#endif
