/* e2e.c - see e2e.h. */
#include "e2e.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <setjmp.h>

#include <cmocka.h>

#include "err.h"
#include "testpg.h"
#include "testutil.h"
#include "util.h"

static int file_write(const char *path, const char *text) {
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600); /* holds a password */
    if (fd < 0)
        return -errno;
    int r = write_all(fd, text, strlen(text));
    close(fd);
    return r;
}

static char *broker_group(struct e2e *e) {
    _cleanup_free_ char *hosts = xasprintf("\"%s\"", e->tb.broker.hosts[0]);
    for (size_t i = 1; i < e->tb.broker.n_hosts; i++) {
        char *more = xasprintf("%s, \"%s\"", hosts, e->tb.broker.hosts[i]);
        free(hosts);
        hosts = more;
    }
    /* every process here is the administrator, the producer's identity too */
    return xasprintf(
        "broker = { hosts = [ %s ]; vhost = \"%s\"; user = \"%s\"; password = \"%s\"; heartbeat_s = 10;\n"
        "  producer_user = \"%s\"; };\n",
        hosts, e->tb.broker.vhost, e->tb.broker.user, e->tb.broker.password, e->tb.broker.user);
}

static char *storage_group(struct e2e *e) {
    return xasprintf("storage = { domains = ( { id = \"%s\"; path = \"%s\"; } ); };\n", e->sd_id, e->sd_path);
}

int e2e_producer_conf_write(struct e2e *e, const char *extra) {
    _cleanup_free_ char *b = broker_group(e), *s = storage_group(e);
    _cleanup_free_ char *p = xasprintf("%s%sproducer = { db = \"%s\"; max_attempts = 3; %s };\n"
                                       "log = { level = \"debug\"; };\n",
                                       b, s, e->db, extra ? extra : "");
    return file_write(e->producer_conf, p);
}

static int configs_write(struct e2e *e) {
    _cleanup_free_ char *b = broker_group(e), *s = storage_group(e);
    _cleanup_free_ char *c = xasprintf("%s%s", b, s);
    int r = e2e_producer_conf_write(e, NULL);
    return r < 0 ? r : file_write(e->ctl_conf, c);
}

int e2e_setup(void **state) {
    struct e2e *e = xcalloc(1, sizeof *e);
    const char *name = program_invocation_short_name;
    char err[256] = "";
    *state = e;
    if (testbroker_setup(&e->tb, name) < 0 || testevents_open(&e->tb.broker, &e->te) < 0 ||
        testutil_dir_make(name, &e->dir) < 0)
        goto fail;
    uuid_new(e->sd_id);
    e->sd_path = xasprintf("%s/sd", e->dir);
    if (testpg_target(e->dir, name, &e->db, &e->db_schema) < 0)
        goto fail;
    e->producer_conf = xasprintf("%s/producer.conf", e->dir);
    e->ctl_conf = xasprintf("%s/ctl.conf", e->dir);
    if (configs_write(e) < 0)
        goto fail;
    char *out = NULL;
    if (e2e_ctl(e, &out, "sd", "create", "--id", e->sd_id, e->sd_path, NULL) != 0) {
        fprintf(stderr, "vmsealctl sd create failed: %s\n", out ? out : "");
        free(out);
        goto fail;
    }
    free(out);
    if (mq_open(
            &(struct mq_opts){
                .broker = &e->tb.broker, .conn_name = "e2e rpc", .why = err, .why_len = sizeof err },
            &e->rpc) < 0 ||
        mq_consume(e->rpc, RPC_REPLY_TO, 0, false, true) < 0) {
        fprintf(stderr, "e2e: rpc connection: %s\n", err);
        goto fail;
    }
    return 0;
fail:
    e2e_teardown(state);
    return -1;
}

void e2e_dump_logs(struct e2e *e) {
    for (size_t i = 0; i < e->n_procs; i++) {
        const char *argv[] = { "tail", "-n", "60", e->procs[i].log, NULL };
        char *out = NULL;
        testutil_cmd_run(argv, 5000, &out);
        fprintf(stderr, "---- %s (%s)\n%s", e->procs[i].name, e->procs[i].log, out ? out : "");
        free(out);
    }
}

