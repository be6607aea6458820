/* test_config.c - the configuration loader: a valid file with its defaults,
 * every class of error reported as "<file>:<line>: <key>: <reason>", the
 * secret-file permission rules, and the shipped examples in deploy/config. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "err.h"
#include "log.h"
#include "testutil.h"
#include "util.h"

#define SD1 "5d0a4c2e-8f3b-4e1d-9c7a-6b5e4d3c2b1a"
#define SD2 "9e8d7c6b-5a49-4382-b1a0-f9e8d7c6b5a4"
#define ALL (CONFIG_BROKER | CONFIG_WORKER | CONFIG_STORAGE | CONFIG_PRODUCER | CONFIG_LOG)

struct fx {
    char *dir;
    char *secret; /* <dir>/secret, mode 0600 */
    char *conf;   /* <dir>/t.conf */
};

static char *write_file(const char *dir, const char *name, mode_t mode, const char *text) {
    char *path = xasprintf("%s/%s", dir, name);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    assert_true(fd >= 0);
    assert_int_equal(write_all(fd, text, strlen(text)), 0);
    assert_int_equal(fchmod(fd, mode), 0);
    close(fd);
    return path;
}

static int setup(void **state) {
    struct fx *f = xcalloc(1, sizeof(*f));
    if (testutil_dir_make("config", &f->dir) < 0)
        return -1;
    f->secret = write_file(f->dir, "secret", 0600, "s3cret\n");
    f->conf = xasprintf("%s/t.conf", f->dir);
    *state = f;
    return 0;
}

static int teardown(void **state) {
    struct fx *f = *state;
    testutil_dir_remove(f->dir);
    free(f->dir);
    free(f->secret);
    free(f->conf);
    free(f);
    return 0;
}

/* Write t.conf (mode 0600) from a format where every %1$s is the secret's
 * path, load it with `allowed`/`required`. */
static int load_text(struct fx *f, const char *text, unsigned allowed, unsigned required, struct config *c,
                     char *err, char *warn) {
    _cleanup_free_ char *body = NULL;
    /* replace every "@SECRET@" by the secret's path */
    size_t cap = strlen(text) + 1;
    for (const char *p = text; (p = strstr(p, "@SECRET@")); p++)
        cap += strlen(f->secret);
    body = xmalloc(cap);
    body[0] = '\0';
    for (const char *p = text;;) {
        const char *m = strstr(p, "@SECRET@");
        if (!m) {
            strcat(body, p);
            break;
        }
        strncat(body, p, (size_t)(m - p));
        strcat(body, f->secret);
        p = m + 8;
    }
    free(write_file(f->dir, "t.conf", 0600, body));
    return config_load(f->conf, allowed, required, c, err, warn);
}

#define BROKER \
    "broker = {\n  hosts = [ \"127.0.0.1:5672\" ];\n  user = \"worker\";\n  password_file = \"@SECRET@\";\n};\n"

/* Load text, expect -VMS_E_CONFIG with "<conf>:<line>: <key>" and reason. */
static void expect_err(struct fx *f, const char *text, unsigned allowed, int line, const char *key,
                       const char *reason) {
    struct config c;
    char err[ERR_WHY_LEN], warn[ERR_WHY_LEN];
    int r = load_text(f, text, allowed, 0, &c, err, warn);
    _cleanup_free_ char *where =
        line > 0 ? xasprintf("%s:%d: %s", f->conf, line, key) : xasprintf("%s: %s", f->conf, key);
    if (r != -VMS_E_CONFIG || !strstr(err, where) || !strstr(err, reason))
        fail_msg("got %d \"%s\"\nwant \"%s\" and \"%s\"", r, err, where, reason);
    assert_null(c.broker.user); /* nothing left to free */
}

