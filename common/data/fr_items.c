/* Item catalogues read from a content file alone (fr_items.h). The reading is the data
 * module's, in its collect mode: the same row parsers and token builder as a load of
 * behaviour data, so that the rows and tokens of a model built from a catalogue line
 * up with those that training on the same folder would give. */
#include "data/fr_items.h"

#include <stdlib.h>
#include <string.h>

#include "data/fr_data_int.h"

fr_status fr_items_load(fr_items *it, const char *path, const char *format, int num_tokens,
                        int token_vocab, fr_err *err)
{
    fr_data_load ld;
    fr_dataset ds;
    fr_err local = {{0}};
    fr_status st;
    err = err ? err : &local;
    err->msg[0] = '\0';
    memset(it, 0, sizeof *it);
    if ((st = fr_data_load_begin(&ld, &ds, format, num_tokens, token_vocab, NULL, err)) != FR_OK)
        goto out;
    int has_items = 0;
    for (int i = 0; i < 2 && ld.fmt->content[i].name; i++)
        has_items = has_items || ld.fmt->content[i].counted;
    if (!has_items) {
        st = fr_fail(err, FR_EINVAL,
                     "%s data has no item file; give the items as movies.csv "
                     "(movielens-csv), u.item (movielens-100k) or items.csv (events-csv)",
                     ld.fmt->name);
        goto out;
    }
    if (!path) {
        st = fr_fail(err, FR_EINVAL, "an item folder path is required");
        goto out;
    }
    ld.collect = 1;
    if ((st = fr_data_read_content_files(&ld, path, 1)) == FR_OK)
        st = fr_data_collect_rows(&ld);
out:
    st = fr_data_load_end(&ld, st);
    if (st == FR_OK) {
        /* The dataset's catalogue changes owner; nothing else of it was built. */
        it->num_items = ds.num_items;
        it->numeric = ds.item_ids_numeric;
        it->item_ids = ds.item_ids;
        it->item_keys = ds.item_keys;
        it->tokens = ds.tokens;
        it->num_tokens = ds.num_tokens;
        it->token_vocab = ds.token_vocab;
        ds.item_ids = NULL;
        ds.item_keys = NULL;
        ds.tokens = NULL;
    }
    it->rows_read = ds.report.content_rows;
    it->rows_skipped = ds.report.content_skipped;
    it->n_skipped_lines = ds.report.n_content_lines;
    memcpy(it->skipped_lines, ds.report.content_lines, sizeof it->skipped_lines);
    memcpy(it->file, ds.report.content_file, sizeof it->file);
    fr_dataset_free(&ds);
    return st;
}

void fr_items_free(fr_items *it)
{
    if (!it)
        return;
    free(it->item_ids);
    free(it->item_keys);
    free(it->tokens);
    memset(it, 0, sizeof *it);
}

void fr_data_catalogue_from_model(fr_data_catalogue *c, const fr_model *m)
{
    c->num_items = m->cfg.num_items;
    c->item_keys = m->item_keys ? (const char *const *)m->item_keys : NULL;
    c->item_ids = m->item_keys ? NULL : m->item_ids;
    c->tokens = m->item_tokens;
    c->num_tokens = m->cfg.num_tokens;
}

void fr_data_catalogue_from_items(fr_data_catalogue *c, const fr_items *it)
{
    c->num_items = it->num_items;
    c->item_keys = it->numeric ? NULL : (const char *const *)it->item_keys;
    c->item_ids = it->numeric ? it->item_ids : NULL;
    c->tokens = it->tokens;
    c->num_tokens = it->num_tokens;
}
