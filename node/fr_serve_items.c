/* Item ids as clients send them, to the rows of the served catalogue: an open
 * addressing table over the catalogue's ids. Integer ids are matched in their
 * canonical spelling ("042" and "42" name one item), as the data readers match them.
 * Items added to the catalogue since the data was loaded are found in the model
 * snapshot's own table (fr_serve_model_find_added); an item whose row the catalogue
 * reclaimed since is not found. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fr_serve.h"

static long home(const fr_item_index *ix, const char *key)
{
    return (long)(fr_fnv1a32(key, strlen(key)) & (uint32_t)(ix->slots - 1));
}

fr_status fr_item_index_init(fr_item_index *ix, const fr_dataset *ds, fr_err *err)
{
    memset(ix, 0, sizeof *ix);
    ix->ds = ds;
    ix->slots = 16;
    while (ix->slots < 2L * ds->num_items)
        ix->slots *= 2;
    if (!(ix->slot = calloc((size_t)ix->slots, sizeof *ix->slot)))
        return fr_fail(err, FR_ENOMEM, "out of memory for an index of %d items", ds->num_items);
    for (int32_t r = 1; r < ds->num_items; r++) {
        long i = home(ix, ds->item_keys[r]);
        while (ix->slot[i])
            i = (i + 1) & (ix->slots - 1);
        ix->slot[i] = r;
    }
    return FR_OK;
}

void fr_item_index_free(fr_item_index *ix)
{
    free(ix->slot);
    memset(ix, 0, sizeof *ix);
}

int32_t fr_item_index_find(const fr_item_index *ix, const fr_serve_model *cat, const char *id)
{
    char canon[24];
    if (ix->ds->item_ids_numeric) {
        char *end;
        errno = 0;
        long long v = strtoll(id, &end, 10);
        if (errno || end == id || *end)
            return 0;
        snprintf(canon, sizeof canon, "%lld", v);
        id = canon;
    }
    for (long i = home(ix, id); ix->slot[i]; i = (i + 1) & (ix->slots - 1))
        if (strcmp(ix->ds->item_keys[ix->slot[i]], id) == 0)
            /* a reclaimed row's data item is no longer in the catalogue */
            return cat && cat->reclaimed && cat->reclaimed[ix->slot[i]] ? 0 : ix->slot[i];
    return fr_serve_model_find_added(cat, id);
}
