/* The operator's dashboard: one self-contained HTML page (GET /dashboard) with the
 * federation at a glance, drawn from the store and the live state on every request:
 * the rounds with the nodes that took part, the training loss and the global model's
 * HR@10 and NDCG@10 over versions as inline SVG, each node's last contact, model
 * version and privacy spent against its budget, and the refused requests with their
 * reasons. It refreshes itself; it carries no script and loads nothing from elsewhere
 * (its Content-Security-Policy forbids both). Every string from state is escaped: node
 * names come from certificates, refusal reasons may quote what a peer sent.
 *
 * It is served on the mTLS listener to operator certificates, like /v1/status, and,
 * when dashboard-listen is set, on a plain-HTTP listener that only binds to loopback
 * (for a browser on the coordinator's machine, or an SSH tunnel). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fr_coord.h"
#include "net/fr_html.h"

#define DASH_ROUNDS 100    /* rounds drawn in the charts */
#define DASH_ROUND_ROWS 20 /* rounds listed in the table */
#define DASH_REFUSALS 20
#define DASH_REFRESH_S 10

static void utc(double t, char *out, size_t cap)
{
    time_t s = (time_t)t;
    struct tm tm;
    if (t <= 0 || !gmtime_r(&s, &tm) || !strftime(out, cap, "%Y-%m-%d %H:%M:%S", &tm))
        snprintf(out, cap, "-");
}

static void ago(double s, char *out, size_t cap)
{
    if (s < 0)
        s = 0;
    if (s < 120)
        snprintf(out, cap, "%.0f s ago", s);
    else if (s < 7200)
        snprintf(out, cap, "%.0f min ago", s / 60);
    else if (s < 172800)
        snprintf(out, cap, "%.1f h ago", s / 3600);
    else
        snprintf(out, cap, "%.1f days ago", s / 86400);
}

static const char style[] =
    "body{font-family:sans-serif;margin:16px;color:#222;background:#fafafa}"
    "h1{font-size:20px;margin:0 0 4px}h2{font-size:16px;margin:18px 0 6px}"
    ".sub{color:#666;font-size:12px}"
    ".cards{display:flex;gap:10px;flex-wrap:wrap;margin:10px 0}"
    ".card{background:#fff;border:1px solid #ddd;border-radius:4px;padding:6px 12px}"
    ".card b{display:block;font-size:18px}"
    ".charts{display:flex;gap:10px;flex-wrap:wrap}"
    ".charts svg{border:1px solid #ddd;border-radius:4px}"
    "table{border-collapse:collapse;background:#fff;font-size:12px}"
    "td,th{border:1px solid #ddd;padding:3px 6px;text-align:left;vertical-align:top}"
    "th{background:#eee}td.n{text-align:right}"
    ".live{color:#2a7a2a}.silent{color:#b00}"
    ".bar{display:inline-block;width:80px;height:8px;background:#eee;margin-right:6px}"
    ".bar i{display:block;height:8px;background:#e67e22}"
    ".bar i.over{background:#b00}";

static void cards(FILE *f, fr_coord *c, int known)
{
    fputs("<div class=\"cards\">", f);
    fprintf(f, "<div class=\"card\">model version<b id=\"model-version\">%ld</b></div>",
            c->version);
    fprintf(f, "<div class=\"card\">rounds published<b id=\"published\">%ld</b></div>",
            c->published);
    fprintf(f, "<div class=\"card\">nodes live<b id=\"nodes-live\">%d of %d</b></div>",
            fr_coord_live_count(c), known);
    if (c->rd.id)
        fprintf(f,
                "<div class=\"card\">open round<b id=\"open-round\">%ld: %d of %d updates, "
                "deadline in %.0f s</b></div>",
                c->rd.id, c->rd.agg.count, c->rd.expected,
                fmax(0, c->rd.deadline - fr_coord_now()));
    else
        fprintf(f, "<div class=\"card\">open round<b id=\"open-round\">%s</b></div>",
                c->done ? "none: the federation has finished" : "none");
    fprintf(f, "<div class=\"card\">aggregator<b>%s</b></div>", fr_agg_kind_name(c->agg_cfg.kind));
    fprintf(f, "<div class=\"card\">parameters<b>%zu</b></div>", c->model.n);
    fprintf(f, "<div class=\"card\">requests refused<b>%ld</b></div>", c->stats.refused);
    fputs("</div>\n", f);
}

