/* fedrecall-coordinator status: fetch GET /v1/status from a running coordinator with
 * an operator's certificate and print it as a compact table (or the JSON as is with
 * --json). What the coordinator sends is treated as untrusted text on the way to a
 * terminal: control characters in names and reasons are shown as '?'. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fr_coord_cmd.h"
#include "net/fr_http_client.h"
#include "util/fr_opts.h"

#define STATUS_MAX_BYTES (16u << 20)

/* s cut to width bytes with control characters replaced, into out (cap > width). */
static const char *clean(const char *s, size_t width, char *out, size_t cap)
{
    size_t i = 0;
    for (; s && s[i] && i < width && i + 1 < cap; i++)
        out[i] = (unsigned char)s[i] < 0x20 || s[i] == 0x7f ? '?' : s[i];
    out[i] = 0;
    return out;
}

static double num(json_t *o, const char *k)
{
    return json_number_value(json_object_get(o, k));
}

static const char *str(json_t *o, const char *k)
{
    const char *s = json_string_value(json_object_get(o, k));
    return s ? s : "";
}

static void ago(double s, char *out, size_t cap)
{
    if (s < 120)
        snprintf(out, cap, "%.0f s ago", s < 0 ? 0 : s);
    else if (s < 7200)
        snprintf(out, cap, "%.0f min ago", s / 60);
    else
        snprintf(out, cap, "%.1f h ago", s / 3600);
}

static void print_table(json_t *root, int last_rounds, FILE *out)
{
    char a[128], b[128];
    json_t *round = json_object_get(root, "round");
    fprintf(out, "model version %.0f (%s, %.0f parameters); nodes live %.0f; ",
            num(root, "model_version"), clean(str(root, "aggregator"), 16, a, sizeof a),
            num(root, "parameters"), num(root, "nodes_live"));
    if (json_is_object(round))
        fprintf(out, "round %.0f open: %.0f of %.0f updates, deadline in %.0f s\n",
                num(round, "id"), num(round, "updates"), num(round, "expected"),
                num(round, "deadline_in_s"));
    else
        fprintf(out, "%s\n",
                json_is_true(json_object_get(root, "finished")) ? "the federation has finished"
                                                                : "no round open");
    json_t *fdp = json_object_get(root, "federation_dp");
    if (json_is_object(fdp)) {
        /* the federation-wide epsilon, as the members' `privacy status` prints it */
        fprintf(out,
                "federation-wide DP: q %g, sigma %.4g, clip %g; %.0f rounds, epsilon %.4g at "
                "delta %g",
                num(fdp, "q"), num(fdp, "sigma"), num(fdp, "clip"), num(fdp, "rounds"),
                num(fdp, "epsilon"), num(fdp, "delta"));
        if (json_object_get(fdp, "planned_epsilon"))
            fprintf(out, " (planned: epsilon %.4g after all %.0f rounds)",
                    num(fdp, "planned_epsilon"), num(fdp, "planned_rounds"));
        fputc('\n', out);
    }
    json_t *nodes = json_object_get(root, "nodes"), *n;
    size_t i;
    fprintf(out, "\n%-16s %-6s %-12s %-7s %-7s %-13s %-8s %-7s %s\n", "NODE", "STATE", "LAST SEEN",
            "VERSION", "USERS", "EPSILON", "ACCEPTED", "REFUSED", "LAST REFUSAL");
    json_array_foreach(nodes, i, n)
    {
        char seen[32], eps[40];
        ago(num(n, "last_seen_s_ago"), seen, sizeof seen);
        if (!json_object_get(n, "users")) {
            /* a view without per-node detail (the reader is not named in operators) */
            fprintf(out, "%-16s %-6s %-12s %-7.0f %-7s %-13s %-8s %-7s %s\n",
                    clean(str(n, "name"), 63, a, sizeof a),
                    json_is_true(json_object_get(n, "live")) ? "live" : "silent", "-",
                    num(n, "model_version"), "-", "-", "-", "-", "-");
            continue;
        }
        if (num(n, "eps_budget") > 0)
            snprintf(eps, sizeof eps, "%.3g/%.3g", num(n, "eps_spent"), num(n, "eps_budget"));
        else
            snprintf(eps, sizeof eps, "no DP");
        const char *refusal = str(n, "last_refusal");
        fprintf(out, "%-16s %-6s %-12s %-7.0f %-7.0f %-13s %-8.0f %-7.0f %s\n",
                clean(str(n, "name"), 63, a, sizeof a),
                json_is_true(json_object_get(n, "live")) ? "live" : "silent", seen,
                num(n, "model_version"), num(n, "users"), eps, num(n, "updates_accepted"),
                num(n, "updates_refused"), *refusal ? clean(refusal, 60, b, sizeof b) : "-");
    }
    if (!json_array_size(nodes))
        fprintf(out, "(no node has joined yet)\n");
    json_t *rounds = json_object_get(root, "rounds"), *r;
    size_t nr = json_array_size(rounds);
    fprintf(out, "\n%-6s %-9s %-7s %-9s %-8s %-7s %s\n", "ROUND", "STATUS", "UPDATES", "VERSION",
            "LOSS", "HR@10", "NDCG@10");
    json_array_foreach(rounds, i, r)
    {
        if (last_rounds > 0 && i + (size_t)last_rounds < nr)
            continue;
        char ver[48], loss[24] = "-", hr[24] = "-", nd[24] = "-";
        if (num(r, "new_version") > 0)
            snprintf(ver, sizeof ver, "%.0f->%.0f", num(r, "model_version"), num(r, "new_version"));
        else
            snprintf(ver, sizeof ver, "%.0f", num(r, "model_version"));
        const char *status = clean(str(r, "status"), 15, a, sizeof a);
        if (!strcmp(status, "published"))
            snprintf(loss, sizeof loss, "%.4f", num(r, "mean_loss"));
        json_t *m = json_object_get(r, "metrics");
        if (json_is_object(m)) {
            snprintf(hr, sizeof hr, "%.4f", num(m, "hr10"));
            snprintf(nd, sizeof nd, "%.4f", num(m, "ndcg10"));
        }
        fprintf(out, "%-6.0f %-9s %-7.0f %-9s %-8s %-7s %s\n", num(r, "round"), status,
                num(r, "updates"), ver, loss, hr, nd);
    }
    if (!nr)
        fprintf(out, "(no round yet)\n");
}

