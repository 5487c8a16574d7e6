/* What the operator sees: GET /v1/status (JSON), GET /metrics (Prometheus text), and
 * the report command's table of rounds, all drawn from the store and live state. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fr_coord.h"

static json_t *rounds_json(fr_store *s, long last_n)
{
    json_t *arr = json_array();
    fr_round_row *rows = NULL;
    int n = 0;
    fr_err err = {{0}};
    if (fr_store_rounds(s, last_n, &rows, &n, &err) != FR_OK)
        return arr;
    for (int i = 0; i < n; i++) {
        const fr_round_row *r = &rows[i];
        double hr = 0, ndcg = 0;
        int reported = 0;
        if (r->new_version > 0 &&
            fr_store_metrics_mean(s, r->new_version, &hr, &ndcg, &reported, &err) != FR_OK)
            reported = 0;
        json_t *o = json_pack(
            "{s:I, s:I, s:s, s:f, s:f, s:i, s:f, s:f, s:I, s:s}", "round", (json_int_t)r->id,
            "model_version", (json_int_t)r->model_version, "status", r->status, "opened_at",
            r->opened_at, "closed_at", r->closed_at, "updates", r->updates, "weight", r->weight,
            "mean_loss", r->mean_loss, "new_version", (json_int_t)r->new_version, "note", r->note);
        fr_eval_row ev;
        int fed = 0;
        if (reported && fr_store_eval_get(s, r->new_version, &ev, &fed, &err) != FR_OK)
            fed = 0;
        /* "federation": the members' eval-user-weighted means from a secure round's
         * masked sum; "nodes": figures nodes outside secure aggregation sent in the clear */
        if (reported)
            json_object_set_new(o, "metrics",
                                fed ? json_pack("{s:s, s:f, s:f, s:f, s:i, s:f, s:I}", "source",
                                                "federation", "hr10", ev.hr10, "ndcg10", ev.ndcg10,
                                                "recall10", ev.recall10, "nodes", ev.nodes, "users",
                                                ev.users, "round", (json_int_t)ev.round)
                                    : json_pack("{s:s, s:f, s:f, s:i}", "source", "nodes", "hr10",
                                                hr, "ndcg10", ndcg, "nodes", reported));
        json_array_append_new(arr, o);
    }
    free(rows);
    return arr;
}

char *fr_coord_status_json(fr_coord *c, int detail)
{
    fr_err err = {{0}};
    json_t *root = json_object();
    json_object_set_new(root, "model_version", json_integer(c->version));
    json_object_set_new(root, "parameters", json_integer((json_int_t)c->model.n));
    json_object_set_new(root, "model_bytes", json_integer((json_int_t)c->file_len));
    json_object_set_new(root, "aggregator", json_string(fr_agg_kind_name(c->agg_cfg.kind)));
    json_object_set_new(root, "finished", json_boolean(c->done));
    json_object_set_new(root, "nodes_live", json_integer(fr_coord_live_count(c)));
    if (c->rd.id)
        json_object_set_new(root, "round",
                            json_pack("{s:I, s:i, s:i, s:f}", "id", (json_int_t)c->rd.id, "updates",
                                      c->rd.agg.count, "expected", c->rd.expected, "deadline_in_s",
                                      c->rd.deadline - fr_coord_now()));
    json_t *nodes = json_array();
    fr_node_row *rows = NULL;
    int n = 0;
    double now = fr_coord_now();
    if (fr_store_nodes(&c->store, &rows, &n, &err) == FR_OK)
        for (int i = 0; i < n; i++) {
            double seen = rows[i].last_seen;
            for (int k = 0; k < c->n_live; k++)
                if (!strcmp(c->live[k].name, rows[i].name) && c->live[k].last_seen > seen)
                    seen = c->live[k].last_seen;
            if (!detail) {
                /* what any member may see: who is there, and on which version */
                json_array_append_new(nodes,
                                      json_pack("{s:s, s:b, s:I}", "name", rows[i].name, "live",
                                                now - seen <= c->cfg.node_timeout, "model_version",
                                                (json_int_t)rows[i].model_version));
                continue;
            }
            json_array_append_new(
                nodes, json_pack("{s:s, s:f, s:b, s:I, s:I, s:I, s:f, s:f, s:I, s:I, s:s}", "name",
                                 rows[i].name, "last_seen_s_ago", now - seen, "live",
                                 now - seen <= c->cfg.node_timeout, "model_version",
                                 (json_int_t)rows[i].model_version, "users",
                                 (json_int_t)rows[i].users, "windows", (json_int_t)rows[i].windows,
                                 "eps_spent", rows[i].eps_spent, "eps_budget", rows[i].eps_budget,
                                 "updates_accepted", (json_int_t)rows[i].updates_accepted,
                                 "updates_refused", (json_int_t)rows[i].updates_refused,
                                 "last_refusal", rows[i].last_refusal));
        }
    free(rows);
    json_object_set_new(root, "nodes", nodes);
    json_object_set_new(root, "rounds", rounds_json(&c->store, 100));
    json_t *refusals = json_array();
    fr_refusal_row *rf = NULL;
    if (detail && fr_store_refusals(&c->store, 20, &rf, &n, &err) == FR_OK)
        for (int i = 0; i < n; i++)
            json_array_append_new(
                refusals, json_pack("{s:f, s:s, s:I, s:s}", "at", rf[i].at, "node", rf[i].node,
                                    "round", (json_int_t)rf[i].round, "reason", rf[i].reason));
    free(rf);
    json_object_set_new(root, "refusals", refusals);
    int live = 0;
    for (int r = 1; r < c->model.cfg.num_items; r++)
        live += !fr_model_retired(&c->model, r);
    json_object_set_new(root, "catalogue",
                        json_pack("{s:I, s:i, s:i}", "version",
                                  (json_int_t)c->model.catalogue_version, "items",
                                  c->model.cfg.num_items - 1, "live", live));
    json_object_set_new(root, "proposals", fr_coord_proposals_json(c, detail));
    json_t *fdp = fr_coord_fdp_json(c);
    if (fdp)
        json_object_set_new(root, "federation_dp", fdp);
    char *out = json_dumps(root, JSON_INDENT(1));
    json_decref(root);
    return out;
}

