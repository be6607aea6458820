/* test_chaos.c - 200 sealed-template workflows under faults (issue 7 item 1).
 *
 * Real processes on the test broker (e2e.h): one vmseal-producer, three
 * dry-run vmseal-workers (slots 2, CHAOS_SEAL_MS per seal), one storage
 * domain.  While the requests go in (one every SUBMIT_EVERY_MS) a driver
 *   - SIGKILLs a random worker every WORKER_KILL_EVERY_MS and starts a new
 *     one in its place (a new worker id each time),
 *   - SIGKILLs the producer three times and starts it again PRODUCER_DOWN_MS
 *     later,
 *   - restarts the broker once (`rabbitmqctl stop_app`, BROKER_DOWN_MS,
 *     `start_app`: the shared test node stays up for the other tests, every
 *     connection is dropped and quorum queues recover from disk); on a
 *     three-node cluster (test_chaos_cluster.sh: VMSEAL_TEST_BROKER_NODES,
 *     VMSEAL_TEST_CLUSTER_DIR, VMSEAL_TEST_NODE_SH) it stops the node that
 *     leads vmseal.events.producer instead, for NODE_DOWN_MS, and starts it
 *     again: the node loss of RELIABILITY.md "Nacks after a node loss",
 *   - cancels a few templates still in flight.
 * A request counts as submitted once the broker confirmed it (the client
 * publishes again, same template id, until it is).
 *
 * Then, within SETTLE_MS, every template must end, and:
 *   - every submitted id is known to the producer (status), and `vmsealctl
 *     list` knows exactly the submitted ones (nothing lost, nothing invented);
 *   - READY: every target volume LEGAL, SHARED, GEN 2 in its .meta (the
 *     producer's view agrees), data file present;
 *   - FAILED / CANCELLED: no target volume left, except leftovers the
 *     template lists, which must be ILLEGAL;
 *   - the domain holds nothing else: every file under images/ is a source,
 *     a READY target or a listed leftover (no orphan, no *.tmp).
 * It prints the counts and the faults injected.  RUN_SERIAL: stop_app would
 * break any other broker test running at the same time.
 */
#include <errno.h>
#include <dirent.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "e2e.h"
#include "err.h"
#include "testutil.h"
#include "util.h"

#define N_TPL                200
#define N_SRC                8
#define TWO_DISK_EVERY       20 /* templates i % 20 == 7 have two disks: 10 of them */
#define N_WORKERS            3
#define WORKER_SLOTS         2
#define CHAOS_SEAL_MS        1000
#define SUBMIT_EVERY_MS      200 /* 200 requests over ~40 s (+ the broker outage) */
#define WORKER_KILL_EVERY_MS 2000
#define CANCEL_EVERY_MS      5000
#define PRODUCER_KILL_AT_MS \
    { 8000, 18000, 48000 } /* the last one well after the broker is back */
#define PRODUCER_DOWN_MS     1500
#define BROKER_RESTART_AT_MS 26000
#define BROKER_DOWN_MS       3000
#define NODE_DOWN_MS         10000
#define SETTLE_MS            (5 * 60 * 1000)

struct chaos {
    struct e2e *e;
    struct proto_vol_ref src[N_SRC];
    proto_uuid ids[N_TPL];
    size_t n_disks[N_TPL];
    size_t n_submitted, n_two_disk;
    pid_t workers[N_WORKERS];
    unsigned n_worker_starts;
    pid_t producer;
    unsigned n_producer_starts;
    /* faults and client-side retries */
    unsigned worker_kills, producer_kills, broker_restarts, cancels, publish_retries;
    int64_t t0;
};

static int64_t elapsed_ms(const struct chaos *c) { return time_mono_ms() - c->t0; }

/* Publish a request until the broker confirms it (reconnecting as needed). */
static void request_publish(struct chaos *c, const char *type, const char *body, size_t len) {
    int64_t deadline = time_mono_ms() + 60000;
    int r;
    while ((r = testevents_publish_to(c->e->te, "", MQ_Q_REQUESTS, type, body, len)) != 0) {
        if (time_mono_ms() > deadline)
            fail_msg("%s not confirmed by the broker within 60 s: %s", type, err_str(r));
        c->publish_retries++;
        testevents_pump(c->e->te, 200); /* mq_wait reconnects */
    }
}

