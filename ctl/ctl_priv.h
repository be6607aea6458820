/* ctl_priv.h - what the commands of vmsealctl share (ctl_conn.c,
 * ctl_json.c, ctl_status.c, ctl_view.c): option parsing, configuration and connection with
 * operator-grade error messages, the RPC call over direct reply-to, a small JSON writer and
 * the rendering of events.
 *
 * Convention: functions returning int give 0 or a negative code; the ones
 * named *_or_report() also print the one-line reason on stderr, prefixed with
 * "vmsealctl CMD: ", so a command only maps the result to its exit status.
 * Passwords never reach any output: error texts name host, vhost and user only.
 */
#ifndef VMSEAL_CTL_PRIV_H
#define VMSEAL_CTL_PRIV_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "config.h"
#include "json.h"
#include "mq.h"
#include "proto.h"
#include "rpc.h"

#define CTL_RPC_TIMEOUT_MS     5000
#define CTL_PUBLISH_TIMEOUT_MS 10000

/* One command's connection to the broker. */
struct ctl_conn {
    const char *cmd; /* "status", "submit", ... (for messages) */
    struct config cfg;
    mq_t *mq;
    bool rpc_ready; /* consuming amq.rabbitmq.reply-to */
    bool quiet;     /* the *_or_report() calls on c report nothing */
};

/* The options of vmsealctl's commands (each takes a subset). */
struct ctl_opts {
    const char *config;  /* --config FILE */
    bool json;           /* --json */
    int timeout_s;       /* --timeout S */
    const char *state;   /* --state S */
    int64_t limit;       /* --limit N */
    const char *id;      /* --id UUID (sd create) */
    const char *sd;      /* --sd PATH (sd import) */
    const char *format;  /* --format F (sd import) */
    const char *arg;     /* the positional argument, for a command that takes one */
    const char *requeue; /* --requeue ID (dead) */
    bool purge;          /* --purge (dead) */
    bool files;          /* --files (status) */
};

/* getopt_long() over argv with the long options whose letters are in
 * `accepted` (c config, j json, T timeout, s state, l limit, i id, d sd,
 * f format, r requeue, P purge, F files; --help is always there: prints usage on stdout and exits 0)
 * and, when takes_arg, one
 * positional argument.  Options not given keep the value o has on entry.
 * Anything else (unknown option, extra argument) prints usage on stderr and
 * returns -1; the command checks the values itself. */
int ctl_opts_parse(int argc, char **argv, const char *accepted, bool takes_arg, const char *usage,
                   struct ctl_opts *o);

/* Load the configuration (config_path_for("vmsealctl", cli_config); groups
 * broker (required), log, storage) and connect.  On failure prints why
 * (file:line:key, or "cannot reach the broker at HOSTS (vhost V, user U):
 * ERROR") and returns negative; c then holds nothing to free. */
int ctl_connect_or_report(const char *cmd, const char *cli_config, struct ctl_conn *c);
void ctl_disconnect(struct ctl_conn *c);

/* One mq_wait() of up to timeout_ms into *ret_ev (cleared first).  A
 * failure is printed ("broker: ERROR: DETAIL") and returned, except
 * -VMS_E_CONN_LOST when `reconnect` (the next wait reconnects): then 0 and
 * no event. */
int ctl_wait_or_report(struct ctl_conn *c, int timeout_ms, bool reconnect, struct mq_event *ret_ev);

/* Consume, from an exclusive queue bound to vmseal.events, every event
 * (all_events) or the template and job events; bound before the caller
 * publishes anything, so that nothing after this call is missed.  Prints
 * the reason on failure. */
int ctl_follow_or_report(struct ctl_conn *c, bool all_events);

/* Publish body to vmseal.requests (default exchange, mandatory) and wait for
 * the broker's confirm.  Prints the reason on failure ("vmseal.requests does
 * not exist" for an unroutable message). */
int ctl_request_publish_or_report(struct ctl_conn *c, const char *type, const char *message_id, const void *body,
                                  size_t len);

/* Send an rpc.request to vmseal.rpc and wait up to timeout_ms for its reply
 * (direct reply-to).  A reply with ok = false is returned as 0 with
 * ret->ok false (the caller prints ret->error_*).  Prints the reason on
 * transport failures: no vmseal.rpc queue, or "the producer is not answering". */
int ctl_rpc_or_report(struct ctl_conn *c, const struct rpc_request *rq, int timeout_ms, struct rpc_reply *ret);

/* Print "vmsealctl CMD: <fmt>\n" on stderr. */
void ctl_err(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* "2026-11-27 06:01:02.123" (UTC) of a wall-clock ms timestamp; "-" for 0. */
const char *ctl_time_str(int64_t ms, char buf[32]);

/* ---- JSON (the writer is common/json.h; ctl_json.c) ------------------------ */

/* Wire structs as JSON members. */
void json_vol_ref(struct json *j, const char *key, const struct proto_vol_ref *v);
void json_event(struct json *j, const char *key, const struct proto_event *ev);
void json_heartbeat(struct json *j, const char *key, const struct proto_heartbeat *hb);
/* A seal's files (proto.h): guest names in their escaped wire form. */
void json_files(struct json *j, const char *key, const struct proto_files *f);

/* ---- events (ctl_view.c) ---------------------------------------------------- */

/* The job kind named by a routing key "job.<kind>.<state>[.<user>]" into buf
 * ("volume.copy"); "" when the key is not a job event's. */
const char *ctl_key_job_kind(const char *routing_key, char buf[64]);
/* Whether to believe event ev delivered with AMQP user-id user_id (NULL if
 * absent; the broker checked a present one): job events are shown from
 * anyone, a template event only from producer_user (broker.producer_user). */
bool ctl_event_believed(const struct proto_event *ev, const char *user_id, const char *producer_user);
/* One plain line for an event (no newline) into out, escaped (str_escape). */
void ctl_event_line(const char *routing_key, const struct proto_event *ev, char *out, size_t len);

/* Print fmt's text and a newline on f, every control character (and '\\') of
 * the text escaped (str_escape, common/util.h): names, steps and error
 * messages come from tenants and guests.  Cut at 4 KiB. */
void ctl_print_line(FILE *f, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* `vmsealctl status`: the template as text (every line through
 * ctl_print_line) or as JSON (--json), on f. */
void ctl_status_print(FILE *f, const struct rpc_template *t, bool json);
/* `vmsealctl status --files`: what each seal attempt did, one line per path
 * (operation, action, mount point, path), and the counts per operation when
 * the list is truncated. */
void ctl_status_print_files(FILE *f, const struct rpc_template *t);

/* The live view of one template (submit --wait). */
struct ctl_view;
struct ctl_view *ctl_view_new(const char *template_id, const char *name, bool tty);
void ctl_view_free(struct ctl_view *v);
/* Take one event of any template (others are ignored); returns true when it
 * was this template's terminal event. */
bool ctl_view_event(struct ctl_view *v, const char *routing_key, const struct proto_event *ev);
/* Terminal view: redraw everything in place.  Plain: nothing (lines are
 * printed as events arrive).  Redraws at most every 100 ms unless force. */
void ctl_view_draw(struct ctl_view *v, bool force);
/* The terminal template event's contents, once seen (NULL before). */
struct ctl_view_final {
    enum event_state state; /* EV_READY, EV_FAILED or EV_CANCELLED */
    char step[64];          /* the failing step: the event's, unless that is
                                 * "done" - then the last forward step seen */
    bool has_error;
    char code[64], message[512];
};
const struct ctl_view_final *ctl_view_final(const struct ctl_view *v);

#endif
