/* bench_worker.c - volume.update jobs through one real vmseal-worker
 * (dry-run executor, so only the metadata write is "work"): throughput with
 * worker.slots = 1, 2 and 8, and the latency from publish to the final event.
 *
 *   deploy/rabbitmq/node.sh start DIR && . DIR/env
 *   build/bin/bench_worker [JOBS=400] [LATENCY_JOBS=200]
 *
 * Needs the test broker environment (VMSEAL_TEST_BROKER_*, see
 * tests/lib/testbroker.h); runs in its own vhost with its own temporary
 * storage domain; starts build/bin/vmseal-worker (VMSEAL_BUILD_DIR, default
 * the folder above this program's).  For each slot count, a fresh worker:
 *
 *  - throughput: JOBS updates (one per volume, so none waits on another's
 *    generation) published at once; jobs_per_s = JOBS / (first publish ..
 *    last final event); load_p50/p99 = publish -> final event under that load;
 *  - latency: LATENCY_JOBS updates one at a time (publish, wait for the final
 *    event): the added latency of the worker path (decode, runner, metadata
 *    write with fsyncs, confirmed event publish, ack).
 *
 * Prints parseable lines:
 *   bench_worker mode=throughput slots=S jobs=N failed=F seconds=T jobs_per_s=R load_p50_ms=… load_p99_ms=…
 *   bench_worker mode=latency slots=S jobs=N failed=F p50_ms=… p99_ms=… max_ms=…
 *   bench_worker mode=fork forks=N fork_wait_us=…      (fork+_exit+waitpid of this process, for scale)
 */
#include <errno.h>
#include <limits.h>
#include <libgen.h>
#include <setjmp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "err.h"
#include "mq.h"
#include "proto.h"
#include "util.h"
#include "wtest.h"

struct bjob {
    proto_uuid job_id;
    int64_t t_pub_us, t_final_us;
    bool ok, done;
};

struct bench {
    struct wtest *w;
    mq_t *mq; /* own connection: publishes jobs, consumes final events */
    char queue[256];
    proto_uuid *imgs, *vols;
    int *gens;
    size_t n_vols;
};

