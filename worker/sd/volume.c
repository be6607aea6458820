/* volume.c - volume.copy / update / delete and sd import (see volume.h). */
#include "volume.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "err.h"
#include "qemu_img.h"
#include "util.h"

static void progress(volume_progress_cb cb, void *ud, int percent, const char *step) {
    if (cb)
        cb(percent, step, ud);
}

static int ids_check(const char *img_id, const char *vol_id, char *why) {
    if (!uuid_is_canonical(img_id) || !uuid_is_canonical(vol_id)) {
        sd_why(why, "image or volume id: not a canonical UUID");
        return -VMS_E_BAD_UUID;
    }
    return 0;
}

/* A path qemu-img can open that stays inside an already opened (and
 * symlink-checked) directory: "/proc/self/fd/<fd>/<name>".  `fd` is a
 * duplicate of dir_fd without O_CLOEXEC, so qemu-img inherits it; the
 * caller closes it after qemu-img is done. */
struct fd_path {
    int fd;
    char path[64 + VMS_UUID_STRLEN];
};

static int fd_path_open(int dir_fd, const char *name, struct fd_path *ret) {
    ret->fd = fcntl(dir_fd, F_DUPFD, 3);
    if (ret->fd < 0)
        return -errno;
    snprintf(ret->path, sizeof ret->path, "/proc/self/fd/%d/%s", ret->fd, name);
    return 0;
}

static void fd_path_close(struct fd_path *p) {
    if (p->fd >= 0)
        close(p->fd);
    p->fd = -1;
}

/* A regular, non-symlink file in dir_fd?  0, -ENOENT or -VMS_E_PATH_ESCAPE. */
static int file_check(int dir_fd, const char *name) {
    _cleanup_close_ int fd = -1;
    return sd_openat_file(dir_fd, name, O_RDONLY, &fd);
}

static int unlink_if_present(int dir_fd, const char *name) {
    if (unlinkat(dir_fd, name, 0) < 0 && errno != ENOENT)
        return -errno;
    return 0;
}

/* Remove every file of a volume; the .meta first (see volume_delete). */
static int volume_files_remove(int img_fd, const char *vol_id) {
    static const char *const suffixes[] = { ".meta", "", ".tmp", ".meta.tmp" };
    char name[VMS_UUID_STRLEN + 16];
    for (size_t i = 0; i < ARRAY_SIZE(suffixes); i++) {
        snprintf(name, sizeof name, "%s%s", vol_id, suffixes[i]);
        int r = unlink_if_present(img_fd, name);
        if (r < 0)
            return r;
        /* The .meta removal (un-commit) must be durable before the data
         * goes, or a crash could leave a .meta without data. */
        if (i == 0 && fsync(img_fd) < 0)
            return -errno;
    }
    return fsync(img_fd) < 0 ? -errno : 0;
}

struct convert_progress {
    volume_progress_cb cb;
    void *userdata;
};

static void convert_progress_cb(int percent, void *userdata) {
    struct convert_progress *p = userdata;
    /* 100 is reserved for the commit. */
    progress(p->cb, p->userdata, percent > 99 ? 99 : percent, "copying");
}

/* Make <tmp> of img_fd durable (qemu-img convert writes with cache=unsafe)
 * and rename it to name. */
static int data_commit(int img_fd, const char *tmp, const char *name) {
    _cleanup_close_ int fd = -1;
    int r = sd_openat_file(img_fd, tmp, O_RDONLY, &fd);
    if (r == 0 && fchmod(fd, SD_FILE_MODE) < 0) /* qemu-img created it with the umask's mode */
        r = -errno;
    return r < 0 ? r : sd_file_commitat(img_fd, fd, tmp, name);
}

/* A RAW volume from a RAW source on a filesystem that shares extents (XFS
 * with reflink, btrfs): a reflink, instant whatever the size.  Returns
 * -EOPNOTSUPP (nothing left behind) where it cannot, and the caller copies. */
