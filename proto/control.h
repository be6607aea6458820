/* control.h - messages on the vmseal.control fanout exchange (docs/protocol.md, section 3):
 * the producer tells every worker to stop a job.
 *
 *   job.cancel: { "v": 1, "type": "job.cancel", "job_id": uuid,
 *                 "template_id": uuid }
 *
 * A worker that runs the job kills its process group and publishes a
 * `cancelled` event; a worker that does not know the job remembers the id
 * for a while (the job may still be on its way to it) and otherwise ignores
 * the message.  Same rules as proto.h: unknown keys are ignored, the decoder
 * validates everything before it trusts it, `why` (ERR_WHY_LEN bytes, may
 * be NULL) names the offending key.
 */
#ifndef VMSEAL_PROTO_CONTROL_H
#define VMSEAL_PROTO_CONTROL_H

#include <stddef.h>

#include "proto.h"

#define PROTO_JOB_CANCEL_TYPE "job.cancel"

struct proto_job_cancel {
    proto_uuid job_id;
    proto_uuid template_id;
};

/* Encode; *ret_buf is malloc'd.  -VMS_E_BAD_UUID if an id is not canonical. */
int proto_encode_job_cancel(const struct proto_job_cancel *m, char **ret_buf, size_t *ret_len);
/* Validate and decode.  -VMS_E_MSG_VERSION for another "v", -VMS_E_MSG_BAD_VALUE
 * for another "type", else the errors of proto.h. */
int proto_decode_job_cancel(const void *buf, size_t len, struct proto_job_cancel *ret, char *why);

#endif
