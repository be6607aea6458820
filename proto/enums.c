/* enums.c - wire spellings of the proto enums (one table each). */
#include <string.h>

#include "err.h"
#include "proto.h"
#include "util.h"
#include "wire_names.h"

const char *const proto_type_names[PROTO_N_TYPES] = {
    [PROTO_TEMPLATE_CREATE] = "template.create",
    [PROTO_TEMPLATE_CANCEL] = "template.cancel",
    [PROTO_JOB] = "job",
    [PROTO_EVENT] = "event",
    [PROTO_HEARTBEAT] = "worker.heartbeat",
};
const char *const job_kind_names[JOB_N_KINDS] = {
    [JOB_VOLUME_COPY] = "volume.copy",
    [JOB_VOLUME_UPDATE] = "volume.update",
    [JOB_VOLUME_DELETE] = "volume.delete",
    [JOB_VM_SEAL] = "vm.seal",
};
/* index 0 is *_NONE: never on the wire */
const char *const vol_legality_names[3] = { NULL, "LEGAL", "ILLEGAL" };
const char *const vol_type_names[4] = { NULL, "LEAF", "SHARED", "INTERNAL" };
const char *const vol_format_names[3] = { NULL, "RAW", "COW" };
const char *const event_state_names[EV_N_STATES] = {
    [EV_RUNNING] = "running",           [EV_PROGRESS] = "progress",
    [EV_SUCCEEDED] = "succeeded",       [EV_FAILED] = "failed",
    [EV_CANCELLED] = "cancelled",       [EV_CREATING] = "creating",
    [EV_ROLLING_BACK] = "rolling_back", [EV_READY] = "ready",
};

const char *const file_action_names[2] = { [FILE_REMOVED] = "removed", [FILE_CHANGED] = "changed" };

const char *const vol_state_names[VOL_N_STATES] = {
    [VOL_STATE_COPYING] = "copying",
    [VOL_STATE_PRESENT] = "present",
    [VOL_STATE_DELETED] = "deleted",
    [VOL_STATE_LEFTOVER] = "leftover",
};

static const char *name_of(const char *const *names, size_t n, int i) {
    return i >= 0 && (size_t)i < n && names[i] ? names[i] : "?";
}

static int index_of(const char *const *names, size_t n, const char *s, int *ret) {
    for (size_t i = 0; s && i < n; i++)
        if (names[i] && strcmp(names[i], s) == 0) {
            *ret = (int)i;
            return 0;
        }
    return -VMS_E_MSG_BAD_VALUE;
}

#define ENUM_STRINGS(type, prefix, table)                                                             \
    const char *prefix##_to_string(enum type v) { return name_of(table, ARRAY_SIZE(table), (int)v); } \
    int prefix##_from_string(const char *s, enum type *ret) {                                         \
        int i, r = index_of(table, ARRAY_SIZE(table), s, &i);                                         \
        if (r == 0)                                                                                   \
            *ret = (enum type)i;                                                                      \
        return r;                                                                                     \
    }

const char *proto_type_to_string(enum proto_type t) {
    return name_of(proto_type_names, ARRAY_SIZE(proto_type_names), (int)t);
}
ENUM_STRINGS(job_kind, job_kind, job_kind_names)
ENUM_STRINGS(vol_legality, vol_legality, vol_legality_names)
ENUM_STRINGS(vol_type, vol_type, vol_type_names)
ENUM_STRINGS(vol_format, vol_format, vol_format_names)
ENUM_STRINGS(event_state, event_state, event_state_names)
ENUM_STRINGS(vol_state, vol_state, vol_state_names)
ENUM_STRINGS(proto_file_action, proto_file_action, file_action_names)
