/* test_mq.c - the AMQP client against a real RabbitMQ (label broker).
 * The tests share one vhost (testbroker.h; a vhost costs three rabbitmqctl
 * runs) and keep apart by queue names. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/tcp.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "err.h"
#include "mq.h"
#include "mq_private.h"
#include "mqtest.h"
#include "testbroker.h"
#include "util.h"

static void test_topology_twice(void **state) {
    struct testbroker *tb = *state;
    const char *keys[] = { "#" };
    mq_t *mq = mqtest_open(&tb->broker);
    char excl[256];

    for (int i = 0; i < 2; i++) {
        assert_int_equal(mq_declare_topology(mq), 0);
        assert_int_equal(mq_declare_pool(mq, "default", keys, 1), 0);
    }
    assert_int_equal(mq_declare_exclusive_queue(mq, excl), 0);
    assert_true(strncmp(excl, MQ_Q_EXCLUSIVE_PREFIX, strlen(MQ_Q_EXCLUSIVE_PREFIX)) == 0);
    assert_int_equal(mq_bind(mq, excl, MQ_X_EVENTS, "#"), 0);
    assert_true(mq_connected(mq));
    assert_int_equal(mq_epoch(mq), 1);
    /* a second client declaring the same topology agrees with the first */
    mq_t *mq2 = mqtest_open(&tb->broker);
    assert_int_equal(mq_declare_topology(mq2), 0);
    mq_close(mq2);
    mq_close(mq);
}

/* Declaring a queue with other arguments is a channel error (406): the call
 * fails with CONFLICT, and the client recovers by itself. */
static void test_conflict_recovers(void **state) {
    struct testbroker *tb = *state;
    mq_t *mq = mqtest_open(&tb->broker);
    struct mq_event ev;

    assert_int_equal(mq_declare_quorum_queue(mq, "t.q", 3, false), 0);
    assert_int_equal(mq_consume(mq, "t.q", 10, false, false), 0);
    assert_int_equal(mq_declare_quorum_queue(mq, "t.q", 4, true), -VMS_E_CONFLICT);
    assert_non_null(strstr(mq_why(mq), "PRECONDITION_FAILED"));
    assert_int_equal(mqtest_wait_type(mq, MQ_EV_RECONNECTED, 5000, &ev, NULL), 0);
    assert_int_equal(mq_epoch(mq), 2);
    /* the consumer came back: a message still arrives */
    assert_int_equal(mq_publish_wait(mq, "", "t.q", &(struct mq_props){ .message_id = "a" }, "x", 1, 5000), 0);
    assert_int_equal(mqtest_wait_type(mq, MQ_EV_DELIVERY, 5000, &ev, NULL), 0);
    assert_string_equal(ev.delivery.queue, "t.q");
    assert_int_equal(mq_ack(mq, &ev.delivery), 0);
    mq_event_clear(&ev);
    mq_close(mq);
}

static void test_bulk_exactly_once(void **state) {
    struct testbroker *tb = *state;
    mq_t *pub = mqtest_open(&tb->broker), *con = mqtest_open(&tb->broker);
    struct mqtest_flow f;

    assert_int_equal(mq_declare_quorum_queue(pub, "bulk", MQ_DELIVERY_LIMIT, false), 0);
    assert_int_equal(mq_consume(con, "bulk", 200, false, false), 0);
    mqtest_flow_init(&f, pub, con, "", "bulk", 10000, 256);
    assert_int_equal(mqtest_flow_run(&f, 120000), 0);
    assert_int_equal(f.n_confirmed, 10000);
    assert_int_equal(f.n_unique, 10000);
    assert_int_equal(f.n_dupes, 0);
    assert_int_equal(f.n_redelivered, 0);
    assert_int_equal(f.n_bad_body, 0);
    assert_int_equal(f.n_lost_confirms, 0);
    assert_int_equal(mq_pending_confirms(pub), 0);
    mqtest_flow_free(&f);
    mq_close(pub);
    mq_close(con);
}

