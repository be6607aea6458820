/* catalogue.c - see catalogue.h */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "catalogue.h"
#include "mp.h"
#include "util.h"

static void add_raw(struct catalogue *c, const char *name, const void *body, size_t len, const char *code) {
    if (c->n == c->cap) {
        c->cap = c->cap ? 2 * c->cap : 64;
        c->v = xrealloc(c->v, c->cap * sizeof(*c->v));
    }
    struct hostile_msg *m = &c->v[c->n++];
    memset(m, 0, sizeof *m);
    m->name = xstrdup(name);
    m->body = xmalloc(len ? len : 1);
    if (len)
        memcpy(m->body, body, len);
    m->len = len;
    m->expect_code = code;
    uuid_new(m->id);
}

/* The mp text of base with key `key` replaced by `value` (NULL = dropped). */
static char *text_with(const struct hostile_kv *base, size_t n, const char *key, const char *value) {
    size_t cap = 256;
    for (size_t i = 0; i < n; i++)
        cap += strlen(base[i].key) + strlen(base[i].value) + 8;
    cap += (key ? strlen(key) : 0) + (value ? strlen(value) : 0) + 8;
    char *s = xmalloc(cap), *p = s;
    bool found = false, first = true;
    p += sprintf(p, "{");
    for (size_t i = 0; i < n; i++) {
        const char *v = base[i].value;
        if (key && strcmp(base[i].key, key) == 0) {
            found = true;
            if (!value)
                continue;
            v = value;
        }
        p += sprintf(p, "%s'%s':%s", first ? "" : ", ", base[i].key, v);
        first = false;
    }
    if (key && !found && value)
        p += sprintf(p, "%s'%s':%s", first ? "" : ", ", key, value);
    sprintf(p, "}");
    return s;
}

static void add_text(struct catalogue *c, const char *name, const char *text, const char *code) {
    size_t len;
    char *b = mp(text, &len);
    add_raw(c, name, b, len, code);
    free(b);
}

void catalogue_add_with(struct catalogue *c, const char *name, const struct hostile_kv *base, size_t n,
                        const char *key, const char *value, const char *expect_code) {
    char *t = text_with(base, n, key, value);
    add_text(c, name, t, expect_code);
    free(t);
}

/* The base message (a fixmap) with one more key whose value is raw bytes. */
static void add_extra(struct catalogue *c, const char *name, const char *base_bytes, size_t base_len,
                      const void *val, size_t val_len) {
    size_t len = base_len + 8 + val_len;
    char *b = xmalloc(len), *p = b;
    memcpy(p, base_bytes, base_len);
    b[0] = (char)((unsigned char)b[0] + 1); /* fixmap count + 1 */
    p += base_len;
    *p++ = (char)0xa1;
    *p++ = 'x';
    memcpy(p, val, val_len);
    p += val_len;
    add_raw(c, name, b, (size_t)(p - b), NULL);
    free(b);
}

