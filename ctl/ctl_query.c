/* ctl_query.c - `vmsealctl status ID`, `list`, `workers`: RPC queries to the
 * producer (proto/rpc.h), printed as text or --json. */
#include <inttypes.h>
#include <limits.h>
#include <string.h>

#include "ctl.h"
#include "ctl_priv.h"
#include "err.h"
#include "util.h"

/* o->arg: status's template id. */
static int query_opts_parse(const char *cmd, int argc, char **argv, struct ctl_opts *o, const char *usage) {
    bool want_arg = strcmp(cmd, "status") == 0;
    *o = (struct ctl_opts){ .timeout_s = CTL_RPC_TIMEOUT_MS / 1000 };
    if (ctl_opts_parse(argc, argv, "cjTsl", want_arg, usage, o) < 0)
        return -1;
    if ((want_arg && !o->arg) || o->timeout_s <= 0 || o->timeout_s > INT_MAX / 1000 ||
        ((o->state || o->limit) && strcmp(cmd, "list") != 0)) {
        fputs(usage, stderr);
        return -1;
    }
    if (o->limit < 0 || o->limit > RPC_LIST_MAX_LIMIT) {
        ctl_err(cmd, "--limit must be between 1 and %d", RPC_LIST_MAX_LIMIT);
        return -1;
    }
    return 0;
}

/* Connect, ask, and print the producer's refusal if any.  0 = ret holds an
 * ok reply; else the exit status. */
static int query_run(const char *cmd, const struct ctl_opts *o, const struct rpc_request *rq,
                     struct rpc_reply *ret) {
    struct ctl_conn c;
    if (ctl_connect_or_report(cmd, o->config, &c) < 0)
        return 1;
    int r = ctl_rpc_or_report(&c, rq, o->timeout_s * 1000, ret);
    ctl_disconnect(&c);
    if (r < 0)
        return 1;
    if (!ret->ok) {
        ctl_err(cmd, "%s: %s", ret->error_code ? ret->error_code : "error", ret->error_message ? ret->error_message : "");
        rpc_reply_free(ret);
        return 1;
    }
    return 0;
}

/* ---- status ------------------------------------------------------------------ */

static void status_json(const struct rpc_template *t) {
    struct json j;
    json_begin(&j, stdout);
    json_obj_open(&j, NULL);
    json_str(&j, "id", t->id);
    json_str(&j, "name", t->name);
    json_str(&j, "state", t->state);
    json_str(&j, "step", t->step);
    json_bool(&j, "seal", t->seal);
    json_int(&j, "created_ms", t->created_ms);
    json_int(&j, "updated_ms", t->updated_ms);
    if (t->error_code) {
        json_obj_open(&j, "error");
        json_str(&j, "step", t->error_step);
        json_str(&j, "code", t->error_code);
        json_str(&j, "message", t->error_message);
        json_close(&j);
    } else {
        json_null(&j, "error");
    }
    json_arr_open(&j, "disks");
    for (size_t i = 0; i < t->n_disks; i++) {
        const struct rpc_disk *d = &t->disks[i];
        json_obj_open(&j, NULL);
        json_int(&j, "index", d->index);
        json_vol_ref(&j, "source", &d->source);
        json_vol_ref(&j, "target", &d->target);
        json_str(&j, "state", d->state);
        json_str(&j, "legality", vol_legality_to_string(d->legality));
        json_str(&j, "voltype", vol_type_to_string(d->voltype));
        json_int(&j, "generation", d->generation);
        json_close(&j);
    }
    json_close(&j);
    json_arr_open(&j, "jobs");
    for (size_t i = 0; i < t->n_jobs; i++) {
        const struct rpc_job *jb = &t->jobs[i];
        json_obj_open(&j, NULL);
        json_str(&j, "job_id", jb->job_id);
        json_str(&j, "kind", job_kind_to_string(jb->kind));
        json_str(&j, "step", jb->step);
        json_int(&j, "disk", jb->disk);
        json_int(&j, "attempt", jb->attempt);
        json_str(&j, "state", jb->state);
        json_int(&j, "created_ms", jb->created_ms);
        json_int(&j, "started_ms", jb->started_ms);
        json_int(&j, "finished_ms", jb->finished_ms);
        json_int(&j, "progress", jb->progress);
        json_str(&j, "worker_id", jb->worker_id);
        if (jb->error_code) {
            json_obj_open(&j, "error");
            json_str(&j, "code", jb->error_code);
            json_str(&j, "message", jb->error_message);
            json_close(&j);
        }
        json_close(&j);
    }
    json_close(&j);
    json_arr_open(&j, "leftovers");
    for (size_t i = 0; i < t->n_leftovers; i++)
        json_vol_ref(&j, NULL, &t->leftovers[i]);
    json_close(&j);
    json_close(&j);
    json_end(&j);
}

