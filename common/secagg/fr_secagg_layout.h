/* The layout of the vector a node masks (docs/secagg.md, "The masked vector"): named
 * segments laid end to end, each with its length and its own bound, so that each is
 * encoded to fixed point at the scale its bound allows and decoded on its own.
 *
 * A federation round lays out "delta" (the model's p parameters times the node's
 * weight w), "weight" (w) and "loss" (w times the training loss); later protocols add
 * segments (an optimiser's counts or control variates, noise shares) with
 * fr_secagg_layout_add and read them back by name. Every node and the coordinator
 * build the same layout from the round's setup, so the segments line up in the sum.
 *
 * The bound of a segment is the largest L2 norm one node's values may have: a node's
 * values are cut to it before encoding, and the scale is the largest power of two
 * for which the sum over the round's n nodes cannot wrap (fr_secagg_encode_scale). */
#ifndef FR_SECAGG_LAYOUT_H
#define FR_SECAGG_LAYOUT_H

#include <stddef.h>
#include <stdint.h>

#include "util/fr_status.h"

#define FR_SECAGG_LAYOUT_MAX 8 /* segments */
#define FR_SECAGG_SEG_NAME 16  /* bytes of a segment's name, NUL included */

typedef struct fr_secagg_segment {
    char name[FR_SECAGG_SEG_NAME];
    size_t offset, len; /* its coordinates: [offset, offset + len) */
    double bound;       /* L2 bound of one node's values */
    double scale;       /* fixed point: a node sends round(value * scale) */
} fr_secagg_segment;

typedef struct fr_secagg_layout {
    int n;    /* nodes whose sum must not wrap */
    int nseg; /* segments, in order */
    size_t m; /* coordinates in all */
    fr_secagg_segment seg[FR_SECAGG_LAYOUT_MAX];
} fr_secagg_layout;

/* An empty layout for sums over n nodes. */
void fr_secagg_layout_init(fr_secagg_layout *l, int n);

/* Append segment name of len (>= 1) coordinates with L2 bound bound (finite, > 0).
 * FR_EINVAL for a name used already, too long or empty, a bound that has no scale for
 * l->n nodes, or a layout that is full or would exceed FR_SECAGG_MAX_M coordinates. */
FR_MUST fr_status fr_secagg_layout_add(fr_secagg_layout *l, const char *name, size_t len,
                                       double bound, fr_err *err);

/* The segment called name, or NULL. */
const fr_secagg_segment *fr_secagg_layout_find(const fr_secagg_layout *l, const char *name);

/* One node's values v (the segment's len floats) encoded into its coordinates of out
 * (l->m values): cut to the segment's bound (*clipped, may be NULL, says whether they
 * were), scaled and rounded stochastically. FR_EINVAL for an unknown segment or a
 * value that is not finite. */
FR_MUST fr_status fr_secagg_layout_encode(const fr_secagg_layout *l, const char *name,
                                          const float *v, uint32_t *out, int *clipped, fr_err *err);

/* The segment's part of a sum of encoded vectors (sum: l->m values mod 2^32) into out
 * (len doubles): each coordinate read as int32 and divided by the segment's scale.
 * The decoded sum of k vectors is within k / scale of the sum of their cut values.
 * FR_EINVAL for an unknown segment. */
FR_MUST fr_status fr_secagg_layout_decode(const fr_secagg_layout *l, const char *name,
                                          const uint32_t *sum, double *out, fr_err *err);

#endif
