/* fuzz_seal_ifcfg - libFuzzer target for the sysconfig rewriters
 * (worker/seal/seal_text.h): the ifcfg line filters of net-hostname and
 * net-hwaddr (invariants in fuzz_seal_text.h), and the HOSTNAME= rewrite of
 * /etc/sysconfig/network: at most len + the new line's length, no byte
 * made up but the new line's, exactly one HOSTNAME= line and it is ours,
 * idempotent. */
#include "fuzz_seal_text.h"

#define HOSTNAME "tpl-host"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *text = (const char *)data;
    fuzz_check_filter(text, size, seal_keys_ifcfg_hostname);
    fuzz_check_filter(text, size, seal_keys_ifcfg_hwaddr);

    /* The rewrite gives a C string: a NUL in the file ends what is
     * written (as before the split; a NUL has no place in that file). */
    if (memchr(text, '\0', size))
        return 0;
    char *out = seal_text_sysconfig_network(text, size, HOSTNAME);
    if (!out)
        return 0;
    size_t out_len = strlen(out);
    const char *line = "HOSTNAME=" HOSTNAME "\n";
    size_t l = strlen(line), keys = 0, ours = 0;
    FUZZ_CHECK(out_len <= size + l, "rewrite longer than the bound");
    for (size_t pos = 0; pos < out_len;) {
        const char *nl = memchr(out + pos, '\n', out_len - pos);
        FUZZ_CHECK(nl, "a line without its newline");
        size_t n = (size_t)(nl - out - pos) + 1;
        if (seal_line_has_key(out + pos, n, "HOSTNAME=")) {
            FUZZ_CHECK(n == l && memcmp(out + pos, line, l) == 0, "a HOSTNAME= line not ours");
            keys++;
            ours = pos;
        }
        pos += n;
    }
    FUZZ_CHECK(keys == 1, "not exactly one HOSTNAME= line");
    /* Without our line, the rest is made of the input's bytes (and one
     * newline for an unterminated last line). */
    char *rest = xmalloc(out_len - l + 1);
    memcpy(rest, out, ours);
    memcpy(rest + ours, out + ours + l, out_len - ours - l);
    fuzz_check_no_new_bytes(text, size, rest, out_len - l, 1);
    free(rest);
    char *again = seal_text_sysconfig_network(out, out_len, HOSTNAME);
    FUZZ_CHECK(again && strcmp(again, out) == 0, "HOSTNAME= rewrite not idempotent");
    free(again);
    free(out);
    return 0;
}
