/* bench_producer.c - the driver of bench_producer.sh: sends template.create
 * requests to a running vmseal-producer (with dry-run workers) and times the
 * workflows from the events on vmseal.events.
 *
 *   bench_producer --config FILE --disk SD:IMG:VOL --mode latency|throughput [-n N] [--window W]
 *
 * FILE: a vmsealctl-style configuration (broker group).  Every template has
 * the one disk, seal = true.  One connection: an exclusive queue bound to
 * the events it needs (bench_bind) BEFORE the first publish, consumed with
 * no_ack.
 *
 * latency:    N templates one after the other; for each, the time from just
 *             before its publish to the arrival of its template.ready event.
 *   producer_latency n=N p50_ms=… p99_ms=… min_ms=… max_ms=… msgs_per_workflow=… failed=…
 *             msgs_per_workflow counts what crossed the broker for one
 *             workflow: its request, its jobs (one per final job event),
 *             every job event and every template event.
 * throughput: N templates published at once (W unconfirmed at most); the time
 *             from the first publish to the last terminal template event.
 *   producer_throughput n=N templates_per_s=… msgs=… msgs_per_workflow=… msgs_per_s=… elapsed_s=… failed=…
 *   producer_throughput_ended_at_s first=… 10%=… 50%=… 90%=… 100%=…   (the ramp and the tail)
 *             With --msgs-per-workflow M (the latency figure) the monitor
 *             queue binds only the terminal template events it times, so
 *             that the benchmark's own copy of every other event does not
 *             load the broker it measures (those events are still published
 *             and confirmed, to no queue), and msgs = N * M (a retry under
 *             load would add messages: the figure can only be low).  Without
 *             it, template.# and job.# are bound and counted as in latency
 *             mode.
 * Exit status 0 when every template ended READY. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "config.h"
#include "err.h"
#include "mq.h"
#include "proto.h"
#include "util.h"

struct bench {
    mq_t *mq;
    struct proto_template_create tc;
    size_t n;
    proto_uuid *ids;
    int *state;   /* 0 = open, 1 = ready, 2 = failed/cancelled */
    size_t *slot; /* open-addressing table of indexes + 1 */
    size_t n_slots;
    size_t done, failed;
    int64_t job_events, jobs, tpl_events;
    int64_t last_final_us;
    int64_t t0_us, done_at_us[4]; /* throughput: when the first, 10 %, 50 %, 90 % ended */
    int64_t last_event_us;        /* any event of ours: the workflows are moving */
    double msgs_per_workflow;     /* given (throughput mode), 0 = count job events */
};

static double bench_msgs_per_workflow(const struct bench *b) {
    return (double)((int64_t)b->n + b->jobs + b->job_events + b->tpl_events) / (double)b->n;
}

