/* ctl_conn.c - options, configuration, broker connection, request
 * publishing and the RPC call of vmsealctl (see ctl_priv.h). */
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ctl_priv.h"
#include "err.h"
#include "util.h"

/* The reason may quote the producer's or a worker's error text: escaped. */
static void ctl_verr(const char *cmd, const char *fmt, va_list ap) {
    char line[4096], esc[4096];
    vsnprintf(line, sizeof line, fmt, ap);
    fprintf(stderr, "vmsealctl %s: %s\n", cmd, str_escape(line, esc, sizeof esc));
}

void ctl_err(const char *cmd, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    ctl_verr(cmd, fmt, ap);
    va_end(ap);
}

/* ctl_err() for c's command; nothing when c->quiet. */
static void conn_err(const struct ctl_conn *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void conn_err(const struct ctl_conn *c, const char *fmt, ...) {
    va_list ap;
    if (c->quiet)
        return;
    va_start(ap, fmt);
    ctl_verr(c->cmd, fmt, ap);
    va_end(ap);
}

const char *ctl_time_str(int64_t ms, char buf[32]) {
    if (ms <= 0)
        return strcpy(buf, "-");
    time_t s = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&s, &tm);
    size_t n = strftime(buf, 32, "%Y-%m-%d %H:%M:%S", &tm);
    snprintf(buf + n, 32 - n, ".%03d", (int)(ms % 1000));
    return buf;
}

int ctl_opts_parse(int argc, char **argv, const char *accepted, bool takes_arg, const char *usage,
                   struct ctl_opts *o) {
    static const struct option all[] = {
        { "config", required_argument, NULL, 'c' },  { "json", no_argument, NULL, 'j' },
        { "timeout", required_argument, NULL, 'T' }, { "state", required_argument, NULL, 's' },
        { "limit", required_argument, NULL, 'l' },   { "id", required_argument, NULL, 'i' },
        { "sd", required_argument, NULL, 'd' },      { "format", required_argument, NULL, 'f' },
        { "requeue", required_argument, NULL, 'r' }, { "purge", no_argument, NULL, 'P' },
        { "files", no_argument, NULL, 'F' },
    };
    struct option longopts[ARRAY_SIZE(all) + 2];
    size_t n = 0;
    for (size_t i = 0; i < ARRAY_SIZE(all); i++)
        if (strchr(accepted, all[i].val))
            longopts[n++] = all[i];
    longopts[n++] = (struct option){ "help", no_argument, NULL, 'h' };
    longopts[n] = (struct option){ NULL, 0, NULL, 0 };
    optind = 0;
    int c;
    while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        switch (c) {
        case 'c': o->config = optarg; break;
        case 'j': o->json = true; break;
        case 'T': o->timeout_s = atoi(optarg); break;
        case 's': o->state = optarg; break;
        case 'l': o->limit = atoll(optarg); break;
        case 'i': o->id = optarg; break;
        case 'd': o->sd = optarg; break;
        case 'f': o->format = optarg; break;
        case 'r': o->requeue = optarg; break;
        case 'P': o->purge = true; break;
        case 'F': o->files = true; break;
        case 'h': printf("%s", usage); exit(0);
        default: fputs(usage, stderr); return -1;
        }
    }
    if (takes_arg && optind < argc)
        o->arg = argv[optind++];
    if (optind < argc) {
        fputs(usage, stderr);
        return -1;
    }
    return 0;
}

/* "h1, h2" of the configured hosts. */
static void hosts_str(const struct config_broker *b, char *out, size_t len) {
    size_t off = 0;
    out[0] = '\0';
    for (size_t i = 0; i < b->n_hosts && off < len; i++)
        off += (size_t)snprintf(out + off, len - off, "%s%s", i ? ", " : "", b->hosts[i]);
}

int ctl_connect_or_report(const char *cmd, const char *cli_config, struct ctl_conn *c) {
    memset(c, 0, sizeof *c);
    c->cmd = cmd;
    _cleanup_free_ char *path = config_path_for("vmsealctl", cli_config);
    char why[ERR_WHY_LEN] = "", warn[ERR_WHY_LEN] = "";
    int r = config_load(path, CONFIG_BROKER | CONFIG_LOG | CONFIG_STORAGE, CONFIG_BROKER, &c->cfg, why, warn);
    if (r < 0) {
        ctl_err(cmd, "%s", why[0] ? why : err_str(r));
        memset(&c->cfg, 0, sizeof c->cfg);
        return r;
    }
    if (warn[0])
        ctl_err(cmd, "warning: %s", warn);
    char broker_why[ERR_WHY_LEN] = "";
    _cleanup_free_ char *conn_name = xasprintf("vmsealctl %s", cmd);
    struct mq_opts o = { .broker = &c->cfg.broker,
                         .conn_name = conn_name,
                         .connect_timeout_ms = 3000,
                         .rpc_timeout_ms = 10000,
                         .max_backoff_ms = 1000,
                         .why = broker_why,
                         .stamp_user_id = true,
                         .why_len = sizeof broker_why };
    r = mq_open(&o, &c->mq);
    if (r < 0) {
        char hosts[512];
        hosts_str(&c->cfg.broker, hosts, sizeof hosts);
        ctl_err(cmd, "cannot reach the broker at %s (vhost %s, user %s): %s", hosts,
                c->cfg.broker.vhost ? c->cfg.broker.vhost : "vmseal", c->cfg.broker.user,
                broker_why[0] ? broker_why : err_str(r));
        config_free(&c->cfg);
        memset(c, 0, sizeof *c);
        return r;
    }
    return 0;
}

