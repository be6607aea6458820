/* metrics.c - the registry and its libmicrohttpd server (see metrics.h). */
#include "metrics.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <microhttpd.h>

#include "util.h"

static const double buckets_s[] = { METRICS_BUCKETS_S };
#define N_BUCKETS ARRAY_SIZE(buckets_s)

struct series {
    struct series *next;
    size_t family;
    char *labels;
    double value;             /* counter, gauge; a histogram's sum */
    unsigned long long count; /* histogram */
    unsigned long long bucket[N_BUCKETS];
};

struct metrics {
    const struct metrics_family *families;
    size_t n_families;
    pthread_mutex_t lock;
    struct series *series; /* newest first; rendered per family */
    struct MHD_Daemon *httpd;
};

/* The series of (name, labels), created when new; NULL for an unknown
 * family or one of another type.  Called with the lock held. */
static struct series *series_get(struct metrics *m, const char *name, const char *labels, enum metrics_type type) {
    size_t f = 0;
    while (f < m->n_families && strcmp(m->families[f].name, name) != 0)
        f++;
    if (f == m->n_families || m->families[f].type != type)
        return NULL;
    labels = labels ? labels : "";
    for (struct series *s = m->series; s; s = s->next)
        if (s->family == f && strcmp(s->labels, labels) == 0)
            return s;
    struct series *s = xcalloc(1, sizeof *s);
    s->family = f;
    s->labels = xstrdup(labels);
    s->next = m->series;
    m->series = s;
    return s;
}

static void update(struct metrics *m, const char *name, const char *labels, enum metrics_type type, double v,
                   bool set) {
    if (!m)
        return;
    pthread_mutex_lock(&m->lock);
    struct series *s = series_get(m, name, labels, type);
    if (s && type == METRICS_HISTOGRAM) {
        s->value += v;
        s->count++;
        for (size_t i = 0; i < N_BUCKETS; i++)
            s->bucket[i] += v <= buckets_s[i];
    } else if (s) {
        s->value = set ? v : s->value + v;
    }
    pthread_mutex_unlock(&m->lock);
}

void metrics_add(struct metrics *m, const char *name, const char *labels, double v) {
    update(m, name, labels, METRICS_COUNTER, v, false);
    update(m, name, labels, METRICS_GAUGE, v, false);
}

void metrics_set(struct metrics *m, const char *name, const char *labels, double v) {
    update(m, name, labels, METRICS_GAUGE, v, true);
}

void metrics_observe(struct metrics *m, const char *name, const char *labels, double v) {
    update(m, name, labels, METRICS_HISTOGRAM, v, false);
}

/* ---- rendering ----------------------------------------------------------- */

struct text {
    char *buf;
    size_t len, cap;
};

static void text_add(struct text *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void text_add(struct text *t, const char *fmt, ...) {
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(t->buf + t->len, t->cap - t->len, fmt, ap);
        va_end(ap);
        if (n >= 0 && (size_t)n < t->cap - t->len) {
            t->len += (size_t)n;
            return;
        }
        t->cap = t->cap * 2 + (size_t)n + 1;
        t->buf = xrealloc(t->buf, t->cap);
    }
}

/* `{labels}`, `{labels,extra}` or `{extra}`; "" when both are empty. */
static void labels_add(struct text *t, const char *labels, const char *extra) {
    if (!labels[0] && !extra[0])
        return;
    text_add(t, "{%s%s%s}", labels, labels[0] && extra[0] ? "," : "", extra);
}

static void series_render(struct text *t, const char *name, enum metrics_type type, const struct series *s) {
    if (type != METRICS_HISTOGRAM) {
        text_add(t, "%s", name);
        labels_add(t, s->labels, "");
        text_add(t, " %.17g\n", s->value);
        return;
    }
    char le[32];
    for (size_t i = 0; i < N_BUCKETS; i++) {
        snprintf(le, sizeof le, "le=\"%g\"", buckets_s[i]);
        text_add(t, "%s_bucket", name);
        labels_add(t, s->labels, le);
        text_add(t, " %llu\n", s->bucket[i]);
    }
    text_add(t, "%s_bucket", name);
    labels_add(t, s->labels, "le=\"+Inf\"");
    text_add(t, " %llu\n%s_sum", s->count, name);
    labels_add(t, s->labels, "");
    text_add(t, " %.17g\n%s_count", s->value, name);
    labels_add(t, s->labels, "");
    text_add(t, " %llu\n", s->count);
}

