/* qemu_img.c - spawn qemu-img, parse its progress and its JSON (jansson; see qemu_img.h). */
#include "qemu_img.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <jansson.h>

#include "err.h"
#include "util.h"

extern char **environ;

#define QEMU_IMG_MAX_STDOUT (1024 * 1024)

struct run_ctx {
    /* progress mode: parse "(12.34/100%)" records; else collect stdout */
    bool parse_progress;
    qemu_img_progress_cb progress_cb; /* may be NULL in progress mode */
    void *userdata;
    int last_percent;
    char pbuf[64];
    size_t plen;
    char *out;
    size_t out_len;
    char err_tail[ERR_WHY_LEN];
};

/* qemu-img -p writes "    (12.34/100%)\r" records. */
static void progress_record(struct run_ctx *c) {
    c->pbuf[c->plen] = '\0';
    const char *open = strrchr(c->pbuf, '(');
    c->plen = 0;
    if (!open)
        return;
    char *end;
    double pct = strtod(open + 1, &end);
    if (end == open + 1 || strncmp(end, "/100%)", 6) != 0 || pct < 0 || pct > 100)
        return;
    int p = (int)pct;
    if (p != c->last_percent) {
        c->last_percent = p;
        if (c->progress_cb)
            c->progress_cb(p, c->userdata);
    }
}

static void on_stdout(struct run_ctx *c, const char *buf, size_t n) {
    if (!c->parse_progress) {
        if (c->out_len + n > QEMU_IMG_MAX_STDOUT)
            n = QEMU_IMG_MAX_STDOUT - c->out_len;
        c->out = xrealloc(c->out, c->out_len + n + 1);
        memcpy(c->out + c->out_len, buf, n);
        c->out_len += n;
        c->out[c->out_len] = '\0';
        return;
    }
    for (size_t i = 0; i < n; i++) {
        if (buf[i] == '\r' || buf[i] == '\n')
            progress_record(c);
        else if (c->plen < sizeof c->pbuf - 1)
            c->pbuf[c->plen++] = buf[i];
    }
}

/* Keep the last non-empty stderr line (the useful one). */
static void on_stderr(struct run_ctx *c, const char *buf, size_t n) {
    size_t len = strlen(c->err_tail);
    for (size_t i = 0; i < n; i++) {
        if (buf[i] == '\n') {
            len = SIZE_MAX; /* start a new line at the next byte */
            continue;
        }
        if (len == SIZE_MAX)
            len = 0;
        if (len < sizeof c->err_tail - 1) {
            c->err_tail[len++] = buf[i];
            c->err_tail[len] = '\0';
        }
    }
}

