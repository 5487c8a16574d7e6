/* A secure round of the federation: what the coordinator tells the nodes when it
 * opens one (the setup message of GET /v1/secagg/setup), and how a node's model delta
 * becomes the vector it masks and how the coordinator turns the unmasked sum back into
 * the round's weighted sum (docs/secagg.md, "The masked vector").
 *
 * Each node computes its own weight w (its users or windows, cut to the round's
 * max_weight) and masks, in the layout of fr_secagg_round_layout, w times its delta
 * (cut to the L2 bound clip first), w itself and w times its training loss. The sum
 * over the survivors holds sum(w delta), sum(w) and sum(w loss), so the coordinator
 * divides the first by the second without ever holding one node's delta or weight.
 * The setup names no weight: the coordinator never tells a node what its weight is.
 *
 * The node's evaluation of the version it trains from travels in the same sum: e (its
 * evaluated users, cut to max_weight like the weight) and e times its HR@10, NDCG@10
 * and recall@10, so the coordinator learns the federation's eval-user-weighted means
 * of that version and no node's own figures. */
#ifndef FR_SECAGG_ROUND_H
#define FR_SECAGG_ROUND_H

#include <msgpack.h>
#include <stddef.h>
#include <stdint.h>

#include "secagg/fr_secagg.h"
#include "secagg/fr_secagg_layout.h"
#include "util/fr_status.h"

#define FR_SECAGG_NAME 64
#define FR_SECAGG_MAX_CERT 8192
#define FR_SECAGG_MAX_ID_SIG 256
#define FR_SECAGG_LOSS_CLIP 1000.0
/* Bounds of a round's weight cap (max_weight): a cap above the top leaves too little
 * of the 32-bit ring for the delta's precision (docs/secagg.md). */
#define FR_SECAGG_MAX_WEIGHT_TOP 1e9
/* The round's segments (fr_secagg_round_layout). */
#define FR_SECAGG_SEG_DELTA "delta"
#define FR_SECAGG_SEG_WEIGHT "weight"
#define FR_SECAGG_SEG_LOSS "loss"
#define FR_SECAGG_SEG_EVAL "eval"
#define FR_SECAGG_SEG_SQNORM "sqnorm"
/* Coordinates of the vector beyond the model's p: weight (1), loss (1), eval (4),
 * sqnorm (1). */
#define FR_SECAGG_ROUND_EXTRA 7

/* One member of the round: its id in the protocol, its certificate name and its
 * identity (fr_identity.h): Ed25519 public key, certificate (DER), binding
 * signature. Byte fields point into the decoded body, or the encoder's caller's. */
typedef struct fr_secagg_member {
    int id;
    char name[FR_SECAGG_NAME];
    const uint8_t *id_pk; /* FR_SECAGG_ID_PUBLIC_BYTES */
    const uint8_t *cert;
    size_t cert_len;
    const uint8_t *sig;
    size_t sig_len;
} fr_secagg_member;

/* coordinator -> node: {v, round, n, t, m, model_version, clip, loss_clip,
 * max_weight, weight_windows, members: [[id, name, id_pk, cert, sig], ...]} with every
 * id 1..n listed once, in order. What a weight counts and its cap are the same for
 * every member; no member's weight is listed. */
typedef struct fr_secagg_setup {
    fr_secagg_params p;
    int64_t model_version;
    double clip;        /* L2 bound of a node's delta (before its weight) */
    double loss_clip;   /* bound of its training loss */
    double max_weight;  /* the cap every node cuts its own weight to, 1..TOP */
    int weight_windows; /* a node's weight is its windows (else its users) */
    fr_secagg_member e[FR_SECAGG_MAX_NODES];
} fr_secagg_setup;

void fr_secagg_setup_encode(const fr_secagg_setup *s, msgpack_sbuffer *sb);
/* FR_EFORMAT for a malformed body, FR_EVERSION for another version; the settings are
 * checked (fr_secagg_params_check, bounds finite and > 0, m = the layout's size). */
FR_MUST fr_status fr_secagg_setup_decode(const void *buf, size_t len, fr_secagg_setup *s,
                                         fr_err *err);

/* out = BLAKE2b-256 of the setup's canonical encoding (fr_secagg_setup_encode): every
 * field the setup carries (members with their ids, names, weights, identity keys,
 * certificates and bindings; n, t, m, round, model version, bounds). Nodes put it in
 * s->p.setup_hash, so that it is signed into their advertisements. */
