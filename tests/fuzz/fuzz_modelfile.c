/* libFuzzer target: model files (fr_modelfile_decode), as a node reads the global model
 * it downloads and the coordinator its checkpoints, on the CPU backend.
 *
 * Input layout: one byte of options, then the file image. With bit 0 of the options
 * clear, the header's body length and CRC are set to match the image before it is
 * decoded, so that mutations reach the body's parser instead of stopping at the
 * checksum; with it set, the image is decoded as it is, header and all.
 *
 * A file that decodes must give a model whose config passes the model's own check,
 * whose views lie inside its buffers with zero padding between them, and whose item
 * tables keep the rules of the format; a file that does not must fail with a status
 * and a message and leave the model zeroed. Whatever the outcome, no single allocation
 * made while decoding may exceed twice the file's size plus 4 MiB: a valid file holds
 * every tensor, item table and key that the model allocates for, so a larger block
 * means that a size read from the file was trusted before the bytes behind it were
 * seen. (-malloc_limit_mb catches only the gigabyte cases of the same fault.) */
#include <sanitizer/allocator_interface.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/fr_backend.h"
#include "nn/fr_model.h"
#include "nn/fr_modelfile.h"

#define OPT_RAW 1u
/* Beyond the file's bytes: the 1 MiB staging buffer and the CPU backend's rounding of
 * large blocks to 2 MiB huge pages. */
#define ALLOC_SLACK ((size_t)4 << 20)

static size_t largest; /* the largest block allocated while watching */
static int watching;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void need(int ok, const char *what)
{
    if (!ok) {
        fprintf(stderr, "invariant broken: %s\n", what);
        abort();
    }
}

/* Decoding is single-threaded, so plain statics suffice. */
static void on_malloc(const volatile void *p, size_t n)
{
    (void)p;
    if (watching && n > largest)
        largest = n;
}

static void on_free(const volatile void *p)
{
    (void)p;
}

static void put_le(uint8_t *dst, uint64_t v, int bytes)
{
    for (int i = 0; i < bytes; i++)
        dst[i] = (uint8_t)(v >> (8 * i));
}

static void check_model(const fr_model *m)
{
    fr_err err = {{0}};
    const fr_model_config *c = &m->cfg;
    need(fr_model_config_check(c, &err) == FR_OK, "config passes the model's check");
    size_t V = (size_t)c->num_items, T = (size_t)c->num_tokens, end = 0;
    for (int i = 0; i < FR_NPARAMS; i++) {
        need(m->p[i].offset >= end, "views in order, apart");
        end = m->p[i].offset + m->p[i].size;
    }
    need(end <= m->n, "views inside the buffers");
    float *host = malloc(m->n * sizeof(float));
    need(host != NULL, "memory for the parameters");
    m->be->download(host, m->params, m->n * sizeof(float));
    size_t at = 0;
    for (int i = 0; i < FR_NPARAMS; i++) {
        for (size_t k = at; k < m->p[i].offset; k++)
            need(host[k] == 0.0f, "padding between views stays zero");
        at = m->p[i].offset + m->p[i].size;
    }
    for (size_t k = at; k < m->n; k++)
        need(host[k] == 0.0f, "padding after the last view stays zero");
    free(host);
    for (size_t k = 0; k < T; k++)
        need(m->item_tokens[k] == 0, "the padding item has no tokens");
    for (size_t k = 0; k < V * T; k++)
        need(m->item_tokens[k] >= 0 && m->item_tokens[k] < c->token_vocab, "token rows");
    if (m->item_keys) {
        need(m->item_keys[0][0] == 0, "the padding item's key is empty");
        for (size_t r = 1; r < V; r++) {
            size_t n = strlen(m->item_keys[r]);
            need(n >= 1 && n <= FR_MODEL_MAX_KEY, "item keys non-empty and bounded");
        }
    }
    need(m->adam_step >= 0, "optimiser steps not negative");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int hooked;
    if (!hooked)
        hooked = __sanitizer_install_malloc_and_free_hooks(on_malloc, on_free);
    if (size < 1)
        return 0;
    unsigned opt = data[0];
    size_t len = size - 1;
    /* An exact-size copy, so that AddressSanitizer sees a read past the image's end. */
    uint8_t *img = malloc(len ? len : 1);
    need(img != NULL, "memory for the image");
    memcpy(img, data + 1, len);
    if (!(opt & OPT_RAW) && len >= FR_MODELFILE_HEADER_BYTES) {
        size_t body = len - FR_MODELFILE_HEADER_BYTES;
        put_le(img + 16, body, 8);
        put_le(img + 24, fr_modelfile_crc32(0, img + FR_MODELFILE_HEADER_BYTES, body), 4);
    }
    fr_model m;
    fr_err err = {{0}};
    largest = 0;
    watching = 1;
    fr_status st = fr_modelfile_decode(&m, fr_backend_cpu(), img, len, "fuzz", &err);
    watching = 0;
    if (largest > 2 * len + ALLOC_SLACK) {
        fprintf(stderr, "a %zu-byte file made the decoder allocate %zu bytes at once\n", len,
                largest);
        need(0, "allocations in proportion to the file");
    }
    if (st == FR_OK) {
        check_model(&m);
        fr_model_free(&m);
    } else {
        static const fr_model zero;
        need(st == FR_EFORMAT || st == FR_EVERSION || st == FR_ECHECKSUM || st == FR_ENOMEM,
             "a refusal is a format, version, checksum or size error");
        need(!strncmp(err.msg, "fuzz: ", 6) && memchr(err.msg, 0, sizeof err.msg),
             "a refusal names the input and says why");
        need(!memcmp(&m, &zero, sizeof m), "a refused file leaves the model zeroed");
    }
    free(img);
    return 0;
}
