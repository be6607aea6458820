/* service.c - sd_notify and sd_journal_sendv (see service.h). */
#include "service.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stddef.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <unistd.h>

#include <systemd/sd-daemon.h>
#define SD_JOURNAL_SUPPRESS_LOCATION /* the adapter's file and line say nothing */
#include <systemd/sd-journal.h>

#include "log.h"
#include "util.h"

#define JOURNAL_MAX_FIELDS 16

static int64_t watchdog_half_ms = INT64_MAX;
static int64_t watchdog_last_ms;
static bool ready_sent;
static char status_last[256];

/* Whether stderr is the stream systemd connected to the journal. */
static bool stderr_is_journal(void) {
    const char *js = getenv("JOURNAL_STREAM");
    unsigned long long dev, ino;
    struct stat st;
    if (!js || sscanf(js, "%llu:%llu", &dev, &ino) != 2 || fstat(2, &st) < 0)
        return false;
    return (unsigned long long)st.st_dev == dev && (unsigned long long)st.st_ino == ino;
}

/* sd_notify without ever blocking: libsystemd's send waits while the
 * receiver's queue is full, and a main loop stuck there misses its broker
 * heartbeats.  A message that does not fit now is dropped (the next STATUS
 * or WATCHDOG replaces it). */
static void notify_send(const char *msg) {
    const char *path = getenv("NOTIFY_SOCKET");
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    size_t len = path ? strlen(path) : 0;
    if (!path || (path[0] != '/' && path[0] != '@') || len >= sizeof sa.sun_path)
        return;
    memcpy(sa.sun_path, path, len);
    if (path[0] == '@')
        sa.sun_path[0] = '\0'; /* abstract namespace */
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0)
        return;
    (void)sendto(fd, msg, strlen(msg), MSG_NOSIGNAL | MSG_DONTWAIT, (struct sockaddr *)&sa,
                 (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len));
    close(fd);
}

static void journal_sink_cb(enum log_level level, const char *component, const char *ctx, const char *msg) {
    service_journal_sink((int)level, component, ctx, msg);
}

void service_init(void) {
    uint64_t usec = 0;
    if (sd_watchdog_enabled(0, &usec) > 0 && usec > 0)
        watchdog_half_ms = (int64_t)(usec / 2000);
    if (stderr_is_journal())
        log_set_sink(journal_sink_cb);
}

void service_ready(void) {
    if (!ready_sent)
        notify_send("READY=1");
    ready_sent = true;
}

void service_status(const char *fmt, ...) {
    char text[sizeof status_last];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    if (strcmp(text, status_last) == 0)
        return;
    memcpy(status_last, text, sizeof text);
    char msg[sizeof text + 8];
    snprintf(msg, sizeof msg, "STATUS=%s", text);
    notify_send(msg);
}

void service_stopping(void) { notify_send("STOPPING=1"); }

void service_watchdog(void) {
    int64_t now = time_mono_ms();
    if (watchdog_half_ms == INT64_MAX || now - watchdog_last_ms < watchdog_half_ms)
        return;
    watchdog_last_ms = now;
    notify_send("WATCHDOG=1");
}

int64_t service_watchdog_ms(void) { return watchdog_half_ms; }

/* "KEY=value" for one ctx pair into out. */
static void field_name(const char *key, size_t key_len, char *out, size_t out_len) {
    static const struct {
        const char *key, *field;
    } known[] = {
        { "template", "TEMPLATE_ID" }, { "job", "JOB_ID" }, { "worker", "WORKER" }, { "step", "STEP" },
        { "error", "ERROR" },
    };
    for (size_t i = 0; i < ARRAY_SIZE(known); i++)
        if (strlen(known[i].key) == key_len && memcmp(known[i].key, key, key_len) == 0) {
            snprintf(out, out_len, "%s", known[i].field);
            return;
        }
    size_t n = (size_t)snprintf(out, out_len, "VMSEAL_");
    for (size_t i = 0; i < key_len && n + 1 < out_len; i++)
        out[n++] = isalnum((unsigned char)key[i]) ? (char)toupper((unsigned char)key[i]) : '_';
    out[n] = '\0';
}

void service_journal_sink(int level, const char *component, const char *ctx, const char *msg) {
    char fields[JOURNAL_MAX_FIELDS][320];
    struct iovec iov[JOURNAL_MAX_FIELDS + 1];
    size_t n = 0;
    snprintf(fields[n++], sizeof fields[0], "PRIORITY=%d", level);
    snprintf(fields[n++], sizeof fields[0], "SYSLOG_IDENTIFIER=%s", component);
    _cleanup_free_ char *message = xasprintf("MESSAGE=%s%s%s", ctx ? ctx : "", ctx ? ": " : "", msg);
    /* ctx is "key=value key=value" with values without spaces */
    for (const char *p = ctx; p && *p && n < JOURNAL_MAX_FIELDS;) {
        size_t len = strcspn(p, " ");
        const char *eq = memchr(p, '=', len);
        if (eq && eq > p) {
            char name[64];
            field_name(p, (size_t)(eq - p), name, sizeof name);
            snprintf(fields[n++], sizeof fields[0], "%s=%.*s", name, (int)(len - (size_t)(eq - p) - 1), eq + 1);
        }
        p += len;
        p += strspn(p, " ");
    }
    for (size_t i = 0; i < n; i++)
        iov[i] = (struct iovec){ .iov_base = fields[i], .iov_len = strlen(fields[i]) };
    iov[n] = (struct iovec){ .iov_base = message, .iov_len = strlen(message) };
    if (sd_journal_sendv(iov, (int)n + 1) < 0) /* the journal went away: plain lines again */
        fprintf(stderr, "<%d>%s %s\n", level, component, message + strlen("MESSAGE="));
}
