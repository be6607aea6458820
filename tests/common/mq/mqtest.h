/* mqtest.h - helpers of the mq broker tests: open a client on the test
 * vhost, wait for one kind of event, delete a queue behind the client's back,
 * and a publish/consume "flow" (confirm window, manual ack, republish on
 * CONN_LOST/NACK, dedup by message_id) shared by the bulk and reconnect
 * tests. */
#ifndef VMSEAL_MQTEST_H
#define VMSEAL_MQTEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mq.h"
#include "testbroker.h"

/* Open a client on b or fail the test (with mq_open's reason). */
mq_t *mqtest_open(const struct config_broker *b);

/* Wait up to timeout_ms for an event of `type`; events of other types are
 * counted in *ret_other (may be NULL) and dropped.  Returns 0 or -ETIMEDOUT.
 * The caller clears *ev. */
int mqtest_wait_type(mq_t *mq, enum mq_event_type type, int timeout_ms, struct mq_event *ev, int *ret_other);

/* Delete a queue over a separate raw rabbitmq-c connection. */
int mqtest_queue_delete(const struct testbroker *tb, const char *queue);

struct mqtest_flow {
    mq_t *pub, *con;
    const char *exchange, *routing_key;
    size_t n, window, body_len;
    int throttle_ms; /* > 0: at most one new publish per throttle_ms */
    int64_t last_pub_ms;
    /* results */
    size_t n_confirmed, n_unique, n_dupes, n_redelivered, n_stale;
    size_t n_reconnect_pub, n_reconnect_con, n_bad_body, n_lost_confirms;
    /* internals */
    uint8_t *state; /* per message: 0 to send, 1 in flight, 2 confirmed */
    uint32_t *seen; /* deliveries per message */
    size_t *by_seq;
    size_t by_seq_len;
    size_t *redo;
    size_t n_redo;
    size_t next, inflight;
};

void mqtest_flow_init(struct mqtest_flow *f, mq_t *pub, mq_t *con, const char *exchange, const char *routing_key,
                      size_t n, size_t window);
void mqtest_flow_free(struct mqtest_flow *f);
/* One round: publish into the window, drain the publisher's and the
 * consumer's events (wait at most wait_ms on the consumer).  Returns true
 * when every message is confirmed and received. */
bool mqtest_flow_step(struct mqtest_flow *f, int wait_ms);
/* Steps until done or timeout_ms; returns 0 or -ETIMEDOUT. */
int mqtest_flow_run(struct mqtest_flow *f, int timeout_ms);

#endif
