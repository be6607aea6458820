/* msg_job.c - the job message and its four kinds of args. */
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "msg.h"
#include "util.h"
#include "wire_names.h"

void proto_job_free(struct proto_job *m) {
    if (!m)
        return;
    if (m->kind == JOB_VOLUME_UPDATE)
        free(m->args.update.description);
    else if (m->kind == JOB_VM_SEAL) {
        free(m->args.seal.disks);
        proto_sysprep_free(&m->args.seal.sysprep);
    }
    memset(m, 0, sizeof(*m));
}

static int copy_read(const struct wire_map *a, struct proto_job *m, char *why) {
    struct wire_map src, dst;
    struct proto_vol_ref s;
    memset(&s, 0, sizeof(s));
    int r = wire_map_uuid(a, "sd_id", WIRE_REQUIRED, m->args.copy.sd_id, why);
    if (r >= 0)
        r = wire_map_map(a, "src", WIRE_REQUIRED, &src, why);
    if (r >= 0)
        r = msg_vol_ref_read(&src, false, &s, why);
    if (r >= 0)
        r = wire_map_map(a, "dst", WIRE_REQUIRED, &dst, why);
    if (r >= 0)
        r = msg_vol_ref_read(&dst, true, &m->args.copy.dst, why);
    int f = 0;
    if (r >= 0)
        r = wire_map_enum(a, "format", WIRE_REQUIRED, vol_format_names, ARRAY_SIZE(vol_format_names), &f, why);
    memcpy(m->args.copy.src_img_id, s.img_id, sizeof(s.img_id));
    memcpy(m->args.copy.src_vol_id, s.vol_id, sizeof(s.vol_id));
    m->args.copy.format = (enum vol_format)f;
    return r;
}

static int update_read(const struct wire_map *a, struct proto_job *m, char *why) {
    int l = 0, t = 0;
    int r = msg_vol_ref_read(a, true, &m->args.update.vol, why);
    if (r >= 0)
        r = wire_map_int(a, "generation", WIRE_REQUIRED, 0, MSG_GENERATION_MAX, &m->args.update.generation, why);
    if (r >= 0)
        r = wire_map_enum(a, "legality", WIRE_OPTIONAL, vol_legality_names, ARRAY_SIZE(vol_legality_names), &l,
                          why);
    if (r >= 0)
        r = wire_map_enum(a, "voltype", WIRE_OPTIONAL, vol_type_names, ARRAY_SIZE(vol_type_names), &t, why);
    if (r >= 0)
        r = wire_map_name(a, "description", WIRE_OPTIONAL, 0, MSG_DESCRIPTION_MAX, wire_cs_text,
                          &m->args.update.description, why);
    m->args.update.legality = (enum vol_legality)l;
    m->args.update.voltype = (enum vol_type)t;
    if (r >= 0 && !l && !t && !m->args.update.description) {
        wire_why(why, a->path, NULL, "nothing to update (legality, voltype or description)");
        r = -VMS_E_MSG_MISSING_KEY;
    }
    return r;
}

static int seal_read(const struct wire_map *a, struct proto_job *m, char *why) {
    int r = msg_disks_read(a, "disks", &m->args.seal.disks, &m->args.seal.n_disks, NULL, why);
    if (r >= 0)
        r = msg_sysprep_read(a, "sysprep", WIRE_OPTIONAL, &m->args.seal.sysprep, why);
    else
        msg_sysprep_defaults(&m->args.seal.sysprep);
    return r;
}

int msg_job_read(const struct wire_map *root, struct proto_job *ret, char *why) {
    memset(ret, 0, sizeof(*ret));
    struct wire_map args;
    int kind = 0;
    int r = wire_map_uuid(root, "job_id", WIRE_REQUIRED, ret->job_id, why);
    if (r >= 0)
        r = wire_map_uuid(root, "template_id", WIRE_REQUIRED, ret->template_id, why);
    if (r >= 0)
        r = wire_map_enum(root, "kind", WIRE_REQUIRED, job_kind_names, JOB_N_KINDS, &kind, why);
    ret->kind = (enum job_kind)kind;
    if (r >= 0)
        r = wire_map_int(root, "attempt", WIRE_REQUIRED, 1, MSG_ATTEMPT_MAX, &ret->attempt, why);
    if (r >= 0)
        r = wire_map_int(root, "timeout_s", WIRE_REQUIRED, 1, MSG_TIMEOUT_S_MAX, &ret->timeout_s, why);
    if (r >= 0)
        r = wire_map_map(root, "args", WIRE_REQUIRED, &args, why);
    if (r >= 0) {
        switch (ret->kind) {
        case JOB_VOLUME_COPY: r = copy_read(&args, ret, why); break;
        case JOB_VOLUME_UPDATE: r = update_read(&args, ret, why); break;
        case JOB_VOLUME_DELETE: r = msg_vol_ref_read(&args, true, &ret->args.del.vol, why); break;
        case JOB_VM_SEAL: r = seal_read(&args, ret, why); break;
        }
    }
    if (r < 0) {
        proto_job_free(ret);
        return r;
    }
    return 0;
}

