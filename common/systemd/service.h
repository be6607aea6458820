/* service.h - running under systemd (the libsystemd adapter).
 *
 * Readiness, status and watchdog go to $NOTIFY_SOCKET (sd_notify): without
 * it (not started by systemd, or Type= other than notify) every call is a
 * no-op.  Log records go to journald with fields when stderr is the
 * journal's stream ($JOURNAL_STREAM matches stderr), else stay plain lines
 * on stderr (log.h).  Nothing here fails: a lost notification is not worth
 * stopping a daemon for.
 */
#ifndef VMSEAL_SERVICE_H
#define VMSEAL_SERVICE_H

#include <stdbool.h>
#include <stdint.h>

/* Read the environment once: the watchdog interval, and whether stderr is
 * the journal (then log records are sent by service_journal_sink()). */
void service_init(void);

/* READY=1 (once). */
void service_ready(void);
/* STATUS=<text>, sent only when it differs from the last one. */
void service_status(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* STOPPING=1. */
void service_stopping(void);
/* WATCHDOG=1 when half the interval (WatchdogSec=) passed since the last
 * one: call it from the main loop, at least every service_watchdog_ms(). */
void service_watchdog(void);
/* Half the watchdog interval in ms, or INT64_MAX without a watchdog: the
 * longest a loop may wait between two service_watchdog() calls. */
int64_t service_watchdog_ms(void);

/* The journald log sink: PRIORITY, MESSAGE ("ctx: msg"), SYSLOG_IDENTIFIER
 * (the component), and one field per ctx pair: template= TEMPLATE_ID, job=
 * JOB_ID, worker= WORKER, step= STEP, error= ERROR, any other key=
 * VMSEAL_<KEY>.  Installed by service_init() under journald. */
void service_journal_sink(int level, const char *component, const char *ctx, const char *msg);

#endif
