/* ctl_view.c - how vmsealctl shows events: one plain line per event (watch,
 * and submit --wait without a terminal), and the live in-place display of one
 * template's steps and jobs with progress bars (submit --wait on a terminal). */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ctl_priv.h"
#include "util.h"

#define VIEW_MAX_JOBS  256
#define VIEW_REDRAW_MS 100
#define BAR_WIDTH      24

const char *ctl_key_job_kind(const char *routing_key, char buf[64]) {
    buf[0] = '\0';
    if (!routing_key || strncmp(routing_key, "job.", 4) != 0)
        return buf;
    /* job.<family>.<verb>.<state>[.<worker identity>]: the kind is two words */
    const char *kind = routing_key + 4, *dot = strchr(kind, '.');
    dot = dot ? strchr(dot + 1, '.') : NULL;
    size_t n = dot ? (size_t)(dot - kind) : strlen(kind);
    if (n >= 64)
        n = 63;
    memcpy(buf, kind, n);
    buf[n] = '\0';
    return buf;
}

static const char *clock_str(int64_t ms, char buf[16]) {
    time_t s = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&s, &tm);
    snprintf(buf, 16, "%02d:%02d:%02d.%03d", tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(ms % 1000));
    return buf;
}

bool ctl_event_believed(const struct proto_event *ev, const char *user_id, const char *producer_user) {
    return ev->job_id[0] || (user_id && strcmp(user_id, producer_user) == 0);
}