static void status_text(const struct rpc_template *t) {
    char b1[32], b2[32];
    printf("template  %s  \"%s\"\n", t->id, t->name);
    printf("state     %s (step %s)%s\n", t->state, t->step, t->seal ? "  sealed" : "");
    printf("created   %s UTC   updated %s UTC\n", ctl_time_str(t->created_ms, b1), ctl_time_str(t->updated_ms, b2));
    if (t->error_code)
        printf("error     at step %s: %s: %s\n", t->error_step ? t->error_step : "?", t->error_code,
               t->error_message ? t->error_message : "");
    printf("disks\n");
    for (size_t i = 0; i < t->n_disks; i++) {
        const struct rpc_disk *d = &t->disks[i];
        printf("  %" PRId64 "  %s/%s -> %s:%s:%s  %s %s %s GEN %" PRId64 "\n", d->index, d->source.img_id,
               d->source.vol_id, d->target.sd_id, d->target.img_id, d->target.vol_id, d->state,
               vol_legality_to_string(d->legality), vol_type_to_string(d->voltype), d->generation);
    }
    printf("jobs\n");
    for (size_t i = 0; i < t->n_jobs; i++) {
        const struct rpc_job *j = &t->jobs[i];
        char disk[24];
        snprintf(disk, sizeof disk, j->disk < 0 ? "all" : "%" PRId64, j->disk);
        int64_t ms = j->finished_ms && j->started_ms ? j->finished_ms - j->started_ms : -1;
        printf("  %s  %-13s %-12s disk %-3s attempt %" PRId64 "  %-9s %3" PRId64 "%%  %-12s", j->job_id,
               job_kind_to_string(j->kind), j->step, disk, j->attempt, j->state, j->progress,
               j->worker_id ? j->worker_id : "-");
        if (ms >= 0)
            printf("  %" PRId64 " ms", ms);
        if (j->error_code)
            printf("  %s: %s", j->error_code, j->error_message ? j->error_message : "");
        printf("\n");
    }
    if (t->n_leftovers) {
        printf("leftovers (left ILLEGAL; delete by hand)\n");
        for (size_t i = 0; i < t->n_leftovers; i++)
            printf("  %s:%s:%s\n", t->leftovers[i].sd_id, t->leftovers[i].img_id, t->leftovers[i].vol_id);
    }
}

int ctl_status_main(int argc, char **argv) {
    struct ctl_opts o;
    if (query_opts_parse("status", argc, argv, &o, "usage: vmsealctl status ID [--json] [--timeout S] [--config FILE]\n") < 0)
        return 2;
    if (!uuid_is_canonical(o.arg)) {
        ctl_err("status", "%s: not a canonical lowercase UUID", o.arg);
        return 2;
    }
    struct rpc_request rq = { .method = RPC_STATUS };
    snprintf(rq.template_id, sizeof rq.template_id, "%s", o.arg);
    struct rpc_reply rep;
    int status = query_run("status", &o, &rq, &rep);
    if (status)
        return status;
    if (o.json)
        status_json(&rep.tpl);
    else
        status_text(&rep.tpl);
    rpc_reply_free(&rep);
    return 0;
}

/* ---- list ---------------------------------------------------------------------- */