static void test_queue_deleted_cancels(void **state) {
    struct testbroker *tb = *state;
    mq_t *mq = mqtest_open(&tb->broker);
    struct mq_event ev;
    int other = 0;

    assert_int_equal(mq_declare_quorum_queue(mq, "doomed", 0, false), 0);
    assert_int_equal(mq_declare_classic_queue(mq, "other"), 0);
    assert_int_equal(mq_consume(mq, "doomed", 1, false, false), 0);
    assert_int_equal(mqtest_queue_delete(tb, "doomed"), 0);
    int64_t t0 = time_mono_ms();
    assert_int_equal(mqtest_wait_type(mq, MQ_EV_CANCELLED, 5000, &ev, &other), 0);
    assert_true(time_mono_ms() - t0 < 3000);
    assert_string_equal(ev.consumer_queue, "doomed");
    assert_int_equal(other, 0);
    mq_event_clear(&ev);
    /* the connection is fine and the cancelled consumer is not replayed */
    assert_true(mq_connected(mq));
    assert_int_equal(mq_cancel(mq, "doomed"), -VMS_E_NOT_FOUND);
    assert_int_equal(mq_publish_wait(mq, "", "other", NULL, "x", 1, 5000), 0);
    assert_int_equal(mq_epoch(mq), 1);
    mq_close(mq);
}

/* Mandatory publishes: routed -> 0, unroutable -> RETURNED (the broker sends
 * basic.return and then basic.ack for it), in any interleaving. */
static void test_mandatory_returned(void **state) {
    struct testbroker *tb = *state;
    mq_t *mq = mqtest_open(&tb->broker);
    uint64_t seq[4];
    int status[4] = { 1, 1, 1, 1 };
    struct mq_event ev;

    assert_int_equal(mq_declare_topology(mq), 0);
    assert_int_equal(mq_publish_wait(mq, MQ_X_EVENTS, "nobody.listens",
                                     &(struct mq_props){ .message_id = "r0", .mandatory = true }, "x", 1, 5000),
                     -VMS_E_RETURNED);
    const char *keys[] = { "job.volume.copy.running", "template.ready", "worker.heartbeat", "nope" };
    const int want[] = { 0, -VMS_E_RETURNED, 0, -VMS_E_RETURNED };
    for (int i = 0; i < 4; i++)
        assert_int_equal(mq_publish(mq, MQ_X_EVENTS, keys[i],
                                    &(struct mq_props){ .message_id = "same", .mandatory = true }, "x", 1,
                                    &seq[i]),
                         0);
    for (int n = 0; n < 4; n++) {
        assert_int_equal(mqtest_wait_type(mq, MQ_EV_CONFIRM, 5000, &ev, NULL), 0);
        for (int i = 0; i < 4; i++)
            if (seq[i] == ev.seq)
                status[i] = ev.status;
    }
    for (int i = 0; i < 4; i++)
        assert_int_equal(status[i], want[i]);
    /* not mandatory: unroutable is silently confirmed */
    assert_int_equal(mq_publish_wait(mq, MQ_X_EVENTS, "nope", NULL, "x", 1, 5000), 0);
    mq_close(mq);
}

/* Headers: our reason header, x-delivery-count after a requeue, and a
 * dead-letter's x-death reason once the delivery limit is passed. */
static void test_headers_and_dead_letters(void **state) {
    struct testbroker *tb = *state;
    mq_t *mq = mqtest_open(&tb->broker);
    struct mq_event ev;

    assert_int_equal(mq_declare_topology(mq), 0);
    assert_int_equal(mq_declare_quorum_queue(mq, "limited", 1, false), 0);
    assert_int_equal(mq_consume(mq, "limited", 5, false, false), 0);
    assert_int_equal(
        mq_publish_wait(mq, "", "limited",
                        &(struct mq_props){ .message_id = "m1", .type = "job", .correlation_id = "c1" }, "payload",
                        7, 5000),
        0);
    for (int round = 0; round < 2; round++) {
        assert_int_equal(mqtest_wait_type(mq, MQ_EV_DELIVERY, 5000, &ev, NULL), 0);
        assert_string_equal(ev.delivery.message_id, "m1");
        assert_string_equal(ev.delivery.type, "job");
        assert_string_equal(ev.delivery.correlation_id, "c1");
        assert_int_equal(ev.delivery.delivery_count, round);
        assert_int_equal(ev.delivery.redelivered, round > 0);
        assert_int_equal(mq_nack(mq, &ev.delivery, true), 0);
        mq_event_clear(&ev);
    }
    /* past the limit of 1: dead-lettered to vmseal.dead */
    assert_int_equal(mq_consume(mq, MQ_Q_DEAD, 5, false, false), 0);
    assert_int_equal(mqtest_wait_type(mq, MQ_EV_DELIVERY, 5000, &ev, NULL), 0);
    assert_string_equal(ev.delivery.queue, MQ_Q_DEAD);
    assert_string_equal(ev.delivery.message_id, "m1");
    assert_non_null(ev.delivery.reason);
    assert_string_equal(ev.delivery.reason, "delivery_limit");
    assert_int_equal(mq_ack(mq, &ev.delivery), 0);
    mq_event_clear(&ev);
    /* our own reason header wins */
    assert_int_equal(mq_publish_wait(mq, MQ_X_DLX, "any",
                                     &(struct mq_props){ .message_id = "m2", .reason = "msg_truncated: body" },
                                     "zz", 2, 5000),
                     0);
    assert_int_equal(mqtest_wait_type(mq, MQ_EV_DELIVERY, 5000, &ev, NULL), 0);
    assert_string_equal(ev.delivery.reason, "msg_truncated: body");
    assert_int_equal(ev.delivery.body_len, 2);
    assert_memory_equal(ev.delivery.body, "zz", 2);
    assert_int_equal(mq_ack(mq, &ev.delivery), 0);
    mq_event_clear(&ev);
    mq_close(mq);
}

