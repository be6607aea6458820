/* wire.c - the validating walk over untrusted msgpack bytes, and the
 * low-level header decoding shared with the reader (wire_read.c).
 *
 * msgpack-c has no size limits (FACTS: a 5-byte array header can make it
 * allocate gigabytes), so nothing here uses its unpacker: a hand-written
 * reader checks each header against the bytes that remain before believing
 * it.  The walk recurses once per container level, bounded by
 * PROTO_MAX_DEPTH + 1.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "util.h"
#include "wire.h"

/* ---- headers ---------------------------------------------------------- */

static uint64_t be(const uint8_t *p, size_t n) {
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++)
        v = (v << 8) | p[i];
    return v;
}

/* Decode the header at p (avail bytes readable).  Returns the header length
 * (> 0), 0 if the header itself is cut short, or -1 for the reserved 0xc1. */
ssize_t wire_head(const uint8_t *p, size_t avail, struct wire_val *v) {
    if (avail < 1)
        return 0;
    uint8_t b = p[0];
    memset(v, 0, sizeof(*v));
    size_t hl = 1, lenb = 0; /* header length, size of a length field */
    if (b <= 0x7f) {
        v->type = WIRE_INT;
        v->i = b;
    } else if (b <= 0x8f) {
        v->type = WIRE_MAP;
        v->n = b & 0x0f;
    } else if (b <= 0x9f) {
        v->type = WIRE_ARRAY;
        v->n = b & 0x0f;
    } else if (b <= 0xbf) {
        v->type = WIRE_STR;
        v->n = b & 0x1f;
    } else if (b >= 0xe0) {
        v->type = WIRE_INT;
        v->i = (int8_t)b;
    } else
        switch (b) {
        case 0xc0: v->type = WIRE_NIL; break;
        case 0xc1: return -1;
        case 0xc2:
        case 0xc3:
            v->type = WIRE_BOOL;
            v->b = b == 0xc3;
            break;
        case 0xc4:
        case 0xc5:
        case 0xc6:
            v->type = WIRE_BIN;
            lenb = 1u << (b - 0xc4);
            break;
        case 0xc7:
        case 0xc8:
        case 0xc9:
            v->type = WIRE_EXT;
            lenb = 1u << (b - 0xc7);
            break;
        case 0xca:
            v->type = WIRE_FLOAT;
            v->n = 4;
            hl = 1;
            break;
        case 0xcb:
            v->type = WIRE_FLOAT;
            v->n = 8;
            hl = 1;
            break;
        case 0xcc:
        case 0xcd:
        case 0xce:
        case 0xcf: {
            size_t k = 1u << (b - 0xcc);
            if (avail < 1 + k)
                return 0;
            uint64_t u = be(p + 1, k);
            v->type = WIRE_INT;
            v->big = u > INT64_MAX;
            v->i = v->big ? 0 : (int64_t)u;
            hl = 1 + k;
            break;
        }
        case 0xd0:
        case 0xd1:
        case 0xd2:
        case 0xd3: {
            size_t k = 1u << (b - 0xd0);
            if (avail < 1 + k)
                return 0;
            uint64_t u = be(p + 1, k);
            v->type = WIRE_INT;
            if (k == 1)
                v->i = (int8_t)u;
            else if (k == 2)
                v->i = (int16_t)u;
            else if (k == 4)
                v->i = (int32_t)u;
            else
                v->i = (int64_t)u;
            hl = 1 + k;
            break;
        }
        case 0xd4:
        case 0xd5:
        case 0xd6:
        case 0xd7:
        case 0xd8:
            v->type = WIRE_EXT;
            v->n = 1 + (1u << (b - 0xd4));
            break;
        case 0xd9:
        case 0xda:
        case 0xdb:
            v->type = WIRE_STR;
            lenb = 1u << (b - 0xd9);
            break;
        case 0xdc:
        case 0xdd:
            v->type = WIRE_ARRAY;
            lenb = 2u << (b - 0xdc);
            break;
        case 0xde:
        case 0xdf:
            v->type = WIRE_MAP;
            lenb = 2u << (b - 0xde);
            break;
        }
    if (lenb) {
        if (avail < 1 + lenb)
            return 0;
        v->n = (size_t)be(p + 1, lenb);
        hl = 1 + lenb;
        if (v->type == WIRE_EXT)
            v->n += 1; /* the ext type byte */
    }
    v->body = p + hl;
    return (ssize_t)hl;
}

