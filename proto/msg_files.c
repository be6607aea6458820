/* msg_files.c - what a seal did (struct proto_files, proto.h): the bounded
 * builder, the `files` map of events and RPC status jobs, and its encoding
 * on its own (what the producer stores). */
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "msg.h"
#include "sysprep_ops.h"
#include "util.h"
#include "wire_names.h"

_Static_assert(PROTO_SYSPREP_N_OPS <= PROTO_FILES_OPS_MAX, "every operation must fit in files.ops");
_Static_assert(PROTO_FILES_PATHS_MAX <= PROTO_FILES_COUNT_MAX, "a listed path is always counted");

/* ---- building ------------------------------------------------------------------ */

static struct proto_file_op *op_find(const struct proto_files *f, const char *name) {
    for (size_t i = 0; i < f->n_ops; i++)
        if (strcmp(f->ops[i].name, name) == 0)
            return &f->ops[i];
    return NULL;
}

static bool op_name_ok(const char *s) {
    size_t n = s ? strlen(s) : 0;
    return n >= 1 && n <= MSG_OP_NAME_MAX && strspn(s, WIRE_CS_LOWER_NAME) == n;
}

static bool escaped_ok(const char *s, size_t max) {
    size_t n = s ? strlen(s) : 0;
    return n >= 1 && n <= max && str_is_escaped(s);
}

int proto_files_add(struct proto_files *f, const char *op, enum proto_file_action action, const char *mountpoint,
                    const char *path) {
    if (!op_name_ok(op) || (action != FILE_REMOVED && action != FILE_CHANGED))
        return -VMS_E_INVALID;
    struct proto_file_op *o = op_find(f, op);
    if (!o) {
        if (f->n_ops == PROTO_FILES_OPS_MAX)
            return -VMS_E_INVALID;
        f->ops = xrealloc(f->ops, (f->n_ops + 1) * sizeof *f->ops);
        o = &f->ops[f->n_ops++];
        *o = (struct proto_file_op){ .name = xstrdup(op) };
    }
    int64_t *count = action == FILE_REMOVED ? &o->removed : &o->changed;
    if (*count < PROTO_FILES_COUNT_MAX)
        (*count)++;
    size_t bytes = (mountpoint ? strlen(mountpoint) : 0) + (path ? strlen(path) : 0);
    if (f->n_paths == PROTO_FILES_PATHS_MAX || f->path_bytes + bytes > PROTO_FILES_BYTES_MAX ||
        !escaped_ok(mountpoint, PROTO_FILE_MOUNT_MAX) || !escaped_ok(path, PROTO_FILE_PATH_MAX)) {
        f->truncated = true;
        return 0;
    }
    f->paths = xrealloc(f->paths, (f->n_paths + 1) * sizeof *f->paths);
    f->paths[f->n_paths++] = (struct proto_file){
        .op = xstrdup(op),
        .action = action,
        .mountpoint = xstrdup(mountpoint),
        .path = xstrdup(path),
    };
    f->path_bytes += bytes;
    return 0;
}

static void paths_free(struct proto_files *f) {
    for (struct proto_file *p = f->paths; p && p < f->paths + f->n_paths; p++) {
        free(p->op);
        free(p->mountpoint);
        free(p->path);
    }
    free(f->paths);
    f->paths = NULL;
    f->n_paths = f->path_bytes = 0;
}

void proto_files_drop_paths(struct proto_files *f) {
    paths_free(f);
    f->truncated = false;
    for (size_t i = 0; i < f->n_ops; i++)
        f->truncated |= f->ops[i].removed > 0 || f->ops[i].changed > 0;
}

void proto_files_free(struct proto_files *f) {
    if (!f)
        return;
    paths_free(f);
    for (size_t i = 0; f->ops && i < f->n_ops; i++)
        free(f->ops[i].name);
    free(f->ops);
    memset(f, 0, sizeof *f);
}

/* ---- reading ------------------------------------------------------------------- */

