/* proto_roundtrip.c - the C codecs as a filter, for tests written in other
 * languages (tests/docs/test_asyncapi.py, clients/python/tests): reads one
 * message on stdin, decodes it with the decoder of its "type" (proto.h,
 * rpc.h, control.h) and writes it back with the matching encoder.
 *
 * Exit 0: the re-encoded message on stdout.  Exit 2: refused; stdout holds
 * "<error name> <why>".  Exit 1: usage or I/O error. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "control.h"
#include "err.h"
#include "proto.h"
#include "rpc.h"
#include "util.h"
#include "wire.h"

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

int main(void) {
    size_t cap = PROTO_MAX_BYTES + 2, len = 0, n;
    _cleanup_free_ char *in = xmalloc(cap);
    while ((n = fread(in + len, 1, cap - len, stdin)) > 0)
        len += n;
    if (ferror(stdin)) {
        perror("proto_roundtrip: stdin");
        return 1;
    }
    char why[PROTO_WHY_LEN] = "";
    _cleanup_free_ char *out = NULL;
    size_t out_len = 0;
    int r = roundtrip(in, len, &out, &out_len, why);
    if (r < 0) {
        printf("%s %s\n", err_name(r), why);
        return 2;
    }
    return fwrite(out, 1, out_len, stdout) == out_len && fflush(stdout) == 0 ? 0 : 1;
}
