#include "log.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "util.h"

static char log_component[64] = "vmseal";
static enum log_level log_level = LOG_LVL_INFO;
static log_sink_cb log_sink;

void log_set_sink(log_sink_cb sink_cb) { log_sink = sink_cb; }

void log_set_component(const char *component) { snprintf(log_component, sizeof log_component, "%s", component); }

void log_set_level(enum log_level level) { log_level = level; }

int log_level_from_string(const char *s) {
    static const struct {
        const char *name;
        enum log_level level;
    } names[] = {
        { "error", LOG_LVL_ERR }, { "warning", LOG_LVL_WARN }, { "notice", LOG_LVL_NOTICE },
        { "info", LOG_LVL_INFO }, { "debug", LOG_LVL_DEBUG },
    };
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (strcasecmp(s, names[i].name) == 0)
            return (int)names[i].level;
    return -1;
}

void log_vmsg(enum log_level level, const char *ctx, const char *fmt, va_list ap) {
    if (level > log_level)
        return;
    char line[2048];
    if (log_sink) {
        vsnprintf(line, sizeof line, fmt, ap);
        log_sink(level, log_component, ctx, line);
        return;
    }
    int n = snprintf(line, sizeof line, "<%d>%s%s%s: ", (int)level, log_component, ctx ? " " : "", ctx ? ctx : "");
    if (n < 0)
        return;
    if ((size_t)n < sizeof line)
        vsnprintf(line + n, sizeof line - (size_t)n, fmt, ap);
    /* One write per line keeps lines whole when several processes share stderr;
     * newlines inside a message would split it into several journal entries.
     * Other control characters (a guest's file name, a tenant's template
     * name) are escaped: they could forge a line or drive a terminal. */
    for (char *p = line; *p; p++)
        if (*p == '\n')
            *p = ' ';
    char out[2 * sizeof line];
    fprintf(stderr, "%s\n", str_escape(line, out, sizeof out));
}

void log_msg(enum log_level level, const char *ctx, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    log_vmsg(level, ctx, fmt, ap);
    va_end(ap);
}