static void template_submit(struct chaos *c) {
    size_t i = c->n_submitted;
    struct proto_vol_ref disks[2] = { c->src[i % N_SRC], c->src[(i + 1) % N_SRC] };
    char name[32];
    snprintf(name, sizeof name, "chaos-%03zu", i);
    struct proto_template_create tc = { .name = name, .disks = disks, .n_disks = 1, .seal = true };
    if (i % TWO_DISK_EVERY == 7) {
        tc.n_disks = 2;
        c->n_two_disk++;
    }
    uuid_new(tc.template_id);
    _cleanup_free_ char *body = NULL;
    size_t len = 0;
    assert_int_equal(proto_encode_template_create(&tc, &body, &len), 0);
    request_publish(c, "template.create", body, len);
    memcpy(c->ids[i], tc.template_id, sizeof(proto_uuid));
    c->n_disks[i] = tc.n_disks;
    c->n_submitted++;
}

/* Cancel a template submitted a moment ago (likely still in flight). */
static void template_cancel(struct chaos *c) {
    if (c->n_submitted < 4)
        return;
    struct proto_template_cancel m;
    memcpy(m.template_id, c->ids[c->n_submitted - 3], sizeof(proto_uuid));
    _cleanup_free_ char *body = NULL;
    size_t len = 0;
    assert_int_equal(proto_encode_template_cancel(&m, &body, &len), 0);
    request_publish(c, "template.cancel", body, len);
    c->cancels++;
}

static void worker_start(struct chaos *c, size_t k) {
    char id[32];
    snprintf(id, sizeof id, "w%zu.%u", k + 1, c->n_worker_starts++);
    if (e2e_worker_start(c->e, id, true, CHAOS_SEAL_MS, WORKER_SLOTS, &c->workers[k]) < 0) {
        e2e_dump_logs(c->e);
        fail_msg("worker %s did not start", id);
    }
}

static void worker_kill_random(struct chaos *c) {
    size_t k = (size_t)rand() % N_WORKERS;
    e2e_kill(c->e, c->workers[k]);
    c->worker_kills++;
    worker_start(c, k);
}

static void producer_start(struct chaos *c, bool wait_active) {
    char id[32];
    snprintf(id, sizeof id, "producer.%u", c->n_producer_starts++);
    if (e2e_producer_start(c->e, id, wait_active, &c->producer) < 0) {
        e2e_dump_logs(c->e);
        fail_msg("producer %s did not start", id);
    }
}

static void broker_ctl(struct chaos *c, const char *cmd) {
    char *out = NULL;
    int r = testbroker_ctl(&c->e->tb, &out, cmd, NULL);
    if (r != 0)
        fail_msg("rabbitmqctl %s: exit %d: %s", cmd, r, out ? out : "");
    free(out);
}

static void sleep_ms(int ms) {
    int64_t until = time_mono_ms() + ms;
    while (time_mono_ms() < until)
        usleep(100 * 1000);
}

/* `node.sh stop|start DIR/nK` for the K-th node of the cluster. */
static void cluster_node(int k, const char *cmd) {
    const char *node_sh = getenv("VMSEAL_TEST_NODE_SH"), *dir = getenv("VMSEAL_TEST_CLUSTER_DIR");
    if (!node_sh || !dir)
        fail_msg("a cluster run needs VMSEAL_TEST_NODE_SH and VMSEAL_TEST_CLUSTER_DIR (test_chaos_cluster.sh)");
    _cleanup_free_ char *folder = xasprintf("%s/n%d", dir, k);
    const char *argv[] = { node_sh, cmd, folder, NULL };
    char *out = NULL;
    if (testutil_cmd_run(argv, 120000, &out) != 0)
        fail_msg("node.sh %s %s: %s", cmd, folder, out ? out : "");
    free(out);
}

/* Which node of tb->nodes (1-based) leads the queue in the test's vhost. */
static int queue_leader(struct chaos *c, const char *queue) {
    _cleanup_free_ char *out = NULL, *nodes = xstrdup(c->e->tb.nodes);
    if (testbroker_ctl(&c->e->tb, &out, "-q", "list_queues", "-p", c->e->tb.vhost, "name", "leader", NULL) != 0)
        fail_msg("rabbitmqctl list_queues: %s", out ? out : "");
    char *line = strstr(out, queue), *save = NULL;
    if (!line)
        fail_msg("no queue %s in: %s", queue, out);
    line += strlen(queue) + strspn(line + strlen(queue), " \t");
    int k = 1;
    for (char *n = strtok_r(nodes, " ", &save); n; n = strtok_r(NULL, " ", &save), k++)
        if (strncmp(line, n, strlen(n)) == 0)
            return k;
    fail_msg("cannot tell the leader of %s from: %s", queue, line);
    return -1;
}

