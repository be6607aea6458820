/* fuzz_seal_selinux - libFuzzer target for the SELinux config reader
 * (seal_text_selinux_enabled, worker/seal/seal_text.h): enabled only with a
 * SELINUX= line; the last SELINUX= line counts (a disabled line appended
 * turns it off, an enforcing one on). */
#include "fuzz_seal_text.h"

static bool with_line(const char *text, size_t len, const char *line) {
    size_t l = strlen(line);
    char *buf = xmalloc(len + l);
    memcpy(buf, text, len);
    memcpy(buf + len, line, l);
    bool on = seal_text_selinux_enabled(buf, len + l);
    free(buf);
    return on;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *text = (const char *)data;
    bool on = seal_text_selinux_enabled(text, size);
    FUZZ_CHECK(!on || memmem(text, size, "SELINUX=", 8), "enabled without a SELINUX= line");
    FUZZ_CHECK(!with_line(text, size, "\nSELINUX=disabled\n"), "a later disabled line ignored");
    FUZZ_CHECK(with_line(text, size, "\nSELINUX=enforcing\n"), "a later enforcing line ignored");
    return 0;
}
