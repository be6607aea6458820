/* executor.c - the job process: its setup, the pipe protocol (both sides)
 * and the real executor.  The dry-run executor is in executor_dry.c; the
 * runner's loop in runner.c. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "err.h"
#include "executor.h"
#include "seal.h"
#include "util.h"
#include "volume.h"

/* ---- the job process's setup ---------------------------------------------- */

static void backstop_alarm(int sig) {
    (void)sig;
    kill(0, SIGKILL);
}

static void child_reset_signals(void) {
    static const int sigs[] = { SIGCHLD, SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGALRM };
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = SIG_DFL;
    for (size_t i = 0; i < ARRAY_SIZE(sigs); i++)
        sigaction(sigs[i], &sa, NULL);
    /* A parent that is gone must not kill us half way through a metadata
     * write: report writes then fail with EPIPE instead. */
    sa.sa_handler = SIG_IGN;
    sigaction(SIGPIPE, &sa, NULL);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
}

int exec_process_setup(int result_fd, int command_fd) {
    int fds[2] = { result_fd, command_fd }, tmp[2] = { -1, -1 };
    child_reset_signals();
    /* Copy both above 4 first, so that moving one onto 3 or 4 cannot close
     * the other; close_range() then closes the copies with the rest. */
    for (int i = 0; i < 2; i++)
        if (fds[i] >= 0 && (tmp[i] = fcntl(fds[i], F_DUPFD_CLOEXEC, EXEC_FD_COMMAND + 1)) < 0)
            return -errno;
    if (dup3(tmp[0], EXEC_FD_RESULT, O_CLOEXEC) < 0)
        return -errno;
    if (tmp[1] >= 0 && dup3(tmp[1], EXEC_FD_COMMAND, O_CLOEXEC) < 0)
        return -errno;
    if (close_range(tmp[1] >= 0 ? EXEC_FD_COMMAND + 1 : EXEC_FD_RESULT + 1, ~0U, 0) < 0)
        return -errno;
    return 0;
}

void exec_backstop_arm(int seconds) {
    if (seconds > 0) {
        struct sigaction sa;
        memset(&sa, 0, sizeof(sa));
        sa.sa_handler = backstop_alarm;
        sigaction(SIGALRM, &sa, NULL);
    }
    alarm(seconds > 0 ? (unsigned)seconds : 0);
}

void exec_job_run(struct exec_child *c, const struct proto_job *job) {
    char msg[EXEC_MSG_LEN] = "";
    int r = c->cfg->worker.dry_run ? exec_dry_run(c, job, msg) : exec_real_run(c, job, msg);
    exec_report_final(c, r < 0 ? r : 0, msg);
}

_Noreturn void executor_child_main(const struct config *cfg, const struct proto_job *job,
                                   int pipe_fd, int backstop_s) {
    if (exec_process_setup(pipe_fd, -1) < 0)
        _exit(127);
    exec_backstop_arm(backstop_s);
    struct exec_child c = { .fd = EXEC_FD_RESULT, .cfg = cfg };
    exec_job_run(&c, job);
    _exit(0);
}

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