static void broker_restart(struct chaos *c) {
    c->broker_restarts++;
    if (c->e->tb.nodes) {
        int k = queue_leader(c, MQ_Q_EVENTS_PRODUCER);
        printf("chaos: +%llds stopping n%d, the leader of %s\n", (long long)elapsed_ms(c) / 1000, k,
               MQ_Q_EVENTS_PRODUCER);
        cluster_node(k, "stop");
        sleep_ms(NODE_DOWN_MS);
        cluster_node(k, "start");
        printf("chaos: +%llds n%d back\n", (long long)elapsed_ms(c) / 1000, k);
        return;
    }
    broker_ctl(c, "stop_app");
    sleep_ms(BROKER_DOWN_MS);
    broker_ctl(c, "start_app");
    broker_ctl(c, "await_startup");
}

/* The fault schedule, driven from one loop while the requests go in. */
static void chaos_run(struct chaos *c) {
    static const int64_t producer_kill_at[] = PRODUCER_KILL_AT_MS;
    size_t next_producer_kill = 0;
    int64_t producer_restart_at = -1, next_submit = 0, next_worker_kill = WORKER_KILL_EVERY_MS;
    int64_t next_cancel = CANCEL_EVERY_MS;
    bool broker_done = false;
    c->t0 = time_mono_ms();
    while (c->n_submitted < N_TPL || producer_restart_at >= 0 || !broker_done ||
           next_producer_kill < ARRAY_SIZE(producer_kill_at)) {
        int64_t t = elapsed_ms(c);
        if (c->n_submitted < N_TPL && t >= next_submit) {
            template_submit(c);
            next_submit += SUBMIT_EVERY_MS;
        }
        if (t >= next_worker_kill) {
            worker_kill_random(c);
            next_worker_kill = elapsed_ms(c) + WORKER_KILL_EVERY_MS;
        }
        if (t >= next_cancel && c->n_submitted < N_TPL) {
            template_cancel(c);
            next_cancel += CANCEL_EVERY_MS;
        }
        if (next_producer_kill < ARRAY_SIZE(producer_kill_at) && t >= producer_kill_at[next_producer_kill]) {
            e2e_kill(c->e, c->producer);
            c->producer_kills++;
            next_producer_kill++;
            producer_restart_at = t + PRODUCER_DOWN_MS;
        }
        if (producer_restart_at >= 0 && t >= producer_restart_at) {
            producer_start(c, false);
            producer_restart_at = -1;
        }
        if (!broker_done && t >= BROKER_RESTART_AT_MS) {
            broker_restart(c);
            broker_done = true;
        }
        testevents_pump(c->e->te, 20); /* keep the monitor queue drained */
    }
}

/* ---- the end state ----------------------------------------------------------- */

struct outcome {
    struct rpc_reply rep[N_TPL];
    unsigned ready, failed, cancelled;
};

static bool terminal(const char *state) {
    return !strcmp(state, "ready") || !strcmp(state, "failed") || !strcmp(state, "cancelled");
}

/* Poll every template until all ended or SETTLE_MS passed. */
static void settle_wait(struct chaos *c, struct outcome *o) {
    int64_t deadline = time_mono_ms() + SETTLE_MS;
    bool done[N_TPL] = { false };
    size_t n_done = 0;
    while (n_done < N_TPL && time_mono_ms() < deadline) {
        for (size_t i = 0; i < N_TPL; i++) {
            if (done[i])
                continue;
            struct rpc_reply rep;
            if (e2e_status(c->e, c->ids[i], &rep) == 0 && rep.ok && terminal(rep.tpl.state)) {
                o->rep[i] = rep;
                done[i] = true;
                n_done++;
            } else {
                rpc_reply_free(&rep);
            }
        }
        testevents_pump(c->e->te, 200);
    }
    if (n_done < N_TPL) {
        e2e_dump_logs(c->e);
        for (size_t i = 0; i < N_TPL; i++)
            if (!done[i]) {
                struct rpc_reply rep;
                bool known = e2e_status(c->e, c->ids[i], &rep) == 0 && rep.ok;
                fprintf(stderr, "chaos: template %s (%s) not ended: %s/%s\n", c->ids[i],
                        known ? rep.tpl.name : "?", known ? rep.tpl.state : "unknown", known ? rep.tpl.step : "-");
                rpc_reply_free(&rep);
            }
        fail_msg("%zu of %d templates did not end within %d s", N_TPL - n_done, N_TPL, SETTLE_MS / 1000);
    }
}