FR_MUST fr_status fr_secagg_setup_hash(const fr_secagg_setup *s, uint8_t out[FR_SECAGG_HASH_BYTES],
                                       fr_err *err);

/* The member with certificate name name, or NULL. */
const fr_secagg_member *fr_secagg_setup_find(const fr_secagg_setup *s, const char *name);

/* The round's layout (fr_secagg_layout.h) for a model of p = m - FR_SECAGG_ROUND_EXTRA
 * parameters: "delta" (p, bound clip * max_weight), "weight" (1, bound max_weight),
 * "loss" (1, bound loss_clip * max_weight), "eval" (4: e, e hr10, e ndcg10,
 * e recall10 with e <= max_weight and metrics in [0, 1], bound 2 max_weight),
 * "sqnorm" (1: w |cut delta|^2 / clip^2, in [0, w], bound max_weight: the server's
 * extrapolation, fr_fedagg.h, reads the sum of w |delta|^2 from it).
 * FR_EINVAL when the setup's bounds have no scale. */
FR_MUST fr_status fr_secagg_round_layout(const fr_secagg_setup *s, fr_secagg_layout *l,
                                         fr_err *err);

/* The node's weight as it enters the vector: `weight` (its own count) cut to the
 * round's max_weight. FR_EINVAL for a weight that is not finite or not > 0. */
FR_MUST fr_status fr_secagg_round_weight(const fr_secagg_setup *s, double weight, double *w,
                                         fr_err *err);

/* A node's evaluation of the version a round trains from (its validation split), or,
 * decoded from a round's sum, the federation's: users evaluated (a node's is cut to
 * max_weight; the sum's is the survivors' total) and HR@10, NDCG@10 and recall@10 in
 * [0, 1] (the sum's are the means weighted by each node's users). */
typedef struct fr_secagg_round_eval {
    double users;
    double hr10, ndcg10, recall10;
} fr_secagg_round_eval;

/* The node's vector (s->p.m values) from its own weight (cut to max_weight), its
 * delta (p = m - FR_SECAGG_ROUND_EXTRA floats: cut to the L2 bound clip, then scaled in
 * place by w), its loss (cut to [0, loss_clip]) and its evaluation ev (NULL: none,
 * e = 0; users cut to max_weight, metrics to [0, 1]). *clipped is set when the delta
 * was cut. */
FR_MUST fr_status fr_secagg_round_encode(const fr_secagg_setup *s, double weight, float *delta,
                                         double loss, const fr_secagg_round_eval *ev, uint32_t *out,
                                         int *clipped, fr_err *err);

/* The vector of a node in a round of federation-wide DP (docs/privacy.md): as
 * fr_secagg_round_encode, with a "sqnorm" of 0, but the "delta" segment carries ring
 * (p values modulo 2^32, the node's clipped, rounded and noised integers of
 * privacy/fr_dp_fdp.h) as they are, not a float at the segment's fixed-point scale.
 * The mechanism bounds them and sizes the ring so that their sum cannot wrap; the
 * layout's scale is not used. */
FR_MUST fr_status fr_secagg_round_encode_ring(const fr_secagg_setup *s, double weight,
                                              const uint32_t *ring, double loss,
                                              const fr_secagg_round_eval *ev, uint32_t *out,
                                              fr_err *err);

/* The "delta" segment of a sum of such vectors (p values) into out as the signed
 * integers they are (int32, exact in a double). */
void fr_secagg_round_ring_sum(const fr_secagg_setup *s, const uint32_t *sum, double *out);

/* The sums of one round, decoded from the unmasked sum of `contributors` vectors. */
typedef struct fr_secagg_round_sum {
    double *wdelta; /* p values, the caller's: sum of w delta, as a plain round's fr_agg */
    double weight;  /* sum of w */
    double wloss;   /* sum of w loss */
    /* the survivors' evaluations: users summed, metrics their users-weighted means
     * (all 0 when fewer than half a user was evaluated in all) */
    fr_secagg_round_eval eval;
    /* sum of w |cut delta|^2; -1 when the sum is outside [0, weight x clip^2] beyond
     * rounding, which no set of members inside the layout can send */
    double wsqnorm;
} fr_secagg_round_sum;

/* Decode sum (m values) into out. FR_EINVAL when the weights' sum is not in
 * (0, contributors * max_weight] (a node sent a vector outside the layout). */
FR_MUST fr_status fr_secagg_round_decode(const fr_secagg_setup *s, const uint32_t *sum,
                                         int contributors, fr_secagg_round_sum *out, fr_err *err);

#endif