static void test_wrong_password(void **state) {
    struct testbroker *tb = *state;
    struct config_broker b;
    char err[512] = "";
    mq_t *mq = NULL;

    testbroker_config_fill(tb, tb->vhost, tb->user, "definitely-wrong", &b);
    int r = mq_open(&(struct mq_opts){ .broker = &b, .why = err, .why_len = sizeof(err) }, &mq);
    assert_int_equal(r, -VMS_E_ACCESS_REFUSED);
    assert_null(mq);
    assert_non_null(strstr(err, "login refused"));
    assert_non_null(strstr(err, tb->user));
    print_message("wrong password: %s\n", err);
    testbroker_config_free(&b);

    testbroker_config_fill(tb, "no-such-vhost", tb->user, tb->password, &b);
    r = mq_open(&(struct mq_opts){ .broker = &b, .why = err, .why_len = sizeof(err) }, &mq);
    assert_int_equal(r, -VMS_E_ACCESS_REFUSED);
    assert_non_null(strstr(err, "no-such-vhost"));
    print_message("wrong vhost: %s\n", err);
    testbroker_config_free(&b);
}

static void test_no_host(void **state) {
    struct testbroker *tb = *state;
    struct config_broker b;
    char err[512] = "";
    mq_t *mq = NULL;

    testbroker_config_fill(tb, tb->vhost, tb->user, tb->password, &b);
    free(b.hosts[0]);
    b.hosts[0] = xstrdup("127.0.0.1:1");
    b.hosts[1] = xstrdup("localhost:2");
    b.n_hosts = 2;
    int64_t t0 = time_mono_ms();
    int r = mq_open(&(struct mq_opts){ .broker = &b, .why = err, .why_len = sizeof(err) }, &mq);
    assert_int_equal(r, -VMS_E_CONN_LOST);
    assert_true(time_mono_ms() - t0 < 3000);
    assert_non_null(strstr(err, "no broker reachable"));
    assert_non_null(strstr(err, "localhost:2"));
    print_message("no host: %s\n", err);
    /* the second host is the real one: the client moves on to it */
    free(b.hosts[1]);
    b.hosts[1] = xasprintf("localhost:%d", tb->port);
    mq = mqtest_open(&b);
    mq_close(mq);
    testbroker_config_free(&b);
}

/* With a 2 s heartbeat, a client that calls mq_wait regularly stays
 * connected for many heartbeats; one that stops calling is dropped by the
 * broker and comes back by itself (new epoch, stale deliveries). */
static void test_heartbeat(void **state) {
    struct testbroker *tb = *state;
    struct config_broker b;
    struct mq_event ev;
    int other = 0;

    testbroker_config_fill(tb, tb->vhost, tb->user, tb->password, &b);
    b.heartbeat_s = 2;
    mq_t *mq = mqtest_open(&b);
    assert_int_equal(mq_declare_classic_queue(mq, "hb"), 0);
    assert_int_equal(mq_consume(mq, "hb", 1, false, false), 0);
    assert_int_equal(mqtest_wait_type(mq, MQ_EV_RECONNECTED, 7000, &ev, &other), -ETIMEDOUT);
    assert_int_equal(other, 0);
    assert_true(mq_connected(mq));
    assert_int_equal(mq_epoch(mq), 1);

    assert_int_equal(mq_publish_wait(mq, "", "hb", NULL, "x", 1, 5000), 0);
    assert_int_equal(mqtest_wait_type(mq, MQ_EV_DELIVERY, 5000, &ev, NULL), 0);
    struct mq_event old = ev; /* keep the delivery of epoch 1 */
    memset(&ev, 0, sizeof(ev));
    sleep(6); /* a blocked thread: more than 2 heartbeats without a library call */
    assert_int_equal(mqtest_wait_type(mq, MQ_EV_RECONNECTED, 10000, &ev, NULL), 0);
    assert_int_equal(mq_epoch(mq), 2);
    assert_int_equal(mq_ack(mq, &old.delivery), -VMS_E_STALE);
    assert_int_equal(mqtest_wait_type(mq, MQ_EV_DELIVERY, 5000, &ev, NULL), 0);
    assert_true(ev.delivery.redelivered);
    assert_int_equal(mq_ack(mq, &ev.delivery), 0);
    mq_event_clear(&ev);
    mq_event_clear(&old);
    mq_close(mq);
    testbroker_config_free(&b);
}

