/* fuzz.h - shared bits of the libFuzzer targets in tests/fuzz.
 *
 * FUZZ_CHECK(cond, what): an invariant of the code under test; a violation
 * prints `what` and aborts, which libFuzzer records as a crash (with the
 * input saved as crash-<sha1>). */
#ifndef VMSEAL_FUZZ_H
#define VMSEAL_FUZZ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#define FUZZ_CHECK(cond, what)                                                                    \
    do {                                                                                          \
        if (!(cond)) {                                                                            \
            fprintf(stderr, "fuzz invariant violated: %s (%s:%d)\n", (what), __FILE__, __LINE__); \
            abort();                                                                              \
        }                                                                                         \
    } while (0)

static inline bool fuzz_is_zero(const void *p, size_t n) {
    const unsigned char *c = p;
    for (size_t i = 0; i < n; i++)
        if (c[i])
            return false;
    return true;
}

/* After a decoder refused the input: its output struct (pre-filled with
 * 0xa5) was zeroed and a reason was given. */
#define FUZZ_CHECK_REFUSED(s, why, fn)                                       \
    do {                                                                     \
        FUZZ_CHECK(fuzz_is_zero(&(s), sizeof(s)), fn ": struct not zeroed"); \
        FUZZ_CHECK((why)[0] != '\0', fn ": no reason given");                \
    } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#endif
