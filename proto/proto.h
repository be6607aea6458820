/* proto.h - the vmseal wire format, version 1 (docs/protocol.md).
 *
 * Every message is a msgpack map with string keys carrying "v" = 1 and
 * "type".  For each message there is one encoder and one validating decoder;
 * proto_decode() dispatches on "type".
 *
 * Decoders never trust the bytes: before anything is unpacked, the raw buffer
 * is walked once to check size (<= PROTO_MAX_BYTES), nesting depth
 * (<= PROTO_MAX_DEPTH), every length and count against the bytes that
 * remain, and that nothing trails the top-level object.  Then required keys
 * are checked for presence and type, ids for canonical UUID form and enums for
 * known values.  Unknown keys are ignored (forward compatibility).
 *
 * Ownership: decoded structs own copies of all their strings and arrays
 * (NUL-terminated); release them with the matching *_free(), which accepts
 * NULL and zeroed structs.  Encoders return a malloc'd buffer in *ret_buf.
 *
 * Errors: 0 on success, or a negative VMS_E_MSG_* / VMS_E_BAD_UUID code
 * (VMS_E_INVALID for a non-string or duplicate map key, or byte 0xc1); when
 * `why` is not NULL it receives a one-line reason naming the key, e.g.
 * "job.args.dst.vol_id: not a canonical UUID".  On failure the output struct
 * is zeroed (nothing to free).
 *
 * Encoders write keys in one fixed order (deterministic bytes, pinned by the
 * golden vectors in tests/proto/golden) and decode their own output before
 * returning it: a struct that a decoder would refuse (bad UUID, value out of
 * range, NULL required string) gives that decoder's error code and no buffer.
 * Limits and the rule for bumping "v" are in proto/README.md and msg.h.
 */
#ifndef VMSEAL_PROTO_H
#define VMSEAL_PROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h" /* ERR_WHY_LEN */

#define PROTO_VERSION      1
#define PROTO_MAX_BYTES    (1024 * 1024)
#define PROTO_MAX_DEPTH    16
#define PROTO_CONTENT_TYPE "application/msgpack"

typedef char proto_uuid[37]; /* canonical lowercase, NUL-terminated; "" = absent */

enum proto_type {
    PROTO_TEMPLATE_CREATE, /* "template.create" */
    PROTO_TEMPLATE_CANCEL, /* "template.cancel" */
    PROTO_JOB,             /* "job" */
    PROTO_EVENT,           /* "event" */
    PROTO_HEARTBEAT,       /* "worker.heartbeat" */
};

enum job_kind { JOB_VOLUME_COPY, JOB_VOLUME_UPDATE, JOB_VOLUME_DELETE, JOB_VM_SEAL };
/* Volume metadata values; *_NONE means "not given" in a volume.update. */
enum vol_legality { LEGALITY_NONE, LEGALITY_LEGAL, LEGALITY_ILLEGAL };
enum vol_type { VOLTYPE_NONE, VOLTYPE_LEAF, VOLTYPE_SHARED, VOLTYPE_INTERNAL };
enum vol_format { FORMAT_NONE, FORMAT_RAW, FORMAT_COW };
/* The state of a template's volume in a template event. */
enum vol_state { VOL_STATE_COPYING, VOL_STATE_PRESENT, VOL_STATE_DELETED, VOL_STATE_LEFTOVER };
/* Event states: the five job states, then the template-only ones.  A template
 * event (no job_id) uses EV_FAILED / EV_CANCELLED for its terminal states. */
enum event_state {
    EV_RUNNING,
    EV_PROGRESS,
    EV_SUCCEEDED,
    EV_FAILED,
    EV_CANCELLED,
    EV_CREATING,
    EV_ROLLING_BACK,
    EV_READY,
};

/* Wire spellings ("volume.copy", "LEGAL", "LEAF", "COW", "rolling_back", ...).
 * *_from_string returns 0 or -VMS_E_MSG_BAD_VALUE. */
const char *proto_type_to_string(enum proto_type t);
const char *job_kind_to_string(enum job_kind k);
int job_kind_from_string(const char *s, enum job_kind *ret);
const char *vol_legality_to_string(enum vol_legality l);
int vol_legality_from_string(const char *s, enum vol_legality *ret);
const char *vol_type_to_string(enum vol_type t);
int vol_type_from_string(const char *s, enum vol_type *ret);
const char *vol_format_to_string(enum vol_format f);
int vol_format_from_string(const char *s, enum vol_format *ret);
const char *event_state_to_string(enum event_state s);
const char *vol_state_to_string(enum vol_state s);
int vol_state_from_string(const char *s, enum vol_state *ret);
int event_state_from_string(const char *s, enum event_state *ret);

struct proto_vol_ref {
    proto_uuid sd_id, img_id, vol_id;
};

