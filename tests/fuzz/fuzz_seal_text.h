/* fuzz_seal_text.h - invariants shared by the fuzz targets of the seal
 * engine's guest text (worker/seal/seal_text.h). */
#ifndef VMSEAL_FUZZ_SEAL_TEXT_H
#define VMSEAL_FUZZ_SEAL_TEXT_H

#include <string.h>

#include "fuzz.h"
#include "seal_text.h"
#include "util.h"

/* Every byte value occurs in out at most as often as in in (plus extra_nl
 * newlines): nothing, control characters included, was made up. */
static inline void fuzz_check_no_new_bytes(const char *in, size_t len, const char *out, size_t out_len,
                                           size_t extra_nl) {
    size_t count[256] = { 0 };
    for (size_t i = 0; i < len; i++)
        count[(unsigned char)in[i]]++;
    count['\n'] += extra_nl;
    for (size_t i = 0; i < out_len; i++)
        FUZZ_CHECK(count[(unsigned char)out[i]]-- > 0, "a byte the input did not have");
}

/* The line filter with keys: output no longer than the input and made of
 * its bytes, a line was dropped exactly when it is shorter, no kept line
 * starts with a key, and filtering the output again changes nothing. */
static inline void fuzz_check_filter(const char *text, size_t len, const char *const *keys) {
    char *out = NULL, *again = NULL;
    size_t out_len = 0, again_len = 0;
    bool dropped = seal_text_filter_lines(text, len, seal_text_keep_unless_key, keys, &out, &out_len);
    FUZZ_CHECK(out_len <= len, "filtered text longer than the input");
    FUZZ_CHECK(dropped == (out_len < len), "dropped flag wrong");
    FUZZ_CHECK(out[out_len] == '\0', "filtered text not terminated");
    fuzz_check_no_new_bytes(text, len, out, out_len, 0);
    for (size_t pos = 0; pos < out_len;) {
        const char *nl = memchr(out + pos, '\n', out_len - pos);
        size_t l = nl ? (size_t)(nl - out - pos) : out_len - pos;
        FUZZ_CHECK(seal_text_keep_unless_key(out + pos, l, keys), "a dropped key kept");
        pos += nl ? l + 1 : l;
    }
    FUZZ_CHECK(!seal_text_filter_lines(out, out_len, seal_text_keep_unless_key, keys, &again, &again_len),
               "filter not idempotent");
    FUZZ_CHECK(again_len == out_len && memcmp(again, out, out_len) == 0, "filter not idempotent");
    free(again);
    free(out);
}

#endif
