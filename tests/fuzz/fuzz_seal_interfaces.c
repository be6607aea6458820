/* fuzz_seal_interfaces - libFuzzer target for the Debian
 * /etc/network/interfaces rewrite of net-interfaces-hwaddr (the line filter
 * with its keys, worker/seal/seal_text.h); invariants in fuzz_seal_text.h. */
#include "fuzz_seal_text.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    fuzz_check_filter((const char *)data, size, seal_keys_interfaces_hwaddr);
    return 0;
}