static bool vol_eq(const struct proto_vol_ref *a, const struct proto_vol_ref *b) {
    return !strcmp(a->img_id, b->img_id) && !strcmp(a->vol_id, b->vol_id);
}

static bool file_exists(struct e2e *e, const struct proto_vol_ref *v, const char *suffix) {
    _cleanup_free_ char *p = e2e_vol_path(e, v, suffix);
    struct stat st;
    return lstat(p, &st) == 0;
}

static void meta_expect(struct e2e *e, const struct proto_vol_ref *v, const char *key, const char *want,
                        const char *tid) {
    char got[64] = "(none)";
    if (e2e_meta_get(e, v, key, got, sizeof got) < 0 || strcmp(got, want) != 0)
        fail_msg("template %s: volume %s/%s %s=%s, want %s", tid, v->img_id, v->vol_id, key, got, want);
}

static bool is_leftover(const struct rpc_template *t, const struct proto_vol_ref *v) {
    for (size_t i = 0; i < t->n_leftovers; i++)
        if (vol_eq(&t->leftovers[i], v))
            return true;
    return false;
}

static void template_check(struct chaos *c, size_t i, struct outcome *o) {
    const struct rpc_template *t = &o->rep[i].tpl;
    assert_int_equal(t->n_disks, c->n_disks[i]);
    if (!strcmp(t->state, "ready")) {
        o->ready++;
        for (size_t d = 0; d < t->n_disks; d++) {
            const struct proto_vol_ref *v = &t->disks[d].target;
            assert_string_equal(t->disks[d].state, "present");
            assert_int_equal(t->disks[d].legality, LEGALITY_LEGAL);
            assert_int_equal(t->disks[d].voltype, VOLTYPE_SHARED);
            meta_expect(c->e, v, "LEGALITY", "LEGAL", t->id);
            meta_expect(c->e, v, "VOLTYPE", "SHARED", t->id);
            meta_expect(c->e, v, "GEN", "2", t->id);
            if (!file_exists(c->e, v, ""))
                fail_msg("template %s READY but volume %s has no data file", t->id, v->vol_id);
        }
        return;
    }
    if (!strcmp(t->state, "failed"))
        o->failed++;
    else
        o->cancelled++;
    for (size_t d = 0; d < t->n_disks; d++) {
        const struct proto_vol_ref *v = &t->disks[d].target;
        /* the store's view: deleted, or a leftover it lists */
        if (strcmp(t->disks[d].state, is_leftover(t, v) ? "leftover" : "deleted") != 0)
            fail_msg("template %s %s: disk %zu is '%s' in the store (leftover listed: %s)", t->id, t->state, d,
                     t->disks[d].state, is_leftover(t, v) ? "yes" : "no");
        if (is_leftover(t, v))
            meta_expect(c->e, v, "LEGALITY", "ILLEGAL", t->id);
        else if (file_exists(c->e, v, ".meta") || file_exists(c->e, v, "") || file_exists(c->e, v, ".tmp"))
            fail_msg("template %s %s (%s) but its volume %s/%s is still there and not a listed leftover", t->id,
                     t->state, t->error_message ? t->error_message : "-", v->img_id, v->vol_id);
    }
}

/* Does a file name in images/<img>/ belong to an owned volume? */
static bool file_owned(struct chaos *c, struct outcome *o, const char *img, const char *name) {
    struct proto_vol_ref v;
    snprintf(v.img_id, sizeof v.img_id, "%.36s", img);
    snprintf(v.vol_id, sizeof v.vol_id, "%.36s", name);
    const char *suffix = name + strlen(v.vol_id);
    if (strcmp(suffix, "") != 0 && strcmp(suffix, ".meta") != 0)
        return false; /* *.tmp, *.meta.tmp or foreign: debris */
    for (size_t s = 0; s < N_SRC; s++)
        if (vol_eq(&c->src[s], &v))
            return true;
    for (size_t i = 0; i < N_TPL; i++) {
        const struct rpc_template *t = &o->rep[i].tpl;
        for (size_t d = 0; d < t->n_disks; d++)
            if (vol_eq(&t->disks[d].target, &v))
                return !strcmp(t->state, "ready") || is_leftover(t, &v);
    }
    return false;
}

