/* A node's roster: the partners it accepts as fellow members of a secure round.
 *
 * Any certificate of the federation's CA is a member as far as TLS and the identity
 * binding (fr_identity.h) go, and whoever runs the CA can mint more. A node that pins
 * its partners (`members` in its configuration) takes part only in rounds whose every
 * other member is one of them: a round with anyone else is refused at its setup,
 * before any key, share or masked update leaves the node (docs/security.md).
 *
 * An entry is a certificate name (CN, as fedrecall-ca issues them) or "sha256:" and
 * the SHA-256 of the member's certificate (DER) in hex, colons allowed, as
 * `openssl x509 -noout -fingerprint -sha256` prints it; a fingerprint pins the one
 * certificate, a name any certificate the CA issues for it. */
#ifndef FR_ROSTER_H
#define FR_ROSTER_H

#include <stddef.h>
#include <stdint.h>

#include "secagg/fr_identity.h"
#include "secagg/fr_secagg_round.h"
#include "util/fr_status.h"

#define FR_ROSTER_MAX 256
#define FR_ROSTER_FP_BYTES 32

typedef struct fr_roster_entry {
    int is_fp;
    char name[FR_IDENTITY_NAME];
    uint8_t fp[FR_ROSTER_FP_BYTES];
} fr_roster_entry;

typedef struct fr_roster {
    int n; /* 0: no roster, every member the CA vouches for is accepted */
    fr_roster_entry e[FR_ROSTER_MAX];
} fr_roster;

/* Parse spec, entries separated by commas or spaces (NULL or empty: no roster).
 * FR_EINVAL quoting an entry that is neither a name nor a sha256: fingerprint, or
 * when there are more than FR_ROSTER_MAX. */
FR_MUST fr_status fr_roster_parse(fr_roster *r, const char *spec, fr_err *err);

/* Whether the member called name (the CN its verified certificate carries) with
 * certificate cert (DER) is on the roster; always with no roster. */
int fr_roster_admits(const fr_roster *r, const char *name, const uint8_t *cert, size_t cert_len);

/* FR_OK when every member of setup s other than self is on the roster; FR_EINVAL
 * naming the first that is not. */
FR_MUST fr_status fr_roster_check(const fr_roster *r, const fr_secagg_setup *s, const char *self,
                                  fr_err *err);

#endif
