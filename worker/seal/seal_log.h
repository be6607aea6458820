/* seal_log.h - what a seal did, path by path, kept for the report
 * (`vmseal-worker seal --report FILE`).
 *
 * Feed it every progress event (seal_log_event); seal_log_write_json() then
 * writes one JSON document: the outcome ("result": "sealed", "dry-run" or
 * "failed"; "dry_run": true when the images were opened read-only, see
 * seal_opts.dry_run), the filesystems sealed and the
 * fstab lines not sealed, and per operation and filesystem (the mount point
 * that holds the path) the paths removed and changed, plus every path left
 * alone (skipped) with the reason.  Guest names are escaped by the JSON
 * writer (common/json.h).  The log owns copies of the strings it is given.
 */
#ifndef VMSEAL_SEAL_LOG_H
#define VMSEAL_SEAL_LOG_H

#include "seal.h"

struct seal_log;

struct seal_log *seal_log_new(void);
void seal_log_free(struct seal_log *l); /* accepts NULL */
void seal_log_event(struct seal_log *l, enum seal_event ev, const char *op, const char *detail);

/* The mount point (of rep->fs) whose filesystem holds the guest path: the
 * longest one that is path or a parent of it ("/" when none is).  The
 * report's per-filesystem lists and a vm.seal job's `files` both use it. */
const char *seal_report_mountpoint(const struct seal_report *rep, const char *path);

/* Write the report to path atomically (a temporary file renamed over it).
 * err is seal_run's result and err_msg its message (ignored when err is 0).
 * Returns 0 or -errno. */
int seal_log_write_json(const struct seal_log *l, const struct seal_report *rep, int err, const char *err_msg,
                        const char *path);

#endif
