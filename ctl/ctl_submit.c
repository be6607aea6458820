/* ctl_submit.c - `vmsealctl submit` (a template.create request, optionally
 * followed live to its end) and `vmsealctl cancel`. */
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ctl.h"
#include "ctl_priv.h"
#include "err.h"
#include "sysprep_ops.h"
#include "util.h"

#define SUBMIT_MAX_DISKS      64
#define SUBMIT_SILENT_HINT_MS 10000 /* --wait: say so when nothing came by then */

static void submit_usage(FILE *f) {
    fputs("usage: vmsealctl submit --name NAME --disk SD:IMG:VOL [--disk ...] [--target-sd SD]\n"
          "           [--seal] [--operations OPS]... [--enable OP,...] [--disable OP,...]\n"
          "           [--hostname H] [--no-selinux-relabel] [--allow-missing MOUNTPOINT]...\n"
          "           [--id UUID] [--wait [--timeout S]] [--config FILE]\n"
          "\n"
          "Sends a template.create request and prints the new template's id.  With --wait,\n"
          "follows it to its end (live display on a terminal, one line per event otherwise);\n"
          "exit status 0 only when the template ends READY.\n"
          "\n"
          "The operations are chosen as with virt-sysprep: without --enable or --operations,\n"
          "the defaults; --enable OP,... runs ONLY these; --operations (alias --ops) adds OP,\n"
          "removes -OP, adds or removes the sets defaults and all, in order; --disable\n"
          "OP,... removes operations last (alone: the defaults minus these).\n",
          f);
}

/* --help: the operation names the choice options take, wrapped. */
static void submit_ops_list(FILE *f) {
    fputs("\nsysprep operations (* = on by default):\n", f);
    size_t col = 0;
    for (size_t i = 0; i < PROTO_SYSPREP_N_OPS; i++) {
        const struct proto_sysprep_op *op = proto_sysprep_op_get(i);
        size_t w = strlen(op->name) + 2;
        if (col && col + w > 78) {
            fputc('\n', f);
            col = 0;
        }
        col += (size_t)fprintf(f, "%s%s%s", col ? " " : "  ", op->name, op->default_on ? "*" : "");
    }
    fputc('\n', f);
}

struct submit_opts {
    const char *config;
    struct proto_template_create tc; /* strings borrowed from argv, arrays owned */
    bool wait;
    int timeout_s;
};

static int disk_parse(const char *s, struct proto_vol_ref *ret) {
    const char *a = strchr(s, ':'), *b = a ? strchr(a + 1, ':') : NULL;
    if (!a || !b || a - s != 36 || b - a - 1 != 36 || strlen(b + 1) != 36)
        return -1;
    memcpy(ret->sd_id, s, 36);
    memcpy(ret->img_id, a + 1, 36);
    memcpy(ret->vol_id, b + 1, 36);
    ret->sd_id[36] = ret->img_id[36] = ret->vol_id[36] = '\0';
    return uuid_is_canonical(ret->sd_id) && uuid_is_canonical(ret->img_id) && uuid_is_canonical(ret->vol_id) ? 0
                                                                                                             : -1;
}

static void submit_opts_free(struct submit_opts *o) {
    struct proto_sysprep *sp = &o->tc.sysprep;
    for (size_t i = 0; i < sp->n_enable; i++)
        free(sp->enable[i]);
    for (size_t i = 0; i < sp->n_disable; i++)
        free(sp->disable[i]);
    for (size_t i = 0; i < sp->n_operations; i++)
        free(sp->operations[i]);
    free(sp->enable);
    free(sp->disable);
    free(sp->operations);
    free(sp->allow_missing); /* the strings are argv's */
    free(o->tc.disks);
}

