/* catalogue.h - hostile messages for the vmseal queues (tests/hostile).
 *
 * A catalogue is built from one valid message given as key/value pairs in
 * the text form of tests/proto/mp.h.  It holds the structural attacks that
 * fit every queue (empty, truncated, trailing bytes, > 1 MiB, nesting deeper
 * than 16, counts and lengths far beyond the bytes that remain, non-map
 * roots, non-string and duplicate keys, wrong "v"/"type", random bytes,
 * JSON), then for each of the message's keys: missing, of the wrong type,
 * nil; then whatever the caller adds (ids with ../ or absolute paths, unknown
 * kinds, ...).  Each entry has a name for failure messages and a fresh
 * message id. */
#ifndef VMSEAL_TESTS_CATALOGUE_H
#define VMSEAL_TESTS_CATALOGUE_H

#include <stddef.h>

#include "proto.h"

struct hostile_msg {
    char *name;
    char *body;
    size_t len;
    proto_uuid id;           /* message_id (and correlation id for RPC) */
    const char *expect_code; /* for semantically hostile jobs: the failed event's code */
};

struct hostile_kv {
    const char *key;
    const char *value; /* mp text */
};

struct catalogue {
    struct hostile_msg *v;
    size_t n, cap;
};

/* The structural and per-key attacks on the message `base` (n pairs). */
void catalogue_build(struct catalogue *c, const struct hostile_kv *base, size_t n);
/* Add the base message with key `key` set to mp text `value` (added when
 * `key` is not in base); expect_code may be NULL. */
void catalogue_add_with(struct catalogue *c, const char *name, const struct hostile_kv *base, size_t n,
                        const char *key, const char *value, const char *expect_code);
void catalogue_free(struct catalogue *c);

#endif