/* A consumer whose queue vanished while the client was disconnected is
 * reported cancelled during the replay, and the client still comes back. */
static void test_queue_gone_while_away(void **state) {
    struct testbroker *tb = *state;
    mq_t *owner = mqtest_open(&tb->broker), *mq = mqtest_open(&tb->broker);
    struct mq_event ev;
    int other = 0;

    assert_int_equal(mq_declare_quorum_queue(owner, "gone", 0, false), 0);
    assert_int_equal(mq_declare_classic_queue(mq, "stays"), 0);
    assert_int_equal(mq_consume(mq, "gone", 1, false, false), 0);
    assert_int_equal(mq_consume(mq, "stays", 1, false, false), 0);
    /* a channel error drops mq's connection; the queue goes meanwhile */
    assert_int_equal(mq_declare_classic_queue(mq, "gone"), -VMS_E_CONFLICT);
    assert_false(mq_connected(mq));
    assert_int_equal(mqtest_queue_delete(tb, "gone"), 0);
    assert_int_equal(mqtest_wait_type(mq, MQ_EV_CANCELLED, 5000, &ev, &other), 0);
    assert_string_equal(ev.consumer_queue, "gone");
    mq_event_clear(&ev);
    assert_int_equal(mqtest_wait_type(mq, MQ_EV_RECONNECTED, 5000, &ev, &other), 0);
    assert_int_equal(mq_publish_wait(owner, "", "stays", NULL, "s", 1, 5000), 0);
    assert_int_equal(mqtest_wait_type(mq, MQ_EV_DELIVERY, 5000, &ev, &other), 0);
    assert_string_equal(ev.delivery.queue, "stays");
    assert_int_equal(mq_ack(mq, &ev.delivery), 0);
    mq_event_clear(&ev);
    mq_close(mq);
    mq_close(owner);
}

/* mq_wait also watches the caller's fds (the daemons' child pipes). */
static void test_extra_fds(void **state) {
    struct testbroker *tb = *state;
    mq_t *mq = mqtest_open(&tb->broker);
    struct mq_event ev;
    int p[2];

    assert_int_equal(pipe(p), 0);
    struct pollfd pfd = { .fd = p[0], .events = POLLIN };
    int64_t t0 = time_mono_ms();
    assert_int_equal(mq_wait(mq, 200, &pfd, 1, &ev), 0);
    assert_int_equal(ev.type, MQ_EV_NONE);
    assert_int_equal(pfd.revents, 0);
    assert_true(time_mono_ms() - t0 >= 190);
    assert_int_equal(write(p[1], "x", 1), 1);
    t0 = time_mono_ms();
    assert_int_equal(mq_wait(mq, 10000, &pfd, 1, &ev), 0);
    assert_int_equal(ev.type, MQ_EV_NONE);
    assert_true(pfd.revents & POLLIN);
    assert_true(time_mono_ms() - t0 < 1000);
    close(p[0]);
    close(p[1]);
    mq_close(mq);
}

/* Direct reply-to (vmsealctl -> producer RPC): the requester consumes the
 * pseudo-queue without acks, the server answers to the reply_to it got. */