void catalogue_build(struct catalogue *c, const struct hostile_kv *base, size_t n) {
    char *t = text_with(base, n, NULL, NULL);
    size_t blen;
    char *b = mp(t, &blen);
    free(t);
    char *two = xmalloc(2 * blen + 1);

    /* ---- structure ---- */
    add_raw(c, "empty body", "", 0, NULL);
    add_raw(c, "byte 0xc1 (never used)", "\xc1", 1, NULL);
    add_raw(c, "truncated to half", b, blen / 2, NULL);
    add_raw(c, "truncated by one byte", b, blen - 1, NULL);
    memcpy(two, b, blen);
    two[blen] = 0;
    add_raw(c, "one trailing byte", two, blen + 1, NULL);
    memcpy(two + blen, b, blen);
    add_raw(c, "two messages in one", two, 2 * blen, NULL);
    free(two);

    size_t big = PROTO_MAX_BYTES + 16;
    char *pad = xcalloc(1, big + 5);
    pad[0] = (char)0xc6; /* bin32 */
    pad[1] = (char)(big >> 24), pad[2] = (char)(big >> 16), pad[3] = (char)(big >> 8), pad[4] = (char)big;
    add_extra(c, "oversize (> 1 MiB)", b, blen, pad, big + 5);
    free(pad);

    char deep[201];
    memset(deep, 0x91, 200); /* [[[[...0...]]]] */
    deep[200] = 0;
    add_extra(c, "nesting depth 200", b, blen, deep, 201);
    add_extra(c, "nesting depth 17", b, blen, deep + 200 - 16, 17);
    add_extra(c, "array claiming 4G elements", b, blen, "\xdd\xff\xff\xff\xff", 5);
    add_extra(c, "map claiming 4G pairs", b, blen, "\xdf\xff\xff\xff\xff", 5);
    add_extra(c, "string claiming 2 GiB", b, blen, "\xdb\x7f\xff\xff\xff", 5);
    add_extra(c, "bin claiming 4 GiB", b, blen, "\xc6\xff\xff\xff\xf0", 5);
    add_extra(c, "array of 65535 claimed, 3 present", b, blen, "\xdc\xff\xff\x01\x02\x03", 6);
    add_raw(c, "root map claiming 4G pairs", "\xdf\xff\xff\xff\xff\xa1v\x01", 8, NULL);

    add_text(c, "root is an array", "[1, 'job', {v:1}]", NULL);
    add_raw(c, "root is an integer", "\x01", 1, NULL);
    add_text(c, "root is a string", "'job'", NULL);
    add_raw(c, "root is nil", "\xc0", 1, NULL);
    add_text(c, "integer keys", "{1:1, 2:'job'}", NULL);
    {
        char *d = xmalloc(blen + 4);
        memcpy(d, b, blen);
        d[0] = (char)((unsigned char)d[0] + 1);
        memcpy(d + blen, "\xa1v\x01", 3);
        add_raw(c, "duplicate key v", d, blen + 3, NULL);
        free(d);
    }
    add_raw(c, "ext type value", "\x82\xa1v\x01\xa4type\xd4\x01\x02", 12, NULL);

    /* ---- version and type ---- */
    catalogue_add_with(c, "v missing", base, n, "v", NULL, NULL);
    catalogue_add_with(c, "v = 2", base, n, "v", "2", NULL);
    catalogue_add_with(c, "v = '1' (string)", base, n, "v", "'1'", NULL);
    catalogue_add_with(c, "v = 1.0 (float)", base, n, "v", "1.0", NULL);
    catalogue_add_with(c, "v = -1", base, n, "v", "-1", NULL);
    catalogue_add_with(c, "v = 2^64-1", base, n, "v", "18446744073709551615", NULL);
    catalogue_add_with(c, "type missing", base, n, "type", NULL, NULL);
    catalogue_add_with(c, "type = 123", base, n, "type", "123", NULL);
    catalogue_add_with(c, "type unknown", base, n, "type", "'template.destroy'", NULL);
    catalogue_add_with(c, "type is a map", base, n, "type", "{a:1}", NULL);
    catalogue_add_with(c, "type of another message", base, n, "type", "'worker.heartbeat'", NULL);

    /* ---- every key: missing, wrong type, nil ---- */
    char name[128];
    for (size_t i = 0; i < n; i++) {
        if (strcmp(base[i].key, "v") == 0 || strcmp(base[i].key, "type") == 0)
            continue;
        snprintf(name, sizeof name, "%s missing", base[i].key);
        catalogue_add_with(c, name, base, n, base[i].key, NULL, NULL);
        snprintf(name, sizeof name, "%s wrong type", base[i].key);
        catalogue_add_with(c, name, base, n, base[i].key, base[i].value[0] == '\'' ? "[1,2]" : "'a string'", NULL);
        snprintf(name, sizeof name, "%s nil", base[i].key);
        catalogue_add_with(c, name, base, n, base[i].key, "nil", NULL);
    }

    /* ---- noise ---- */
    uint32_t x = 0x9e3779b9u;
    char rnd[512];
    for (size_t i = 0; i < sizeof rnd; i++) {
        x ^= x << 13, x ^= x >> 17, x ^= x << 5;
        rnd[i] = (char)x;
    }
    add_raw(c, "512 random bytes", rnd, sizeof rnd, NULL);
    const char *json = "{\"v\": 1, \"type\": \"job\"}";
    add_raw(c, "JSON text", json, strlen(json), NULL);
    free(b);
}

void catalogue_free(struct catalogue *c) {
    for (size_t i = 0; i < c->n; i++) {
        free(c->v[i].name);
        free(c->v[i].body);
    }
    free(c->v);
    memset(c, 0, sizeof *c);
}
