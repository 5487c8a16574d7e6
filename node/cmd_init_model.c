/* fedrecall-node init-model: the initial model of a federation, built from an item file
 * alone (movies.csv, u.item, items.csv), before any node has trained. Its rows are the
 * catalogue every node then loads its data onto, so that all of them train the same
 * item rows; the sizes default to train's, so that its parameters fit a node's run. */
#include <stdio.h>

#include "backend/fr_backend.h"
#include "fr_cmd.h"
#include "data/fr_items.h"
#include "nn/fr_model.h"
#include "nn/fr_modelfile.h"
#include "util/fr_opts.h"

int fr_cmd_init_model(int argc, char **argv)
{
    const char *items_path = NULL, *format = NULL, *out_path = NULL;
    int dim = 64, filters = 64, tokens = 8, vocab = 4096, help = 0;
    uint64_t seed = 1;
    fr_opt opts[] = {
        {"items", FR_OPT_STR, &items_path, 0, 0, "data folder holding the item file", 1, 0},
        {"format", FR_OPT_STR, &format, 0, 0,
         "data format: movielens-csv, movielens-100k, events-csv", 1, 0},
        {"out", FR_OPT_STR, &out_path, 0, 0, "write the model file here", 1, 0},
        {"dim", FR_OPT_INT, &dim, 1, 4096, "embedding and GRU size d", 0, 0},
        {"filters", FR_OPT_INT, &filters, 1, 4096, "conv filters F", 0, 0},
        {"tokens", FR_OPT_INT, &tokens, 1, 1024, "content tokens per item T", 0, 0},
        {"token-vocab", FR_OPT_INT, &vocab, 2, 1 << 24, "hashed token rows Vt", 0, 0},
        {"seed", FR_OPT_U64, &seed, 0, 0, "random seed of the initial parameters", 0, 0},
        {"help", FR_OPT_FLAG, &help, 0, 0, "show this help", 0, 0},
        {0},
    };
    if (fr_opts_handle_help(argc, argv,
                            "fedrecall-node init-model --items PATH --format FMT --out FILE "
                            "[OPTIONS]",
                            opts,
                            "fedrecall-node init-model --items ml-latest-small --format "
                            "movielens-csv --out global-0.frm"))
        return 0;
    fr_err err = {{0}};
    fr_status st = fr_opts_parse(opts, argc, argv, &err);
    if (st)
        return fr_cmd_fail("init-model", st, err.msg);
    fr_items it = {0};
    fr_model model = {0};
    int rc = 1;
    if ((st = fr_items_load(&it, items_path, format, tokens, vocab, &err)) != FR_OK)
        goto fail;
    fr_model_config mc = {.num_items = it.num_items,
                          .token_vocab = vocab,
                          .num_tokens = tokens,
                          .dim = dim,
                          .filters = filters};
    if ((st = fr_model_init(&model, &mc, fr_backend_cpu(), it.tokens, it.item_ids, &err)) != FR_OK)
        goto fail;
    if (!it.numeric &&
        (st = fr_model_set_item_keys(&model, (const char *const *)it.item_keys, &err)) != FR_OK)
        goto fail;
    fr_model_init_params(&model, seed);
    if ((st = fr_modelfile_save(&model, out_path, 0, &err)) != FR_OK)
        goto fail;
    printf("init-model: %d items (%s ids) from %s (%ld rows, %ld malformed skipped), %zu "
           "parameters, wrote %s\n",
           it.num_items - 1, it.numeric ? "integer" : "string", it.file, it.rows_read,
           it.rows_skipped, model.n, out_path);
    rc = 0;
    goto out;
fail:
    rc = fr_cmd_fail("init-model", st, err.msg);
out:
    fr_model_free(&model);
    fr_items_free(&it);
    return rc;
}