int fr_coord_cmd_status(int argc, char **argv)
{
    const char *url = NULL, *cert = NULL, *key = NULL, *ca = NULL, *crl = NULL;
    int json = 0, rounds = 10, help = 0;
    fr_opt opts[] = {
        {"url", FR_OPT_STR, &url, 0, 0, "the coordinator, https://HOST:PORT", 1, 0},
        {"cert", FR_OPT_STR, &cert, 0, 0, "an operator's certificate (PEM)", 1, 0},
        {"key", FR_OPT_STR, &key, 0, 0, "its private key (PEM)", 1, 0},
        {"ca", FR_OPT_STR, &ca, 0, 0, "the federation CA (PEM)", 1, 0},
        {"crl", FR_OPT_STR, &crl, 0, 0, "revocation list to check the coordinator against", 0, 0},
        {"rounds", FR_OPT_INT, &rounds, 0, 1000000, "newest rounds to list (0: all sent)", 0, 0},
        {"json", FR_OPT_FLAG, &json, 0, 0, "print the status JSON as received", 0, 0},
        {"help", FR_OPT_FLAG, &help, 0, 0, "show this help", 0, 0},
        {0},
    };
    if (fr_opts_handle_help(
            argc, argv,
            "fedrecall-coordinator status --url https://HOST:PORT --cert FILE --key FILE --ca FILE",
            opts,
            "fedrecall-coordinator status --url https://fedrecall.example.org:8443 "
            "--cert ca/nodes/operator.crt --key ca/nodes/operator.key --ca ca/ca.crt"))
        return 0;
    fr_err err = {{0}};
    fr_http_client http = {0};
    fr_http_response resp = {0};
    json_t *root = NULL;
    int rc = 2;
    fr_status st = fr_opts_parse(opts, argc, argv, &err);
    if (st != FR_OK)
        goto fail;
    fr_http_client_config hc = {.base_url = url,
                                .cert = cert,
                                .key = key,
                                .ca = ca,
                                .crl = crl,
                                .timeout_s = 30,
                                .max_response = STATUS_MAX_BYTES};
    if ((st = fr_http_client_init(&http, &hc, &err)) != FR_OK)
        goto fail;
    rc = 1;
    if ((st = fr_http_request(&http, "GET", "/v1/status", NULL, 0, NULL, &resp, &err)) != FR_OK)
        goto fail;
    if (resp.code != 200) {
        char line[256];
        fr_fail(&err, FR_EIO, "HTTP %ld: %s", resp.code,
                clean(resp.body ? (const char *)resp.body : "", 200, line, sizeof line));
        /* the reply ends with a newline, shown as '?'; drop it */
        size_t l = strlen(err.msg);
        if (l && err.msg[l - 1] == '?')
            err.msg[l - 1] = 0;
        goto fail;
    }
    json_error_t je;
    root = json_loadb((const char *)resp.body, resp.len, 0, &je);
    if (!json_is_object(root)) {
        fr_fail(&err, FR_EFORMAT, "%s/v1/status: not a status object (%s)", url, je.text);
        goto fail;
    }
    if (json)
        fwrite(resp.body, 1, resp.len, stdout);
    else
        print_table(root, rounds, stdout);
    rc = 0;
    goto out;
fail:
    fprintf(stderr, "fedrecall-coordinator status: %s\n", err.msg);
out:
    json_decref(root);
    fr_http_response_free(&resp);
    fr_http_client_free(&http);
    return rc;
}