/* The three charts over the newest DASH_ROUNDS rounds. */
static void charts(FILE *f, fr_coord *c, const fr_round_row *r, int n)
{
    fr_err err = {{0}};
    /* per round: x, updates, loss; per version (the rounds' and version 0): x, HR, NDCG */
    double *buf = calloc((size_t)(6 * n + 3), sizeof *buf);
    if (!buf)
        return;
    double *rx = buf, *nodes = rx + n, *loss = nodes + n, *vx = loss + n, *hr = vx + n + 1,
           *ndcg = hr + n + 1;
    int nv = 0;
    double h = 0, g = 0;
    int reported = 0;
    if (fr_store_metrics_mean(&c->store, 0, &h, &g, &reported, &err) == FR_OK && reported) {
        vx[nv] = 0;
        hr[nv] = h;
        ndcg[nv++] = g;
    }
    for (int i = 0; i < n; i++) {
        rx[i] = (double)r[i].id;
        nodes[i] = r[i].updates;
        loss[i] = !strcmp(r[i].status, "published") ? r[i].mean_loss : NAN;
        if (!strcmp(r[i].status, "open"))
            nodes[i] = c->rd.id == r[i].id ? c->rd.agg.count : r[i].updates;
        if (r[i].new_version > 0 &&
            fr_store_metrics_mean(&c->store, r[i].new_version, &h, &g, &reported, &err) == FR_OK &&
            reported) {
            vx[nv] = (double)r[i].new_version;
            hr[nv] = h;
            ndcg[nv++] = g;
        }
    }
    fr_html_series s_nodes = {"updates", "#2ca02c", rx, nodes, n};
    fr_html_series s_loss = {"mean loss", "#d62728", rx, loss, n};
    fr_html_series s_q[2] = {{"HR@10", "#1f77b4", vx, hr, nv},
                             {"NDCG@10", "#ff7f0e", vx, ndcg, nv}};
    fputs("<div class=\"charts\">", f);
    fr_html_bar_chart(f, "Nodes taking part per round", "round", &s_nodes, 400, 220);
    fr_html_line_chart(f, "Training loss (weighted mean of the round's updates)", "round", &s_loss,
                       1, 400, 220, 0);
    fr_html_line_chart(f, "Global model on the nodes' validation data", "model version", s_q, 2,
                       400, 220, 1);
    fputs("</div>\n", f);
    free(buf);
}