static int64_t now_us(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static size_t id_hash(const char *id) {
    size_t h = 1469598103934665603ULL;
    for (const char *p = id; *p; p++)
        h = (h ^ (unsigned char)*p) * 1099511628211ULL;
    return h;
}

static void id_put(struct bench *b, size_t i) {
    size_t h = id_hash(b->ids[i]) & (b->n_slots - 1);
    while (b->slot[h])
        h = (h + 1) & (b->n_slots - 1);
    b->slot[h] = i + 1;
}

static ssize_t id_find(const struct bench *b, const char *id) {
    for (size_t h = id_hash(id) & (b->n_slots - 1); b->slot[h]; h = (h + 1) & (b->n_slots - 1))
        if (strcmp(b->ids[b->slot[h] - 1], id) == 0)
            return (ssize_t)(b->slot[h] - 1);
    return -1;
}

/* Count one event; mark its template when it is terminal. */
static void bench_event(struct bench *b, const struct mq_delivery *d) {
    struct proto_event ev;
    if (proto_decode_event(d->body, d->body_len, &ev, NULL) < 0)
        return;
    ssize_t i = id_find(b, ev.template_id);
    if (i >= 0) {
        b->last_event_us = now_us();
        if (ev.job_id[0]) {
            b->job_events++;
            if (ev.state == EV_SUCCEEDED || ev.state == EV_FAILED || ev.state == EV_CANCELLED)
                b->jobs++;
        } else {
            b->tpl_events++;
            if (b->state[i] == 0 && (ev.state == EV_READY || ev.state == EV_FAILED || ev.state == EV_CANCELLED)) {
                b->state[i] = ev.state == EV_READY ? 1 : 2;
                b->done++;
                b->failed += ev.state != EV_READY;
                b->last_final_us = now_us();
                const size_t marks[4] = { 1, b->n / 10, b->n / 2, b->n * 9 / 10 };
                for (int k = 0; k < 4; k++)
                    if (b->done == marks[k])
                        b->done_at_us[k] = b->last_final_us - b->t0_us;
                if (ev.state != EV_READY)
                    fprintf(stderr, "template %s %s: %s\n", ev.template_id, event_state_to_string(ev.state),
                            ev.has_error ? ev.error.message : "");
            }
        }
    }
    proto_event_free(&ev);
}

/* One mq_wait turn; returns a negative code on a broker failure. */
static int bench_pump(struct bench *b, int timeout_ms, int *ret_unconfirmed) {
    struct mq_event ev;
    memset(&ev, 0, sizeof ev);
    int r = mq_wait(b->mq, timeout_ms, NULL, 0, &ev);
    if (r < 0 && r != -VMS_E_CONN_LOST)
        return r;
    if (r == 0 && ev.type == MQ_EV_DELIVERY)
        bench_event(b, &ev.delivery);
    if (r == 0 && ev.type == MQ_EV_CONFIRM) {
        (*ret_unconfirmed)--;
        if (ev.status < 0) {
            fprintf(stderr, "a request was not confirmed: %s\n", err_str(ev.status));
            r = ev.status;
        }
    }
    mq_event_clear(&ev);
    return r < 0 ? r : 0;
}

static int bench_publish(struct bench *b, size_t i) {
    snprintf(b->tc.template_id, sizeof b->tc.template_id, "%s", b->ids[i]);
    char *body = NULL;
    size_t len = 0;
    int r = proto_encode_template_create(&b->tc, &body, &len);
    if (r == 0) {
        struct mq_props p = { .message_id = b->ids[i], .type = "template.create", .mandatory = true };
        r = mq_publish(b->mq, "", MQ_Q_REQUESTS, &p, body, len, NULL);
    }
    free(body);
    return r;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static int run_latency(struct bench *b) {
    double *lat = xcalloc(b->n, sizeof *lat);
    int unconfirmed = 0, r = 0;
    for (size_t i = 0; i < b->n && r == 0; i++) {
        int64_t t0 = now_us(), deadline = t0 + 30 * 1000000LL;
        if ((r = bench_publish(b, i)) < 0)
            break;
        unconfirmed++;
        while (r == 0 && b->state[i] == 0 && now_us() < deadline)
            r = bench_pump(b, 100, &unconfirmed);
        if (b->state[i] == 0) {
            fprintf(stderr, "template %s did not end within 30 s\n", b->ids[i]);
            r = -ETIMEDOUT;
        }
        lat[i] = (double)(b->last_final_us - t0) / 1000.0;
    }
    if (r == 0) {
        qsort(lat, b->n, sizeof *lat, cmp_double);
        printf("producer_latency n=%zu p50_ms=%.2f p99_ms=%.2f min_ms=%.2f max_ms=%.2f msgs_per_workflow=%.1f "
               "failed=%zu\n",
               b->n, lat[b->n / 2], lat[(b->n * 99) / 100 < b->n ? (b->n * 99) / 100 : b->n - 1], lat[0],
               lat[b->n - 1], bench_msgs_per_workflow(b), b->failed);
    }
    free(lat);
    return r;
}

static int run_throughput(struct bench *b, int window) {
    int unconfirmed = 0, r = 0;
    size_t next = 0;
    int64_t t0 = now_us();
    b->t0_us = t0;
    b->last_event_us = t0;
    while (r == 0 && b->done < b->n) {
        while (r == 0 && next < b->n && unconfirmed < window) {
            if ((r = bench_publish(b, next++)) == 0)
                unconfirmed++;
        }
        if (r == 0)
            r = bench_pump(b, 100, &unconfirmed);
        if (now_us() - b->last_event_us > 30 * 1000000LL) {
            fprintf(stderr, "no event for 30 s (%zu of %zu templates ended)\n", b->done, b->n);
            r = -ETIMEDOUT;
        }
    }
    if (r < 0)
        return r;
    double secs = (double)(b->last_final_us - t0) / 1e6;
    double per = b->msgs_per_workflow > 0 ? b->msgs_per_workflow : bench_msgs_per_workflow(b);
    double msgs = per * (double)b->n;
    printf("producer_throughput n=%zu templates_per_s=%.1f msgs=%.0f msgs_per_workflow=%.1f msgs_per_s=%.0f "
           "elapsed_s=%.3f failed=%zu\n",
           b->n, (double)b->n / secs, msgs, per, msgs / secs, secs, b->failed);
    printf("producer_throughput_ended_at_s first=%.3f 10%%=%.3f 50%%=%.3f 90%%=%.3f 100%%=%.3f\n",
           (double)b->done_at_us[0] / 1e6, (double)b->done_at_us[1] / 1e6, (double)b->done_at_us[2] / 1e6,
           (double)b->done_at_us[3] / 1e6, secs);
    return 0;
}

/* Counting: every template and job event; else only the terminal template events. */
static int bench_bind(mq_t *mq, const char *q, bool counting) {
    static const char *const all[] = { "template.#", "job.#" };
    static const char *const terminal[] = { "template.ready", "template.failed", "template.cancelled" };
    const char *const *keys = counting ? all : terminal;
    size_t n = counting ? ARRAY_SIZE(all) : ARRAY_SIZE(terminal);
    int r = 0;
    for (size_t i = 0; i < n && r == 0; i++)
        r = mq_bind(mq, q, MQ_X_EVENTS, keys[i]);
    return r;
}

static int parse_disk(const char *s, struct proto_vol_ref *v) {
    if (strlen(s) != 110 || s[36] != ':' || s[73] != ':')
        return -EINVAL;
    memcpy(v->sd_id, s, 36);
    memcpy(v->img_id, s + 37, 36);
    memcpy(v->vol_id, s + 74, 36);
    v->sd_id[36] = v->img_id[36] = v->vol_id[36] = '\0';
    return 0;
}

int main(int argc, char **argv) {
    static const struct option opts[] = {
        { "config", required_argument, NULL, 'c' },
        { "disk", required_argument, NULL, 'd' },
        { "mode", required_argument, NULL, 'm' },
        { "window", required_argument, NULL, 'w' },
        { "msgs-per-workflow", required_argument, NULL, 'M' },
        { NULL, 0, NULL, 0 },
    };
    const char *config = NULL, *mode = NULL;
    struct proto_vol_ref disk;
    bool have_disk = false;
    struct bench b = { .n = 1000 };
    int window = 256, c;
    while ((c = getopt_long(argc, argv, "n:", opts, NULL)) != -1) {
        switch (c) {
        case 'c': config = optarg; break;
        case 'd': have_disk = parse_disk(optarg, &disk) == 0; break;
        case 'm': mode = optarg; break;
        case 'w': window = atoi(optarg); break;
        case 'n': b.n = (size_t)atol(optarg); break;
        case 'M': b.msgs_per_workflow = atof(optarg); break;
        default: return 2;
        }
    }
    if (!config || !have_disk || !mode || b.n == 0 || window < 1) {
        fprintf(
            stderr,
            "usage: bench_producer --config FILE --disk SD:IMG:VOL --mode latency|throughput [-n N] [--window W] "
            "[--msgs-per-workflow M]\n");
        return 2;
    }
    struct config cfg;
    char err[ERR_WHY_LEN] = "", mqerr[512] = "";
    if (config_load(config, CONFIG_BROKER | CONFIG_STORAGE | CONFIG_LOG, CONFIG_BROKER, &cfg, err, NULL) < 0) {
        fprintf(stderr, "bench_producer: %s\n", err);
        return 1;
    }
    int r = mq_open(
        &(struct mq_opts){
            .broker = &cfg.broker, .conn_name = "bench_producer", .why = mqerr, .why_len = sizeof mqerr },
        &b.mq);
    char q[256];
    bool counting = strcmp(mode, "latency") == 0 || b.msgs_per_workflow <= 0;
    if (r == 0 && ((r = mq_declare_exclusive_queue(b.mq, q)) < 0 || (r = bench_bind(b.mq, q, counting)) < 0 ||
                   (r = mq_consume(b.mq, q, 0, true, true)) < 0))
        snprintf(mqerr, sizeof mqerr, "%s", mq_why(b.mq));
    if (r < 0) {
        fprintf(stderr, "bench_producer: broker: %s: %s\n", err_str(r), mqerr);
        return 1;
    }
    b.tc = (struct proto_template_create){ .name = "bench", .disks = &disk, .n_disks = 1, .seal = true };
    b.ids = xcalloc(b.n, sizeof *b.ids);
    b.state = xcalloc(b.n, sizeof *b.state);
    for (b.n_slots = 16; b.n_slots < 2 * b.n; b.n_slots *= 2)
        ;
    b.slot = xcalloc(b.n_slots, sizeof *b.slot);
    for (size_t i = 0; i < b.n; i++) {
        uuid_new(b.ids[i]);
        id_put(&b, i);
    }
    r = strcmp(mode, "latency") == 0 ? run_latency(&b) : run_throughput(&b, window);
    if (r < 0)
        fprintf(stderr, "bench_producer: %s (%zu of %zu templates ended)\n", err_str(r), b.done, b.n);
    mq_close(b.mq);
    config_free(&cfg);
    free(b.ids);
    free(b.state);
    free(b.slot);
    return r < 0 || b.failed ? 1 : 0;
}
