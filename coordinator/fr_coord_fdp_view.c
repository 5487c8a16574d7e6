/* The federation-wide epsilon in the operator's views (docs/privacy.md, "Where the
 * federation-wide epsilon is shown"): the "federation_dp" object of /v1/status, the
 * fedrecall_federation_* gauges of /metrics, a panel on the dashboard and a line of the
 * report, all from the published rounds' mechanisms (fr_coord_fdp_figures), composed as
 * the members' ledgers compose them, so that each shows the figure `fedrecall-node
 * privacy status` prints on every member of those rounds. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>

#include "fr_coord.h"

/* The figures, or 0 when there is nothing to show (logged once per view on failure:
 * the store is read at start, so a failure here is a malformed row). */
static int figures(const fr_coord *c, fr_coord_fdp_view *v)
{
    fr_err err = {{0}};
    if (fr_coord_fdp_figures(c, v, &err) != FR_OK) {
        fr_coord_log("dp-federation: the federation's epsilon: %s", err.msg);
        return 0;
    }
    return v->on || v->rounds > 0;
}

json_t *fr_coord_fdp_json(const fr_coord *c)
{
    fr_coord_fdp_view v;
    if (!figures(c, &v))
        return NULL;
    json_t *o = json_pack("{s:b, s:f, s:f, s:f, s:I, s:f, s:f}", "on", v.on, "q", v.q, "sigma",
                          v.sigma, "clip", v.clip, "rounds", (json_int_t)v.rounds, "epsilon", v.eps,
                          "delta", v.delta);
    if (o && v.planned_eps >= 0) {
        json_object_set_new(o, "planned_rounds", json_integer((json_int_t)v.planned_rounds));
        json_object_set_new(o, "planned_epsilon", json_real(v.planned_eps));
    }
    return o;
}

void fr_coord_fdp_prometheus(FILE *f, const fr_coord *c)
{
    fr_coord_fdp_view v;
    if (!figures(c, &v))
        return;
    fprintf(f,
            "# HELP fedrecall_federation_epsilon Epsilon spent by the federation-wide DP rounds "
            "published, at fedrecall_federation_delta (what each member's ledger holds for "
            "them).\n"
            "# TYPE fedrecall_federation_epsilon gauge\n"
            "fedrecall_federation_epsilon %.9g\n"
            "# HELP fedrecall_federation_delta The delta of the federation's epsilon.\n"
            "# TYPE fedrecall_federation_delta gauge\n"
            "fedrecall_federation_delta %g\n"
            "# HELP fedrecall_federation_dp_rounds Federation-wide DP rounds published.\n"
            "# TYPE fedrecall_federation_dp_rounds gauge\n"
            "fedrecall_federation_dp_rounds %ld\n",
            v.eps, v.delta, v.rounds);
    if (v.planned_eps >= 0)
        fprintf(f,
                "# HELP fedrecall_federation_epsilon_planned Epsilon at the federation's delta "
                "once all its rounds are published.\n"
                "# TYPE fedrecall_federation_epsilon_planned gauge\n"
                "fedrecall_federation_epsilon_planned %.9g\n",
                v.planned_eps);
}

void fr_coord_fdp_html(FILE *f, const fr_coord *c)
{
    fr_coord_fdp_view v;
    if (!figures(c, &v))
        return;
    /* numbers only: nothing from a peer to escape */
    fprintf(f,
            "<div class=\"cards\"><div class=\"card\" id=\"federation-dp\">Federation-wide DP%s: "
            "q %g, sigma %.4g, clip C %g; %ld rounds so far, epsilon %.4g at delta %g",
            v.on ? "" : " (earlier runs)", v.q, v.sigma, v.clip, v.rounds, v.eps, v.delta);
    if (v.planned_eps >= 0)
        fprintf(f, " (planned: epsilon %.4g after all %ld rounds)", v.planned_eps,
                v.planned_rounds);
    fputs("</div></div>\n", f);
}

fr_status fr_coord_fdp_report(fr_store *s, FILE *out, fr_err *err)
{
    fr_fdp_round *rows = NULL;
    int n = 0;
    fr_fdp_spent sp;
    fr_fdp_spent_init(&sp);
    fr_status st = fr_store_fdp_rounds(s, &rows, &n, err);
    for (int i = 0; i < n && st == FR_OK; i++)
        st = fr_fdp_spent_add(&sp, &rows[i], err);
    free(rows);
    double eps = 0;
    if (st != FR_OK || n == 0 ||
        (st = fr_fdp_spent_epsilon(&sp, sp.last.delta, &eps, err)) != FR_OK)
        return st;
    /* at the delta of the latest round: the federation's, as its coordinator ran it */
    fprintf(out,
            "federation-wide DP: %ld rounds with distributed noise (q %g, sigma %.4g, clip %g), "
            "epsilon %.4g at delta %g\n",
            sp.rounds, sp.last.q, sp.last.sigma, sp.last.clip, eps, sp.last.delta);
    return FR_OK;
}