int ctl_list_main(int argc, char **argv) {
    struct ctl_opts o;
    if (query_opts_parse("list", argc, argv, &o,
                         "usage: vmsealctl list [--state S] [--limit N] [--json] [--timeout S] [--config FILE]\n"
                         "  S: creating, rolling_back, ready, failed, cancelled\n") < 0)
        return 2;
    struct rpc_request rq = { .method = RPC_LIST, .state = (char *)o.state, .limit = o.limit };
    struct rpc_reply rep;
    int status = query_run("list", &o, &rq, &rep);
    if (status)
        return status;
    if (o.json) {
        struct json j;
        json_begin(&j, stdout);
        json_arr_open(&j, NULL);
        for (size_t i = 0; i < rep.n_templates; i++) {
            const struct rpc_summary *s = &rep.templates[i];
            json_obj_open(&j, NULL);
            json_str(&j, "id", s->id);
            json_str(&j, "name", s->name);
            json_str(&j, "state", s->state);
            json_str(&j, "step", s->step);
            json_int(&j, "updated_ms", s->updated_ms);
            json_close(&j);
        }
        json_close(&j);
        json_end(&j);
    } else {
        printf("%-36s  %-12s  %-12s  %-23s  %s\n", "ID", "STATE", "STEP", "UPDATED (UTC)", "NAME");
        for (size_t i = 0; i < rep.n_templates; i++) {
            const struct rpc_summary *s = &rep.templates[i];
            char b[32];
            printf("%-36s  %-12s  %-12s  %-23s  %s\n", s->id, s->state, s->step, ctl_time_str(s->updated_ms, b),
                   s->name);
        }
    }
    rpc_reply_free(&rep);
    return 0;
}

/* ---- workers --------------------------------------------------------------------- */

/* A worker whose last heartbeat is older than three of its intervals
 * (WORKER_HEARTBEAT_MS, 10 s, worker/runtime.h) is down. */
#define CTL_WORKER_DOWN_MS (3 * 10000)

int ctl_workers_main(int argc, char **argv) {
    struct ctl_opts o;
    if (query_opts_parse("workers", argc, argv, &o, "usage: vmsealctl workers [--json] [--timeout S] [--config FILE]\n") < 0)
        return 2;
    struct rpc_request rq = { .method = RPC_WORKERS };
    struct rpc_reply rep;
    int status = query_run("workers", &o, &rq, &rep);
    if (status)
        return status;
    int64_t now = time_now_ms();
    size_t alive = 0;
    for (size_t i = 0; i < rep.n_workers; i++)
        alive += now - rep.workers[i].received_ms <= CTL_WORKER_DOWN_MS;
    if (o.json) {
        struct json j;
        json_begin(&j, stdout);
        json_arr_open(&j, NULL);
        for (size_t i = 0; i < rep.n_workers; i++) {
            json_obj_open(&j, NULL);
            json_heartbeat(&j, "heartbeat", &rep.workers[i].hb);
            json_int(&j, "received_ms", rep.workers[i].received_ms);
            json_bool(&j, "alive", now - rep.workers[i].received_ms <= CTL_WORKER_DOWN_MS);
            json_close(&j);
        }
        json_close(&j);
        json_end(&j);
    } else {
        printf("%-20s  %-5s  %-20s  %-12s  %5s  %7s  %8s  %s\n", "WORKER", "STATE", "HOST", "POOLS", "SLOTS",
               "RUNNING", "SEEN", "LIBGUESTFS");
        for (size_t i = 0; i < rep.n_workers; i++) {
            const struct proto_heartbeat *hb = &rep.workers[i].hb;
            char pools[128] = "", seen[24];
            size_t off = 0;
            for (size_t k = 0; k < hb->n_pools && off < sizeof pools; k++)
                off += (size_t)snprintf(pools + off, sizeof pools - off, "%s%s", k ? "," : "", hb->pools[k]);
            snprintf(seen, sizeof seen, "%llds ago", (long long)((now - rep.workers[i].received_ms) / 1000));
            printf("%-20s  %-5s  %-20s  %-12s  %5" PRId64 "  %7zu  %8s  %s\n", hb->worker_id,
                   now - rep.workers[i].received_ms <= CTL_WORKER_DOWN_MS ? "up" : "down", hb->host, pools,
                   hb->slots, hb->n_running, seen, hb->libguestfs_version ? hb->libguestfs_version : "-");
        }
    }
    rpc_reply_free(&rep);
    if (alive == 0)
        ctl_err("workers", "no live worker (none sent a heartbeat in the last %d s)", CTL_WORKER_DOWN_MS / 1000);
    return alive == 0 ? 1 : 0;
}
