/* proto.c - message envelope ("v", "type"), dispatch and the shared pieces
 * of several messages (volume refs, disk lists, sysprep options). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "msg.h"
#include "util.h"
#include "wire_names.h"

int msg_read_type(const struct wire_map *root, enum proto_type *ret, char *why) {
    int t = 0;
    int r = wire_map_enum(root, "type", WIRE_REQUIRED, proto_type_names, PROTO_N_TYPES, &t, why);
    if (r < 0)
        return r;
    *ret = (enum proto_type)t;
    return 0;
}

/* Check "v" first: a newer message with an unknown type says "version". */
static int msg_check_version(struct wire_map *root, char *why) {
    enum proto_type t;
    if (msg_read_type(root, &t, NULL) == 0)
        wire_map_rename(root, proto_type_names[t]);
    int64_t v = 0;
    int r = wire_map_int(root, "v", WIRE_REQUIRED, INT64_MIN, INT64_MAX, &v, why);
    if (r < 0)
        return r;
    if (v != PROTO_VERSION) {
        wire_why(why, root->path, "v", "version %lld is not supported (this build reads %d)", (long long)v,
                 PROTO_VERSION);
        return -VMS_E_MSG_VERSION;
    }
    return 0;
}

int msg_open(const void *buf, size_t len, enum proto_type expect, struct wire_map *ret, char *why) {
    int r = wire_open(buf, len, "message", ret, why);
    if (r < 0)
        return r;
    r = msg_check_version(ret, why);
    if (r < 0)
        return r;
    enum proto_type t;
    r = msg_read_type(ret, &t, why);
    if (r < 0)
        return r;
    if (t != expect) {
        wire_why(why, ret->path, "type", "expected \"%s\", got \"%s\"", proto_type_names[expect],
                 proto_type_names[t]);
        return -VMS_E_MSG_BAD_VALUE;
    }
    return 0;
}

int proto_encode(const struct proto_msg *m, char **ret_buf, size_t *ret_len) {
    switch (m->type) {
    case PROTO_TEMPLATE_CREATE: return proto_encode_template_create(&m->u.create, ret_buf, ret_len);
    case PROTO_TEMPLATE_CANCEL: return proto_encode_template_cancel(&m->u.cancel, ret_buf, ret_len);
    case PROTO_JOB: return proto_encode_job(&m->u.job, ret_buf, ret_len);
    case PROTO_EVENT: return proto_encode_event(&m->u.event, ret_buf, ret_len);
    case PROTO_HEARTBEAT: return proto_encode_heartbeat(&m->u.heartbeat, ret_buf, ret_len);
    }
    return -EINVAL;
}

int proto_decode(const void *buf, size_t len, struct proto_msg *ret, char *why) {
    memset(ret, 0, sizeof(*ret));
    struct wire_map root;
    int r = wire_open(buf, len, "message", &root, why);
    if (r < 0)
        return r;
    r = msg_check_version(&root, why);
    if (r < 0)
        return r;
    enum proto_type t;
    r = msg_read_type(&root, &t, why);
    if (r < 0)
        return r;
    ret->type = t;
    switch (t) {
    case PROTO_TEMPLATE_CREATE: return msg_template_create_read(&root, &ret->u.create, why);
    case PROTO_TEMPLATE_CANCEL: return msg_template_cancel_read(&root, &ret->u.cancel, why);
    case PROTO_JOB: return msg_job_read(&root, &ret->u.job, why);
    case PROTO_EVENT: return msg_event_read(&root, &ret->u.event, why);
    case PROTO_HEARTBEAT: return msg_heartbeat_read(&root, &ret->u.heartbeat, why);
    }
    return -VMS_E_INTERNAL;
}

void proto_msg_free(struct proto_msg *m) {
    if (!m)
        return;
    switch (m->type) {
    case PROTO_TEMPLATE_CREATE: proto_template_create_free(&m->u.create); break;
    case PROTO_TEMPLATE_CANCEL: break;
    case PROTO_JOB: proto_job_free(&m->u.job); break;
    case PROTO_EVENT: proto_event_free(&m->u.event); break;
    case PROTO_HEARTBEAT: proto_heartbeat_free(&m->u.heartbeat); break;
    }
    memset(m, 0, sizeof(*m));
}

