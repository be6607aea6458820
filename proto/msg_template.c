/* msg_template.c - the requests: template.create, template.cancel, and the
 * sysprep options they share with vm.seal jobs. */
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "msg.h"
#include "util.h"

/* ---- sysprep ------------------------------------------------------------ */

void msg_sysprep_defaults(struct proto_sysprep *s) {
    memset(s, 0, sizeof(*s));
    s->selinux_relabel = true;
}

void proto_sysprep_free(struct proto_sysprep *s) {
    if (!s)
        return;
    msg_strv_free(s->enable, s->n_enable);
    msg_strv_free(s->disable, s->n_disable);
    msg_strv_free(s->allow_missing, s->n_allow_missing);
    msg_strv_free(s->operations, s->n_operations);
    free(s->hostname);
    memset(s, 0, sizeof(*s));
}

static char **strv_copy(char *const *v, size_t n) {
    if (!v)
        return NULL;
    char **c = xcalloc(n ? n : 1, sizeof(*c));
    for (size_t i = 0; i < n; i++)
        c[i] = xstrdup(v[i]);
    return c;
}

void proto_sysprep_copy(struct proto_sysprep *dst, const struct proto_sysprep *src) {
    dst->enable = strv_copy(src->enable, src->n_enable);
    dst->n_enable = src->enable ? src->n_enable : 0;
    dst->disable = strv_copy(src->disable, src->n_disable);
    dst->n_disable = src->disable ? src->n_disable : 0;
    dst->hostname = src->hostname ? xstrdup(src->hostname) : NULL;
    dst->selinux_relabel = src->selinux_relabel;
    dst->allow_missing = strv_copy(src->allow_missing, src->n_allow_missing);
    dst->n_allow_missing = src->allow_missing ? src->n_allow_missing : 0;
    dst->operations = strv_copy(src->operations, src->n_operations);
    dst->n_operations = src->operations ? src->n_operations : 0;
}

static int sysprep_check(const struct wire_map *m, const struct proto_sysprep *s, char *why) {
    const char *other = NULL;
    int both = msg_sysprep_overlap(s, &other);
    if (both >= 0) {
        wire_why(why, m->path, "disable", "\"%s\" is also in %s", s->disable[both], other);
        return -VMS_E_MSG_BAD_VALUE;
    }
    if (s->hostname && !wire_hostname_valid(s->hostname)) {
        wire_why(why, m->path, "hostname", "not a valid RFC 1123 host name");
        return -VMS_E_MSG_BAD_VALUE;
    }
    for (size_t i = 0; i < s->n_allow_missing; i++) {
        if (s->allow_missing[i][0] != '/') {
            wire_why(why, m->path, "allow_missing", "\"%s\" is not an absolute mount point", s->allow_missing[i]);
            return -VMS_E_MSG_BAD_VALUE;
        }
    }
    return 0;
}

int msg_sysprep_read(const struct wire_map *parent, const char *key, int flags, struct proto_sysprep *ret,
                     char *why) {
    msg_sysprep_defaults(ret);
    struct wire_map m;
    int r = wire_map_map(parent, key, flags, &m, why);
    if (r <= 0)
        return r;
    r = wire_map_name_array(&m, "enable", WIRE_OPTIONAL, 0, MSG_OPS_MAX, 1, MSG_OP_NAME_MAX, WIRE_CS_LOWER_NAME,
                            &ret->enable, &ret->n_enable, why);
    if (r >= 0)
        r = wire_map_name_array(&m, "disable", WIRE_OPTIONAL, 0, MSG_OPS_MAX, 1, MSG_OP_NAME_MAX,
                                WIRE_CS_LOWER_NAME, &ret->disable, &ret->n_disable, why);
    if (r >= 0)
        r = wire_map_name(&m, "hostname", WIRE_OPTIONAL, 1, 253, WIRE_CS_HOSTNAME, &ret->hostname, why);
    if (r >= 0)
        r = wire_map_bool(&m, "selinux_relabel", WIRE_OPTIONAL, &ret->selinux_relabel, why);
    if (r >= 0)
        r = wire_map_name_array(&m, "allow_missing", WIRE_OPTIONAL, 0, MSG_MOUNTS_MAX, 1, MSG_MOUNT_MAX,
                                wire_cs_text, &ret->allow_missing, &ret->n_allow_missing, why);
    /* An entry is an operation name, maybe after a '-'. */
    if (r >= 0)
        r = wire_map_name_array(&m, "operations", WIRE_OPTIONAL, 0, MSG_OPS_MAX, 1, MSG_OP_NAME_MAX + 1,
                                WIRE_CS_LOWER_NAME, &ret->operations, &ret->n_operations, why);
    if (r >= 0)
        r = sysprep_check(&m, ret, why);
    if (r < 0) {
        proto_sysprep_free(ret);
        return r;
    }
    return 1;
}