char *metrics_render(struct metrics *m) {
    static const char *const type_names[] = { "counter", "gauge", "histogram" };
    struct text t = { .buf = xmalloc(4096), .cap = 4096 };
    t.buf[0] = '\0';
    pthread_mutex_lock(&m->lock);
    for (size_t f = 0; f < m->n_families; f++) {
        const struct metrics_family *fam = &m->families[f];
        text_add(&t, "# HELP %s %s\n# TYPE %s %s\n", fam->name, fam->help, fam->name, type_names[fam->type]);
        for (const struct series *s = m->series; s; s = s->next)
            if (s->family == f)
                series_render(&t, fam->name, fam->type, s);
    }
    pthread_mutex_unlock(&m->lock);
    return t.buf;
}

/* ---- the server ------------------------------------------------------------ */

static enum MHD_Result answer_cb(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
                                 const char *version, const char *upload_data, size_t *upload_data_size,
                                 void **con_cls) {
    struct metrics *m = cls;
    bool found = strcmp(url, "/metrics") == 0;
    if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0)
        return MHD_NO;
    char *body = found ? metrics_render(m) : xstrdup("GET /metrics\n");
    struct MHD_Response *resp = MHD_create_response_from_buffer(strlen(body), body, MHD_RESPMEM_MUST_FREE);
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8");
    enum MHD_Result r = MHD_queue_response(conn, found ? MHD_HTTP_OK : MHD_HTTP_NOT_FOUND, resp);
    MHD_destroy_response(resp);
    return r;
}

/* "host:port" or "[v6]:port" -> a socket address. */
static int listen_parse(const char *listen, struct sockaddr_storage *ret, char why[ERR_WHY_LEN]) {
    char host[256];
    const char *colon = strrchr(listen, ':');
    const char *h = listen;
    size_t hlen = colon ? (size_t)(colon - listen) : 0;
    if (hlen >= 2 && h[0] == '[' && h[hlen - 1] == ']')
        h++, hlen -= 2;
    char *end;
    long port = colon ? strtol(colon + 1, &end, 10) : 0;
    if (!colon || hlen == 0 || hlen >= sizeof host || end == colon + 1 || *end || port < 1 || port > 65535) {
        snprintf(why, ERR_WHY_LEN, "metrics address \"%s\": want host:port (e.g. 127.0.0.1:9464)", listen);
        return -VMS_E_INVALID;
    }
    memcpy(host, h, hlen);
    host[hlen] = '\0';
    struct addrinfo hints = { .ai_flags = AI_NUMERICHOST | AI_NUMERICSERV, .ai_socktype = SOCK_STREAM }, *ai;
    char service[8];
    snprintf(service, sizeof service, "%ld", port);
    if (getaddrinfo(host, service, &hints, &ai) != 0) {
        snprintf(why, ERR_WHY_LEN, "metrics address \"%s\": \"%s\" is not a numeric IP address", listen, host);
        return -VMS_E_INVALID;
    }
    memcpy(ret, ai->ai_addr, ai->ai_addrlen);
    freeaddrinfo(ai);
    return 0;
}

int metrics_new(const struct metrics_family *families, size_t n_families, const char *listen, struct metrics **ret,
                char why[ERR_WHY_LEN]) {
    struct sockaddr_storage sa = { 0 };
    int r = listen_parse(listen, &sa, why);
    if (r < 0)
        return r;
    struct metrics *m = xcalloc(1, sizeof *m);
    m->families = families;
    m->n_families = n_families;
    pthread_mutex_init(&m->lock, NULL);
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL;
    if (sa.ss_family == AF_INET6)
        flags |= MHD_USE_IPv6;
    errno = 0;
    m->httpd =
        MHD_start_daemon(flags, 0, NULL, NULL, answer_cb, m, MHD_OPTION_SOCK_ADDR, &sa,
                         MHD_OPTION_CONNECTION_LIMIT, 16u, MHD_OPTION_CONNECTION_TIMEOUT, 10u, MHD_OPTION_END);
    if (!m->httpd) {
        r = errno ? -errno : -VMS_E_INVALID;
        snprintf(why, ERR_WHY_LEN, "metrics: cannot serve on %s: %s", listen, err_str(r));
        metrics_free(m);
        return r;
    }
    *ret = m;
    return 0;
}

void metrics_free(struct metrics *m) {
    if (!m)
        return;
    if (m->httpd)
        MHD_stop_daemon(m->httpd);
    while (m->series) {
        struct series *s = m->series;
        m->series = s->next;
        free(s->labels);
        free(s);
    }
    pthread_mutex_destroy(&m->lock);
    free(m);
}