static void test_valid(void **state) {
    struct fx *f = *state;
    struct config c;
    char err[ERR_WHY_LEN], warn[ERR_WHY_LEN];
    int r = load_text(
        f,
        "broker = {\n"
        "  hosts = [ \"127.0.0.1:5672\", \"mq2.example.com\", \"[::1]:5673\" ];\n"
        "  user = \"worker\";\n"
        "  password_file = \"@SECRET@\";\n"
        "  heartbeat_s = 10L;\n"
        "};\n"
        "worker = { id = \"host1\"; slots = 4; executor = \"dry-run\"; timeouts_s = { seal = 7200; };\n"
        "  guestfs = { backend = \"direct\"; backend_settings = [ \"force_tcg\" ]; memsize_mb = 512; }; };\n"
        "storage = { domains = ( { id = \"" SD1 "\"; path = \"/srv/sd1/\"; },\n"
        "                        { id = \"" SD2 "\"; path = \"/srv/sd2\"; } ); };\n"
        "producer = { db = \"/tmp/p.db\"; max_attempts = 5; };\n"
        "log = { level = \"debug\"; };\n",
        ALL, CONFIG_BROKER | CONFIG_WORKER, &c, err, warn);
    if (r < 0)
        fail_msg("%s", err);
    assert_string_equal(warn, "");
    assert_string_equal(c.path, f->conf);
    assert_int_equal(c.broker.n_hosts, 3);
    assert_string_equal(c.broker.hosts[0], "127.0.0.1:5672");
    assert_string_equal(c.broker.hosts[1], "mq2.example.com:5672");
    assert_string_equal(c.broker.hosts[2], "[::1]:5673");
    assert_string_equal(c.broker.vhost, "vmseal");
    assert_string_equal(c.broker.user, "worker");
    assert_string_equal(c.broker.password, "s3cret");
    assert_int_equal(c.broker.heartbeat_s, 10);
    assert_false(c.broker.tls);
    assert_string_equal(c.worker.id, "host1");
    assert_string_equal(c.worker.pool, "default");
    assert_int_equal(c.worker.slots, 4);
    assert_true(c.worker.dry_run);
    assert_int_equal(c.worker.dry_run_seal_ms, 200);
    assert_int_equal(c.worker.timeout_seal_s, 7200);
    assert_int_equal(c.worker.timeout_copy_s, 3600);
    assert_int_equal(c.worker.timeout_update_s, 60);
    assert_int_equal(c.worker.timeout_delete_s, 300);
    assert_string_equal(c.worker.guestfs_backend, "direct");
    assert_int_equal(c.worker.n_guestfs_backend_settings, 1);
    assert_string_equal(c.worker.guestfs_backend_settings[0], "force_tcg");
    assert_int_equal(c.worker.guestfs_memsize_mb, 512);
    assert_int_equal(c.storage.n_domains, 2);
    assert_string_equal(c.storage.domains[0].path, "/srv/sd1");
    assert_ptr_equal(config_domain_find(&c.storage, SD2), &c.storage.domains[1]);
    assert_null(config_domain_find(&c.storage, "00000000-0000-0000-0000-000000000000"));
    assert_string_equal(c.producer.db, "/tmp/p.db");
    assert_int_equal(c.producer.max_attempts, 5);
    assert_int_equal(c.log_level, LOG_LVL_DEBUG);
    config_free(&c);
    config_free(&c); /* zeroed: safe twice */
}

static void test_defaults(void **state) {
    struct fx *f = *state;
    struct config c;
    char err[ERR_WHY_LEN], warn[ERR_WHY_LEN];
    int r = load_text(f, BROKER, ALL, CONFIG_BROKER, &c, err, warn);
    if (r < 0)
        fail_msg("%s", err);
    assert_int_equal(c.broker.heartbeat_s, 30);
    assert_int_equal(c.worker.slots, 2);
    assert_false(c.worker.dry_run);
    assert_int_equal(c.worker.guestfs_memsize_mb, 0);
    assert_null(c.worker.guestfs_backend);
    assert_non_null(c.worker.id);
    assert_string_equal(c.producer.db, "/var/lib/vmseal/producer.db");
    assert_int_equal(c.producer.max_attempts, 3);
    assert_int_equal(c.log_level, LOG_LVL_INFO);
    assert_int_equal(c.storage.n_domains, 0);
    config_free(&c);

    /* tls changes the default port */
    r = load_text(f,
                  "broker = { hosts = [ \"mq\" ]; user = \"u\"; password_file = \"@SECRET@\";\n"
                  "  tls = { ca = \"/etc/ca.pem\"; verify_peer = false; }; };\n",
                  ALL, 0, &c, err, warn);
    if (r < 0)
        fail_msg("%s", err);
    assert_true(c.broker.tls);
    assert_false(c.broker.tls_verify_peer);
    assert_string_equal(c.broker.hosts[0], "mq:5671");
    assert_string_equal(c.broker.tls_ca, "/etc/ca.pem");
    config_free(&c);
}