/* {enable, disable, [hostname], selinux_relabel, [allow_missing], [operations]} */
void msg_sysprep_pack(struct wire_packer *w, const char *key, const struct proto_sysprep *s) {
    wire_pack_str(w, key);
    wire_pack_map(w, 3 + (s->hostname ? 1 : 0) + (s->n_allow_missing ? 1 : 0) + (s->n_operations ? 1 : 0));
    wire_pack_kv_str_array(w, "enable", s->enable, s->n_enable);
    wire_pack_kv_str_array(w, "disable", s->disable, s->n_disable);
    if (s->hostname)
        wire_pack_kv_str(w, "hostname", s->hostname);
    wire_pack_kv_bool(w, "selinux_relabel", s->selinux_relabel);
    if (s->n_allow_missing)
        wire_pack_kv_str_array(w, "allow_missing", s->allow_missing, s->n_allow_missing);
    if (s->n_operations)
        wire_pack_kv_str_array(w, "operations", s->operations, s->n_operations);
}

/* ---- template.create ------------------------------------------------------ */

void proto_template_create_free(struct proto_template_create *m) {
    if (!m)
        return;
    free(m->name);
    free(m->disks);
    free(m->new_vols);
    proto_sysprep_free(&m->sysprep);
    memset(m, 0, sizeof(*m));
}

int msg_template_create_read(const struct wire_map *root, struct proto_template_create *ret, char *why) {
    memset(ret, 0, sizeof(*ret));
    int r = wire_map_uuid(root, "template_id", WIRE_REQUIRED, ret->template_id, why);
    if (r >= 0)
        r = wire_map_name(root, "name", WIRE_REQUIRED, 1, MSG_NAME_MAX, wire_cs_text, &ret->name, why);
    if (r >= 0)
        r = msg_disks_read(root, "disks", &ret->disks, &ret->n_disks, &ret->new_vols, why);
    if (r >= 0)
        r = wire_map_uuid(root, "target_sd_id", WIRE_OPTIONAL, ret->target_sd_id, why);
    if (r >= 0)
        r = wire_map_bool(root, "seal", WIRE_REQUIRED, &ret->seal, why);
    if (r >= 0) {
        r = msg_sysprep_read(root, "sysprep", WIRE_OPTIONAL, &ret->sysprep, why);
        ret->has_sysprep = r == 1;
    }
    if (r < 0) {
        proto_template_create_free(ret);
        return r;
    }
    return 0;
}

int proto_decode_template_create(const void *buf, size_t len, struct proto_template_create *ret, char *why) {
    struct wire_map root;
    memset(ret, 0, sizeof(*ret));
    int r = msg_open(buf, len, PROTO_TEMPLATE_CREATE, &root, why);
    return r < 0 ? r : msg_template_create_read(&root, ret, why);
}

/* v, type, template_id, name, disks [{sd_id, img_id, vol_id, [new_img_id,
 * new_vol_id]}], [target_sd_id], seal, [sysprep] */
int proto_encode_template_create(const struct proto_template_create *m, char **ret_buf, size_t *ret_len) {
    struct wire_packer w;
    bool has_target = m->target_sd_id[0] != '\0';
    wire_pack_init(&w);
    wire_pack_head(&w, "template.create", 4 + has_target + m->has_sysprep);
    wire_pack_kv_str(&w, "template_id", m->template_id);
    wire_pack_kv_str(&w, "name", m->name);
    msg_disks_pack(&w, "disks", m->disks, m->new_vols, m->n_disks);
    if (has_target)
        wire_pack_kv_str(&w, "target_sd_id", m->target_sd_id);
    wire_pack_kv_bool(&w, "seal", m->seal);
    if (m->has_sysprep)
        msg_sysprep_pack(&w, "sysprep", &m->sysprep);
    return msg_finish(&w, PROTO_TEMPLATE_CREATE, ret_buf, ret_len);
}

/* ---- template.cancel ------------------------------------------------------ */

int msg_template_cancel_read(const struct wire_map *root, struct proto_template_cancel *ret, char *why) {
    memset(ret, 0, sizeof(*ret));
    int r = wire_map_uuid(root, "template_id", WIRE_REQUIRED, ret->template_id, why);
    if (r < 0) {
        memset(ret, 0, sizeof(*ret));
        return r;
    }
    return 0;
}

int proto_decode_template_cancel(const void *buf, size_t len, struct proto_template_cancel *ret, char *why) {
    struct wire_map root;
    memset(ret, 0, sizeof(*ret));
    int r = msg_open(buf, len, PROTO_TEMPLATE_CANCEL, &root, why);
    return r < 0 ? r : msg_template_cancel_read(&root, ret, why);
}

/* v, type, template_id */
int proto_encode_template_cancel(const struct proto_template_cancel *m, char **ret_buf, size_t *ret_len) {
    struct wire_packer w;
    wire_pack_init(&w);
    wire_pack_head(&w, "template.cancel", 1);
    wire_pack_kv_str(&w, "template_id", m->template_id);
    return msg_finish(&w, PROTO_TEMPLATE_CANCEL, ret_buf, ret_len);
}
