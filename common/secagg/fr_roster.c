/* A node's roster of accepted fellow members (see fr_roster.h). */
#include "secagg/fr_roster.h"

#include <sodium.h>
#include <stdio.h>
#include <string.h>

#include "util/fr_hex.h"

/* "sha256:" then 32 bytes in hex, pairs optionally separated by colons. */
static int parse_fp(const char *s, size_t len, uint8_t out[FR_ROSTER_FP_BYTES])
{
    size_t i = 7, k = 0;
    if (len < 7 || strncmp(s, "sha256:", 7))
        return -1;
    while (i < len && k < FR_ROSTER_FP_BYTES) {
        if (k && s[i] == ':' && ++i >= len)
            return -1;
        int hi = i + 1 < len ? fr_hex_digit(s[i]) : -1,
            lo = i + 1 < len ? fr_hex_digit(s[i + 1]) : -1;
        if (hi < 0 || lo < 0)
            return -1;
        out[k++] = (uint8_t)(hi << 4 | lo);
        i += 2;
    }
    return k == FR_ROSTER_FP_BYTES && i == len ? 0 : -1;
}

/* A certificate name as fr_identity_cert_name accepts it. */
static int valid_name(const char *s, size_t len)
{
    if (len < 1 || len > FR_IDENTITY_NAME - 1)
        return 0;
    for (size_t i = 0; i < len; i++) {
        char ch = s[i];
        int alnum =
            (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9');
        if (!alnum && (i == 0 || (ch != '.' && ch != '_' && ch != '-')))
            return 0;
    }
    return 1;
}

fr_status fr_roster_parse(fr_roster *r, const char *spec, fr_err *err)
{
    memset(r, 0, sizeof *r);
    if (!spec)
        return FR_OK;
    for (const char *p = spec; *p;) {
        p += strspn(p, ", \t");
        size_t len = strcspn(p, ", \t");
        if (!len)
            break;
        if (r->n == FR_ROSTER_MAX)
            return fr_fail(err, FR_EINVAL, "members: more than %d entries", FR_ROSTER_MAX);
        fr_roster_entry *e = &r->e[r->n];
        if (!strncmp(p, "sha256:", 7)) {
            if (parse_fp(p, len, e->fp) != 0)
                return fr_fail(err, FR_EINVAL,
                               "members: '%.*s' is not sha256: and 64 hex digits (the "
                               "certificate's SHA-256 fingerprint)",
                               (int)(len > 120 ? 120 : len), p);
            e->is_fp = 1;
        } else if (valid_name(p, len)) {
            memcpy(e->name, p, len);
            e->name[len] = 0;
        } else {
            return fr_fail(err, FR_EINVAL,
                           "members: '%.*s' is neither a certificate name nor a sha256: "
                           "fingerprint",
                           (int)(len > 120 ? 120 : len), p);
        }
        r->n++;
        p += len;
    }
    return FR_OK;
}

int fr_roster_admits(const fr_roster *r, const char *name, const uint8_t *cert, size_t cert_len)
{
    if (!r->n)
        return 1;
    uint8_t fp[FR_ROSTER_FP_BYTES];
    crypto_hash_sha256(fp, cert, cert_len);
    for (int i = 0; i < r->n; i++) {
        const fr_roster_entry *e = &r->e[i];
        if (e->is_fp ? !sodium_memcmp(e->fp, fp, sizeof fp) : !strcmp(e->name, name))
            return 1;
    }
    return 0;
}

fr_status fr_roster_check(const fr_roster *r, const fr_secagg_setup *s, const char *self,
                          fr_err *err)
{
    for (int i = 0; i < s->p.n; i++) {
        const fr_secagg_member *m = &s->e[i];
        if (strcmp(m->name, self) && !fr_roster_admits(r, m->name, m->cert, m->cert_len))
            return fr_fail(err, FR_EINVAL,
                           "member %s of round %u is not on this node's roster (members): "
                           "refusing the round before any share leaves",
                           m->name, s->p.round);
    }
    return FR_OK;
}
