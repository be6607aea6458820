/* producer_metrics.c - the producer's Prometheus families (see producer_metrics.h). */
#include "producer_metrics.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "metrics.h"
#include "model.h"
#include "proto.h"
#include "store.h"
#include "util.h"

static const struct metrics_family families[] = {
    { "vmseal_producer_active", METRICS_GAUGE, "1 when this producer holds the lock, 0 in standby" },
    { "vmseal_broker_connected", METRICS_GAUGE, "1 while the broker connection is up" },
    { "vmseal_broker_reconnects_total", METRICS_COUNTER, "Broker connections restored after a loss" },
    { "vmseal_templates", METRICS_GAUGE, "Templates in the store by state" },
    { "vmseal_outbox_rows", METRICS_GAUGE, "Messages written but not yet confirmed by the broker" },
    { "vmseal_step_duration_seconds", METRICS_HISTOGRAM, "Template step durations by step" },
    { "vmseal_job_duration_seconds", METRICS_HISTOGRAM,
      "Job attempt durations (first sign of life, or publication, to end) by kind and outcome" },
    { "vmseal_job_attempts_total", METRICS_COUNTER, "Job attempts ended, by kind and outcome" },
    { "vmseal_job_failures_total", METRICS_COUNTER, "Job attempts that failed, by kind and error code" },
    { "vmseal_requests_rejected_total", METRICS_COUNTER, "template requests rejected (and dead-lettered)" },
    { "vmseal_dead_letters_total", METRICS_COUNTER, "Messages the producer dead-lettered, by source queue" },
};

/* When each template's current step began (templates seen this run). */
struct step_since {
    proto_uuid id;
    enum tpl_step step;
    int64_t since_ms;
};

struct producer_metrics {
    struct metrics *m;
    struct step_since *steps;
    size_t n_steps, cap_steps;
    int64_t next_refresh_ms; /* monotonic */
};

int producer_metrics_new(const char *listen, struct producer_metrics **ret, char why[ERR_WHY_LEN]) {
    struct metrics *m;
    int r = metrics_new(families, ARRAY_SIZE(families), listen, &m, why);
    if (r < 0)
        return r;
    *ret = xcalloc(1, sizeof **ret);
    (*ret)->m = m;
    return 0;
}

void producer_metrics_free(struct producer_metrics *pm) {
    if (!pm)
        return;
    metrics_free(pm->m);
    free(pm->steps);
    free(pm);
}

void producer_metrics_transition(struct producer_metrics *pm, const struct store_template *t, int64_t now_ms) {
    if (!pm)
        return;
    size_t i = 0;
    while (i < pm->n_steps && strcmp(pm->steps[i].id, t->id) != 0)
        i++;
    if (i < pm->n_steps && pm->steps[i].step == t->step)
        return;
    if (i < pm->n_steps) {
        char labels[64];
        snprintf(labels, sizeof labels, "step=\"%s\"", tpl_step_to_string(pm->steps[i].step));
        metrics_observe(pm->m, "vmseal_step_duration_seconds", labels,
                        (double)(now_ms - pm->steps[i].since_ms) / 1000.0);
    } else {
        if (pm->n_steps == pm->cap_steps)
            pm->steps = xrealloc(pm->steps, (pm->cap_steps = pm->cap_steps * 2 + 16) * sizeof *pm->steps);
        i = pm->n_steps++;
        memcpy(pm->steps[i].id, t->id, sizeof pm->steps[i].id);
    }
    pm->steps[i].step = t->step;
    pm->steps[i].since_ms = now_ms;
    if (t->step == STEP_DONE) /* the end: forget it */
        pm->steps[i] = pm->steps[--pm->n_steps];
}

void producer_metrics_job_end(struct producer_metrics *pm, const struct store_job *j) {
    if (!pm)
        return;
    char labels[128];
    const char *kind = job_kind_to_string(j->kind), *outcome = job_state_to_string(j->state);
    int64_t from = j->started_ms > 0 ? j->started_ms : j->created_ms;
    snprintf(labels, sizeof labels, "kind=\"%s\",outcome=\"%s\"", kind, outcome);
    metrics_add(pm->m, "vmseal_job_attempts_total", labels, 1);
    if (j->finished_ms >= from)
        metrics_observe(pm->m, "vmseal_job_duration_seconds", labels, (double)(j->finished_ms - from) / 1000.0);
    if (j->state != JOB_SUCCEEDED) {
        snprintf(labels, sizeof labels, "kind=\"%s\",code=\"%s\"", kind, j->error_code ? j->error_code : outcome);
        metrics_add(pm->m, "vmseal_job_failures_total", labels, 1);
    }
}

void producer_metrics_dead_letter(struct producer_metrics *pm, const char *queue, bool request_rejected) {
    if (!pm)
        return;
    char labels[300];
    snprintf(labels, sizeof labels, "queue=\"%s\"", queue);
    metrics_add(pm->m, "vmseal_dead_letters_total", labels, 1);
    if (request_rejected)
        metrics_add(pm->m, "vmseal_requests_rejected_total", NULL, 1);
}

void producer_metrics_reconnected(struct producer_metrics *pm) {
    if (pm)
        metrics_add(pm->m, "vmseal_broker_reconnects_total", NULL, 1);
}

static void store_gauges(struct producer_metrics *pm, struct store *st) {
    static const enum tpl_state states[] = { TPL_CREATING, TPL_ROLLING_BACK, TPL_READY, TPL_FAILED,
                                             TPL_CANCELLED };
    for (size_t i = 0; i < ARRAY_SIZE(states); i++) {
        struct store_template *a;
        size_t n;
        if (store_template_list(st, (int)states[i], 0, &a, &n) < 0)
            continue;
        store_template_array_free(a, n);
        char labels[64];
        snprintf(labels, sizeof labels, "state=\"%s\"", tpl_state_to_string(states[i]));
        metrics_set(pm->m, "vmseal_templates", labels, (double)n);
    }
    int64_t rows;
    if (store_outbox_count(st, &rows) == 0)
        metrics_set(pm->m, "vmseal_outbox_rows", NULL, (double)rows);
}

void producer_metrics_loop(struct producer_metrics *pm, bool active, bool connected, struct store *st) {
    if (!pm)
        return;
    metrics_set(pm->m, "vmseal_producer_active", NULL, active);
    metrics_set(pm->m, "vmseal_broker_connected", NULL, connected);
    int64_t now = time_mono_ms();
    if (!st || now < pm->next_refresh_ms)
        return;
    pm->next_refresh_ms = now + PM_REFRESH_MS;
    store_gauges(pm, st);
}