static int pump(int out_fd, int err_fd, struct run_ctx *c) {
    struct pollfd p[2] = { { .fd = out_fd, .events = POLLIN }, { .fd = err_fd, .events = POLLIN } };
    int open_fds = 2;
    char buf[4096];
    while (open_fds > 0) {
        if (poll(p, 2, -1) < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        for (int i = 0; i < 2; i++) {
            if (p[i].fd < 0 || !p[i].revents)
                continue;
            ssize_t n = read(p[i].fd, buf, sizeof buf);
            if (n < 0 && errno == EINTR)
                continue;
            if (n <= 0) {
                p[i].fd = -1;
                open_fds--;
                continue;
            }
            if (i == 0)
                on_stdout(c, buf, (size_t)n);
            else
                on_stderr(c, buf, (size_t)n);
        }
    }
    return 0;
}

static int spawn_child(char *const argv[], int out_w, int err_w, pid_t *ret_pid) {
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_adddup2(&fa, out_w, STDOUT_FILENO);
    posix_spawn_file_actions_adddup2(&fa, err_w, STDERR_FILENO);
    /* Default attributes: the child stays in our process group, so the job
     * runtime's kill of the group reaches it. */
    int e = posix_spawnp(ret_pid, argv[0], &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    return -e;
}

/* Run argv; 0 if it exited 0.  stdout goes to c (progress or buffer). */
static int run(char *const argv[], struct run_ctx *c, char *why) {
    int out_p[2], err_p[2];
    if (pipe2(out_p, O_CLOEXEC) < 0)
        return -errno;
    if (pipe2(err_p, O_CLOEXEC) < 0) {
        int r = -errno;
        close(out_p[0]);
        close(out_p[1]);
        return r;
    }
    pid_t pid;
    int r = spawn_child(argv, out_p[1], err_p[1], &pid);
    close(out_p[1]);
    close(err_p[1]);
    if (r < 0) {
        close(out_p[0]);
        close(err_p[0]);
        sd_why(why, "cannot start qemu-img: %s", err_str(r));
        return -VMS_E_QEMU_IMG; /* not installed here: another host may do */
    }
    r = pump(out_p[0], err_p[0], c);
    close(out_p[0]);
    close(err_p[0]);
    int status = 0;
    while (waitpid(pid, &status, 0) < 0) {
        if (errno != EINTR) {
            r = -errno;
            sd_why(why, "waitpid qemu-img: %s", err_str(r));
            return r;
        }
    }
    if (r < 0) {
        sd_why(why, "reading qemu-img output: %s", err_str(r));
        return r;
    }
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
        return 0;
    if (c->err_tail[0])
        sd_why(why, "%s", c->err_tail);
    else if (WIFSIGNALED(status))
        sd_why(why, "qemu-img killed by signal %d", WTERMSIG(status));
    else
        sd_why(why, "qemu-img exited with status %d", WEXITSTATUS(status));
    return -VMS_E_QEMU_IMG;
}

const char *qemu_img_format_name(enum vol_format f) {
    return f == FORMAT_COW ? "qcow2" : f == FORMAT_RAW ? "raw" : NULL;
}

/* Every file name of one image node (and, recursively, of everything it
 * holds: qemu 8's `children`, format-specific data) must be confined. */
static int node_confined(json_t *node, const char *root, char *why) {
    static const char *const keys[] = { "filename", "full-backing-filename", "data-file" };
    if (json_is_array(node)) {
        size_t i;
        json_t *item;
        json_array_foreach(node, i, item) {
            int r = node_confined(item, root, why);
            if (r < 0)
                return r;
        }
        return 0;
    }
    if (!json_is_object(node))
        return 0;
    const char *key;
    json_t *value;
    json_object_foreach(node, key, value) {
        bool is_path = false;
        for (size_t k = 0; k < ARRAY_SIZE(keys); k++)
            is_path = is_path || strcmp(key, keys[k]) == 0;
        if (!is_path) {
            int r = node_confined(value, root, why);
            if (r < 0)
                return r;
            continue;
        }
        const char *path = json_string_value(value);
        if (!path) {
            sd_why(why, "backing chain: %s is not a string in qemu-img info", key);
            return -VMS_E_PATH_ESCAPE;
        }
        if (path[0] != '/' || sd_path_check_inside(root, path) < 0) {
            sd_why(why, "image chain leaves %s: %s", root, path);
            return -VMS_E_PATH_ESCAPE;
        }
    }
    return 0;
}

int qemu_img_info_parse(const char *json, const char *confine_root, struct qemu_img_info *ret_info, char *why) {
    json_error_t jerr;
    json_t *root = json_loads(json, JSON_REJECT_DUPLICATES, &jerr);
    if (!root) {
        sd_why(why, "qemu-img info: bad JSON at line %d: %s", jerr.line, jerr.text);
        return -VMS_E_QEMU_IMG;
    }
    int r = -VMS_E_QEMU_IMG;
    /* --backing-chain prints an array whose first item is the top image;
     * the keys of the top node are its own, never a child's. */
    json_t *top = json_is_array(root) ? json_array_get(root, 0) : root;
    json_t *size = json_object_get(top, "virtual-size");
    const char *format = json_string_value(json_object_get(top, "format"));
    struct qemu_img_info info = { .virtual_size = -1 };
    if (!json_is_integer(size) || json_integer_value(size) < 0 || !format || !format[0] ||
        strlen(format) >= sizeof info.format) {
        sd_why(why, "qemu-img info: no virtual-size or format");
        goto out;
    }
    info.virtual_size = json_integer_value(size);
    snprintf(info.format, sizeof info.format, "%s", format);
    r = node_confined(root, confine_root, why);
    if (r == 0)
        *ret_info = info;
out:
    json_decref(root);
    return r;
}

int qemu_img_format_guess(const char *path, const char **ret_format) {
    unsigned char magic[4] = { 0 };
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    if (fd < 0)
        return -errno;
    ssize_t n = read(fd, magic, sizeof magic);
    int e = errno;
    close(fd);
    if (n < 0)
        return -e;
    *ret_format = n == 4 && memcmp(magic, "QFI\xfb", 4) == 0 ? "qcow2" : "raw";
    return 0;
}

int qemu_img_info(const char *path, const char *format, const char *confine_root, struct qemu_img_info *ret_info,
                  char *why) {
    char *argv[] = { "qemu-img", "info",       "-f", (char *)format, "--backing-chain", "--output=json",
                     "-U",       (char *)path, NULL };
    struct run_ctx c = { .last_percent = -1 };
    int r = run(argv, &c, why);
    if (r == 0 && !c.out) {
        sd_why(why, "qemu-img info: no output");
        r = -VMS_E_QEMU_IMG;
    }
    if (r == 0)
        r = qemu_img_info_parse(c.out, confine_root, ret_info, why);
    free(c.out);
    return r;
}

int qemu_img_convert(const char *src, const char *src_fmt, const char *dst, const char *dst_fmt,
                     qemu_img_progress_cb progress_cb, void *userdata, char *why) {
    /* -C: copy offload (copy_file_range) where the filesystems allow it:
     * extents shared on XFS with reflink and btrfs, a server-side copy on
     * NFS 4.2, an in-kernel copy elsewhere; qemu-img falls back to reading
     * and writing by itself where the kernel refuses. */
    char *argv[] = { "qemu-img", "convert",       "-p",        "-C",        "-f", (char *)src_fmt,
                     "-O",       (char *)dst_fmt, (char *)src, (char *)dst, NULL };
    struct run_ctx c = {
        .last_percent = -1, .parse_progress = true, .progress_cb = progress_cb, .userdata = userdata
    };
    int r = run(argv, &c, why);
    free(c.out);
    return r;
}
