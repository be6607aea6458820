/* wftest.h - fixture of the producer unit tests: a real store in a
 * temporary folder (SQLite; or a fresh PostgreSQL schema in the `_pg`
 * variants, see testpg.h), the workflow over it, and helpers that read the outbox
 * the way the pump would (decoding every row, then deleting it). */
#ifndef VMSEAL_WFTEST_H
#define VMSEAL_WFTEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "proto.h"
#include "store.h"
#include "workflow.h"

#define SD1        "11111111-1111-4111-8111-111111111111"
#define SD2        "22222222-2222-4222-8222-222222222222"
#define SD_UNKNOWN "99999999-9999-4999-8999-999999999999"
#define WFT_MAX    64

struct fx {
    char *dir, *db, *schema; /* db: the store target; schema: PostgreSQL's, or NULL */
    struct store *st;
    wf_t *wf;
    struct wf_opts o;
    struct config_storage storage;
    int64_t now;
};

/* What one look at the outbox found (rows are deleted as read). */
struct msgs {
    struct proto_job jobs[WFT_MAX];
    size_t n_jobs;
    struct proto_event events[WFT_MAX];
    size_t n_events; /* template events */
    proto_uuid cancels[WFT_MAX];
    size_t n_cancels; /* job.cancel job ids */
    char dead[WFT_MAX][256];
    size_t n_dead; /* dead-letter reasons */
};

int fx_setup(void **state);
int fx_teardown(void **state);
/* Close and reopen the store and the workflow (a restart). */
void fx_reopen(struct fx *f);

/* Encode a template.create with n disks on SD1 (fresh source ids). */
void req_create(const char *template_id, size_t n_disks, bool seal, char **ret_buf, size_t *ret_len);
/* Submit a request body; asserts the call succeeded; returns the outcome. */
enum wf_outcome fx_request(struct fx *f, const void *body, size_t len, char why[ERR_WHY_LEN]);
/* Submit a new template (asserted accepted) and return its first messages. */
void fx_submit(struct fx *f, const char *template_id, size_t n_disks, bool seal, struct msgs *m);
void fx_cancel(struct fx *f, const char *template_id);

/* Read and delete every outbox row; m is cleared first (free with msgs_free). */
void fx_take(struct fx *f, struct msgs *m);
void msgs_free(struct msgs *m);
size_t fx_outbox_count(struct fx *f);

/* A job event (fresh event id); code NULL = no error. */
void fx_event(struct fx *f, const struct proto_job *j, enum event_state state, const char *code, bool permanent);
void fx_event_struct(struct proto_event *ev, const struct proto_job *j, enum event_state state, const char *code,
                     bool permanent, int64_t now);
/* Answer every job of m with succeeded, then take the next messages. */
void fx_succeed_all(struct fx *f, struct msgs *m);
void fx_tick(struct fx *f);

enum tpl_state fx_state(struct fx *f, const char *template_id, enum tpl_step *ret_step);
size_t fx_job_rows(struct fx *f, const char *template_id);

#endif
