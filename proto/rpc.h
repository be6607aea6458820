/* rpc.h - queries to the producer over vmseal.rpc (docs/protocol.md, section 7), answered by
 * RabbitMQ direct reply-to.
 *
 * Transport (what a client such as vmsealctl does):
 *   1. consume the pseudo-queue "amq.rabbitmq.reply-to" with no_ack = true
 *      (on the same channel it then publishes on);
 *   2. publish an rpc.request to the default exchange "" with routing key
 *      "vmseal.rpc", reply_to = "amq.rabbitmq.reply-to", correlation_id = a
 *      fresh uuid (also the message_id), content_type application/msgpack;
 *   3. wait (a few seconds) for a delivery whose correlation_id matches: the
 *      rpc.reply.  No reply in time = the producer is not running (or busy).
 * The producer publishes the reply to exchange "" with routing key = the
 * request's reply_to, correlation_id echoed, transient, type "rpc.reply".
 *
 * rpc.request (msgpack map, as every vmseal message: "v": 1, "type"):
 *   "method": "status" | "list" | "workers"
 *   status:  "template_id": uuid                                   (required)
 *   list:    "state": template state (optional filter: "creating",
 *            "rolling_back", "ready", "failed", "cancelled"),
 *            "limit": 1..10000 (optional, default 100; newest first)
 *   workers: nothing more
 *
 * rpc.reply:
 *   "method": the request's method
 *   "ok": bool; when false, "error": {"code", "message"} and nothing else;
 *           codes: "not_found" (unknown template), "invalid" (unknown state
 *           filter), a decoder's code such as "msg_missing_key" or "bad_uuid"
 *           (malformed request; the message names the key), "db" (store failure)
 *   status -> "template": {
 *       "id", "name", "state", "step", "seal": bool, "created_ms", "updated_ms",
 *       "error": {"step", "code", "message"}        (absent while there is none)
 *       "disks": [ {"index", "source": {sd_id,img_id,vol_id},
 *                   "target": {sd_id,img_id,vol_id}, "state" (copying|present|
 *                   deleted|leftover), "legality", "voltype", "generation"} ]
 *                   (legality/voltype/generation: the target as last known)
 *       "jobs": [ {"job_id", "kind", "step", "disk" (-1 = all disks),
 *                  "attempt", "state" (waiting|queued|running|succeeded|failed|
 *                  cancelled|lost), "created_ms", "started_ms", "finished_ms"
 *                  (0 = not yet), "progress" (0..100, last reported),
 *                  "worker_id" (optional: who last reported on it),
 *                  "error": {"code","message"} (optional),
 *                  "files": what a vm.seal attempt did, as its final event
 *                  said (optional; proto.h struct proto_files): the paths
 *                  of the newest attempts within RPC_STATUS_FILES_PATHS_MAX
 *                  paths and RPC_STATUS_FILES_BYTES_MAX bytes, the counts
 *                  only (truncated) for older ones} ]
 *                  every attempt, oldest first
 *       "leftovers": [ {sd_id,img_id,vol_id} ]   volumes a rollback could not delete
 *     }
 *   list -> "templates": [ {"id", "name", "state", "step", "updated_ms"} ]
 *   workers -> "workers": [ {the worker.heartbeat fields of proto.h without
 *       v/type, plus "received_ms": when the producer got it} ] (the last
 *       heartbeat of each worker heard in the last 5 minutes)
 * Steps: copy, mark_illegal, seal, mark_shared (CREATING), drain, delete
 * (ROLLING_BACK), done.
 *
 * Related (not RPC): the producer publishes a template event (proto.h
 * `event` without job_id, routing key template.<state>) on every state AND
 * step change: "step" is the step just entered; while rolling back and once
 * failed or cancelled, "error" holds the failing step's error (code
 * "cancelled" for a cancel); the error's step is in the RPC status.  A
 * rejected request gives one template.failed event with step "intake" (when
 * its template_id could be read) and a dead letter whose x-vmseal-reason
 * header names the problem.
 *
 * The decoders validate like proto.h's (sizes, depth, types, uuids) and
 * ignore unknown keys; `why` (ERR_WHY_LEN, may be NULL) names the key.
 * Decoded structs own their strings; free with rpc_*_free (NULL-safe).
 */
#ifndef VMSEAL_PROTO_RPC_H
#define VMSEAL_PROTO_RPC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proto.h"

#define RPC_REQUEST_TYPE       "rpc.request"
#define RPC_REPLY_TYPE         "rpc.reply"
#define RPC_REPLY_TO           "amq.rabbitmq.reply-to"
#define RPC_LIST_DEFAULT_LIMIT 100
#define RPC_LIST_MAX_LIMIT     10000
/* The seal paths one status reply carries: two full lists' worth. */
#define RPC_STATUS_FILES_PATHS_MAX (2 * PROTO_FILES_PATHS_MAX)
#define RPC_STATUS_FILES_BYTES_MAX (2 * PROTO_FILES_BYTES_MAX)

enum rpc_method { RPC_STATUS, RPC_LIST, RPC_WORKERS };

const char *rpc_method_to_string(enum rpc_method m);

struct rpc_request {
    enum rpc_method method;
    proto_uuid template_id; /* status */
    char *state;            /* list: NULL = any */
    int64_t limit;          /* list: 0 = default */
};

struct rpc_disk {
    int64_t index;
    struct proto_vol_ref source, target;
    char *state;
    enum vol_legality legality;
    enum vol_type voltype;
    int64_t generation;
};

struct rpc_job {
    proto_uuid job_id;
    enum job_kind kind;
    char *step;
    int64_t disk, attempt;
    char *state;
    int64_t created_ms, started_ms, finished_ms;
    int64_t progress;
    char *worker_id;                  /* NULL = none */
    char *error_code, *error_message; /* NULL = none */
    struct proto_files *files;        /* vm.seal: what it did (proto.h); NULL = not reported */
};

struct rpc_template {
    proto_uuid id;
    char *name, *state, *step;
    bool seal;
    int64_t created_ms, updated_ms;
    char *error_step, *error_code, *error_message; /* NULL = none (all three or none) */
    struct rpc_disk *disks;
    size_t n_disks;
    struct rpc_job *jobs;
    size_t n_jobs;
    struct proto_vol_ref *leftovers;
    size_t n_leftovers;
};

struct rpc_summary {
    proto_uuid id;
    char *name, *state, *step;
    int64_t updated_ms;
};

struct rpc_worker {
    struct proto_heartbeat hb;
    int64_t received_ms;
};

struct rpc_reply {
    enum rpc_method method;
    bool ok;
    char *error_code, *error_message; /* when !ok */
    struct rpc_template tpl;          /* status */
    struct rpc_summary *templates;
    size_t n_templates; /* list */
    struct rpc_worker *workers;
    size_t n_workers; /* workers */
};

int rpc_encode_request(const struct rpc_request *m, char **ret_buf, size_t *ret_len);
int rpc_decode_request(const void *buf, size_t len, struct rpc_request *ret, char *why);
int rpc_encode_reply(const struct rpc_reply *m, char **ret_buf, size_t *ret_len);
int rpc_decode_reply(const void *buf, size_t len, struct rpc_reply *ret, char *why);
void rpc_request_free(struct rpc_request *m);
void rpc_template_free(struct rpc_template *t);
void rpc_reply_free(struct rpc_reply *m);

/* Best effort, for a message that failed to decode: copy a canonical
 * "template_id" from its top-level map into ret.  0 or a negative code
 * (then ret is ""). */
int proto_peek_template_id(const void *buf, size_t len, proto_uuid ret);

#endif
