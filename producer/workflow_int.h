/* workflow_int.h - shared by workflow.c (the state machine) and intake.c
 * (requests).  Internal to producer/. */
#ifndef VMSEAL_WORKFLOW_INT_H
#define VMSEAL_WORKFLOW_INT_H

#include <stddef.h>
#include <stdint.h>

#include "proto.h"
#include "store.h"
#include "workflow.h"

struct wf {
    struct store *st;
    struct wf_opts o;
    int64_t last_prune_ms;
};

/* Inside the caller's transaction.  Start the workflow of an accepted
 * template.create m: the template row (canon: its canonical body, the
 * duplicate check's reference), a disk row per disk with the target ids
 * chosen now, the copy jobs. */
int wf_template_start(struct wf *wf, const struct proto_template_create *m, char *canon, size_t canon_len,
                      int64_t now_ms);
/* Cancel a template: a CREATING one rolls back to CANCELLED (WF_ACCEPTED),
 * any other is left as it is (WF_DUPLICATE).  -VMS_E_NOT_FOUND when there is
 * no such template, or a store error. */
int wf_template_cancel(struct wf *wf, const char *template_id, enum wf_outcome *ret_outcome, int64_t now_ms);

#endif
