/* runner.h - reusable job processes ("runners") for light jobs.
 *
 * Forking one process per job costs the worker more CPU than a light job
 * itself (a metadata write): copying and tearing down the worker's page
 * tables dominates.  A runner is forked once from the worker, becomes its
 * own process-group leader and then runs jobs one at a time:
 *
 *   parent -> runner   command pipe: struct runner_cmd, then the job's
 *                      msgpack body (as delivered; the runner decodes it
 *                      with proto_decode_job());
 *   runner -> parent   result pipe: the executor's lines (executor.h),
 *                      ending with the job's final E or D line.
 *
 * Between jobs the runner blocks reading its command pipe, with its
 * backstop alarm disarmed; while a job runs the alarm is armed for the
 * backstop the command names.  At EOF on the command pipe (the worker is
 * gone) it exits.  The parent ends a runner's job at its final line and
 * hands the runner the next one.  Timeouts and cancels kill the runner's
 * whole process group, as for any job process; a killed or dead runner is
 * dropped from the pool and a later job gets a fresh one.  Which jobs run
 * in runners is jobs.c's decision.
 *
 * The pool is the parent's: at most `max` runners (worker.slots), each idle
 * or busy with one job.  Nothing here logs; errors are 0 / -errno.
 */
#ifndef VMSEAL_WORKER_RUNNER_H
#define VMSEAL_WORKER_RUNNER_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "config.h"

/* The header of a command.  Host byte order: both ends are one program. */
struct runner_cmd {
    uint32_t body_len;
    int32_t backstop_s; /* the job's backstop alarm (0 = none) */
};

/* A command is written in one atomic write of at most PIPE_BUF bytes (it
 * never blocks the worker, and a runner never sees half of one); a longer
 * job body is refused with -E2BIG (light jobs' bodies are well below it). */
#define RUNNER_BODY_MAX (PIPE_BUF - sizeof(struct runner_cmd))

struct runner {
    struct runner *next;
    pid_t pid;  /* also its process group id */
    int cmd_fd; /* write end of the command pipe (non-blocking) */
    int res_fd; /* read end of the result pipe (non-blocking) */
    bool busy;  /* a job was sent and its final line not yet read */
};

struct runner_pool {
    struct runner *list;
    size_t n;
    size_t max;
};

/* An idle runner of the pool, else a new one (fork) when the pool has fewer
 * than max; it is marked busy.  -EBUSY when every runner is busy and the
 * pool is full; -errno when pipe() or fork() fail. */
int runner_pool_acquire(struct runner_pool *p, const struct config *cfg, struct runner **ret);

/* Send one job body to an acquired runner.  0, -E2BIG (body too long: the
 * runner is untouched, release it), or -errno of the write (-EPIPE: the
 * runner is gone): the runner is then unusable, detach it. */
int runner_send(struct runner *r, const void *body, size_t len, int backstop_s);

/* One command (header and body) in one write() on fd: 0, -errno, or -EIO
 * when only part of it went (the reader then sees a broken command).  At
 * most PIPE_BUF bytes are atomic; the warm process (warm.c) takes more,
 * written into its empty pipe. */
int runner_cmd_write(int fd, const void *body, size_t len, int backstop_s);

/* Read exactly len bytes (blocking).  len, 0 at EOF before the first byte,
 * -1 on an error or EOF in the middle. */
ssize_t runner_read_exact(int fd, void *buf, size_t len);

/* The runner's job ended at its final line: it is idle again. */
void runner_pool_release(struct runner_pool *p, struct runner *r);

/* The runner whose process is pid, or NULL. */
struct runner *runner_pool_find(struct runner_pool *p, pid_t pid);

/* Remove r from the pool (it died, or was killed, or is unusable), close
 * its command pipe and free it.  Returns its result pipe's read end, which
 * the caller now owns (the job that ran on it reads what is left). */
int runner_pool_detach(struct runner_pool *p, struct runner *r);

/* Shutdown: kill every runner's process group, reap it, free the pool. */
void runner_pool_kill_all(struct runner_pool *p);

/* The runner process's loop (runner.c), entered right after fork() in the
 * child: never returns. */
_Noreturn void runner_main(const struct config *cfg, int result_fd, int command_fd);

#endif