static int64_t now_us(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double pct(double *v, size_t n, double p) {
    if (n == 0)
        return 0;
    qsort(v, n, sizeof(*v), cmp_double);
    size_t i = (size_t)(p * (double)(n - 1) + 0.5);
    return v[i];
}

static int bench_publish(struct bench *b, struct bjob *bj, size_t vol) {
    struct proto_job j;
    char *buf = NULL;
    size_t len;
    testevents_job_init(&j, JOB_VOLUME_UPDATE);
    memcpy(bj->job_id, j.job_id, sizeof(proto_uuid));
    memcpy(j.args.update.vol.sd_id, b->w->sd_id, sizeof(proto_uuid));
    memcpy(j.args.update.vol.img_id, b->imgs[vol], sizeof(proto_uuid));
    memcpy(j.args.update.vol.vol_id, b->vols[vol], sizeof(proto_uuid));
    j.args.update.generation = b->gens[vol];
    j.args.update.legality = b->gens[vol] % 2 ? LEGALITY_LEGAL : LEGALITY_ILLEGAL;
    b->gens[vol] = (b->gens[vol] + 1) % 1000;
    int r = proto_encode_job(&j, &buf, &len);
    if (r == 0) {
        _cleanup_free_ char *rk = xasprintf("storage.%s", b->w->sd_id);
        struct mq_props p = { .message_id = j.job_id, .type = "job" };
        uint64_t seq;
        bj->t_pub_us = now_us();
        r = mq_publish(b->mq, MQ_X_JOBS, rk, &p, buf, len, &seq);
    }
    free(buf);
    proto_job_free(&j);
    return r;
}

/* Pump until every job in jobs[0..n) has its final event (or timeout). */
static int bench_collect(struct bench *b, struct bjob *jobs, size_t n, size_t *done, int timeout_ms) {
    int64_t end = time_mono_ms() + timeout_ms;
    while (*done < n) {
        struct mq_event ev;
        int64_t left = end - time_mono_ms();
        if (left <= 0)
            return -ETIMEDOUT;
        if (mq_wait(b->mq, (int)left, NULL, 0, &ev) == 0 && ev.type == MQ_EV_DELIVERY) {
            struct proto_event e;
            char why[ERR_WHY_LEN];
            int64_t t = now_us();
            if (proto_decode_event(ev.delivery.body, ev.delivery.body_len, &e, why) == 0) {
                for (size_t i = n; i-- > 0;) {
                    if (!jobs[i].done && strcmp(jobs[i].job_id, e.job_id) == 0) {
                        jobs[i].done = true;
                        jobs[i].ok = e.state == EV_SUCCEEDED;
                        jobs[i].t_final_us = t;
                        (*done)++;
                        break;
                    }
                }
                proto_event_free(&e);
            }
        }
        mq_event_clear(&ev);
    }
    return 0;
}

static int bench_throughput(struct bench *b, int slots, size_t n) {
    struct bjob *jobs = xcalloc(n, sizeof(*jobs));
    size_t done = 0, failed = 0;
    int r = 0;
    for (size_t i = 0; i < n && r == 0; i++)
        r = bench_publish(b, &jobs[i], i % b->n_vols);
    if (r == 0)
        r = bench_collect(b, jobs, n, &done, 300000);
    double *lat = xcalloc(n, sizeof(*lat));
    int64_t last = 0;
    for (size_t i = 0; i < n; i++) {
        failed += jobs[i].done && !jobs[i].ok;
        lat[i] = (double)(jobs[i].t_final_us - jobs[i].t_pub_us) / 1000.0;
        if (jobs[i].t_final_us > last)
            last = jobs[i].t_final_us;
    }
    double secs = (double)(last - jobs[0].t_pub_us) / 1e6;
    if (r == 0)
        printf("bench_worker mode=throughput slots=%d jobs=%zu failed=%zu seconds=%.3f jobs_per_s=%.1f "
               "load_p50_ms=%.1f load_p99_ms=%.1f\n",
               slots, n, failed, secs, (double)n / secs, pct(lat, n, 0.50), pct(lat, n, 0.99));
    else
        fprintf(stderr, "bench_worker: throughput slots=%d: %s (%zu of %zu done)\n", slots, err_str(r), done, n);
    fflush(stdout);
    free(lat);
    free(jobs);
    return r;
}

static int bench_latency(struct bench *b, int slots, size_t n) {
    struct bjob *jobs = xcalloc(n, sizeof(*jobs));
    double *lat = xcalloc(n, sizeof(*lat));
    size_t failed = 0;
    int r = 0;
    for (size_t i = 0; i < n && r == 0; i++) {
        size_t done = 0;
        r = bench_publish(b, &jobs[i], i % b->n_vols);
        if (r == 0)
            r = bench_collect(b, &jobs[i], 1, &done, 30000);
        failed += !jobs[i].ok;
        lat[i] = (double)(jobs[i].t_final_us - jobs[i].t_pub_us) / 1000.0;
    }
    if (r == 0)
        printf("bench_worker mode=latency slots=%d jobs=%zu failed=%zu p50_ms=%.2f p99_ms=%.2f max_ms=%.2f\n",
               slots, n, failed, pct(lat, n, 0.50), pct(lat, n, 0.99), pct(lat, n, 1.0));
    else
        fprintf(stderr, "bench_worker: latency slots=%d: %s\n", slots, err_str(r));
    fflush(stdout);
    free(lat);
    free(jobs);
    return r;
}

static void bench_fork(void) {
    enum { N = 500 };
    int64_t t0 = now_us();
    for (int i = 0; i < N; i++) {
        pid_t p = fork();
        if (p == 0)
            _exit(0);
        if (p > 0)
            waitpid(p, NULL, 0);
    }
    printf("bench_worker mode=fork forks=%d fork_wait_us=%.1f\n", N, (double)(now_us() - t0) / N);
}

static void build_dir_default(const char *argv0) {
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
    if (getenv("VMSEAL_BUILD_DIR") || n <= 0)
        return;
    exe[n] = '\0';
    char *dir = dirname(dirname(exe)); /* <build>/bin/bench_worker -> <build> */
    setenv("VMSEAL_BUILD_DIR", dir, 0);
    (void)argv0;
}

int main(int argc, char **argv) {
    size_t n = argc > 1 ? strtoul(argv[1], NULL, 10) : 400;
    size_t n_lat = argc > 2 ? strtoul(argv[2], NULL, 10) : 200;
    static const int slot_counts[] = { 1, 2, 8 };
    struct bench b = { 0 };
    void *state = NULL;
    int r = 0;

    build_dir_default(argv[0]);
    if (n == 0 || n_lat == 0) {
        fprintf(stderr, "usage: bench_worker [JOBS] [LATENCY_JOBS]\n");
        return 2;
    }
    if (wtest_setup(&state) < 0)
        return 1;
    b.w = state;
    b.n_vols = n;
    b.imgs = xcalloc(n, sizeof(*b.imgs));
    b.vols = xcalloc(n, sizeof(*b.vols));
    b.gens = xcalloc(n, sizeof(*b.gens));
    for (size_t i = 0; i < n && r == 0; i++)
        r = wtest_volume_make(b.w, 65536, b.imgs[i], b.vols[i]);
    struct mq_opts o = { .broker = &b.w->tb.broker, .conn_name = "bench_worker", .stamp_user_id = true };
    if (r == 0)
        r = mq_open(&o, &b.mq);
    if (r == 0)
        r = mq_declare_exclusive_queue(b.mq, b.queue);
    if (r == 0)
        r = mq_bind(b.mq, b.queue, MQ_X_EVENTS, "job.volume.update.succeeded.*");
    if (r == 0)
        r = mq_bind(b.mq, b.queue, MQ_X_EVENTS, "job.volume.update.failed.*");
    if (r == 0)
        r = mq_consume(b.mq, b.queue, 0, true, true);
    if (r < 0)
        fprintf(stderr, "bench_worker: setup: %s\n", err_str(r));
    bench_fork();
    for (size_t k = 0; k < ARRAY_SIZE(slot_counts) && r == 0; k++) {
        char id[32];
        pid_t pid;
        int status;
        snprintf(id, sizeof(id), "bench-s%d", slot_counts[k]);
        struct wtest_worker_opts wo = { .id = id, .slots = slot_counts[k], .dry_run = true };
        r = wtest_worker_start(b.w, &wo, &pid);
        if (r == 0)
            r = bench_latency(&b, slot_counts[k], n_lat);
        if (r == 0)
            r = bench_throughput(&b, slot_counts[k], n);
        wtest_worker_stop(b.w, pid, SIGTERM, 30000, &status);
    }
    mq_close(b.mq);
    free(b.imgs);
    free(b.vols);
    free(b.gens);
    wtest_teardown(&state);
    return r < 0 ? 1 : 0;
}
