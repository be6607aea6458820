/* deploy_node.c - see deploy_node.h. */
#include "deploy_node.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <amqp_tcp_socket.h>

#include "testutil.h"
#include "util.h"

#define NODE_TIMEOUT_MS 180000

static char last_text[512];

const char *deploy_amqp_last_text(void) { return last_text; }

/* A file of deploy/rabbitmq in the source tree (malloc'd). */
static char *deploy_file(const char *name) {
    const char *src = getenv("VMSEAL_SOURCE_DIR");
    return xasprintf("%s/deploy/rabbitmq/%s", src && *src ? src : ".", name);
}

/* Value of `export KEY=value` in the node's env file (malloc'd) or NULL. */
static char *env_value(const char *env, const char *key) {
    char *pat = xasprintf("export %s=", key);
    const char *p = strstr(env, pat);
    char *v = NULL;

    if (p) {
        p += strlen(pat);
        v = xstrndup(p, strcspn(p, "\n"));
    }
    free(pat);
    return v;
}

int deploy_node_start(struct deploy_node *n, const char *const extra_args[]) {
    _cleanup_free_ char *script = deploy_file("node.sh"), *defs = NULL, *out = NULL, *env = NULL, *path = NULL;
    _cleanup_free_ char *port = NULL;
    const char *argv[24];
    size_t k = 0, len;
    int r;

    memset(n, 0, sizeof(*n));
    if ((r = testutil_dir_make("deploy", &n->dir)) < 0) {
        fprintf(stderr, "deploy_node: temp dir: %s\n", strerror(-r));
        return r;
    }
    defs = deploy_file("definitions.json");
    argv[k++] = "bash";
    argv[k++] = script;
    argv[k++] = "start";
    argv[k++] = n->dir;
    argv[k++] = "--definitions";
    argv[k++] = defs;
    for (; extra_args && *extra_args && k < 22; extra_args++)
        argv[k++] = *extra_args;
    argv[k] = NULL;
    r = testutil_cmd_run(argv, NODE_TIMEOUT_MS, &out);
    if (r != 0) {
        fprintf(stderr, "deploy_node: node.sh start failed (%d):\n%s\n", r, out ? out : "");
        deploy_node_stop(n);
        return -EIO;
    }
    path = xasprintf("%s/env", n->dir);
    if ((r = read_file_all(path, 65536, &env, &len)) < 0) {
        fprintf(stderr, "deploy_node: %s: %s\n", path, strerror(-r));
        deploy_node_stop(n);
        return r;
    }
    port = env_value(env, "VMSEAL_TEST_BROKER_PORT");
    n->node = env_value(env, "VMSEAL_TEST_BROKER_NODE");
    n->admin_user = env_value(env, "VMSEAL_TEST_BROKER_USER");
    n->admin_password = env_value(env, "VMSEAL_TEST_BROKER_PASSWORD");
    n->secrets = env_value(env, "VMSEAL_TEST_BROKER_SECRETS");
    n->port = port ? atoi(port) : 0;
    if (!n->node || !n->admin_user || !n->admin_password || !n->secrets || n->port <= 0) {
        fprintf(stderr, "deploy_node: incomplete env file %s:\n%s\n", path, env);
        deploy_node_stop(n);
        return -EINVAL;
    }
    return 0;
}

void deploy_node_stop(struct deploy_node *n) {
    if (n->dir) {
        _cleanup_free_ char *script = deploy_file("node.sh"), *out = NULL;
        const char *argv[] = { "bash", script, "stop", n->dir, NULL };
        if (testutil_cmd_run(argv, NODE_TIMEOUT_MS, &out) != 0)
            fprintf(stderr, "deploy_node: node.sh stop: %s\n", out ? out : "");
        testutil_dir_remove(n->dir);
    }
    free(n->dir);
    free(n->node);
    free(n->admin_user);
    free(n->admin_password);
    free(n->secrets);
    memset(n, 0, sizeof(*n));
}

char *deploy_node_password(const struct deploy_node *n, const char *user) {
    _cleanup_free_ char *path = xasprintf("%s/%s.secret", n->secrets, user);
    char *buf = NULL;
    size_t len = 0;

    if (read_file_all(path, 4096, &buf, &len) < 0)
        return xstrdup("");
    while (len && buf[len - 1] == '\n')
        buf[--len] = '\0';
    return buf;
}

static void text_set(amqp_bytes_t b) {
    snprintf(last_text, sizeof(last_text), "%.*s", (int)b.len, (const char *)b.bytes);
}

