#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <uuid/uuid.h>

const char uuid_nil[VMS_UUID_STRLEN + 1] = "00000000-0000-0000-0000-000000000000";

static void *oom_check(void *p) {
    if (!p) {
        static const char msg[] = "<2>vmseal: out of memory, aborting\n";
        (void)!write(STDERR_FILENO, msg, sizeof msg - 1);
        abort();
    }
    return p;
}

void *xmalloc(size_t n) { return oom_check(malloc(n ? n : 1)); }
void *xcalloc(size_t count, size_t size) { return oom_check(calloc(count ? count : 1, size ? size : 1)); }
void *xrealloc(void *p, size_t n) { return oom_check(realloc(p, n ? n : 1)); }
char *xstrdup(const char *s) { return oom_check(strdup(s)); }
char *xstrndup(const char *s, size_t n) { return oom_check(strndup(s, n)); }

char *xasprintf(const char *fmt, ...) {
    va_list ap;
    char *s = NULL;
    va_start(ap, fmt);
    int n = vasprintf(&s, fmt, ap);
    va_end(ap);
    return oom_check(n < 0 ? NULL : s);
}

static int64_t clock_ms(clockid_t id) {
    struct timespec ts;
    clock_gettime(id, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t time_now_ms(void) { return clock_ms(CLOCK_REALTIME); }
int64_t time_mono_ms(void) { return clock_ms(CLOCK_MONOTONIC); }

bool uuid_is_canonical_n(const char *s, size_t len) {
    if (!s || len != VMS_UUID_STRLEN)
        return false;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (i == 8 || i == 13 || i == 18 || i == 23) {
            if (c != '-')
                return false;
        } else if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) {
            return false;
        }
    }
    return true;
}

bool uuid_is_canonical(const char *s) { return s && uuid_is_canonical_n(s, strlen(s)); }

void uuid_new(char out[VMS_UUID_STRLEN + 1]) {
    uuid_t u;
    uuid_generate_random(u);
    uuid_unparse_lower(u, out);
}

int write_all(int fd, const void *buf, size_t len) {
    const char *p = buf;
    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

int read_file_all(const char *path, size_t max_bytes, char **ret_buf, size_t *ret_len) {
    _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    size_t cap = 4096, len = 0;
    char *buf = xmalloc(cap);
    for (;;) {
        if (len + 1 >= cap) {
            if (cap > max_bytes) {
                free(buf);
                return -EFBIG;
            }
            cap *= 2;
            buf = xrealloc(buf, cap);
        }
        ssize_t n = read(fd, buf + len, cap - len - 1);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            int r = -errno;
            free(buf);
            return r;
        }
        if (n == 0)
            break;
        len += (size_t)n;
        if (len > max_bytes) {
            free(buf);
            return -EFBIG;
        }
    }
    buf[len] = '\0';
    *ret_buf = buf;
    if (ret_len)
        *ret_len = len;
    return 0;
}

bool hostname_is_valid(const char *s) {
    size_t n = s ? strlen(s) : 0, label = 0;
    if (n == 0 || n > 253)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (c == '.') {
            if (label == 0 || s[i - 1] == '-')
                return false;
            label = 0;
            continue;
        }
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-';
        if (!ok || (c == '-' && label == 0) || ++label > 63)
            return false;
    }
    return label > 0 && s[n - 1] != '-';
}

/* Length of the valid UTF-8 sequence at p (no overlong form, surrogate or
 * code point past U+10FFFF), 0 when there is none.  p is NUL-terminated. */
static size_t utf8_len(const unsigned char *p) {
    unsigned char c = p[0];
    size_t n = c >= 0xc2 && c <= 0xdf ? 2 : c >= 0xe0 && c <= 0xef ? 3 : c >= 0xf0 && c <= 0xf4 ? 4 : 0;
    unsigned char lo = c == 0xe0 ? 0xa0 : c == 0xf0 ? 0x90 : 0x80;
    unsigned char hi = c == 0xed ? 0x9f : c == 0xf4 ? 0x8f : 0xbf;
    if (n == 0 || p[1] < lo || p[1] > hi)
        return 0;
    for (size_t i = 2; i < n; i++)
        if ((p[i] & 0xc0) != 0x80)
            return 0;
    return n;
}

/* Length of the character at p that str_escape() keeps as it is, 0 for a
 * byte it escapes.  Plain ASCII and valid UTF-8 pass, but for the C1
 * controls (U+0080..U+009F, "\xc2\x80".."\xc2\x9f"): a terminal obeys those
 * too. */
static size_t plain_len(const unsigned char *p) {
    size_t n = *p < 0x80 ? (*p >= 0x20 && *p != 0x7f && *p != '\\') : utf8_len(p);
    return n == 2 && p[0] == 0xc2 && p[1] < 0xa0 ? 0 : n;
}

char *str_escape(const char *s, char *out, size_t len) {
    size_t off = 0;
    for (const unsigned char *p = (const unsigned char *)(s ? s : ""); *p;) {
        size_t n = plain_len(p);
        if (off + (n ? n : 4) >= len)
            break;
        if (n) {
            memcpy(out + off, p, n);
            off += n;
            p += n;
        } else {
            off += (size_t)snprintf(out + off, len - off, "\\x%02x", *p++);
        }
    }
    out[off] = '\0';
    return out;
}

static bool hex_lower(unsigned char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); }

bool str_is_escaped(const char *s) {
    for (const unsigned char *p = (const unsigned char *)s; *p;) {
        size_t n = plain_len(p);
        if (n == 0 && p[0] == '\\' && p[1] == 'x' && hex_lower(p[2]) && hex_lower(p[3]))
            n = 4;
        if (n == 0)
            return false;
        p += n;
    }
    return true;
}