void ctl_print_line(FILE *f, const char *fmt, ...) {
    char line[4096], esc[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    fprintf(f, "%s\n", str_escape(line, esc, sizeof esc));
}

void ctl_event_line(const char *routing_key, const struct proto_event *ev, char *out, size_t len) {
    char clk[16], kind[64], raw[1024];
    size_t off = 0;
#define ADD(...)                                                               \
    do {                                                                       \
        if (off < sizeof raw)                                                  \
            off += (size_t)snprintf(raw + off, sizeof raw - off, __VA_ARGS__); \
    } while (0)
    ADD("%s ", clock_str(ev->ts_ms, clk));
    if (ev->job_id[0])
        ADD("job %s %s template %.8s %s", ctl_key_job_kind(routing_key, kind), ev->job_id, ev->template_id,
            event_state_to_string(ev->state));
    else
        ADD("template %s %s", ev->template_id, event_state_to_string(ev->state));
    if (ev->progress >= 0)
        ADD(" %d%%", ev->progress);
    if (ev->step)
        ADD(" step=%s", ev->step);
    if (ev->worker_id && ev->job_id[0])
        ADD(" worker=%s", ev->worker_id);
    if (ev->has_error)
        ADD(" error=%s: %s%s", ev->error.code ? ev->error.code : "?", ev->error.message ? ev->error.message : "",
            ev->error.permanent ? " (permanent)" : "");
#undef ADD
    str_escape(raw, out, len);
}

struct view_job {
    proto_uuid job_id;
    char kind[32], state[16], step[64], error[200];
    int progress;
};

struct ctl_view {
    proto_uuid template_id;
    char *name;
    bool tty;
    char state[16], step[32];
    char forward_step[32]; /* the last step of state creating */
    struct view_job jobs[VIEW_MAX_JOBS];
    size_t n_jobs;
    int drawn_lines;
    int64_t start_mono, last_draw_mono;
    bool done;
    struct ctl_view_final final;
};

struct ctl_view *ctl_view_new(const char *template_id, const char *name, bool tty) {
    struct ctl_view *v = xcalloc(1, sizeof *v);
    snprintf(v->template_id, sizeof v->template_id, "%s", template_id);
    char esc[256];
    v->name = xstrdup(str_escape(name, esc, sizeof esc));
    v->tty = tty;
    snprintf(v->state, sizeof v->state, "submitted");
    v->start_mono = time_mono_ms();
    return v;
}

void ctl_view_free(struct ctl_view *v) {
    if (!v)
        return;
    free(v->name);
    free(v);
}

const struct ctl_view_final *ctl_view_final(const struct ctl_view *v) { return v->done ? &v->final : NULL; }

static struct view_job *view_job_get(struct ctl_view *v, const char *job_id) {
    for (size_t i = 0; i < v->n_jobs; i++)
        if (strcmp(v->jobs[i].job_id, job_id) == 0)
            return &v->jobs[i];
    if (v->n_jobs == VIEW_MAX_JOBS)
        return NULL;
    struct view_job *j = &v->jobs[v->n_jobs++];
    memset(j, 0, sizeof *j);
    snprintf(j->job_id, sizeof j->job_id, "%s", job_id);
    j->progress = 0;
    return j;
}

static void view_job_event(struct ctl_view *v, const char *routing_key, const struct proto_event *ev) {
    struct view_job *j = view_job_get(v, ev->job_id);
    char kind[64];
    if (!j)
        return;
    if (!j->kind[0])
        str_escape(ctl_key_job_kind(routing_key, kind), j->kind, sizeof j->kind);
    if (ev->state != EV_PROGRESS)
        snprintf(j->state, sizeof j->state, "%s", event_state_to_string(ev->state));
    else if (!j->state[0])
        snprintf(j->state, sizeof j->state, "running");
    if (ev->progress >= 0)
        j->progress = ev->progress;
    if (ev->state == EV_SUCCEEDED)
        j->progress = 100;
    if (ev->step)
        str_escape(ev->step, j->step, sizeof j->step);
    if (ev->has_error) {
        char error[sizeof j->error];
        snprintf(error, sizeof error, "%s: %s", ev->error.code ? ev->error.code : "?",
                 ev->error.message ? ev->error.message : "");
        str_escape(error, j->error, sizeof j->error);
    }
}

static void view_template_event(struct ctl_view *v, const struct proto_event *ev) {
    snprintf(v->state, sizeof v->state, "%s", event_state_to_string(ev->state));
    if (ev->step)
        str_escape(ev->step, v->step, sizeof v->step);
    if (ev->step && ev->state == EV_CREATING)
        str_escape(ev->step, v->forward_step, sizeof v->forward_step);
    if (ev->state != EV_READY && ev->state != EV_FAILED && ev->state != EV_CANCELLED)
        return;
    v->done = true;
    v->final.state = ev->state;
    const char *step = ev->step && strcmp(ev->step, "done") != 0 ? ev->step : v->forward_step;
    str_escape(step, v->final.step, sizeof v->final.step);
    v->final.has_error = ev->has_error;
    if (ev->has_error) {
        str_escape(ev->error.code, v->final.code, sizeof v->final.code);
        str_escape(ev->error.message, v->final.message, sizeof v->final.message);
    }
}

bool ctl_view_event(struct ctl_view *v, const char *routing_key, const struct proto_event *ev) {
    if (strcmp(ev->template_id, v->template_id) != 0 || v->done)
        return false;
    if (ev->job_id[0])
        view_job_event(v, routing_key, ev);
    else
        view_template_event(v, ev);
    if (!v->tty) {
        char line[1024];
        ctl_event_line(routing_key, ev, line, sizeof line);
        printf("%s\n", line);
        fflush(stdout);
    }
    return v->done;
}

static void bar(int pct, char out[BAR_WIDTH + 1]) {
    int full = pct * BAR_WIDTH / 100;
    for (int i = 0; i < BAR_WIDTH; i++)
        out[i] = i < full ? '#' : '.';
    out[BAR_WIDTH] = '\0';
}

void ctl_view_draw(struct ctl_view *v, bool force) {
    if (!v->tty)
        return;
    int64_t now = time_mono_ms();
    if (!force && now - v->last_draw_mono < VIEW_REDRAW_MS)
        return;
    v->last_draw_mono = now;
    if (v->drawn_lines > 0)
        printf("\033[%dF", v->drawn_lines); /* to the start of our first line */
    int lines = 0;
    printf("\033[2Ktemplate %s \"%s\"  \033[1m%s\033[0m%s%s  %.1fs\n", v->template_id, v->name, v->state,
           v->step[0] ? "  step " : "", v->step, (double)(now - v->start_mono) / 1000.0);
    lines++;
    for (size_t i = 0; i < v->n_jobs; i++) {
        const struct view_job *j = &v->jobs[i];
        char b[BAR_WIDTH + 1];
        bar(j->progress, b);
        printf("\033[2K  %-13s %.8s [%s] %3d%% %-9s %s\n", j->kind, j->job_id, b, j->progress, j->state,
               j->error[0] ? j->error : j->step);
        lines++;
    }
    v->drawn_lines = lines;
    fflush(stdout);
}