/* 0 for a normal reply; the reply code of a channel or connection close
 * (acknowledging a channel close so the connection stays usable); -1 for a
 * library error. */
static int reply_code(amqp_connection_state_t c, int ch, amqp_rpc_reply_t r) {
    last_text[0] = '\0';
    if (r.reply_type == AMQP_RESPONSE_NORMAL)
        return 0;
    if (r.reply_type == AMQP_RESPONSE_SERVER_EXCEPTION && r.reply.id == AMQP_CHANNEL_CLOSE_METHOD) {
        amqp_channel_close_t *m = r.reply.decoded;
        amqp_channel_close_ok_t ok = { 0 };
        text_set(m->reply_text);
        amqp_send_method(c, (amqp_channel_t)ch, AMQP_CHANNEL_CLOSE_OK_METHOD, &ok);
        return m->reply_code;
    }
    if (r.reply_type == AMQP_RESPONSE_SERVER_EXCEPTION && r.reply.id == AMQP_CONNECTION_CLOSE_METHOD) {
        amqp_connection_close_t *m = r.reply.decoded;
        text_set(m->reply_text);
        return m->reply_code;
    }
    snprintf(last_text, sizeof(last_text), "library error %s",
             r.reply_type == AMQP_RESPONSE_LIBRARY_EXCEPTION ? amqp_error_string2(r.library_error) : "?");
    return -1;
}

int deploy_amqp_try_login(int port, const char *vhost, const char *user, const char *password) {
    amqp_connection_state_t c = amqp_new_connection();
    amqp_socket_t *s = amqp_tcp_socket_new(c);
    int r = -1;

    if (s && amqp_socket_open(s, "127.0.0.1", port) == AMQP_STATUS_OK) {
        amqp_rpc_reply_t rep = amqp_login(c, vhost, 0, 131072, 0, AMQP_SASL_METHOD_PLAIN, user, password);
        r = reply_code(c, 0, rep);
        if (r == 0)
            amqp_connection_close(c, AMQP_REPLY_SUCCESS);
    }
    amqp_destroy_connection(c);
    return r;
}

amqp_connection_state_t deploy_amqp_open(int port, const char *vhost, const char *user, const char *password) {
    amqp_connection_state_t c = amqp_new_connection();
    amqp_socket_t *s = amqp_tcp_socket_new(c);
    amqp_rpc_reply_t rep;

    if (!s || amqp_socket_open(s, "127.0.0.1", port) != AMQP_STATUS_OK) {
        fprintf(stderr, "deploy: cannot connect to 127.0.0.1:%d\n", port);
        abort();
    }
    rep = amqp_login(c, vhost, 0, 131072, 0, AMQP_SASL_METHOD_PLAIN, user, password);
    if (reply_code(c, 0, rep) != 0) {
        fprintf(stderr, "deploy: login %s@%s refused: %s\n", user, vhost, last_text);
        abort();
    }
    return c;
}

void deploy_amqp_close(amqp_connection_state_t c) {
    amqp_connection_close(c, AMQP_REPLY_SUCCESS);
    amqp_destroy_connection(c);
}

/* A fresh channel number per operation (a closed channel is not reused). */
static int chan_open(amqp_connection_state_t c) {
    static int next = 0;
    int ch = (next++ % 2000) + 1;

    amqp_channel_open(c, (amqp_channel_t)ch);
    if (reply_code(c, ch, amqp_get_rpc_reply(c)) != 0) {
        fprintf(stderr, "deploy: channel.open failed: %s\n", last_text);
        abort();
    }
    return ch;
}

/* Finish an operation: on success close the channel ourselves. */
static int chan_done(amqp_connection_state_t c, int ch, int code) {
    if (code == 0)
        amqp_channel_close(c, (amqp_channel_t)ch, AMQP_REPLY_SUCCESS);
    return code;
}

int deploy_amqp_publish(amqp_connection_state_t c, const char *exchange, const char *key, const char *body) {
    int ch = chan_open(c), code;
    amqp_basic_properties_t p = { ._flags = AMQP_BASIC_DELIVERY_MODE_FLAG | AMQP_BASIC_CONTENT_TYPE_FLAG,
                                  .delivery_mode = 2,
                                  .content_type = amqp_cstring_bytes("application/msgpack") };

    amqp_basic_publish(c, (amqp_channel_t)ch, amqp_cstring_bytes(exchange), amqp_cstring_bytes(key), 0, 0, &p,
                       amqp_cstring_bytes(body));
    /* A publish has no reply: a synchronous call after it sees the
     * channel.close a refused publish causes (frames are handled in order). */
    amqp_basic_qos(c, (amqp_channel_t)ch, 0, 1, 0);
    code = reply_code(c, ch, amqp_get_rpc_reply(c));
    return chan_done(c, ch, code);
}