/* The federation's figures of the newest version that has some (a secure round's
 * members' eval-user-weighted means, no node's own). */
static void prometheus_eval(fr_coord *c, FILE *f)
{
    fr_eval_row e;
    int found = 0;
    fr_err err = {{0}};
    if (fr_store_eval_get(&c->store, -1, &e, &found, &err) != FR_OK || !found)
        return;
    fprintf(f,
            "# HELP fedrecall_federation_eval_version Newest version with the federation's "
            "evaluation (from a secure round's masked sum).\n"
            "# TYPE fedrecall_federation_eval_version gauge\n"
            "fedrecall_federation_eval_version %ld\n"
            "# HELP fedrecall_federation_eval Its eval-user-weighted means over the round's "
            "members.\n"
            "# TYPE fedrecall_federation_eval gauge\n"
            "fedrecall_federation_eval{metric=\"hr10\"} %.6f\n"
            "fedrecall_federation_eval{metric=\"ndcg10\"} %.6f\n"
            "fedrecall_federation_eval{metric=\"recall10\"} %.6f\n"
            "# HELP fedrecall_federation_eval_users Users those means cover.\n"
            "# TYPE fedrecall_federation_eval_users gauge\n"
            "fedrecall_federation_eval_users %.0f\n",
            e.model_version, e.hr10, e.ndcg10, e.recall10, e.users);
}

