/* executor.h - what runs inside a job process, and the pipe protocol that
 * carries its progress and outcome back to the worker's event loop.
 *
 * Job processes (jobs.c decides which kind a job gets, runner.h):
 *   fresh    forked for one job (real volume.copy and vm.seal): calls
 *            executor_child_main(), runs the job, exits;
 *   runner   forked once and reused for many light jobs (volume.update,
 *            volume.delete; every kind under the dry-run executor): reads
 *            one job at a time from a command pipe and runs it (runner.c).
 * Both are process-group leaders forked from the worker, with default
 * signal handling, only stdio and their pipes open (never the worker's
 * AMQP socket, exec_process_setup()), and a backstop alarm while a job
 * runs.  Killing a job (timeout, cancel) kills the whole group; a runner
 * killed so is never reused.
 *
 * The job process talks to the parent through its result pipe, in lines of
 * text ('\n'-terminated, fields separated by '\t', each line shorter than
 * EXEC_LINE_MAX; one write carries at most 2 * EXEC_LINE_MAX bytes; the job
 * process is the pipe's only writer and the parent reassembles lines across
 * reads):
 *
 *     P <percent> <step>              progress (0..100)
 *     R <key> i|s|b <value>           one entry of the result map
 *     F <op> removed|changed <mountpoint> <path>
 *                                     vm.seal: a guest path the operation
 *                                     removed or changed (escaped, below)
 *     E <negative code> <message>     final: failed
 *     D                               final: succeeded
 *
 * Every job ends with exactly one final line; the parent ends a runner's
 * job there (the runner then waits for the next one) and a fresh child's at
 * its exit.  A process that dies without a final line (crash, signal) failed;
 * the parent decides how (jobs.c).  Text fields have tabs and newlines
 * replaced by spaces; the guest names of F lines are in str_escape()'s form
 * (no tab or newline, nothing lost), "" for one longer than the wire carries
 * (PROTO_FILE_MOUNT_MAX, PROTO_FILE_PATH_MAX): the parent counts it without
 * listing it (proto_files_add).
 *
 * Executors (config worker.executor):
 *   real     volume.* through worker/sd/volume.h (executor_real.c), vm.seal
 *            through worker/seal/seal.h (executor_seal.c)
 *            (with an exclusive sd_image_lock() on every disk's image dir,
 *            held for the whole session: two seals never touch a disk at once;
 *            volume.c takes the same lock itself for volume.*);
 *   dry-run  (executor_dry.c) volume.copy writes only the destination's
 *            metadata (and an empty sparse data file of the source's CAP);
 *            volume.update and volume.delete are the real metadata
 *            operations; vm.seal sleeps worker.dry_run_seal_ms, reporting
 *            progress.
 * A runner runs many jobs in one process: an executor must release every fd,
 * lock and allocation it takes before it returns.
 */
#ifndef VMSEAL_WORKER_EXECUTOR_H
#define VMSEAL_WORKER_EXECUTOR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "err.h"
#include "proto.h"
#include "sd.h"

#define EXEC_LINE_MAX    8192 /* an F line: a mount point and a path, escaped */
#define EXEC_MAX_RESULTS 16

/* The job process's side: its result pipe and what the executors need. */
struct seal_warm;
struct exec_child {
    int fd;                 /* write end of the result pipe */
    struct seal_warm *warm; /* warm.c: the appliance started ahead of a vm.seal job, or NULL */
    const struct config *cfg;
    char out[EXEC_LINE_MAX * 2]; /* result lines not written yet */
    size_t out_len;
};

#define EXEC_FD_RESULT  3 /* a job process's result pipe (write end) */
#define EXEC_FD_COMMAND 4 /* a runner's command pipe (read end) */

/* Prepare the calling, freshly forked process to run jobs: default signal
 * handling (SIGPIPE ignored, nothing blocked), result_fd moved to
 * EXEC_FD_RESULT and command_fd (-1: none) to EXEC_FD_COMMAND, both
 * close-on-exec (qemu-img must not hold them), every other fd but stdio
 * closed: the parent's AMQP socket and other jobs' pipes must not live on
 * in a job process.  0 or -errno (the process should then _exit). */
int exec_process_setup(int result_fd, int command_fd);