int e2e_teardown(void **state) {
    struct e2e *e = *state;
    if (!e)
        return 0;
    for (size_t i = 0; i < e->n_procs; i++)
        if (e->procs[i].pid > 0)
            testutil_proc_kill(e->procs[i].pid, SIGKILL, 0, NULL);
    if (getenv("VMSEAL_TEST_VERBOSE"))
        e2e_dump_logs(e);
    for (size_t i = 0; i < e->n_procs; i++) {
        free(e->procs[i].name);
        free(e->procs[i].log);
    }
    mq_close(e->rpc);
    testevents_close(e->te);
    testbroker_teardown(&e->tb);
    if (e->dir && !getenv("VMSEAL_TEST_KEEP"))
        testutil_dir_remove(e->dir);
    else if (e->dir)
        fprintf(stderr, "e2e: kept %s\n", e->dir);
    free(e->dir);
    free(e->sd_path);
    testpg_schema_drop(e->db_schema);
    free(e->db_schema);
    free(e->db);
    free(e->producer_conf);
    free(e->ctl_conf);
    free(e);
    *state = NULL;
    return 0;
}

static int proc_start(struct e2e *e, const char *name, const char *const argv[], pid_t *ret_pid) {
    if (e->n_procs == E2E_MAX_PROCS)
        return -ENOSPC;
    char *log = xasprintf("%s/%s.%zu.log", e->dir, name, e->n_procs);
    pid_t pid;
    int r = testutil_proc_spawn(argv, e->env_add, log, &pid);
    if (r < 0) {
        fprintf(stderr, "cannot start %s: %s\n", argv[0], strerror(-r));
        free(log);
        return r;
    }
    e->procs[e->n_procs++] = (struct e2e_proc){ .pid = pid, .name = xstrdup(name), .log = log };
    *ret_pid = pid;
    return 0;
}

static bool producer_answers(void *arg) {
    struct e2e *e = arg;
    struct rpc_reply rep;
    proto_uuid none;
    uuid_new(none);
    if (e2e_status(e, none, &rep) < 0)
        return false;
    rpc_reply_free(&rep);
    return true;
}

int e2e_producer_start(struct e2e *e, const char *id, bool wait_active, pid_t *ret_pid) {
    return e2e_producer_start_with(e, id, e->producer_conf, wait_active, ret_pid);
}

int e2e_producer_start_with(struct e2e *e, const char *id, const char *conf, bool wait_active, pid_t *ret_pid) {
    _cleanup_free_ char *exe = testutil_build_path("bin/vmseal-producer");
    const char *argv[] = { exe, "--config", conf, "--id", id, NULL };
    int r = proc_start(e, id, argv, ret_pid);
    if (r < 0 || !wait_active)
        return r;
    r = testutil_wait_for(producer_answers, e, 20000, 100);
    if (r < 0)
        fprintf(stderr, "producer %s does not answer RPC within 20 s\n", id);
    return r;
}

int e2e_worker_start(struct e2e *e, const char *id, bool dry_run, int seal_ms, int slots, pid_t *ret_pid) {
    _cleanup_free_ char *exe = testutil_build_path("bin/vmseal-worker"),
                        *conf = xasprintf("%s/%s.conf", e->dir, id);
    _cleanup_free_ char *b = broker_group(e), *s = storage_group(e);
    _cleanup_free_ char *text =
        xasprintf("%s%sworker = { id = \"%s\"; slots = %d; executor = \"%s\"; %s %s };\n"
                  "log = { level = \"debug\"; };\n",
                  b, s, id, slots, dry_run ? "dry-run" : "real", dry_run ? "dry_run_seal_ms = SEALMS;" : "",
                  e->worker_extra ? e->worker_extra : "");
    char *p = strstr(text, "SEALMS");
    if (p) {
        char *fixed = xasprintf("%.*s%d%s", (int)(p - text), text, seal_ms, p + 6);
        free(text);
        text = fixed;
    }
    int r = file_write(conf, text);
    const char *argv[] = { exe, "run", "--config", conf, NULL };
    if (r == 0)
        r = proc_start(e, id, argv, ret_pid);
    if (r == 0 && (r = testevents_wait_heartbeat(e->te, id, 20000, NULL)) < 0)
        fprintf(stderr, "worker %s sent no heartbeat within 20 s\n", id);
    return r;
}

/* Children of pid (their own process groups: the job processes). */
static void kill_children(pid_t parent) {
    DIR *d = opendir("/proc");
    struct dirent *de;
    while (d && (de = readdir(d))) {
        char path[300], buf[512];
        if (de->d_name[0] < '0' || de->d_name[0] > '9')
            continue;
        snprintf(path, sizeof path, "/proc/%s/stat", de->d_name);
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
            continue;
        ssize_t n = read(fd, buf, sizeof buf - 1);
        close(fd);
        if (n <= 0)
            continue;
        buf[n] = '\0';
        char *rp = strrchr(buf, ')'), st;
        int ppid;
        if (rp && sscanf(rp + 1, " %c %d", &st, &ppid) == 2 && ppid == parent) {
            pid_t child = (pid_t)atoi(de->d_name);
            kill(-child, SIGKILL);
            kill(child, SIGKILL);
        }
    }
    if (d)
        closedir(d);
}

