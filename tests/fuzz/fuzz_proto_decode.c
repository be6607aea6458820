/* fuzz_proto_decode - libFuzzer target for every decoder of proto/proto.h
 * (a seal's files on their own included: proto_files_decode).
 *
 * The input goes through proto_decode() (the dispatcher) and through each
 * message's own decoder, so a type confusion between them is exercised too.
 * Invariants checked beyond "no crash, no leak, no UB" (ASan + UBSan):
 *   - a decoder that fails gives a reason and leaves nothing to free: its
 *     struct was filled with 0xa5 garbage before the call, then *_free() runs
 *     on it (ASan catches a stale pointer, LeakSanitizer a leak);
 *   - what proto_decode() accepts re-encodes (encoders self-check by decoding
 *     their own output) and the re-encoded bytes decode again.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "proto.h"

/* Decode with one typed decoder; on failure the struct must be all zero. */
#define TRY_DECODE(fn, T, freefn)                                            \
    do {                                                                     \
        T s;                                                                 \
        char why_[ERR_WHY_LEN] = "";                                         \
        memset(&s, 0xa5, sizeof s);                                          \
        if (fn(data, size, &s, why_) < 0) {                                  \
            FUZZ_CHECK(why_[0] != '\0', #fn ": no reason given");            \
        }                                                                    \
        freefn(&s); /* after a failure: nothing to free, must be harmless */ \
    } while (0)

static void noop_free(struct proto_template_cancel *c) { (void)c; }

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    struct proto_msg m;
    char why[ERR_WHY_LEN] = "";

    if (proto_decode(data, size, &m, why) == 0) {
        char *buf = NULL;
        size_t len = 0;
        int r = proto_encode(&m, &buf, &len);
        FUZZ_CHECK(r == 0, "a decoded message does not re-encode");
        struct proto_msg again;
        FUZZ_CHECK(proto_decode(buf, len, &again, why) == 0, "re-encoded message does not decode");
        FUZZ_CHECK(again.type == m.type, "re-encoded message changed type");
        proto_msg_free(&again);
        free(buf);
        proto_msg_free(&m);
    } else {
        FUZZ_CHECK(why[0] != '\0', "proto_decode: no reason given");
    }

    TRY_DECODE(proto_decode_template_create, struct proto_template_create, proto_template_create_free);
    TRY_DECODE(proto_decode_template_cancel, struct proto_template_cancel, noop_free);
    TRY_DECODE(proto_decode_job, struct proto_job, proto_job_free);
    TRY_DECODE(proto_decode_event, struct proto_event, proto_event_free);
    TRY_DECODE(proto_decode_heartbeat, struct proto_heartbeat, proto_heartbeat_free);
    TRY_DECODE(proto_files_decode, struct proto_files, proto_files_free);

    /* a seal's files on their own (what the producer stores) re-encode too */
    struct proto_files f;
    if (proto_files_decode(data, size, &f, why) == 0) {
        char *buf = NULL;
        size_t len = 0;
        FUZZ_CHECK(proto_files_encode(&f, &buf, &len) == 0, "decoded files do not re-encode");
        free(buf);
        proto_files_free(&f);
    }
    return 0;
}
