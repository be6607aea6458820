/* msg.h - helpers shared by the message codecs (internal to proto/).
 *
 * Limits of version 1 (the decoders enforce them, so do the encoders: every
 * encoder decodes its own output before handing it out). */
#ifndef VMSEAL_PROTO_MSG_H
#define VMSEAL_PROTO_MSG_H

#include "proto.h"
#include "wire.h"

#define MSG_NAME_MAX        255 /* template name, worker id */
#define MSG_VERSION_MAX     64  /* version strings */
#define MSG_STEP_MAX        255
#define MSG_DESCRIPTION_MAX 210 /* volume DESCRIPTION metadata */
#define MSG_ERR_CODE_MAX    64
#define MSG_ERR_MESSAGE_MAX 4096
#define MSG_DISKS_MAX       64
#define MSG_OPS_MAX         64 /* sysprep enable/disable/operations entries */
#define MSG_OP_NAME_MAX     64
#define MSG_MOUNTS_MAX      PROTO_ALLOW_MISSING_MAX /* sysprep allow_missing entries */
#define MSG_MOUNT_MAX       1024                    /* one mount point */
#define MSG_POOLS_MAX       16
#define MSG_POOL_NAME_MAX   64
#define MSG_SD_IDS_MAX      64
#define MSG_RUNNING_MAX     1024
#define MSG_SLOTS_MAX       1024
#define MSG_RESULT_MAX      64
#define MSG_RESULT_KEY_MAX  64
#define MSG_RESULT_STR_MAX  4096
#define MSG_ATTEMPT_MAX     1000000
#define MSG_TIMEOUT_S_MAX   (7 * 86400)
#define MSG_GENERATION_MAX  999

#define WIRE_CS_ERR_CODE "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-"
#define WIRE_CS_HOSTNAME "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789.-"

/* Validate buf, check "v" (-VMS_E_MSG_VERSION unless 1) and that "type" is
 * `expect`; the root map is then named after the type. */
int msg_open(const void *buf, size_t len, enum proto_type expect, struct wire_map *ret, char *why);
/* Read "type" only (after wire_open), for proto_decode's dispatch. */
int msg_read_type(const struct wire_map *root, enum proto_type *ret, char *why);

/* Read a message body from its opened root map (after msg_open); on failure
 * *ret is freed and zeroed. */
int msg_template_create_read(const struct wire_map *root, struct proto_template_create *ret, char *why);
int msg_template_cancel_read(const struct wire_map *root, struct proto_template_cancel *ret, char *why);
int msg_job_read(const struct wire_map *root, struct proto_job *ret, char *why);
int msg_event_read(const struct wire_map *root, struct proto_event *ret, char *why);
int msg_heartbeat_read(const struct wire_map *root, struct proto_heartbeat *ret, char *why);

/* Finish an encoder: decode the packed bytes as type t (refusing what a
 * decoder would refuse), then hand them out. */
int msg_finish(struct wire_packer *w, enum proto_type t, char **ret_buf, size_t *ret_len);

/* {sd_id, img_id, vol_id}; with_sd false reads/writes {img_id, vol_id}. */
int msg_vol_ref_read(const struct wire_map *m, bool with_sd, struct proto_vol_ref *ret, char *why);
void msg_vol_ref_pack(struct wire_packer *w, const struct proto_vol_ref *v, bool with_sd);
/* The array of disks under `key`: 1..MSG_DISKS_MAX refs.  With ret_new (a
 * template.create), each disk may also carry new_img_id and new_vol_id (both
 * or neither): *ret_new is NULL when no disk does, else n entries. */
int msg_disks_read(const struct wire_map *m, const char *key, struct proto_vol_ref **ret, size_t *ret_n,
                   struct proto_new_vol **ret_new, char *why);
/* new_vols: NULL, or n entries (those with ids write them). */
void msg_disks_pack(struct wire_packer *w, const char *key, const struct proto_vol_ref *d,
                    const struct proto_new_vol *new_vols, size_t n);
/* Sysprep options map; an absent map gives the defaults. */
int msg_sysprep_read(const struct wire_map *m, const char *key, int flags, struct proto_sysprep *ret, char *why);
void msg_sysprep_pack(struct wire_packer *w, const char *key, const struct proto_sysprep *s);
void msg_sysprep_defaults(struct proto_sysprep *s);
/* Index in s->disable of the first name that is also in s->enable or is
 * added by an s->operations entry ("OP", not "-OP"), or -1; *ret_other
 * names that list ("enable" or "operations").  sysprep_ops.c; the decoder
 * and proto_sysprep_check both refuse it. */
int msg_sysprep_overlap(const struct proto_sysprep *s, const char **ret_other);

/* The optional `files` map under key (msg_files.c): *ret stays NULL when
 * it is absent, else is a malloc'd struct (free it with proto_files_free,
 * then free).  msg_files_pack writes key and map (key NULL: the map alone). */
int msg_files_read(const struct wire_map *m, const char *key, struct proto_files **ret, char *why);
void msg_files_pack(struct wire_packer *w, const char *key, const struct proto_files *f);

void msg_strv_free(char **v, size_t n);

#endif