static void nodes_table(FILE *f, fr_coord *c, const fr_node_row *rows, int n)
{
    double now = fr_coord_now();
    fputs("<h2>Nodes</h2><table id=\"nodes\"><tr><th>node</th><th>state</th><th>last seen</th>"
          "<th>model version</th><th>users</th><th>&epsilon; spent / budget</th>"
          "<th>updates accepted</th><th>refused</th><th>last refusal</th></tr>\n",
          f);
    if (!n)
        fputs("<tr><td colspan=\"9\">no node has joined yet</td></tr>\n", f);
    for (int i = 0; i < n; i++) {
        const fr_node_row *r = &rows[i];
        double seen = r->last_seen;
        for (int k = 0; k < c->n_live; k++)
            if (!strcmp(c->live[k].name, r->name) && c->live[k].last_seen > seen)
                seen = c->live[k].last_seen;
        int live = now - seen <= c->cfg.node_timeout;
        char when[32], since[32];
        utc(seen, when, sizeof when);
        ago(now - seen, since, sizeof since);
        fputs("<tr id=\"node-", f);
        fr_html_text(f, r->name);
        fputs("\"><td>", f);
        fr_html_text(f, r->name);
        fprintf(f,
                "</td><td class=\"%s\">%s</td><td>%s (%s UTC)</td><td class=\"n\">%ld</td>"
                "<td class=\"n\">%ld</td><td>",
                live ? "live" : "silent", live ? "live" : "silent", since, when, r->model_version,
                r->users);
        if (r->eps_budget > 0) {
            double frac = r->eps_spent / r->eps_budget;
            fprintf(f, "<span class=\"bar\"><i%s style=\"width:%.0f%%\"></i></span>%.3g / %.3g",
                    frac >= 1 ? " class=\"over\"" : "", fmin(frac, 1) * 100, r->eps_spent,
                    r->eps_budget);
        } else {
            fputs("no DP budget", f);
        }
        fprintf(f, "</td><td class=\"n\">%ld</td><td class=\"n\">%ld</td><td>", r->updates_accepted,
                r->updates_refused);
        fr_html_text(f, r->last_refusal[0] ? r->last_refusal : "-");
        fputs("</td></tr>\n", f);
    }
    fputs("</table>\n", f);
}

/* The newest rounds first, each with the names of the nodes whose updates it took. */
static void rounds_table(FILE *f, fr_coord *c, const fr_round_row *r, int n)
{
    fr_err err = {{0}};
    fputs("<h2>Rounds</h2><table id=\"rounds\"><tr><th>round</th><th>status</th>"
          "<th>opened (UTC)</th><th>took</th><th>version</th><th>nodes</th><th>loss</th>"
          "<th>HR@10</th><th>NDCG@10</th><th>note</th></tr>\n",
          f);
    if (!n)
        fputs("<tr><td colspan=\"10\">no round yet</td></tr>\n", f);
    for (int i = n - 1; i >= 0 && i >= n - DASH_ROUND_ROWS; i--) {
        char opened[32], took[32] = "-", loss[32] = "-", hrs[32] = "-", nds[32] = "-";
        utc(r[i].opened_at, opened, sizeof opened);
        if (r[i].closed_at > 0)
            snprintf(took, sizeof took, "%.1f s", r[i].closed_at - r[i].opened_at);
        if (!strcmp(r[i].status, "published"))
            snprintf(loss, sizeof loss, "%.4f", r[i].mean_loss);
        double h = 0, g = 0;
        int reported = 0;
        if (r[i].new_version > 0 &&
            fr_store_metrics_mean(&c->store, r[i].new_version, &h, &g, &reported, &err) == FR_OK &&
            reported) {
            snprintf(hrs, sizeof hrs, "%.4f", h);
            snprintf(nds, sizeof nds, "%.4f", g);
        }
        fprintf(f, "<tr id=\"round-%ld\"><td class=\"n\">%ld</td><td>", r[i].id, r[i].id);
        fr_html_text(f, r[i].status);
        fprintf(f, "</td><td>%s</td><td class=\"n\">%s</td><td>%ld", opened, took,
                r[i].model_version);
        if (r[i].new_version > 0)
            fprintf(f, " &rarr; %ld", r[i].new_version);
        fputs("</td><td>", f);
        fr_update_row *u = NULL;
        int nu = 0;
        if (fr_store_updates(&c->store, r[i].id, &u, &nu, &err) == FR_OK)
            for (int k = 0; k < nu; k++) {
                if (k)
                    fputs(", ", f);
                fr_html_text(f, u[k].node);
            }
        free(u);
        if (!nu)
            fputs("-", f);
        fprintf(f,
                "</td><td class=\"n\">%s</td><td class=\"n\">%s</td><td class=\"n\">%s</td>"
                "<td>",
                loss, hrs, nds);
        fr_html_text(f, r[i].note);
        fputs("</td></tr>\n", f);
    }
    fputs("</table>\n", f);
}