const char *wire_type_name(enum wire_type t) {
    static const char *const names[] = {
        [WIRE_NIL] = "nil",     [WIRE_BOOL] = "bool",  [WIRE_INT] = "int",
        [WIRE_FLOAT] = "float", [WIRE_STR] = "string", [WIRE_BIN] = "bin",
        [WIRE_ARRAY] = "array", [WIRE_MAP] = "map",    [WIRE_EXT] = "ext",
    };
    return names[t];
}

static bool is_scalar_payload(enum wire_type t) {
    return t == WIRE_STR || t == WIRE_BIN || t == WIRE_EXT || t == WIRE_FLOAT;
}

/* Skip one value of validated bytes; iterative (a count of what is left). */
const uint8_t *wire_skip(const uint8_t *p) {
    size_t todo = 1;
    while (todo > 0) {
        struct wire_val v;
        ssize_t hl = wire_head(p, SIZE_MAX, &v);
        todo--;
        p += hl;
        if (v.type == WIRE_ARRAY)
            todo += v.n;
        else if (v.type == WIRE_MAP)
            todo += 2 * v.n;
        else if (is_scalar_payload(v.type))
            p += v.n;
    }
    return p;
}

/* ---- why -------------------------------------------------------------- */

static void why_vset(char *why, const char *path, const char *key, const char *fmt, va_list ap) {
    if (!why)
        return;
    int n = snprintf(why, ERR_WHY_LEN, "%s%s%s: ", path ? path : "", key && *key && path && *path ? "." : "",
                     key ? key : "");
    if (n < 0 || n >= ERR_WHY_LEN)
        return;
    vsnprintf(why + n, ERR_WHY_LEN - (size_t)n, fmt, ap);
}

void wire_why(char *why, const char *path, const char *key, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    why_vset(why, path, key, fmt, ap);
    va_end(ap);
}

/* ---- the walk ----------------------------------------------------------- */

/* The path to the value being walked, kept as a stack of frames and only
 * rendered into text when something fails (cheap for huge arrays). */
struct frame {
    const uint8_t *key; /* map member: key bytes; NULL for an array element */
    size_t key_len, index;
};

struct walk {
    const uint8_t *start, *p, *end;
    char *why;
    const char *root;
    struct frame frames[PROTO_MAX_DEPTH + 2];
    size_t n_frames;
};

struct span {
    const uint8_t *s;
    size_t n;
};

static int span_cmp(const void *a, const void *b) {
    const struct span *x = a, *y = b;
    if (x->n != y->n)
        return x->n < y->n ? -1 : 1;
    return memcmp(x->s, y->s, x->n);
}

static void path_push_key(struct walk *w, const uint8_t *s, size_t n) {
    w->frames[w->n_frames++] = (struct frame){ s, n, 0 };
}

static void path_push_index(struct walk *w, size_t i) { w->frames[w->n_frames++] = (struct frame){ NULL, 0, i }; }

static void path_pop(struct walk *w) { w->n_frames--; }

/* root.key[3].key ...; keys shown printable, at most 40 bytes each. */
static void path_render(const struct walk *w, char out[WIRE_PATH_LEN]) {
    size_t len = (size_t)snprintf(out, WIRE_PATH_LEN, "%s", w->root);
    for (size_t f = 0; f < w->n_frames && len + 1 < WIRE_PATH_LEN; f++) {
        const struct frame *fr = &w->frames[f];
        if (!fr->key) {
            int n = snprintf(out + len, WIRE_PATH_LEN - len, "[%zu]", fr->index);
            len = n > 0 && len + (size_t)n < WIRE_PATH_LEN ? len + (size_t)n : WIRE_PATH_LEN - 1;
            continue;
        }
        out[len++] = '.';
        for (size_t i = 0; i < fr->key_len && i < 40 && len + 1 < WIRE_PATH_LEN; i++)
            out[len++] = (fr->key[i] >= 0x20 && fr->key[i] < 0x7f) ? (char)fr->key[i] : '?';
        out[len] = '\0';
    }
}

static int walk_value(struct walk *w, int depth);

