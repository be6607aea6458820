/* fuzz_rpc_decode - libFuzzer target for the decoders of proto/rpc.h:
 * rpc_decode_request(), rpc_decode_reply() and proto_peek_template_id().
 * What decodes must re-encode and decode again; a failed decode leaves its
 * struct zeroed with a reason; a failed peek leaves "". */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "rpc.h"
#include "util.h"

static void check_request(const uint8_t *data, size_t size) {
    struct rpc_request rq;
    char why[ERR_WHY_LEN] = "";
    memset(&rq, 0xa5, sizeof rq);
    if (rpc_decode_request(data, size, &rq, why) < 0) {
        FUZZ_CHECK_REFUSED(rq, why, "rpc_decode_request");
        return;
    }
    char *buf = NULL;
    size_t len = 0;
    FUZZ_CHECK(rpc_encode_request(&rq, &buf, &len) == 0, "a decoded rpc.request does not re-encode");
    struct rpc_request again;
    FUZZ_CHECK(rpc_decode_request(buf, len, &again, why) == 0, "re-encoded rpc.request does not decode");
    FUZZ_CHECK(again.method == rq.method, "re-encoded rpc.request changed method");
    rpc_request_free(&again);
    free(buf);
    rpc_request_free(&rq);
}

static void check_reply(const uint8_t *data, size_t size) {
    struct rpc_reply rp;
    char why[ERR_WHY_LEN] = "";
    memset(&rp, 0xa5, sizeof rp);
    if (rpc_decode_reply(data, size, &rp, why) < 0) {
        FUZZ_CHECK_REFUSED(rp, why, "rpc_decode_reply");
        return;
    }
    char *buf = NULL;
    size_t len = 0;
    FUZZ_CHECK(rpc_encode_reply(&rp, &buf, &len) == 0, "a decoded rpc.reply does not re-encode");
    struct rpc_reply again;
    FUZZ_CHECK(rpc_decode_reply(buf, len, &again, why) == 0, "re-encoded rpc.reply does not decode");
    FUZZ_CHECK(again.ok == rp.ok && again.method == rp.method, "re-encoded rpc.reply changed");
    rpc_reply_free(&again);
    free(buf);
    rpc_reply_free(&rp);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    check_request(data, size);
    check_reply(data, size);
    proto_uuid id;
    memset(id, 0xa5, sizeof id);
    if (proto_peek_template_id(data, size, id) == 0)
        FUZZ_CHECK(uuid_is_canonical(id), "proto_peek_template_id: not a canonical uuid");
    else
        FUZZ_CHECK(id[0] == '\0', "proto_peek_template_id: failure left an id");
    return 0;
}
