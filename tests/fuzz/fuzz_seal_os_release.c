/* fuzz_seal_os_release - libFuzzer target for the os-release parser
 * (seal_text_os_release, worker/seal/seal_text.h): the family is one known
 * value, and the distro ID fits its buffer and is made of the input's bytes
 * (nothing introduced; it is reported and logged escaped). */
#include "fuzz_seal_text.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char *text = xmalloc(size + 1);
    memcpy(text, data, size);
    text[size] = '\0';
    char distro[32];
    memset(distro, 0xa5, sizeof(distro));
    enum seal_family f = seal_text_os_release(text, distro, sizeof(distro));
    FUZZ_CHECK(f == SEAL_FAMILY_DEBIAN || f == SEAL_FAMILY_REDHAT || f == SEAL_FAMILY_SUSE ||
                   f == SEAL_FAMILY_OTHER,
               "family not one known value");
    size_t n = strnlen(distro, sizeof(distro));
    FUZZ_CHECK(n < sizeof(distro), "distro not terminated");
    FUZZ_CHECK(n <= size, "distro longer than the input");
    fuzz_check_no_new_bytes(text, size, distro, n, 0);
    FUZZ_CHECK(!memchr(distro, '\n', n), "distro spans lines");
    free(text);
    return 0;
}
