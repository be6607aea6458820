/* bench_broker.c - raw broker baseline: confirmed publish + consume
 * throughput and confirm latency over the vmseal topology (quorum queue
 * vmseal.jobs.default, persistent messages, a confirm window).
 *
 *   bench_broker [N=20000] [WINDOW=256] [BODY_BYTES=512]
 *
 * Needs the test broker environment (VMSEAL_TEST_BROKER_*, see
 * tests/lib/testbroker.h); runs in its own vhost.  Two threads, each owning
 * one connection (mq.h: a connection is never shared): the publisher keeps
 * WINDOW publishes unconfirmed, the consumer acks every delivery
 * (prefetch = WINDOW).  Prints one parseable line:
 *
 *   broker_raw msgs=N window=W body=B msgs_per_s=… publish_per_s=… confirm_p50_ms=… confirm_p99_ms=… elapsed_s=…
 *
 * msgs_per_s = N / (time from the first publish until the last message is
 * both confirmed and consumed). */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "mq.h"
#include "testbroker.h"
#include "util.h"

#define ROUTING_KEY "storage.00000000-0000-0000-0000-000000000000"

struct bench {
    const struct config_broker *broker;
    size_t n, window, body_len;
    int64_t t_start_us, t_pub_done_us, t_con_done_us;
    double *lat_ms; /* per seq */
    int err;
    char errmsg[512];
};

static int64_t now_us(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static mq_t *bench_open(struct bench *b, const char *name) {
    mq_t *mq = NULL;
    int r = mq_open(
        &(struct mq_opts){
            .broker = b->broker, .conn_name = name, .why = b->errmsg, .why_len = sizeof(b->errmsg) },
        &mq);
    if (r < 0)
        b->err = r;
    return mq;
}

static void bench_fail(struct bench *b, int r, const char *what, mq_t *mq) {
    b->err = r;
    snprintf(b->errmsg, sizeof(b->errmsg), "%s: %s: %s", what, err_str(r), mq ? mq_why(mq) : "");
}

static void *publisher_main(void *arg) {
    struct bench *b = arg;
    mq_t *mq = bench_open(b, "bench-pub");
    int64_t *sent_us = xcalloc(b->n + 1, sizeof(*sent_us));
    char *body = xmalloc(b->body_len);
    size_t published = 0, confirmed = 0;
    struct mq_event ev;
    char id[40];

    memset(body, 'x', b->body_len);
    if (!mq)
        goto out;
    while (confirmed < b->n) {
        while (published < b->n && published - confirmed < b->window) {
            uint64_t seq;
            snprintf(id, sizeof(id), "bench-%zu", published);
            int r = mq_publish(mq, MQ_X_JOBS, ROUTING_KEY, &(struct mq_props){ .message_id = id, .type = "job" },
                               body, b->body_len, &seq);
            if (r < 0) {
                bench_fail(b, r, "publish", mq);
                goto out;
            }
            sent_us[seq] = now_us();
            published++;
        }
        int r = mq_wait(mq, 1000, NULL, 0, &ev);
        if (r < 0) {
            bench_fail(b, r, "wait", mq);
            goto out;
        }
        if (ev.type == MQ_EV_CONFIRM) {
            if (ev.status != 0) {
                bench_fail(b, ev.status, "confirm", mq);
                goto out;
            }
            b->lat_ms[confirmed++] = (double)(now_us() - sent_us[ev.seq]) / 1000.0;
        } else if (ev.type == MQ_EV_RECONNECTED) {
            bench_fail(b, -VMS_E_CONN_LOST, "publisher reconnected during the run", mq);
            goto out;
        }
        mq_event_clear(&ev);
    }
    b->t_pub_done_us = now_us();
out:
    free(sent_us);
    free(body);
    mq_close(mq);
    return NULL;
}

static void *consumer_main(void *arg) {
    struct bench *b = arg;
    mq_t *mq = bench_open(b, "bench-con");
    size_t consumed = 0;
    struct mq_event ev;
    int r;

    if (!mq)
        return NULL;
    if ((r = mq_consume(mq, MQ_Q_JOBS_PREFIX "default", (uint16_t)b->window, false, false)) < 0) {
        bench_fail(b, r, "consume", mq);
        goto out;
    }
    while (consumed < b->n && !b->err) {
        if ((r = mq_wait(mq, 1000, NULL, 0, &ev)) < 0) {
            bench_fail(b, r, "wait", mq);
            goto out;
        }
        if (ev.type == MQ_EV_DELIVERY) {
            if ((r = mq_ack(mq, &ev.delivery)) < 0) {
                bench_fail(b, r, "ack", mq);
                goto out;
            }
            consumed++;
        }
        mq_event_clear(&ev);
    }
    b->t_con_done_us = now_us();
out:
    mq_close(mq);
    return NULL;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static int bench_run(struct bench *b) {
    pthread_t pub, con;
    mq_t *mq = bench_open(b, "bench-setup");
    const char *keys[] = { "#" };
    int r;

    if (!mq)
        return b->err;
    if ((r = mq_declare_topology(mq)) < 0 || (r = mq_declare_pool(mq, "default", keys, 1)) < 0) {
        bench_fail(b, r, "declare", mq);
        mq_close(mq);
        return r;
    }
    mq_close(mq);
    b->t_start_us = now_us();
    pthread_create(&con, NULL, consumer_main, b);
    pthread_create(&pub, NULL, publisher_main, b);
    pthread_join(pub, NULL);
    pthread_join(con, NULL);
    return b->err;
}

int main(int argc, char **argv) {
    struct testbroker tb;
    struct bench b = { .n = 20000, .window = 256, .body_len = 512 };
    int r;

    if (argc > 1)
        b.n = strtoul(argv[1], NULL, 10);
    if (argc > 2)
        b.window = strtoul(argv[2], NULL, 10);
    if (argc > 3)
        b.body_len = strtoul(argv[3], NULL, 10);
    if (b.n == 0 || b.window == 0 || b.window > 65535 || b.body_len == 0) {
        fprintf(stderr, "usage: bench_broker [N>0] [WINDOW 1..65535] [BODY_BYTES>0]\n");
        return 2;
    }
    if (testbroker_setup(&tb, "bench") < 0)
        return 1;
    b.broker = &tb.broker;
    b.lat_ms = xcalloc(b.n, sizeof(*b.lat_ms));
    r = bench_run(&b);
    if (r < 0) {
        fprintf(stderr, "bench_broker: %s\n", b.errmsg);
    } else {
        double elapsed_s = (double)(b.t_con_done_us > b.t_pub_done_us ? b.t_con_done_us : b.t_pub_done_us) / 1e6 -
                           (double)b.t_start_us / 1e6;
        double pub_s = (double)(b.t_pub_done_us - b.t_start_us) / 1e6;
        qsort(b.lat_ms, b.n, sizeof(*b.lat_ms), cmp_double);
        printf("broker_raw msgs=%zu window=%zu body=%zu msgs_per_s=%.0f publish_per_s=%.0f "
               "confirm_p50_ms=%.2f confirm_p99_ms=%.2f elapsed_s=%.2f\n",
               b.n, b.window, b.body_len, (double)b.n / elapsed_s, (double)b.n / pub_s, b.lat_ms[b.n / 2],
               b.lat_ms[(size_t)((double)b.n * 0.99)], elapsed_s);
    }
    free(b.lat_ms);
    testbroker_teardown(&tb);
    return r < 0 ? 1 : 0;
}
