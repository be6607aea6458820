/* outbox.h - the messages the workflow writes to the store's outbox (the
 * producer's pump publishes them after the transaction commits).
 *
 * Each function builds one wire message with proto/ and adds one outbox row;
 * they must be called inside a store transaction.  Errors: store errors, or
 * the encoder's error for a value the wire format refuses.
 */
#ifndef VMSEAL_OUTBOX_H
#define VMSEAL_OUTBOX_H

#include <stddef.h>
#include <stdint.h>

#include "store.h"

/* The job `j` of template `t` (disks: all of t's disks) to vmseal.jobs with
 * routing key "<storage|virt>.<sd_id>" (volume.copy routes by its source
 * domain, the others by their target domain).  `sysprep` is used by vm.seal. */
int outbox_job(struct store *st, const struct store_job *j, const struct store_disk *disks, size_t n_disks,
               const struct proto_sysprep *sysprep, int64_t now_ms);

/* A job.cancel for job `j` to vmseal.control. */
int outbox_job_cancel(struct store *st, const struct store_job *j, int64_t now_ms);

/* The template event of t's current state (routing key template.<state>,
 * with step, t's error when set, and its volumes: `disks`, in index order). */
int outbox_template_event(struct store *st, const struct store_template *t, const struct store_disk *disks,
                          size_t n_disks, const char *producer_id, int64_t now_ms);

/* A template.failed event for a request that was rejected before any
 * template existed (error code `code`, message `message`, step "intake"). */
int outbox_template_rejected(struct store *st, const char *template_id, const char *producer_id, const char *code,
                             const char *message, int64_t now_ms);

/* A dead letter: `body` to vmseal.dlx (routing key = the source queue) with
 * the MQ_HDR_REASON header; message_id kept (NULL or "": a new one). */
int outbox_dead_letter(struct store *st, const char *queue, const char *message_id, const void *body, size_t len,
                       const char *reason, int64_t now_ms);

#endif
