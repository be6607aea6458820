/* executor_pipe.c - the pipe protocol between a job process and the
 * worker (executor.h): the lines the job process writes, and the parent's
 * parser. */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "executor.h"
#include "util.h"

/* ---- lines written by the job process ----------------------------------- */

static void clean_copy(char *dst, size_t n, const char *src) {
    size_t i = 0;
    for (; src && src[i] && i + 1 < n; i++)
        dst[i] = (src[i] == '\t' || src[i] == '\n' || src[i] == '\r') ? ' ' : src[i];
    dst[i] = '\0';
}

static void out_flush(struct exec_child *c) {
    if (c->out_len)
        write_all(c->fd, c->out, c->out_len);
    c->out_len = 0;
}

/* Append one line to c->out; written at once when flush is set. */
static void put_line(struct exec_child *c, bool flush, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void put_line(struct exec_child *c, bool flush, const char *fmt, ...) {
    char line[EXEC_LINE_MAX];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(line, sizeof(line) - 1, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    if (n > (int)sizeof(line) - 2)
        n = (int)sizeof(line) - 2;
    line[n++] = '\n';
    if (c->out_len + (size_t)n > sizeof(c->out))
        out_flush(c);
    memcpy(c->out + c->out_len, line, (size_t)n);
    c->out_len += (size_t)n;
    if (flush)
        out_flush(c);
}

void exec_report_progress(struct exec_child *c, int percent, const char *step) {
    char s[256];
    clean_copy(s, sizeof(s), step ? step : "");
    put_line(c, true, "P\t%d\t%s", percent < 0 ? 0 : percent > 100 ? 100 : percent, s);
}

void exec_report_int(struct exec_child *c, const char *key, int64_t value) {
    put_line(c, false, "R\t%s\ti\t%" PRId64, key, value);
}

void exec_report_str(struct exec_child *c, const char *key, const char *value) {
    char s[512];
    clean_copy(s, sizeof(s), value);
    put_line(c, false, "R\t%s\ts\t%s", key, s);
}

void exec_report_bool(struct exec_child *c, const char *key, bool value) {
    put_line(c, false, "R\t%s\tb\t%d", key, value ? 1 : 0);
}

/* s escaped into out (4 * max + 1 bytes), or "" when that is over max bytes. */
static const char *escape_within(const char *s, size_t max, char *out) {
    if (!s || strlen(s) > max || strlen(str_escape(s, out, 4 * max + 1)) > max)
        out[0] = '\0';
    return out;
}

void exec_report_file(struct exec_child *c, const char *op, enum proto_file_action action, const char *mountpoint,
                      const char *path) {
    char mp[4 * PROTO_FILE_MOUNT_MAX + 1], p[4 * PROTO_FILE_PATH_MAX + 1];
    put_line(c, false, "F\t%s\t%s\t%s\t%s", op ? op : "", proto_file_action_to_string(action),
             escape_within(mountpoint, PROTO_FILE_MOUNT_MAX, mp), escape_within(path, PROTO_FILE_PATH_MAX, p));
}

void exec_report_final(struct exec_child *c, int err, const char *why) {
    char m[ERR_WHY_LEN];
    if (err == 0) {
        put_line(c, true, "D");
        return;
    }
    clean_copy(m, sizeof(m), why && why[0] ? why : err_str(err));
    put_line(c, true, "E\t%d\t%s", err, m);
}

/* ---- the parent's parser ---------------------------------------------- */

/* Split off the next tab-separated field; the last field takes the rest. */
static char *next_field(char **p) {
    if (!*p)
        return NULL;
    char *f = *p, *tab = strchr(f, '\t');
    if (tab) {
        *tab = '\0';
        *p = tab + 1;
    } else {
        *p = NULL;
    }
    return f;
}

static bool parse_int(const char *s, int64_t min, int64_t max, int64_t *ret) {
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || end == s || *end || v < min || v > max)
        return false;
    *ret = v;
    return true;
}

static enum exec_line_kind parse_result(char *rest, struct exec_outcome *out) {
    char *key = next_field(&rest), *type = next_field(&rest), *val = next_field(&rest);
    if (!key || !type || !val || !key[0] || out->n_results >= EXEC_MAX_RESULTS)
        return EXEC_LINE_IGNORED;
    struct proto_kv kv = { 0 };
    if (strcmp(type, "s") == 0) {
        kv.type = KV_STR;
        kv.s = xstrdup(val);
    } else if (strcmp(type, "i") == 0 && parse_int(val, INT64_MIN, INT64_MAX, &kv.i)) {
        kv.type = KV_INT;
    } else if (strcmp(type, "b") == 0 && parse_int(val, 0, 1, &kv.i)) {
        kv.type = KV_BOOL;
    } else {
        return EXEC_LINE_IGNORED;
    }
    kv.key = xstrdup(key);
    out->results[out->n_results++] = kv;
    return EXEC_LINE_RESULT;
}

enum exec_line_kind exec_line_parse(char *line, struct exec_outcome *out, int *ret_percent, char *ret_step,
                                    size_t step_len) {
    char *rest = line;
    char *tag = next_field(&rest);
    int64_t v;
    if (!tag || out->final)
        return EXEC_LINE_IGNORED;
    if (strcmp(tag, "P") == 0) {
        char *pct = next_field(&rest), *step = next_field(&rest);
        if (!pct || !parse_int(pct, 0, 100, &v))
            return EXEC_LINE_IGNORED;
        *ret_percent = (int)v;
        snprintf(ret_step, step_len, "%s", step ? step : "");
        return EXEC_LINE_PROGRESS;
    }
    if (strcmp(tag, "R") == 0)
        return parse_result(rest, out);
    if (strcmp(tag, "F") == 0) {
        char *op = next_field(&rest), *action = next_field(&rest), *mp = next_field(&rest),
             *path = next_field(&rest);
        enum proto_file_action a;
        if (!path || proto_file_action_from_string(action, &a) < 0 ||
            proto_files_add(&out->files, op, a, mp, path) < 0)
            return EXEC_LINE_IGNORED;
        return EXEC_LINE_RESULT;
    }
    if (strcmp(tag, "E") == 0) {
        char *code = next_field(&rest), *why = next_field(&rest);
        if (!code || !parse_int(code, INT32_MIN, -1, &v))
            return EXEC_LINE_IGNORED;
        out->final = true;
        out->err = (int)v;
        snprintf(out->why, sizeof(out->why), "%s", why ? why : err_str((int)v));
        return EXEC_LINE_FINAL;
    }
    if (strcmp(tag, "D") == 0 && !rest) {
        out->final = true;
        out->err = 0;
        return EXEC_LINE_FINAL;
    }
    return EXEC_LINE_IGNORED;
}

void exec_outcome_clear(struct exec_outcome *out) {
    for (size_t i = 0; i < out->n_results; i++) {
        free(out->results[i].key);
        free(out->results[i].s);
    }
    proto_files_free(&out->files);
    memset(out, 0, sizeof(*out));
}