int proto_decode_job(const void *buf, size_t len, struct proto_job *ret, char *why) {
    struct wire_map root;
    memset(ret, 0, sizeof(*ret));
    int r = msg_open(buf, len, PROTO_JOB, &root, why);
    return r < 0 ? r : msg_job_read(&root, ret, why);
}

/* args per kind, keys in this order:
 *   volume.copy:   sd_id, src {img_id, vol_id}, dst {sd_id, img_id, vol_id}, format
 *   volume.update: sd_id, img_id, vol_id, generation, [legality], [voltype], [description]
 *   volume.delete: sd_id, img_id, vol_id
 *   vm.seal:       disks, sysprep */
static void args_pack(struct wire_packer *w, const struct proto_job *m) {
    wire_pack_str(w, "args");
    switch (m->kind) {
    case JOB_VOLUME_COPY: {
        struct proto_vol_ref src;
        memset(&src, 0, sizeof(src));
        memcpy(src.img_id, m->args.copy.src_img_id, sizeof(src.img_id));
        memcpy(src.vol_id, m->args.copy.src_vol_id, sizeof(src.vol_id));
        wire_pack_map(w, 4);
        wire_pack_kv_str(w, "sd_id", m->args.copy.sd_id);
        wire_pack_str(w, "src");
        msg_vol_ref_pack(w, &src, false);
        wire_pack_str(w, "dst");
        msg_vol_ref_pack(w, &m->args.copy.dst, true);
        wire_pack_kv_str(w, "format", vol_format_to_string(m->args.copy.format));
        break;
    }
    case JOB_VOLUME_UPDATE: {
        const struct proto_vol_ref *v = &m->args.update.vol;
        bool l = m->args.update.legality != LEGALITY_NONE, t = m->args.update.voltype != VOLTYPE_NONE;
        bool d = m->args.update.description != NULL;
        wire_pack_map(w, 4 + l + t + d);
        wire_pack_kv_str(w, "sd_id", v->sd_id);
        wire_pack_kv_str(w, "img_id", v->img_id);
        wire_pack_kv_str(w, "vol_id", v->vol_id);
        wire_pack_kv_int(w, "generation", m->args.update.generation);
        if (l)
            wire_pack_kv_str(w, "legality", vol_legality_to_string(m->args.update.legality));
        if (t)
            wire_pack_kv_str(w, "voltype", vol_type_to_string(m->args.update.voltype));
        if (d)
            wire_pack_kv_str(w, "description", m->args.update.description);
        break;
    }
    case JOB_VOLUME_DELETE: msg_vol_ref_pack(w, &m->args.del.vol, true); break;
    case JOB_VM_SEAL:
        wire_pack_map(w, 2);
        msg_disks_pack(w, "disks", m->args.seal.disks, NULL, m->args.seal.n_disks);
        msg_sysprep_pack(w, "sysprep", &m->args.seal.sysprep);
        break;
    default: wire_pack_map(w, 0);
    }
}

/* v, type, job_id, template_id, kind, attempt, timeout_s, args */
int proto_encode_job(const struct proto_job *m, char **ret_buf, size_t *ret_len) {
    struct wire_packer w;
    wire_pack_init(&w);
    wire_pack_head(&w, "job", 6);
    wire_pack_kv_str(&w, "job_id", m->job_id);
    wire_pack_kv_str(&w, "template_id", m->template_id);
    wire_pack_kv_str(&w, "kind", job_kind_to_string(m->kind));
    wire_pack_kv_int(&w, "attempt", m->attempt);
    wire_pack_kv_int(&w, "timeout_s", m->timeout_s);
    args_pack(&w, m);
    return msg_finish(&w, PROTO_JOB, ret_buf, ret_len);
}
