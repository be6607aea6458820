/* wtest.c - see wtest.h. */
#include "wtest.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "err.h"
#include "sd.h"
#include "testutil.h"
#include "volume.h"
#include "util.h"

int wtest_setup(void **state) {
    struct wtest *w = xcalloc(1, sizeof(*w));
    /* Jobs orphaned by a killed worker become our children, so that their
     * zombies can be reaped and a process group really checked empty. */
    prctl(PR_SET_CHILD_SUBREAPER, 1);
    const char *name = program_invocation_short_name;
    char why[ERR_WHY_LEN] = "";
    if (testbroker_setup(&w->tb, name) < 0)
        goto fail;
    if (testevents_open(&w->tb.broker, &w->te) < 0)
        goto fail;
    if (testutil_dir_make(name, &w->dir) < 0)
        goto fail;
    uuid_new(w->sd_id);
    w->sd_path = xasprintf("%s/sd", w->dir);
    int r = sd_create(w->sd_id, w->sd_path, why);
    if (r < 0) {
        fprintf(stderr, "sd_create: %s\n", why);
        goto fail;
    }
    *state = w;
    return 0;
fail:
    *state = w;
    wtest_teardown(state);
    return -1;
}

int wtest_teardown(void **state) {
    struct wtest *w = *state;
    if (!w)
        return 0;
    for (size_t i = 0; i < w->n_workers; i++) {
        testutil_proc_kill(w->pids[i], SIGKILL, 0, NULL);
        if (getenv("VMSEAL_TEST_VERBOSE")) {
            const char *argv[] = { "tail", "-n", "40", w->logs[i], NULL };
            char *out = NULL;
            testutil_cmd_run(argv, 5000, &out);
            fprintf(stderr, "---- %s\n%s", w->logs[i], out ? out : "");
            free(out);
        }
        free(w->logs[i]);
    }
    testevents_close(w->te);
    testbroker_teardown(&w->tb);
    if (!getenv("VMSEAL_TEST_KEEP"))
        testutil_dir_remove(w->dir);
    free(w->dir);
    free(w->sd_path);
    free(w);
    *state = NULL;
    return 0;
}

static int config_write(struct wtest *w, const struct wtest_worker_opts *o, const char *path) {
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600); /* it holds a password */
    FILE *f = fd < 0 ? NULL : fdopen(fd, "w");
    if (!f)
        return -errno;
    fprintf(f,
            "broker = { hosts = [ \"%s\" ]; vhost = \"%s\"; user = \"%s\"; password = \"%s\"; heartbeat_s = 10;\n"
            "  producer_user = \"%s\"; };\n", /* the test publishes jobs as the administrator */
            w->tb.broker.hosts[0], w->tb.broker.vhost, w->tb.broker.user, w->tb.broker.password,
            w->tb.broker.user);
    fprintf(f, "worker = {\n  id = \"%s\";\n  pool = \"%s\";\n  slots = %d;\n  executor = \"%s\";\n", o->id,
            o->pool ? o->pool : "default", o->slots ? o->slots : 2, o->dry_run ? "dry-run" : "real");
    if (o->dry_run_seal_ms)
        fprintf(f, "  dry_run_seal_ms = %d;\n", o->dry_run_seal_ms);
    if (o->warm)
        fprintf(f, "  guestfs = { warm = true; };\n");
    if (o->timeout_copy_s)
        fprintf(f, "  timeouts_s = { copy = %d; };\n", o->timeout_copy_s);
    fprintf(f, "};\n");
    fprintf(f, "storage = { domains = ( { id = \"%s\"; path = \"%s\"; } ); };\n", w->sd_id, w->sd_path);
    fprintf(f, "log = { level = \"debug\"; };\n");
    return fclose(f) == 0 ? 0 : -errno;
}

int wtest_worker_start(struct wtest *w, const struct wtest_worker_opts *o, pid_t *ret_pid) {
    if (w->n_workers == WTEST_MAX_WORKERS)
        return -ENOSPC;
    _cleanup_free_ char *conf = xasprintf("%s/%s.conf", w->dir, o->id);
    _cleanup_free_ char *exe = testutil_build_path("bin/vmseal-worker");
    _cleanup_free_ char *grace = xasprintf("%d", o->grace_s);
    char *log = xasprintf("%s/%s.log", w->dir, o->id);
    int r = config_write(w, o, conf);
    if (r < 0) {
        free(log);
        return r;
    }
    const char *argv[] = { exe, "--config", conf, o->grace_s ? "--grace-s" : NULL, grace, NULL };
    pid_t pid;
    r = testutil_proc_spawn(argv, NULL, log, &pid);
    if (r < 0) {
        fprintf(stderr, "cannot start %s: %s\n", exe, strerror(-r));
        free(log);
        return r;
    }
    w->pids[w->n_workers] = pid;
    w->logs[w->n_workers++] = log;
    for (int i = 0; i < 40; i++) {
        int status;
        r = testevents_wait_heartbeat(w->te, o->id, 500, NULL);
        if (r != -ETIMEDOUT)
            break;
        if (testutil_proc_wait(pid, 0, &status) == 0) {
            fprintf(stderr, "worker %s exited with status %d before it was ready; see %s\n", o->id, status, log);
            return -ECHILD;
        }
    }
    if (r < 0) {
        fprintf(stderr, "worker %s sent no heartbeat within 20 s; see %s\n", o->id, log);
        return r;
    }
    *ret_pid = pid;
    return 0;
}

