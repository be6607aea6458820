/* wire_pack.c - msgpack_packer over a growing buffer that aborts on OOM.
 *
 * msgpack-c picks the smallest encoding for every integer, string and
 * container header, so the same struct always packs to the same bytes. */
#include <stdlib.h>
#include <string.h>

#include "util.h"
#include "wire.h"

static int write_cb(void *data, const char *buf, size_t len) {
    struct wire_packer *w = data;
    if (w->len + len > w->cap) {
        size_t cap = w->cap ? w->cap : 256;
        while (cap < w->len + len)
            cap *= 2;
        w->data = xrealloc(w->data, cap);
        w->cap = cap;
    }
    memcpy(w->data + w->len, buf, len);
    w->len += len;
    return 0;
}

void wire_pack_init(struct wire_packer *w) {
    w->data = NULL;
    w->len = w->cap = 0;
    msgpack_packer_init(&w->pk, w, write_cb);
}

void wire_pack_finish(struct wire_packer *w, char **ret_buf, size_t *ret_len) {
    *ret_buf = w->data ? w->data : xmalloc(1);
    *ret_len = w->len;
    wire_pack_init(w);
}

int wire_pack_finish_checked(struct wire_packer *w, int check, char **ret_buf, size_t *ret_len) {
    if (check < 0) {
        wire_pack_free(w);
        return check;
    }
    wire_pack_finish(w, ret_buf, ret_len);
    return 0;
}

void wire_pack_free(struct wire_packer *w) {
    free(w->data);
    wire_pack_init(w);
}

void wire_pack_map(struct wire_packer *w, size_t n_pairs) { msgpack_pack_map(&w->pk, n_pairs); }
void wire_pack_array(struct wire_packer *w, size_t n) { msgpack_pack_array(&w->pk, n); }
void wire_pack_int(struct wire_packer *w, int64_t i) { msgpack_pack_int64(&w->pk, i); }

void wire_pack_bool(struct wire_packer *w, bool b) {
    if (b)
        msgpack_pack_true(&w->pk);
    else
        msgpack_pack_false(&w->pk);
}

/* NULL packs as "" so that a bad struct fails validation, not the packer. */
void wire_pack_str(struct wire_packer *w, const char *s) {
    size_t n = s ? strlen(s) : 0;
    msgpack_pack_str(&w->pk, n);
    msgpack_pack_str_body(&w->pk, s ? s : "", n);
}

void wire_pack_head(struct wire_packer *w, const char *type, size_t n_more) {
    wire_pack_map(w, 2 + n_more);
    wire_pack_kv_int(w, "v", PROTO_VERSION);
    wire_pack_kv_str(w, "type", type);
}

void wire_pack_kv_str(struct wire_packer *w, const char *key, const char *s) {
    wire_pack_str(w, key);
    wire_pack_str(w, s);
}

void wire_pack_kv_int(struct wire_packer *w, const char *key, int64_t i) {
    wire_pack_str(w, key);
    wire_pack_int(w, i);
}

void wire_pack_kv_bool(struct wire_packer *w, const char *key, bool b) {
    wire_pack_str(w, key);
    wire_pack_bool(w, b);
}

/* A NULL array packs as empty whatever n says. */
void wire_pack_kv_str_array(struct wire_packer *w, const char *key, char *const *v, size_t n) {
    if (!v)
        n = 0;
    wire_pack_str(w, key);
    wire_pack_array(w, n);
    for (size_t i = 0; i < n; i++)
        wire_pack_str(w, v[i]);
}

void wire_pack_kv_uuid_array(struct wire_packer *w, const char *key, const proto_uuid *v, size_t n) {
    if (!v)
        n = 0;
    wire_pack_str(w, key);
    wire_pack_array(w, n);
    for (size_t i = 0; i < n; i++)
        wire_pack_str(w, v[i]);
}
