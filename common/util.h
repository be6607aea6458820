/* util.h - small shared helpers: memory (abort on OOM, see err.h), time,
 * UUIDs, and systemd-style cleanup attributes. */
#ifndef VMSEAL_UTIL_H
#define VMSEAL_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#define ARRAY_SIZE(a)   (sizeof(a) / sizeof((a)[0]))
#define VMS_UUID_STRLEN 36 /* without the NUL */

/* Allocation never returns NULL: on failure the process aborts. */
void *xmalloc(size_t n);
void *xcalloc(size_t count, size_t size);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Milliseconds: wall clock (for ts_ms on the wire) and monotonic (for timers). */
int64_t time_now_ms(void);
int64_t time_mono_ms(void);

/* True only for the canonical lowercase 8-4-4-4-12 hex form. */
bool uuid_is_canonical(const char *s);
/* Same, for a string of known length that is not NUL-terminated. */
bool uuid_is_canonical_n(const char *s, size_t len);
/* Write a new random canonical UUID into out (37 bytes). */
void uuid_new(char out[VMS_UUID_STRLEN + 1]);
extern const char uuid_nil[VMS_UUID_STRLEN + 1];

/* RFC 1123 host name: dot-separated labels of [A-Za-z0-9-]{1,63} that neither
 * start nor end with '-', at most 253 bytes in all (IPv4 literals pass). */
bool hostname_is_valid(const char *s);

/* s for a terminal or a log line: every control character (< 0x20, 0x7f, the
 * C1 controls U+0080..U+009F), every byte that is not part of valid UTF-8,
 * and the backslash as \xHH (one per byte); other text as it is, so a name
 * chosen by a guest or a tenant cannot forge a line or drive a terminal.  Into out (len >
 * 0 bytes, always NUL-terminated, cut before an escape that does not fit;
 * NULL s gives ""); returns out. */
char *str_escape(const char *s, char *out, size_t len);
/* Whether s is in the form str_escape() writes: nothing it would escape but
 * backslashes that start an escape "\xHH" (lowercase hex), so the original
 * bytes can be told from it without ambiguity. */
bool str_is_escaped(const char *s);

/* Cleanup helpers: `_cleanup_free_ char *p = NULL;` */
static inline void freep(void *p) { free(*(void **)p); }
static inline void closep(int *fd) {
    if (*fd >= 0)
        close(*fd);
}
static inline void fclosep(FILE **f) {
    if (*f)
        fclose(*f);
}
#define _cleanup_(f)     __attribute__((cleanup(f)))
#define _cleanup_free_   _cleanup_(freep)
#define _cleanup_close_  _cleanup_(closep)
#define _cleanup_fclose_ _cleanup_(fclosep)

/* Write all of buf to fd, retrying on EINTR and short writes: 0 or -errno. */
int write_all(int fd, const void *buf, size_t len);
/* Read a whole file (at most max_bytes) into a NUL-terminated buffer. */
int read_file_all(const char *path, size_t max_bytes, char **ret_buf, size_t *ret_len);

#endif