static void refusals_table(FILE *f, fr_coord *c)
{
    fr_err err = {{0}};
    fr_refusal_row *rf = NULL;
    int n = 0;
    fputs("<h2>Refused requests</h2><table id=\"refusals\"><tr><th>when (UTC)</th>"
          "<th>node</th><th>round</th><th>reason</th></tr>\n",
          f);
    if (fr_store_refusals(&c->store, DASH_REFUSALS, &rf, &n, &err) != FR_OK)
        n = 0;
    if (!n)
        fputs("<tr><td colspan=\"4\">none</td></tr>\n", f);
    for (int i = n - 1; i >= 0; i--) {
        char when[32];
        utc(rf[i].at, when, sizeof when);
        fprintf(f, "<tr><td>%s</td><td>", when);
        fr_html_text(f, rf[i].node[0] ? rf[i].node : "-");
        fputs("</td><td class=\"n\">", f);
        if (rf[i].round > 0)
            fprintf(f, "%ld", rf[i].round);
        else
            fputs("-", f);
        fputs("</td><td>", f);
        fr_html_text(f, rf[i].reason);
        fputs("</td></tr>\n", f);
    }
    free(rf);
    fputs("</table>\n", f);
}

char *fr_coord_dashboard_html(fr_coord *c)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (!f)
        return NULL;
    fr_err err = {{0}};
    fr_round_row *rounds = NULL;
    fr_node_row *nodes = NULL;
    int nr = 0, nn = 0;
    if (fr_store_rounds(&c->store, DASH_ROUNDS, &rounds, &nr, &err) != FR_OK)
        nr = 0;
    if (fr_store_nodes(&c->store, &nodes, &nn, &err) != FR_OK)
        nn = 0;
    char now[32];
    utc(fr_coord_now(), now, sizeof now);
    fprintf(f,
            "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            "<meta http-equiv=\"refresh\" content=\"%d\">"
            "<title>fedrecall federation: version %ld</title><style>%s</style></head><body>\n"
            "<h1>fedrecall federation</h1><div class=\"sub\">coordinator state ",
            DASH_REFRESH_S, c->version, style);
    fr_html_text(f, c->state_dir);
    fprintf(f, ", as of %s UTC; this page refreshes every %d s</div>\n", now, DASH_REFRESH_S);
    cards(f, c, nn);
    fr_coord_fdp_html(f, c);
    charts(f, c, rounds, nr);
    nodes_table(f, c, nodes, nn);
    fr_coord_proposals_html(f, c);
    rounds_table(f, c, rounds, nr);
    refusals_table(f, c);
    fputs("</body></html>\n", f);
    free(rounds);
    free(nodes);
    if (fclose(f) != 0) {
        free(buf);
        return NULL;
    }
    return buf;
}

void fr_coord_on_dashboard(fr_coord *c, struct evhttp_request *req)
{
    char *html = fr_coord_dashboard_html(c);
    if (!html) {
        fr_https_reply_text(req, 500, "out of memory");
        return;
    }
    fr_https_add_header(req, "Content-Security-Policy",
                        "default-src 'none'; style-src 'unsafe-inline'; img-src data:");
    fr_https_add_header(req, "Cache-Control", "no-store");
    fr_https_add_header(req, "X-Content-Type-Options", "nosniff");
    fr_https_reply(req, 200, "text/html; charset=utf-8", html, strlen(html));
    free(html);
}

/* The loopback listener answers the dashboard alone. */
void fr_coord_dashboard_handle(struct evhttp_request *req, const char *peer, void *ctx)
{
    (void)peer;
    fr_coord *c = ctx;
    const char *path = fr_https_path(req);
    if (!path || (strcmp(path, "/dashboard") && strcmp(path, "/"))) {
        fr_https_reply_text(req, 404, "this listener serves /dashboard only");
        return;
    }
    if (fr_https_method(req) != FR_HTTPS_GET) {
        fr_https_reply_text(req, 405, "/dashboard takes GET");
        return;
    }
    fr_coord_on_dashboard(c, req);
}