pid_t wtest_start(struct wtest *w, const struct wtest_worker_opts *o, int64_t size_bytes, proto_uuid ret_img,
                  proto_uuid ret_vol) {
    pid_t pid = -1;
    assert_int_equal(wtest_volume_make(w, size_bytes, ret_img, ret_vol), 0);
    assert_int_equal(wtest_worker_start(w, o, &pid), 0);
    return pid;
}

int wtest_worker_stop(struct wtest *w, pid_t pid, int sig, int wait_ms, int *ret_status) {
    if (kill(pid, sig) < 0)
        return -errno;
    return testutil_proc_wait(pid, wait_ms, ret_status);
}

int wtest_worker_conn_close(struct wtest *w, const char *id) {
    char *out = NULL, *pid = NULL;
    _cleanup_free_ char *needle = xasprintf("vmseal-worker %s\"", id);
    int r = testbroker_ctl(&w->tb, &out, "list_connections", "-q", "-p", w->tb.vhost, "pid", "client_properties",
                           NULL);
    if (r != 0 || !out) {
        fprintf(stderr, "list_connections: %d %s\n", r, out ? out : "");
        free(out);
        return -EIO;
    }
    /* one line per connection: "<rabbit@host.1.2.3>\t[{...},{<<"connection_name">>,longstr,<<"vmseal-worker X">>}...]" */
    for (char *line = strtok(out, "\n"); line && !pid; line = strtok(NULL, "\n")) {
        char *tab = strchr(line, '\t');
        if (tab && strstr(tab, needle) == NULL) {
            /* client_properties shows <<"...">>: match without the quote */
            _cleanup_free_ char *alt = xasprintf("vmseal-worker %s>>", id);
            if (!strstr(tab, alt))
                continue;
        }
        if (tab) {
            *tab = '\0';
            pid = xstrdup(line);
        }
    }
    free(out);
    if (!pid) {
        fprintf(stderr, "no broker connection of worker %s found\n", id);
        return -ENOENT;
    }
    r = testbroker_ctl(&w->tb, NULL, "close_connection", pid, "wtest: simulated network failure", NULL);
    free(pid);
    return r == 0 ? 0 : -EIO;
}

pid_t wtest_child_of(pid_t parent) {
    DIR *d = opendir("/proc");
    struct dirent *de;
    pid_t found = -1;
    if (!d)
        return -1;
    while (found < 0 && (de = readdir(d))) {
        char path[300], buf[512];
        if (de->d_name[0] < '0' || de->d_name[0] > '9')
            continue;
        snprintf(path, sizeof(path), "/proc/%s/stat", de->d_name);
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
            continue;
        ssize_t n = read(fd, buf, sizeof(buf) - 1);
        close(fd);
        if (n <= 0)
            continue;
        buf[n] = '\0';
        /* pid (comm) state ppid ... ; comm may hold spaces: parse after ')' */
        char *rp = strrchr(buf, ')');
        char st;
        int ppid;
        if (rp && sscanf(rp + 1, " %c %d", &st, &ppid) == 2 && ppid == parent && st != 'Z')
            found = (pid_t)atoi(de->d_name);
    }
    closedir(d);
    return found;
}

bool wtest_group_alive(pid_t pgid) {
    /* Orphans of a killed worker are reparented to us (subreaper, see
     * wtest_setup): reap the group's zombies first. */
    while (waitpid(-pgid, NULL, WNOHANG) > 0)
        ;
    return !(kill(-pgid, 0) < 0 && errno == ESRCH);
}

bool wtest_group_wait_gone(pid_t pgid, int timeout_ms) {
    for (int waited = 0; wtest_group_alive(pgid); waited += 50) {
        if (waited >= timeout_ms)
            return false;
        usleep(50 * 1000);
    }
    return true;
}