void ctl_disconnect(struct ctl_conn *c) {
    if (!c)
        return;
    mq_close(c->mq);
    c->mq = NULL;
    config_free(&c->cfg);
    memset(&c->cfg, 0, sizeof c->cfg);
}

int ctl_wait_or_report(struct ctl_conn *c, int timeout_ms, bool reconnect, struct mq_event *ret_ev) {
    memset(ret_ev, 0, sizeof *ret_ev);
    int r = mq_wait(c->mq, timeout_ms, NULL, 0, ret_ev);
    if (r == -VMS_E_CONN_LOST && reconnect) {
        mq_event_clear(ret_ev);
        return 0;
    }
    if (r < 0)
        conn_err(c, "broker: %s: %s", err_str(r), mq_why(c->mq));
    return r;
}

/* Publish one message to the default exchange (mandatory) and wait for its
 * confirm. */
static int publish_direct(struct ctl_conn *c, const char *queue, const struct mq_props *props, const void *body,
                          size_t len) {
    int r = mq_publish_wait(c->mq, "", queue, props, body, len, CTL_PUBLISH_TIMEOUT_MS);
    if (r == -VMS_E_RETURNED)
        conn_err(c, "queue %s does not exist in vhost %s (is the topology loaded / the producer ever started?)",
                 queue, c->cfg.broker.vhost ? c->cfg.broker.vhost : "vmseal");
    else if (r < 0)
        conn_err(c, "publishing to %s failed: %s%s%s", queue, err_str(r), mq_why(c->mq)[0] ? ": " : "",
                 mq_why(c->mq));
    return r;
}

int ctl_request_publish_or_report(struct ctl_conn *c, const char *type, const char *message_id, const void *body,
                                  size_t len) {
    struct mq_props props = { .message_id = message_id, .type = type, .mandatory = true };
    return publish_direct(c, MQ_Q_REQUESTS, &props, body, len);
}

int ctl_follow_or_report(struct ctl_conn *c, bool all_events) {
    char q[256];
    int r;
    if ((r = mq_declare_exclusive_queue(c->mq, q)) < 0 ||
        (r = mq_bind(c->mq, q, MQ_X_EVENTS, all_events ? "#" : "template.#")) < 0 ||
        (!all_events && (r = mq_bind(c->mq, q, MQ_X_EVENTS, "job.#")) < 0) ||
        (r = mq_consume(c->mq, q, 0, true, true)) < 0)
        conn_err(c, "cannot follow events on %s: %s: %s", MQ_X_EVENTS, err_str(r), mq_why(c->mq));
    return r;
}

int ctl_rpc_or_report(struct ctl_conn *c, const struct rpc_request *rq, int timeout_ms, struct rpc_reply *ret) {
    memset(ret, 0, sizeof *ret);
    int r;
    if (!c->rpc_ready) {
        /* Consume the pseudo-queue before publishing: the reply may come at once. */
        if ((r = mq_consume(c->mq, RPC_REPLY_TO, 0, false, true)) < 0) {
            conn_err(c, "cannot consume %s: %s: %s", RPC_REPLY_TO, err_str(r), mq_why(c->mq));
            return r;
        }
        c->rpc_ready = true;
    }
    _cleanup_free_ char *body = NULL;
    size_t len = 0;
    if ((r = rpc_encode_request(rq, &body, &len)) < 0) {
        conn_err(c, "cannot encode the request: %s", err_str(r));
        return r;
    }
    proto_uuid corr;
    uuid_new(corr);
    struct mq_props props = { .message_id = corr,
                              .correlation_id = corr,
                              .reply_to = RPC_REPLY_TO,
                              .type = RPC_REQUEST_TYPE,
                              .transient = true,
                              .mandatory = true };
    if ((r = publish_direct(c, MQ_Q_RPC, &props, body, len)) < 0)
        return r;
    int64_t deadline = time_mono_ms() + timeout_ms;
    for (;;) {
        int64_t left = deadline - time_mono_ms();
        if (left <= 0) {
            conn_err(c, "the producer is not answering (no reply on %s within %d s)", MQ_Q_RPC,
                     (timeout_ms + 999) / 1000);
            return -ETIMEDOUT;
        }
        struct mq_event ev;
        if ((r = ctl_wait_or_report(c, (int)left, true, &ev)) < 0)
            return r;
        bool mine = r == 0 && ev.type == MQ_EV_DELIVERY && ev.delivery.correlation_id &&
                    strcmp(ev.delivery.correlation_id, corr) == 0;
        if (mine) {
            char why[ERR_WHY_LEN] = "";
            r = rpc_decode_reply(ev.delivery.body, ev.delivery.body_len, ret, why);
            if (r < 0)
                conn_err(c, "the producer's reply is invalid: %s", why);
        }
        mq_event_clear(&ev);
        if (mine)
            return r;
    }
}
