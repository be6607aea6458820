/* wire_read.c - typed getters over bytes validated by wire_open().
 *
 * Every pointer here stays inside the validated buffer: wire_open() checked
 * each header and length, so headers are decoded with an unbounded `avail`.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "util.h"
#include "wire.h"

/* Paths are cut at WIRE_PATH_LEN - 1 bytes: they only name things in `why`. */
static void path_set(char out[WIRE_PATH_LEN], const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void path_set(char out[WIRE_PATH_LEN], const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(out, WIRE_PATH_LEN, fmt, ap);
    va_end(ap);
}

void wire_map_rename(struct wire_map *m, const char *path) { path_set(m->path, "%s", path); }

static void path_join(char out[WIRE_PATH_LEN], const char *path, const char *key) {
    path_set(out, "%s.%s", path, key);
}

bool wire_map_iter_next(const struct wire_map *m, struct wire_map_iter *it, const char **ret_key,
                        size_t *ret_key_len, struct wire_val *ret_val) {
    if (it->i == 0 && !it->p)
        it->p = m->body;
    if (it->i >= m->n_pairs)
        return false;
    struct wire_val k;
    ssize_t hl = wire_head(it->p, SIZE_MAX, &k);
    *ret_key = (const char *)k.body;
    *ret_key_len = k.n;
    const uint8_t *vp = it->p + hl + k.n;
    wire_head(vp, SIZE_MAX, ret_val);
    it->p = wire_skip(vp);
    it->i++;
    return true;
}

bool wire_map_find(const struct wire_map *m, const char *key, struct wire_val *ret) {
    size_t klen = strlen(key);
    struct wire_map_iter it = { 0 };
    const char *k;
    size_t kn;
    while (wire_map_iter_next(m, &it, &k, &kn, ret))
        if (kn == klen && memcmp(k, key, klen) == 0)
            return true;
    return false;
}

/* Find key with the expected type; 1 found, 0 absent+optional, <0 error. */
static int get(const struct wire_map *m, const char *key, int flags, enum wire_type type, struct wire_val *v,
               char *why) {
    if (!wire_map_find(m, key, v)) {
        if (flags & WIRE_REQUIRED) {
            wire_why(why, m->path, key, "missing");
            return -VMS_E_MSG_MISSING_KEY;
        }
        return 0;
    }
    if (v->type != type) {
        wire_why(why, m->path, key, "expected %s %s, got %s", type == WIRE_INT || type == WIRE_ARRAY ? "an" : "a",
                 type == WIRE_INT ? "integer" : wire_type_name(type), wire_type_name(v->type));
        return -VMS_E_MSG_BAD_TYPE;
    }
    return 1;
}

/* Valid UTF-8 (no overlongs, no surrogates) without NUL bytes. */
static bool utf8_valid(const uint8_t *s, size_t n) {
    size_t i = 0;
    while (i < n) {
        uint8_t c = s[i];
        size_t len;
        uint32_t cp;
        if (c == 0)
            return false;
        if (c < 0x80) {
            i++;
            continue;
        }
        if ((c & 0xe0) == 0xc0) {
            len = 2;
            cp = c & 0x1f;
        } else if ((c & 0xf0) == 0xe0) {
            len = 3;
            cp = c & 0x0f;
        } else if ((c & 0xf8) == 0xf0) {
            len = 4;
            cp = c & 0x07;
        } else
            return false;
        if (n - i < len)
            return false;
        for (size_t j = 1; j < len; j++) {
            if ((s[i + j] & 0xc0) != 0x80)
                return false;
            cp = (cp << 6) | (s[i + j] & 0x3f);
        }
        if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) || cp > 0x10ffff ||
            (cp >= 0xd800 && cp <= 0xdfff))
            return false;
        i += len;
    }
    return true;
}

const char wire_cs_text[] = "";

int wire_check_str(const struct wire_val *v, const char *path, const char *key, size_t min_len, size_t max_len,
                   const char *charset, char *why) {
    if (v->n < min_len || v->n > max_len) {
        if (min_len == 1 && v->n == 0)
            wire_why(why, path, key, "must not be empty");
        else
            wire_why(why, path, key, "%zu bytes, must be %zu..%zu", v->n, min_len, max_len);
        return -VMS_E_MSG_BAD_VALUE;
    }
    if (!utf8_valid(v->body, v->n)) {
        wire_why(why, path, key, "not valid UTF-8 text (or contains a NUL byte)");
        return -VMS_E_MSG_BAD_VALUE;
    }
    if (charset == wire_cs_text) {
        for (size_t i = 0; i < v->n; i++)
            if (v->body[i] < 0x20 || v->body[i] == 0x7f) {
                wire_why(why, path, key, "control character at byte %zu", i);
                return -VMS_E_MSG_BAD_VALUE;
            }
    } else if (charset)
        for (size_t i = 0; i < v->n; i++)
            if (!strchr(charset, v->body[i])) {
                wire_why(why, path, key, "invalid character at byte %zu (allowed: %s)", i, charset);
                return -VMS_E_MSG_BAD_VALUE;
            }
    return 0;
}

