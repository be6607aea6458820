/* producer.h - the vmseal-producer daemon: intake of template
 * requests, the workflows (workflow.h) over the store (store.h: SQLite or PostgreSQL), the
 * outbox pump and the RPC server, all in one event loop around mq_wait().
 *
 * Active and standby (store.h, "Leadership"): the producer opens its store
 * and takes the lead (SQLite: an flock of "<producer.db>.lock", so the
 * producers share one machine's disk; PostgreSQL: a session lock and a lease
 * generation every transaction checks, so producers on several hosts share
 * one database).  The others wait as standbys, say so in their log, and
 * take over - resuming every open workflow from the store - the moment the
 * active one dies or loses its database connection.  vmseal.requests is
 * also declared with single active consumer, so two producers never take
 * requests at once even if misconfigured with different databases.
 *
 * Database unavailable: the store fails every call once its connection is
 * gone (or its lease is another's); the producer then closes its broker
 * connection (unacknowledged deliveries go back to their queues, nothing is
 * published any more), logs "paused", reconnects to the database with a
 * backoff (0.5 s doubling to 10 s) and takes the lead again, or stands by.
 *
 * Delivery rules: a request or event is acknowledged only after the
 * transaction it caused has committed; the messages that transaction implied
 * are outbox rows, published with confirms and deleted once confirmed; after
 * a restart or reconnect every remaining row is published again (all
 * consumers are idempotent by message id).  Jobs are published mandatory: an
 * unroutable job (no pool queue bound yet) stays in the outbox and is tried
 * again every second.
 *
 * Storage domains: when the config has a storage group, requests naming a
 * domain not listed there are rejected (unknown_domain); without it the
 * producer accepts any domain id and the workers reject domains they do not
 * mount (a permanent job failure, so the template fails and rolls back).
 *
 * After a restart, jobs whose messages the broker had confirmed are not
 * published again: they wait in a durable quorum queue (or run), and
 * publishing them twice could run one job on two workers at once.  One that
 * is really lost is caught by its deadline and retried as a new attempt.
 *
 * SIGTERM / SIGINT: finish the current message, then return 0.
 */
#ifndef VMSEAL_PRODUCER_H
#define VMSEAL_PRODUCER_H

#include "config.h"

struct producer_ctx {
    const struct config *cfg; /* BROKER and PRODUCER groups; STORAGE optional */
    const char *id;           /* worker_id of template events; NULL = "producer@<hostname>" */
};

/* Run until SIGTERM/SIGINT (0) or a fatal error (negative, logged). */
int producer_run(struct producer_ctx *ctx);

#endif