int wtest_job_pid(struct wtest *w, const char *id, const char *job_id, pid_t *ret_pid, bool *ret_runner) {
    _cleanup_free_ char *path = xasprintf("%s/%s.log", w->dir, id);
    _cleanup_free_ char *needle = xasprintf("job=%s ", job_id);
    _cleanup_fclose_ FILE *f = fopen(path, "re");
    char line[4096];
    if (!f)
        return -errno;
    while (fgets(line, sizeof(line), f)) {
        char *p = strstr(line, needle);
        if (!p || !(p = strstr(p, ": started (")))
            continue;
        p += strlen(": started (");
        *ret_runner = strncmp(p, "runner ", 7) == 0;
        if (*ret_runner)
            p += 7;
        if (sscanf(p, "pid %d", ret_pid) == 1)
            return 0;
    }
    return -ENOENT;
}

void wtest_assert_runner_fds(pid_t pid) {
    char dir[64];
    snprintf(dir, sizeof(dir), "/proc/%d/fd", (int)pid);
    DIR *d = opendir(dir);
    struct dirent *de;
    int pipes = 0;
    assert_non_null(d);
    while ((de = readdir(d))) {
        char path[320], target[256];
        if (de->d_name[0] == '.')
            continue;
        snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
        ssize_t len = readlink(path, target, sizeof(target) - 1);
        assert_true(len > 0);
        target[len] = '\0';
        int fd = atoi(de->d_name);
        if (strstr(target, "socket:") || fd > 4)
            fprintf(stderr, "runner %d holds fd %d -> %s\n", (int)pid, fd, target);
        assert_null(strstr(target, "socket:"));
        assert_true(fd <= 4);
        if (fd >= 3) {
            assert_int_equal(strncmp(target, "pipe:", 5), 0);
            pipes++;
        }
    }
    closedir(d);
    assert_int_equal(pipes, 2);
}

int wtest_volume_make(struct wtest *w, int64_t size_bytes, proto_uuid ret_img, proto_uuid ret_vol) {
    struct sd *sd = NULL;
    char why[ERR_WHY_LEN] = "";
    int img_fd = -1, fd = -1;
    enum { CHUNK = 1 << 20 };
    unsigned char *buf = xmalloc(CHUNK);
    uuid_new(ret_img);
    uuid_new(ret_vol);
    int r = sd_open(w->sd_id, w->sd_path, &sd, why);
    if (r == 0)
        r = sd_image_dir_open(sd, ret_img, true, &img_fd);
    if (r == 0 && (fd = openat(img_fd, ret_vol, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0660)) < 0)
        r = -errno;
    /* no zero runs (nothing for a copy to skip), and every chunk its own
     * (its offset in its first bytes) */
    for (size_t i = 0; i < CHUNK; i++)
        buf[i] = (unsigned char)(1 + (i * 7) % 251);
    for (int64_t off = 0; r == 0 && off < size_bytes; off += CHUNK) {
        size_t n = size_bytes - off < CHUNK ? (size_t)(size_bytes - off) : CHUNK;
        memcpy(buf, &off, n < sizeof off ? n : sizeof off);
        r = write_all(fd, buf, n);
    }
    if (r == 0) {
        int64_t now = time_now_ms() / 1000;
        struct vol_meta m = {
            .cap_bytes = size_bytes,
            .ctime_s = now,
            .mtime_s = now,
            .format = FORMAT_RAW,
            .gen = 0,
            .legality = LEGALITY_LEGAL,
            .voltype = VOLTYPE_LEAF,
        };
        snprintf(m.description, sizeof(m.description), "wtest source");
        memcpy(m.domain, w->sd_id, sizeof(proto_uuid));
        memcpy(m.image, ret_img, sizeof(proto_uuid));
        memcpy(m.puuid, uuid_nil, sizeof(proto_uuid));
        r = sd_volume_meta_writeat(sd, img_fd, ret_vol, &m, why);
    }
    if (r < 0)
        fprintf(stderr, "wtest_volume_make: %s %s\n", err_str(r), why);
    if (fd >= 0)
        close(fd);
    if (img_fd >= 0)
        close(img_fd);
    sd_close(sd);
    free(buf);
    return r;
}

char *wtest_volume_path(struct wtest *w, const char *img, const char *vol, const char *suffix) {
    return xasprintf("%s/images/%s/%s%s", w->sd_path, img, vol, suffix);
}

int wtest_tmp_count(struct wtest *w, const char *img) {
    _cleanup_free_ char *path = xasprintf("%s/images/%s", w->sd_path, img);
    DIR *d = opendir(path);
    struct dirent *de;
    int n = 0;
    if (!d)
        return errno == ENOENT ? 0 : -errno;
    while ((de = readdir(d))) {
        size_t len = strlen(de->d_name);
        if (len > 4 && strcmp(de->d_name + len - 4, ".tmp") == 0)
            n++;
    }
    closedir(d);
    return n;
}

