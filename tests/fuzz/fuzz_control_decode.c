/* fuzz_control_decode - libFuzzer target for proto/control.h
 * (proto_decode_job_cancel): no crash, a zeroed struct and a reason on
 * failure, canonical ids and a faithful re-encoding on success. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "control.h"
#include "fuzz.h"
#include "util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    struct proto_job_cancel c;
    char why[ERR_WHY_LEN] = "";
    memset(&c, 0xa5, sizeof c);
    if (proto_decode_job_cancel(data, size, &c, why) < 0) {
        FUZZ_CHECK_REFUSED(c, why, "proto_decode_job_cancel");
        return 0;
    }
    FUZZ_CHECK(uuid_is_canonical(c.job_id) && uuid_is_canonical(c.template_id), "job.cancel: ids not canonical");
    char *buf = NULL;
    size_t len = 0;
    FUZZ_CHECK(proto_encode_job_cancel(&c, &buf, &len) == 0, "a decoded job.cancel does not re-encode");
    struct proto_job_cancel again;
    FUZZ_CHECK(proto_decode_job_cancel(buf, len, &again, why) == 0, "re-encoded job.cancel does not decode");
    FUZZ_CHECK(memcmp(&again, &c, sizeof c) == 0, "re-encoded job.cancel changed");
    free(buf);
    return 0;
}
