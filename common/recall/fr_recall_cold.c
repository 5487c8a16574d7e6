/* The cold-start channel's items (fr_recall.h): the rows of the catalogue that no
 * user of the data has touched and that are not retired, typically items the operator
 * added since the model was trained, which the item tower scores from their content
 * tokens (and an ID row that starts at zero, docs/catalogue.md). */
#include <stdlib.h>
#include <string.h>

#include "recall/fr_recall.h"

fr_status fr_recall_cold_build(fr_recall *r, fr_err *err)
{
    int V = r->num_items, d = r->dim;
    uint8_t *touched = calloc((size_t)V, 1);
    if (!touched)
        return fr_fail(err, FR_ENOMEM, "recall: out of memory");
    long events = r->hist_off[r->ds->num_users];
    for (long i = 0; i < events; i++)
        touched[r->hist[i]] = 1;
    for (long i = 0; i < r->n_retired; i++)
        touched[r->retired[i]] = 1;
    int n = 0;
    for (int i = 1; i < V; i++)
        n += !touched[i];
    r->cold_rows = malloc((size_t)(n + 1) * sizeof *r->cold_rows);
    r->cold_vecs = calloc((size_t)(n + 1) * (size_t)d, sizeof *r->cold_vecs);
    if (!r->cold_rows || !r->cold_vecs) {
        free(touched);
        return fr_fail(err, FR_ENOMEM, "recall: out of memory for %d cold items", n);
    }
    r->cold_rows[0] = 0;
    for (int i = 1, j = 1; i < V; i++)
        if (!touched[i]) {
            r->cold_rows[j] = i;
            memcpy(r->cold_vecs + (size_t)j * d, r->item_vecs + (size_t)i * d,
                   (size_t)d * sizeof(float));
            j++;
        }
    r->n_cold = n;
    free(touched);
    return FR_OK;
}
