/* libFuzzer target: the sasrec reader (driver and input layout in fr_fuzz.h). */
#include "fr_fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    return fuzz_format("sasrec", data, size);
}
