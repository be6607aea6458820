/* sd.h - file storage domains and volume metadata.
 *
 * On disk:
 *
 *     <path>/dom_md/metadata                     ID=<sd uuid>, VERSION=1, EOF
 *     <path>/images/<img_uuid>/<vol_uuid>        volume data (qcow2 = COW, or RAW)
 *     <path>/images/<img_uuid>/<vol_uuid>.meta   KEY=value lines (sorted), then EOF
 *     <path>/images/<img_uuid>/<vol_uuid>.tmp    data being written (volume_copy)
 *     <path>/images/<img_uuid>/<vol_uuid>.meta.tmp  metadata being written
 *
 * The `.meta` file is the commit marker: a volume exists only when its .meta
 * does.  Data without .meta (and any *.tmp) is half-created; sd_scrub()
 * removes it.
 *
 * Confinement: every id is checked with uuid_is_canonical() before it touches
 * a path (so "..", "/abs", "a/b" are all -VMS_E_BAD_UUID).  Paths below the
 * domain root are opened with openat() from the root's fd with O_NOFOLLOW
 * (and O_DIRECTORY for directories): a symlink anywhere under the domain root
 * (images/, an image dir, a volume or .meta file) is refused with
 * -VMS_E_PATH_ESCAPE.  The root path itself is the operator's configuration
 * and may be reached through symlinks.
 *
 * Locking: operations that read-modify-write an image's files take an
 * exclusive flock() on the image directory (sd_image_lock()), so two
 * processes never interleave on one image.
 *
 * Errors: 0 or a negative code (err.h).  Functions that take `why` (a buffer
 * of ERR_WHY_LEN bytes, may be NULL) fill it with a one-line reason on failure,
 * e.g. "GEN: not an integer 0..999".
 *
 * Libraries never print: nothing here logs.
 */
#ifndef VMSEAL_SD_H
#define VMSEAL_SD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proto.h" /* enum vol_legality, vol_type, vol_format; proto_uuid */

#define SD_DESCRIPTION_MAX 210         /* bytes, without the NUL */
#define SD_META_MAX_BYTES  (64 * 1024) /* a larger .meta is damaged */
#define SD_GEN_MOD         1000        /* GEN is 0..999 and wraps */

/* One volume's metadata (the .meta file).  Times are Unix seconds. */
struct vol_meta {
    int64_t cap_bytes;                        /* CAP: virtual size */
    int64_t ctime_s;                          /* CTIME */
    int64_t mtime_s;                          /* MTIME */
    char description[SD_DESCRIPTION_MAX + 1]; /* DESCRIPTION, may be empty */
    proto_uuid domain;                        /* DOMAIN */
    enum vol_format format;                   /* FORMAT: RAW | COW */
    int gen;                                  /* GEN: 0..999 */
    proto_uuid image;                         /* IMAGE */
    enum vol_legality legality;               /* LEGALITY: LEGAL | ILLEGAL */
    proto_uuid puuid;                         /* PUUID: parent or uuid_nil */
    proto_uuid template_id;                   /* TEMPLATE (optional, "" = none): the
                                                 template workflow whose volume.copy
                                                 created it; only such a volume may
                                                 be deleted by a job */
    enum vol_type voltype;                    /* VOLTYPE: LEAF | SHARED | INTERNAL */
    /* DISKTYPE is always DATA: checked on read, written on write. */
};

/* An open storage domain: id, path and an O_DIRECTORY fd on its root. */
struct sd;

/* Make a new domain at `path` (absolute; created with mkdir if missing, the
 * parent must exist): images/ and dom_md/metadata holding `id`.  Idempotent:
 * an existing domain with the same id is success; with another id
 * -VMS_E_CONFLICT. */
int sd_create(const char *id, const char *path, char *why);

/* Read the id stored in <path>/dom_md/metadata. */
int sd_read_id(const char *path, proto_uuid ret_id, char *why);

/* Open the domain `id` at `path` (absolute, must exist and hold images/).
 * If dom_md/metadata exists its id must equal `id` (else
 * -VMS_E_UNKNOWN_DOMAIN).  Does not scrub: call sd_scrub() after opening when
 * you own the domain (the worker does, at startup). */
int sd_open(const char *id, const char *path, struct sd **ret_sd, char *why);
/* Open by path alone, reading the id from dom_md/metadata (vmsealctl). */
int sd_open_path(const char *path, struct sd **ret_sd, char *why);
/* Accepts NULL. */
void sd_close(struct sd *sd);

const char *sd_id(const struct sd *sd);
const char *sd_path(const struct sd *sd);

/* Remove half-created volumes: in every image dir, every *.tmp file and
 * every data file without its .meta; then image dirs left empty.  Entries
 * that are not ours (non-UUID names, symlinks) are left alone and counted in
 * *ret_skipped.  Both out-params may be NULL. */
int sd_scrub(struct sd *sd, unsigned *ret_removed, unsigned *ret_skipped, char *why);

/* Ids of the image dirs, sorted; *ret_ids is malloc'd (free()).  Non-UUID
 * names are ignored. */
int sd_images_list(struct sd *sd, proto_uuid **ret_ids, size_t *ret_n);
/* Ids of the committed volumes (those with a .meta) in an image, sorted. */
int sd_volumes_list(struct sd *sd, const char *img_id, proto_uuid **ret_ids, size_t *ret_n);