/* A guest name: 1..max bytes of text in the escaped form. */
static int escaped_read(const struct wire_map *m, const char *key, size_t max, char **ret, char *why) {
    int r = wire_map_name(m, key, WIRE_REQUIRED, 1, max, wire_cs_text, ret, why);
    if (r >= 0 && !str_is_escaped(*ret)) {
        wire_why(why, m->path, key,
                 "not in the escaped form (C1 controls, '\\' and bytes outside UTF-8 as \\xHH)");
        free(*ret);
        *ret = NULL;
        return -VMS_E_MSG_BAD_VALUE;
    }
    return r;
}

static int op_read_cb(const struct wire_map *m, void *item, char *why) {
    struct proto_file_op *o = item;
    int r = wire_map_name(m, "name", WIRE_REQUIRED, 1, MSG_OP_NAME_MAX, WIRE_CS_LOWER_NAME, &o->name, why);
    if (r >= 0)
        r = wire_map_int(m, "removed", WIRE_REQUIRED, 0, PROTO_FILES_COUNT_MAX, &o->removed, why);
    if (r >= 0)
        r = wire_map_int(m, "changed", WIRE_REQUIRED, 0, PROTO_FILES_COUNT_MAX, &o->changed, why);
    return r;
}

static int path_read_cb(const struct wire_map *m, void *item, char *why) {
    struct proto_file *p = item;
    int action = 0;
    int r = wire_map_name(m, "op", WIRE_REQUIRED, 1, MSG_OP_NAME_MAX, WIRE_CS_LOWER_NAME, &p->op, why);
    if (r >= 0)
        r = wire_map_enum(m, "action", WIRE_REQUIRED, file_action_names, ARRAY_SIZE(file_action_names), &action,
                          why);
    p->action = (enum proto_file_action)action;
    if (r >= 0)
        r = escaped_read(m, "mountpoint", PROTO_FILE_MOUNT_MAX, &p->mountpoint, why);
    if (r >= 0)
        r = escaped_read(m, "path", PROTO_FILE_PATH_MAX, &p->path, why);
    return r;
}

/* Each operation once; each path's operation among them, counted into
 * listed[i][action] for f->ops[i]; the bytes within the bound. */
static int lists_check(const struct wire_map *m, struct proto_files *f, int64_t listed[][2], char *why) {
    for (size_t i = 0; i < f->n_ops; i++)
        if (op_find(f, f->ops[i].name) != &f->ops[i]) {
            wire_why(why, m->path, "ops", "\"%s\" is listed twice", f->ops[i].name);
            return -VMS_E_MSG_BAD_VALUE;
        }
    for (size_t i = 0; i < f->n_paths; i++) {
        const struct proto_file *p = &f->paths[i];
        const struct proto_file_op *o = op_find(f, p->op);
        if (!o) {
            wire_why(why, m->path, "paths", "\"%s\" of path %zu is not in %s.ops", p->op, i, m->path);
            return -VMS_E_MSG_BAD_VALUE;
        }
        listed[o - f->ops][p->action]++;
        f->path_bytes += strlen(p->mountpoint) + strlen(p->path);
    }
    if (f->path_bytes > PROTO_FILES_BYTES_MAX) {
        wire_why(why, m->path, "paths", "%zu bytes of mount points and paths, at most %d allowed", f->path_bytes,
                 PROTO_FILES_BYTES_MAX);
        return -VMS_E_MSG_BAD_VALUE;
    }
    return 0;
}

/* Never a silent cut: no more paths than counted, and truncated exactly
 * when fewer. */