int msg_finish(struct wire_packer *w, enum proto_type t, char **ret_buf, size_t *ret_len) {
    struct proto_msg check;
    int r = proto_decode(w->data, w->len, &check, NULL);
    if (r == 0 && check.type != t)
        r = -VMS_E_INTERNAL;
    proto_msg_free(&check);
    return wire_pack_finish_checked(w, r, ret_buf, ret_len);
}

/* ---- volume refs and disk lists ---------------------------------------- */

int msg_vol_ref_read(const struct wire_map *m, bool with_sd, struct proto_vol_ref *ret, char *why) {
    int r = 0;
    if (with_sd)
        r = wire_map_uuid(m, "sd_id", WIRE_REQUIRED, ret->sd_id, why);
    if (r >= 0)
        r = wire_map_uuid(m, "img_id", WIRE_REQUIRED, ret->img_id, why);
    if (r >= 0)
        r = wire_map_uuid(m, "vol_id", WIRE_REQUIRED, ret->vol_id, why);
    return r < 0 ? r : 0;
}

void msg_vol_ref_pack(struct wire_packer *w, const struct proto_vol_ref *v, bool with_sd) {
    wire_pack_map(w, with_sd ? 3 : 2);
    if (with_sd)
        wire_pack_kv_str(w, "sd_id", v->sd_id);
    wire_pack_kv_str(w, "img_id", v->img_id);
    wire_pack_kv_str(w, "vol_id", v->vol_id);
}

/* new_img_id, new_vol_id of one template.create disk; 1 when given. */
static int new_vol_read(const struct wire_map *dm, struct proto_new_vol *ret, char *why) {
    int ri = wire_map_uuid(dm, "new_img_id", WIRE_OPTIONAL, ret->img_id, why);
    if (ri < 0)
        return ri;
    int rv = wire_map_uuid(dm, "new_vol_id", WIRE_OPTIONAL, ret->vol_id, why);
    if (rv < 0)
        return rv;
    if (ri != rv) {
        wire_why(why, dm->path, ri ? "new_vol_id" : "new_img_id", "missing: give both new ids or neither");
        return -VMS_E_MSG_MISSING_KEY;
    }
    return ri;
}

int msg_disks_read(const struct wire_map *m, const char *key, struct proto_vol_ref **ret, size_t *ret_n,
                   struct proto_new_vol **ret_new, char *why) {
    struct wire_array a;
    int r = wire_map_array(m, key, WIRE_REQUIRED, 1, MSG_DISKS_MAX, &a, why);
    if (r < 0)
        return r;
    struct proto_vol_ref *d = xcalloc(a.n, sizeof(*d));
    struct proto_new_vol *nv = ret_new ? xcalloc(a.n, sizeof(*nv)) : NULL;
    bool any_new = false;
    for (size_t i = 0; i < a.n && r >= 0; i++) {
        struct wire_map dm;
        r = wire_array_next_map(&a, &dm, why);
        if (r >= 0)
            r = msg_vol_ref_read(&dm, true, &d[i], why);
        if (r >= 0 && nv)
            r = new_vol_read(&dm, &nv[i], why);
        any_new |= r > 0 && nv;
    }
    if (r < 0 || !any_new) {
        free(nv);
        nv = NULL;
    }
    if (r < 0) {
        free(d);
        return r;
    }
    *ret = d;
    *ret_n = a.n;
    if (ret_new)
        *ret_new = nv;
    return 0;
}

void msg_disks_pack(struct wire_packer *w, const char *key, const struct proto_vol_ref *d,
                    const struct proto_new_vol *new_vols, size_t n) {
    if (!d)
        n = 0;
    wire_pack_str(w, key);
    wire_pack_array(w, n);
    for (size_t i = 0; i < n; i++) {
        bool has_new = new_vols && new_vols[i].img_id[0];
        wire_pack_map(w, has_new ? 5 : 3);
        wire_pack_kv_str(w, "sd_id", d[i].sd_id);
        wire_pack_kv_str(w, "img_id", d[i].img_id);
        wire_pack_kv_str(w, "vol_id", d[i].vol_id);
        if (has_new) {
            wire_pack_kv_str(w, "new_img_id", new_vols[i].img_id);
            wire_pack_kv_str(w, "new_vol_id", new_vols[i].vol_id);
        }
    }
}

void msg_strv_free(char **v, size_t n) {
    for (size_t i = 0; v && i < n; i++)
        free(v[i]);
    free(v);
}
