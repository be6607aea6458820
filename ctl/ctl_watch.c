/* ctl_watch.c - `vmsealctl watch [ID]` (live events from an exclusive queue
 * bound to vmseal.events) and `vmsealctl dead` (the dead-letter queue, read
 * without removing anything: every message taken is nacked with requeue). */
#include <stdlib.h>
#include <string.h>

#include "ctl.h"
#include "ctl_priv.h"
#include "err.h"
#include "util.h"

#define DEAD_DEFAULT_LIMIT 1000
#define DEAD_IDLE_MS       1000  /* the queue is drained when nothing came for this long */
#define DEAD_CONFIRM_MS    10000 /* a requeued message's confirm */

/* o->arg: the template id watch follows (NULL: all events). */
static int watch_opts_parse(const char *cmd, int argc, char **argv, struct ctl_opts *o, const char *usage) {
    *o = (struct ctl_opts){ 0 };
    if (ctl_opts_parse(argc, argv, "cjlT", strcmp(cmd, "watch") == 0, usage, o) < 0)
        return -1;
    if (o->limit < 0 || o->timeout_s < 0) {
        fputs(usage, stderr);
        return -1;
    }
    if (o->arg && !uuid_is_canonical(o->arg)) {
        ctl_err(cmd, "%s: not a canonical lowercase UUID", o->arg);
        return -1;
    }
    return 0;
}

/* One line of JSON: {"routing_key": rk, "event": ev} or, when ev is NULL,
 * {"routing_key": rk, "heartbeat": hb}. */
static void routed_json(const char *rk, const struct proto_event *ev, const struct proto_heartbeat *hb) {
    struct json j;
    json_begin(&j, stdout);
    json_obj_open(&j, NULL);
    json_str(&j, "routing_key", rk);
    if (ev)
        json_event(&j, "event", ev);
    else
        json_heartbeat(&j, "heartbeat", hb);
    json_close(&j);
    json_end(&j);
}

/* ---- watch ------------------------------------------------------------------- */

/* Print one message from vmseal.events; true when it ends the watch (the
 * watched template's terminal event). */
static bool watch_print(const struct ctl_opts *o, const struct mq_delivery *d, const char *producer_user) {
    struct proto_msg m;
    char why[ERR_WHY_LEN] = "";
    bool end = false;
    if (proto_decode(d->body, d->body_len, &m, why) < 0) {
        if (!o->arg)
            ctl_err("watch", "undecodable message on %s: %s", d->routing_key, why);
        return false;
    }
    if (m.type == PROTO_EVENT) {
        const struct proto_event *ev = &m.u.event;
        if (o->arg && strcmp(ev->template_id, o->arg) != 0)
            goto out;
        if (!ctl_event_believed(ev, d->user_id, producer_user)) {
            fprintf(stderr, "vmsealctl watch: template event from %s ignored (not the producer)\n",
                    d->user_id ? d->user_id : "an unnamed sender");
            goto out;
        }
        end = o->arg && !ev->job_id[0] &&
              (ev->state == EV_READY || ev->state == EV_FAILED || ev->state == EV_CANCELLED);
        if (o->json) {
            routed_json(d->routing_key, ev, NULL);
        } else {
            char line[1024];
            ctl_event_line(d->routing_key, ev, line, sizeof line);
            printf("%s\n", line);
        }
    } else if (m.type == PROTO_HEARTBEAT && !o->arg) {
        const struct proto_heartbeat *hb = &m.u.heartbeat;
        if (o->json) {
            routed_json(d->routing_key, NULL, hb);
        } else {
            char clk[32];
            ctl_print_line(stdout, "%s heartbeat worker=%s host=%s slots=%lld running=%zu",
                           ctl_time_str(hb->ts_ms, clk) + 11, hb->worker_id, hb->host, (long long)hb->slots,
                           hb->n_running);
        }
    }
out:
    fflush(stdout);
    proto_msg_free(&m);
    return end;
}

