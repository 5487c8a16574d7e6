/* libFuzzer target: a node's share ciphertexts as the coordinator reads them
 * (fr_secagg_shares_decode). Layout and checks: fr_fuzz_secagg.h. */
#include "fr_fuzz_secagg.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void one(const uint8_t *body, size_t len, int n)
{
    fuzz_shares_msg(body, len, n, fr_secagg_shares_decode, fr_secagg_shares_encode);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    FUZZ_SECAGG_BOTH(data, size, one);
    return 0;
}
