/* config.c - the libconfig adapter: load, check strictly, fill struct config.
 *
 * libconfig's lookups return CONFIG_FALSE for a missing *and* a mistyped
 * value, so nothing here uses config_lookup_*: every setting is fetched with
 * config_setting_get_member() and its type checked with
 * config_setting_type(), so that "missing" and "wrong type" get their own
 * messages.  libconfig 1.5 also wraps integer literals >= 2^31 silently
 * (3000000000 reads as -1294967296) unless they carry an L suffix: integer
 * values are range-checked against the literal re-read from the source line.
 *
 * Every message is "<file>:<line>: <key path>: <reason>".  Only the first
 * error is reported; warnings accumulate (separated by "; ").
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <libconfig.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "err.h"
#include "log.h"
#include "util.h"

#define PASSWORD_MAX 4096

struct loader {
    const char *path;
    config_t cfg;
    char *why, *warn;
    struct config *c;
    char *src_name, *src_text; /* cached source file for integer literals */
};

/* ---- messages ------------------------------------------------------------ */

static void setting_path(const config_setting_t *s, char *out, size_t n) {
    if (!s || config_setting_is_root(s)) {
        out[0] = '\0';
        return;
    }
    setting_path(config_setting_parent(s), out, n);
    size_t len = strlen(out);
    const char *name = config_setting_name(s);
    if (name)
        snprintf(out + len, n - len, "%s%s", len ? "." : "", name);
    else
        snprintf(out + len, n - len, "[%d]", config_setting_index(s));
}

static const char *setting_file(const struct loader *l, const config_setting_t *s) {
    const char *f = s ? config_setting_source_file(s) : NULL;
    return f ? f : l->path;
}

/* "<file>:<line>: <path>[.<key>]: <reason>" into out. */
static void vformat(const struct loader *l, char *out, const config_setting_t *s, const char *key, const char *fmt,
                    va_list ap) {
    char path[256];
    setting_path(s, path, sizeof(path));
    if (key) {
        size_t len = strlen(path);
        snprintf(path + len, sizeof(path) - len, "%s%s", len ? "." : "", key);
    }
    unsigned line = s ? config_setting_source_line(s) : 0;
    char at[16] = "";
    if (line > 0) /* the root (a missing group) has no line */
        snprintf(at, sizeof(at), ":%u", line);
    int n = snprintf(out, ERR_WHY_LEN, "%s%s: %s: ", setting_file(l, s), at, path[0] ? path : "(top level)");
    if (n > 0 && n < ERR_WHY_LEN)
        vsnprintf(out + n, ERR_WHY_LEN - (size_t)n, fmt, ap);
}

