/* executor.h - what runs inside a job's child process, and the pipe protocol
 * that carries its progress and outcome back to the worker's event loop.
 *
 * The runtime forks one child per job (own process group, see jobs.c); the
 * child calls executor_child_main(), which never returns.  The child talks to
 * the parent only through one pipe, in lines of text ('\n'-terminated, fields
 * separated by '\t', each line shorter than EXEC_LINE_MAX so a write is
 * atomic):
 *
 *     P <percent> <step>              progress (0..100)
 *     R <key> i|s|b <value>           one entry of the result map
 *     E <negative code> <message>     final: failed
 *     D                               final: succeeded
 *
 * A child that exits without a final line (crash, signal) failed; the parent
 * decides how (jobs.c).  Text fields have tabs and newlines replaced by
 * spaces.
 *
 * Executors (config worker.executor):
 *   real     volume.* through worker/volume.h, vm.seal through worker/seal.h
 *            (with an exclusive sd_image_lock() on every disk's image dir,
 *            held for the whole session: two seals never touch a disk at once;
 *            volume.c takes the same lock itself for volume.*);
 *   dry-run  volume.copy writes only the destination's metadata (and an empty
 *            sparse data file of the source's CAP); volume.update and
 *            volume.delete are the real metadata operations; vm.seal sleeps
 *            worker.dry_run_seal_ms, reporting progress.
 */
#ifndef VMSEAL_WORKER_EXECUTOR_H
#define VMSEAL_WORKER_EXECUTOR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "proto.h"
#include "sd.h"

#define EXEC_LINE_MAX 1024
#define EXEC_MAX_RESULTS 16
#define EXEC_MSG_LEN 512

/* The child's side: the pipe and what the executors need. */
struct exec_child {
    int fd;                      /* write end of the pipe */
    const struct config *cfg;
};

/* Run `job` in the calling (freshly forked) process and _exit().  Restores
 * default signal handling, keeps only stdio and the pipe open (the parent's
 * AMQP socket must not outlive the parent in a child), opens the storage
 * domains it needs itself.  As a backstop for an orphaned child (the worker
 * was killed), the whole process group kills itself `backstop_s` seconds
 * after the start (0 = never). */
_Noreturn void executor_child_main(const struct config *cfg, const struct proto_job *job,
                                   int pipe_fd, int backstop_s);

/* Frames written by the child.  Writing never fails loudly: a parent that is
 * gone cannot be told anything anyway. */
void exec_report_progress(struct exec_child *c, int percent, const char *step);
void exec_report_int(struct exec_child *c, const char *key, int64_t value);
void exec_report_str(struct exec_child *c, const char *key, const char *value);
void exec_report_bool(struct exec_child *c, const char *key, bool value);

/* The executors: 0 or a negative code with a message in msg. */
int exec_real_run(struct exec_child *c, const struct proto_job *job, char msg[EXEC_MSG_LEN]);
int exec_dry_run(struct exec_child *c, const struct proto_job *job, char msg[EXEC_MSG_LEN]);

/* The disks of a vm.seal job, opened and locked (executor_seal.c): each
 * domain opened, each volume's metadata read (a SHARED volume is refused
 * with -VMS_E_VOLUME_SHARED), every image dir locked exclusively in one
 * global order (sd id, image id) so two jobs never deadlock. */
struct exec_disks {
    size_t n;
    struct sd **sds;
    int *img_fds;                /* -1 for a dir already locked through another disk */
    char **paths;                /* data files */
    struct vol_meta *metas;
};
int exec_disks_open(struct exec_child *c, const struct proto_job *job, struct exec_disks *ret,
                    char msg[EXEC_MSG_LEN]);
void exec_disks_close(struct exec_disks *d);
int exec_seal_real(struct exec_child *c, const struct proto_job *job, char msg[EXEC_MSG_LEN]);

/* Helpers shared by both executors: open a configured domain by id (the
 * runtime has already checked it is configured); report a volume's metadata
 * as results (generation, legality, voltype, format, cap_bytes). */
int exec_sd_open(struct exec_child *c, const char *sd_id, struct sd **ret_sd, char msg[EXEC_MSG_LEN]);
void exec_report_meta(struct exec_child *c, const struct vol_meta *m);

/* ---- the parent's side --------------------------------------------------- */

/* What the child said so far. */
struct exec_outcome {
    bool final;                  /* a D or E line arrived */
    int err;                     /* 0 after D, the code after E */
    char msg[EXEC_MSG_LEN];      /* E's message */
    struct proto_kv results[EXEC_MAX_RESULTS];
    size_t n_results;
};

enum exec_line_kind { EXEC_LINE_IGNORED, EXEC_LINE_PROGRESS, EXEC_LINE_RESULT, EXEC_LINE_FINAL };

/* Parse one line (without its '\n'; modified in place).  Progress fills
 * *ret_percent and ret_step (step_len bytes); results and finals go into
 * out.  Malformed lines are EXEC_LINE_IGNORED. */
enum exec_line_kind exec_line_parse(char *line, struct exec_outcome *out, int *ret_percent,
                                    char *ret_step, size_t step_len);
/* Free the result strings (the struct may be reused). */
void exec_outcome_clear(struct exec_outcome *out);

#endif