static void test_errors(void **state) {
    struct fx *f = *state;
    expect_err(f, "broker = {\n  user = ;\n};\n", ALL, 2, "", "syntax error");
    expect_err(f, BROKER "worker = {\n  slot = 2;\n};\n", ALL, 7, "worker.slot", "unknown key");
    /* a bracketed IPv6 host fills host[256] with its brackets and NUL at most (ASan found 254 overflowing) */
    char v6[300], text[400];
    for (size_t n = 252; n <= 256; n++) {
        memset(v6, ':', n);
        v6[n] = '\0';
        snprintf(text, sizeof text,
                 "broker = { hosts = [\n \"[%s]:5672\" ]; user = \"u\"; password_file = \"@SECRET@\"; };\n", v6);
        if (n >= 254) {
            expect_err(f, text, ALL, 2, "broker.hosts[0]", "bad IPv6 address");
            continue;
        }
        struct config c;
        char err[ERR_WHY_LEN], warn[ERR_WHY_LEN];
        if (load_text(f, text, ALL, 0, &c, err, warn) < 0)
            fail_msg("%zu: %s", n, err);
        assert_int_equal(strlen(c.broker.hosts[0]), n + 2 + 5);
        config_free(&c);
    }
    expect_err(f, BROKER "worker = { slots = 2;\n  slots = 3; };\n", ALL, 7, "", "duplicate setting name");
    expect_err(f, BROKER "worker = { guestfs = {\n  memsize = 2; }; };\n", ALL, 7, "worker.guestfs.memsize",
               "unknown key");
    expect_err(f, BROKER "\nbrokers = { user = \"x\"; };\n", ALL, 7, "brokers", "unknown group");
    expect_err(f, BROKER "producer = { max_attempts = 3; };\n", CONFIG_BROKER | CONFIG_LOG, 6, "producer",
               "this program does not use the producer group");
    expect_err(f, BROKER "worker = {\n  slots = true;\n};\n", ALL, 7, "worker.slots",
               "expected an integer, got a boolean");
    expect_err(f, BROKER "worker = {\n  slots = \"4\";\n};\n", ALL, 7, "worker.slots",
               "expected an integer, got a string (remove the quotes");
    expect_err(f, BROKER "worker = {\n  slots = 2.5;\n};\n", ALL, 7, "worker.slots",
               "expected an integer, got a float");
    expect_err(f, BROKER "worker = {\n  slots = 65;\n};\n", ALL, 7, "worker.slots", "65 is out of range (1..64)");
    /* libconfig reads 4294967297 as 1 and 3000000000 as -1294967296 */
    expect_err(f, BROKER "worker = {\n  slots = 4294967297;\n};\n", ALL, 7, "worker.slots",
               "4294967297 is out of range (1..64)");
    expect_err(f, BROKER "worker = { timeouts_s = {\n  copy = 3000000000; }; };\n", ALL, 7,
               "worker.timeouts_s.copy", "3000000000 is out of range (1..86400)");
    expect_err(f, BROKER "worker = {\n  slots =\n\n    4294967298; };\n", ALL, 7, "worker.slots",
               "4294967298 is out of range (1..64)");
    expect_err(f, BROKER "worker = { timeouts_s = {\n  copy = 3000000000L; }; };\n", ALL, 7,
               "worker.timeouts_s.copy", "3000000000 is out of range (1..86400)");
    expect_err(f,
               "broker = { hosts = [ \"a\" ]; user = \"u\"; password_file = \"@SECRET@\";\n  heartbeat_s = "
               "0xffffffff; };\n",
               ALL, 2, "broker.heartbeat_s", "4294967295 is out of range (0..3600)");
    expect_err(f, "broker = {\n  hosts = [ \"a\" ];\n  password_file = \"@SECRET@\";\n};\n", ALL, 1, "broker.user",
               "missing (required)");
    expect_err(
        f,
        BROKER
        "storage = { domains = (\n { id = \"5D0A4C2E-8F3B-4E1D-9C7A-6B5E4D3C2B1A\"; path = \"/srv/a\"; } ); };\n",
        ALL, 7, "storage.domains[0].id", "is not a canonical lowercase UUID");
    expect_err(f, BROKER "storage = { domains = (\n { id = \"" SD1 "\";\n path = \"srv/a\"; } ); };\n", ALL, 8,
               "storage.domains[0].path", "\"srv/a\" is not an absolute path");
    expect_err(f, BROKER "storage = { domains = (\n { id = \"" SD1 "\"; path = \"/srv/../etc\"; } ); };\n", ALL, 7,
               "storage.domains[0].path", "no . or .. parts");
    expect_err(f,
               BROKER "storage = { domains = ( { id = \"" SD1 "\"; path = \"/srv/a\"; },\n"
                      "  { id = \"" SD1 "\"; path = \"/srv/b\"; } ); };\n",
               ALL, 7, "storage.domains[1].id", "duplicate domain id " SD1);
    expect_err(
        f,
        "broker = { hosts = [ \"a\" ]; user = \"u\";\n  password = \"x\";\n  password_file = \"@SECRET@\"; };\n",
        ALL, 3, "broker.password_file", "either password or password_file, not both");
    expect_err(f, "broker = { hosts = [ \"a\" ];\n  user = \"u\"; };\n", ALL, 1, "broker.password_file",
               "missing");
    expect_err(
        f, "broker = { hosts = [ \"a:5672\",\n \"b:99999\" ]; user = \"u\"; password_file = \"@SECRET@\"; };\n",
        ALL, 2, "broker.hosts[1]", "port must be a number 1..65535");
    expect_err(f, "broker = {\n hosts = [ \"bad_host\" ]; user = \"u\"; password_file = \"@SECRET@\"; };\n", ALL,
               2, "broker.hosts[0]", "not a valid host name");
    expect_err(f, BROKER "worker = {\n  executor = \"fast\";\n};\n", ALL, 7, "worker.executor",
               "must be \"real\" or \"dry-run\"");
    expect_err(f, BROKER "worker = {\n  pool = \"Gold\";\n};\n", ALL, 7, "worker.pool", "[a-z0-9_-]");
    expect_err(f, BROKER "worker = { guestfs = {\n  memsize_mb = 100; }; };\n", ALL, 7,
               "worker.guestfs.memsize_mb", "256..65536");
    expect_err(f, BROKER "log = {\n  level = \"verbose\";\n};\n", ALL, 7, "log.level", "must be error, warning");
    expect_err(f,
               "broker = { hosts = [ \"a\" ]; user = \"u\"; password_file = \"@SECRET@\";\n"
               "  tls = { cert = \"/c.pem\"; }; };\n",
               ALL, 2, "broker.tls.key", "cert and key go together");
    expect_err(f, "broker = { hosts = [ \"a\" ]; user = \"u\";\n password_file = \"secret\"; };\n", ALL, 2,
               "broker.password_file", "is not an absolute path");
    expect_err(f, BROKER "worker = 3;\n", ALL, 6, "worker", "expected a group");
}

