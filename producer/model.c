/* model.c - names of the producer's states and steps (model.h). */
#include <string.h>

#include "err.h"
#include "model.h"
#include "util.h"

static const enum event_state tpl_event_states[] = {
    [TPL_CREATING] = EV_CREATING, [TPL_ROLLING_BACK] = EV_ROLLING_BACK, [TPL_READY] = EV_READY,
    [TPL_FAILED] = EV_FAILED,     [TPL_CANCELLED] = EV_CANCELLED,
};
static const char *const tpl_step_names[] = { "copy",  "mark_illegal", "seal", "mark_shared",
                                              "drain", "delete",       "done" };
static const char *const job_state_names[] = { "waiting", "queued",    "running", "succeeded",
                                               "failed",  "cancelled", "lost" };
static const char *const disk_state_names[] = { "copying", "present", "deleted", "leftover" };

#define NAME_OF(table, v) ((unsigned)(v) < ARRAY_SIZE(table) ? table[v] : "unknown")

enum event_state tpl_state_event(enum tpl_state s) {
    return (unsigned)s < ARRAY_SIZE(tpl_event_states) ? tpl_event_states[s] : EV_FAILED;
}

const char *tpl_state_to_string(enum tpl_state s) {
    return (unsigned)s < ARRAY_SIZE(tpl_event_states) ? event_state_to_string(tpl_event_states[s]) : "unknown";
}

const char *tpl_step_to_string(enum tpl_step s) { return NAME_OF(tpl_step_names, s); }
const char *job_state_to_string(enum job_state s) { return NAME_OF(job_state_names, s); }
const char *disk_state_to_string(enum disk_state s) { return NAME_OF(disk_state_names, s); }

int tpl_state_from_string(const char *s, enum tpl_state *ret) {
    for (size_t i = 0; s && i < ARRAY_SIZE(tpl_event_states); i++)
        if (strcmp(s, event_state_to_string(tpl_event_states[i])) == 0) {
            *ret = (enum tpl_state)i;
            return 0;
        }
    return -VMS_E_INVALID;
}

bool job_state_active(enum job_state s) { return s == JOB_WAITING || s == JOB_QUEUED || s == JOB_RUNNING; }