static int reflink_copy(const char *src_path, int dir_fd, const char *tmp) {
    _cleanup_close_ int in = open(src_path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (in < 0)
        return -EOPNOTSUPP;
    _cleanup_close_ int out = -1;
    if (sd_openat_file(dir_fd, tmp, O_WRONLY | O_CREAT | O_EXCL, &out) < 0)
        return -EOPNOTSUPP;
    if (ioctl(out, FICLONE, in) == 0)
        return 0;
    unlinkat(dir_fd, tmp, 0);
    return -EOPNOTSUPP;
}

/* Copy src into <vol>.tmp of img_fd (a reflink, or qemu-img convert), fsync,
 * rename to <vol>, then write meta (the commit).  The caller holds the
 * image lock and has removed any partial files. */
static int convert_commit(struct sd *dst_sd, int img_fd, const char *vol_id, const char *src_path,
                          const char *src_fmt, enum vol_format format, const struct vol_meta *meta,
                          volume_progress_cb cb, void *ud, char *why) {
    char tmp[VMS_UUID_STRLEN + 5];
    snprintf(tmp, sizeof tmp, "%s.tmp", vol_id);
    struct fd_path dst = { .fd = -1 };
    int r = fd_path_open(img_fd, tmp, &dst);
    if (r < 0) {
        sd_why(why, "dup: %s", err_str(r));
        return r;
    }
    struct convert_progress cp = { cb, ud };
    progress(cb, ud, 0, "copying");
    if (strcmp(src_fmt, "raw") != 0 || format != FORMAT_RAW || reflink_copy(src_path, img_fd, tmp) < 0)
        r = qemu_img_convert(src_path, src_fmt, dst.path, qemu_img_format_name(format), convert_progress_cb, &cp,
                             why);
    fd_path_close(&dst);
    if (r < 0)
        goto out_remove_files;
    progress(cb, ud, 99, "syncing");
    r = data_commit(img_fd, tmp, vol_id);
    if (r < 0) {
        sd_why(why, "commit data of %s: %s", vol_id, err_str(r));
        goto out_remove_files;
    }
    r = sd_volume_meta_writeat(dst_sd, img_fd, vol_id, meta, why);
    if (r < 0)
        goto out_remove_files;
    progress(cb, ud, 100, "committed");
    return 0;
out_remove_files:
    /* Leave nothing half-created behind (scrub would remove it anyway). */
    volume_files_remove(img_fd, vol_id);
    return r;
}

static void meta_new(struct vol_meta *m, struct sd *sd, const char *img_id, int64_t cap_bytes,
                     enum vol_format format, const char *description) {
    memset(m, 0, sizeof *m);
    m->cap_bytes = cap_bytes;
    m->ctime_s = m->mtime_s = time_now_ms() / 1000;
    snprintf(m->description, sizeof m->description, "%s", description ? description : "");
    memcpy(m->domain, sd_id(sd), sizeof m->domain);
    m->format = format;
    m->gen = 0;
    memcpy(m->image, img_id, sizeof m->image);
    m->legality = LEGALITY_LEGAL;
    memcpy(m->puuid, uuid_nil, sizeof m->puuid);
    m->voltype = VOLTYPE_LEAF;
}

/* Inspect the source volume: its metadata and qemu-img's view of its chain,
 * confined to the domain.  src->fd stays open for the convert. */
static int copy_source_open(struct sd *sd, const char *img_id, const char *vol_id, struct vol_meta *ret_meta,
                            struct qemu_img_info *ret_info, struct fd_path *src, char *why) {
    _cleanup_close_ int img_fd = -1;
    int r = sd_volume_image_open(sd, img_id, vol_id, false, "source ", &img_fd, why);
    if (r < 0)
        return r;
    r = sd_volume_meta_readat(sd, img_fd, img_id, vol_id, ret_meta, why);
    if (r < 0)
        return r;
    r = file_check(img_fd, vol_id);
    if (r < 0) {
        sd_why(why, "source data %s/%s: %s", img_id, vol_id, err_str(r));
        return r == -ENOENT ? -VMS_E_NO_VOLUME : r;
    }
    r = fd_path_open(img_fd, vol_id, src);
    if (r < 0)
        return r;
    /* qemu-img opens it as its FORMAT says (-f), never as it looks; but COW
     * data without the qcow2 magic is damaged, not a qemu-img failure */
    const char *looks = NULL;
    r = qemu_img_format_guess(src->path, &looks);
    if (r == 0 && ret_meta->format == FORMAT_COW && strcmp(looks, "qcow2") != 0) {
        sd_why(why, "source FORMAT says COW but its data is not qcow2");
        return -VMS_E_BAD_META;
    }
    if (r < 0)
        return r;
    /* a chain stays within the volume's own image (its parents live there) */
    _cleanup_free_ char *chain_root = xasprintf("%s/images/%s", sd_real_path(sd), img_id);
    return qemu_img_info(src->path, qemu_img_format_name(ret_meta->format), chain_root, ret_info, why);
}

/* The destination is already committed: the same copy done before (by
 * this template's workflow, when it says which), or a different volume in
 * the way: one of another workflow or made outside vmseal, whose ids an
 * engine chose again, is never taken for this copy. */
static int copy_check_committed(int img_fd, const char *vol_id, const struct vol_meta *dm, int64_t cap_bytes,
                                enum vol_format format, const char *template_id, char *why) {
    if (dm->cap_bytes != cap_bytes || dm->format != format) {
        sd_why(why, "destination %s exists with other CAP or FORMAT", vol_id);
        return -VMS_E_VOLUME_EXISTS;
    }
    if (template_id && strcmp(dm->template_id, template_id) != 0) {
        sd_why(why, "destination %s exists and was not made by template %s (TEMPLATE=%s)", vol_id, template_id,
               dm->template_id[0] ? dm->template_id : "none");
        return -VMS_E_VOLUME_EXISTS;
    }
    int r = file_check(img_fd, vol_id);
    if (r < 0)
        sd_why(why, "destination %s is committed but its data is %s", vol_id, err_str(r));
    return r == -ENOENT ? -VMS_E_BAD_META : r;
}

int volume_copy(struct sd *src_sd, const char *src_img, const char *src_vol, struct sd *dst_sd,
                const char *dst_img, const char *dst_vol, enum vol_format format, const char *template_id,
                volume_progress_cb progress_cb, void *userdata, char *why) {
    int r = ids_check(src_img, src_vol, why);
    if (r == 0)
        r = ids_check(dst_img, dst_vol, why);
    if (r < 0)
        return r;
    if (!qemu_img_format_name(format)) {
        sd_why(why, "destination format must be RAW or COW");
        return -VMS_E_INVALID;
    }
    if (strcmp(sd_id(src_sd), sd_id(dst_sd)) == 0 && strcmp(src_img, dst_img) == 0 &&
        strcmp(src_vol, dst_vol) == 0) {
        sd_why(why, "source and destination are the same volume");
        return -VMS_E_INVALID;
    }
    struct vol_meta sm, dm;
    struct qemu_img_info info;
    struct fd_path src = { .fd = -1 };
    int img_fd = -1;
    r = copy_source_open(src_sd, src_img, src_vol, &sm, &info, &src, why);
    if (r < 0)
        goto out_close_source;
    r = sd_image_open_locked(dst_sd, dst_img, true, &img_fd);
    if (r < 0) {
        sd_why(why, "destination image %s: %s", dst_img, err_str(r));
        goto out_close_source;
    }
    r = sd_volume_meta_readat(dst_sd, img_fd, dst_img, dst_vol, &dm, why);
    if (r == 0) {
        r = copy_check_committed(img_fd, dst_vol, &dm, info.virtual_size, format, template_id, why);
        if (r == 0)
            progress(progress_cb, userdata, 100, "already copied");
        goto out_close_image;
    }
    if (r != -VMS_E_NO_VOLUME)
        goto out_close_image;
    r = volume_files_remove(img_fd, dst_vol); /* a partial earlier attempt */
    if (r < 0) {
        sd_why(why, "remove partial %s: %s", dst_vol, err_str(r));
        goto out_close_image;
    }
    meta_new(&dm, dst_sd, dst_img, info.virtual_size, format, sm.description);
    if (template_id)
        snprintf(dm.template_id, sizeof dm.template_id, "%s", template_id);
    r = convert_commit(dst_sd, img_fd, dst_vol, src.path, info.format, format, &dm, progress_cb, userdata, why);
out_close_image:
    close(img_fd);
out_close_source:
    fd_path_close(&src);
    return r;
}

static int change_check(const struct volume_change *c, char *why) {
    if (c->generation < 0 || c->generation >= SD_GEN_MOD ||
        (c->legality != LEGALITY_NONE && c->legality != LEGALITY_LEGAL && c->legality != LEGALITY_ILLEGAL) ||
        (c->voltype != VOLTYPE_NONE && c->voltype != VOLTYPE_LEAF && c->voltype != VOLTYPE_SHARED &&
         c->voltype != VOLTYPE_INTERNAL) ||
        (c->description && (strlen(c->description) > SD_DESCRIPTION_MAX || strpbrk(c->description, "\r\n")))) {
        sd_why(why, "invalid volume.update (generation, legality, voltype or description)");
        return -VMS_E_INVALID;
    }
    return 0;
}

/* Whether m already has every field the change asks for. */
static bool change_applied(const struct vol_meta *m, const struct volume_change *c) {
    return (c->legality == LEGALITY_NONE || m->legality == c->legality) &&
           (c->voltype == VOLTYPE_NONE || m->voltype == c->voltype) &&
           (!c->description || strcmp(m->description, c->description) == 0);
}

static int update_apply(struct sd *sd, int img_fd, const char *vol_id, struct vol_meta *m,
                        const struct volume_change *c, char *why) {
    if (m->voltype == VOLTYPE_SHARED) {
        sd_why(why, "volume %s is SHARED", vol_id);
        return -VMS_E_VOLUME_SHARED;
    }
    if (c->voltype == VOLTYPE_SHARED && strcmp(m->puuid, uuid_nil) != 0) {
        sd_why(why, "volume %s has parent %s", vol_id, m->puuid);
        return -VMS_E_HAS_PARENT;
    }
    struct vol_meta n = *m;
    if (c->legality != LEGALITY_NONE)
        n.legality = c->legality;
    if (c->voltype != VOLTYPE_NONE)
        n.voltype = c->voltype;
    if (c->description)
        snprintf(n.description, sizeof n.description, "%s", c->description);
    n.gen = (m->gen + 1) % SD_GEN_MOD;
    n.mtime_s = time_now_ms() / 1000;
    int r = sd_volume_meta_writeat(sd, img_fd, vol_id, &n, why);
    if (r == 0)
        *m = n;
    return r;
}

int volume_update(struct sd *sd, const char *img_id, const char *vol_id, const struct volume_change *change,
                  volume_progress_cb progress_cb, void *userdata, struct vol_meta *ret_meta, char *why) {
    int r = ids_check(img_id, vol_id, why);
    if (r == 0)
        r = change_check(change, why);
    if (r < 0)
        return r;
    _cleanup_close_ int img_fd = -1;
    r = sd_volume_image_open(sd, img_id, vol_id, true, "", &img_fd, why);
    if (r < 0)
        return r;
    struct vol_meta m;
    r = sd_volume_meta_readat(sd, img_fd, img_id, vol_id, &m, why);
    if (r < 0)
        return r;
    if (m.gen == change->generation) {
        r = update_apply(sd, img_fd, vol_id, &m, change, why);
    } else if (m.gen == (change->generation + 1) % SD_GEN_MOD && change_applied(&m, change)) {
        r = 0; /* a retry of an update that already happened */
    } else {
        sd_why(why, "volume %s is at generation %d, expected %d", vol_id, m.gen, change->generation);
        r = -VMS_E_GENERATION_MISMATCH;
    }
    if (r < 0)
        return r;
    progress(progress_cb, userdata, 100, "updated");
    if (ret_meta)
        *ret_meta = m;
    return 0;
}

/* Order: the .meta goes first.  It is the commit marker, so removing it is
 * the one atomic step that makes the volume cease to exist; a crash after it
 * leaves data without .meta, which is exactly the "half-created" state that
 * sd_scrub() and a retried delete clean up.  Data first would let a crash
 * leave a .meta without data: a volume that looks committed but is not. */
/* May a job of workflow template_id delete this volume?  A volume without
 * .meta is half-created: anyone's to remove. */
static int delete_allowed(struct sd *sd, int img_fd, const char *img_id, const char *vol_id,
                          const char *template_id, char *why) {
    struct vol_meta m;
    int r = sd_volume_meta_readat(sd, img_fd, img_id, vol_id, &m, why);
    if (r == -VMS_E_NO_VOLUME)
        return 0;
    if (r < 0)
        return r;
    if (m.voltype == VOLTYPE_SHARED) {
        sd_why(why, "volume %s is SHARED and is never deleted by a job", vol_id);
        return -VMS_E_VOLUME_SHARED;
    }
    if (strcmp(m.template_id, template_id) != 0) {
        sd_why(why, "volume %s was not created by template %s (TEMPLATE=%s)", vol_id, template_id,
               m.template_id[0] ? m.template_id : "none");
        return -VMS_E_NOT_OWNER;
    }
    return 0;
}

int volume_delete(struct sd *sd, const char *img_id, const char *vol_id, const char *template_id,
                  volume_progress_cb progress_cb, void *userdata, char *why) {
    int r = ids_check(img_id, vol_id, why);
    if (r < 0)
        return r;
    _cleanup_close_ int img_fd = -1;
    r = sd_image_open_locked(sd, img_id, false, &img_fd);
    if (r == -ENOENT) {
        progress(progress_cb, userdata, 100, "already deleted");
        return 0;
    }
    if (r == 0 && template_id && (r = delete_allowed(sd, img_fd, img_id, vol_id, template_id, why)) < 0)
        return r;
    if (r == 0)
        r = volume_files_remove(img_fd, vol_id);
    if (r == 0)
        r = sd_image_remove_if_empty(sd, img_id);
    if (r < 0) {
        sd_why(why, "delete %s/%s: %s", img_id, vol_id, err_str(r));
        return r;
    }
    progress(progress_cb, userdata, 100, "deleted");
    return 0;
}

int volume_create_from_file(struct sd *sd, const char *file, enum vol_format format,
                            volume_progress_cb progress_cb, void *userdata, proto_uuid ret_img_id,
                            proto_uuid ret_vol_id, char *why) {
    if (!qemu_img_format_name(format)) {
        sd_why(why, "format must be RAW or COW");
        return -VMS_E_INVALID;
    }
    char real[PATH_MAX];
    struct stat st;
    if (!realpath(file, real) || stat(real, &st) < 0) {
        int r = -errno;
        sd_why(why, "%s: %s", file, err_str(r));
        return r;
    }
    if (!S_ISREG(st.st_mode) && !S_ISBLK(st.st_mode)) {
        sd_why(why, "%s: not a file or block device", file);
        return -VMS_E_INVALID;
    }
    /* A file outside any domain: its chain may only use files of its own
     * directory, so a crafted header cannot pull in host files. */
    char dir[PATH_MAX];
    snprintf(dir, sizeof dir, "%s", real);
    *strrchr(dir, '/') = '\0';
    if (!dir[0])
        strcpy(dir, "/");
    struct qemu_img_info info;
    const char *src_fmt;
    int r = qemu_img_format_guess(real, &src_fmt);
    if (r < 0) {
        sd_why(why, "%s: %s", file, err_str(r));
        return r;
    }
    r = qemu_img_info(real, src_fmt, dir, &info, why);
    if (r < 0)
        return r;
    if (strcmp(info.format, "qcow2") != 0 && strcmp(info.format, "raw") != 0) {
        sd_why(why, "%s: format %s not supported (qcow2 or raw)", file, info.format);
        return -VMS_E_INVALID;
    }
    proto_uuid img_id, vol_id;
    uuid_new(img_id);
    uuid_new(vol_id);
    _cleanup_close_ int img_fd = -1;
    r = sd_image_open_locked(sd, img_id, true, &img_fd);
    if (r < 0) {
        sd_why(why, "image %s: %s", img_id, err_str(r));
        return r;
    }
    struct vol_meta m;
    meta_new(&m, sd, img_id, info.virtual_size, format, NULL);
    r = convert_commit(sd, img_fd, vol_id, real, info.format, format, &m, progress_cb, userdata, why);
    if (r < 0) {
        sd_image_remove_if_empty(sd, img_id);
        return r;
    }
    memcpy(ret_img_id, img_id, sizeof img_id);
    memcpy(ret_vol_id, vol_id, sizeof vol_id);
    return 0;
}