static void test_missing_group_and_file(void **state) {
    struct fx *f = *state;
    struct config c;
    char err[ERR_WHY_LEN], warn[ERR_WHY_LEN];
    int r = load_text(f, "log = { level = \"info\"; };\n", ALL, CONFIG_BROKER, &c, err, warn);
    assert_int_equal(r, -VMS_E_CONFIG);
    assert_non_null(strstr(err, "broker: missing group (required)"));
    assert_non_null(strstr(err, f->conf));
    _cleanup_free_ char *nofile = xasprintf("%s/nope.conf", f->dir);
    r = config_load(nofile, ALL, 0, &c, err, warn);
    assert_int_equal(r, -ENOENT);
    assert_non_null(strstr(err, nofile));
    r = config_load(f->dir, ALL, 0, &c, err, warn);
    assert_int_equal(r, -EINVAL);
    assert_non_null(strstr(err, "not a regular file"));
    config_free(&c);
}

static void test_secret_modes(void **state) {
    struct fx *f = *state;
    struct config c;
    char err[ERR_WHY_LEN], warn[ERR_WHY_LEN];
    /* a world-readable password file is refused */
    assert_int_equal(chmod(f->secret, 0644), 0);
    expect_err(f, "broker = { hosts = [ \"a\" ]; user = \"u\";\n password_file = \"@SECRET@\"; };\n", ALL, 2,
               "broker.password_file", "is readable by others (mode 0644): refused");
    /* so is a world-readable TLS private key (the password file is 0600 here) */
    free(write_file(f->dir, "tls.key", 0644, "key"));
    _cleanup_free_ char *key = xasprintf("%s/tls.key", f->dir);
    _cleanup_free_ char *tls =
        xasprintf("broker = { hosts = [ \"a\" ]; user = \"u\"; password_file = \"@SECRET@\";\n"
                  " tls = { cert = \"%s\";\n key = \"%s\"; }; };\n",
                  key, key);
    assert_int_equal(chmod(f->secret, 0600), 0);
    expect_err(f, tls, ALL, 3, "broker.tls.key", "TLS private key");
    assert_int_equal(chmod(key, 0600), 0);
    int r = load_text(f, tls, ALL, 0, &c, err, warn);
    if (r < 0)
        fail_msg("%s", err);
    assert_string_equal(c.broker.producer_user, "producer"); /* the default */
    config_free(&c);
    /* a certificate and no password: SASL EXTERNAL (password NULL) */
    _cleanup_free_ char *ext =
        xasprintf("broker = { hosts = [ \"a\" ]; user = \"host1\"; producer_user = \"prod\";\n"
                  " tls = { cert = \"%s\"; key = \"%s\"; }; };\n",
                  key, key);
    if ((r = load_text(f, ext, ALL, 0, &c, err, warn)) < 0)
        fail_msg("%s", err);
    assert_null(c.broker.password);
    assert_string_equal(c.broker.producer_user, "prod");
    config_free(&c);
    /* group-readable: loads, with a warning */
    assert_int_equal(chmod(f->secret, 0640), 0);
    r = load_text(f, "broker = { hosts = [ \"a\" ]; user = \"u\";\n password_file = \"@SECRET@\"; };\n", ALL, 0,
                  &c, err, warn);
    if (r < 0)
        fail_msg("%s", err);
    assert_non_null(strstr(warn, "broker.password_file: password file"));
    assert_non_null(strstr(warn, "readable by its group (mode 0640)"));
    config_free(&c);
    /* an inline password in a world-readable config file is refused */
    free(write_file(f->dir, "t.conf", 0644,
                    "broker = { hosts = [ \"a\" ]; user = \"u\";\n password = \"pw\"; };\n"));
    r = config_load(f->conf, ALL, 0, &c, err, warn);
    assert_int_equal(r, -VMS_E_CONFIG);
    _cleanup_free_ char *where =
        xasprintf("%s:2: broker.password: the config file with an inline password", f->conf);
    if (!strstr(err, where) || !strstr(err, "readable by others"))
        fail_msg("%s", err);
    /* ... and accepted at 0600, the same file otherwise */
    assert_int_equal(chmod(f->conf, 0600), 0);
    r = config_load(f->conf, ALL, 0, &c, err, warn);
    if (r < 0)
        fail_msg("%s", err);
    assert_string_equal(c.broker.password, "pw");
    assert_string_equal(warn, "");
    config_free(&c);
}

