/* control.c - the job.cancel message of the vmseal.control exchange. */
#include <string.h>

#include "control.h"
#include "err.h"
#include "util.h"
#include "wire.h"

int proto_encode_job_cancel(const struct proto_job_cancel *m, char **ret_buf, size_t *ret_len) {
    if (!uuid_is_canonical(m->job_id) || !uuid_is_canonical(m->template_id))
        return -VMS_E_BAD_UUID;
    struct wire_packer w;
    wire_pack_init(&w);
    wire_pack_head(&w, PROTO_JOB_CANCEL_TYPE, 2);
    wire_pack_kv_str(&w, "job_id", m->job_id);
    wire_pack_kv_str(&w, "template_id", m->template_id);
    wire_pack_finish(&w, ret_buf, ret_len);
    return 0;
}

int proto_decode_job_cancel(const void *buf, size_t len, struct proto_job_cancel *ret, char *why) {
    struct wire_map root;
    struct proto_job_cancel m;
    int64_t v = 0;
    char *type = NULL;
    int r;

    memset(&m, 0, sizeof(m));
    memset(ret, 0, sizeof(*ret)); /* proto.h: on failure the output is zeroed */
    r = wire_open(buf, len, "message", &root, why);
    if (r < 0)
        return r;
    r = wire_map_int(&root, "v", WIRE_REQUIRED, INT64_MIN, INT64_MAX, &v, why);
    if (r < 0)
        return r;
    if (v != PROTO_VERSION) {
        wire_why(why, root.path, "v", "unsupported version %lld", (long long)v);
        return -VMS_E_MSG_VERSION;
    }
    r = wire_map_str(&root, "type", WIRE_REQUIRED, 1, 64, &type, why);
    if (r < 0)
        return r;
    r = strcmp(type, PROTO_JOB_CANCEL_TYPE) == 0 ? 0 : -VMS_E_MSG_BAD_VALUE;
    if (r < 0)
        wire_why(why, root.path, "type", "expected \"%s\", got \"%s\"", PROTO_JOB_CANCEL_TYPE, type);
    free(type);
    if (r < 0)
        return r;
    wire_map_rename(&root, PROTO_JOB_CANCEL_TYPE);
    r = wire_map_uuid(&root, "job_id", WIRE_REQUIRED, m.job_id, why);
    if (r < 0)
        return r;
    r = wire_map_uuid(&root, "template_id", WIRE_REQUIRED, m.template_id, why);
    if (r < 0)
        return r;
    *ret = m;
    return 0;
}
