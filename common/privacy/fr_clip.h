/* L2 clipping of a flat float vector (parameters, a gradient, a round's delta): the
 * one rule that DP-SGD's per-user clip, site-level DP's clip and the node's cut to the
 * coordinator's norm bound share. Scaling keeps the direction; the norm is summed in
 * double, in index order, so a result does not depend on who clips. */
#ifndef FR_CLIP_H
#define FR_CLIP_H

#include <stddef.h>

/* The L2 norm of v[0..n), summed in double in index order. */
double fr_l2_norm(const float *v, size_t n);

/* The factor that brings a vector of L2 norm `norm` within `bound`: bound / norm
 * (as float) when norm > bound, else 1. bound <= 0 means no bound. */
float fr_clip_scale(double norm, double bound);

/* Scale v[0..n) so that its L2 norm is at most bound (bound <= 0: leave it) and
 * return the norm before clipping. */
double fr_clip_l2(float *v, size_t n, double bound);

#endif