/* Every file under images/ is owned; returns the number of volumes (.meta). */
static unsigned domain_check(struct chaos *c, struct outcome *o) {
    _cleanup_free_ char *images = xasprintf("%s/images", c->e->sd_path);
    DIR *d = opendir(images);
    assert_non_null(d);
    unsigned n_meta = 0, n_orphans = 0;
    for (struct dirent *de; (de = readdir(d));) {
        if (de->d_name[0] == '.')
            continue;
        _cleanup_free_ char *sub = xasprintf("%s/%s", images, de->d_name);
        DIR *s = opendir(sub);
        for (struct dirent *f; s && (f = readdir(s));) {
            if (f->d_name[0] == '.')
                continue;
            size_t l = strlen(f->d_name);
            n_meta += l > 5 && !strcmp(f->d_name + l - 5, ".meta");
            if (!file_owned(c, o, de->d_name, f->d_name)) {
                fprintf(stderr, "chaos: orphan in the domain: images/%s/%s\n", de->d_name, f->d_name);
                n_orphans++;
            }
        }
        if (s)
            closedir(s);
    }
    closedir(d);
    if (n_orphans)
        fail_msg("%u file(s) in the domain belong to no source, READY template or listed leftover", n_orphans);
    return n_meta;
}

/* `vmsealctl list --json`: exactly the submitted templates. */
static void store_list_check(struct chaos *c) {
    char *out = NULL;
    assert_int_equal(e2e_ctl(c->e, &out, "list", "--json", "--limit", "10000", NULL), 0);
    size_t n = 0;
    for (const char *p = out; (p = strstr(p, "\"id\":\"")); p += 6)
        n++;
    for (size_t i = 0; i < N_TPL; i++)
        if (!strstr(out, c->ids[i]))
            fail_msg("vmsealctl list does not know template %s", c->ids[i]);
    if (n != N_TPL)
        fail_msg("vmsealctl list holds %zu templates, %d were submitted:\n%.2000s", n, N_TPL, out);
    free(out);
}

static void test_chaos(void **state) {
    struct chaos *c = xcalloc(1, sizeof *c);
    struct outcome *o = xcalloc(1, sizeof *o);
    c->e = *state;
    for (size_t s = 0; s < N_SRC; s++)
        assert_int_equal(e2e_source_make(c->e, 1024 * 1024, &c->src[s]), 0);
    producer_start(c, true);
    for (size_t k = 0; k < N_WORKERS; k++)
        worker_start(c, k);

    chaos_run(c);
    int64_t chaos_ms = elapsed_ms(c);
    settle_wait(c, o);
    int64_t settle_ms = elapsed_ms(c) - chaos_ms;

    for (size_t i = 0; i < N_TPL; i++)
        template_check(c, i, o);
    store_list_check(c);
    unsigned n_vols = domain_check(c, o);
    size_t n_leftovers = 0;
    for (size_t i = 0; i < N_TPL; i++)
        n_leftovers += o->rep[i].tpl.n_leftovers;

    printf("chaos: templates=%d (two-disk %zu) ready=%u failed=%u cancelled=%u leftovers=%zu\n", N_TPL,
           c->n_two_disk, o->ready, o->failed, o->cancelled, n_leftovers);
    printf("chaos: faults: worker SIGKILLs=%u (worker starts %u), producer SIGKILLs=%u, broker restarts=%u, "
           "cancels=%u; request publishes retried=%u\n",
           c->worker_kills, c->n_worker_starts, c->producer_kills, c->broker_restarts, c->cancels,
           c->publish_retries);
    printf("chaos: domain volumes=%u (sources %d); chaos phase %.1f s, settle %.1f s\n", n_vols, N_SRC,
           chaos_ms / 1000.0, settle_ms / 1000.0);
    fflush(stdout);
    assert_int_equal(o->ready + o->failed + o->cancelled, N_TPL);
    assert_int_equal(c->producer_kills, 3);
    assert_int_equal(c->broker_restarts, 1);
    for (size_t i = 0; i < N_TPL; i++)
        rpc_reply_free(&o->rep[i]);
    free(o);
    free(c);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_chaos, e2e_setup, e2e_teardown),
    };
    srand((unsigned)getpid());
    return cmocka_run_group_tests(tests, NULL, NULL);
}
