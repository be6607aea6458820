/* seal_ops_util.c - batched filesystem helpers shared by the operations.
 *
 * Round trips to the appliance are the cost here (≈0.3 ms each, plus the
 * work): one glob_expand per pattern, one readdir per directory walked,
 * and a stat only where a removal mode needs the file type.
 */
#include <errno.h>
#include <string.h>
#include <sys/stat.h>

#include "err.h"
#include "seal_ops.h"
#include "seal_text.h"
#include "util.h"

#define SEAL_READ_MAX  (1024 * 1024) /* the largest guest file read */
#define SEAL_PREAD_MAX (SEAL_READ_MAX + 1)

void seal_strv_free(char **v) {
    if (!v)
        return;
    for (char **p = v; *p; p++)
        free(*p);
    free(v);
}

char **seal_strv_copy(char *const *v) {
    size_t n = 0;
    while (v && v[n])
        n++;
    char **c = xcalloc(n + 1, sizeof(*c));
    for (size_t i = 0; i < n; i++)
        c[i] = xstrdup(v[i]);
    return c;
}

int seal_glob(struct seal_ctx *ctx, const char *glob, char ***ret) {
    char **v = guestfs_glob_expand_opts(ctx->g, glob, GUESTFS_GLOB_EXPAND_OPTS_DIRECTORYSLASH, 0, -1);
    if (!v)
        return seal_gerr(ctx, glob);
    *ret = v;
    return 0;
}

void seal_note_skipped(struct seal_ctx *ctx, const char *path, const char *why) {
    if (ctx->cb) {
        _cleanup_free_ char *msg = xasprintf("%s: %s, left alone", path, why);
        ctx->cb(ctx->ud, SEAL_EV_PHASE, "skip", ctx->percent, msg);
    }
}

int seal_lstat_type(struct seal_ctx *ctx, const char *path) {
    struct guestfs_statns *st = guestfs_lstatns(ctx->g, path);
    if (!st)
        return guestfs_last_errno(ctx->g) == ENOENT ? 0 : seal_gerr(ctx, path);
    int type = (int)(st->st_mode & S_IFMT);
    guestfs_free_statns(st);
    return type;
}

void seal_contained_reset(struct seal_ctx *ctx) {
    seal_strv_free(ctx->contained);
    ctx->contained = NULL;
    ctx->n_contained = 0;
}

#define CONTAINED_MAX 256

/* dir (len bytes) is, or is above, a directory found free of symlinks. */
static bool contained_known(const struct seal_ctx *ctx, const char *dir, size_t len) {
    for (size_t i = 0; i < ctx->n_contained; i++) {
        const char *c = ctx->contained[i];
        if (strncmp(c, dir, len) == 0 && (c[len] == '\0' || c[len] == '/'))
            return true;
    }
    return false;
}

int seal_path_contained(struct seal_ctx *ctx, const char *path) {
    const char *last = strrchr(path, '/');
    if (!last || last == path)
        return 1;
    size_t len = (size_t)(last - path);
    if (contained_known(ctx, path, len))
        return 1;
    /* Each component not known yet, top down: one lstat each. */
    for (size_t end = 1; end <= len; end++) {
        if (end < len && path[end] != '/')
            continue;
        if (contained_known(ctx, path, end))
            continue;
        _cleanup_free_ char *dir = xstrndup(path, end);
        int type = seal_lstat_type(ctx, dir);
        if (type == 0)
            return 1; /* nothing below it to reach */
        if (type < 0)
            return type;
        if (type == S_IFLNK) {
            _cleanup_free_ char *why = xasprintf("%s is a symlink in the guest", dir);
            seal_note_skipped(ctx, path, why);
            return 0;
        }
    }
    if (ctx->n_contained < CONTAINED_MAX) {
        ctx->contained = xrealloc(ctx->contained, (ctx->n_contained + 2) * sizeof(*ctx->contained));
        ctx->contained[ctx->n_contained++] = xstrndup(path, len);
        ctx->contained[ctx->n_contained] = NULL;
    }
    return 1;
}

/* Whether path is a directory (not following symlinks): 1, 0, or < 0. */
static int path_is_dir(struct seal_ctx *ctx, const char *path) {
    int type = seal_lstat_type(ctx, path);
    return type < 0 ? type : type == S_IFDIR;
}

/* guestfs_rm is an unlink() in the daemon, while rm_f and rm_rf run the rm
 * program: under TCG every process started in the appliance costs tens of
 * milliseconds and grows qemu's translation cache (its RSS).  So files are
 * unlinked directly and only directories go to rm_rf. */
int seal_rm_path(struct seal_ctx *ctx, const char *path, enum seal_rm_mode mode) {
    int contained = seal_path_contained(ctx, path);
    if (contained <= 0)
        return contained;
    if (mode == SEAL_RM_NOSYMLINK) {
        int type = seal_lstat_type(ctx, path);
        if (type <= 0 || type == S_IFLNK)
            return type < 0 ? type : 0;
    }
    if (guestfs_rm(ctx->g, path) < 0) {
        /* Gone meanwhile is fine; a directory is for rm_rf; anything else
         * is rm's error (a successful lstat leaves libguestfs' last error) */
        int type = seal_lstat_type(ctx, path);
        if (type <= 0)
            return type;
        if (type != S_IFDIR)
            return seal_gerr(ctx, path);
        if (mode != SEAL_RM_RF)
            return 0;
        if (guestfs_rm_rf(ctx->g, path) < 0)
            return seal_gerr(ctx, path);
    }
    seal_note_removed(ctx, path);
    return 0;
}