#define PROTO_ALLOW_MISSING_MAX 32
/* Which operations run (proto/sysprep_ops.h, proto_sysprep_select): with
 * neither enable nor operations, the defaults; else only enable's names,
 * then operations applied in order (virt-sysprep's --enable and
 * --operations).  disable's names are removed last. */
struct proto_sysprep {
    char **enable;
    size_t n_enable; /* operation names: ONLY these (plus operations) */
    char **disable;
    size_t n_disable;     /* operation names removed from the selection */
    char *hostname;       /* NULL: "localhost" */
    bool selinux_relabel; /* default true */
    /* Mount points the operator accepts missing (absent or unmountable
     * filesystems the guest mounts at boot); optional, default none, at
     * most PROTO_ALLOW_MISSING_MAX. */
    char **allow_missing;
    size_t n_allow_missing;
    /* virt-sysprep --operations entries, applied in order after enable:
     * "OP" adds, "-OP" removes, "defaults" / "all" (or "-defaults" /
     * "-all") add (remove) those sets; optional, at most 64. */
    char **operations;
    size_t n_operations;
};

/* The ids an engine chose for the new volume of one disk ("" = the producer
 * chooses); on the wire, the optional new_img_id / new_vol_id of a disk. */
struct proto_new_vol {
    proto_uuid img_id, vol_id; /* both set or both "" */
};

struct proto_template_create {
    proto_uuid template_id;
    char *name;
    struct proto_vol_ref *disks;
    size_t n_disks;                 /* at least one */
    struct proto_new_vol *new_vols; /* NULL, or n_disks entries */
    proto_uuid target_sd_id;        /* "" = same domain as each source */
    bool seal;
    bool has_sysprep;
    struct proto_sysprep sysprep;
};

struct proto_template_cancel {
    proto_uuid template_id;
};

struct proto_job {
    proto_uuid job_id, template_id;
    enum job_kind kind;
    int64_t attempt;   /* >= 1 */
    int64_t timeout_s; /* >= 1 */
    union {
        struct {              /* volume.copy */
            proto_uuid sd_id; /* source domain */
            proto_uuid src_img_id, src_vol_id;
            struct proto_vol_ref dst;
            enum vol_format format; /* of the destination */
        } copy;
        struct { /* volume.update */
            struct proto_vol_ref vol;
            int64_t generation;         /* expected GEN, 0..999 */
            enum vol_legality legality; /* NONE = unchanged */
            enum vol_type voltype;      /* NONE = unchanged */
            char *description;          /* NULL = unchanged; <= 210 bytes */
        } update;
        struct { /* volume.delete */
            struct proto_vol_ref vol;
        } del;
        struct { /* vm.seal */
            struct proto_vol_ref *disks;
            size_t n_disks;
            struct proto_sysprep sysprep;
        } seal;
    } args;
};

/* A small typed key/value list: the `result` map of an event. */
enum proto_kv_type { KV_STR, KV_INT, KV_BOOL };
struct proto_kv {
    char *key;
    enum proto_kv_type type;
    char *s;   /* KV_STR */
    int64_t i; /* KV_INT, KV_BOOL (0/1) */
};

/* One volume of a template, as a template event reports it. */
struct proto_event_volume {
    struct proto_vol_ref vol;
    enum vol_state state;
    enum vol_legality legality; /* as last known */
    enum vol_type voltype;
};

/* What a vm.seal job did to the guest: the `files` of its final event (and
 * of a seal job in the RPC status, rpc.h).  Per operation, how many paths it
 * removed and changed; and the paths themselves, in the order the seal met
 * them, as far as the bounds allow: at most PROTO_FILES_PATHS_MAX paths and
 * PROTO_FILES_BYTES_MAX bytes of mount points and paths in all, each path at
 * most PROTO_FILE_PATH_MAX bytes.  A path past a bound is only counted, and
 * `truncated` says so: the decoders check that the paths listed per
 * operation and action are no more than its counts, and that `truncated` is
 * true exactly when they are fewer.
 *
 * Guest names are hostile (any bytes but NUL): mount points and paths are
 * always in the escaped form of str_escape() (common/util.h): control
 * characters, '\\', C1 controls and bytes outside valid UTF-8 as \xHH,
 * nothing else changed.  The decoders refuse any other form, so such a
 * string is safe on a terminal as it is and tells the original bytes
 * without ambiguity. */
#define PROTO_FILES_PATHS_MAX 1000
#define PROTO_FILES_BYTES_MAX (128 * 1024)
#define PROTO_FILE_PATH_MAX   4096
#define PROTO_FILE_MOUNT_MAX  1024
#define PROTO_FILES_OPS_MAX   64
#define PROTO_FILES_COUNT_MAX INT32_MAX /* a count saturates there */

enum proto_file_action { FILE_REMOVED, FILE_CHANGED };
const char *proto_file_action_to_string(enum proto_file_action a); /* "removed", "changed" */
int proto_file_action_from_string(const char *s, enum proto_file_action *ret);