/* Record the first error (about setting s, or its missing child `key`). */
static int fail(struct loader *l, const config_setting_t *s, const char *key, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int fail(struct loader *l, const config_setting_t *s, const char *key, const char *fmt, ...) {
    if (l->why[0] == '\0') {
        va_list ap;
        va_start(ap, fmt);
        vformat(l, l->why, s, key, fmt, ap);
        va_end(ap);
    }
    return -VMS_E_CONFIG;
}

static void warn(struct loader *l, const config_setting_t *s, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void warn(struct loader *l, const config_setting_t *s, const char *fmt, ...) {
    char one[ERR_WHY_LEN];
    va_list ap;
    va_start(ap, fmt);
    vformat(l, one, s, NULL, fmt, ap);
    va_end(ap);
    if (!l->warn)
        return;
    size_t len = strlen(l->warn);
    snprintf(l->warn + len, ERR_WHY_LEN - len, "%s%s", len ? "; " : "", one);
}

static const char *type_name(int type) {
    switch (type) {
    case CONFIG_TYPE_GROUP: return "a group";
    case CONFIG_TYPE_INT:
    case CONFIG_TYPE_INT64: return "an integer";
    case CONFIG_TYPE_FLOAT: return "a float";
    case CONFIG_TYPE_STRING: return "a string";
    case CONFIG_TYPE_BOOL: return "a boolean";
    case CONFIG_TYPE_ARRAY: return "an array";
    case CONFIG_TYPE_LIST: return "a list";
    }
    return "nothing";
}

static int fail_type(struct loader *l, const config_setting_t *s, const char *want) {
    int t = config_setting_type(s);
    return fail(l, s, NULL, "expected %s, got %s%s", want, type_name(t),
                t == CONFIG_TYPE_STRING && strstr(want, "integer") ? " (remove the quotes from a number)" : "");
}

/* ---- unknown keys ------------------------------------------------------------ */

static bool name_in(const char *name, const char *const *known) {
    for (; *known; known++)
        if (strcmp(name, *known) == 0)
            return true;
    return false;
}

/* Every member of group g must be one of known (NULL-terminated). */
static int check_known(struct loader *l, const config_setting_t *g, const char *const *known) {
    for (int i = 0; i < config_setting_length(g); i++) {
        config_setting_t *s = config_setting_get_elem(g, (unsigned)i);
        if (!name_in(config_setting_name(s), known))
            return fail(l, s, NULL, "unknown key");
    }
    return 0;
}

/* ---- typed getters: 0 when absent (output untouched), 1 when read, <0 error */

static config_setting_t *member(const config_setting_t *g, const char *key) {
    return g ? config_setting_get_member(g, key) : NULL;
}

static int get_missing(struct loader *l, const config_setting_t *g, const char *key, bool required) {
    return required ? fail(l, g, key, "missing (required)") : 0;
}

static int get_str(struct loader *l, const config_setting_t *g, const char *key, bool required, size_t max_len,
                   char **ret) {
    config_setting_t *s = member(g, key);
    if (!s)
        return get_missing(l, g, key, required);
    if (config_setting_type(s) != CONFIG_TYPE_STRING)
        return fail_type(l, s, "a string");
    const char *v = config_setting_get_string(s);
    if (!v || !*v)
        return fail(l, s, NULL, "must not be empty");
    if (strlen(v) > max_len)
        return fail(l, s, NULL, "longer than %zu bytes", max_len);
    for (const char *p = v; *p; p++)
        if ((unsigned char)*p < 0x20)
            return fail(l, s, NULL, "contains a control character");
    free(*ret);
    *ret = xstrdup(v);
    return 1;
}

static int get_path(struct loader *l, const config_setting_t *g, const char *key, bool required, char **ret) {
    int r = get_str(l, g, key, required, PATH_MAX, ret);
    if (r <= 0)
        return r;
    if ((*ret)[0] != '/')
        return fail(l, member(g, key), NULL, "\"%s\" is not an absolute path", *ret);
    return 1;
}

static const char *source_text(struct loader *l, const char *file) {
    if (l->src_name && strcmp(l->src_name, file) == 0)
        return l->src_text;
    free(l->src_name);
    free(l->src_text);
    l->src_name = xstrdup(file);
    l->src_text = NULL;
    size_t len;
    if (read_file_all(file, 16 << 20, &l->src_text, &len) < 0)
        l->src_text = NULL;
    return l->src_text;
}

/* The integer literal of scalar setting s as written in its source line
 * (libconfig wraps >= 2^31 without an L suffix).  False if not found. */
static bool literal_int(struct loader *l, const config_setting_t *s, long long *ret) {
    const char *name = config_setting_name(s), *text = source_text(l, setting_file(l, s));
    unsigned line = config_setting_source_line(s);
    if (!name || !text || line == 0)
        return false;
    for (unsigned n = 1; n < line && text; n++) {
        text = strchr(text, '\n');
        if (text)
            text++;
    }
    if (!text)
        return false;
    const char *eol = strchrnul(text, '\n');
    size_t nl = strlen(name);
    for (const char *p = text; p < eol; p++) {
        if (strncmp(p, name, nl) != 0 || (p > text && (isalnum((unsigned char)p[-1]) || p[-1] == '_')))
            continue;
        const char *q = p + nl;
        q += strspn(q, " \t");
        if (*q != '=' && *q != ':')
            continue;
        q++;
        q += strspn(q, " \t\r\n"); /* the value may sit on a later line */
        errno = 0;
        char *end;
        bool neg = *q == '-';
        const char *digits = q + (*q == '-' || *q == '+');
        unsigned long long u =
            strtoull(digits, &end, (digits[0] == '0' && (digits[1] == 'x' || digits[1] == 'X')) ? 16 : 10);
        if (end == digits)
            return false;
        if (errno == ERANGE || u > (unsigned long long)LLONG_MAX)
            *ret = neg ? LLONG_MIN : LLONG_MAX;
        else
            *ret = neg ? -(long long)u : (long long)u;
        return true;
    }
    return false;
}

static int get_int(struct loader *l, const config_setting_t *g, const char *key, bool required, long long min,
                   long long max, int *ret) {
    config_setting_t *s = member(g, key);
    if (!s)
        return get_missing(l, g, key, required);
    int t = config_setting_type(s);
    if (t != CONFIG_TYPE_INT && t != CONFIG_TYPE_INT64)
        return fail_type(l, s, "an integer");
    long long v = config_setting_get_int64(s), lit;
    if (t == CONFIG_TYPE_INT && literal_int(l, s, &lit))
        v = lit; /* the value as written, before libconfig's 32-bit wrap */
    if (v < min || v > max)
        return fail(l, s, NULL, "%lld is out of range (%lld..%lld)", v, min, max);
    *ret = (int)v;
    return 1;
}

static int get_bool(struct loader *l, const config_setting_t *g, const char *key, bool *ret) {
    config_setting_t *s = member(g, key);
    if (!s)
        return 0;
    if (config_setting_type(s) != CONFIG_TYPE_BOOL)
        return fail_type(l, s, "a boolean (true or false)");
    *ret = config_setting_get_bool(s);
    return 1;
}

/* A group member that must itself be a group; NULL (and *r = 0) if absent. */
static config_setting_t *get_group(struct loader *l, const config_setting_t *g, const char *key, int *r) {
    config_setting_t *s = member(g, key);
    *r = 0;
    if (s && config_setting_type(s) != CONFIG_TYPE_GROUP) {
        *r = fail_type(l, s, "a group { ... }");
        return NULL;
    }
    return s;
}

/* An array or list of strings, at most max_n; owned copies in *ret. */
static int get_str_list(struct loader *l, const config_setting_t *g, const char *key, size_t max_n, char **ret,
                        size_t *ret_n) {
    config_setting_t *s = member(g, key);
    if (!s)
        return 0;
    int t = config_setting_type(s);
    if (t != CONFIG_TYPE_ARRAY && t != CONFIG_TYPE_LIST)
        return fail_type(l, s, "an array of strings [ \"...\" ]");
    size_t n = (size_t)config_setting_length(s);
    if (n > max_n)
        return fail(l, s, NULL, "%zu entries, at most %zu allowed", n, max_n);
    for (size_t i = 0; i < n; i++) {
        config_setting_t *e = config_setting_get_elem(s, (unsigned)i);
        if (config_setting_type(e) != CONFIG_TYPE_STRING)
            return fail_type(l, e, "a string");
        const char *v = config_setting_get_string(e);
        if (!*v)
            return fail(l, e, NULL, "must not be empty");
        ret[i] = xstrdup(v);
        (*ret_n)++;
    }
    return 1;
}

/* ---- file permissions ------------------------------------------------------ */

/* Refuse a secret readable by others, warn when readable by the group. */
static int check_secret_mode(struct loader *l, const config_setting_t *s, const char *file, const char *what) {
    struct stat st;
    if (stat(file, &st) < 0)
        return fail(l, s, NULL, "cannot stat %s: %s", file, strerror(errno));
    unsigned mode = st.st_mode & 07777;
    if (mode & S_IROTH)
        return fail(l, s, NULL, "%s %s is readable by others (mode %04o): refused; chmod o-rwx %s", what, file,
                    mode, file);
    if (mode & S_IRGRP)
        warn(l, s, "%s %s is readable by its group (mode %04o)", what, file, mode);
    return 0;
}

/* ---- broker -------------------------------------------------------------------- */

/* "host", "host:port", "[v6]" or "[v6]:port" -> "host:port" in *ret. */
static int parse_host(struct loader *l, const config_setting_t *e, const char *v, int default_port, char **ret) {
    char host[256];
    const char *port = NULL;
    if (v[0] == '[') {
        const char *close = strchr(v, ']');
        size_t n = close ? (size_t)(close - v - 1) : 0;
        if (!close || n == 0 || n + 2 >= sizeof(host) || strspn(v + 1, "0123456789abcdefABCDEF:.") != n)
            return fail(l, e, NULL, "\"%s\": bad IPv6 address (write \"[::1]:5672\")", v);
        if (close[1] && close[1] != ':')
            return fail(l, e, NULL, "\"%s\": expected ':' after ']'", v);
        memcpy(host, v, n + 2);
        host[n + 2] = '\0';
        port = close[1] ? close + 2 : NULL;
    } else {
        const char *colon = strchr(v, ':');
        size_t n = colon ? (size_t)(colon - v) : strlen(v);
        if (n >= sizeof(host))
            return fail(l, e, NULL, "host name too long");
        memcpy(host, v, n);
        host[n] = '\0';
        if (!hostname_is_valid(host))
            return fail(l, e, NULL, "\"%s\": not a valid host name or IPv4 address (expected \"host:port\")", v);
        port = colon ? colon + 1 : NULL;
    }
    long p = default_port;
    if (port) {
        char *end;
        errno = 0;
        p = strtol(port, &end, 10);
        if (!*port || *end || errno || p < 1 || p > 65535 || !strchr("0123456789", port[0]))
            return fail(l, e, NULL, "\"%s\": port must be a number 1..65535", v);
    }
    *ret = xasprintf("%s:%ld", host, p);
    return 0;
}

static int load_hosts(struct loader *l, const config_setting_t *g, struct config_broker *b) {
    config_setting_t *s = member(g, "hosts");
    if (!s)
        return fail(l, g, "hosts", "missing (required), e.g. hosts = [ \"127.0.0.1:5672\" ];");
    int t = config_setting_type(s);
    if (t != CONFIG_TYPE_ARRAY && t != CONFIG_TYPE_LIST)
        return fail_type(l, s, "an array of \"host:port\" strings");
    int n = config_setting_length(s);
    if (n < 1 || n > CONFIG_MAX_HOSTS)
        return fail(l, s, NULL, "%d entries, must be 1..%d", n, CONFIG_MAX_HOSTS);
    for (int i = 0; i < n; i++) {
        config_setting_t *e = config_setting_get_elem(s, (unsigned)i);
        if (config_setting_type(e) != CONFIG_TYPE_STRING)
            return fail_type(l, e, "a \"host:port\" string");
        int r = parse_host(l, e, config_setting_get_string(e), b->tls ? 5671 : 5672, &b->hosts[b->n_hosts]);
        if (r < 0)
            return r;
        b->n_hosts++;
    }
    return 0;
}

static int load_tls(struct loader *l, const config_setting_t *g, struct config_broker *b) {
    static const char *const known[] = { "ca", "cert", "key", "verify_peer", NULL };
    int r;
    config_setting_t *t = get_group(l, g, "tls", &r);
    if (!t)
        return r;
    b->tls = true;
    if ((r = check_known(l, t, known)) < 0 || (r = get_path(l, t, "ca", false, &b->tls_ca)) < 0 ||
        (r = get_path(l, t, "cert", false, &b->tls_cert)) < 0 ||
        (r = get_path(l, t, "key", false, &b->tls_key)) < 0 ||
        (r = get_bool(l, t, "verify_peer", &b->tls_verify_peer)) < 0)
        return r;
    if (!b->tls_cert != !b->tls_key)
        return fail(l, t, b->tls_cert ? "key" : "cert", "missing: cert and key go together");
    return 0;
}

/* A password file of the group's key: checked like a secret, one line. */
static int load_password_file(struct loader *l, const config_setting_t *g, const char *key, char **ret) {
    config_setting_t *file = member(g, key);
    _cleanup_free_ char *path = NULL, *buf = NULL;
    size_t len;
    int r = get_path(l, g, key, true, &path);
    if (r < 0)
        return r;
    if ((r = check_secret_mode(l, file, path, "password file")) < 0)
        return r;
    if ((r = read_file_all(path, PASSWORD_MAX, &buf, &len)) < 0)
        return fail(l, file, NULL, "cannot read %s: %s", path, strerror(-r));
    while (len > 0 && (buf[len - 1] == '\n' || buf[len - 1] == '\r'))
        buf[--len] = '\0';
    if (len == 0 || strlen(buf) != len || strchr(buf, '\n'))
        return fail(l, file, NULL, "%s must hold the password on one line", path);
    *ret = xstrdup(buf);
    explicit_bzero(buf, len);
    return 0;
}

static int load_password(struct loader *l, const config_setting_t *g, struct config_broker *b) {
    config_setting_t *inl = member(g, "password"), *file = member(g, "password_file");
    if (inl && file)
        return fail(l, file, NULL, "give either password or password_file, not both");
    if (!inl && !file && b->tls_cert)
        return 0; /* no password: log in by the client certificate (EXTERNAL) */
    if (!inl && !file)
        return fail(l, g, "password_file", "missing: give password_file (or password, or a tls cert and key)");
    if (inl) {
        int r = get_str(l, g, "password", true, PASSWORD_MAX, &b->password);
        if (r < 0)
            return r;
        return check_secret_mode(l, inl, setting_file(l, inl), "the config file with an inline password");
    }
    return load_password_file(l, g, "password_file", &b->password);
}

static int load_broker(struct loader *l, const config_setting_t *g) {
    static const char *const known[] = { "hosts",       "vhost", "user",          "password", "password_file",
                                         "heartbeat_s", "tls",   "producer_user", NULL };
    struct config_broker *b = &l->c->broker;
    int r;
    if (!g)
        return 0;
    if ((r = check_known(l, g, known)) < 0 || (r = load_tls(l, g, b)) < 0 || (r = load_hosts(l, g, b)) < 0 ||
        (r = get_str(l, g, "vhost", false, 255, &b->vhost)) < 0 ||
        (r = get_str(l, g, "user", true, 255, &b->user)) < 0 ||
        (r = get_str(l, g, "producer_user", false, 255, &b->producer_user)) < 0 ||
        (r = load_password(l, g, b)) < 0 ||
        (r = get_int(l, g, "heartbeat_s", false, 0, 3600, &b->heartbeat_s)) < 0)
        return r;
    if (b->tls_key)
        return check_secret_mode(l, member(member(g, "tls"), "key"), b->tls_key, "TLS private key");
    return 0;
}

/* ---- worker -------------------------------------------------------------------- */

static int check_charset(struct loader *l, const config_setting_t *g, const char *key, const char *value,
                         const char *charset, const char *what) {
    if (value && strspn(value, charset) != strlen(value))
        return fail(l, member(g, key), NULL, "\"%s\": %s", value, what);
    return 0;
}

/* The timeouts_s group of the worker or the producer: copy, update, delete,
 * seal into ret[0..3]. */
static int load_timeouts(struct loader *l, const config_setting_t *w, int *const ret[4]) {
    static const char *const known[] = { "copy", "update", "delete", "seal", NULL };
    int r;
    config_setting_t *t = get_group(l, w, "timeouts_s", &r);
    if (!t)
        return r;
    if ((r = check_known(l, t, known)) < 0)
        return r;
    for (size_t i = 0; i < 4; i++)
        if ((r = get_int(l, t, known[i], false, 1, 86400, ret[i])) < 0)
            return r;
    return 0;
}

static int load_guestfs(struct loader *l, const config_setting_t *w, struct config_worker *c) {
    static const char *const known[] = { "backend", "backend_settings", "memsize_mb", "warm", NULL };
    int r;
    config_setting_t *g = get_group(l, w, "guestfs", &r);
    if (!g)
        return r;
    if ((r = check_known(l, g, known)) < 0 ||
        (r = get_str(l, g, "backend", false, 255, &c->guestfs_backend)) < 0 ||
        (r = get_int(l, g, "memsize_mb", false, 0, 65536, &c->guestfs_memsize_mb)) < 0 ||
        (r = get_bool(l, g, "warm", &c->guestfs_warm)) < 0)
        return r;
    if (c->guestfs_memsize_mb != 0 && c->guestfs_memsize_mb < 256)
        return fail(l, member(g, "memsize_mb"), NULL, "%d is out of range (0 for the default, or 256..65536)",
                    c->guestfs_memsize_mb);
    c->guestfs_backend_settings = xcalloc(32, sizeof(char *));
    return get_str_list(l, g, "backend_settings", 32, c->guestfs_backend_settings, &c->n_guestfs_backend_settings);
}

static int load_worker(struct loader *l, const config_setting_t *g) {
    static const char *const known[] = { "id",         "pool",    "slots",          "executor", "dry_run_seal_ms",
                                         "timeouts_s", "guestfs", "metrics_listen", NULL };
    static const char id_chars[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._:@-";
    struct config_worker *c = &l->c->worker;
    _cleanup_free_ char *executor = NULL;
    int r;
    if (!g)
        return 0;
    if ((r = check_known(l, g, known)) < 0 || (r = get_str(l, g, "id", false, 255, &c->id)) < 0 ||
        (r = check_charset(l, g, "id", c->id, id_chars, "letters, digits and . _ : @ - only")) < 0 ||
        (r = get_str(l, g, "pool", false, 64, &c->pool)) < 0 ||
        (r = check_charset(l, g, "pool", c->pool, "abcdefghijklmnopqrstuvwxyz0123456789_-",
                           "must match [a-z0-9_-]{1,64}")) < 0 ||
        (r = get_int(l, g, "slots", false, 1, 64, &c->slots)) < 0 ||
        (r = get_str(l, g, "executor", false, 16, &executor)) < 0 ||
        (r = get_int(l, g, "dry_run_seal_ms", false, 0, 3600000, &c->dry_run_seal_ms)) < 0 ||
        (r = load_timeouts(l, g,
                           (int *const[4]){ &c->timeout_copy_s, &c->timeout_update_s, &c->timeout_delete_s,
                                            &c->timeout_seal_s })) < 0 ||
        (r = load_guestfs(l, g, c)) < 0 ||
        (r = get_str(l, g, "metrics_listen", false, 64, &c->metrics_listen)) < 0)
        return r;
    if (executor && strcmp(executor, "real") != 0 && strcmp(executor, "dry-run") != 0)
        return fail(l, member(g, "executor"), NULL, "\"%s\": must be \"real\" or \"dry-run\"", executor);
    c->dry_run = executor && strcmp(executor, "dry-run") == 0;
    return 0;
}

/* ---- storage ------------------------------------------------------------------- */

static int load_domain(struct loader *l, const config_setting_t *d, struct config_domain *ret) {
    static const char *const known[] = { "id", "path", NULL };
    _cleanup_free_ char *id = NULL;
    int r;
    if (config_setting_type(d) != CONFIG_TYPE_GROUP)
        return fail_type(l, d, "a group { id = \"...\"; path = \"...\"; }");
    if ((r = check_known(l, d, known)) < 0 || (r = get_str(l, d, "id", true, 64, &id)) < 0 ||
        (r = get_path(l, d, "path", true, &ret->path)) < 0)
        return r;
    if (!uuid_is_canonical(id))
        return fail(l, member(d, "id"), NULL, "\"%s\" is not a canonical lowercase UUID", id);
    strcpy(ret->id, id);
    char *p = ret->path;
    size_t n = strlen(p);
    while (n > 1 && p[n - 1] == '/')
        p[--n] = '\0';
    if (strstr(p, "/../") || strstr(p, "/./") || strstr(p, "//") || (n >= 3 && strcmp(p + n - 3, "/..") == 0) ||
        (n >= 2 && strcmp(p + n - 2, "/.") == 0))
        return fail(l, member(d, "path"), NULL, "\"%s\" must be a plain absolute path (no . or .. parts)", p);
    return 0;
}

static int load_storage(struct loader *l, const config_setting_t *g) {
    static const char *const known[] = { "domains", NULL };
    struct config_storage *st = &l->c->storage;
    int r;
    if (!g)
        return 0;
    if ((r = check_known(l, g, known)) < 0)
        return r;
    config_setting_t *s = member(g, "domains");
    if (!s)
        return 0;
    if (config_setting_type(s) != CONFIG_TYPE_LIST)
        return fail_type(l, s, "a list ( { id = ...; path = ...; }, ... )");
    int n = config_setting_length(s);
    if (n > CONFIG_MAX_DOMAINS)
        return fail(l, s, NULL, "%d domains, at most %d", n, CONFIG_MAX_DOMAINS);
    for (int i = 0; i < n; i++) {
        config_setting_t *d = config_setting_get_elem(s, (unsigned)i);
        struct config_domain *dom = &st->domains[st->n_domains];
        r = load_domain(l, d, dom);
        st->n_domains++; /* owns dom->path even on failure */
        if (r < 0)
            return r;
        for (size_t j = 0; j + 1 < st->n_domains; j++) {
            if (strcmp(st->domains[j].id, dom->id) == 0)
                return fail(l, member(d, "id"), NULL, "duplicate domain id %s (also storage.domains[%zu])",
                            dom->id, j);
            if (strcmp(st->domains[j].path, dom->path) == 0)
                return fail(l, member(d, "path"), NULL, "duplicate domain path %s (also storage.domains[%zu])",
                            dom->path, j);
        }
    }
    return 0;
}

/* ---- producer, log ---------------------------------------------------------------- */

/* producer.db: a SQLite path, or a PostgreSQL URI; a URI with a password
 * in it is a secret like an inline broker password. */
static bool db_uri_has_password(const char *uri) {
    const char *rest = strstr(uri, "://") + 3, *end = rest + strcspn(rest, "/?");
    const char *at = memchr(rest, '@', (size_t)(end - rest));
    return (at && memchr(rest, ':', (size_t)(at - rest))) || strstr(uri, "password=");
}

static int load_retry(struct loader *l, const config_setting_t *g, struct config_producer *p) {
    static const char *const known[] = { "backoff_base_ms", "backoff_max_ms", NULL };
    int r;
    config_setting_t *t = get_group(l, g, "retry", &r);
    if (!t)
        return r;
    if ((r = check_known(l, t, known)) < 0 ||
        (r = get_int(l, t, "backoff_base_ms", false, 1, 3600000, &p->backoff_base_ms)) < 0 ||
        (r = get_int(l, t, "backoff_max_ms", false, 1, 86400000, &p->backoff_max_ms)) < 0)
        return r;
    if (p->backoff_max_ms < p->backoff_base_ms)
        return fail(l, member(t, "backoff_max_ms"), NULL, "%d is below backoff_base_ms (%d)", p->backoff_max_ms,
                    p->backoff_base_ms);
    return 0;
}

static int load_producer(struct loader *l, const config_setting_t *g) {
    static const char *const known[] = {
        "db", "db_password_file", "max_attempts", "metrics_listen", "retry", "timeouts_s", NULL
    };
    struct config_producer *p = &l->c->producer;
    int r;
    if (!g)
        return 0;
    if ((r = check_known(l, g, known)) < 0 || (r = get_str(l, g, "db", false, PATH_MAX, &p->db)) < 0 ||
        (r = get_int(l, g, "max_attempts", false, 1, 100, &p->max_attempts)) < 0 ||
        (r = get_str(l, g, "metrics_listen", false, 64, &p->metrics_listen)) < 0 ||
        (r = load_timeouts(l, g,
                           (int *const[4]){ &p->timeout_copy_s, &p->timeout_update_s, &p->timeout_delete_s,
                                            &p->timeout_seal_s })) < 0 ||
        (r = load_retry(l, g, p)) < 0)
        return r;
    config_setting_t *db = member(g, "db"), *file = member(g, "db_password_file");
    bool uri = p->db && (strncmp(p->db, "postgresql://", 13) == 0 || strncmp(p->db, "postgres://", 11) == 0);
    if (p->db && !uri && p->db[0] != '/')
        return fail(l, db, NULL, "\"%s\" is neither an absolute path (SQLite) nor a postgresql:// URI", p->db);
    if (file && !uri)
        return fail(l, file, NULL, "only for a PostgreSQL database (db = \"postgresql://...\")");
    if (uri && db_uri_has_password(p->db)) {
        if (file)
            return fail(l, file, NULL, "give either a password in db or db_password_file, not both");
        return check_secret_mode(l, db, setting_file(l, db), "the config file with a database password");
    }
    return file ? load_password_file(l, g, "db_password_file", &p->db_password) : 0;
}

static int load_log(struct loader *l, const config_setting_t *g) {
    static const char *const known[] = { "level", NULL };
    _cleanup_free_ char *level = NULL;
    int r;
    if (!g)
        return 0;
    if ((r = check_known(l, g, known)) < 0 || (r = get_str(l, g, "level", false, 16, &level)) < 0)
        return r;
    if (level) {
        int lv = log_level_from_string(level);
        if (lv < 0)
            return fail(l, member(g, "level"), NULL, "\"%s\": must be error, warning, notice, info or debug",
                        level);
        l->c->log_level = lv;
    }
    return 0;
}

struct group_def {
    const char *name;
    unsigned bit;
    int (*load)(struct loader *l, const config_setting_t *g);
};

static const struct group_def group_defs[] = {
    { "broker", CONFIG_BROKER, load_broker },
    { "worker", CONFIG_WORKER, load_worker },
    { "storage", CONFIG_STORAGE, load_storage },
    { "producer", CONFIG_PRODUCER, load_producer },
    { "log", CONFIG_LOG, load_log },
};

static const struct group_def *group_find(const char *name) {
    for (size_t i = 0; name && i < ARRAY_SIZE(group_defs); i++)
        if (strcmp(group_defs[i].name, name) == 0)
            return &group_defs[i];
    return NULL;
}

/* ---- top level --------------------------------------------------------------- */

char *config_path_for(const char *program, const char *cli_path) {
    if (cli_path && *cli_path)
        return xstrdup(cli_path);
    const char *env = getenv("VMSEAL_CONFIG");
    if (env && *env)
        return xstrdup(env);
    return xasprintf("/etc/vmseal/%s.conf", program);
}

/* copy, update, delete, seal (s): the same defaults for worker and producer. */
static void timeouts_default(int *const ret[4]) {
    static const int dflt[4] = { 3600, 60, 300, 3600 };
    for (size_t i = 0; i < 4; i++)
        *ret[i] = dflt[i];
}

static void defaults(struct config *c) {
    c->broker.heartbeat_s = 30;
    c->broker.tls_verify_peer = true;
    c->worker.slots = 2;
    c->worker.dry_run_seal_ms = 200;
    timeouts_default((int *const[4]){ &c->worker.timeout_copy_s, &c->worker.timeout_update_s,
                                      &c->worker.timeout_delete_s, &c->worker.timeout_seal_s });
    timeouts_default((int *const[4]){ &c->producer.timeout_copy_s, &c->producer.timeout_update_s,
                                      &c->producer.timeout_delete_s, &c->producer.timeout_seal_s });
    c->producer.max_attempts = 3;
    c->producer.backoff_base_ms = 200;
    c->producer.backoff_max_ms = 30000;
    c->log_level = LOG_LVL_INFO;
}

/* Fill what has a string default and was not given. */
static void string_defaults(struct config *c) {
    if (!c->broker.vhost)
        c->broker.vhost = xstrdup("vmseal");
    if (!c->broker.producer_user)
        c->broker.producer_user = xstrdup("producer");
    if (!c->worker.pool)
        c->worker.pool = xstrdup("default");
    if (!c->producer.db)
        c->producer.db = xstrdup("/var/lib/vmseal/producer.db");
    if (!c->worker.id) {
        char host[256] = "localhost";
        if (gethostname(host, sizeof(host) - 1) < 0 || !host[0])
            strcpy(host, "localhost");
        host[sizeof(host) - 1] = '\0';
        c->worker.id = xstrdup(host);
    }
}

static int load_groups(struct loader *l, unsigned allowed, unsigned required) {
    config_setting_t *root = config_root_setting(&l->cfg);
    for (int i = 0; i < config_setting_length(root); i++) {
        config_setting_t *s = config_setting_get_elem(root, (unsigned)i);
        const struct group_def *d = group_find(config_setting_name(s));
        if (!d)
            return fail(l, s, NULL, "unknown group (known: broker, worker, storage, producer, log)");
        if (!(allowed & d->bit))
            return fail(l, s, NULL, "this program does not use the %s group", d->name);
        if (config_setting_type(s) != CONFIG_TYPE_GROUP)
            return fail_type(l, s, "a group { ... }");
    }
    for (size_t i = 0; i < ARRAY_SIZE(group_defs); i++) {
        const struct group_def *d = &group_defs[i];
        if (!(allowed & d->bit))
            continue;
        config_setting_t *g = config_setting_get_member(root, d->name);
        if (!g && (required & d->bit))
            return fail(l, root, d->name, "missing group (required)");
        int r = d->load(l, g);
        if (r < 0)
            return r;
    }
    return 0;
}

int config_load(const char *path, unsigned allowed, unsigned required, struct config *ret, char why[ERR_WHY_LEN],
                char warn_out[ERR_WHY_LEN]) {
    struct loader l = { .path = path, .why = why, .warn = warn_out, .c = ret };
    memset(ret, 0, sizeof(*ret));
    why[0] = '\0';
    if (warn_out)
        warn_out[0] = '\0';
    defaults(ret);
    _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        int r = -errno;
        snprintf(why, ERR_WHY_LEN, "%s: cannot read: %s", path, strerror(errno));
        memset(ret, 0, sizeof(*ret));
        return r;
    }
    struct stat st;
    if (fstat(fd, &st) == 0 && !S_ISREG(st.st_mode)) {
        snprintf(why, ERR_WHY_LEN, "%s: not a regular file", path);
        memset(ret, 0, sizeof(*ret));
        return -EINVAL;
    }
    config_init(&l.cfg);
    _cleanup_free_ char *dir = xstrdup(path);
    char *slash = strrchr(dir, '/');
    if (slash) {
        *slash = '\0';
        config_set_include_dir(&l.cfg, slash == dir ? "/" : dir);
    }
    int r;
    if (!config_read_file(&l.cfg, path)) {
        const char *f = config_error_file(&l.cfg);
        snprintf(why, ERR_WHY_LEN, "%s:%d: %s", f ? f : path, config_error_line(&l.cfg),
                 config_error_text(&l.cfg));
        r = -VMS_E_CONFIG;
    } else {
        r = load_groups(&l, allowed, required);
    }
    config_destroy(&l.cfg);
    free(l.src_name);
    free(l.src_text);
    if (r < 0) {
        config_free(ret);
        return r;
    }
    ret->path = xstrdup(path);
    string_defaults(ret);
    return 0;
}

const struct config_domain *config_domain_find(const struct config_storage *s, const char *sd_id) {
    for (size_t i = 0; sd_id && i < s->n_domains; i++)
        if (strcmp(s->domains[i].id, sd_id) == 0)
            return &s->domains[i];
    return NULL;
}

void config_free(struct config *c) {
    if (!c)
        return;
    free(c->path);
    for (size_t i = 0; i < c->broker.n_hosts; i++)
        free(c->broker.hosts[i]);
    free(c->broker.vhost);
    free(c->broker.user);
    free(c->broker.producer_user);
    if (c->broker.password) {
        explicit_bzero(c->broker.password, strlen(c->broker.password));
        free(c->broker.password);
    }
    free(c->broker.tls_ca);
    free(c->broker.tls_cert);
    free(c->broker.tls_key);
    free(c->worker.id);
    free(c->worker.pool);
    free(c->worker.guestfs_backend);
    free(c->worker.metrics_listen);
    for (size_t i = 0; i < c->worker.n_guestfs_backend_settings; i++)
        free(c->worker.guestfs_backend_settings[i]);
    free(c->worker.guestfs_backend_settings);
    for (size_t i = 0; i < c->storage.n_domains; i++)
        free(c->storage.domains[i].path);
    free(c->producer.db);
    if (c->producer.db_password) {
        explicit_bzero(c->producer.db_password, strlen(c->producer.db_password));
        free(c->producer.db_password);
    }
    free(c->producer.metrics_listen);
    memset(c, 0, sizeof(*c));
}
