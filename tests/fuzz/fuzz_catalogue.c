/* libFuzzer target: the two decoders of the living catalogue (docs/catalogue.md): a
 * catalogue file the coordinator reads from its state folder (fr_catver_decode), and
 * the proposals a node's join carries (fr_proposals_parse). The first input byte picks
 * the decoder, the rest is its input. A catalogue that decodes must have distinct
 * keys, tokens in range and flags of 0 or 1, and decode to itself once encoded again;
 * parsed proposals must be ids of printable bytes with counts in range. A refusal must
 * be a format or version status with a message. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fed/fr_catver.h"
#include "fed/fr_proposals.h"
#include "fr_fuzz_check.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void catalogue(const uint8_t *data, size_t size)
{
    fr_catver cv, again;
    fr_err err = {{0}};
    fr_status st = fr_catver_decode(&cv, data, size, "fuzz", &err);
    if (st != FR_OK) {
        if (st != FR_ENOMEM)
            need_refusal(st, &err);
        return;
    }
    need(cv.num_items >= 2 && cv.keys[0][0] == 0 && !cv.retired[0], "row 0 is padding");
    for (int r = 0; r < cv.num_items; r++) {
        need(cv.retired[r] <= 1, "flags are 0 or 1");
        for (int t = 0; t < cv.num_tokens; t++)
            need(cv.tokens[(size_t)r * cv.num_tokens + t] >= 0 &&
                     cv.tokens[(size_t)r * cv.num_tokens + t] < cv.token_vocab,
                 "tokens in range");
        for (int k = 1; k < r && r < 64; k++)
            need(strcmp(cv.keys[k], cv.keys[r]) != 0, "distinct keys");
    }
    uint8_t *buf = NULL;
    size_t len = 0;
    need(fr_catver_encode(&cv, &buf, &len, &err) == FR_OK, "a decoded catalogue encodes");
    need(fr_catver_decode(&again, buf, len, "again", &err) == FR_OK, "and decodes again");
    need(again.version == cv.version && again.num_items == cv.num_items &&
             !memcmp(again.retired, cv.retired, (size_t)cv.num_items),
         "to the same catalogue");
    fr_catver_free(&again);
    free(buf);
    fr_catver_free(&cv);
}

static void proposals(const uint8_t *data, size_t size)
{
    fr_proposal out[FR_PROPOSALS_MAX];
    int n = -1;
    fr_err err = {{0}};
    fr_status st = fr_proposals_parse(data, size, out, &n, &err);
    if (st != FR_OK) {
        need_refusal(st, &err);
        return;
    }
    need(n >= 0 && n <= FR_PROPOSALS_MAX, "at most the cap");
    for (int i = 0; i < n; i++) {
        size_t l = strlen(out[i].id);
        need(l >= 1 && l <= FR_UNKNOWN_MAX_KEY, "id length in range");
        for (size_t k = 0; k < l; k++)
            need((unsigned char)out[i].id[k] > 0x20 && (unsigned char)out[i].id[k] < 0x7f,
                 "printable id");
        need(out[i].count >= 1 && out[i].count <= 1000000000000L, "count in range");
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    if (data[0] & 1)
        proposals(data + 1, size - 1);
    else
        catalogue(data + 1, size - 1);
    return 0;
}
