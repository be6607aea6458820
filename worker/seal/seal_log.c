/* seal_log.c - the path-by-path seal report (see seal_log.h). */
#include "seal_log.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "err.h"
#include "json.h"
#include "util.h"

enum seal_log_kind { LOG_REMOVED, LOG_CHANGED, LOG_SKIPPED };

struct seal_log_entry {
    enum seal_log_kind kind;
    char *op;   /* NULL outside an operation */
    char *text; /* the path, or the skip message */
};

struct seal_log {
    struct seal_log_entry *v;
    size_t n, cap;
};

struct seal_log *seal_log_new(void) {
    return xcalloc(1, sizeof(struct seal_log));
}

void seal_log_free(struct seal_log *l) {
    if (!l)
        return;
    for (size_t i = 0; i < l->n; i++) {
        free(l->v[i].op);
        free(l->v[i].text);
    }
    free(l->v);
    free(l);
}

void seal_log_event(struct seal_log *l, enum seal_event ev, const char *op, const char *detail) {
    enum seal_log_kind kind;
    if (ev == SEAL_EV_REMOVED)
        kind = LOG_REMOVED;
    else if (ev == SEAL_EV_CHANGED)
        kind = LOG_CHANGED;
    else if (ev == SEAL_EV_PHASE && op && strcmp(op, "skip") == 0)
        kind = LOG_SKIPPED;
    else
        return;
    if (l->n == l->cap)
        l->v = xrealloc(l->v, (l->cap = l->cap ? l->cap * 2 : 64) * sizeof(*l->v));
    l->v[l->n++] = (struct seal_log_entry){
        .kind = kind,
        .op = op && kind != LOG_SKIPPED ? xstrdup(op) : NULL,
        .text = xstrdup(detail ? detail : ""),
    };
}

const char *seal_report_mountpoint(const struct seal_report *rep, const char *path) {
    const char *best = "/";
    size_t best_len = 1;
    for (size_t i = 0; i < rep->n_fs; i++) {
        const char *mp = rep->fs[i].mountpoint;
        size_t len = strlen(mp);
        if (len > best_len && strncmp(path, mp, len) == 0 && (path[len] == '/' || path[len] == '\0')) {
            best = mp;
            best_len = len;
        }
    }
    return best;
}

/* The paths of one kind logged by op on the filesystem mounted at mp. */
static void paths_write(struct json *j, const struct seal_log *l, const struct seal_report *rep, const char *op,
                        const char *mp, enum seal_log_kind kind, const char *key) {
    json_arr_open(j, key);
    for (size_t i = 0; i < l->n; i++) {
        const struct seal_log_entry *e = &l->v[i];
        if (e->kind == kind && e->op && strcmp(e->op, op) == 0 &&
            strcmp(seal_report_mountpoint(rep, e->text), mp) == 0)
            json_str(j, NULL, e->text);
    }
    json_close(j);
}

static void op_write(struct json *j, const struct seal_log *l, const struct seal_report *rep,
                     const struct seal_op_result *o) {
    json_obj_open(j, NULL);
    json_str(j, "name", o->name);
    json_int(j, "removed", o->removed);
    json_int(j, "changed", o->changed);
    json_int(j, "ms", o->ms);
    json_arr_open(j, "filesystems");
    for (size_t f = 0; f < rep->n_fs; f++) {
        const char *mp = rep->fs[f].mountpoint;
        bool any = false;
        for (size_t i = 0; i < l->n && !any; i++)
            any = l->v[i].kind != LOG_SKIPPED && l->v[i].op && strcmp(l->v[i].op, o->name) == 0 &&
                  strcmp(seal_report_mountpoint(rep, l->v[i].text), mp) == 0;
        if (!any)
            continue;
        json_obj_open(j, NULL);
        json_str(j, "mountpoint", mp);
        paths_write(j, l, rep, o->name, mp, LOG_REMOVED, "removed");
        paths_write(j, l, rep, o->name, mp, LOG_CHANGED, "changed");
        json_close(j);
    }
    json_close(j);
    json_close(j);
}

static void fs_list_write(struct json *j, const char *key, const struct seal_fs_info *v, size_t n, bool missing) {
    json_arr_open(j, key);
    for (size_t i = 0; i < n; i++) {
        json_obj_open(j, NULL);
        json_str(j, missing ? "spec" : "device", v[i].device);
        json_str(j, missing ? "reason" : "type",
                 missing && strcmp(v[i].type, "allowed") == 0 ? "allow-missing" : v[i].type);
        json_str(j, "mountpoint", v[i].mountpoint);
        json_close(j);
    }
    json_close(j);
}

static void document_write(FILE *f, const struct seal_log *l, const struct seal_report *rep, int err,
                           const char *err_msg) {
    struct json j;
    json_begin(&j, f);
    json_obj_open(&j, NULL);
    json_str(&j, "result", err < 0 ? "failed" : rep->dry_run ? "dry-run" : "sealed");
    if (err < 0) {
        json_obj_open(&j, "error");
        json_str(&j, "code", err_name(err));
        json_str(&j, "message", err_msg && *err_msg ? err_msg : err_str(err));
        json_bool(&j, "permanent", err_permanent(err));
        json_close(&j);
    }
    json_bool(&j, "dry_run", rep->dry_run); /* nothing was written, whatever the result */
    json_str(&j, "root", rep->root_device);
    json_str(&j, "distro", rep->distro);
    json_str(&j, "family", seal_family_to_string(rep->family));
    fs_list_write(&j, "filesystems", rep->fs, rep->n_fs, false);
    fs_list_write(&j, "not_sealed", rep->missing, rep->n_missing, true);
    json_int(&j, "removed", rep->removed_total);
    json_int(&j, "changed", rep->changed_total);
    json_arr_open(&j, "operations");
    for (size_t i = 0; i < rep->n_ops; i++)
        op_write(&j, l, rep, &rep->ops[i]);
    json_close(&j);
    json_arr_open(&j, "skipped");
    for (size_t i = 0; i < l->n; i++)
        if (l->v[i].kind == LOG_SKIPPED)
            json_str(&j, NULL, l->v[i].text);
    json_close(&j);
    json_obj_open(&j, "ms");
    json_int(&j, "launch", rep->launch_ms);
    json_int(&j, "inspect", rep->inspect_ms);
    json_int(&j, "operations", rep->ops_ms);
    json_int(&j, "shutdown", rep->shutdown_ms);
    json_int(&j, "total", rep->total_ms);
    json_close(&j);
    json_close(&j);
    json_end(&j);
}

int seal_log_write_json(const struct seal_log *l, const struct seal_report *rep, int err, const char *err_msg,
                        const char *path) {
    _cleanup_free_ char *tmp = xasprintf("%s.XXXXXX", path);
    int fd = mkstemp(tmp);
    if (fd < 0)
        return -errno;
    FILE *f = fdopen(fd, "w");
    if (!f) {
        int e = errno;
        close(fd);
        unlink(tmp);
        return -e;
    }
    document_write(f, l, rep, err, err_msg);
    int r = ferror(f) ? -EIO : 0;
    if (fclose(f) != 0 && r == 0)
        r = -errno;
    if (r == 0 && rename(tmp, path) < 0)
        r = -errno;
    if (r < 0)
        unlink(tmp);
    return r;
}
