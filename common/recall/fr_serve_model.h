/* The model a recall server scores with, as one immutable, reference-counted snapshot:
 * the model file's parameters, every item vector and every item's GRU input projection
 * (computed once when the snapshot is made, so that a request pays only for its users'
 * own forward pass and the catalogue scan). A newer model file becomes a new snapshot
 * and replaces the old in a slot with one pointer exchange; requests already scoring
 * keep the old one until they release it, so a swap neither fails nor blocks them.
 *
 * Versions. Each snapshot has a generation: 1 for the first model a server loads, one
 * more for each swap, so that the versions a client sees never go back. Beside it the
 * federation's version when the model file tells it: `fedrecall-node run` keeps the
 * signed global model as STATE/global.frm with "VERSION SIGNATURE" in
 * STATE/global.sig, and writes the signature first; so the version is read from the
 * ".sig" file next to the model, and only when that file is no newer than the model
 * (a newer one belongs to the model about to replace it). Otherwise it is -1. */
#ifndef FR_SERVE_MODEL_H
#define FR_SERVE_MODEL_H

#include <pthread.h>
#include <stdint.h>
#include <sys/stat.h>

#include "data/fr_data.h"
#include "recall/fr_ivf.h"
#include "nn/fr_model.h"
#include "util/fr_status.h"
#include "recall/fr_topk_packed.h"
#include "recall/fr_topk_q8.h"

typedef struct fr_serve_model {
    int refs; /* atomic: holders, the slot included */
    fr_model model;
    float *item_vecs;      /* host (V, d) */
    float *giv;            /* backend (V, 3d): item_vecs W_ih^T */
    fr_topk_packed packed; /* item_vecs laid out for the scoring kernel */
    int have_ivf;          /* an inverted-file index over item_vecs was built */
    fr_ivf ivf;
    double ivf_build_s; /* seconds the index took to build */
    int have_q8;        /* an 8-bit copy of item_vecs for the scan was built */
    fr_topk_q8 q8;
    double q8_build_s; /* seconds the copy took to build */
    int32_t *retired;  /* the model's retired rows, ascending (never recalled); NULL: none */
    long n_retired;
    /* V flags: rows of the served data that the catalogue reclaimed for new items
     * since the data was loaded (docs/catalogue.md); NULL: none. Their data item is
     * gone and the new one has no place in the data's histories until a restart maps
     * the data again, so such a row is neither recalled (it is in retired) nor
     * matched. */
    uint8_t *reclaimed;
    /* the rows past the served data (items added to the catalogue since it was
     * loaded), by id: open addressing over rows first_added .. V-1, 0 = empty; so that
     * the server accepts events on them (docs/catalogue.md) */
    int32_t *added_slot;
    long added_slots;
    int32_t first_added;
    long generation; /* >= 1 */
    long version;    /* the federation's version, or -1 */
    int seq_len;
    struct stat file; /* the model file as it was read (inode, size, mtime) */
} fr_serve_model;

/* Load path into a new snapshot (*out, holding one reference) for recall with
 * sequences of seq_len over the catalogue of ds: the model's first rows must be the
 * data's items, row for row (but rows the model's reuse records say were reclaimed),
 * else FR_EINVAL naming the first that differs; rows past them are items a newer
 * catalogue version added (docs/catalogue.md). With ivf (may be
 * NULL: exact search only) the snapshot also holds an inverted-file index of its item
 * vectors, built here, in the loading thread, like the vectors themselves; with q8
 * it also holds their 8-bit copy for the int8 scan (fr_topk_q8), built likewise. */
FR_MUST fr_status fr_serve_model_load(fr_serve_model **out, const char *path, const fr_dataset *ds,
                                      int seq_len, long generation, const fr_ivf_config *ivf,
                                      int q8, fr_err *err);
void fr_serve_model_ref(fr_serve_model *m);
/* The id of row of m (which may have rows past the served data ds: items added to the
 * catalogue since the data was loaded); buf holds an integer id's text. */
const char *fr_serve_model_item_key(const fr_serve_model *m, const fr_dataset *ds, int32_t row,
                                    char *buf, size_t cap);
/* The row of an added item (a row past the served data) whose id is key, spelt as
 * the data spells ids (integers in canonical form), or 0 when m has no such row. */
int32_t fr_serve_model_find_added(const fr_serve_model *m, const char *key);
/* Drop one reference; the last one frees the snapshot. m may be NULL. */
void fr_serve_model_unref(fr_serve_model *m);

/* The current snapshot of a server. */
typedef struct fr_serve_slot {
    pthread_mutex_t mu;
    fr_serve_model *cur; /* NULL until the first set */
} fr_serve_slot;

void fr_serve_slot_init(fr_serve_slot *s);
/* Releases the current snapshot. */
void fr_serve_slot_free(fr_serve_slot *s);
/* The current snapshot with a reference for the caller (NULL when none). */
fr_serve_model *fr_serve_slot_get(fr_serve_slot *s);
/* Make m current (the slot takes the caller's reference) and release the old one. */
void fr_serve_slot_set(fr_serve_slot *s, fr_serve_model *m);

/* Whether the file at path differs from what st describes (another inode, size or
 * modification time), or cannot be read (*err_no then set, else 0). */
int fr_serve_model_changed(const char *path, const struct stat *st, int *err_no);

#endif
