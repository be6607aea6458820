/* fuzz_seal_lines - libFuzzer target for the line filter and key match the
 * operations use (seal_text_filter_lines, seal_line_has_key,
 * worker/seal/seal_text.h) with keys the fuzzer picks: the input's first
 * line is the key, the rest the text.  Invariants in fuzz_seal_text.h, and
 * seal_line_has_key against a plain reading of its contract. */
#include "fuzz_seal_text.h"

static bool has_key_ref(const char *line, size_t len, const char *key, size_t klen) {
    size_t i = 0;
    while (i < len && (line[i] == ' ' || line[i] == '\t'))
        i++;
    return len - i >= klen && memcmp(line + i, key, klen) == 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *in = (const char *)data;
    const char *nl = memchr(in, '\n', size);
    if (!nl)
        return 0;
    size_t klen = (size_t)(nl - in);
    if (klen == 0 || memchr(in, '\0', klen))
        return 0; /* keys are non-empty C strings */
    char *key = xstrndup(in, klen);
    const char *text = nl + 1;
    size_t len = size - klen - 1;
    for (size_t pos = 0; pos < len;) {
        const char *e = memchr(text + pos, '\n', len - pos);
        size_t l = e ? (size_t)(e - text - pos) : len - pos;
        FUZZ_CHECK(seal_line_has_key(text + pos, l, key) == has_key_ref(text + pos, l, key, klen),
                   "seal_line_has_key differs from its contract");
        pos += e ? l + 1 : l;
    }
    const char *const keys[] = { key, NULL };
    fuzz_check_filter(text, len, keys);
    free(key);
    return 0;
}