void exec_report_final(struct exec_child *c, int err, const char *msg) {
    char m[EXEC_MSG_LEN];
    if (err == 0) {
        put_line(c, true, "D");
        return;
    }
    clean_copy(m, sizeof(m), msg && msg[0] ? msg : err_str(err));
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

enum exec_line_kind exec_line_parse(char *line, struct exec_outcome *out, int *ret_percent,
                                    char *ret_step, size_t step_len) {
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
    if (strcmp(tag, "E") == 0) {
        char *code = next_field(&rest), *msg = next_field(&rest);
        if (!code || !parse_int(code, INT32_MIN, -1, &v))
            return EXEC_LINE_IGNORED;
        out->final = true;
        out->err = (int)v;
        snprintf(out->msg, sizeof(out->msg), "%s", msg ? msg : err_str((int)v));
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
    memset(out, 0, sizeof(*out));
}

/* ---- helpers shared by the executors ------------------------------------ */

int exec_sd_open(struct exec_child *c, const char *sd_id, struct sd **ret_sd, char msg[EXEC_MSG_LEN]) {
    const struct config_domain *d = config_domain_find(&c->cfg->storage, sd_id);
    char why[SD_WHY_LEN] = "";
    if (!d) {
        snprintf(msg, EXEC_MSG_LEN, "storage domain %s is not configured on this worker", sd_id);
        return -VMS_E_UNKNOWN_DOMAIN;
    }
    int r = sd_open(d->id, d->path, ret_sd, why);
    if (r < 0)
        snprintf(msg, EXEC_MSG_LEN, "open storage domain %s: %s", sd_id, why[0] ? why : err_str(r));
    return r;
}

void exec_report_meta(struct exec_child *c, const struct vol_meta *m) {
    exec_report_int(c, "generation", m->gen);
    exec_report_str(c, "legality", vol_legality_to_string(m->legality));
    exec_report_str(c, "voltype", vol_type_to_string(m->voltype));
    exec_report_str(c, "format", vol_format_to_string(m->format));
    exec_report_int(c, "cap_bytes", m->cap_bytes);
}

static void volume_progress_to_pipe(int percent, const char *step, void *userdata) {
    exec_report_progress(userdata, percent, step);
}

static int fail_why(int r, const char *what, const char *why, char msg[EXEC_MSG_LEN]) {
    snprintf(msg, EXEC_MSG_LEN, "%s: %s", what, why && why[0] ? why : err_str(r));
    return r;
}

/* ---- the real executor ------------------------------------------------ */

static int real_copy(struct exec_child *c, const struct proto_job *job, char msg[EXEC_MSG_LEN]) {
    struct sd *src = NULL, *dst = NULL;
    char why[SD_WHY_LEN] = "";
    struct vol_meta m;
    enum vol_format format = job->args.copy.format;
    int r = exec_sd_open(c, job->args.copy.sd_id, &src, msg);
    if (r < 0)
        goto out;
    if (strcmp(job->args.copy.sd_id, job->args.copy.dst.sd_id) == 0)
        dst = src;
    else if ((r = exec_sd_open(c, job->args.copy.dst.sd_id, &dst, msg)) < 0)
        goto out;
    if (format == FORMAT_NONE) {
        r = sd_volume_meta_read(src, job->args.copy.src_img_id, job->args.copy.src_vol_id, &m, why);
        if (r < 0) {
            fail_why(r, "read source metadata", why, msg);
            goto out;
        }
        format = m.format;
    }
    r = volume_copy(src, job->args.copy.src_img_id, job->args.copy.src_vol_id, dst,
                    job->args.copy.dst.img_id, job->args.copy.dst.vol_id, format,
                    volume_progress_to_pipe, c, why);
    if (r < 0) {
        fail_why(r, "copy", why, msg);
        goto out;
    }
    r = sd_volume_meta_read(dst, job->args.copy.dst.img_id, job->args.copy.dst.vol_id, &m, why);
    if (r < 0) {
        fail_why(r, "read destination metadata", why, msg);
        goto out;
    }
    exec_report_meta(c, &m);
out:
    if (dst != src)
        sd_close(dst);
    sd_close(src);
    return r;
}

static int real_update(struct exec_child *c, const struct proto_job *job, char msg[EXEC_MSG_LEN]) {
    struct sd *sd = NULL;
    char why[SD_WHY_LEN] = "";
    struct vol_meta m;
    const struct proto_vol_ref *v = &job->args.update.vol;
    struct volume_change ch = {
        .generation = (int)job->args.update.generation,
        .legality = job->args.update.legality,
        .voltype = job->args.update.voltype,
        .description = job->args.update.description,
    };
    int r = exec_sd_open(c, v->sd_id, &sd, msg);
    if (r < 0)
        return r;
    r = volume_update(sd, v->img_id, v->vol_id, &ch, volume_progress_to_pipe, c, &m, why);
    if (r < 0)
        fail_why(r, "update", why, msg);
    else
        exec_report_meta(c, &m);
    sd_close(sd);
    return r;
}

static int real_delete(struct exec_child *c, const struct proto_job *job, char msg[EXEC_MSG_LEN]) {
    struct sd *sd = NULL;
    char why[SD_WHY_LEN] = "";
    const struct proto_vol_ref *v = &job->args.del.vol;
    int r = exec_sd_open(c, v->sd_id, &sd, msg);
    if (r < 0)
        return r;
    r = volume_delete(sd, v->img_id, v->vol_id, volume_progress_to_pipe, c, why);
    if (r < 0)
        fail_why(r, "delete", why, msg);
    else
        exec_report_bool(c, "deleted", true);
    sd_close(sd);
    return r;
}

int exec_real_run(struct exec_child *c, const struct proto_job *job, char msg[EXEC_MSG_LEN]) {
    switch (job->kind) {
    case JOB_VOLUME_COPY:
        return real_copy(c, job, msg);
    case JOB_VOLUME_UPDATE:
        return real_update(c, job, msg);
    case JOB_VOLUME_DELETE:
        return real_delete(c, job, msg);
    case JOB_VM_SEAL:
        return exec_seal_real(c, job, msg);
    }
    snprintf(msg, EXEC_MSG_LEN, "unknown job kind %d", (int)job->kind);
    return -VMS_E_INVALID;
}
