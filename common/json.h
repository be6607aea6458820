/* json.h - a small streaming JSON writer (vmsealctl --json, the seal
 * report of `vmseal-worker seal --report`).
 *
 * Strings are escaped: '"', '\\', and every control character (as \n, \t,
 * \r or \u00XX), so names chosen by a guest cannot break the document;
 * other bytes are copied as they are.  Output errors show on the FILE
 * (ferror), checked by the caller.
 */
#ifndef VMSEAL_JSON_H
#define VMSEAL_JSON_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

/* Streams one value to f; commas and nesting are tracked.  In an object,
 * every call takes the member's key; in an array key is NULL. */
#define JSON_MAX_DEPTH 32
struct json {
    FILE *f;
    int depth;
    bool first[JSON_MAX_DEPTH];
    char closer[JSON_MAX_DEPTH];
};
void json_begin(struct json *j, FILE *f);
void json_obj_open(struct json *j, const char *key);
void json_arr_open(struct json *j, const char *key);
void json_close(struct json *j);                                 /* the innermost object or array */
void json_str(struct json *j, const char *key, const char *val); /* NULL -> null */
void json_int(struct json *j, const char *key, int64_t val);
void json_bool(struct json *j, const char *key, bool val);
void json_null(struct json *j, const char *key);
void json_end(struct json *j); /* newline; flush */

#endif
