/* The node's calls to the coordinator, over mutual TLS. A model is installed only
 * after its signature verifies with the coordinator's key from the node's own
 * configuration, and never when it is older than the one the node holds. */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "fed/fr_catver.h"
#include "fr_fed.h"
#include "util/fr_file.h"
#include "util/fr_log.h"
#include "nn/fr_modelfile.h"

void fr_fed_log(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fr_logv(stdout, "node", fmt, ap);
    va_end(ap);
}

/* Bodies below this move in a moment on any link: no progress lines for them. */
#define PROGRESS_MIN_BYTES (8u << 20)
#define PROGRESS_EVERY_S 2.0

void fr_fed_transfer_progress(void *ctx, uint64_t sent, uint64_t send_total, uint64_t received,
                              uint64_t receive_total)
{
    fr_fed *f = ctx;
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    double now = (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
    int up = send_total >= PROGRESS_MIN_BYTES && sent < send_total;
    int down = receive_total >= PROGRESS_MIN_BYTES && received < receive_total;
    if (!up && !down) {
        f->progress_at = 0; /* the next large transfer logs after its first interval */
        return;
    }
    if (f->progress_at == 0) {
        f->progress_at = now;
        return;
    }
    if (now - f->progress_at < PROGRESS_EVERY_S)
        return;
    f->progress_at = now;
    uint64_t done = up ? sent : received, total = up ? send_total : receive_total;
    fr_fed_log("%s %.1f of %.1f MB (%.0f%%)", up ? "sending" : "receiving", (double)done / 1e6,
               (double)total / 1e6, 100.0 * (double)done / (double)total);
}

/* A non-2xx answer as a status: the coordinator's one-line reason in the message. */
static fr_status refused(const char *what, const fr_http_response *r, fr_err *err)
{
    int n = (int)(r->len < 300 ? r->len : 300);
    for (int i = 0; i < n; i++)
        if (r->body[i] < 0x20 || r->body[i] > 0x7e)
            n = i;
    return fr_fail(err, r->code >= 500 ? FR_EIO : FR_EINVAL, "%s: HTTP %ld: %.*s", what, r->code, n,
                   (const char *)r->body);
}

fr_status fr_fed_join(fr_fed *f, fr_err *err)
{
    /* whether we have data, not how much: the counts are our weight, which only
     * the masked sum of a round carries */
    fr_proto_join j = {.has_data = f->n_windows > 0,
                       .model_version = f->version > 0 ? f->version : 0,
                       .eps_spent = f->eps_spent,
                       .eps_budget = !f->cfg.dp                 ? 0
                                     : f->ledger.budget_eps > 0 ? f->ledger.budget_eps
                                                                : f->cfg.dp_eps_max};
    snprintf(j.software, sizeof j.software, "fedrecall-node");
    /* the identity that secure rounds need, bound to our certificate */
    j.id_pk = (fr_proto_bin){f->identity.pub, sizeof f->identity.pub};
    j.id_cert = (fr_proto_bin){f->binding.cert, f->binding.cert_len};
    j.id_sig = (fr_proto_bin){f->binding.sig, f->binding.sig_len};
    j.unknown_items = (fr_proto_bin){(const uint8_t *)f->proposals, f->proposals_len};
    j.catalogue_mapped = f->mapped_catalogue;
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    fr_proto_join_encode(&j, &sb);
    fr_http_response r = {0};
    fr_status st = fr_http_request(&f->http, "POST", "/v1/join", sb.data, sb.size,
                                   FR_PROTO_CONTENT_TYPE, &r, err);
    msgpack_sbuffer_destroy(&sb);
    if (st == FR_OK && r.code != 200)
        st = refused("join", &r, err);
    fr_proto_join_reply rep;
    if (st == FR_OK && (st = fr_proto_join_reply_decode(r.body, r.len, &rep, err)) == FR_OK)
        f->heartbeat_s = (int)rep.heartbeat_s;
    if (st == FR_OK && strcmp(f->name, rep.node)) {
        snprintf(f->name, sizeof f->name, "%s", rep.node);
        fr_fed_log("joined %s as %s", f->cfg.coordinator, f->name);
    }
    fr_http_response_free(&r);
    return st;
}

fr_status fr_fed_task(fr_fed *f, fr_proto_task *t, fr_err *err)
{
    fr_http_response r = {0};
    fr_status st = fr_http_request(&f->http, "GET", "/v1/task", NULL, 0, NULL, &r, err);
    if (st == FR_OK && r.code != 200)
        st = refused("task", &r, err);
    if (st == FR_OK)
        st = fr_proto_task_decode(r.body, r.len, t, err);
    fr_http_response_free(&r);
    return st;
}

fr_status fr_fed_fetch_model(fr_fed *f, long expect_version, fr_err *err)
{
    fr_http_response r = {0};
    fr_model m = {0};
    fr_status st = fr_http_request(&f->http, "GET", "/v1/model", NULL, 0, NULL, &r, err);
    if (st != FR_OK)
        goto out;
    if (r.code != 200) {
        st = refused("model", &r, err);
        goto out;
    }
    const char *vh = fr_http_response_header(&r, "X-Fr-Model-Version");
    const char *sh = fr_http_response_header(&r, "X-Fr-Signature");
    char *end = NULL;
    long version = vh ? strtol(vh, &end, 10) : -1;
    if (!vh || !sh || *end || version < 0) {
        st = fr_fail(err, FR_EFORMAT, "model: no version or signature header");
        goto out;
    }
    uint8_t sig[FR_SIGN_BYTES];
    if ((st = fr_hex_decode(sh, sig, FR_SIGN_BYTES, err)) != FR_OK ||
        (st = fr_sign_verify_model(f->coord_pub, (uint64_t)version, r.body, r.len, sig, err)) !=
            FR_OK) {
        fr_fed_log("REFUSED model version %ld: %s", version, err->msg);
        goto out;
    }
    if (version < f->version) {
        st = fr_fail(err, FR_EINVAL, "model: version %ld is older than the version %ld held",
                     version, f->version);
        goto out;
    }
    if (version < expect_version)
        fr_fed_log("model: got version %ld while %ld was announced", version, expect_version);
    if ((st = fr_modelfile_decode(&m, fr_backend_cpu(), r.body, r.len, "global model", err)) !=
        FR_OK)
        goto out;
    int changed = 0;
    char what[64];
    snprintf(what, sizeof what, "model version %ld", version);
    if (f->global.n &&
        (st = fr_catver_check_models(&f->global, &m, what, &changed, err)) != FR_OK) {
        fr_fed_log("REFUSED %s", err->msg);
        goto out;
    }
    char path[4200];
    snprintf(path, sizeof path, "%s/global.frm", f->cfg.state_dir);
    char sigline[2 * FR_SIGN_BYTES + 40];
    snprintf(sigline, sizeof sigline, "%ld %s\n", version, sh);
    char sigpath[4200];
    snprintf(sigpath, sizeof sigpath, "%s/global.sig", f->cfg.state_dir);
    /* the signature first: a crash between the two leaves a pair that fails to verify
     * and is fetched again, never an unverified model that is trusted */
    if ((st = fr_file_write_atomic(sigpath, sigline, strlen(sigline), 0600, err)) != FR_OK ||
        (st = fr_file_write_atomic(path, r.body, r.len, 0600, err)) != FR_OK) {
        st = FR_EINVAL; /* the state folder, not the network: stop and say so */
        goto out;
    }
    if (changed)
        fr_fed_rows_reclaimed(f, &m);
    fr_model_free(&f->global);
    f->global = m;
    memset(&m, 0, sizeof m);
    f->version = version;
    fr_fed_log("model version %ld installed (%zu bytes, signature verified)", version, r.len);
    if (changed)
        fr_fed_catalogue_changed(f);
out:
    fr_model_free(&m);
    fr_http_response_free(&r);
    return st;
}

typedef struct upload_src {
    const uint8_t *head;
    size_t head_len;
    const uint8_t *payload;
    size_t payload_len;
    size_t pos;
} upload_src;

static size_t upload_read(void *ctx, uint8_t *buf, size_t cap)
{
    upload_src *s = ctx;
    size_t total = s->head_len + s->payload_len, n = 0;
    while (n < cap && s->pos < total) {
        size_t chunk;
        if (s->pos < s->head_len) {
            chunk = s->head_len - s->pos < cap - n ? s->head_len - s->pos : cap - n;
            memcpy(buf + n, s->head + s->pos, chunk);
        } else {
            size_t off = s->pos - s->head_len;
            chunk = s->payload_len - off < cap - n ? s->payload_len - off : cap - n;
            memcpy(buf + n, s->payload + off, chunk);
        }
        n += chunk;
        s->pos += chunk;
    }
    return n;
}

fr_status fr_fed_upload(fr_fed *f, const fr_proto_update *u, const float *delta, long *code,
                        char *reason, size_t cap, size_t *sent, fr_err *err)
{
    /* the wire carries little-endian floats: the host's own layout on the platforms
     * the node builds for, so the delta goes out straight from its buffer */
    _Static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "little-endian hosts only");
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    fr_proto_update_head_encode(u, &sb);
    upload_src src = {(const uint8_t *)sb.data, sb.size, (const uint8_t *)delta, u->n * 4, 0};
    *sent = sb.size + u->n * 4;
    fr_http_response r = {0};
    fr_status st = fr_http_upload(&f->http, "/v1/update", upload_read, &src,
                                  (uint64_t)(sb.size + u->n * 4), FR_PROTO_CONTENT_TYPE, &r, err);
    msgpack_sbuffer_destroy(&sb);
    if (st == FR_OK) {
        *code = r.code;
        int n = (int)(r.len < cap - 1 ? r.len : cap - 1);
        memcpy(reason, r.body ? (const char *)r.body : "", (size_t)n);
        reason[n] = 0;
        reason[strcspn(reason, "\r\n")] = 0;
    }
    fr_http_response_free(&r);
    return st;
}

fr_status fr_fed_report(fr_fed *f, const fr_proto_metrics *m, fr_err *err)
{
    fr_proto_metrics out;
    fr_node_round_metrics_public(m, f->cfg.require_secagg, &out);
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    fr_proto_metrics_encode(&out, &sb);
    fr_http_response r = {0};
    fr_status st = fr_http_request(&f->http, "POST", "/v1/metrics", sb.data, sb.size,
                                   FR_PROTO_CONTENT_TYPE, &r, err);
    msgpack_sbuffer_destroy(&sb);
    if (st == FR_OK && r.code != 200)
        st = refused("metrics", &r, err);
    fr_http_response_free(&r);
    return st;
}
