/* fuzz_seal_nmconn - libFuzzer target for the NetworkManager connection
 * rewrite of net-nm-macaddr (the line filter with its keys,
 * worker/seal/seal_text.h); invariants in fuzz_seal_text.h. */
#include "fuzz_seal_text.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    fuzz_check_filter((const char *)data, size, seal_keys_nm_macaddr);
    return 0;
}
