/* test_deploy_mq.c - the shipped definitions and the vmseal client agree:
 * with the real users, common/mq declares exactly what each daemon declares
 * (worker/runtime.c, producer/producer.c, vmsealctl) without a 406 argument
 * mismatch or a 403, events flow worker -> producer and monitor, and a
 * forbidden publish surfaces as -VMS_E_ACCESS_REFUSED (label broker). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "deploy_node.h"
#include "err.h"
#include "mq.h"
#include "testbroker.h"
#include "util.h"

struct client {
    struct config_broker cfg;
    mq_t *mq;
};

static void client_open(struct client *c, const char *user) {
    struct testbroker tb = { .port = deploy_shared.port };
    _cleanup_free_ char *pw = deploy_node_password(&deploy_shared, user);
    char err[256] = "";

    testbroker_config_fill(&tb, "vmseal", user, pw, &c->cfg);
    struct mq_opts o = {
        .broker = &c->cfg, .conn_name = user, .stamp_user_id = true, .why = err, .why_len = sizeof(err)
    };
    int r = mq_open(&o, &c->mq);
    if (r < 0)
        fail_msg("mq_open as %s: %s: %s", user, err_str(r), err);
}

static void client_close(struct client *c) {
    mq_close(c->mq);
    testbroker_config_free(&c->cfg);
}

#define assert_mq_ok(c, expr)                                            \
    do {                                                                 \
        int r_ = (expr);                                                 \
        if (r_ != 0)                                                     \
            fail_msg("%s: %s: %s", #expr, err_str(r_), mq_why((c)->mq)); \
    } while (0)

/* Wait for the delivery with body `want` from queue (the node is shared with
 * the other deploy tests: earlier messages are acked and skipped). */
static void wait_delivery(struct client *c, const char *queue, const char *want) {
    int64_t deadline = time_mono_ms() + 15000;
    struct mq_event ev = { 0 };

    while (time_mono_ms() < deadline) {
        int r = mq_wait(c->mq, 500, NULL, 0, &ev);
        if (r < 0)
            fail_msg("mq_wait: %s: %s", err_str(r), mq_why(c->mq));
        if (ev.type == MQ_EV_DELIVERY) {
            bool match = strcmp(ev.delivery.queue, queue) == 0 && ev.delivery.body_len == strlen(want) &&
                         memcmp(ev.delivery.body, want, ev.delivery.body_len) == 0;
            mq_ack(c->mq, &ev.delivery); /* on a no-ack consumer: harmless */
            mq_event_clear(&ev);
            if (match)
                return;
            continue;
        }
        mq_event_clear(&ev);
    }
    fail_msg("no delivery \"%s\" from %s within 15 s", want, queue);
}

