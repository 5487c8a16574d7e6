/* A secure round of the federation: what the coordinator tells the nodes when it
 * opens one (the setup message of GET /v1/secagg/setup), and how a node's model delta
 * becomes the vector it masks and how the coordinator turns the unmasked sum back into
 * the round's weighted sum (docs/secagg.md, "In the federation").
 *
 * The vector has m = p + 1 coordinates for a model of p parameters: the first p are
 * the node's delta times its share w / W of the round's weight (w its users or
 * windows, W the sum over the round's members), encoded to fixed point under the L2
 * bound clip; the last is its training loss times the same share, encoded under
 * loss_clip. The sum over the survivors is then sum(w delta) / W and sum(w loss) / W,
 * so the coordinator recovers the weighted mean over those who finished without ever
 * holding one node's delta. */
#ifndef FR_SECAGG_ROUND_H
#define FR_SECAGG_ROUND_H

#include <msgpack.h>
#include <stddef.h>
#include <stdint.h>

#include "secagg/fr_secagg.h"
#include "util/fr_status.h"

#define FR_SECAGG_NAME 64
#define FR_SECAGG_MAX_CERT 8192
#define FR_SECAGG_MAX_ID_SIG 256
#define FR_SECAGG_LOSS_CLIP 1000.0

/* One member of the round: its id in the protocol, its certificate name, its weight
 * and its identity (fr_identity.h): Ed25519 public key, certificate (DER), binding
 * signature. Byte fields point into the decoded body, or the encoder's caller's. */
typedef struct fr_secagg_member {
    int id;
    char name[FR_SECAGG_NAME];
    double weight;
    const uint8_t *id_pk; /* FR_SECAGG_ID_PUBLIC_BYTES */
    const uint8_t *cert;
    size_t cert_len;
    const uint8_t *sig;
    size_t sig_len;
} fr_secagg_member;

/* coordinator -> node: {v, round, n, t, m, model_version, clip, loss_clip,
 * weight_total, members: [[id, name, weight, id_pk, cert, sig], ...]} with every id
 * 1..n listed once, in order. */
typedef struct fr_secagg_setup {
    fr_secagg_params p;
    int64_t model_version;
    double clip;         /* L2 bound of a node's weighted delta */
    double loss_clip;    /* bound of its weighted loss */
    double weight_total; /* W */
    fr_secagg_member e[FR_SECAGG_MAX_NODES];
} fr_secagg_setup;

void fr_secagg_setup_encode(const fr_secagg_setup *s, msgpack_sbuffer *sb);
/* FR_EFORMAT for a malformed body, FR_EVERSION for another version; the settings are
 * checked (fr_secagg_params_check, bounds finite and > 0, weights > 0 summing to W). */
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

/* The node's vector (s->p.m values) from its delta (p = m - 1 floats, scaled in place
 * by its share weight / W) and its loss. *clipped is set when the delta was cut to
 * the bound. */
FR_MUST fr_status fr_secagg_round_encode(const fr_secagg_setup *s, double weight, float *delta,
                                         double loss, uint32_t *out, int *clipped, fr_err *err);

/* From the unmasked sum (m values): sum_wdelta (m - 1) = the sum over the survivors of
 * w delta, as a plain round adds them up (fr_agg), and *loss_sum = the sum of w loss. */
FR_MUST fr_status fr_secagg_round_decode(const fr_secagg_setup *s, const uint32_t *sum,
                                         double *sum_wdelta, double *loss_sum, fr_err *err);

#endif