static int submit_opts_parse(int argc, char **argv, struct submit_opts *o) {
    static const struct option longopts[] = {
        { "name", required_argument, NULL, 'n' },
        { "disk", required_argument, NULL, 'd' },
        { "target-sd", required_argument, NULL, 't' },
        { "seal", no_argument, NULL, 's' },
        { "enable", required_argument, NULL, 'e' },
        { "disable", required_argument, NULL, 'x' },
        { "operations", required_argument, NULL, 'o' },
        { "operation", required_argument, NULL, 'o' },
        { "ops", required_argument, NULL, 'o' },
        { "hostname", required_argument, NULL, 'H' },
        { "no-selinux-relabel", no_argument, NULL, 'S' },
        { "id", required_argument, NULL, 'i' },
        { "wait", no_argument, NULL, 'w' },
        { "timeout", required_argument, NULL, 'T' },
        { "config", required_argument, NULL, 'c' },
        { "allow-missing", required_argument, NULL, 'M' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    struct proto_template_create *tc = &o->tc;
    tc->sysprep.selinux_relabel = true;
    optind = 0;
    int c;
    while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        switch (c) {
        case 'n': tc->name = optarg; break;
        case 'd':
            if (tc->n_disks == SUBMIT_MAX_DISKS) {
                ctl_err("submit", "at most %d disks", SUBMIT_MAX_DISKS);
                return -1;
            }
            tc->disks = xrealloc(tc->disks, (tc->n_disks + 1) * sizeof *tc->disks);
            if (disk_parse(optarg, &tc->disks[tc->n_disks]) < 0) {
                ctl_err("submit", "--disk %s: want SD:IMG:VOL, three canonical lowercase UUIDs", optarg);
                return -1;
            }
            tc->n_disks++;
            break;
        case 't':
            if (!uuid_is_canonical(optarg)) {
                ctl_err("submit", "--target-sd %s: not a canonical lowercase UUID", optarg);
                return -1;
            }
            snprintf(tc->target_sd_id, sizeof tc->target_sd_id, "%s", optarg);
            break;
        case 's': tc->seal = true; break;
        case 'e':
        case 'x':
        case 'o': {
            char why[ERR_WHY_LEN];
            enum proto_sysprep_option opt = c == 'e'   ? PROTO_SYSPREP_OPT_ENABLE
                                            : c == 'x' ? PROTO_SYSPREP_OPT_DISABLE
                                                       : PROTO_SYSPREP_OPT_OPERATIONS;
            if (proto_sysprep_option_add(&tc->sysprep, opt, optarg, why, sizeof why) < 0) {
                ctl_err("submit", "%s", why);
                return -1;
            }
            tc->has_sysprep = true;
            break;
        }
        case 'H':
            tc->sysprep.hostname = optarg;
            tc->has_sysprep = true;
            break;
        case 'S':
            tc->sysprep.selinux_relabel = false;
            tc->has_sysprep = true;
            break;
        case 'M':
            /* The seal fails when a filesystem the guest mounts at boot is
             * missing; this accepts it for that mount point. */
            if (optarg[0] != '/' || tc->sysprep.n_allow_missing == PROTO_ALLOW_MISSING_MAX) {
                ctl_err("submit", "--allow-missing %s: an absolute mount point, at most %d", optarg,
                        PROTO_ALLOW_MISSING_MAX);
                return -1;
            }
            tc->sysprep.allow_missing =
                xrealloc(tc->sysprep.allow_missing, (tc->sysprep.n_allow_missing + 1) * sizeof(char *));
            tc->sysprep.allow_missing[tc->sysprep.n_allow_missing++] = optarg;
            tc->has_sysprep = true;
            break;
        case 'i':
            if (!uuid_is_canonical(optarg)) {
                ctl_err("submit", "--id %s: not a canonical lowercase UUID", optarg);
                return -1;
            }
            snprintf(tc->template_id, sizeof tc->template_id, "%s", optarg);
            break;
        case 'w': o->wait = true; break;
        case 'T': o->timeout_s = atoi(optarg); break;
        case 'c': o->config = optarg; break;
        case 'h':
            submit_usage(stdout);
            submit_ops_list(stdout);
            exit(0);
        default: return -1;
        }
    }
    if (optind < argc) {
        ctl_err("submit", "unexpected argument '%s'", argv[optind]);
        return -1;
    }
    if (!tc->name || !*tc->name || tc->n_disks == 0) {
        ctl_err("submit", "--name and at least one --disk are required");
        return -1;
    }
    /* Refused here, before anything is sent (the producer would refuse it too). */
    char why[ERR_WHY_LEN];
    int r =
        tc->has_sysprep ? proto_sysprep_check_named(&tc->sysprep, PROTO_SYSPREP_NAMING_CLI, why, sizeof why) : 0;
    if (r < 0) {
        ctl_err("submit", "%s%s", why, r == -VMS_E_UNKNOWN_OP ? " (submit --help lists the operations)" : "");
        return -1;
    }
    if (!tc->template_id[0])
        uuid_new(tc->template_id);
    return 0;
}

/* FAILED or CANCELLED: say where and why.  The producer's record (RPC) has
 * the failing step and the worker's error; the events are the fallback (a
 * request rejected at intake is not recorded). */
static void submit_report_end(struct ctl_conn *c, const char *tid, const struct ctl_view_final *f) {
    struct rpc_request rq = { .method = RPC_STATUS };
    struct rpc_reply rep;
    snprintf(rq.template_id, sizeof rq.template_id, "%s", tid);
    c->quiet = true;
    bool known = ctl_rpc_or_report(c, &rq, 3000, &rep) == 0 && rep.ok && rep.tpl.error_code;
    c->quiet = false;
    const char *what = f->state == EV_FAILED ? "FAILED" : "CANCELLED";
    if (known)
        ctl_print_line(stderr, "template %s %s at step %s: %s: %s", tid, what,
                       rep.tpl.error_step ? rep.tpl.error_step : "?", rep.tpl.error_code,
                       rep.tpl.error_message ? rep.tpl.error_message : "");
    else
        fprintf(stderr, "template %s %s at step %s%s%s%s%s\n", tid, what, f->step[0] ? f->step : "?",
                f->has_error ? ": " : "", f->code, f->has_error ? ": " : "", f->message);
    if (known && rep.tpl.n_leftovers)
        fprintf(stderr,
                "template %s: %zu volume(s) could not be deleted and are left ILLEGAL (vmsealctl status %s)\n",
                tid, rep.tpl.n_leftovers, tid);
    rpc_reply_free(&rep);
}

/* Follow the template until its end; returns the exit status. */
static int submit_wait(struct ctl_conn *c, const struct proto_template_create *tc, int timeout_s) {
    struct ctl_view *v = ctl_view_new(tc->template_id, tc->name, isatty(STDOUT_FILENO));
    int64_t deadline = timeout_s > 0 ? time_mono_ms() + (int64_t)timeout_s * 1000 : INT64_MAX;
    int status = 1;
    int64_t hint_at = time_mono_ms() + SUBMIT_SILENT_HINT_MS;
    bool heard = false;
    ctl_view_draw(v, true);
    while (!ctl_view_final(v)) {
        if (!heard && hint_at && time_mono_ms() >= hint_at) {
            ctl_err(c->cmd, "warning: no event for template %s after %d s: is vmseal-producer running?",
                    tc->template_id, SUBMIT_SILENT_HINT_MS / 1000);
            hint_at = 0;
        }
        int64_t left = deadline - time_mono_ms();
        if (left <= 0) {
            ctl_view_draw(v, true);
            ctl_err(c->cmd, "template %s has not ended after %d s", tc->template_id, timeout_s);
            goto out_free_view;
        }
        struct mq_event ev;
        memset(&ev, 0, sizeof ev);
        int r = mq_wait(c->mq, left < 500 ? (int)left : 500, NULL, 0, &ev);
        if (r == 0 && ev.type == MQ_EV_DELIVERY) {
            struct proto_event pe;
            if (proto_decode_event(ev.delivery.body, ev.delivery.body_len, &pe, NULL) == 0) {
                if (ctl_event_believed(&pe, ev.delivery.user_id, c->cfg.broker.producer_user)) {
                    heard |= strcmp(pe.template_id, tc->template_id) == 0;
                    ctl_view_event(v, ev.delivery.routing_key, &pe);
                } else if (strcmp(pe.template_id, tc->template_id) == 0) {
                    ctl_err(c->cmd, "warning: template event from %s ignored (not the producer)",
                            ev.delivery.user_id ? ev.delivery.user_id : "an unnamed sender");
                }
                proto_event_free(&pe);
            }
        } else if (r == 0 && ev.type == MQ_EV_RECONNECTED) {
            ctl_err(c->cmd, "warning: reconnected to the broker; events of the gap may be missing");
        } else if (r < 0 && r != -VMS_E_CONN_LOST) {
            ctl_err(c->cmd, "broker: %s: %s", err_str(r), mq_why(c->mq));
            mq_event_clear(&ev);
            goto out_free_view;
        }
        mq_event_clear(&ev);
        ctl_view_draw(v, false);
    }
    ctl_view_draw(v, true);
    const struct ctl_view_final *f = ctl_view_final(v);
    if (f->state == EV_READY) {
        printf("template %s READY\n", tc->template_id);
        status = 0;
    } else {
        submit_report_end(c, tc->template_id, f);
    }
out_free_view:
    ctl_view_free(v);
    return status;
}

int ctl_submit_main(int argc, char **argv) {
    struct submit_opts o;
    memset(&o, 0, sizeof o);
    char *body = NULL;
    size_t len = 0;
    struct ctl_conn c;
    int status = 2;
    if (submit_opts_parse(argc, argv, &o) < 0) {
        submit_usage(stderr);
        goto out_free_opts;
    }
    status = 1;
    int r = proto_encode_template_create(&o.tc, &body, &len);
    if (r < 0) {
        ctl_err("submit", "invalid request: %s", err_str(r));
        goto out_free_opts;
    }
    if (ctl_connect_or_report("submit", o.config, &c) < 0)
        goto out_free_body;
    if (o.wait && ctl_follow_or_report(&c, false) != 0)
        goto out_disconnect;
    if (ctl_request_publish_or_report(&c, "template.create", o.tc.template_id, body, len) != 0)
        goto out_disconnect;
    printf("%s\n", o.tc.template_id);
    fflush(stdout);
    status = o.wait ? submit_wait(&c, &o.tc, o.timeout_s) : 0;
out_disconnect:
    ctl_disconnect(&c);
out_free_body:
    free(body);
out_free_opts:
    submit_opts_free(&o);
    return status;
}

int ctl_cancel_main(int argc, char **argv) {
    static const struct option longopts[] = {
        { "config", required_argument, NULL, 'c' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    const char *config = NULL;
    optind = 0;
    int c;
    while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        if (c == 'c')
            config = optarg;
        else {
            fputs("usage: vmsealctl cancel ID [--config FILE]\n", c == 'h' ? stdout : stderr);
            return c == 'h' ? 0 : 2;
        }
    }
    if (optind + 1 != argc || !uuid_is_canonical(argv[optind])) {
        ctl_err("cancel", "want one template id (a canonical lowercase UUID)");
        return 2;
    }
    struct proto_template_cancel m;
    snprintf(m.template_id, sizeof m.template_id, "%s", argv[optind]);
    _cleanup_free_ char *body = NULL;
    size_t len = 0;
    if (proto_encode_template_cancel(&m, &body, &len) < 0)
        return 1;
    struct ctl_conn conn;
    if (ctl_connect_or_report("cancel", config, &conn) < 0)
        return 1;
    proto_uuid id;
    uuid_new(id);
    int r = ctl_request_publish_or_report(&conn, "template.cancel", id, body, len);
    ctl_disconnect(&conn);
    if (r < 0)
        return 1;
    printf("cancel of template %s requested\n", m.template_id);
    return 0;
}
