/* model.h - the producer's vocabulary: template states, workflow steps, job
 * and disk states, and their names.  The store persists these values, the
 * workflow moves between them (every transition is in workflow.c), the
 * outbox and the RPC server spell them.
 *
 * Numeric values are stored in SQLite: append only.
 */
#ifndef VMSEAL_MODEL_H
#define VMSEAL_MODEL_H

#include <stdbool.h>

#include "proto.h"

enum tpl_state { TPL_CREATING, TPL_ROLLING_BACK, TPL_READY, TPL_FAILED, TPL_CANCELLED };
enum tpl_step {
    STEP_COPY,
    STEP_MARK_ILLEGAL,
    STEP_SEAL,
    STEP_MARK_SHARED, /* forward */
    STEP_DRAIN,       /* rollback: waiting for in-flight jobs to end */
    STEP_DELETE,      /* rollback: deleting volumes (and marking leftovers ILLEGAL) */
    STEP_DONE,        /* terminal */
};
enum job_state {
    JOB_WAITING, /* attempt scheduled, not yet published (backoff) */
    JOB_QUEUED,  /* published (outbox), no event yet */
    JOB_RUNNING, /* a worker reported running/progress */
    JOB_SUCCEEDED,
    JOB_FAILED,
    JOB_CANCELLED,
    JOB_LOST, /* deadline passed without a word from any worker */
};
/* What is known of a disk's target volume. */
enum disk_state {
    DISK_COPYING,  /* uuid chosen, copy job issued: the volume may exist */
    DISK_PRESENT,  /* copy succeeded */
    DISK_DELETED,  /* rolled back */
    DISK_LEFTOVER, /* delete failed for good: left (ILLEGAL if we could) */
};

/* The template state's wire spelling: the state of its template.<state>
 * event (proto/enums.c holds the names). */
enum event_state tpl_state_event(enum tpl_state s);

const char *tpl_state_to_string(enum tpl_state s); /* "creating", "ready", ... */
/* 0, or -VMS_E_INVALID for a name that is no template state. */
int tpl_state_from_string(const char *s, enum tpl_state *ret);
const char *tpl_step_to_string(enum tpl_step s);   /* "copy", "mark_illegal", ... */
const char *job_state_to_string(enum job_state s); /* "waiting", "queued", ... */
const char *disk_state_to_string(enum disk_state s);
bool job_state_active(enum job_state s); /* waiting, queued or running */

#endif
