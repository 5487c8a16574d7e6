/* Evaluation of a recall model under the spec's protocol, for the validation and the
 * test split:
 *   sampled   HR@10 / NDCG@10: the target ranked among 100 items drawn uniformly with
 *             replacement from [1, V) that the user never interacted with (train,
 *             validation, test); at most max_users users (one random subset serves
 *             both splits); candidates drawn once at init from the seed;
 *   full      Recall@10/50, NDCG@10/50, MRR over the whole catalogue minus seen items
 *             (validation: train items; test: train + validation item), the target
 *             itself never excluded; Precision@10/50; coverage and novelty of the
 *             top-10 and top-50 lists.
 * rank = number of candidates scoring strictly higher than the target.
 * The model enters only through vectors: item_vecs (V x dim, row 0 = padding) and one
 * user vector per evaluation user (num_eval_users x dim, in eval_users order), so any
 * scorer of the form q . h (the model, a popularity baseline with dim 1) is evaluated
 * by the same code. */
#ifndef FR_EVAL_H
#define FR_EVAL_H

#include <stdint.h>

#include "data/fr_data.h"
#include "util/fr_status.h"

typedef enum fr_split { FR_SPLIT_VALID = 0, FR_SPLIT_TEST = 1 } fr_split;

#define FR_EVAL_NEGATIVES 100
#define FR_EVAL_MAX_USERS 10000

typedef struct fr_metrics {
    double hr10, ndcg10;       /* sampled protocol */
    double recall10, recall50; /* full ranking */
    double ndcg_full10, ndcg_full50, mrr;
    double precision10, precision50; /* one relevant item: recall@K / K */
    double coverage10, novelty10;
    double coverage50, novelty50;
    int users; /* users in the full ranking */
    int sampled_users;
} fr_metrics;

typedef struct fr_evaluator {
    const fr_dataset *ds; /* borrowed; must outlive the evaluator */
    int seq_len;
    int n_users;         /* = ds->num_eval_users */
    int32_t *inputs[2];  /* per split: n_users x L left-padded input histories */
    int32_t *targets[2]; /* per split: n_users target rows */
    int n_sampled;
    int32_t *sampled_pos;   /* n_sampled indices into eval_users */
    int32_t *candidates[2]; /* per split: n_sampled x (1 + 100), target first */
    double *neg_log2_pop;   /* V: -log2 p(i), p(i) = max(users training on i, 1) / U */
    float *popularity;      /* V: number of users with i in their training part */
} fr_evaluator;

FR_MUST fr_status fr_eval_init(fr_evaluator *ev, const fr_dataset *ds, int seq_len, uint64_t seed,
                               int max_users, fr_err *err);
void fr_eval_free(fr_evaluator *ev);

/* Score one split. threads bounds the worker threads. */
FR_MUST fr_status fr_eval_score(const fr_evaluator *ev, fr_split split, const float *item_vecs,
                                const float *user_vecs, int dim, int threads, fr_metrics *out,
                                fr_err *err);

/* The sampled protocol on given scores: n rows of `width` candidate scores with the
 * target in column 0; rank = candidates scoring at least as high as the target (a tie
 * counts against it).
 * Writes HR@10 and NDCG@10 averaged over the rows (0 when n is 0). */
void fr_eval_sampled_metrics(const float *scores, int n, int width, double *hr10, double *ndcg10);

/* The popularity baseline as dim-1 vectors: item score = number of training users,
 * with a deterministic sub-unit tie-break so that ties do not count in its favour;
 * every user vector is 1. item_vecs: V floats; user_vecs: n_users floats. */
void fr_eval_popularity_vectors(const fr_evaluator *ev, float *item_vecs, float *user_vecs);

#endif