int ctl_watch_main(int argc, char **argv) {
    struct ctl_opts o;
    if (watch_opts_parse("watch", argc, argv, &o,
                         "usage: vmsealctl watch [ID] [--json] [--limit N] [--timeout S] [--config FILE]\n"
                         "  live events (all, or of template ID until it ends); --limit: stop after N\n") < 0)
        return 2;
    struct ctl_conn c;
    if (ctl_connect_or_report("watch", o.config, &c) < 0)
        return 1;
    int r = ctl_follow_or_report(&c, !o.arg);
    if (r < 0) {
        ctl_disconnect(&c);
        return 1;
    }
    /* Bound: from here on nothing is missed (scripts may wait for this line). */
    fprintf(stderr, "vmsealctl watch: following %s%s%s\n", MQ_X_EVENTS, o.arg ? " for template " : "",
            o.arg ? o.arg : "");
    int64_t deadline = o.timeout_s ? time_mono_ms() + o.timeout_s * 1000LL : INT64_MAX;
    int64_t seen = 0;
    int status = 0;
    for (;;) {
        int64_t left = deadline - time_mono_ms();
        if (left <= 0 || (o.limit && seen >= o.limit))
            break;
        struct mq_event ev;
        r = ctl_wait_or_report(&c, left < 1000 ? (int)left : 1000, true, &ev);
        if (r < 0)
            status = 1;
        bool end = false;
        if (r == 0 && ev.type == MQ_EV_DELIVERY) {
            seen++;
            end = watch_print(&o, &ev.delivery, c.cfg.broker.producer_user);
        } else if (r == 0 && ev.type == MQ_EV_RECONNECTED) {
            ctl_err("watch", "reconnected to the broker; events of the gap are missing");
        }
        mq_event_clear(&ev);
        if (end || status)
            break;
    }
    ctl_disconnect(&c);
    return status;
}

/* ---- dead ---------------------------------------------------------------------- */

static void dead_print(const struct ctl_opts *o, const struct mq_delivery *d) {
    struct proto_msg m;
    char why[ERR_WHY_LEN] = "";
    proto_uuid tid = "";
    bool valid = proto_decode(d->body, d->body_len, &m, why) == 0;
    (void)proto_peek_template_id(d->body, d->body_len, tid);
    const char *decoded = valid ? proto_type_to_string(m.type) : NULL;
    if (o->json) {
        struct json j;
        json_begin(&j, stdout);
        json_obj_open(&j, NULL);
        json_str(&j, "message_id", d->message_id);
        json_str(&j, "type", d->type);
        json_str(&j, "exchange", d->exchange);
        json_str(&j, "routing_key", d->routing_key);
        json_str(&j, "reason", d->reason);
        json_int(&j, "delivery_count", d->delivery_count);
        json_int(&j, "size", (int64_t)d->body_len);
        json_str(&j, "template_id", tid[0] ? tid : NULL);
        json_obj_open(&j, "decoder");
        json_bool(&j, "valid", valid);
        json_str(&j, valid ? "type" : "why", valid ? decoded : why);
        json_close(&j);
        json_close(&j);
        json_end(&j);
    } else {
        printf("message %s  type %s  routing key %s  (%zu bytes)\n", d->message_id ? d->message_id : "-",
               d->type ? d->type : "-", d->routing_key ? d->routing_key : "-", d->body_len);
        printf("  reason:   %s\n", d->reason ? d->reason : "(none)");
        if (tid[0])
            printf("  template: %s\n", tid);
        if (valid)
            printf("  decoder:  a valid %s message\n", decoded);
        else
            printf("  decoder:  invalid: %s\n", why);
    }
    if (valid)
        proto_msg_free(&m);
}

/* The queue a dead letter came from: the broker's x-death says it; vmseal's
 * own dead letters are routed with their source queue as routing key. */
static const char *dead_source(const struct mq_delivery *d) {
    return d->death_queue ? d->death_queue : d->routing_key;
}

/* Publish a dead letter back to the queue it came from (default exchange). */
static int dead_requeue(struct ctl_conn *c, const struct mq_delivery *d) {
    const char *queue = dead_source(d);
    if (!queue || strncmp(queue, "vmseal.", 7) != 0 || strcmp(queue, MQ_Q_DEAD) == 0) {
        ctl_err("dead", "%s: no source queue to requeue it to (routing key %s)", d->message_id,
                d->routing_key ? d->routing_key : "-");
        return -VMS_E_INVALID;
    }
    struct mq_props p = { .message_id = d->message_id, .type = d->type };
    int r = mq_publish_wait(c->mq, "", queue, &p, d->body, d->body_len, DEAD_CONFIRM_MS);
    if (r < 0)
        ctl_err("dead", "requeue %s to %s: %s: %s", d->message_id, queue, err_str(r), mq_why(c->mq));
    else
        printf("requeued %s to %s\n", d->message_id, queue);
    return r;
}

