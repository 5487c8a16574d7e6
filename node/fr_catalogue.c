/* The check that a model file and a data set describe the same catalogue. */
#include "fr_catalogue.h"

#include <stdio.h>
#include <string.h>

fr_status fr_node_same_catalogue(const fr_model *m, const fr_dataset *ds, const char *model_path,
                                 const char *data, fr_err *err)
{
    char num[24];
    if (ds->num_items != m->cfg.num_items)
        return fr_fail(err, FR_EINVAL,
                       "%s: the model's catalogue (%d items) is not the data's "
                       "(%d items at %s)",
                       model_path, m->cfg.num_items - 1, ds->num_items - 1, data);
    for (int r = 1; r < ds->num_items; r++) {
        const char *key = m->item_keys ? m->item_keys[r] : num;
        if (!m->item_keys)
            snprintf(num, sizeof num, "%lld", (long long)m->item_ids[r]);
        if (strcmp(key, ds->item_keys[r]) != 0)
            return fr_fail(err, FR_EINVAL,
                           "%s: the model's catalogue is not the data's: row %d "
                           "is item '%.60s' in the model, '%.60s' at %s",
                           model_path, r, key, ds->item_keys[r], data);
    }
    return FR_OK;
}
