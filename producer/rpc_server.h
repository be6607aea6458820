/* rpc_server.h - the producer's answers to vmseal.rpc queries (messages in
 * proto/rpc.h), built from the store and the heartbeats heard.
 *
 * Transport-free so that it is unit-tested: producer.c receives the request
 * and publishes what rpc_server_answer() returns.
 */
#ifndef VMSEAL_RPC_SERVER_H
#define VMSEAL_RPC_SERVER_H

#include <stddef.h>
#include <stdint.h>

#include "rpc.h"
#include "store.h"

/* A worker is listed while its last heartbeat is younger than this. */
#define RPC_WORKER_TTL_MS (5 * 60 * 1000)

/* The last heartbeat of each worker, in memory. */
struct worker_table {
    struct rpc_worker *v;
    size_t n;
};

/* Remember hb as worker hb->worker_id's latest (hb's contents are moved into
 * the table; hb is left zeroed).  Workers silent for RPC_WORKER_TTL_MS are
 * forgotten. */
void worker_table_update(struct worker_table *t, struct proto_heartbeat *hb, int64_t now_ms);
void worker_table_free(struct worker_table *t);

/* Decode the rpc.request in body and encode the rpc.reply (always a reply:
 * a bad request or a store failure gives ok = false with the reason).
 * Returns 0, or a negative code when no reply could be encoded. */
int rpc_server_answer(struct store *st, const struct worker_table *workers, const void *body, size_t len,
                      int64_t now_ms, char **ret_buf, size_t *ret_len);

#endif