int deploy_amqp_consume(amqp_connection_state_t c, const char *queue) {
    int ch = chan_open(c), code;

    amqp_basic_consume(c, (amqp_channel_t)ch, amqp_cstring_bytes(queue), amqp_empty_bytes, 0, 0, 0,
                       amqp_empty_table);
    code = reply_code(c, ch, amqp_get_rpc_reply(c));
    return chan_done(c, ch, code);
}

int deploy_amqp_delete_queue(amqp_connection_state_t c, const char *queue) {
    int ch = chan_open(c), code;

    amqp_queue_delete(c, (amqp_channel_t)ch, amqp_cstring_bytes(queue), 0, 0);
    code = reply_code(c, ch, amqp_get_rpc_reply(c));
    return chan_done(c, ch, code);
}

int deploy_amqp_declare_quorum(amqp_connection_state_t c, const char *queue, int delivery_limit, bool dlx,
                               bool sac) {
    amqp_table_entry_t e[4];
    int n = 0, ch = chan_open(c), code;

    e[n].key = amqp_cstring_bytes("x-queue-type");
    e[n].value.kind = AMQP_FIELD_KIND_UTF8;
    e[n++].value.value.bytes = amqp_cstring_bytes("quorum");
    if (dlx) {
        e[n].key = amqp_cstring_bytes("x-dead-letter-exchange");
        e[n].value.kind = AMQP_FIELD_KIND_UTF8;
        e[n++].value.value.bytes = amqp_cstring_bytes("vmseal.dlx");
    }
    if (delivery_limit > 0) {
        e[n].key = amqp_cstring_bytes("x-delivery-limit");
        e[n].value.kind = AMQP_FIELD_KIND_I64;
        e[n++].value.value.i64 = delivery_limit;
    }
    if (sac) {
        e[n].key = amqp_cstring_bytes("x-single-active-consumer");
        e[n].value.kind = AMQP_FIELD_KIND_BOOLEAN;
        e[n++].value.value.boolean = 1;
    }
    amqp_queue_declare(c, (amqp_channel_t)ch, amqp_cstring_bytes(queue), 0, 1, 0, 0,
                       (amqp_table_t){ .num_entries = n, .entries = e });
    code = reply_code(c, ch, amqp_get_rpc_reply(c));
    return chan_done(c, ch, code);
}

int deploy_amqp_excl_bind(amqp_connection_state_t c, const char *exchange, const char *key, char ret_queue[64]) {
    char id[VMS_UUID_STRLEN + 1];
    int ch = chan_open(c), code;

    uuid_new(id);
    snprintf(ret_queue, 64, "vmseal.excl.%s", id);
    amqp_queue_declare(c, (amqp_channel_t)ch, amqp_cstring_bytes(ret_queue), 0, 0, 1, 1, amqp_empty_table);
    code = reply_code(c, ch, amqp_get_rpc_reply(c));
    if (code != 0)
        return code;
    amqp_queue_bind(c, (amqp_channel_t)ch, amqp_cstring_bytes(ret_queue), amqp_cstring_bytes(exchange),
                    amqp_cstring_bytes(key), amqp_empty_table);
    code = reply_code(c, ch, amqp_get_rpc_reply(c));
    return chan_done(c, ch, code);
}

int deploy_amqp_get(amqp_connection_state_t c, const char *queue, int timeout_ms, char **ret_body) {
    int64_t deadline = time_mono_ms() + timeout_ms;
    int ch = chan_open(c), code;

    for (;;) {
        amqp_rpc_reply_t r = amqp_basic_get(c, (amqp_channel_t)ch, amqp_cstring_bytes(queue), 1);
        if ((code = reply_code(c, ch, r)) != 0)
            return code;
        if (r.reply.id == AMQP_BASIC_GET_OK_METHOD) {
            amqp_message_t msg;
            r = amqp_read_message(c, (amqp_channel_t)ch, &msg, 0);
            if ((code = reply_code(c, ch, r)) != 0)
                return code;
            *ret_body = xstrndup(msg.body.bytes, msg.body.len);
            amqp_destroy_message(&msg);
            return chan_done(c, ch, 0);
        }
        if (time_mono_ms() >= deadline) {
            chan_done(c, ch, 0);
            return -1;
        }
        struct timespec ts = { .tv_nsec = 20 * 1000000L };
        nanosleep(&ts, NULL);
    }
}