void e2e_kill(struct e2e *e, pid_t pid) {
    kill_children(pid);
    testutil_proc_kill(pid, SIGKILL, 0, NULL);
    for (size_t i = 0; i < e->n_procs; i++)
        if (e->procs[i].pid == pid)
            e->procs[i].pid = -1; /* reaped; keep the log for dumps */
}

int e2e_ctl(struct e2e *e, char **ret_out, ...) {
    _cleanup_free_ char *exe = testutil_build_path("bin/vmsealctl");
    const char *argv[32] = { exe };
    size_t n = 1;
    va_list ap;
    va_start(ap, ret_out);
    for (const char *a; n < 28 && (a = va_arg(ap, const char *));)
        argv[n++] = a;
    va_end(ap);
    if (strcmp(argv[1], "sd") != 0) {
        argv[n++] = "--config";
        argv[n++] = e->ctl_conf;
    }
    argv[n] = NULL;
    return testutil_cmd_run(argv, 900000, ret_out); /* submit --wait bounds itself */
}

static int json_uuid(const char *json, const char *key, proto_uuid ret) {
    _cleanup_free_ char *pat = xasprintf("\"%s\":\"", key);
    const char *p = json ? strstr(json, pat) : NULL;
    if (!p)
        return -ENOENT;
    p += strlen(pat);
    snprintf(ret, sizeof(proto_uuid), "%.36s", p);
    return uuid_is_canonical(ret) ? 0 : -EINVAL;
}

int e2e_import(struct e2e *e, const char *file, const char *format, proto_uuid ret_img, proto_uuid ret_vol) {
    char *out = NULL;
    int r = e2e_ctl(e, &out, "sd", "import", "--sd", e->sd_path, "--format", format, "--json", file, NULL);
    if (r != 0 || json_uuid(out, "img_id", ret_img) < 0 || json_uuid(out, "vol_id", ret_vol) < 0) {
        fprintf(stderr, "vmsealctl sd import %s: exit %d: %s\n", file, r, out ? out : "");
        r = r ? r : -EINVAL;
    }
    free(out);
    return r > 0 ? -EIO : r;
}

int e2e_source_make(struct e2e *e, size_t bytes, struct proto_vol_ref *ret) {
    _cleanup_free_ char *path = xasprintf("%s/src-%d.raw", e->dir, rand());
    FILE *f = fopen(path, "we");
    if (!f)
        return -errno;
    for (size_t i = 0; i < bytes; i++)
        fputc((int)(1 + (i * 7) % 251), f);
    if (fclose(f) != 0)
        return -errno;
    memcpy(ret->sd_id, e->sd_id, sizeof(proto_uuid));
    int r = e2e_import(e, path, "raw", ret->img_id, ret->vol_id);
    unlink(path);
    return r;
}

int e2e_submit(struct e2e *e, const char *name, const struct proto_vol_ref *disks, size_t n_disks, bool seal,
               proto_uuid ret_id) {
    _cleanup_free_ char *exe = testutil_build_path("bin/vmsealctl");
    char specs[8][120];
    const char *argv[40] = { exe, "submit", "--config", e->ctl_conf, "--name", name };
    size_t n = 6;
    for (size_t i = 0; i < n_disks && i < 8; i++) {
        snprintf(specs[i], sizeof specs[i], "%s:%s:%s", disks[i].sd_id, disks[i].img_id, disks[i].vol_id);
        argv[n++] = "--disk";
        argv[n++] = specs[i];
    }
    if (seal)
        argv[n++] = "--seal";
    argv[n] = NULL;
    char *out = NULL;
    int r = testutil_cmd_run(argv, 30000, &out);
    if (r != 0 || !out || strlen(out) < 36) {
        fprintf(stderr, "vmsealctl submit: exit %d: %s\n", r, out ? out : "");
        r = -EIO;
    } else {
        snprintf(ret_id, sizeof(proto_uuid), "%.36s", out);
        r = uuid_is_canonical(ret_id) ? 0 : -EINVAL;
    }
    free(out);
    return r;
}