/* producer.db: a path or a PostgreSQL URI; its password from
 * db_password_file (a secret), or inside the URI (then the config file is). */
static void test_producer_db(void **state) {
    struct fx *f = *state;
    struct config c;
    char err[ERR_WHY_LEN], warn[ERR_WHY_LEN];
    int r = load_text(f,
                      "producer = { db = \"postgresql://vmseal@db1.example.com/vmseal\";\n"
                      "  db_password_file = \"@SECRET@\"; };\n",
                      ALL, 0, &c, err, warn);
    if (r < 0)
        fail_msg("%s", err);
    assert_string_equal(c.producer.db, "postgresql://vmseal@db1.example.com/vmseal");
    assert_string_equal(c.producer.db_password, "s3cret");
    config_free(&c);
    expect_err(f, "producer = {\n db = \"vmseal.db\"; };\n", ALL, 2, "producer.db",
               "neither an absolute path (SQLite) nor a postgresql:// URI");
    expect_err(f, "producer = { db = \"/var/lib/p.db\";\n db_password_file = \"@SECRET@\"; };\n", ALL, 2,
               "producer.db_password_file", "only for a PostgreSQL database");
    assert_int_equal(chmod(f->secret, 0604), 0);
    expect_err(f, "producer = { db = \"postgres:///vmseal\";\n db_password_file = \"@SECRET@\"; };\n", ALL, 2,
               "producer.db_password_file", "readable by others");
    free(write_file(f->dir, "t.conf", 0644, "producer = {\n db = \"postgresql://u:pw@db1/vmseal\"; };\n"));
    assert_int_equal(config_load(f->conf, ALL, 0, &c, err, warn), -VMS_E_CONFIG);
    if (!strstr(err, "producer.db: the config file with a database password") ||
        !strstr(err, "readable by others"))
        fail_msg("%s", err);
    free(write_file(f->dir, "t.conf", 0600, "producer = {\n db = \"postgresql:///vmseal?password=pw\"; };\n"));
    r = config_load(f->conf, ALL, 0, &c, err, warn);
    if (r < 0)
        fail_msg("%s", err);
    assert_null(c.producer.db_password);
    config_free(&c);
}

