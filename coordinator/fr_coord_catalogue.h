/* Catalogue versions in the coordinator's state folder (fr_coord_catalogue.c). */
#ifndef FR_COORD_CATALOGUE_H
#define FR_COORD_CATALOGUE_H

#include "fed/fr_catver.h"
#include "fed/fr_fedagg.h"
#include "fed/fr_sign.h"
#include "util/fr_status.h"

struct fr_coord;

/* The newest catalogue version of the state folder into cv (*found = 1), or *found = 0
 * when none was written. FR_EINVAL when its signature is missing or does not verify
 * with pub ("unsigned catalogue"), FR_EFORMAT for a malformed file. */
FR_MUST fr_status fr_coord_catalogue_read(const char *state_dir,
                                          const uint8_t pub[FR_SIGN_PUBLIC_BYTES], fr_catver *cv,
                                          int *found, fr_err *err);

/* Write cv as catalogue version cv->version, signed with k; refused when that version
 * exists. */
FR_MUST fr_status fr_coord_catalogue_write(const char *state_dir, const fr_sign_key *k,
                                           const fr_catver *cv, fr_err *err);

/* At a publish: when the state folder holds a newer signed catalogue version that may
 * follow the model's, grow c->model onto it (and opt with it) and set *folded. A
 * refused version is logged once and left out; the status is for failures to publish. */
FR_MUST fr_status fr_coord_catalogue_fold(struct fr_coord *c, fr_server_opt *opt, int *folded,
                                          fr_err *err);

#endif