char *fr_coord_prometheus(fr_coord *c)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (!f)
        return NULL;
    fprintf(f,
            "# HELP fedrecall_model_version Latest published global model version.\n"
            "# TYPE fedrecall_model_version gauge\nfedrecall_model_version %ld\n",
            c->version);
    fprintf(f,
            "# HELP fedrecall_round_open Id of the open round (0: none).\n"
            "# TYPE fedrecall_round_open gauge\nfedrecall_round_open %ld\n",
            c->rd.id);
    fprintf(f,
            "# HELP fedrecall_round_updates Updates received in the open round.\n"
            "# TYPE fedrecall_round_updates gauge\nfedrecall_round_updates %d\n",
            c->rd.id ? c->rd.agg.count : 0);
    fprintf(f,
            "# HELP fedrecall_nodes_live Nodes heard from within the node timeout.\n"
            "# TYPE fedrecall_nodes_live gauge\nfedrecall_nodes_live %d\n",
            fr_coord_live_count(c));
    fprintf(f,
            "# HELP fedrecall_rounds_published_total Rounds published from this state folder.\n"
            "# TYPE fedrecall_rounds_published_total counter\n"
            "fedrecall_rounds_published_total %ld\n",
            c->published);
    fprintf(f,
            "# HELP fedrecall_requests_total HTTPS requests answered.\n"
            "# TYPE fedrecall_requests_total counter\nfedrecall_requests_total %ld\n",
            c->stats.requests);
    fprintf(f,
            "# HELP fedrecall_refusals_total Requests refused with a reason.\n"
            "# TYPE fedrecall_refusals_total counter\nfedrecall_refusals_total %ld\n",
            c->stats.refused);
    fprintf(f,
            "# HELP fedrecall_refusals_unrecorded_total Refusals neither logged nor stored (a "
            "node over its rate).\n"
            "# TYPE fedrecall_refusals_unrecorded_total counter\n"
            "fedrecall_refusals_unrecorded_total %ld\n",
            c->stats.refusals_unrecorded);
    fprintf(f,
            "# HELP fedrecall_updates_total Model updates by outcome.\n"
            "# TYPE fedrecall_updates_total counter\n"
            "fedrecall_updates_total{outcome=\"accepted\"} %ld\n"
            "fedrecall_updates_total{outcome=\"refused\"} %ld\n",
            c->stats.updates_accepted, c->stats.updates_refused);
    fprintf(f,
            "# HELP fedrecall_update_bytes_total Bytes of accepted updates.\n"
            "# TYPE fedrecall_update_bytes_total counter\nfedrecall_update_bytes_total %.0f\n",
            c->stats.update_bytes);
    fprintf(f,
            "# HELP fedrecall_model_downloads_total Global model downloads.\n"
            "# TYPE fedrecall_model_downloads_total counter\n"
            "fedrecall_model_downloads_total %ld\n",
            c->stats.downloads);
    fprintf(f,
            "# HELP fedrecall_aggregate_seconds_total Time spent applying aggregates.\n"
            "# TYPE fedrecall_aggregate_seconds_total counter\n"
            "fedrecall_aggregate_seconds_total %.6f\n",
            c->stats.aggregate_seconds);
    fr_coord_proposals_prometheus(f, c);
    prometheus_eval(c, f);
    fr_coord_fdp_prometheus(f, c);
    fclose(f);
    return buf;
}

fr_status fr_coord_report(const char *state_dir, FILE *out, fr_err *err)
{
    fr_store s = {0};
    fr_status st = fr_store_open(&s, state_dir, err);
    if (st != FR_OK)
        return st;
    fr_round_row *rows = NULL;
    fr_metrics_row *mets = NULL;
    int n = 0, nm = 0;
    if ((st = fr_store_rounds(&s, 1000000, &rows, &n, err)) != FR_OK ||
        (st = fr_store_metrics(&s, &mets, &nm, err)) != FR_OK)
        goto out;
    fprintf(out, "%-6s %-9s %-7s %-8s %-9s %-7s %-8s %s\n", "round", "status", "nodes", "version",
            "loss", "HR@10", "NDCG@10", "epsilon spent per node");
    double hr = 0, ndcg = 0;
    int reported = 0;
    /* the starting point, when nodes evaluated it */
    if ((st = fr_store_metrics_mean(&s, 0, &hr, &ndcg, &reported, err)) != FR_OK)
        goto out;
    if (reported)
        fprintf(out, "%-6s %-9s %-7s %-8d %-9s %-7.4f %-8.4f %s\n", "-", "initial", "-", 0, "-", hr,
                ndcg, "-");
    for (int i = 0; i < n; i++) {
        const fr_round_row *r = &rows[i];
        reported = 0;
        if (r->new_version > 0 &&
            (st = fr_store_metrics_mean(&s, r->new_version, &hr, &ndcg, &reported, err)) != FR_OK)
            goto out;
        char hrs[16] = "-", nds[16] = "-", eps[512] = "";
        if (reported) {
            snprintf(hrs, sizeof hrs, "%.4f", hr);
            snprintf(nds, sizeof nds, "%.4f", ndcg);
        }
        size_t used = 0;
        for (int k = 0; k < nm && used + 80 < sizeof eps; k++)
            if (mets[k].model_version == r->new_version && r->new_version > 0)
                used += (size_t)snprintf(eps + used, sizeof eps - used, "%s%s=%.3g",
                                         used ? " " : "", mets[k].node, mets[k].eps_spent);
        fprintf(out, "%-6ld %-9s %-7d %-8ld %-9.4f %-7s %-8s %s\n", r->id, r->status, r->updates,
                r->new_version, r->mean_loss, hrs, nds, used ? eps : "-");
        /* the round's note (how far the server stepped, why it was aborted) on a line of its
         * own, indented, so that the columns above stay what scripts read */
        if (r->note[0])
            fprintf(out, "       %s\n", r->note);
    }
    st = fr_coord_fdp_report(&s, out, err);
out:
    free(rows);
    free(mets);
    fr_store_close(&s);
    return st;
}
