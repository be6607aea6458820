/* sd.c - storage domains: confinement, listing, scrub (see sd.h).
 * The .meta format lives in sd_meta.c. */
#include "sd.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "err.h"
#include "util.h"

struct sd {
    proto_uuid id;
    char *path;      /* as configured (absolute) */
    char *real_path; /* realpath() of the root */
    int root_fd;
    int images_fd;
};

void sd_why(char *why, const char *fmt, ...) {
    if (!why)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, ERR_WHY_LEN, fmt, ap);
    va_end(ap);
}

/* openat() of a directory below the domain that refuses symlinks: a symlink
 * or a non-directory is an escape attempt, not a missing path. */
int sd_openat_dir(int dir_fd, const char *name, int *ret_fd) {
    int fd = openat(dir_fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return (errno == ELOOP || errno == ENOTDIR) ? -VMS_E_PATH_ESCAPE : -errno;
    *ret_fd = fd;
    return 0;
}

/* Same for a regular file; flags adds O_WRONLY/O_CREAT/... as needed. */
int sd_openat_file(int dir_fd, const char *name, int flags, int *ret_fd) {
    int fd = openat(dir_fd, name, flags | O_NOFOLLOW | O_CLOEXEC, SD_FILE_MODE);
    if (fd < 0)
        return errno == ELOOP ? -VMS_E_PATH_ESCAPE : -errno;
    struct stat st;
    if (fstat(fd, &st) < 0) {
        int r = -errno;
        close(fd);
        return r;
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        return -VMS_E_PATH_ESCAPE;
    }
    if ((flags & O_CREAT) && (st.st_mode & 07777) != SD_FILE_MODE && fchmod(fd, SD_FILE_MODE) < 0) {
        int r = -errno; /* the mode is ours, not the umask's */
        close(fd);
        return r;
    }
    *ret_fd = fd;
    return 0;
}

static int fsync_fd(int fd) { return fsync(fd) < 0 ? -errno : 0; }

/* ---- domain metadata (dom_md/metadata: ID=, VERSION=, EOF) ---- */

static int dom_md_parse(const char *buf, proto_uuid ret_id, char *why) {
    char id[64] = "";
    int version = 0;
    int n = sscanf(buf, "ID=%63[^\n]\nVERSION=%d\nEOF", id, &version);
    if (n != 2 || version != 1 || !uuid_is_canonical(id)) {
        sd_why(why, "dom_md/metadata: expected ID=<uuid>, VERSION=1, EOF");
        return -VMS_E_BAD_META;
    }
    memcpy(ret_id, id, VMS_UUID_STRLEN + 1);
    return 0;
}

static int dom_md_read_at(int root_fd, proto_uuid ret_id, char *why) {
    _cleanup_close_ int md_fd = -1, fd = -1;
    int r = sd_openat_dir(root_fd, "dom_md", &md_fd);
    if (r == 0)
        r = sd_openat_file(md_fd, "metadata", O_RDONLY, &fd);
    if (r < 0) {
        sd_why(why, "dom_md/metadata: %s", err_str(r));
        return r;
    }
    char buf[256];
    ssize_t len = read(fd, buf, sizeof buf - 1);
    if (len < 0) {
        r = -errno;
        sd_why(why, "dom_md/metadata: %s", err_str(r));
        return r;
    }
    buf[len] = '\0';
    return dom_md_parse(buf, ret_id, why);
}

int sd_mkdirat(int dir_fd, const char *name, int *ret_fd) {
    bool created = mkdirat(dir_fd, name, SD_DIR_MODE) == 0;
    if (!created && errno != EEXIST)
        return -errno;
    int r = sd_openat_dir(dir_fd, name, ret_fd);
    if (r == 0 && created && fchmod(*ret_fd, SD_DIR_MODE) < 0) { /* not the umask's */
        r = -errno;
        close(*ret_fd);
        *ret_fd = -1;
    }
    return r;
}

int sd_tmp_createat(int dir_fd, const char *name, int *ret_fd) {
    if (unlinkat(dir_fd, name, 0) < 0 && errno != ENOENT) /* a crashed writer's */
        return -errno;
    return sd_openat_file(dir_fd, name, O_WRONLY | O_CREAT | O_EXCL, ret_fd);
}

static int dom_md_write_at(int root_fd, const char *id, char *why) {
    _cleanup_close_ int md_fd = -1, fd = -1;
    int r = sd_mkdirat(root_fd, "dom_md", &md_fd);
    if (r < 0)
        return r;
    r = sd_tmp_createat(md_fd, "metadata.tmp", &fd);
    if (r < 0)
        return r;
    _cleanup_free_ char *text = xasprintf("ID=%s\nVERSION=1\nEOF\n", id);
    r = write_all(fd, text, strlen(text));
    if (r == 0)
        r = fsync_fd(fd);
    if (r == 0 && renameat(md_fd, "metadata.tmp", md_fd, "metadata") < 0)
        r = -errno;
    if (r == 0)
        r = fsync_fd(md_fd);
    if (r == 0)
        r = fsync_fd(root_fd);
    if (r < 0)
        sd_why(why, "dom_md/metadata: %s", err_str(r));
    return r;
}

int sd_create(const char *id, const char *path, char *why) {
    if (!uuid_is_canonical(id)) {
        sd_why(why, "domain id: not a canonical UUID");
        return -VMS_E_BAD_UUID;
    }
    if (!path || path[0] != '/') {
        sd_why(why, "domain path must be absolute");
        return -VMS_E_INVALID;
    }
    bool created = mkdir(path, SD_DIR_MODE) == 0;
    if (!created && errno != EEXIST) {
        int r = -errno;
        sd_why(why, "%s: %s", path, err_str(r));
        return r;
    }
    _cleanup_close_ int root_fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (root_fd < 0 || (created && fchmod(root_fd, SD_DIR_MODE) < 0)) {
        int r = -errno;
        sd_why(why, "%s: %s", path, err_str(r));
        return r;
    }
    proto_uuid old;
    int r = dom_md_read_at(root_fd, old, NULL);
    if (r == 0 && strcmp(old, id) != 0) {
        sd_why(why, "%s is already domain %s", path, old);
        return -VMS_E_CONFLICT;
    }
    _cleanup_close_ int images_fd = -1;
    r = sd_mkdirat(root_fd, "images", &images_fd);
    if (r < 0) {
        sd_why(why, "%s/images: %s", path, err_str(r));
        return r;
    }
    return dom_md_write_at(root_fd, id, why);
}

int sd_read_id(const char *path, proto_uuid ret_id, char *why) {
    _cleanup_close_ int root_fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (root_fd < 0) {
        int r = -errno;
        sd_why(why, "%s: %s", path, err_str(r));
        return r;
    }
    return dom_md_read_at(root_fd, ret_id, why);
}

int sd_open(const char *id, const char *path, struct sd **ret_sd, char *why) {
    if (!uuid_is_canonical(id)) {
        sd_why(why, "domain id: not a canonical UUID");
        return -VMS_E_BAD_UUID;
    }
    if (!path || path[0] != '/') {
        sd_why(why, "domain path must be absolute");
        return -VMS_E_INVALID;
    }
    struct sd *sd = xcalloc(1, sizeof *sd);
    sd->root_fd = sd->images_fd = -1;
    memcpy(sd->id, id, sizeof sd->id);
    sd->path = xstrdup(path);
    int r;
    sd->root_fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (sd->root_fd < 0) {
        r = -errno;
        sd_why(why, "%s: %s", path, err_str(r));
        goto fail;
    }
    char real[PATH_MAX];
    if (!realpath(path, real)) {
        r = -errno;
        sd_why(why, "%s: %s", path, err_str(r));
        goto fail;
    }
    sd->real_path = xstrdup(real);
    r = sd_openat_dir(sd->root_fd, "images", &sd->images_fd);
    if (r < 0) {
        sd_why(why, "%s/images: %s", path, err_str(r));
        goto fail;
    }
    proto_uuid stored;
    if (dom_md_read_at(sd->root_fd, stored, NULL) == 0 && strcmp(stored, id) != 0) {
        r = -VMS_E_UNKNOWN_DOMAIN;
        sd_why(why, "%s holds domain %s, not %s", path, stored, id);
        goto fail;
    }
    *ret_sd = sd;
    return 0;
fail:
    sd_close(sd);
    return r;
}

int sd_open_path(const char *path, struct sd **ret_sd, char *why) {
    proto_uuid id;
    int r = sd_read_id(path, id, why);
    if (r < 0)
        return r;
    return sd_open(id, path, ret_sd, why);
}

void sd_close(struct sd *sd) {
    if (!sd)
        return;
    if (sd->images_fd >= 0)
        close(sd->images_fd);
    if (sd->root_fd >= 0)
        close(sd->root_fd);
    free(sd->path);
    free(sd->real_path);
    free(sd);
}

const char *sd_id(const struct sd *sd) { return sd->id; }
const char *sd_path(const struct sd *sd) { return sd->path; }

/* ---- images ---- */

int sd_image_dir_open(struct sd *sd, const char *img_id, bool create, int *ret_fd) {
    if (!uuid_is_canonical(img_id))
        return -VMS_E_BAD_UUID;
    if (!create)
        return sd_openat_dir(sd->images_fd, img_id, ret_fd);
    int r = sd_mkdirat(sd->images_fd, img_id, ret_fd);
    if (r == 0 && (r = fsync_fd(sd->images_fd)) < 0) {
        close(*ret_fd);
        *ret_fd = -1;
    }
    return r;
}

int sd_image_lock(int img_fd) {
    while (flock(img_fd, LOCK_EX) < 0) {
        if (errno != EINTR)
            return -errno;
    }
    return 0;
}

int sd_image_open_locked(struct sd *sd, const char *img_id, bool create, int *ret_fd) {
    for (int attempt = 0; attempt < 5; attempt++) {
        int fd = -1;
        int r = sd_image_dir_open(sd, img_id, create, &fd);
        if (r == -ENOENT && create)
            continue; /* made, then removed as empty (another worker's scrub) before we opened it */
        if (r < 0)
            return r;
        struct stat st;
        r = sd_image_lock(fd);
        if (r == 0 && fstat(fd, &st) < 0)
            r = -errno;
        if (r < 0) {
            close(fd);
            return r;
        }
        if (st.st_nlink > 0) {
            *ret_fd = fd;
            return 0;
        }
        close(fd); /* removed while we waited for the lock */
    }
    return -EAGAIN;
}

int sd_image_remove_if_empty(struct sd *sd, const char *img_id) {
    if (!uuid_is_canonical(img_id))
        return -VMS_E_BAD_UUID;
    if (unlinkat(sd->images_fd, img_id, AT_REMOVEDIR) < 0)
        return (errno == ENOTEMPTY || errno == EEXIST || errno == ENOENT) ? 0 : -errno;
    return fsync_fd(sd->images_fd);
}

int sd_volume_path(struct sd *sd, const char *img_id, const char *vol_id, const char *suffix, char **ret_path) {
    if (!uuid_is_canonical(img_id) || !uuid_is_canonical(vol_id))
        return -VMS_E_BAD_UUID;
    if (strcmp(suffix, "") != 0 && strcmp(suffix, ".tmp") != 0 && strcmp(suffix, ".meta") != 0)
        return -VMS_E_INVALID;
    *ret_path = xasprintf("%s/images/%s/%s%s", sd->path, img_id, vol_id, suffix);
    return 0;
}

const char *sd_real_path(const struct sd *sd) { return sd->real_path; }

int sd_path_check_inside(const char *root_real, const char *path) {
    char real[PATH_MAX];
    if (!realpath(path, real))
        return errno == ENOENT ? -VMS_E_PATH_ESCAPE : -errno;
    size_t n = strlen(root_real);
    if (n == 1) /* "/" */
        return 0;
    if (strncmp(real, root_real, n) != 0 || real[n] != '/')
        return -VMS_E_PATH_ESCAPE;
    return 0;
}

/* ---- listing ---- */

static int cmp_uuid(const void *a, const void *b) { return strcmp(a, b); }

/* Call entry_cb for each name in dir_fd (a fresh open file description, so
 * the caller's fd offset is untouched). */
static int dir_for_each(int dir_fd, int (*entry_cb)(int dir_fd, const char *name, void *ud), void *ud) {
    int fd = openat(dir_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    DIR *d = fdopendir(fd);
    if (!d) {
        int r = -errno;
        close(fd);
        return r;
    }
    int r = 0;
    struct dirent *de;
    errno = 0;
    while (r == 0 && (de = readdir(d))) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        r = entry_cb(dir_fd, de->d_name, ud);
        errno = 0;
    }
    if (r == 0 && errno != 0)
        r = -errno;
    closedir(d);
    return r;
}

struct id_list {
    proto_uuid *ids;
    size_t n, cap;
    bool want_meta; /* volumes: names "<uuid>.meta"; images: "<uuid>" dirs */
};

static void id_list_add(struct id_list *l, const char *id) {
    if (l->n == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 16;
        l->ids = xrealloc(l->ids, l->cap * sizeof *l->ids);
    }
    memcpy(l->ids[l->n++], id, VMS_UUID_STRLEN + 1);
}

static int list_entry_cb(int dir_fd, const char *name, void *ud) {
    struct id_list *l = ud;
    size_t len = strlen(name);
    struct stat st;
    if (l->want_meta) {
        if (len != VMS_UUID_STRLEN + 5 || strcmp(name + VMS_UUID_STRLEN, ".meta") != 0 ||
            !uuid_is_canonical_n(name, VMS_UUID_STRLEN))
            return 0;
        if (fstatat(dir_fd, name, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISREG(st.st_mode))
            return 0;
        char id[VMS_UUID_STRLEN + 1];
        memcpy(id, name, VMS_UUID_STRLEN);
        id[VMS_UUID_STRLEN] = '\0';
        id_list_add(l, id);
    } else {
        if (!uuid_is_canonical(name))
            return 0;
        if (fstatat(dir_fd, name, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISDIR(st.st_mode))
            return 0;
        id_list_add(l, name);
    }
    return 0;
}

static int list_finish(struct id_list *l, int r, proto_uuid **ret_ids, size_t *ret_n) {
    if (r < 0) {
        free(l->ids);
        return r;
    }
    if (l->n)
        qsort(l->ids, l->n, sizeof *l->ids, cmp_uuid);
    *ret_ids = l->ids;
    *ret_n = l->n;
    return 0;
}

int sd_images_list(struct sd *sd, proto_uuid **ret_ids, size_t *ret_n) {
    struct id_list l = { .want_meta = false };
    int r = dir_for_each(sd->images_fd, list_entry_cb, &l);
    return list_finish(&l, r, ret_ids, ret_n);
}

int sd_volumes_list(struct sd *sd, const char *img_id, proto_uuid **ret_ids, size_t *ret_n) {
    _cleanup_close_ int img_fd = -1;
    int r = sd_image_dir_open(sd, img_id, false, &img_fd);
    if (r < 0)
        return r;
    struct id_list l = { .want_meta = true };
    r = dir_for_each(img_fd, list_entry_cb, &l);
    return list_finish(&l, r, ret_ids, ret_n);
}

/* ---- scrub ---- */

struct scrub_ctx {
    unsigned removed, skipped;
};

/* A volume's own file: "<uuid>", "<uuid>.meta", "<uuid>.tmp" or
 * "<uuid>.meta.tmp".  Returns the suffix, or NULL for a foreign name. */
static const char *vol_file_suffix(const char *name) {
    if (strlen(name) < VMS_UUID_STRLEN || !uuid_is_canonical_n(name, VMS_UUID_STRLEN))
        return NULL;
    const char *s = name + VMS_UUID_STRLEN;
    if (!strcmp(s, "") || !strcmp(s, ".meta") || !strcmp(s, ".tmp") || !strcmp(s, ".meta.tmp"))
        return s;
    return NULL;
}

static int scrub_entry_cb(int img_fd, const char *name, void *ud) {
    struct scrub_ctx *c = ud;
    const char *suffix = vol_file_suffix(name);
    struct stat st;
    if (!suffix || fstatat(img_fd, name, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISREG(st.st_mode)) {
        c->skipped++;
        return 0;
    }
    bool remove = false;
    if (!strcmp(suffix, ".tmp") || !strcmp(suffix, ".meta.tmp")) {
        remove = true;
    } else if (!strcmp(suffix, "")) {
        char meta[VMS_UUID_STRLEN + 6];
        snprintf(meta, sizeof meta, "%s.meta", name);
        remove = fstatat(img_fd, meta, &st, AT_SYMLINK_NOFOLLOW) < 0 && errno == ENOENT;
    }
    if (!remove)
        return 0;
    if (unlinkat(img_fd, name, 0) < 0 && errno != ENOENT)
        return -errno;
    c->removed++;
    return 0;
}

static int scrub_image_cb(int images_fd, const char *name, void *ud) {
    struct scrub_ctx *c = ud;
    if (!uuid_is_canonical(name)) {
        c->skipped++;
        return 0;
    }
    _cleanup_close_ int img_fd = -1;
    int r = sd_openat_dir(images_fd, name, &img_fd);
    if (r == -VMS_E_PATH_ESCAPE) {
        c->skipped++;
        return 0;
    }
    if (r < 0)
        return r == -ENOENT ? 0 : r;
    /* An image another process is working on (a copy in flight) is not
     * half-created: leave it to that process. */
    if (flock(img_fd, LOCK_EX | LOCK_NB) < 0)
        return errno == EWOULDBLOCK ? 0 : -errno;
    unsigned before = c->removed;
    r = dir_for_each(img_fd, scrub_entry_cb, c);
    if (r == 0 && c->removed != before)
        r = fsync_fd(img_fd);
    if (r == 0 && unlinkat(images_fd, name, AT_REMOVEDIR) == 0)
        r = fsync_fd(images_fd);
    return r;
}

int sd_scrub(struct sd *sd, unsigned *ret_removed, unsigned *ret_skipped, char *why) {
    struct scrub_ctx c = { 0 };
    int r = dir_for_each(sd->images_fd, scrub_image_cb, &c);
    if (r < 0)
        sd_why(why, "scrub %s: %s", sd->path, err_str(r));
    if (ret_removed)
        *ret_removed = c.removed;
    if (ret_skipped)
        *ret_skipped = c.skipped;
    return r;
}