int seal_rm_globs(struct seal_ctx *ctx, const char *const *globs, enum seal_rm_mode mode) {
    for (const char *const *gp = globs; *gp; gp++) {
        char **paths = NULL;
        int r = seal_glob(ctx, *gp, &paths);
        if (r < 0)
            return r;
        for (char **p = paths; *p && r == 0; p++)
            r = seal_rm_path(ctx, *p, mode);
        seal_strv_free(paths);
        if (r < 0)
            return r;
    }
    return 0;
}

int seal_rm_walk(struct seal_ctx *ctx, const char *top, bool (*match)(const char *name), bool all_types) {
    int r = seal_path_contained(ctx, top);
    if (r > 0)
        r = path_is_dir(ctx, top);
    if (r <= 0)
        return r;
    r = 0;
    /* One readdir per directory: a daemon call that gives each entry's type
     * without starting a process in the appliance (find would). */
    size_t n = 1, cap = 64;
    char **stack = xcalloc(cap, sizeof(*stack));
    stack[0] = xstrdup(top);
    while (n > 0 && r == 0) {
        char *dir = stack[--n];
        struct guestfs_dirent_list *ents = guestfs_readdir(ctx->g, dir);
        if (!ents)
            r = seal_gerr(ctx, dir);
        for (size_t i = 0; ents && i < ents->len && r == 0; i++) {
            const struct guestfs_dirent *e = &ents->val[i];
            if (strcmp(e->name, ".") == 0 || strcmp(e->name, "..") == 0)
                continue;
            if (e->ftyp == 'd') {
                if (n == cap)
                    stack = xrealloc(stack, (cap *= 2) * sizeof(*stack));
                stack[n++] = xasprintf("%s/%s", dir, e->name);
            } else if ((all_types || e->ftyp == 'r') && (!match || match(e->name))) {
                _cleanup_free_ char *path = xasprintf("%s/%s", dir, e->name);
                if (guestfs_rm(ctx->g, path) < 0)
                    r = seal_gerr(ctx, path);
                else
                    seal_note_removed(ctx, path);
            }
        }
        if (ents)
            guestfs_free_dirent_list(ents);
        free(dir);
    }
    while (n > 0)
        free(stack[--n]);
    free(stack);
    return r;
}

int seal_rm_files_below(struct seal_ctx *ctx, const char *dir) { return seal_rm_walk(ctx, dir, NULL, true); }

int seal_read(struct seal_ctx *ctx, const char *path, char **ret, size_t *ret_len) {
    *ret = NULL;
    *ret_len = 0;
    /* Type and size first, without following a symlink (an absolute guest
     * symlink would resolve inside the appliance): a FIFO would block, a
     * sparse multi-terabyte file would be streamed to the host. */
    int r = seal_path_contained(ctx, path);
    if (r <= 0)
        return r;
    struct guestfs_statns *st = guestfs_lstatns(ctx->g, path);
    if (!st)
        return guestfs_last_errno(ctx->g) == ENOENT ? 0 : seal_gerr(ctx, path);
    bool regular = (st->st_mode & S_IFMT) == S_IFREG;
    int64_t size = st->st_size;
    guestfs_free_statns(st);
    if (!regular) {
        seal_note_skipped(ctx, path, "not a regular file");
        return 0;
    }
    if (size > SEAL_READ_MAX) {
        snprintf(ctx->why, ERR_WHY_LEN, "guest file %s is %lld bytes, over the %d bytes vmseal reads", path,
                 (long long)size, SEAL_READ_MAX);
        return -VMS_E_UNSUPPORTED_GUEST;
    }
    /* pread is one daemon round trip (read_file goes through a download to
     * a host temporary file).  One byte more than allowed: a file that grew
     * since the stat is refused too. */
    size_t len = 0;
    char *buf = guestfs_pread(ctx->g, path, SEAL_PREAD_MAX, 0, &len);
    if (!buf)
        return seal_gerr(ctx, path);
    if (len > SEAL_READ_MAX) {
        free(buf);
        snprintf(ctx->why, ERR_WHY_LEN, "guest file %s is over the %d bytes vmseal reads", path, SEAL_READ_MAX);
        return -VMS_E_UNSUPPORTED_GUEST;
    }
    /* libguestfs buffers are not NUL-terminated; callers parse text. */
    char *text = xmalloc(len + 1);
    memcpy(text, buf, len);
    text[len] = '\0';
    free(buf);
    *ret = text;
    *ret_len = len;
    return 0;
}

int seal_filter_lines(struct seal_ctx *ctx, const char *path,
                      bool (*keep)(const char *line, size_t len, const void *arg), const void *arg) {
    char *buf = NULL;
    size_t len = 0;
    int r = seal_read(ctx, path, &buf, &len);
    if (r < 0 || !buf)
        return r;
    char *out = NULL;
    size_t out_len = 0;
    bool dropped = seal_text_filter_lines(buf, len, keep, arg, &out, &out_len);
    if (dropped) {
        if (guestfs_write(ctx->g, path, out, out_len) < 0)
            r = seal_gerr(ctx, path);
        else
            seal_note_changed(ctx, path);
    }
    free(out);
    free(buf);
    return r;
}
