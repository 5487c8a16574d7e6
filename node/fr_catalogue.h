/* A model scores the rows of the catalogue it was trained on; evaluating or serving it
 * on data whose rows hold other items would give silent nonsense, so commands that
 * load both check that every row names the same item (external ids or keys). */
#ifndef FR_CATALOGUE_H
#define FR_CATALOGUE_H

#include "data/fr_data.h"
#include "nn/fr_model.h"
#include "util/fr_status.h"

/* FR_EINVAL, naming the first row that differs, when m and ds disagree. */
FR_MUST fr_status fr_node_same_catalogue(const fr_model *m, const fr_dataset *ds,
                                         const char *model_path, const char *data, fr_err *err);

#endif
