/* testevents.h - drive vmseal workers from a broker test: publish jobs (or
 * raw bytes) the way the producer does, and watch what comes back: events
 * and heartbeats on vmseal.events (an exclusive queue bound with `#`, as a
 * monitoring tool does), dead letters on vmseal.dead.
 *
 * testevents_open() declares the whole topology of docs/protocol.md §3 plus the
 * `default` pool (binding `#`) in the broker's vhost, so jobs published
 * before any worker starts are kept.  Everything received is decoded and
 * kept in arrival order; the wait functions pump the connection until what
 * they look for is there.  Errors: 0 or a negative code; -ETIMEDOUT when a
 * wait ends without it.
 */
#ifndef VMSEAL_TESTEVENTS_H
#define VMSEAL_TESTEVENTS_H

#include <stdbool.h>
#include <stddef.h>

#include "config.h"
#include "mq.h"
#include "proto.h"

struct testevents;

int testevents_open(const struct config_broker *broker, struct testevents **ret);
void testevents_close(struct testevents *te);
mq_t *testevents_mq(struct testevents *te);

/* A job with a fresh job id and the test program's one template id (a job may
 * delete what an earlier one copied), attempt 1, timeout_s 600; the
 * caller fills kind-specific args (and frees it with proto_job_free). */
void testevents_job_init(struct proto_job *job, enum job_kind kind);
/* Publish to vmseal.jobs with routing key <storage|virt>.<sd id> and wait
 * for the broker's confirm. */
int testevents_publish_job(struct testevents *te, const struct proto_job *job);
/* Publish arbitrary bytes to vmseal.jobs (message_id may be NULL). */
int testevents_publish_raw(struct testevents *te, const char *routing_key, const void *body, size_t len,
                           const char *message_id);
/* Publish bytes to any exchange (e.g. vmseal.control) and wait for the confirm. */
int testevents_publish_to(struct testevents *te, const char *exchange, const char *routing_key, const char *type,
                          const void *body, size_t len);

/* Wait for an event of job_id in `state`, or in any final state
 * (succeeded/failed/cancelled) when state < 0.  *ret_ev (may be NULL) points
 * into the store, valid until testevents_close(). */
int testevents_wait(struct testevents *te, const char *job_id, int state, int timeout_ms,
                    const struct proto_event **ret_ev);
/* The events of job_id received so far, in arrival order: fills up to cap
 * pointers and returns the total count. */
size_t testevents_of_job(struct testevents *te, const char *job_id, const struct proto_event **ret, size_t cap);
/* Wait for a heartbeat from worker_id; *ret_hb points into the store (the latest). */
int testevents_wait_heartbeat(struct testevents *te, const char *worker_id, int timeout_ms,
                              const struct proto_heartbeat **ret_hb);
/* Consume vmseal.dead and wait for a dead letter whose message_id is
 * message_id; *ret_reason (malloc'd, may be NULL) gets its reason header. */
int testevents_wait_dead(struct testevents *te, const char *message_id, int timeout_ms, char **ret_reason);
/* Pump the connection for ms milliseconds, collecting whatever arrives. */
void testevents_pump(struct testevents *te, int ms);

/* A result entry of an event by key, or NULL. */
const struct proto_kv *testevents_result(const struct proto_event *ev, const char *key);

#endif
