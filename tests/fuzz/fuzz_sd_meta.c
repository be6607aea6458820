/* fuzz_sd_meta - libFuzzer target for the .meta parser (worker/sd.h
 * sd_meta_parse).  Each input is parsed twice: without expectations, and
 * expecting the DOMAIN/IMAGE of the fixed seed ids (so the checks behind a
 * matching id are reached too).  What parses must format (sd_meta_format)
 * and the formatted text must parse back to the same struct. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "sd.h"

#define SEED_DOMAIN "5a4e7c1e-2f2b-4c1f-9d51-0d8f4b7c2a11"
#define SEED_IMAGE  "8b1f6a2c-3d4e-4f50-8a61-7b2c9d0e1f32"

static void check(const uint8_t *data, size_t size, const char *dom, const char *img) {
    struct vol_meta m;
    char why[ERR_WHY_LEN] = "";
    if (sd_meta_parse((const char *)data, size, dom, img, &m, why) < 0) {
        FUZZ_CHECK(why[0] != '\0', "sd_meta_parse: no reason given");
        return;
    }
    char *text = NULL;
    size_t len = 0;
    FUZZ_CHECK(sd_meta_format(&m, &text, &len, why) == 0, "parsed metadata does not format");
    struct vol_meta again;
    FUZZ_CHECK(sd_meta_parse(text, len, dom, img, &again, why) == 0, "formatted metadata does not parse");
    FUZZ_CHECK(memcmp(&again, &m, sizeof m) == 0 ||
                   (again.cap_bytes == m.cap_bytes && again.gen == m.gen && again.legality == m.legality &&
                    again.voltype == m.voltype && again.format == m.format &&
                    strcmp(again.description, m.description) == 0 && strcmp(again.puuid, m.puuid) == 0),
               "metadata changed in a format/parse round trip");
    free(text);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    check(data, size, NULL, NULL);
    check(data, size, SEED_DOMAIN, SEED_IMAGE);
    return 0;
}