/* deploy/config/<name>: loaded as shipped except for the password_file
 * path, which points into this test's folder. */
static void load_example(struct fx *f, const char *name, unsigned allowed, unsigned required, struct config *c) {
    const char *src = getenv("VMSEAL_SOURCE_DIR");
    if (!src)
        fail_msg("VMSEAL_SOURCE_DIR is not set: run through ctest");
    _cleanup_free_ char *path = xasprintf("%s/deploy/config/%s", src, name), *text = NULL, *fixed = NULL;
    size_t len;
    int r = read_file_all(path, 1 << 20, &text, &len);
    if (r < 0)
        fail_msg("%s: %s", path, err_str(r));
    char *pf = strstr(text, "password_file = \"");
    assert_non_null(pf);
    char *q = strchr(pf + 17, '"');
    assert_non_null(q);
    *pf = '\0';
    fixed = xasprintf("%spassword_file = \"@SECRET@%s", text, q);
    char err[ERR_WHY_LEN], warn[ERR_WHY_LEN];
    r = load_text(f, fixed, allowed, required, c, err, warn);
    if (r < 0)
        fail_msg("%s: %s", name, err);
    assert_string_equal(warn, "");
}

static void test_examples(void **state) {
    struct fx *f = *state;
    struct config c;
    load_example(f, "worker.conf", CONFIG_BROKER | CONFIG_WORKER | CONFIG_STORAGE | CONFIG_LOG,
                 CONFIG_BROKER | CONFIG_STORAGE, &c);
    assert_string_equal(c.broker.user, "worker");
    assert_string_equal(c.worker.pool, "default");
    assert_int_equal(c.worker.guestfs_memsize_mb, 768);
    assert_int_equal(c.storage.n_domains, 1);
    config_free(&c);
    load_example(f, "producer.conf", CONFIG_BROKER | CONFIG_PRODUCER | CONFIG_LOG, CONFIG_BROKER, &c);
    assert_string_equal(c.broker.user, "producer");
    assert_int_equal(c.producer.max_attempts, 3);
    config_free(&c);
    load_example(f, "vmsealctl.conf", CONFIG_BROKER | CONFIG_STORAGE | CONFIG_LOG, 0, &c);
    assert_int_equal(c.log_level, LOG_LVL_WARN);
    config_free(&c);
}