int e2e_status(struct e2e *e, const char *template_id, struct rpc_reply *ret) {
    struct rpc_request rq = { .method = RPC_STATUS };
    snprintf(rq.template_id, sizeof rq.template_id, "%s", template_id);
    _cleanup_free_ char *body = NULL;
    size_t len = 0;
    memset(ret, 0, sizeof *ret);
    int r = rpc_encode_request(&rq, &body, &len);
    proto_uuid corr;
    uuid_new(corr);
    struct mq_props p = { .message_id = corr,
                          .correlation_id = corr,
                          .reply_to = RPC_REPLY_TO,
                          .type = RPC_REQUEST_TYPE,
                          .transient = true,
                          .mandatory = true };
    /* The connection may have sat idle past its heartbeats (a long seal):
     * let mq_wait notice and reconnect before publishing. */
    struct mq_event idle;
    memset(&idle, 0, sizeof idle);
    for (int i = 0; r == 0 && i < 50 && (i == 0 || !mq_connected(e->rpc)); i++) {
        (void)mq_wait(e->rpc, i == 0 ? 0 : 100, NULL, 0, &idle);
        mq_event_clear(&idle);
    }
    if (r == 0)
        r = mq_publish_wait(e->rpc, "", MQ_Q_RPC, &p, body, len, 5000);
    int64_t deadline = time_mono_ms() + 3000;
    while (r == 0) {
        if (time_mono_ms() >= deadline)
            return -ETIMEDOUT;
        struct mq_event ev;
        memset(&ev, 0, sizeof ev);
        int w = mq_wait(e->rpc, 200, NULL, 0, &ev);
        if (w == 0 && ev.type == MQ_EV_DELIVERY && ev.delivery.correlation_id &&
            strcmp(ev.delivery.correlation_id, corr) == 0) {
            r = rpc_decode_reply(ev.delivery.body, ev.delivery.body_len, ret, NULL);
            mq_event_clear(&ev);
            return r;
        }
        mq_event_clear(&ev);
    }
    return r;
}

static bool state_terminal(const char *s) {
    return strcmp(s, "ready") == 0 || strcmp(s, "failed") == 0 || strcmp(s, "cancelled") == 0;
}

int e2e_wait_state(struct e2e *e, const char *template_id, const char *state, int timeout_ms,
                   struct rpc_reply *ret) {
    int64_t deadline = time_mono_ms() + timeout_ms;
    char last[32] = "?";
    while (time_mono_ms() < deadline) {
        struct rpc_reply rep;
        if (e2e_status(e, template_id, &rep) == 0) {
            if (rep.ok) {
                snprintf(last, sizeof last, "%s", rep.tpl.state);
                if (state ? strcmp(rep.tpl.state, state) == 0 : state_terminal(rep.tpl.state)) {
                    if (ret)
                        *ret = rep;
                    else
                        rpc_reply_free(&rep);
                    return 0;
                }
            }
            rpc_reply_free(&rep);
        }
        testevents_pump(e->te, 100);
    }
    fprintf(stderr, "template %s: still %s after %d ms (waiting for %s)\n", template_id, last, timeout_ms,
            state ? state : "an end");
    return -ETIMEDOUT;
}

int e2e_wait_job_running(struct e2e *e, const char *template_id, enum job_kind kind, int timeout_ms) {
    int64_t deadline = time_mono_ms() + timeout_ms;
    while (time_mono_ms() < deadline) {
        struct rpc_reply rep;
        bool found = false;
        if (e2e_status(e, template_id, &rep) == 0 && rep.ok)
            for (size_t i = 0; i < rep.tpl.n_jobs; i++)
                found |= rep.tpl.jobs[i].kind == kind && strcmp(rep.tpl.jobs[i].state, "running") == 0;
        rpc_reply_free(&rep);
        if (found)
            return 0;
        testevents_pump(e->te, 50);
    }
    fprintf(stderr, "template %s: no running %s job within %d ms\n", template_id, job_kind_to_string(kind),
            timeout_ms);
    return -ETIMEDOUT;
}

char *e2e_vol_path(struct e2e *e, const struct proto_vol_ref *v, const char *suffix) {
    return xasprintf("%s/images/%s/%s%s", e->sd_path, v->img_id, v->vol_id, suffix);
}