static int walk_fail(struct walk *w, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int walk_fail(struct walk *w, int code, const char *fmt, ...) {
    char path[WIRE_PATH_LEN];
    va_list ap;
    path_render(w, path);
    va_start(ap, fmt);
    why_vset(w->why, path, NULL, fmt, ap);
    va_end(ap);
    return code;
}

static int check_duplicates(struct walk *w, struct span *keys, size_t n) {
    qsort(keys, n, sizeof(*keys), span_cmp);
    for (size_t i = 1; i < n; i++)
        if (span_cmp(&keys[i - 1], &keys[i]) == 0) {
            path_push_key(w, keys[i].s, keys[i].n);
            return walk_fail(w, -VMS_E_INVALID, "duplicate key");
        }
    return 0;
}

static int walk_map(struct walk *w, size_t n, int depth) {
    struct span stack_keys[16];
    struct span *keys = n <= ARRAY_SIZE(stack_keys) ? stack_keys : xmalloc(n * sizeof(*keys));
    int r = 0;
    for (size_t i = 0; i < n && r == 0; i++) {
        struct wire_val k;
        ssize_t hl = wire_head(w->p, (size_t)(w->end - w->p), &k);
        if (hl > 0 && k.type != WIRE_STR) {
            r = walk_fail(w, -VMS_E_INVALID, "map key #%zu is not a string (%s)", i + 1, wire_type_name(k.type));
            break;
        }
        r = walk_value(w, depth); /* checks the key's length against the end */
        if (r < 0)
            break;
        keys[i] = (struct span){ k.body, k.n };
        path_push_key(w, k.body, k.n);
        r = walk_value(w, depth);
        if (r == 0)
            path_pop(w);
    }
    if (r == 0)
        r = check_duplicates(w, keys, n);
    if (keys != stack_keys)
        free(keys);
    return r;
}

static int walk_array(struct walk *w, size_t n, int depth) {
    for (size_t i = 0; i < n; i++) {
        path_push_index(w, i);
        int r = walk_value(w, depth);
        if (r < 0)
            return r;
        path_pop(w);
    }
    return 0;
}

/* depth: number of containers enclosing this value. */
static int walk_value(struct walk *w, int depth) {
    size_t avail = (size_t)(w->end - w->p);
    struct wire_val v;
    ssize_t hl = wire_head(w->p, avail, &v);
    if (hl < 0)
        return walk_fail(w, -VMS_E_INVALID, "reserved byte 0xc1");
    if (hl == 0)
        return walk_fail(w, -VMS_E_MSG_TRUNCATED, "truncated: the value at byte %zu is cut short",
                         (size_t)(w->p - w->start));
    w->p += hl;
    size_t rem = avail - (size_t)hl;
    const char *tn = wire_type_name(v.type);
    if (v.type == WIRE_ARRAY || v.type == WIRE_MAP) {
        if (depth + 1 > PROTO_MAX_DEPTH)
            return walk_fail(w, -VMS_E_MSG_TOO_DEEP, "nested deeper than %d", PROTO_MAX_DEPTH);
        size_t need_per = v.type == WIRE_MAP ? 2 : 1;
        if (v.n > rem / need_per)
            return walk_fail(w, -VMS_E_MSG_TRUNCATED, "%s claims %zu %s but only %zu bytes remain", tn, v.n,
                             v.type == WIRE_MAP ? "pairs" : "elements", rem);
        return v.type == WIRE_MAP ? walk_map(w, v.n, depth + 1) : walk_array(w, v.n, depth + 1);
    }
    if (is_scalar_payload(v.type)) {
        if (v.n > rem)
            return walk_fail(w, -VMS_E_MSG_TRUNCATED, "%s of %zu bytes but only %zu bytes remain", tn, v.n, rem);
        w->p += v.n;
    }
    return 0;
}

int wire_open(const void *buf, size_t len, const char *root, struct wire_map *ret, char *why) {
    struct walk w = { .start = buf, .p = buf, .end = (const uint8_t *)buf + len, .why = why, .root = root };
    memset(ret, 0, sizeof(*ret));
    if (!buf || len == 0) {
        wire_why(why, root, NULL, "empty message");
        return -VMS_E_MSG_TRUNCATED;
    }
    if (len > PROTO_MAX_BYTES) {
        wire_why(why, root, NULL, "%zu bytes, more than the %d allowed", len, PROTO_MAX_BYTES);
        return -VMS_E_MSG_TOO_BIG;
    }
    int r = walk_value(&w, 0);
    if (r < 0)
        return r;
    if (w.p != w.end) {
        wire_why(why, root, NULL, "%zu trailing bytes", (size_t)(w.end - w.p));
        return -VMS_E_MSG_TRAILING;
    }
    struct wire_val v;
    wire_head(buf, len, &v);
    if (v.type != WIRE_MAP) {
        wire_why(why, root, NULL, "expected a map, got %s", wire_type_name(v.type));
        return -VMS_E_MSG_BAD_TYPE;
    }
    ret->body = v.body;
    ret->n_pairs = v.n;
    wire_map_rename(ret, root);
    return 0;
}
