/* worker_metrics.c - the worker's Prometheus families (see worker_metrics.h). */
#include "worker_metrics.h"

#include <stdio.h>
#include <string.h>

#include "util.h"

static const struct metrics_family families[] = {
    { "vmseal_worker_slots", METRICS_GAUGE, "Jobs this worker runs at once (worker.slots)" },
    { "vmseal_worker_slots_busy", METRICS_GAUGE, "Jobs this worker holds now" },
    { "vmseal_broker_connected", METRICS_GAUGE, "1 while the broker connection is up" },
    { "vmseal_broker_reconnects_total", METRICS_COUNTER, "Broker connections restored after a loss" },
    { "vmseal_worker_job_duration_seconds", METRICS_HISTOGRAM, "Job durations by kind and outcome" },
    { "vmseal_worker_job_failures_total", METRICS_COUNTER, "Jobs failed or cancelled, by kind and error code" },
    { "vmseal_worker_seal_phase_seconds", METRICS_HISTOGRAM, "vm.seal phase durations by phase" },
    { "vmseal_worker_dead_letters_total", METRICS_COUNTER, "Invalid jobs this worker dead-lettered" },
};

int worker_metrics_new(const char *listen, struct metrics **ret, char why[ERR_WHY_LEN]) {
    return metrics_new(families, ARRAY_SIZE(families), listen, ret, why);
}

void worker_metrics_job_end(struct metrics *m, enum job_kind kind, enum event_state state, int err,
                            int64_t duration_ms) {
    char labels[128];
    snprintf(labels, sizeof labels, "kind=\"%s\",outcome=\"%s\"", job_kind_to_string(kind),
             event_state_to_string(state));
    metrics_observe(m, "vmseal_worker_job_duration_seconds", labels, (double)duration_ms / 1000.0);
    if (state == EV_SUCCEEDED)
        return;
    snprintf(labels, sizeof labels, "kind=\"%s\",code=\"%s\"", job_kind_to_string(kind), err_name(err));
    metrics_add(m, "vmseal_worker_job_failures_total", labels, 1);
}

void worker_metrics_seal_phase(struct metrics *m, const char *phase, int64_t duration_ms) {
    char labels[160];
    if (strpbrk(phase, "\"\\\n")) /* a label value is written unescaped */
        return;
    snprintf(labels, sizeof labels, "phase=\"%s\"", phase);
    metrics_observe(m, "vmseal_worker_seal_phase_seconds", labels, (double)duration_ms / 1000.0);
}

void worker_metrics_loop(struct metrics *m, size_t busy, int slots, bool connected) {
    metrics_set(m, "vmseal_worker_slots", NULL, slots);
    metrics_set(m, "vmseal_worker_slots_busy", NULL, (double)busy);
    metrics_set(m, "vmseal_broker_connected", NULL, connected);
}
