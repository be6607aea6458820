/* fuzz_qemu_img_info - libFuzzer target for the parser of `qemu-img info
 * --backing-chain --output=json` (worker/sd/qemu_img.h qemu_img_info_parse,
 * jansson).  The input is qemu-img's output; the confinement root is /tmp.
 * What parses has a format that fits and a non-negative size; what does not
 * says why. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "qemu_img.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char *text = malloc(size + 1);
    memcpy(text, data, size);
    text[size] = '\0';
    struct qemu_img_info info;
    memset(&info, 0xa5, sizeof info);
    char why[ERR_WHY_LEN] = "";
    if (qemu_img_info_parse(text, "/tmp", &info, why) == 0) {
        FUZZ_CHECK(info.virtual_size >= 0, "negative virtual size accepted");
        FUZZ_CHECK(memchr(info.format, '\0', sizeof info.format) && info.format[0], "format not a short string");
    } else {
        FUZZ_CHECK(why[0] != '\0', "qemu_img_info_parse: no reason given");
    }
    free(text);
    return 0;
}
