/* ctl_query.c - `vmsealctl status ID`, `list`, `workers`: RPC queries to the
 * producer (proto/rpc.h), printed as text or --json (status: ctl_status.c). */
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
    if (ctl_opts_parse(argc, argv, want_arg ? "cjTF" : "cjTsl", want_arg, usage, o) < 0)
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
        ctl_err(cmd, "%s: %s", ret->error_code ? ret->error_code : "error",
                ret->error_message ? ret->error_message : "");
        rpc_reply_free(ret);
        return 1;
    }
    return 0;
}

/* ---- status ------------------------------------------------------------------ */

int ctl_status_main(int argc, char **argv) {
    struct ctl_opts o;
    if (query_opts_parse("status", argc, argv, &o,
                         "usage: vmsealctl status ID [--files] [--json] [--timeout S] [--config FILE]\n") < 0)
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
    if (o.files && !o.json)
        ctl_status_print_files(stdout, &rep.tpl);
    else
        ctl_status_print(stdout, &rep.tpl, o.json);
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
            ctl_print_line(stdout, "%-36s  %-12s  %-12s  %-23s  %s", s->id, s->state, s->step,
                           ctl_time_str(s->updated_ms, b), s->name);
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
    if (query_opts_parse("workers", argc, argv, &o,
                         "usage: vmsealctl workers [--json] [--timeout S] [--config FILE]\n") < 0)
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
            ctl_print_line(stdout, "%-20s  %-5s  %-20s  %-12s  %5" PRId64 "  %7zu  %8s  %s", hb->worker_id,
                           now - rep.workers[i].received_ms <= CTL_WORKER_DOWN_MS ? "up" : "down", hb->host, pools,
                           hb->slots, hb->n_running, seen, hb->libguestfs_version ? hb->libguestfs_version : "-");
        }
    }
    rpc_reply_free(&rep);
    if (alive == 0)
        ctl_err("workers", "no live worker (none sent a heartbeat in the last %d s)", CTL_WORKER_DOWN_MS / 1000);
    return alive == 0 ? 1 : 0;
}
