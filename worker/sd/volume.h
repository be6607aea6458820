/* volume.h - the volume operations behind the volume.* jobs (docs/protocol.md §5-6; the volume model in sd.h).
 *
 * Plain blocking functions, meant to run inside a job's child process: they
 * never log, never exit, and start qemu-img (posix_spawn, no shell) in the
 * caller's process group, so killing the job's group kills qemu-img too.
 *
 * Every operation is idempotent by its ids (a redelivered job does no harm):
 *   - volume_copy: a committed, complete destination is success without
 *     copying; a partial one (*.tmp, or data without .meta) is removed and
 *     the copy redone.
 *   - volume_update: a retry of an update that already happened succeeds
 *     without writing (see below).
 *   - volume_delete: an absent volume is success.
 *
 * Errors: 0 or a negative code (err.h); `why` (ERR_WHY_LEN bytes, may be NULL)
 * receives a one-line reason, e.g. qemu-img's last stderr line.
 * Progress: `progress_cb` (may be NULL) is called from the calling thread
 * with a percentage 0..100 and a short step text ("copying", "syncing").
 */
#ifndef VMSEAL_VOLUME_H
#define VMSEAL_VOLUME_H

#include <stdint.h>

#include "sd.h"

typedef void (*volume_progress_cb)(int percent, const char *step, void *userdata);

/* Copy src (any backing chain collapsed by qemu-img) into a new volume
 * dst_img/dst_vol of dst_sd in `format` (FORMAT_COW -> qcow2, FORMAT_RAW ->
 * raw):  qemu-img convert into <dst_vol>.tmp, fsync, rename to <dst_vol>,
 * then write .meta last (LEAF, LEGAL, PUUID nil, GEN 0, CAP = source CAP,
 * DESCRIPTION from the source, CTIME = MTIME = now, TEMPLATE = template_id
 * when not NULL: the workflow that may delete it).
 * -VMS_E_NO_VOLUME if the source is absent; -VMS_E_VOLUME_EXISTS if the
 * destination is committed but is not this copy (other CAP or FORMAT);
 * -VMS_E_PATH_ESCAPE if the source's backing chain leaves its image (the
 * folder of the volume and its parents);
 * -VMS_E_QEMU_IMG (transient) if qemu-img fails. */
int volume_copy(struct sd *src_sd, const char *src_img, const char *src_vol, struct sd *dst_sd,
                const char *dst_img, const char *dst_vol, enum vol_format format, const char *template_id,
                volume_progress_cb progress_cb, void *userdata, char *why);

/* A volume.update request: the expected generation and the fields to set
 * (LEGALITY_NONE / VOLTYPE_NONE / NULL = unchanged). */
struct volume_change {
    int generation; /* expected GEN, 0..999 */
    enum vol_legality legality;
    enum vol_type voltype;
    const char *description; /* <= SD_DESCRIPTION_MAX bytes, no newline */
};

/* Generation semantics (sd.h), under the image lock:
 *   GEN == expected: SHARED volume -> -VMS_E_VOLUME_SHARED; LEAF->SHARED with
 *     a parent (PUUID not nil) -> -VMS_E_HAS_PARENT; else write the new state
 *     with GEN = expected+1 mod 1000 and MTIME = now, in one atomic write.
 *   GEN == expected+1 mod 1000 and the state already as asked: a retry of an
 *     update that happened; success without writing.
 *   otherwise -VMS_E_GENERATION_MISMATCH (permanent).
 * On success *ret_meta (may be NULL) is the resulting metadata.
 * -VMS_E_NO_VOLUME if absent, -VMS_E_INVALID for a bad change. */
int volume_update(struct sd *sd, const char *img_id, const char *vol_id, const struct volume_change *change,
                  volume_progress_cb progress_cb, void *userdata, struct vol_meta *ret_meta, char *why);

/* Remove the volume: .meta first, then the data (see volume.c for why this
 * order is the crash-safe one), then the image dir if empty, fsync.  An
 * absent volume is success; leftovers (*.tmp) are removed too.  With a
 * template_id (a job's), a committed volume is removed only when it is not
 * SHARED (-VMS_E_VOLUME_SHARED) and its TEMPLATE is template_id
 * (-VMS_E_NOT_OWNER): a job deletes only what its workflow created; the
 * volume is then left untouched.  NULL: no such check (the operator). */
int volume_delete(struct sd *sd, const char *img_id, const char *vol_id, const char *template_id,
                  volume_progress_cb progress_cb, void *userdata, char *why);

/* Import an existing image file (qcow2 when it starts with the qcow2 magic,
 * else raw: never probed by qemu-img)
 * as a new LEAF/LEGAL/GEN 0 volume of `format` with new img and vol ids,
 * returned in ret_img_id / ret_vol_id.  A backing chain is collapsed; its
 * files must lie in the imported file's directory (-VMS_E_PATH_ESCAPE). */
int volume_create_from_file(struct sd *sd, const char *file, enum vol_format format,
                            volume_progress_cb progress_cb, void *userdata, proto_uuid ret_img_id,
                            proto_uuid ret_vol_id, char *why);

#endif