/* Open images/<img_id> as an O_DIRECTORY fd (O_CLOEXEC), creating it (and
 * fsyncing images/) when `create`.  -ENOENT if absent and !create,
 * -VMS_E_PATH_ESCAPE if it is a symlink or not a directory. */
int sd_image_dir_open(struct sd *sd, const char *img_id, bool create, int *ret_fd);
/* Exclusive flock() on an image dir fd; blocks.  Released on close(). */
int sd_image_lock(int img_fd);
/* sd_image_dir_open() + sd_image_lock(), making sure the locked dir is still
 * images/<img_id> (a concurrent delete may have removed it while we waited;
 * then it is opened again, or created again when `create`). */
int sd_image_open_locked(struct sd *sd, const char *img_id, bool create, int *ret_fd);
/* rmdir images/<img_id> if it is empty (then fsync images/); an image that
 * is not empty or absent is success. */
int sd_image_remove_if_empty(struct sd *sd, const char *img_id);

/* Modes of what vmseal creates in a domain, set explicitly (never the umask's). */
#define SD_FILE_MODE 0660
#define SD_DIR_MODE  0770

/* openat() helpers that refuse symlinks (-VMS_E_PATH_ESCAPE): a directory
 * (O_DIRECTORY) or a regular file (flags: O_RDONLY, or O_WRONLY|O_CREAT|...;
 * with O_CREAT the file is made SD_FILE_MODE).  The fd is O_CLOEXEC. */
int sd_openat_dir(int dir_fd, const char *name, int *ret_fd);
int sd_openat_file(int dir_fd, const char *name, int flags, int *ret_fd);
/* mkdirat(name) if missing (then chmod SD_DIR_MODE) and sd_openat_dir() it. */
int sd_mkdirat(int dir_fd, const char *name, int *ret_fd);
/* A fresh temporary file `name` for writing: any earlier one (a crashed
 * writer's) is unlinked, then it is created with O_EXCL (SD_FILE_MODE). */
int sd_tmp_createat(int dir_fd, const char *name, int *ret_fd);

/* Fill why (ERR_WHY_LEN bytes) if not NULL. */
void sd_why(char *why, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Absolute path of a volume's data file, for handing to qemu-img:
 * "<sd path>/images/<img>/<vol><suffix>" (suffix "" or ".tmp"), malloc'd.
 * Checks ids only; pair it with an openat() check of the file. */
int sd_volume_path(struct sd *sd, const char *img_id, const char *vol_id, const char *suffix, char **ret_path);
/* realpath() of the domain root. */
const char *sd_real_path(const struct sd *sd);
/* Whether realpath(path) lies strictly below root_real (itself a realpath),
 * e.g. for the files of a backing chain reported by qemu-img.  0 if inside,
 * -VMS_E_PATH_ESCAPE if not (or if path does not exist). */
int sd_path_check_inside(const char *root_real, const char *path);

/* Parse .meta text.  Every key above exactly once, then a line "EOF";
 * unknown or duplicate keys, bad values, a DOMAIN other than `expect_domain`
 * or an IMAGE other than `expect_image` (either may be NULL to skip the
 * check), a missing EOF or anything after it, more than SD_META_MAX_BYTES:
 * -VMS_E_BAD_META with the reason in `why`. */
int sd_meta_parse(const char *buf, size_t len, const char *expect_domain, const char *expect_image,
                  struct vol_meta *ret_meta, char *why);
/* Validate m and format it (keys sorted, EOF line); malloc'd NUL-terminated
 * text.  -VMS_E_INVALID with `why` for an invalid struct. */
int sd_meta_format(const struct vol_meta *m, char **ret_buf, size_t *ret_len, char *why);

/* Open the image dir of volume img_id/vol_id to read or change the volume
 * (never created): sd_image_open_locked() when `locked`, else
 * sd_image_dir_open().  A missing image is a missing volume:
 * -VMS_E_NO_VOLUME, why "<what>volume IMG/VOL does not exist"; any other
 * failure keeps its code, why "<what>image IMG: ERROR".  `what` prefixes
 * both ("" or e.g. "source "). */
int sd_volume_image_open(struct sd *sd, const char *img_id, const char *vol_id, bool locked, const char *what,
                         int *ret_fd, char *why);
/* Read and parse <img>/<vol>.meta (DOMAIN and IMAGE must match).  A missing
 * .meta (or image dir) is -VMS_E_NO_VOLUME. */
int sd_volume_meta_read(struct sd *sd, const char *img_id, const char *vol_id, struct vol_meta *ret_meta,
                        char *why);
/* Same, given an image dir fd already opened (and maybe locked). */
int sd_volume_meta_readat(struct sd *sd, int img_fd, const char *img_id, const char *vol_id,
                          struct vol_meta *ret_meta, char *why);
/* Commit the fully written file `tmp` of dir_fd (open as fd) under `name`:
 * fsync(fd), rename over `name`, fsync(dir_fd).  0 or -errno. */
int sd_file_commitat(int dir_fd, int fd, const char *tmp, const char *name);
/* Write <vol>.meta atomically: <vol>.meta.tmp, fsync, rename over, fsync
 * the image dir.  The caller holds the image lock. */
int sd_volume_meta_writeat(struct sd *sd, int img_fd, const char *vol_id, const struct vol_meta *m, char *why);

#endif