struct proto_file {
    char *op; /* the sysprep operation */
    enum proto_file_action action;
    char *mountpoint; /* escaped: where the filesystem holding the path is mounted */
    char *path;       /* escaped */
};

struct proto_file_op {
    char *name;
    int64_t removed, changed; /* 0..PROTO_FILES_COUNT_MAX */
};

struct proto_files {
    struct proto_file_op *ops; /* each operation that removed or changed a path, first met first */
    size_t n_ops;
    struct proto_file *paths;
    size_t n_paths;
    size_t path_bytes; /* of the mount points and paths listed */
    bool truncated;    /* some path counted is not listed */
};

/* Count one path under op, and list it when it fits the bounds and is in
 * the escaped form (mountpoint 1..PROTO_FILE_MOUNT_MAX bytes, path
 * 1..PROTO_FILE_PATH_MAX;
 * "" for a path too long to carry); else only count it (truncated).  0, or
 * -VMS_E_INVALID (nothing counted) when op is not an operation name (1..64
 * of [a-z0-9-]) or would be operation PROTO_FILES_OPS_MAX + 1. */
int proto_files_add(struct proto_files *f, const char *op, enum proto_file_action action, const char *mountpoint,
                    const char *path);
/* Forget the paths, keep the counts (truncated when any was listed or counted). */
void proto_files_drop_paths(struct proto_files *f);
/* Frees what f holds (not f) and zeroes it; accepts NULL. */
void proto_files_free(struct proto_files *f);
/* The `files` map alone (what the producer stores): encoded as on the wire,
 * decoded with the same checks (why names "files.<key>"). */
int proto_files_encode(const struct proto_files *f, char **ret_buf, size_t *ret_len);
int proto_files_decode(const void *buf, size_t len, struct proto_files *ret, char *why);

struct proto_event {
    proto_uuid event_id;
    proto_uuid job_id; /* "" for template events */
    proto_uuid template_id;
    char *worker_id; /* the worker, or the producer id for template events */
    enum event_state state;
    int progress; /* 0..100, -1 = absent */
    char *step;   /* NULL = absent */
    bool has_error;
    struct {
        char *code;
        char *message;
        bool permanent;
    } error;
    struct proto_kv *result;
    size_t n_result;
    struct proto_event_volume *volumes;
    size_t n_volumes;          /* template events; NULL = absent */
    struct proto_files *files; /* final vm.seal job events; NULL = absent */
    int64_t ts_ms;
};

struct proto_heartbeat {
    char *worker_id, *host, *version, *libguestfs_version;
    char **pools;
    size_t n_pools;
    proto_uuid *sd_ids;
    size_t n_sd_ids;
    int64_t slots;
    proto_uuid *running;
    size_t n_running;
    int64_t ts_ms;
};

struct proto_msg {
    enum proto_type type;
    union {
        struct proto_template_create create;
        struct proto_template_cancel cancel;
        struct proto_job job;
        struct proto_event event;
        struct proto_heartbeat heartbeat;
    } u;
};

int proto_encode_template_create(const struct proto_template_create *m, char **ret_buf, size_t *ret_len);
int proto_encode_template_cancel(const struct proto_template_cancel *m, char **ret_buf, size_t *ret_len);
int proto_encode_job(const struct proto_job *m, char **ret_buf, size_t *ret_len);
int proto_encode_event(const struct proto_event *m, char **ret_buf, size_t *ret_len);
int proto_encode_heartbeat(const struct proto_heartbeat *m, char **ret_buf, size_t *ret_len);

int proto_decode_template_create(const void *buf, size_t len, struct proto_template_create *ret, char *why);
int proto_decode_template_cancel(const void *buf, size_t len, struct proto_template_cancel *ret, char *why);
int proto_decode_job(const void *buf, size_t len, struct proto_job *ret, char *why);
int proto_decode_event(const void *buf, size_t len, struct proto_event *ret, char *why);
int proto_decode_heartbeat(const void *buf, size_t len, struct proto_heartbeat *ret, char *why);
/* Validate, read "type", and decode into the matching union member. */
int proto_decode(const void *buf, size_t len, struct proto_msg *ret, char *why);
/* Encode whichever message m holds (its type's encoder); -EINVAL for an
 * unknown type. */
int proto_encode(const struct proto_msg *m, char **ret_buf, size_t *ret_len);

void proto_sysprep_free(struct proto_sysprep *s);
void proto_template_create_free(struct proto_template_create *m);
void proto_job_free(struct proto_job *m);
void proto_event_free(struct proto_event *m);
void proto_heartbeat_free(struct proto_heartbeat *m);
void proto_msg_free(struct proto_msg *m);

/* Deep copies (for callers that keep a message past its buffer). */
void proto_sysprep_copy(struct proto_sysprep *dst, const struct proto_sysprep *src);

#endif
