/* wire.h - proto's internal msgpack toolkit: a validating walk, a reader over
 * validated bytes, and a few pack helpers.  Internal to proto/ (messages.c,
 * rpc.c, ...); other modules use proto.h.
 *
 * Reading a message is two steps:
 *
 *   1. wire_open() walks the raw bytes once without trusting them: total size
 *      <= PROTO_MAX_BYTES, container depth <= PROTO_MAX_DEPTH, every length
 *      and count checked against the bytes that remain (a count of N needs at
 *      least N more bytes, 2N for a map), the reserved byte 0xc1 refused,
 *      every map key a string, no duplicate keys in any map, nothing after
 *      the top-level object, and the top-level object a map.  Only then does
 *      it hand out the root map.
 *   2. The wire_map_* getters read typed values by key from that map.  They
 *      never allocate unless they return an owned copy (strings, arrays).
 *
 * Paths: every map and array handed out carries its key path ("job.args.dst",
 * "template.create.disks[1]") so that a failure writes a `why` such as
 *     job.args.dst.vol_id: not a canonical UUID
 * into the caller's buffer (ERR_WHY_LEN bytes; `why` may be NULL).
 *
 * Getter convention: `flags` is WIRE_REQUIRED or WIRE_OPTIONAL.  Getters
 * return 1 when the key was present and read, 0 when it is absent and
 * optional (the output is left untouched), or a negative code:
 *   -VMS_E_MSG_MISSING_KEY  required key absent
 *   -VMS_E_MSG_BAD_TYPE     present with the wrong msgpack type
 *   -VMS_E_MSG_BAD_VALUE    out of range, too long, bad characters, unknown enum
 *   -VMS_E_BAD_UUID         a uuid key that is not canonical lowercase
 * Owned outputs (char *, arrays) are malloc'd; on failure nothing is
 * allocated.  A nil value counts as present with the wrong type.
 *
 * Strings read by the getters must be valid UTF-8 without NUL bytes (they are
 * returned NUL-terminated).  Unknown keys are never looked at, so they may
 * hold any msgpack type.
 */
#ifndef VMSEAL_PROTO_WIRE_H
#define VMSEAL_PROTO_WIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <msgpack.h>

#include "proto.h"

#define WIRE_PATH_LEN 128

enum wire_type { WIRE_NIL, WIRE_BOOL, WIRE_INT, WIRE_FLOAT, WIRE_STR, WIRE_BIN, WIRE_ARRAY, WIRE_MAP, WIRE_EXT };

/* One value inside validated bytes. */
struct wire_val {
    enum wire_type type;
    const uint8_t *body; /* STR/BIN/EXT: the payload; ARRAY/MAP: first element */
    size_t n;            /* STR/BIN/EXT: bytes; ARRAY: elements; MAP: pairs */
    int64_t i;           /* INT (see big) */
    bool big;            /* INT: a uint64 above INT64_MAX (i is then meaningless) */
    bool b;              /* BOOL */
};

struct wire_map {
    const uint8_t *body; /* first key */
    size_t n_pairs;
    char path[WIRE_PATH_LEN];
};

/* An array being read element by element with wire_array_next_*(). */
struct wire_array {
    const uint8_t *next; /* the element wire_array_next_* reads next */
    size_t n, i;
    char path[WIRE_PATH_LEN];
};

enum { WIRE_OPTIONAL = 0, WIRE_REQUIRED = 1 };

/* Step 1: validate buf and open its root map, named `root` in paths
 * ("message" until the type is known).  Errors: -VMS_E_MSG_TOO_BIG,
 * -VMS_E_MSG_TOO_DEEP, -VMS_E_MSG_TRUNCATED (a length or count beyond the end),
 * -VMS_E_MSG_TRAILING, -VMS_E_INVALID (non-string or duplicate key, byte 0xc1),
 * -VMS_E_MSG_BAD_TYPE (the root is not a map). */
int wire_open(const void *buf, size_t len, const char *root, struct wire_map *ret, char *why);

/* Low level, over bytes already validated by wire_open():
 * wire_head() decodes the header at p (avail readable bytes) into v and
 * returns its length, 0 when the header is cut short, -1 for byte 0xc1;
 * wire_skip() returns the first byte after the value at p. */
ssize_t wire_head(const uint8_t *p, size_t avail, struct wire_val *v);
const uint8_t *wire_skip(const uint8_t *p);
const char *wire_type_name(enum wire_type t);

/* Rename a map's path (e.g. from "message" to "job" once the type is read). */
void wire_map_rename(struct wire_map *m, const char *path);

/* Raw lookup: true and *ret filled when `key` is in m. */
bool wire_map_find(const struct wire_map *m, const char *key, struct wire_val *ret);