int ctl_dead_main(int argc, char **argv) {
    static const char usage[] =
        "usage: vmsealctl dead [--json] [--limit N] [--config FILE]\n"
        "       vmsealctl dead --requeue MESSAGE_ID | --purge [--config FILE]\n"
        "  the dead letters in vmseal.dead, decoded (nothing is removed); --requeue publishes\n"
        "  one back to the queue it came from and removes it; --purge removes them all\n";
    struct ctl_opts o = { 0 };
    if (ctl_opts_parse(argc, argv, "cjlrP", false, usage, &o) < 0)
        return 2;
    if (o.limit < 0 || (o.requeue && o.purge)) {
        fputs(usage, stderr);
        return 2;
    }
    int64_t limit = o.limit ? o.limit : DEAD_DEFAULT_LIMIT;
    if (limit > 65535)
        limit = 65535;
    struct ctl_conn c;
    if (ctl_connect_or_report("dead", o.config, &c) < 0)
        return 1;
    int r = mq_consume(c.mq, MQ_Q_DEAD, (uint16_t)limit, false, false);
    if (r < 0) {
        ctl_err("dead", "cannot read %s: %s: %s", MQ_Q_DEAD, err_str(r), mq_why(c.mq));
        ctl_disconnect(&c);
        return 1;
    }
    /* Hold every message unacknowledged (prefetch = limit), then give them
     * all back: nothing is removed and nothing is seen twice. */
    struct mq_delivery *held = xcalloc((size_t)limit, sizeof *held);
    size_t n = 0, purged = 0;
    bool found = false;
    int status = 0;
    bool list = !o.requeue && !o.purge;
    if (o.json && list)
        printf("[");
    while (o.purge || (int64_t)n + found < limit) { /* a purge acks as it goes: no limit */
        struct mq_event ev;
        r = ctl_wait_or_report(&c, DEAD_IDLE_MS, false, &ev);
        if (r < 0) {
            status = 1;
        } else if (ev.type == MQ_EV_DELIVERY) {
            bool requeue = o.requeue && ev.delivery.message_id && strcmp(o.requeue, ev.delivery.message_id) == 0;
            if (requeue && !found) {
                found = true;
                status = dead_requeue(&c, &ev.delivery) < 0 ? 1 : 0;
                if (status == 0)
                    (void)mq_ack(c.mq, &ev.delivery);
            } else if (o.purge) {
                status = mq_ack(c.mq, &ev.delivery) < 0 ? 1 : 0;
                purged += status == 0;
            } else {
                if (!o.requeue) {
                    if (o.json && n)
                        printf(",");
                    dead_print(&o, &ev.delivery);
                }
                held[n].delivery_tag = ev.delivery.delivery_tag;
                held[n].epoch = ev.delivery.epoch;
                n++;
            }
        }
        bool idle = r == 0 && ev.type == MQ_EV_NONE;
        mq_event_clear(&ev);
        if (idle || status)
            break;
    }
    if (o.json && list)
        printf("]\n");
    else if (list)
        printf("%zu dead letter%s in %s\n", n, n == 1 ? "" : "s", MQ_Q_DEAD);
    else if (o.purge)
        printf("purged %zu dead letter%s from %s\n", purged, purged == 1 ? "" : "s", MQ_Q_DEAD);
    if (o.requeue && !found && status == 0) {
        ctl_err("dead", "%s: no such dead letter in %s", o.requeue, MQ_Q_DEAD);
        status = 1;
    }
    (void)mq_cancel(c.mq, MQ_Q_DEAD);
    for (size_t i = 0; i < n; i++)
        (void)mq_nack(c.mq, &held[i], true);
    free(held);
    ctl_disconnect(&c); /* anything still unacknowledged goes back on close */
    return status;
}
