/* err.h - the one error convention of vmseal.
 *
 * Every function that can fail returns int: 0 on success, or a negative code.
 * A negative code is either -errno (system errors) or one of the project codes
 * below, which live far from the errno range.  err_str() names any of them;
 * err_name() gives the stable symbolic name used on the wire (event error.code).
 *
 * Out-of-memory policy: allocation failure aborts the process (see xmalloc()
 * in util.h).  A daemon cannot make progress without memory and every effect
 * is idempotent and redelivered, so dying is the safe, simple answer.
 */
#ifndef VMSEAL_ERR_H
#define VMSEAL_ERR_H

#include <stdbool.h>

/* X(SYMBOL, wire_name, permanent, message) */
#define VMS_ERRORS(X)                                                                                      \
    X(INVALID, "invalid", true, "invalid argument or message")                                             \
    X(MSG_TOO_BIG, "msg_too_big", true, "message larger than 1 MiB")                                       \
    X(MSG_TOO_DEEP, "msg_too_deep", true, "message nested deeper than 16")                                 \
    X(MSG_TRUNCATED, "msg_truncated", true, "message truncated")                                           \
    X(MSG_TRAILING, "msg_trailing", true, "trailing bytes after message")                                  \
    X(MSG_MISSING_KEY, "msg_missing_key", true, "required key missing")                                    \
    X(MSG_BAD_TYPE, "msg_bad_type", true, "key has the wrong type")                                        \
    X(MSG_BAD_VALUE, "msg_bad_value", true, "key has an invalid value")                                    \
    X(MSG_VERSION, "msg_version", true, "unsupported message version")                                     \
    X(BAD_UUID, "bad_uuid", true, "not a canonical lowercase UUID")                                        \
    X(UNKNOWN_DOMAIN, "unknown_domain", true, "storage domain not configured here")                        \
    X(PATH_ESCAPE, "path_escape", true, "path resolves outside the storage domain")                        \
    X(NO_VOLUME, "no_volume", true, "volume does not exist")                                               \
    X(VOLUME_EXISTS, "volume_exists", true, "volume already exists")                                       \
    X(BAD_META, "bad_meta", true, "volume metadata damaged")                                               \
    X(GENERATION_MISMATCH, "generation_mismatch", true, "volume generation mismatch")                      \
    X(VOLUME_SHARED, "volume_shared", true, "volume is SHARED and cannot change")                          \
    X(HAS_PARENT, "has_parent", true, "volume has a parent and cannot become SHARED")                      \
    X(NOT_OWNER, "not_owner", true, "volume not created by this template's workflow")                      \
    X(CONFIG, "config", true, "configuration error")                                                       \
    X(UNSUPPORTED_GUEST, "unsupported_guest", true, "guest operating system not supported")                \
    X(NO_ROOT, "no_root", true, "no Linux root filesystem found")                                          \
    X(MULTI_ROOT, "multi_root", true, "several root filesystems found")                                    \
    X(INCOMPLETE_GUEST, "incomplete_guest", true,                                                          \
      "a filesystem the guest mounts at boot is missing or does not mount")                                \
    X(ENCRYPTED_GUEST, "encrypted_guest", true, "encrypted (LUKS) filesystem: the guest cannot be sealed") \
    X(UNKNOWN_OP, "unknown_op", true, "unknown sysprep operation")                                         \
    X(GUESTFS, "guestfs", true, "libguestfs error")                                                        \
    X(QEMU_IMG, "qemu_img", false, "qemu-img failed")                                                      \
    X(TIMEOUT, "timeout", false, "timed out")                                                              \
    X(CANCELLED, "cancelled", true, "cancelled")                                                           \
    X(WORKER_LOST, "worker_lost", false, "worker lost")                                                    \
    X(BROKER, "broker", false, "broker error")                                                             \
    X(CONN_LOST, "conn_lost", false, "broker connection lost")                                             \
    X(ACCESS_REFUSED, "access_refused", true, "broker refused access")                                     \
    X(NACKED, "nacked", false, "broker refused the message (nack)")                                        \
    X(RETURNED, "returned", true, "message unroutable (returned)")                                         \
    X(STALE, "stale", false, "delivery belongs to a previous connection")                                  \
    X(DB, "db", false, "database error")                                                                   \
    X(DB_LOST, "db_lost", false, "database connection lost")                                               \
    X(LEASE_LOST, "lease_lost", false, "leadership lost: another producer is active")                      \
    X(NOT_FOUND, "not_found", true, "not found")                                                           \
    X(CONFLICT, "conflict", true, "conflicting request")                                                   \
    X(STATE, "state", true, "operation not allowed in this state")                                         \
    X(INTERNAL, "internal", false, "internal error")

enum {
    VMS_E__BASE = 10000,
#define VMS_ERR_ENUM(sym, name, perm, msg) VMS_E_##sym,
    VMS_ERRORS(VMS_ERR_ENUM)
#undef VMS_ERR_ENUM
        VMS_E__END
};

/* The text that travels with an error code: a function that can say more
 * than err_str() writes one line (NUL-terminated, truncated to fit) into the
 * caller's buffer `why` of ERR_WHY_LEN bytes, passed last (whether it may be
 * NULL, the function's header says).  An object that keeps its last error's text
 * gives it with *_why() (mq_why(), store_why()). */
#define ERR_WHY_LEN 512

/* Human message for 0, -errno or -VMS_E_*; never NULL. */
const char *err_str(int err);
/* Stable short name ("generation_mismatch", "ENOENT" for errno codes). */
const char *err_name(int err);
/* Whether retrying cannot help.  Errno codes count as transient except
 * EINVAL, ENOENT, EEXIST, EACCES, EPERM, ENOTDIR, EISDIR, ENAMETOOLONG, ELOOP. */
bool err_permanent(int err);

#endif
