/* A node's roster (common/secagg/fr_roster.c): entries by certificate name or SHA-256
 * fingerprint, malformed ones refused naming the entry, and a round's setup refused
 * when any member other than the node itself is not on it; no roster admits all. */
#include <sodium.h>
#include <stdio.h>
#include <string.h>

#include "secagg/fr_roster.h"
#include "fr_test.h"

static const uint8_t cert_a[] = "certificate of shop-a", cert_b[] = "certificate of shop-b",
                     cert_x[] = "certificate of sybil";

/* "sha256:" and the fingerprint of cert, upper case with colons when colons. */
static void fingerprint(const uint8_t *cert, size_t len, int colons, char *out, size_t cap)
{
    uint8_t h[32];
    crypto_hash_sha256(h, cert, len);
    size_t w = (size_t)snprintf(out, cap, "sha256:");
    for (int i = 0; i < 32; i++)
        w += (size_t)snprintf(out + w, cap - w, colons ? "%s%02X" : "%s%02x",
                              colons && i ? ":" : "", h[i]);
}

static void member(fr_secagg_setup *s, int i, const char *name, const uint8_t *cert, size_t len)
{
    s->e[i].id = i + 1;
    snprintf(s->e[i].name, sizeof s->e[i].name, "%s", name);
    s->e[i].cert = cert;
    s->e[i].cert_len = len;
}

static void test_parse(void)
{
    fr_roster r;
    fr_err err = {{0}};
    char fp[160], spec[400];
    fingerprint(cert_b, sizeof cert_b, 1, fp, sizeof fp);
    snprintf(spec, sizeof spec, "shop-a, %s  shop-c", fp);
    CHECK(fr_roster_parse(&r, spec, &err) == FR_OK && r.n == 3, "%s: %s", spec, err.msg);
    CHECK(!r.e[0].is_fp && !strcmp(r.e[0].name, "shop-a") && r.e[1].is_fp &&
              !strcmp(r.e[2].name, "shop-c"),
          "entries");
    CHECK(fr_roster_parse(&r, NULL, &err) == FR_OK && r.n == 0, "no roster");
    CHECK(fr_roster_parse(&r, " , ", &err) == FR_OK && r.n == 0, "an empty list");
    const char *bad[] = {"shop/a", "-x", "sha256:12", "sha256:zz", fp + 1};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        CHECK(fr_roster_parse(&r, bad[i], &err) == FR_EINVAL && strstr(err.msg, "members:"),
              "'%s' accepted (%s)", bad[i], err.msg);
    snprintf(spec, sizeof spec, "shop-a,%s:00", fp);
    CHECK(fr_roster_parse(&r, spec, &err) == FR_EINVAL, "a fingerprint too long");
}

static void test_admits_and_check(void)
{
    fr_roster r;
    fr_err err = {{0}};
    char fp[160], spec[400];
    fingerprint(cert_b, sizeof cert_b, 0, fp, sizeof fp);
    snprintf(spec, sizeof spec, "shop-a,%s", fp);
    CHECK(fr_roster_parse(&r, spec, &err) == FR_OK, "%s", err.msg);
    CHECK(fr_roster_admits(&r, "shop-a", cert_x, sizeof cert_x), "a name admits its holder");
    CHECK(fr_roster_admits(&r, "shop-b", cert_b, sizeof cert_b), "a fingerprint admits its cert");
    CHECK(!fr_roster_admits(&r, "shop-b", cert_x, sizeof cert_x),
          "a fingerprint admitted another certificate of the same name");
    CHECK(!fr_roster_admits(&r, "sybil", cert_x, sizeof cert_x), "an unknown member admitted");
    static fr_secagg_setup s;
    memset(&s, 0, sizeof s);
    s.p.round = 5;
    s.p.n = 3;
    member(&s, 0, "me", cert_x, sizeof cert_x); /* the node itself need not be listed */
    member(&s, 1, "shop-a", cert_a, sizeof cert_a);
    member(&s, 2, "shop-b", cert_b, sizeof cert_b);
    CHECK(fr_roster_check(&r, &s, "me", &err) == FR_OK, "the pinned partners: %s", err.msg);
    member(&s, 2, "sybil", cert_x, sizeof cert_x);
    CHECK(fr_roster_check(&r, &s, "me", &err) == FR_EINVAL && strstr(err.msg, "sybil") &&
              strstr(err.msg, "roster"),
          "a round with an unknown member: %s", err.msg);
    fr_roster none;
    CHECK(fr_roster_parse(&none, "", &err) == FR_OK &&
              fr_roster_check(&none, &s, "me", &err) == FR_OK,
          "no roster admits every member");
}

int main(void)
{
    if (sodium_init() < 0)
        return 1;
    RUN(test_parse);
    RUN(test_admits_and_check);
    return fr_test_end();
}
