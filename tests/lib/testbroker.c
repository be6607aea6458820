/* testbroker.c - see testbroker.h. */
#include "testbroker.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "testutil.h"
#include "util.h"

#define CTL_MAX_ARGS   32
#define CTL_TIMEOUT_MS 60000

static const char *env_get(const char *key, bool *missing) {
    const char *v = getenv(key);

    if (!v || !*v) {
        fprintf(stderr, "testbroker: %s is not set\n", key);
        *missing = true;
        return NULL;
    }
    return v;
}

int testbroker_env_read(struct testbroker *tb) {
    bool missing = false;
    const char *port = env_get("VMSEAL_TEST_BROKER_PORT", &missing);
    const char *node = env_get("VMSEAL_TEST_BROKER_NODE", &missing);
    const char *user = env_get("VMSEAL_TEST_BROKER_USER", &missing);
    const char *password = env_get("VMSEAL_TEST_BROKER_PASSWORD", &missing);
    const char *dir = env_get("VMSEAL_TEST_BROKER_DIR", &missing);
    const char *v;

    memset(tb, 0, sizeof(*tb));
    if (missing) {
        fprintf(stderr, "testbroker: this is a broker test: run it through tests/run.sh, or start a "
                        "node with eval \"$(deploy/rabbitmq/node.sh start DIR)\" first\n");
        return -ENOENT;
    }
    tb->port = atoi(port);
    if (tb->port <= 0 || tb->port > 65535) {
        fprintf(stderr, "testbroker: VMSEAL_TEST_BROKER_PORT=%s is not a port\n", port);
        return -EINVAL;
    }
    tb->node = xstrdup(node);
    tb->user = xstrdup(user);
    tb->password = xstrdup(password);
    tb->dir = xstrdup(dir);
    /* optional: a cluster started by deploy/rabbitmq/cluster.sh */
    if ((v = getenv("VMSEAL_TEST_BROKER_HOSTS")) && *v)
        tb->hosts = xstrdup(v);
    if ((v = getenv("VMSEAL_TEST_BROKER_NODES")) && *v)
        tb->nodes = xstrdup(v);
    return 0;
}

static const char *ctl_path(void) {
    return access("/usr/sbin/rabbitmqctl", X_OK) == 0 ? "/usr/sbin/rabbitmqctl" : "rabbitmqctl";
}

static int ctl_argv(const struct testbroker *tb, char **ret_output, const char *const *args) {
    const char *argv[CTL_MAX_ARGS + 4] = { ctl_path(), "-n", tb->node };
    size_t n = 3;

    for (; *args && n < CTL_MAX_ARGS + 3; args++)
        argv[n++] = *args;
    argv[n] = NULL;
    return testutil_cmd_run(argv, CTL_TIMEOUT_MS, ret_output);
}

int testbroker_ctl(const struct testbroker *tb, char **ret_output, ...) {
    const char *args[CTL_MAX_ARGS + 1];
    size_t n = 0;
    va_list ap;

    va_start(ap, ret_output);
    for (const char *a; (a = va_arg(ap, const char *)) && n < CTL_MAX_ARGS;)
        args[n++] = a;
    va_end(ap);
    args[n] = NULL;
    return ctl_argv(tb, ret_output, args);
}

/* Run a ctl command; on failure print it with its output. */
static int ctl_checked(const struct testbroker *tb, const char *const *args) {
    _cleanup_free_ char *out = NULL;
    int r = ctl_argv(tb, &out, args);

    if (r != 0) {
        fprintf(stderr, "testbroker: rabbitmqctl -n %s %s %s failed (%d): %s\n", tb->node, args[0],
                args[1] ? args[1] : "", r, out ? out : "");
        return r < 0 ? r : -EIO;
    }
    return 0;
}

int testbroker_policy(const struct testbroker *tb, const char *name, const char *pattern, const char *def) {
    const char *set[] = { "set_policy", "-p", tb->vhost, "--apply-to", "queues", name, pattern, def, NULL };
    const char *clear[] = { "clear_policy", "-p", tb->vhost, name, NULL };
    return ctl_checked(tb, def ? set : clear);
}