int e2e_meta_get(struct e2e *e, const struct proto_vol_ref *v, const char *key, char *out, size_t len) {
    _cleanup_free_ char *path = e2e_vol_path(e, v, ".meta");
    FILE *f = fopen(path, "re");
    char line[512];
    int r = -ENOENT;
    if (!f)
        return -errno;
    size_t klen = strlen(key);
    while (fgets(line, sizeof line, f))
        if (strncmp(line, key, klen) == 0 && line[klen] == '=') {
            line[strcspn(line, "\n")] = '\0';
            snprintf(out, len, "%s", line + klen + 1);
            r = 0;
        }
    fclose(f);
    return r;
}

int e2e_volume_count(struct e2e *e) {
    _cleanup_free_ char *images = xasprintf("%s/images", e->sd_path);
    DIR *d = opendir(images);
    struct dirent *de;
    int n = 0;
    while (d && (de = readdir(d))) {
        if (de->d_name[0] == '.')
            continue;
        _cleanup_free_ char *sub = xasprintf("%s/%s", images, de->d_name);
        DIR *s = opendir(sub);
        struct dirent *f;
        while (s && (f = readdir(s))) {
            size_t l = strlen(f->d_name);
            n += l > 5 && strcmp(f->d_name + l - 5, ".meta") == 0;
        }
        if (s)
            closedir(s);
    }
    if (d)
        closedir(d);
    return n;
}

int e2e_sha256(const char *path, char out[65]) {
    const char *argv[] = { "sha256sum", path, NULL };
    char *o = NULL;
    int r = testutil_cmd_run(argv, 60000, &o);
    if (r == 0 && o && strlen(o) >= 64)
        snprintf(out, 65, "%.64s", o);
    else
        r = -EIO;
    free(o);
    return r;
}

char *e2e_sd_listing(struct e2e *e) {
    char *out = NULL;
    if (e2e_ctl(e, &out, "sd", "list", e->sd_path, "--json", NULL) != 0) {
        free(out);
        return xstrdup("(vmsealctl sd list failed)");
    }
    return out;
}

/* ---- assertions ------------------------------------------------------------ */

size_t e2e_jobs_in_state(const struct rpc_template *t, const char *step, const char *state) {
    size_t n = 0;
    for (size_t i = 0; i < t->n_jobs; i++)
        n += strcmp(t->jobs[i].step, step) == 0 && strcmp(t->jobs[i].state, state) == 0;
    return n;
}

size_t e2e_assert_ready(struct e2e *e, const char *tid, int timeout_ms) {
    struct rpc_reply rep;
    if (e2e_wait_state(e, tid, NULL, timeout_ms, &rep) < 0) {
        e2e_dump_logs(e);
        fail_msg("template %s did not end", tid);
    }
    if (strcmp(rep.tpl.state, "ready") != 0) {
        e2e_dump_logs(e);
        fail_msg("template %s ended %s at %s: %s", tid, rep.tpl.state,
                 rep.tpl.error_step ? rep.tpl.error_step : "-",
                 rep.tpl.error_message ? rep.tpl.error_message : "-");
    }
    const struct rpc_template *t = &rep.tpl;
    for (size_t i = 0; i < t->n_disks; i++) {
        const struct rpc_disk *d = &t->disks[i];
        char v[64];
        assert_string_equal(d->state, "present");
        assert_int_equal(d->legality, LEGALITY_LEGAL);
        assert_int_equal(d->voltype, VOLTYPE_SHARED);
        assert_int_equal(d->generation, 2);
        assert_int_equal(e2e_meta_get(e, &d->target, "GEN", v, sizeof v), 0);
        assert_string_equal(v, "2");
        assert_int_equal(e2e_meta_get(e, &d->target, "LEGALITY", v, sizeof v), 0);
        assert_string_equal(v, "LEGAL");
        assert_int_equal(e2e_meta_get(e, &d->target, "VOLTYPE", v, sizeof v), 0);
        assert_string_equal(v, "SHARED");
    }
    assert_int_equal(e2e_jobs_in_state(t, "copy", "succeeded"), t->n_disks);
    assert_int_equal(e2e_jobs_in_state(t, "mark_illegal", "succeeded"), t->n_disks);
    assert_int_equal(e2e_jobs_in_state(t, "seal", "succeeded"), 1);
    assert_int_equal(e2e_jobs_in_state(t, "mark_shared", "succeeded"), t->n_disks);
    size_t n = t->n_disks;
    rpc_reply_free(&rep);
    return n;
}

void e2e_assert_ready_clean(struct e2e *e, const char *tid, int timeout_ms, size_t n_sources) {
    size_t n = e2e_assert_ready(e, tid, timeout_ms);
    assert_int_equal(e2e_volume_count(e), (int)(n_sources + n));
}
