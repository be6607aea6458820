/* mp.c - see mp.h */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mp.h"
#include "wire.h"

struct parser {
    const char *s;
    struct wire_packer w;
};

static void fail(struct parser *p, const char *what) {
    fprintf(stderr, "mp: %s at \"%.20s\"\n", what, p->s);
    abort();
}

static void ws(struct parser *p) {
    while (isspace((unsigned char)*p->s))
        p->s++;
}

static void value(struct parser *p);

/* Count the elements of the container at p->s without consuming it. */
static size_t count_items(const char *s) {
    int depth = 0;
    size_t n = 0;
    bool any = false, in_str = false;
    for (; *s; s++) {
        if (in_str) {
            if (*s == '\\' && s[1])
                s++;
            else if (*s == '\'')
                in_str = false;
            continue;
        }
        if (*s == '\'')
            in_str = true;
        if (strchr("{[", *s)) {
            if (depth++ == 0)
                continue;
        } else if (strchr("}]", *s)) {
            if (--depth == 0)
                return any ? n + 1 : 0;
        } else if (*s == ',' && depth == 1) {
            n++;
            continue;
        }
        if (depth >= 1 && !isspace((unsigned char)*s))
            any = true;
    }
    return 0;
}

static void string(struct parser *p) {
    char buf[4096];
    size_t n = 0;
    p->s++;
    while (*p->s && *p->s != '\'') {
        if (*p->s == '\\')
            p->s++;
        if (n + 1 >= sizeof(buf))
            fail(p, "string too long");
        buf[n++] = *p->s++;
    }
    if (*p->s != '\'')
        fail(p, "unterminated string");
    p->s++;
    msgpack_pack_str(&p->w.pk, n);
    msgpack_pack_str_body(&p->w.pk, buf, n);
}

static void word(struct parser *p) {
    const char *b = p->s;
    while (isalnum((unsigned char)*p->s) || *p->s == '_' || *p->s == '.' || *p->s == '-')
        p->s++;
    size_t n = (size_t)(p->s - b);
    if (n == 0)
        fail(p, "expected a value");
    if (n == 4 && !memcmp(b, "true", 4))
        msgpack_pack_true(&p->w.pk);
    else if (n == 5 && !memcmp(b, "false", 5))
        msgpack_pack_false(&p->w.pk);
    else if (n == 3 && !memcmp(b, "nil", 3))
        msgpack_pack_nil(&p->w.pk);
    else if (isdigit((unsigned char)b[0]) || (b[0] == '-' && n > 1 && isdigit((unsigned char)b[1]))) {
        if (memchr(b, '.', n))
            msgpack_pack_double(&p->w.pk, strtod(b, NULL));
        else if (b[0] == '-')
            msgpack_pack_int64(&p->w.pk, strtoll(b, NULL, 10));
        else
            msgpack_pack_uint64(&p->w.pk, strtoull(b, NULL, 10));
    } else { /* bare word: a string key */
        msgpack_pack_str(&p->w.pk, n);
        msgpack_pack_str_body(&p->w.pk, b, n);
    }
}

static void container(struct parser *p, bool is_map) {
    size_t n = count_items(p->s);
    if (is_map)
        msgpack_pack_map(&p->w.pk, n);
    else
        msgpack_pack_array(&p->w.pk, n);
    p->s++;
    for (size_t i = 0; i < n; i++) {
        value(p);
        if (is_map) {
            ws(p);
            if (*p->s++ != ':')
                fail(p, "expected ':'");
            value(p);
        }
        ws(p);
        if (i + 1 < n && *p->s++ != ',')
            fail(p, "expected ','");
    }
    ws(p);
    if (*p->s++ != (is_map ? '}' : ']'))
        fail(p, "expected the end of a container");
}

static void value(struct parser *p) {
    ws(p);
    if (*p->s == '{')
        container(p, true);
    else if (*p->s == '[')
        container(p, false);
    else if (*p->s == '\'')
        string(p);
    else
        word(p);
}

char *mp(const char *text, size_t *ret_len) {
    struct parser p = { .s = text };
    char *buf;
    wire_pack_init(&p.w);
    value(&p);
    ws(&p);
    if (*p.s)
        fail(&p, "text after the value");
    wire_pack_finish(&p.w, &buf, ret_len);
    return buf;
}