static void test_path_for(void **state) {
    _cleanup_free_ char *a = config_path_for("worker", "/x/y.conf");
    assert_string_equal(a, "/x/y.conf");
    setenv("VMSEAL_CONFIG", "/env.conf", 1);
    _cleanup_free_ char *b = config_path_for("worker", NULL);
    assert_string_equal(b, "/env.conf");
    unsetenv("VMSEAL_CONFIG");
    _cleanup_free_ char *c = config_path_for("producer", NULL);
    assert_string_equal(c, "/etc/vmseal/producer.conf");
}

/* producer.retry, producer.timeouts_s and metrics_listen (issue 18). */
static void test_producer_ops(void **state) {
    struct fx *f = *state;
    struct config c;
    char err[ERR_WHY_LEN], warn[ERR_WHY_LEN];
    int r = load_text(f,
                      BROKER "producer = { metrics_listen = \"127.0.0.1:9464\";\n"
                             "  retry = { backoff_base_ms = 1000; backoff_max_ms = 600000; };\n"
                             "  timeouts_s = { copy = 86400; seal = 7200; }; };\n"
                             "worker = { metrics_listen = \"[::1]:9465\"; timeouts_s = { seal = 86400; }; };\n",
                      ALL, 0, &c, err, warn);
    if (r < 0)
        fail_msg("%s", err);
    assert_string_equal(c.producer.metrics_listen, "127.0.0.1:9464");
    assert_string_equal(c.worker.metrics_listen, "[::1]:9465");
    assert_int_equal(c.producer.backoff_base_ms, 1000);
    assert_int_equal(c.producer.backoff_max_ms, 600000);
    assert_int_equal(c.producer.timeout_copy_s, 86400);
    assert_int_equal(c.producer.timeout_update_s, 60); /* defaults for the others */
    assert_int_equal(c.producer.timeout_delete_s, 300);
    assert_int_equal(c.producer.timeout_seal_s, 7200);
    assert_int_equal(c.worker.timeout_seal_s, 86400);
    config_free(&c);
    r = load_text(f, BROKER, ALL, 0, &c, err, warn);
    assert_int_equal(r, 0);
    assert_null(c.producer.metrics_listen);
    assert_int_equal(c.producer.backoff_base_ms, 200);
    assert_int_equal(c.producer.backoff_max_ms, 30000);
    assert_int_equal(c.producer.timeout_copy_s, 3600);
    assert_int_equal(c.producer.timeout_seal_s, 3600);
    config_free(&c);
    static const struct {
        const char *text, *key, *reason;
    } bad[] = {
        { BROKER "producer = { retry = {\n  backoff_base_ms = 5000; backoff_max_ms = 100; }; };\n",
          "producer.retry.backoff_max_ms", "below backoff_base_ms" },
        { BROKER "producer = { timeouts_s = {\n  seal = 86401; }; };\n", "producer.timeouts_s.seal",
          "out of range" },
        { BROKER "producer = { retry = {\n  attempts = 3; }; };\n", "producer.retry.attempts", "unknown key" },
        { BROKER "producer = {\n  metrics_listen = 9464; };\n", "producer.metrics_listen", "expected a string" },
    };
    for (size_t i = 0; i < ARRAY_SIZE(bad); i++)
        expect_err(f, bad[i].text, ALL, 7, bad[i].key, bad[i].reason);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_producer_ops, setup, teardown),
        cmocka_unit_test_setup_teardown(test_valid, setup, teardown),
        cmocka_unit_test_setup_teardown(test_defaults, setup, teardown),
        cmocka_unit_test_setup_teardown(test_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_missing_group_and_file, setup, teardown),
        cmocka_unit_test_setup_teardown(test_secret_modes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_producer_db, setup, teardown),
        cmocka_unit_test_setup_teardown(test_examples, setup, teardown),
        cmocka_unit_test(test_path_for),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