static int counts_check(const struct wire_map *m, const struct proto_files *f, int64_t listed[][2], char *why) {
    bool fewer = false;
    for (size_t i = 0; i < f->n_ops; i++) {
        const struct proto_file_op *o = &f->ops[i];
        if (listed[i][FILE_REMOVED] > o->removed || listed[i][FILE_CHANGED] > o->changed) {
            wire_why(why, m->path, "paths", "more paths of \"%s\" than its counts", o->name);
            return -VMS_E_MSG_BAD_VALUE;
        }
        fewer |= listed[i][FILE_REMOVED] < o->removed || listed[i][FILE_CHANGED] < o->changed;
    }
    if (fewer != f->truncated) {
        wire_why(why, m->path, "truncated", "%s, but the paths listed are %s the counts",
                 f->truncated ? "true" : "false", fewer ? "fewer than" : "all of");
        return -VMS_E_MSG_BAD_VALUE;
    }
    return 1;
}

static int files_read(const struct wire_map *m, struct proto_files *f, char *why) {
    int64_t listed[PROTO_FILES_OPS_MAX][2];
    memset(listed, 0, sizeof listed);
    int r = wire_map_array_read(m, "ops", PROTO_FILES_OPS_MAX, sizeof *f->ops, op_read_cb, (void **)&f->ops,
                                &f->n_ops, why);
    if (r >= 0)
        r = wire_map_array_read(m, "paths", PROTO_FILES_PATHS_MAX, sizeof *f->paths, path_read_cb,
                                (void **)&f->paths, &f->n_paths, why);
    if (r >= 0)
        r = wire_map_bool(m, "truncated", WIRE_REQUIRED, &f->truncated, why);
    if (r >= 0)
        r = lists_check(m, f, listed, why);
    if (r >= 0)
        r = counts_check(m, f, listed, why);
    return r;
}

int msg_files_read(const struct wire_map *m, const char *key, struct proto_files **ret, char *why) {
    struct wire_map fm;
    int r = wire_map_map(m, key, WIRE_OPTIONAL, &fm, why);
    if (r <= 0)
        return r;
    *ret = xcalloc(1, sizeof **ret);
    return files_read(&fm, *ret, why);
}

int proto_files_decode(const void *buf, size_t len, struct proto_files *ret, char *why) {
    struct wire_map root;
    memset(ret, 0, sizeof *ret);
    int r = wire_open(buf, len, "files", &root, why);
    if (r >= 0)
        r = files_read(&root, ret, why);
    if (r < 0)
        proto_files_free(ret);
    return r < 0 ? r : 0;
}

/* ---- writing ------------------------------------------------------------------- */

/* {ops: [{name, removed, changed}], paths: [{op, action, mountpoint, path}], truncated} */
void msg_files_pack(struct wire_packer *w, const char *key, const struct proto_files *f) {
    if (key)
        wire_pack_str(w, key);
    wire_pack_map(w, 3);
    wire_pack_str(w, "ops");
    wire_pack_array(w, f->n_ops);
    for (size_t i = 0; i < f->n_ops; i++) {
        wire_pack_map(w, 3);
        wire_pack_kv_str(w, "name", f->ops[i].name);
        wire_pack_kv_int(w, "removed", f->ops[i].removed);
        wire_pack_kv_int(w, "changed", f->ops[i].changed);
    }
    wire_pack_str(w, "paths");
    wire_pack_array(w, f->n_paths);
    for (size_t i = 0; i < f->n_paths; i++) {
        const struct proto_file *p = &f->paths[i];
        wire_pack_map(w, 4);
        wire_pack_kv_str(w, "op", p->op);
        wire_pack_kv_str(w, "action", proto_file_action_to_string(p->action));
        wire_pack_kv_str(w, "mountpoint", p->mountpoint);
        wire_pack_kv_str(w, "path", p->path);
    }
    wire_pack_kv_bool(w, "truncated", f->truncated);
}

int proto_files_encode(const struct proto_files *f, char **ret_buf, size_t *ret_len) {
    struct wire_packer w;
    struct proto_files check;
    wire_pack_init(&w);
    msg_files_pack(&w, NULL, f);
    int r = proto_files_decode(w.data, w.len, &check, NULL);
    proto_files_free(&check);
    return wire_pack_finish_checked(&w, r, ret_buf, ret_len);
}