/* The backstop against an orphaned job process (the worker was killed):
 * `seconds` after this call the whole process group kills itself; 0
 * disarms it. */
void exec_backstop_arm(int seconds);

/* Run `job` in the calling (freshly forked) process and _exit(): the
 * fresh-child model.  Sets the process up (exec_process_setup() with
 * pipe_fd), arms the backstop for backstop_s seconds (0 = never), runs the
 * job (exec_job_run()). */
_Noreturn void executor_child_main(const struct config *cfg, const struct proto_job *job, int pipe_fd,
                                   int backstop_s);

/* Run `job` with the configured executor (worker.executor) and end it with
 * its final line on c->fd.  Used by fresh children and runners alike. */
void exec_job_run(struct exec_child *c, const struct proto_job *job);

/* Lines written by the job process.  Writing never fails loudly: a parent
 * that is gone cannot be told anything anyway.  Result lines wait in c->out
 * and go with the next progress or the final line (one write, one wakeup of
 * the worker, where a metadata update used to take seven).
 * exec_report_final() writes the final line: D when err is 0, else E with
 * err and why (err_str(err) when why is empty). */
void exec_report_progress(struct exec_child *c, int percent, const char *step);
void exec_report_int(struct exec_child *c, const char *key, int64_t value);
void exec_report_str(struct exec_child *c, const char *key, const char *value);
void exec_report_bool(struct exec_child *c, const char *key, bool value);
/* A guest path the seal removed or changed, as the guest names it (escaped
 * here), with the mount point of its filesystem. */
void exec_report_file(struct exec_child *c, const char *op, enum proto_file_action action, const char *mountpoint,
                      const char *path);
void exec_report_final(struct exec_child *c, int err, const char *why);

/* The executors: 0 or a negative code with a message in why. */
int exec_real_run(struct exec_child *c, const struct proto_job *job, char why[ERR_WHY_LEN]);
int exec_dry_run(struct exec_child *c, const struct proto_job *job, char why[ERR_WHY_LEN]);

/* The disks of a vm.seal job, opened and locked (executor_seal.c): each
 * domain opened, each volume's metadata read (a SHARED volume is refused
 * with -VMS_E_VOLUME_SHARED), every image dir locked exclusively in one
 * global order (sd id, image id) so two jobs never deadlock. */
struct exec_disks {
    size_t n;
    struct sd **sds;
    int *img_fds; /* -1 for a dir already locked through another disk */
    char **paths; /* data files */
    struct vol_meta *metas;
};
int exec_disks_open(struct exec_child *c, const struct proto_job *job, struct exec_disks *ret,
                    char why[ERR_WHY_LEN]);
void exec_disks_close(struct exec_disks *d);
int exec_seal_real(struct exec_child *c, const struct proto_job *job, char why[ERR_WHY_LEN]);

/* Helpers shared by both executors: open a configured domain by id (the
 * runtime has already checked it is configured); report a volume's metadata
 * as results (generation, legality, voltype, format, cap_bytes). */
int exec_sd_open(struct exec_child *c, const char *sd_id, struct sd **ret_sd, char why[ERR_WHY_LEN]);
void exec_report_meta(struct exec_child *c, const struct vol_meta *m);

/* ---- the parent's side --------------------------------------------------- */

/* What the job process said so far about the current job. */
struct exec_outcome {
    bool final;            /* a D or E line arrived */
    int err;               /* 0 after D, the code after E */
    char why[ERR_WHY_LEN]; /* E's message */
    struct proto_kv results[EXEC_MAX_RESULTS];
    size_t n_results;
    struct proto_files files; /* the F lines, within the wire's bounds */
};

enum exec_line_kind { EXEC_LINE_IGNORED, EXEC_LINE_PROGRESS, EXEC_LINE_RESULT, EXEC_LINE_FINAL };

/* Parse one line (without its '\n'; modified in place).  Progress fills
 * *ret_percent and ret_step (step_len bytes); results (R and F lines) and
 * finals go into out.  Malformed lines are EXEC_LINE_IGNORED. */
enum exec_line_kind exec_line_parse(char *line, struct exec_outcome *out, int *ret_percent, char *ret_step,
                                    size_t step_len);
/* Free the results and files (the struct may be reused). */
void exec_outcome_clear(struct exec_outcome *out);

#endif
