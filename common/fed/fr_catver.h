/* Catalogue versions: the federation's item catalogue as it changes while the
 * federation runs (docs/catalogue.md). A version lists every row the global model has
 * ever had, in row order: rows are appended for added items and never renumbered,
 * since nodes hold state by row; a retired item keeps its row, flagged, and is never
 * recalled, until every node has confirmed a version that retired it: then the row is
 * reclaimable, and an added item may take it, with a reuse record naming the retired
 * item (fr_catver_reuse.c). The coordinator's operator makes a version from an item
 * file (added or retired items), signs it like a model, and the next published model
 * carries it.
 *
 * The same rules decide, at the coordinator and at a node, whether one catalogue may
 * follow another (fr_catver_check_next): a newer version, no row dropped, no row's
 * item changed but a retired one's with a reuse record, no retired item brought
 * back. */
#ifndef FR_CATVER_H
#define FR_CATVER_H

#include <stddef.h>
#include <stdint.h>

#include "data/fr_items.h"
#include "nn/fr_model.h"
#include "util/fr_status.h"

#define FR_CATVER_FORMAT 2 /* the catalogue file's format version (1 is still read) */
/* The largest catalogue file read: V keys of at most 1024 bytes would allow more, but
 * a federation's catalogue of 2^22 items with short ids and T = 8 fits well below. */
#define FR_CATVER_MAX_FILE ((size_t)1 << 30)

typedef struct fr_catver {
    long version;     /* 0: the catalogue fixed at init-model */
    int num_items;    /* V, padding row 0 included */
    int num_tokens;   /* T */
    int token_vocab;  /* Vt */
    int numeric;      /* every id is an integer (keys are canonical decimals) */
    char **keys;      /* V ids as strings, keys[0] = "" */
    int32_t *tokens;  /* V x T content token rows, row 0 all 0 */
    uint8_t *retired; /* V flags, 1 = retired */
    int cap;          /* rows allocated */
    /* V: the version that retired the row's item, 0 for a live one (a version of
     * format 1, or made from a model, gives its own version: no earlier than the true
     * one) */
    long *retired_in;
    /* n_reused reuse records, oldest first (nn/fr_model.h) */
    fr_item_reuse *reused;
    int n_reused;
} fr_catver;

/* The catalogue a model's rows follow: its keys (or ids), tokens, retired flags and
 * catalogue version. */
FR_MUST fr_status fr_catver_from_model(fr_catver *cv, const fr_model *m, fr_err *err);
void fr_catver_free(fr_catver *cv);

/* Append the items of it (read with fr_items_load from file) as new rows. Refused,
 * with nothing changed: an item file whose rows name an id twice, an id already in
 * the catalogue (live or retired: a retired item does not come back) or named by a
 * reuse record, tokens of another T or Vt. The version is the caller's to set.
 * fr_catver_add_reclaiming (below) takes reclaimable rows first. */
FR_MUST fr_status fr_catver_add(fr_catver *cv, const fr_items *it, const char *file, fr_err *err);

/* Give the items of it new content: each one's token rows replaced by it's, its row
 * and its ID embedding kept (what the federation learnt of the item stays; the item
 * tower embeds the new content from the next model on). Refused, with nothing
 * changed: an item file whose rows name an id twice, an id not in the catalogue, a
 * retired one, tokens of another T or Vt. */
FR_MUST fr_status fr_catver_update(fr_catver *cv, const fr_items *it, const char *file,
                                   fr_err *err);

/* Retire the n items keys[0..n) in the version being made, cv->version + 1 (the
 * caller sets cv->version to it once the change is made). Refused, with nothing
 * changed: an id not in the catalogue, one already retired, or one named twice. */
FR_MUST fr_status fr_catver_retire(fr_catver *cv, const char *const *keys, int n, fr_err *err);

/* The row of id key in cv (live or retired), or -1. */
int fr_catver_find(const fr_catver *cv, const char *key);

/* Rows of cv that are live items (not padding, not retired). */
int fr_catver_live(const fr_catver *cv);

/* Whether next may follow cur: next.version > cur.version ("rolled back" otherwise),
 * every row of cur still there with the same item (a catalogue that shrinks rows
 * without a retirement record is refused), retired rows still retired, the same T and
 * Vt. A row of cur may change item only when cur has its item retired and next has a
 * reuse record of that row naming it, made after cur's version; next keeps cur's
 * reuse records as they are. FR_EINVAL with a one-line reason; what names next in
 * it. */
FR_MUST fr_status fr_catver_check_next(const fr_catver *cur, const fr_catver *next,
                                       const char *what, fr_err *err);