int wire_map_name(const struct wire_map *m, const char *key, int flags, size_t min_len, size_t max_len,
                  const char *charset, char **ret, char *why) {
    struct wire_val v;
    int r = get(m, key, flags, WIRE_STR, &v, why);
    if (r <= 0)
        return r;
    r = wire_check_str(&v, m->path, key, min_len, max_len, charset, why);
    if (r < 0)
        return r;
    *ret = xstrndup((const char *)v.body, v.n);
    return 1;
}

int wire_map_str(const struct wire_map *m, const char *key, int flags, size_t min_len, size_t max_len, char **ret,
                 char *why) {
    return wire_map_name(m, key, flags, min_len, max_len, NULL, ret, why);
}

static int uuid_from(const struct wire_val *v, const char *path, const char *key, proto_uuid ret, char *why) {
    if (v->type != WIRE_STR) {
        wire_why(why, path, key, "expected a string, got %s", wire_type_name(v->type));
        return -VMS_E_MSG_BAD_TYPE;
    }
    if (!uuid_is_canonical_n((const char *)v->body, v->n)) {
        wire_why(why, path, key, "not a canonical UUID");
        return -VMS_E_BAD_UUID;
    }
    memcpy(ret, v->body, VMS_UUID_STRLEN);
    ret[VMS_UUID_STRLEN] = '\0';
    return 1;
}

int wire_map_uuid(const struct wire_map *m, const char *key, int flags, proto_uuid ret, char *why) {
    struct wire_val v;
    int r = get(m, key, flags, WIRE_STR, &v, why);
    if (r <= 0)
        return r;
    return uuid_from(&v, m->path, key, ret, why);
}

int wire_map_int(const struct wire_map *m, const char *key, int flags, int64_t min, int64_t max, int64_t *ret,
                 char *why) {
    struct wire_val v;
    int r = get(m, key, flags, WIRE_INT, &v, why);
    if (r <= 0)
        return r;
    if (v.big || v.i < min || v.i > max) {
        if (v.big)
            wire_why(why, m->path, key, "too large, must be %lld..%lld", (long long)min, (long long)max);
        else
            wire_why(why, m->path, key, "%lld out of range, must be %lld..%lld", (long long)v.i, (long long)min,
                     (long long)max);
        return -VMS_E_MSG_BAD_VALUE;
    }
    *ret = v.i;
    return 1;
}

int wire_map_bool(const struct wire_map *m, const char *key, int flags, bool *ret, char *why) {
    struct wire_val v;
    int r = get(m, key, flags, WIRE_BOOL, &v, why);
    if (r <= 0)
        return r;
    *ret = v.b;
    return 1;
}

int wire_map_enum(const struct wire_map *m, const char *key, int flags, const char *const *names, size_t n_names,
                  int *ret, char *why) {
    struct wire_val v;
    int r = get(m, key, flags, WIRE_STR, &v, why);
    if (r <= 0)
        return r;
    for (size_t i = 0; i < n_names; i++)
        if (names[i] && strlen(names[i]) == v.n && memcmp(names[i], v.body, v.n) == 0) {
            *ret = (int)i;
            return 1;
        }
    char shown[48];
    size_t n = v.n < sizeof(shown) - 1 ? v.n : sizeof(shown) - 1;
    for (size_t i = 0; i < n; i++)
        shown[i] = v.body[i] >= 0x20 && v.body[i] < 0x7f ? (char)v.body[i] : '?';
    shown[n] = '\0';
    wire_why(why, m->path, key, "unknown value \"%s\"", shown);
    return -VMS_E_MSG_BAD_VALUE;
}

int wire_map_map(const struct wire_map *m, const char *key, int flags, struct wire_map *ret, char *why) {
    struct wire_val v;
    int r = get(m, key, flags, WIRE_MAP, &v, why);
    if (r <= 0)
        return r;
    ret->body = v.body;
    ret->n_pairs = v.n;
    path_join(ret->path, m->path, key);
    return 1;
}

