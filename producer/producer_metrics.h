/* producer_metrics.h - what the producer tells Prometheus (README "Metrics").
 *
 * The producer's families over common/metrics: templates by state and
 * outbox depth (read from the store at most every PM_REFRESH_MS), step
 * durations (measured from the transitions this process saw: a step that
 * began before a restart is not timed), job durations, attempts and
 * failures by kind and error code (told by the workflow when a job ends),
 * rejected requests and dead letters, broker connection state and
 * reconnects, active or standby.  Every function accepts pm == NULL (no
 * metrics_listen) and then does nothing.  Nothing here logs.
 *
 * Transitions and job ends are counted when the workflow writes them, inside
 * its transaction: the rare transaction rolled back by a store failure (its
 * message redelivered and handled again) is counted twice.
 */
#ifndef VMSEAL_PRODUCER_METRICS_H
#define VMSEAL_PRODUCER_METRICS_H

#include <stdbool.h>
#include <stdint.h>

#include "err.h"

struct store;
struct store_template;
struct store_job;
struct producer_metrics;

#define PM_REFRESH_MS 2000

/* Serve on `listen` ("host:port"); errors as metrics_new(). */
int producer_metrics_new(const char *listen, struct producer_metrics **ret, char why[ERR_WHY_LEN]);
void producer_metrics_free(struct producer_metrics *pm);

/* A template's state or step changed (the workflow's transition_cb). */
void producer_metrics_transition(struct producer_metrics *pm, const struct store_template *t, int64_t now_ms);
/* An attempt ended (the workflow's job_end_cb). */
void producer_metrics_job_end(struct producer_metrics *pm, const struct store_job *j);
/* A request rejected (dead-lettered) or another message dead-lettered from `queue`. */
void producer_metrics_dead_letter(struct producer_metrics *pm, const char *queue, bool request_rejected);
void producer_metrics_reconnected(struct producer_metrics *pm);
/* From the loop: active or standby, broker connected; the store's gauges
 * when PM_REFRESH_MS passed since the last read (st may be NULL: standby). */
void producer_metrics_loop(struct producer_metrics *pm, bool active, bool connected, struct store *st);

#endif