void testbroker_config_fill(const struct testbroker *tb, const char *vhost, const char *user, const char *password,
                            struct config_broker *ret) {
    memset(ret, 0, sizeof(*ret));
    if (tb->hosts) {
        _cleanup_free_ char *list = xstrdup(tb->hosts);
        char *save = NULL;
        for (char *h = strtok_r(list, " ", &save); h && ret->n_hosts < CONFIG_MAX_HOSTS;
             h = strtok_r(NULL, " ", &save))
            ret->hosts[ret->n_hosts++] = xstrdup(h);
    }
    if (ret->n_hosts == 0)
        ret->hosts[ret->n_hosts++] = xasprintf("127.0.0.1:%d", tb->port);
    ret->vhost = xstrdup(vhost);
    ret->user = xstrdup(user);
    ret->password = xstrdup(password);
    ret->heartbeat_s = 30;
    ret->tls_verify_peer = true;
}

void testbroker_config_free(struct config_broker *c) {
    if (!c)
        return;
    for (size_t i = 0; i < c->n_hosts; i++)
        free(c->hosts[i]);
    free(c->vhost);
    free(c->user);
    free(c->password);
    free(c->tls_ca);
    free(c->tls_cert);
    free(c->tls_key);
    memset(c, 0, sizeof(*c));
}

/* Safe inside an Erlang binary literal <<"...">>. */
static bool erlang_plain(const char *s) {
    return strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-.@") == strlen(s);
}

/* Create tb->vhost with full permissions for the administrator.  One
 * rabbitmqctl eval (each CLI call costs a second or more of Erlang start-up);
 * add_vhost + set_permissions when the names do not fit the expression. */
static int vhost_create(struct testbroker *tb) {
    char *vhost = tb->vhost;
    int r;

    if (erlang_plain(tb->vhost) && erlang_plain(tb->user)) {
        _cleanup_free_ char *expr =
            xasprintf("ok = rabbit_vhost:add(<<\"%s\">>, <<\"testbroker\">>), "
                      "ok = rabbit_auth_backend_internal:set_permissions(<<\"%s\">>, <<\"%s\">>, "
                      "<<\".*\">>, <<\".*\">>, <<\".*\">>, <<\"testbroker\">>).",
                      tb->vhost, tb->user, tb->vhost);
        const char *eval[] = { "eval", expr, NULL };
        if ((r = ctl_checked(tb, eval)) == 0)
            return 0;
    }
    const char *add[] = { "add_vhost", vhost, NULL };
    if ((r = ctl_checked(tb, add)) < 0)
        return r;
    const char *perm[] = { "set_permissions", "-p", vhost, tb->user, ".*", ".*", ".*", NULL };
    return ctl_checked(tb, perm);
}

int testbroker_setup(struct testbroker *tb, const char *name) {
    char id[VMS_UUID_STRLEN + 1];
    int r;

    if ((r = testbroker_env_read(tb)) < 0) {
        testbroker_teardown(tb);
        return r;
    }
    uuid_new(id);
    tb->vhost = xasprintf("test-%s-%.8s", name ? name : "x", id);
    if ((r = vhost_create(tb)) < 0) {
        testbroker_teardown(tb);
        return r;
    }
    testbroker_config_fill(tb, tb->vhost, tb->user, tb->password, &tb->broker);
    return 0;
}

void testbroker_teardown(struct testbroker *tb) {
    if (!tb)
        return;
    if (tb->vhost && tb->node) {
        const char *del[] = { "delete_vhost", tb->vhost, NULL };
        ctl_checked(tb, del);
    }
    testbroker_config_free(&tb->broker);
    free(tb->node);
    free(tb->user);
    free(tb->password);
    free(tb->dir);
    free(tb->hosts);
    free(tb->nodes);
    free(tb->vhost);
    memset(tb, 0, sizeof(*tb));
}

int testbroker_group_setup(void **state) {
    struct testbroker *tb = xcalloc(1, sizeof(*tb));
    const char *name = program_invocation_short_name;
    int r = testbroker_setup(tb, name);

    if (r < 0) {
        free(tb);
        *state = NULL;
        return -1;
    }
    *state = tb;
    return 0;
}

int testbroker_group_teardown(void **state) {
    struct testbroker *tb = *state;

    testbroker_teardown(tb);
    free(tb);
    *state = NULL;
    return 0;
}