static void test_daemons_declare_and_flow(void **state) {
    static const char *const all[] = { "#" };
    struct client prod = { 0 }, wrk = { 0 }, mon = { 0 }, ctl = { 0 };
    char control_q[256], watch_q[256], mon_q[256];
    struct mq_props p = { .message_id = "00000000-0000-0000-0000-0000000000aa", .type = "event" };

    /* producer/producer.c */
    client_open(&prod, "producer");
    assert_mq_ok(&prod, mq_declare_topology(prod.mq));
    assert_mq_ok(&prod, mq_declare_topology(prod.mq)); /* idempotent */
    assert_mq_ok(&prod, mq_consume(prod.mq, MQ_Q_REQUESTS, 4, false, false));
    assert_mq_ok(&prod, mq_consume(prod.mq, MQ_Q_EVENTS_PRODUCER, 16, false, false));
    assert_mq_ok(&prod, mq_consume(prod.mq, MQ_Q_RPC, 4, false, false));

    /* The pools come with the definitions (an administrator adds others): a
     * worker host configures nothing shared. */
    assert_mq_ok(&prod, mq_declare_pool(prod.mq, "default", all, 1)); /* as it is: a no-op */

    /* worker/runtime.c: its pool (checked, not declared), its control queue. */
    client_open(&wrk, "worker");
    assert_mq_ok(&wrk, mq_check_queue(wrk.mq, "vmseal.jobs.default"));
    assert_mq_ok(&wrk, mq_declare_exclusive_queue(wrk.mq, control_q));
    assert_mq_ok(&wrk, mq_bind(wrk.mq, control_q, MQ_X_CONTROL, ""));
    assert_mq_ok(&wrk, mq_consume(wrk.mq, control_q, 0, true, true));
    assert_mq_ok(&wrk, mq_consume(wrk.mq, "vmseal.jobs.default", 2, false, false));

    /* monitor: its own exclusive queue on the events. */
    client_open(&mon, "monitor");
    assert_mq_ok(&mon, mq_declare_exclusive_queue(mon.mq, mon_q));
    assert_mq_ok(&mon, mq_bind(mon.mq, mon_q, MQ_X_EVENTS, "#"));
    assert_mq_ok(&mon, mq_consume(mon.mq, mon_q, 0, true, true));

    /* vmsealctl (the operator): watch queue + submit. */
    client_open(&ctl, "operator");
    assert_mq_ok(&ctl, mq_declare_exclusive_queue(ctl.mq, watch_q));
    assert_mq_ok(&ctl, mq_bind(ctl.mq, watch_q, MQ_X_EVENTS, "job.#"));

    /* A worker event reaches the producer's queue and the monitor. */
    assert_mq_ok(&wrk,
                 mq_publish_wait(wrk.mq, MQ_X_EVENTS, "job.volume.copy.running.worker", &p, "ev1", 3, 10000));
    wait_delivery(&prod, MQ_Q_EVENTS_PRODUCER, "ev1");
    wait_delivery(&mon, mon_q, "ev1");

    /* A job from the producer reaches the worker's pool queue. */
    p.message_id = "00000000-0000-0000-0000-0000000000bb";
    p.type = "job";
    assert_mq_ok(&prod, mq_publish_wait(prod.mq, MQ_X_JOBS, "storage.00000000-0000-0000-0000-000000000002", &p,
                                        "job1", 4, 10000));
    wait_delivery(&wrk, "vmseal.jobs.default", "job1");

    /* The worker dead-letters an invalid job itself (worker/runtime.c). */
    p.reason = "test";
    assert_mq_ok(&wrk, mq_publish_wait(wrk.mq, MQ_X_DLX, "vmseal.jobs.default", &p, "bad", 3, 10000));

    /* vmsealctl submit: default exchange to vmseal.requests. */
    p.reason = NULL;
    p.type = "template.create";
    assert_mq_ok(&ctl, mq_publish_wait(ctl.mq, "", MQ_Q_REQUESTS, &p, "req", 3, 10000));
    wait_delivery(&prod, MQ_Q_REQUESTS, "req");

    client_close(&ctl);
    client_close(&mon);
    client_close(&wrk);
    client_close(&prod);
}

/* The publish fails and the reason the client reports is the broker's 403.
 * (mq reports the lost publish's status as conn_lost, the channel having been
 * closed; the cause is in mq_why.) */
static void assert_publish_refused(struct client *c, const char *who) {
    struct mq_props p = { .message_id = "00000000-0000-0000-0000-0000000000cc", .type = "job" };
    int r = mq_publish_wait(c->mq, MQ_X_JOBS, "storage.x", &p, "j", 1, 10000);

    if (r == 0 || !strstr(mq_why(c->mq), "403 ACCESS_REFUSED"))
        fail_msg("%s publish to vmseal.jobs: %s (%s), expected 403 ACCESS_REFUSED", who, err_str(r),
                 mq_why(c->mq));
}

static void test_forbidden_publish_is_access_refused(void **state) {
    struct client mon = { 0 }, wrk = { 0 };

    client_open(&mon, "monitor");
    assert_publish_refused(&mon, "monitor");
    client_close(&mon);

    client_open(&wrk, "worker");
    assert_publish_refused(&wrk, "worker");
    client_close(&wrk);

    /* A worker may not declare the producer's topology. */
    client_open(&wrk, "worker");
    assert_int_equal(mq_declare_quorum_queue(wrk.mq, MQ_Q_REQUESTS, MQ_DELIVERY_LIMIT, true),
                     -VMS_E_ACCESS_REFUSED);
    client_close(&wrk);
}

int deploy_mq_tests(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_daemons_declare_and_flow),
        cmocka_unit_test(test_forbidden_publish_is_access_refused),
    };
    return cmocka_run_group_tests_name("deploy_mq", tests, NULL, NULL);
}
