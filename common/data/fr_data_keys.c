/* External ids to dense rows. Every distinct id is stored once as text (integer ids
 * of the numeric formats as their canonical decimal), found again through an
 * open-addressing hash table, and at the end ordered as the data conventions say:
 * by integer value when every id in use is an integer, which keeps the PyTorch
 * peer's rows for numeric data, else by bytes. */
#include <stdlib.h>
#include <string.h>

#include "data/fr_data_int.h"

static uint64_t hash_bytes(const char *p, size_t n)
{
    uint64_t h = 0xcbf29ce484222325u;
    for (size_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)p[i]) * 0x100000001b3u;
    return h ^ (h >> 29);
}

static size_t key_len(const fr_data_keys *k, long i)
{
    size_t end = i + 1 < k->n ? k->off[i + 1] : k->text_len;
    return end - k->off[i] - 1;
}

/* Where key (p, n) is, or the empty slot where it would go. */
static size_t probe(const fr_data_keys *k, const char *p, size_t n)
{
    size_t mask = k->slots - 1, i = (size_t)hash_bytes(p, n) & mask;
    while (k->slot[i]) {
        long j = k->slot[i] - 1;
        if (key_len(k, j) == n && memcmp(k->text + k->off[j], p, n) == 0)
            break;
        i = (i + 1) & mask;
    }
    return i;
}

static fr_status grow_slots(fr_data_keys *k)
{
    size_t slots = k->slots ? 2 * k->slots : 1024;
    int32_t *fresh = calloc(slots, sizeof *fresh), *old = k->slot;
    if (!fresh)
        return FR_ENOMEM;
    k->slot = fresh;
    k->slots = slots;
    for (long j = 0; j < k->n; j++)
        k->slot[probe(k, k->text + k->off[j], key_len(k, j))] = (int32_t)(j + 1);
    free(old);
    return FR_OK;
}

static fr_status grow_keys(fr_data_keys *k)
{
    long cap = k->cap ? 2 * k->cap : 1024;
    size_t *off = realloc(k->off, (size_t)cap * sizeof *off);
    if (off)
        k->off = off;
    int64_t *num = realloc(k->num, (size_t)cap * sizeof *num);
    if (num)
        k->num = num;
    uint8_t *numeric = realloc(k->numeric, (size_t)cap);
    if (numeric)
        k->numeric = numeric;
    if (!off || !num || !numeric)
        return FR_ENOMEM;
    k->cap = cap;
    return FR_OK;
}

fr_status fr_data_keys_add(fr_data_keys *k, const char *p, size_t n, int numeric, int64_t v,
                           int32_t *idx)
{
    if ((size_t)(k->n + 1) * 2 > k->slots && grow_slots(k) != FR_OK)
        return FR_ENOMEM;
    size_t at = probe(k, p, n);
    if (k->slot[at]) {
        *idx = k->slot[at] - 1;
        return FR_OK;
    }
    if (k->n >= FR_DATA_MAX_ROWS)
        return FR_ENOMEM;
    if (k->n == k->cap && grow_keys(k) != FR_OK)
        return FR_ENOMEM;
    if (k->text_len + n + 1 > k->text_cap) {
        size_t cap = k->text_cap ? k->text_cap : 16384;
        while (k->text_len + n + 1 > cap)
            cap *= 2;
        char *text = realloc(k->text, cap);
        if (!text)
            return FR_ENOMEM;
        k->text = text;
        k->text_cap = cap;
    }
    k->off[k->n] = k->text_len;
    memcpy(k->text + k->text_len, p, n);
    k->text[k->text_len + n] = '\0';
    k->text_len += n + 1;
    k->num[k->n] = v;
    k->numeric[k->n] = numeric != 0;
    k->slot[at] = (int32_t)(k->n + 1);
    *idx = (int32_t)k->n++;
    return FR_OK;
}

long fr_data_keys_find(const fr_data_keys *k, const char *p, size_t n)
{
    if (!k->slots)
        return -1;
    size_t at = probe(k, p, n);
    return k->slot[at] ? k->slot[at] - 1 : -1;
}

void fr_data_keys_free(fr_data_keys *k)
{
    free(k->text);
    free(k->off);
    free(k->num);
    free(k->numeric);
    free(k->slot);
    memset(k, 0, sizeof *k);
}

typedef struct sort_key {
    const char *s;
    int64_t v;
    int32_t idx;
} sort_key;

static int by_value(const void *a, const void *b)
{
    int64_t x = ((const sort_key *)a)->v, y = ((const sort_key *)b)->v;
    return (x > y) - (x < y);
}

/* strcmp compares as unsigned char: byte-wise order, which for UTF-8 is code point
 * order. */
static int by_bytes(const void *a, const void *b)
{
    return strcmp(((const sort_key *)a)->s, ((const sort_key *)b)->s);
}

fr_status fr_data_keys_rows(const fr_data_keys *k, const long *use, int first, int32_t *row_of,
                            char ***keys, int64_t **ids, int *numeric, long *used)
{
    fr_status st = FR_ENOMEM;
    long m = 0;
    size_t bytes = 1; /* one shared "" for the rows before first */
    sort_key *order = NULL;
    *keys = NULL;
    *ids = NULL;
    *numeric = 1;
    for (long i = 0; i < k->n; i++) {
        row_of[i] = -1;
        if (use[i] > 0) {
            m++;
            bytes += key_len(k, i) + 1;
            *numeric = *numeric && k->numeric[i];
        }
    }
    *used = m;
    if (!(order = malloc((size_t)(m ? m : 1) * sizeof *order)))
        goto out;
    m = 0;
    for (long i = 0; i < k->n; i++)
        if (use[i] > 0)
            order[m++] = (sort_key){k->text + k->off[i], k->num[i], (int32_t)i};
    qsort(order, (size_t)m, sizeof *order, *numeric ? by_value : by_bytes);
    size_t head = (size_t)(first + m) * sizeof(char *);
    char **block = malloc(head + bytes);
    if (!block || (*numeric && !(*ids = calloc((size_t)(first + m), sizeof **ids)))) {
        free(block);
        goto out;
    }
    char *text = (char *)block + head;
    *text = '\0';
    for (int r = 0; r < first; r++)
        block[r] = text;
    text++;
    for (long r = 0; r < m; r++) {
        size_t n = key_len(k, order[r].idx) + 1;
        memcpy(text, order[r].s, n);
        block[first + r] = text;
        text += n;
        row_of[order[r].idx] = (int32_t)(first + r);
        if (*numeric)
            (*ids)[first + r] = order[r].v;
    }
    *keys = block;
    st = FR_OK;
out:
    free(order);
    return st;
}

fr_status fr_data_keys_block(const fr_data_keys *k, int first, char ***keys)
{
    size_t head = (size_t)(first + k->n) * sizeof(char *);
    char **block = malloc(head + 1 + k->text_len);
    *keys = NULL;
    if (!block)
        return FR_ENOMEM;
    /* The keys are already back to back, each NUL-terminated: one copy after the
     * shared "" of the rows before first. */
    char *text = (char *)block + head;
    *text = '\0';
    if (k->text_len)
        memcpy(text + 1, k->text, k->text_len);
    for (int r = 0; r < first; r++)
        block[r] = text;
    for (long i = 0; i < k->n; i++)
        block[first + i] = text + 1 + k->off[i];
    *keys = block;
    return FR_OK;
}
