/* What every libFuzzer target shares: its entry point and a check that
 * aborts, so libFuzzer records the input that broke an invariant. */

#ifndef CASHE_FUZZ_H
#define CASHE_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                            \
    do {                                                                       \
        if (!(cond)) {                                                         \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__,   \
                    #cond);                                                    \
            abort();                                                           \
        }                                                                      \
    } while (0)

#endif /* CASHE_FUZZ_H */
