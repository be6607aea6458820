/* log.h - one line per event on stderr, in the form journald keeps.
 *
 * Each line starts with a syslog priority prefix ("<3>"), so journald stores
 * the level when a daemon runs under systemd; then the component and, where
 * known, key=value context (template=…, job=…), then the message:
 *
 *     <6>worker[host1] job=… template=…: volume.copy succeeded in 812 ms
 *
 * Logging never fails and never allocates on the hot path beyond the line
 * buffer.  Libraries (proto/, common/ other than this file) never log: they
 * return errors and the daemons log once, where the error is handled.
 */
#ifndef VMSEAL_LOG_H
#define VMSEAL_LOG_H

#include <stdarg.h>

enum log_level { LOG_LVL_ERR = 3, LOG_LVL_WARN = 4, LOG_LVL_NOTICE = 5, LOG_LVL_INFO = 6, LOG_LVL_DEBUG = 7 };

/* Set the component name shown on every line ("worker[host1]"); copied. */
void log_set_component(const char *component);
void log_set_level(enum log_level level);
/* "error", "warning", "notice", "info", "debug" -> level; -1 if unknown. */
int log_level_from_string(const char *s);

/* ctx may be NULL: otherwise a short "key=value key=value" string. */
void log_msg(enum log_level level, const char *ctx, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
void log_vmsg(enum log_level level, const char *ctx, const char *fmt, va_list ap);

/* Where records go instead of stderr (e.g. journald, common/systemd/);
 * NULL restores stderr.  `component` is log_set_component()'s, `ctx` may be
 * NULL, `msg` is the formatted message (no newline). */
typedef void (*log_sink_cb)(enum log_level level, const char *component, const char *ctx, const char *msg);
void log_set_sink(log_sink_cb sink_cb);

#define log_err(...)    log_msg(LOG_LVL_ERR, NULL, __VA_ARGS__)
#define log_warn(...)   log_msg(LOG_LVL_WARN, NULL, __VA_ARGS__)
#define log_notice(...) log_msg(LOG_LVL_NOTICE, NULL, __VA_ARGS__)
#define log_info(...)   log_msg(LOG_LVL_INFO, NULL, __VA_ARGS__)
#define log_debug(...)  log_msg(LOG_LVL_DEBUG, NULL, __VA_ARGS__)

#endif