/* Whether a node holding model held may install next: the same configuration but for
 * V, and when the catalogue changes (another catalogue version or V),
 * fr_catver_check_next on the two models' catalogues. *changed says the catalogue
 * changed, so that the node maps its data onto the new rows. */
FR_MUST fr_status fr_catver_check_models(const fr_model *held, const fr_model *next,
                                         const char *what, int *changed, fr_err *err);

/* The model of catalogue cv built from old, whose rows are a prefix of cv's: the same
 * parameters, E_id grown by the new rows (zero: a new item is scored from its content
 * alone until it is trained) and zero on the rows reclaimed since old (their item is
 * new too), cv's tokens, ids, retired flags, reuse records and version. out is
 * allocated on old's backend. */
FR_MUST fr_status fr_catver_apply(const fr_catver *cv, const fr_model *old, fr_model *out,
                                  fr_err *err);

/* A flat vector laid out like old's parameters (a server optimiser's moments) in the
 * layout of grown, which fr_catver_apply made from old: each tensor copied, the new
 * rows of E_id and the rows reclaimed since old zero. out holds grown->n floats. */
void fr_catver_remap(const fr_model *old, const fr_model *grown, const float *in, float *out);

/* The file: a msgpack map {"format": "fedrecall-catalogue", "format_version": 2,
 * "version": int, "num_tokens": T, "token_vocab": Vt, "numeric": 0 or 1, "keys": [V str],
 * "tokens": bin V*T int32 LE, "retired": bin V, "retired_in": bin V int64 LE, "reused":
 * [[row, version, old key]...]}; format 1 lacks the last two. Decoding bounds every
 * count by the bytes present and checks what fr_model would refuse, and that the
 * records agree with the rows (fr_catver_check_records). */
FR_MUST fr_status fr_catver_encode(const fr_catver *cv, uint8_t **out, size_t *len, fr_err *err);
FR_MUST fr_status fr_catver_decode(fr_catver *cv, const uint8_t *buf, size_t len, const char *name,
                                   fr_err *err);

/* ---- reclaiming retired rows (fr_catver_reuse.c) ---- */

/* What the coordinator knows of one node: the highest catalogue version it has
 * confirmed mapping its data onto (0: none, or not known: an older node sends none),
 * and the highest round id the coordinator had opened when it first said so. */
typedef struct fr_catver_confirm {
    long version;
    long round;
} fr_catver_confirm;

/* The highest catalogue version every one of the n nodes has confirmed with a round
 * aggregated since: min over nodes of version, counting a node only once a round of
 * id > its round has been aggregated (last_aggregated, the highest published round
 * id), 0 for one not counted. 0 when n is 0: with no node known, nothing is safe. */
long fr_catver_confirmed_floor(const fr_catver_confirm *c, int n, long last_aggregated);

/* Whether row r of cv is reclaimable once every node has confirmed version floor:
 * retired, in a version >= 1 and <= floor. */
int fr_catver_reclaimable(const fr_catver *cv, int r, long floor);

/* Rows of cv reclaimable at floor. */
int fr_catver_count_reclaimable(const fr_catver *cv, long floor);

/* Index into cv->reused of the newest reuse record of row r, or -1. */
int fr_catver_reuse_of(const fr_catver *cv, int r);

/* fr_catver_add, but the items take the reclaimable rows at floor first (lowest row
 * first), each with a reuse record of version cv->version + 1 naming the retired item
 * it replaces, then new rows; *reused says how many rows were reclaimed. floor 0
 * appends only. Refused as fr_catver_add is, with nothing changed; out of memory
 * (FR_ENOMEM), cv may be partly changed and the caller writes nothing. */
FR_MUST fr_status fr_catver_add_reclaiming(fr_catver *cv, const fr_items *it, const char *file,
                                           long floor, int *reused, fr_err *err);

/* That cv's records agree with its rows: retired_in set exactly on retired rows and no
 * later than cv's version; each reuse record on a row of cv, of a version in
 * [1, cv->version], in order, naming an item that is no row's. FR_EFORMAT naming
 * what. */
FR_MUST fr_status fr_catver_check_records(const fr_catver *cv, const char *name, fr_err *err);

/* Whether row r (below both models' V) holds the same item in a and b. */
int fr_catver_same_item(const fr_model *a, const fr_model *b, int r);

/* The rows below both models' V whose item differs between held and next (reclaimed
 * between them): rows[0..*n) (rows holds held's V), so that a node resets what it
 * keeps by row. */
void fr_catver_reused_rows(const fr_model *held, const fr_model *next, int *rows, int *n);

/* Zero rows[0..n) of E_id in a flat vector laid out like m's parameters. */
void fr_catver_zero_rows(const fr_model *m, const int *rows, int n, float *flat);

#endif
