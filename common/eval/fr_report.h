/* JSON reports (metrics files): the data summary, metric objects under the spec's
 * key names, and an atomic write so that a reader never sees half a file. */
#ifndef FR_REPORT_H
#define FR_REPORT_H

#include <jansson.h>

#include "data/fr_data.h"
#include "eval/fr_eval.h"
#include "util/fr_status.h"

/* {"hr@10", "ndcg@10", "recall@10", "recall@50", "precision@10", "precision@50",
 *  "ndcg_full@10", "ndcg_full@50", "mrr", "coverage@10", "novelty@10", "coverage@50",
 *  "novelty@50", "users", "sampled_users"} */
json_t *fr_report_metrics(const fr_metrics *m);

/* {"users", "items", "interactions", "rows_read", "rows_skipped", "skipped_lines",
 *  "items_with_content", "eval_users", "train_sequences", "train_positions",
 *  "skipped": {REASON: {"count", "lines", "first"}} for every reason of fr_skip_name,
 *  "k_core_rounds", "files": {"events", "content" (null when none)},
 *  "ids": {"items", "users": "numeric" or "string"}, "content_rows",
 *  "content_skipped", "content_skipped_lines", "values": {"count", "mean", "std"}} */
json_t *fr_report_data(const fr_dataset *ds, long windows, long positions);

/* Write obj to path (via path.tmp and rename). Takes no ownership of obj. */
FR_MUST fr_status fr_report_write(const json_t *obj, const char *path, fr_err *err);

#endif
