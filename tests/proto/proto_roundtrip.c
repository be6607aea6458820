/* proto_roundtrip.c - the C codecs as a filter, for tests written in other
 * languages (tests/docs/test_asyncapi.py, clients/python/tests): reads one
 * message on stdin, decodes it with the decoder of its "type" (proto.h,
 * rpc.h, control.h) and writes it back with the matching encoder.
 *
 * Exit 0: the re-encoded message on stdout.  Exit 2: refused; stdout holds
 * "<error name> <why>".  Exit 1: usage or I/O error.
 *
 *   proto_roundtrip --types    the message types the codecs read, one a line
 *   proto_roundtrip --stream   many messages: each input is a 4-byte
 *                              big-endian length and the bytes; each output a
 *                              status byte (0 ok, 2 refused), a 4-byte length
 *                              and the re-encoded message or the reason. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "control.h"
#include "err.h"
#include "proto.h"
#include "rpc.h"
#include "util.h"
#include "wire.h"
#include "wire_names.h"

static int type_is(const void *buf, size_t len, const char *type) {
    struct wire_map root;
    struct wire_val v;
    if (wire_open(buf, len, "message", &root, NULL) < 0 || !wire_map_find(&root, "type", &v))
        return 0;
    return v.type == WIRE_STR && v.n == strlen(type) && memcmp(v.body, type, v.n) == 0;
}

static int roundtrip(const void *in, size_t len, char **out, size_t *out_len, char *why) {
    int r;
    if (type_is(in, len, RPC_REQUEST_TYPE)) {
        struct rpc_request m;
        if ((r = rpc_decode_request(in, len, &m, why)) == 0)
            r = rpc_encode_request(&m, out, out_len);
        rpc_request_free(&m);
    } else if (type_is(in, len, RPC_REPLY_TYPE)) {
        struct rpc_reply m;
        if ((r = rpc_decode_reply(in, len, &m, why)) == 0)
            r = rpc_encode_reply(&m, out, out_len);
        rpc_reply_free(&m);
    } else if (type_is(in, len, PROTO_JOB_CANCEL_TYPE)) {
        struct proto_job_cancel m;
        if ((r = proto_decode_job_cancel(in, len, &m, why)) == 0)
            r = proto_encode_job_cancel(&m, out, out_len);
    } else {
        struct proto_msg m;
        if ((r = proto_decode(in, len, &m, why)) == 0)
            r = proto_encode(&m, out, out_len);
        proto_msg_free(&m);
    }
    return r;
}

static void put_be32(uint32_t n) {
    unsigned char b[4] = { n >> 24, n >> 16, n >> 8, n };
    fwrite(b, 1, 4, stdout);
}

/* One message through the codecs: 0 with *out, or 2 with the reason in *out. */
static int one(const void *in, size_t len, char **out, size_t *out_len) {
    char why[ERR_WHY_LEN] = "";
    int r = roundtrip(in, len, out, out_len, why);
    if (r >= 0)
        return 0;
    *out = xasprintf("%s %s", err_name(r), why);
    *out_len = strlen(*out);
    return 2;
}

static int stream(void) {
    unsigned char h[4];
    while (fread(h, 1, 4, stdin) == 4) {
        size_t len = (size_t)h[0] << 24 | (size_t)h[1] << 16 | (size_t)h[2] << 8 | h[3];
        if (len > PROTO_MAX_BYTES + 1)
            return 1;
        _cleanup_free_ char *in = xmalloc(len ? len : 1), *out = NULL;
        size_t out_len = 0;
        if (fread(in, 1, len, stdin) != len)
            return 1;
        int status = one(in, len, &out, &out_len);
        putchar(status);
        put_be32((uint32_t)out_len);
        fwrite(out, 1, out_len, stdout);
    }
    return fflush(stdout) == 0 && !ferror(stdin) ? 0 : 1;
}

int main(int argc, char **argv) {
    if (argc == 2 && strcmp(argv[1], "--types") == 0) {
        for (int t = 0; t < PROTO_N_TYPES; t++)
            printf("%s\n", proto_type_to_string((enum proto_type)t));
        printf("%s\n%s\n%s\n", PROTO_JOB_CANCEL_TYPE, RPC_REQUEST_TYPE, RPC_REPLY_TYPE);
        return 0;
    }
    if (argc == 2 && strcmp(argv[1], "--stream") == 0)
        return stream();
    if (argc != 1) {
        fprintf(stderr, "usage: proto_roundtrip [--types | --stream] < message\n");
        return 1;
    }
    size_t cap = PROTO_MAX_BYTES + 2, len = 0, n;
    _cleanup_free_ char *in = xmalloc(cap), *out = NULL;
    while ((n = fread(in + len, 1, cap - len, stdin)) > 0)
        len += n;
    if (ferror(stdin)) {
        perror("proto_roundtrip: stdin");
        return 1;
    }
    size_t out_len = 0;
    int status = one(in, len, &out, &out_len);
    if (status)
        printf("%s\n", out);
    else if (fwrite(out, 1, out_len, stdout) != out_len)
        return 1;
    return fflush(stdout) == 0 ? status : 1;
}
