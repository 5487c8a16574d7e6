/* Content tokens: FNV-1a 32 hashing into token rows and the item token builder. The
 * rules are the spec's to the byte, because the PyTorch peer builds the same rows
 * from the same files: one differing hash and exported weights no longer line up. */
#include <string.h>

#include "data/fr_data_int.h"

#define FNV_OFFSET 0x811c9dc5u
#define FNV_PRIME 0x01000193u

uint32_t fr_fnv1a32(const void *data, size_t len)
{
    const unsigned char *p = data;
    uint32_t h = FNV_OFFSET;
    for (size_t i = 0; i < len; i++) {
        h ^= p[i];
        h *= FNV_PRIME;
    }
    return h;
}

int32_t fr_token_row(const char *token, size_t len, int vocab)
{
    FR_ASSERT(vocab >= 2);
    return (int32_t)(fr_fnv1a32(token, len) % (uint32_t)(vocab - 1)) + 1;
}

static int is_punct(unsigned char c)
{
    return (c >= '!' && c <= '/') || (c >= ':' && c <= '@') || (c >= '[' && c <= '`') ||
           (c >= '{' && c <= '~');
}

static int is_ascii_space(unsigned char c)
{
    return c == ' ' || (c >= '\t' && c <= '\r');
}

void fr_data_tok_begin(fr_data_tok *t, int32_t *out, int num_tokens, int vocab)
{
    FR_ASSERT(num_tokens >= 1 && vocab >= 2);
    t->out = out;
    t->k = 0;
    t->n = num_tokens;
    t->vocab = vocab;
    memset(out, 0, (size_t)num_tokens * sizeof *out);
}

void fr_data_tok_add(fr_data_tok *t, const char *p, size_t n)
{
    if (t->k >= t->n || n == 0 || (n == 18 && !memcmp(p, "(no genres listed)", 18)) ||
        (n == 7 && !memcmp(p, "unknown", 7)))
        return;
    t->out[t->k++] = fr_token_row(p, n, t->vocab);
}

void fr_data_tok_list(fr_data_tok *t, const char *p, size_t n, char sep)
{
    size_t s = 0;
    for (size_t i = 0; i <= n && t->k < t->n; i++)
        if (i == n || p[i] == sep) {
            fr_data_tok_add(t, p + s, i - s);
            s = i + 1;
        }
}

void fr_data_tok_title(fr_data_tok *t, const char *p, size_t n)
{
    size_t wlen = 0;
    uint32_t h = FNV_OFFSET;
    /* Words hashed as they stream by: FNV-1a needs only the running state, and a
     * deleted punctuation byte simply never enters it. */
    for (size_t i = 0; i <= n && t->k < t->n; i++) {
        unsigned char c = i < n ? (unsigned char)p[i] : ' ';
        if (is_punct(c))
            continue;
        if (is_ascii_space(c)) {
            if (wlen)
                t->out[t->k++] = (int32_t)(h % (uint32_t)(t->vocab - 1)) + 1;
            h = FNV_OFFSET;
            wlen = 0;
            continue;
        }
        if (c >= 'A' && c <= 'Z')
            c = (unsigned char)(c - 'A' + 'a');
        h = (h ^ c) * FNV_PRIME;
        wlen++;
    }
}

int fr_item_tokens(const char *genres, const char *title, int num_tokens, int vocab, int32_t *out)
{
    fr_data_tok t;
    fr_data_tok_begin(&t, out, num_tokens, vocab);
    genres = genres ? genres : "";
    title = title ? title : "";
    fr_data_tok_list(&t, genres, strlen(genres), '|');
    fr_data_tok_title(&t, title, strlen(title));
    return t.k;
}