static void test_direct_reply_to(void **state) {
    struct testbroker *tb = *state;
    mq_t *client = mqtest_open(&tb->broker), *server = mqtest_open(&tb->broker);
    struct mq_event ev;

    assert_int_equal(mq_declare_quorum_queue(server, MQ_Q_RPC, MQ_DELIVERY_LIMIT, false), 0);
    assert_int_equal(mq_consume(server, MQ_Q_RPC, 4, false, false), 0);
    assert_int_equal(mq_consume(client, "amq.rabbitmq.reply-to", 0, false, true), 0);
    assert_int_equal(mq_publish_wait(client, "", MQ_Q_RPC,
                                     &(struct mq_props){ .message_id = "q1",
                                                         .correlation_id = "corr-1",
                                                         .reply_to = "amq.rabbitmq.reply-to",
                                                         .transient = true },
                                     "ping", 4, 5000),
                     0);
    assert_int_equal(mqtest_wait_type(server, MQ_EV_DELIVERY, 5000, &ev, NULL), 0);
    assert_non_null(ev.delivery.reply_to);
    assert_true(strncmp(ev.delivery.reply_to, "amq.rabbitmq.reply-to.", 22) == 0);
    assert_int_equal(
        mq_publish_wait(server, "", ev.delivery.reply_to,
                        &(struct mq_props){ .correlation_id = ev.delivery.correlation_id, .transient = true },
                        "pong", 4, 5000),
        0);
    assert_int_equal(mq_ack(server, &ev.delivery), 0);
    mq_event_clear(&ev);
    assert_int_equal(mqtest_wait_type(client, MQ_EV_DELIVERY, 5000, &ev, NULL), 0);
    assert_string_equal(ev.delivery.correlation_id, "corr-1");
    assert_memory_equal(ev.delivery.body, "pong", 4);
    mq_event_clear(&ev);
    mq_close(server);
    mq_close(client);
}

static uint32_t data_segs_out(mq_t *mq) {
    struct tcp_info ti;
    socklen_t len = sizeof(ti);
    assert_int_equal(getsockopt(amqp_get_sockfd(mq->conn), IPPROTO_TCP, TCP_INFO, &ti, &len), 0);
    return ti.tcpi_data_segs_out;
}

/* Publishes and acks are corked until the next poll: 50 publishes leave as
 * one batch, and a synchronous method sends them (and itself) at once rather
 * than after the kernel's 200 ms cork timer. */
static void test_corked_sends(void **state) {
    struct testbroker *tb = *state;
    mq_t *mq = mqtest_open(&tb->broker);
    char q[256];
    struct mq_event ev;
    int confirms = 0, deliveries = 0;

    assert_int_equal(mq_declare_exclusive_queue(mq, q), 0);
    assert_int_equal(mq_consume(mq, q, 0, true, true), 0);
    int64_t t0 = time_mono_ms();
    assert_int_equal(mq_declare_exchange(mq, "t.cork1", "topic"), 0);
    int64_t uncorked_ms = time_mono_ms() - t0;

    uint32_t s0 = data_segs_out(mq);
    for (int i = 0; i < 50; i++)
        assert_int_equal(mq_publish(mq, "", q, &(struct mq_props){ .message_id = "m" }, "body", 4, NULL), 0);
    assert_int_equal(data_segs_out(mq) - s0, 0); /* held back */
    t0 = time_mono_ms();
    assert_int_equal(mq_declare_exchange(mq, "t.cork2", "topic"), 0);
    assert_true(time_mono_ms() - t0 < uncorked_ms + 150);
    assert_true(data_segs_out(mq) - s0 <= 4);
    while (confirms < 50 || deliveries < 50) {
        assert_int_equal(mq_wait(mq, 5000, NULL, 0, &ev), 0);
        assert_true(ev.type == MQ_EV_CONFIRM || ev.type == MQ_EV_DELIVERY);
        confirms += ev.type == MQ_EV_CONFIRM && ev.status == 0;
        deliveries += ev.type == MQ_EV_DELIVERY;
        mq_event_clear(&ev);
    }
    mq_close(mq);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_topology_twice),
        cmocka_unit_test(test_conflict_recovers),
        cmocka_unit_test(test_bulk_exactly_once),
        cmocka_unit_test(test_queue_deleted_cancels),
        cmocka_unit_test(test_queue_gone_while_away),
        cmocka_unit_test(test_mandatory_returned),
        cmocka_unit_test(test_headers_and_dead_letters),
        cmocka_unit_test(test_wrong_password),
        cmocka_unit_test(test_no_host),
        cmocka_unit_test(test_direct_reply_to),
        cmocka_unit_test(test_corked_sends),
        cmocka_unit_test(test_extra_fds),
        cmocka_unit_test(test_heartbeat),
    };
    return cmocka_run_group_tests(tests, testbroker_group_setup, testbroker_group_teardown);
}