void wtest_assert_event_order(struct wtest *w, const char *job_id, enum event_state final) {
    const struct proto_event *evs[512];
    size_t n = testevents_of_job(w->te, job_id, evs, 512);
    assert_true(n >= 1 && n <= 512);
    /* running comes first, unless the job ended within WORKER_RUNNING_DELAY_MS
     * (then nothing but the final event); progress never comes without it */
    size_t first = evs[0]->state == EV_RUNNING;
    assert_true(first || n == 1);
    int last_pct = -1;
    for (size_t i = first; i + 1 < n; i++) {
        assert_int_equal(evs[i]->state, EV_PROGRESS);
        assert_true(evs[i]->progress >= last_pct);
        last_pct = evs[i]->progress;
    }
    assert_int_equal(evs[n - 1]->state, final);
}

static void vol_ref_set(struct proto_vol_ref *r, const char *sd, const char *img, const char *vol) {
    snprintf(r->sd_id, sizeof(r->sd_id), "%s", sd);
    snprintf(r->img_id, sizeof(r->img_id), "%s", img);
    snprintf(r->vol_id, sizeof(r->vol_id), "%s", vol);
}

void wtest_copy_job(struct proto_job *j, const char *sd, const char *img, const char *vol, enum vol_format fmt,
                    proto_uuid ret_img, proto_uuid ret_vol) {
    testevents_job_init(j, JOB_VOLUME_COPY);
    snprintf(j->args.copy.sd_id, sizeof(proto_uuid), "%s", sd);
    snprintf(j->args.copy.src_img_id, sizeof(proto_uuid), "%s", img);
    snprintf(j->args.copy.src_vol_id, sizeof(proto_uuid), "%s", vol);
    uuid_new(ret_img);
    uuid_new(ret_vol);
    vol_ref_set(&j->args.copy.dst, sd, ret_img, ret_vol);
    j->args.copy.format = fmt;
}

void wtest_update_job(struct proto_job *j, const char *sd, const char *img, const char *vol, int gen,
                      enum vol_legality leg, enum vol_type vt) {
    testevents_job_init(j, JOB_VOLUME_UPDATE);
    vol_ref_set(&j->args.update.vol, sd, img, vol);
    j->args.update.generation = gen;
    j->args.update.legality = leg;
    j->args.update.voltype = vt;
}

void wtest_delete_job(struct proto_job *j, const char *sd, const char *img, const char *vol) {
    testevents_job_init(j, JOB_VOLUME_DELETE);
    vol_ref_set(&j->args.del.vol, sd, img, vol);
}

void wtest_seal_job(struct proto_job *j, struct wtest *w, const char *img, const char *vol) {
    /* a workflow marks a LEAF ILLEGAL before its seal (a worker seals nothing else) */
    struct sd *sd = NULL;
    struct vol_meta m;
    char why[ERR_WHY_LEN] = "";
    if (sd_open(w->sd_id, w->sd_path, &sd, why) == 0 && sd_volume_meta_read(sd, img, vol, &m, why) == 0 &&
        m.legality == LEGALITY_LEGAL && m.voltype == VOLTYPE_LEAF) {
        struct volume_change c = { .generation = m.gen, .legality = LEGALITY_ILLEGAL };
        assert_int_equal(volume_update(sd, img, vol, &c, NULL, NULL, NULL, why), 0);
    }
    sd_close(sd);
    testevents_job_init(j, JOB_VM_SEAL);
    j->args.seal.n_disks = 1;
    j->args.seal.disks = xcalloc(1, sizeof(*j->args.seal.disks));
    vol_ref_set(&j->args.seal.disks[0], w->sd_id, img, vol);
}

const struct proto_event *wtest_job_run(struct wtest *w, const struct proto_job *j, int wait_ms) {
    const struct proto_event *ev = NULL;
    assert_int_equal(testevents_publish_job(w->te, j), 0);
    assert_int_equal(testevents_wait(w->te, j->job_id, -1, wait_ms, &ev), 0);
    return ev;
}

void wtest_job_start(struct wtest *w, const struct proto_job *j, int wait_ms) {
    assert_int_equal(testevents_publish_job(w->te, j), 0);
    assert_int_equal(testevents_wait(w->te, j->job_id, EV_RUNNING, wait_ms, NULL), 0);
}

pid_t wtest_job_process(struct wtest *w, const char *id, const char *job_id, bool runner) {
    pid_t pid = -1;
    bool is_runner = !runner;
    assert_int_equal(wtest_job_pid(w, id, job_id, &pid, &is_runner), 0);
    assert_true(pid > 0);
    assert_int_equal(is_runner, runner);
    return pid;
}

void wtest_meta_read(struct wtest *w, const char *img, const char *vol, struct vol_meta *ret, int expect) {
    struct sd *sd = NULL;
    char why[ERR_WHY_LEN] = "";
    assert_int_equal(sd_open(w->sd_id, w->sd_path, &sd, why), 0);
    assert_int_equal(sd_volume_meta_read(sd, img, vol, ret, why), expect);
    sd_close(sd);
}