int wire_map_array(const struct wire_map *m, const char *key, int flags, size_t min_n, size_t max_n,
                   struct wire_array *ret, char *why) {
    struct wire_val v;
    int r = get(m, key, flags, WIRE_ARRAY, &v, why);
    if (r <= 0)
        return r;
    if (v.n < min_n || v.n > max_n) {
        wire_why(why, m->path, key, "%zu elements, must be %zu..%zu", v.n, min_n, max_n);
        return -VMS_E_MSG_BAD_VALUE;
    }
    ret->next = v.body;
    ret->n = v.n;
    ret->i = 0;
    path_join(ret->path, m->path, key);
    return 1;
}

/* Decode the next element and name it "<path>[i]" in elem_path. */
static void array_next(struct wire_array *a, struct wire_val *v, char elem_path[WIRE_PATH_LEN]) {
    path_set(elem_path, "%s[%zu]", a->path, a->i);
    wire_head(a->next, SIZE_MAX, v);
    a->next = wire_skip(a->next);
    a->i++;
}

int wire_array_next_map(struct wire_array *a, struct wire_map *ret, char *why) {
    struct wire_val v;
    array_next(a, &v, ret->path);
    if (v.type != WIRE_MAP) {
        wire_why(why, ret->path, NULL, "expected a map, got %s", wire_type_name(v.type));
        return -VMS_E_MSG_BAD_TYPE;
    }
    ret->body = v.body;
    ret->n_pairs = v.n;
    return 1;
}

int wire_array_next_name(struct wire_array *a, size_t min_len, size_t max_len, const char *charset, char **ret,
                         char *why) {
    struct wire_val v;
    char path[WIRE_PATH_LEN];
    array_next(a, &v, path);
    if (v.type != WIRE_STR) {
        wire_why(why, path, NULL, "expected a string, got %s", wire_type_name(v.type));
        return -VMS_E_MSG_BAD_TYPE;
    }
    int r = wire_check_str(&v, path, NULL, min_len, max_len, charset, why);
    if (r < 0)
        return r;
    *ret = xstrndup((const char *)v.body, v.n);
    return 1;
}

int wire_array_next_uuid(struct wire_array *a, proto_uuid ret, char *why) {
    struct wire_val v;
    char path[WIRE_PATH_LEN];
    array_next(a, &v, path);
    return uuid_from(&v, path, NULL, ret, why);
}

int wire_map_name_array(const struct wire_map *m, const char *key, int flags, size_t min_n, size_t max_n,
                        size_t min_len, size_t max_len, const char *charset, char ***ret, size_t *ret_n,
                        char *why) {
    struct wire_array a;
    int r = wire_map_array(m, key, flags, min_n, max_n, &a, why);
    if (r <= 0)
        return r;
    char **items = xcalloc(a.n ? a.n : 1, sizeof(*items));
    for (size_t i = 0; i < a.n; i++) {
        r = wire_array_next_name(&a, min_len, max_len, charset, &items[i], why);
        if (r < 0) {
            for (size_t j = 0; j < i; j++)
                free(items[j]);
            free(items);
            return r;
        }
    }
    *ret = items;
    *ret_n = a.n;
    return 1;
}

int wire_map_uuid_array(const struct wire_map *m, const char *key, int flags, size_t min_n, size_t max_n,
                        proto_uuid **ret, size_t *ret_n, char *why) {
    struct wire_array a;
    int r = wire_map_array(m, key, flags, min_n, max_n, &a, why);
    if (r <= 0)
        return r;
    proto_uuid *items = xcalloc(a.n ? a.n : 1, sizeof(*items));
    for (size_t i = 0; i < a.n; i++) {
        r = wire_array_next_uuid(&a, items[i], why);
        if (r < 0) {
            free(items);
            return r;
        }
    }
    *ret = items;
    *ret_n = a.n;
    return 1;
}

bool wire_hostname_valid(const char *s) { return hostname_is_valid(s); }

int wire_map_array_read(const struct wire_map *m, const char *key, size_t max_n, size_t item_size,
                        wire_item_read_cb read_cb, void **ret, size_t *ret_n, char *why) {
    struct wire_array a;
    int r = wire_map_array(m, key, WIRE_REQUIRED, 0, max_n, &a, why);
    if (r < 0)
        return r;
    char *items = xcalloc(a.n ? a.n : 1, item_size);
    *ret = items;
    *ret_n = 0;
    for (size_t i = 0; i < a.n && r >= 0; i++) {
        struct wire_map e;
        r = wire_array_next_map(&a, &e, why);
        if (r >= 0) {
            *ret_n = i + 1;
            r = read_cb(&e, items + i * item_size, why);
        }
    }
    return r < 0 ? r : 0;
}