/* Write "<path>.<key>: <reason>" into why (either of path/key may be empty). */
void wire_why(char *why, const char *path, const char *key, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Scalars.  max_len is in bytes; min_len 0 allows "". */
int wire_map_str(const struct wire_map *m, const char *key, int flags, size_t min_len, size_t max_len, char **ret,
                 char *why);
/* A string matched against `charset` (each byte must be in it; NULL = any). */
int wire_map_name(const struct wire_map *m, const char *key, int flags, size_t min_len, size_t max_len,
                  const char *charset, char **ret, char *why);
int wire_map_uuid(const struct wire_map *m, const char *key, int flags, proto_uuid ret, char *why);
int wire_map_int(const struct wire_map *m, const char *key, int flags, int64_t min, int64_t max, int64_t *ret,
                 char *why);
int wire_map_bool(const struct wire_map *m, const char *key, int flags, bool *ret, char *why);
/* A string that must be one of names[0..n_names-1] (NULL entries skipped);
 * *ret is its index. */
int wire_map_enum(const struct wire_map *m, const char *key, int flags, const char *const *names, size_t n_names,
                  int *ret, char *why);

/* Containers: ret carries the child path "<path>.<key>". */
int wire_map_map(const struct wire_map *m, const char *key, int flags, struct wire_map *ret, char *why);
int wire_map_array(const struct wire_map *m, const char *key, int flags, size_t min_n, size_t max_n,
                   struct wire_array *ret, char *why);
/* Next element of an array as a map (path "<path>[i]"), or as a string /
 * uuid with the same rules as the map getters.  Call exactly a->n times. */
int wire_array_next_map(struct wire_array *a, struct wire_map *ret, char *why);
int wire_array_next_name(struct wire_array *a, size_t min_len, size_t max_len, const char *charset, char **ret,
                         char *why);
int wire_array_next_uuid(struct wire_array *a, proto_uuid ret, char *why);

/* The array under key (required, 0..max_n elements), each element a map
 * handed to read_cb with the next of the array's items (item_size bytes
 * each, calloc'd into *ret).  *ret_n counts the items read_cb was called
 * on, also on failure: the caller frees partial arrays with its *_free. */
typedef int (*wire_item_read_cb)(const struct wire_map *m, void *item, char *why);
int wire_map_array_read(const struct wire_map *m, const char *key, size_t max_n, size_t item_size,
                        wire_item_read_cb read_cb, void **ret, size_t *ret_n, char *why);

/* Whole arrays of strings / uuids (n_min..n_max items); owned copies. */
int wire_map_name_array(const struct wire_map *m, const char *key, int flags, size_t min_n, size_t max_n,
                        size_t min_len, size_t max_len, const char *charset, char ***ret, size_t *ret_n,
                        char *why);
int wire_map_uuid_array(const struct wire_map *m, const char *key, int flags, size_t min_n, size_t max_n,
                        proto_uuid **ret, size_t *ret_n, char *why);

/* Iterate a map's pairs in wire order: *ret_key / *ret_key_len point into
 * the buffer (not NUL-terminated).  Returns false after the last pair. */
struct wire_map_iter {
    const uint8_t *p;
    size_t i;
};
bool wire_map_iter_next(const struct wire_map *m, struct wire_map_iter *it, const char **ret_key,
                        size_t *ret_key_len, struct wire_val *ret_val);

/* Check a string value against min_len..max_len bytes, UTF-8 without NUL,
 * and charset; path/key only name it in why. */
int wire_check_str(const struct wire_val *v, const char *path, const char *key, size_t min_len, size_t max_len,
                   const char *charset, char *why);

/* Character sets for wire_map_name().  NULL allows any UTF-8 text;
 * wire_cs_text (compared by address) any UTF-8 text without control
 * characters (no newline: such strings end up in line-based files). */
extern const char wire_cs_text[];
#define WIRE_CS_LOWER_NAME "abcdefghijklmnopqrstuvwxyz0123456789-"  /* sysprep op names */
#define WIRE_CS_POOL       "abcdefghijklmnopqrstuvwxyz0123456789_-" /* pool names */

/* RFC 1123 host name: labels of [A-Za-z0-9-]{1,63}, not starting or ending
 * with '-', separated by dots, at most 253 bytes. */
bool wire_hostname_valid(const char *s);

/* ---- packing ------------------------------------------------------------
 * A packer writes into a growing malloc'd buffer (allocation failure aborts,
 * see err.h), so the pack helpers cannot fail.  Keys are written in the
 * order the encoder calls them: encoders use one fixed order, which makes
 * their output deterministic (the golden vectors pin it). */
struct wire_packer {
    char *data;
    size_t len, cap;
    msgpack_packer pk;
};

void wire_pack_init(struct wire_packer *w);
/* Hand the bytes to the caller (*ret_buf malloc'd) and reset w. */
void wire_pack_finish(struct wire_packer *w, char **ret_buf, size_t *ret_len);
/* The end of an encoder that decoded its own bytes: check is the decoder's
 * result.  0: as wire_pack_finish; negative: the bytes are freed and check
 * is returned. */
int wire_pack_finish_checked(struct wire_packer *w, int check, char **ret_buf, size_t *ret_len);
void wire_pack_free(struct wire_packer *w);

/* The common head: a map header of 2 + n_more pairs, then "v": 1 and
 * "type": type.  The caller then writes exactly n_more pairs. */
void wire_pack_head(struct wire_packer *w, const char *type, size_t n_more);
void wire_pack_map(struct wire_packer *w, size_t n_pairs);
void wire_pack_array(struct wire_packer *w, size_t n);
void wire_pack_str(struct wire_packer *w, const char *s);
void wire_pack_int(struct wire_packer *w, int64_t i);
void wire_pack_bool(struct wire_packer *w, bool b);
/* key + value in one call; a NULL string packs as "", a NULL array as [] */
void wire_pack_kv_str(struct wire_packer *w, const char *key, const char *s);
void wire_pack_kv_int(struct wire_packer *w, const char *key, int64_t i);
void wire_pack_kv_bool(struct wire_packer *w, const char *key, bool b);
void wire_pack_kv_str_array(struct wire_packer *w, const char *key, char *const *v, size_t n);
void wire_pack_kv_uuid_array(struct wire_packer *w, const char *key, const proto_uuid *v, size_t n);

#endif
