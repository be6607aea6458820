/* metrics.h - Prometheus metrics: a registry of counters, gauges and
 * histograms, served in the text exposition format (version 0.0.4) on
 * GET /metrics by libmicrohttpd (the only file that includes
 * <microhttpd.h> is metrics.c).
 *
 * A daemon declares its families once (metrics_new()), updates series from
 * its loop, and the HTTP server - its own thread inside libmicrohttpd -
 * renders them under the registry's mutex.  A series is a family plus a
 * label string written by the caller, `kind="volume.copy",code="timeout"`
 * (values must need no escaping: enum and error names); it is created at its
 * first update.  Every update function accepts m == NULL and then does
 * nothing, so a daemon without `metrics_listen` calls them all the same.
 * Updates of an undeclared family are ignored.  Nothing here logs.
 */
#ifndef VMSEAL_METRICS_H
#define VMSEAL_METRICS_H

#include <stddef.h>

#include "err.h"

enum metrics_type { METRICS_COUNTER, METRICS_GAUGE, METRICS_HISTOGRAM };

struct metrics_family {
    const char *name; /* vmseal_..._total for counters, ..._seconds for durations */
    enum metrics_type type;
    const char *help;
};

/* Histogram buckets (seconds), the same for every histogram. */
#define METRICS_BUCKETS_S 0.1, 0.5, 1, 5, 10, 30, 60, 300, 900, 3600

struct metrics;

/* A registry of `families` (kept by pointer: a static table) serving on
 * `listen`, "host:port" or "[v6]:port" (numeric host, port 1..65535).
 * Errors: -VMS_E_INVALID for a bad address, -errno when the port cannot be
 * bound, with the reason in why. */
int metrics_new(const struct metrics_family *families, size_t n_families, const char *listen, struct metrics **ret,
                char why[ERR_WHY_LEN]);
/* Stop the server and free everything; NULL is fine. */
void metrics_free(struct metrics *m);

/* Counters and gauges: add v (a counter's v must be >= 0). */
void metrics_add(struct metrics *m, const char *name, const char *labels, double v);
/* Gauges: set to v. */
void metrics_set(struct metrics *m, const char *name, const char *labels, double v);
/* Histograms: one observation (seconds). */
void metrics_observe(struct metrics *m, const char *name, const char *labels, double v);

/* The whole exposition text (malloc'd), as GET /metrics returns it. */
char *metrics_render(struct metrics *m);

#endif
