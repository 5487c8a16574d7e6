/* Private row selection (fr_dp_rows.h): the per-row sums are each user's distinct
 * items at 1/sqrt(n) (a vector of norm 1, so one user moves them by at most 1), the
 * selection is in the ledger as one Gaussian step at q 1 before it is drawn, the rows
 * not selected are zero and stay zero through DP steps (no gradient, no noise), and
 * the planner plans the steps on what the selection leaves of the budget. */
#include <math.h>

#include "fr_test.h"
#include "fr_test_dp_data.h"
#include "fr_test_ledger.h"
#include "privacy/fr_dp_plan.h"
#include "privacy/fr_dp_rows.h"

/* The exact per-row sums of the users 0..U-1 except `skip` (-1: none), each user's
 * distinct items of its newest max_windows windows at 1/sqrt(count). */
static void naive_sums(const fr_dp_trainer *tr, int skip, double *sums)
{
    int W = L + 1;
    memset(sums, 0, sizeof(double) * V);
    for (int u = 0; u < tr->n_users; u++) {
        if (u == skip)
            continue;
        int c = tr->user_count[u], k = c < tr->cfg.max_windows ? c : tr->cfg.max_windows;
        int seen[V] = {0}, n = 0;
        for (int i = 0; i < k * W; i++) {
            int32_t j = tr->windows[(tr->user_first[u] + c - k) * W + i];
            if (j > 0 && !seen[j]) {
                seen[j] = 1;
                n++;
            }
        }
        for (int j = 1; j < V; j++)
            if (seen[j])
                sums[j] += 1.0 / sqrt((double)n);
    }
}

static void test_sums_and_sensitivity(void)
{
    make_data_seeded(7, 5);
    fr_model m;
    fr_dp_trainer tr;
    if (setup_trainer(&m, &tr, 0.5, 1.0, 1.0f, 0))
        return;
    fr_err err = {{0}};
    fr_dp_rows r;
    /* noise far below the sums' resolution: the noisy sums are the exact ones */
    CHECK(fr_dp_rows_select(&r, &tr, NULL, 1e-9, 0.5, &err) == FR_OK, "%s", err.msg);
    double exact[V], without[V];
    naive_sums(&tr, -1, exact);
    int over = 0;
    for (int j = 1; j < V; j++) {
        CHECK(fabs(r.noisy[j] - exact[j]) < 1e-5, "row %d: %g vs %g", j, (double)r.noisy[j],
              exact[j]);
        CHECK(r.trained[j] == (exact[j] > 0.5), "row %d flagged %d at sum %g", j, r.trained[j],
              exact[j]);
        over += exact[j] > 0.5;
    }
    CHECK(r.trained[0] == 0 && r.n_trained == over && over > 0 && over < V - 1,
          "%d rows trained, %d over the threshold", r.n_trained, over);
    /* each user moves the sums by exactly 1 in L2: the sensitivity the ledger counts */
    for (int u = 0; u < tr.n_users; u++) {
        naive_sums(&tr, u, without);
        double d2 = 0;
        for (int j = 1; j < V; j++)
            d2 += (exact[j] - without[j]) * (exact[j] - without[j]);
        CHECK(fabs(sqrt(d2) - 1.0) < 1e-9, "user %d moves the sums by %g", u, sqrt(d2));
    }
    fr_dp_rows_free(&r);
    CHECK(fr_dp_rows_select(&r, &tr, NULL, 0.0, 0.5, &err) == FR_EINVAL, "no noise accepted");
    CHECK(fr_dp_rows_select(&r, &tr, NULL, 1.0, NAN, &err) == FR_EINVAL, "NaN threshold");
    fr_dp_trainer_free(&tr);
    fr_model_free(&m);
    free(windows);
}

static void test_selection_is_in_the_ledger(void)
{
    make_data_seeded(8, 5);
    fr_model m;
    fr_dp_trainer tr;
    tmp_ledger t;
    if (setup_trainer(&m, &tr, 0.5, 1.0, 1.0f, 0))
        return;
    if (!open_tmp(&t, "dp_rows")) {
        fr_dp_trainer_free(&tr);
        fr_model_free(&m);
        free(windows);
        return;
    }
    fr_err err = {{0}};
    fr_dp_rows r;
    CHECK(fr_dp_rows_select(&r, &tr, &t.l, 3.0, 1.0, &err) == FR_OK, "%s", err.msg);
    CHECK(t.l.steps == 1, "%ld steps in the ledger", t.l.steps);
    double spent = 0, want = 0;
    CHECK(fr_dp_ledger_spent(&t.l, 1e-5, &spent, &err) == FR_OK, "%s", err.msg);
    CHECK(fr_dp_epsilon(1.0, 3.0, 1, 1e-5, &want, &err) == FR_OK, "%s", err.msg);
    CHECK(fabs(spent - want) < 1e-9 && spent > 0, "spent %g, one Gaussian at sigma 3: %g", spent,
          want);
    /* the ledger on disk holds it too: a restart does not forget the selection */
    fr_dp_ledger again = {.fd = -1};
    CHECK(fr_dp_ledger_open(&again, t.dir, &err) == FR_OK && again.steps == 1, "%s", err.msg);
    fr_dp_ledger_close(&again);
    fr_dp_rows_free(&r);
    close_tmp(&t);
    fr_dp_trainer_free(&tr);
    fr_model_free(&m);
    free(windows);
}

/* Rows not selected are zero after set_rows and after DP steps; selected rows move. */
static void test_rows_left_out_stay_zero(int per_user)
{
    make_data_seeded(9, 5);
    fr_model m;
    fr_dp_trainer tr;
    if (setup_trainer(&m, &tr, 0.6, 1.0, 1.0f, per_user))
        return;
    fr_err err = {{0}};
    fr_dp_rows r;
    CHECK(fr_dp_rows_select(&r, &tr, NULL, 1e-9, 0.6, &err) == FR_OK, "%s", err.msg);
    CHECK(r.n_trained > 0 && r.n_trained < V - 1, "%d rows", r.n_trained);
    float before[V * D];
    const float *e = m.params + m.p[FR_P_E_ID].offset;
    CHECK(fr_dp_trainer_set_rows(&tr, &r, &err) == FR_OK, "%s", err.msg);
    memcpy(before, e, sizeof before);
    for (int s = 0; s < 4; s++) {
        fr_dp_step_stats st;
        CHECK(fr_dp_trainer_step(&tr, &st, &err) == FR_OK, "%s", err.msg);
    }
    int moved = 0, bad = 0;
    for (int j = 1; j < V; j++)
        for (int k = 0; k < D; k++) {
            float now = e[j * D + k];
            if (!r.trained[j])
                bad += before[j * D + k] != 0.0f || now != 0.0f;
            else
                moved += now != before[j * D + k];
        }
    CHECK(bad == 0, "per_user %d: %d coordinates of rows left out are not zero", per_user, bad);
    CHECK(moved > r.n_trained * D / 2, "per_user %d: only %d coordinates of selected rows moved",
          per_user, moved);
    fr_dp_rows_free(&r);
    /* no row selected: refused, not a run that trains nothing */
    CHECK(fr_dp_rows_select(&r, &tr, NULL, 1e-9, 1e9, &err) == FR_OK && r.n_trained == 0, "%s",
          err.msg);
    CHECK(fr_dp_trainer_set_rows(&tr, &r, &err) == FR_EINVAL, "no row selected accepted");
    fr_dp_rows_free(&r);
    fr_dp_trainer_free(&tr);
    fr_model_free(&m);
    free(windows);
}

static void test_rows_left_out_batched(void)
{
    test_rows_left_out_stay_zero(0);
}

static void test_rows_left_out_per_user(void)
{
    test_rows_left_out_stay_zero(1);
}

/* The planner plans the steps on what the selection leaves: selection plus steps stay
 * within the budget, with more noise than without a selection. */
static void test_plan_with_selection(void)
{
    tmp_ledger t;
    if (!open_tmp(&t, "dp_rows_plan"))
        return;
    fr_err err = {{0}};
    fr_dp_plan with, without;
    fr_dp_plan_req r = {.eps_max = 4.0, .users = 2000, .q = 0.05, .steps = 200, .rounds = 1};
    CHECK(fr_dp_plan_make(&t.l, &r, &without, &err) == FR_OK, "%s", err.msg);
    double sel = 0;
    CHECK(fr_dp_plan_rows_sigma(&t.l, 0.1, &sel, &err) == FR_OK, "%s", err.msg);
    double sel_eps = 0;
    CHECK(fr_dp_epsilon(1.0, sel, 1, t.l.budget_delta, &sel_eps, &err) == FR_OK, "%s", err.msg);
    CHECK(sel_eps <= 0.4 && sel_eps > 0.39, "the selection alone costs %g of 4", sel_eps);
    r.sel_sigma = sel;
    CHECK(fr_dp_plan_make(&t.l, &r, &with, &err) == FR_OK, "%s", err.msg);
    CHECK(with.sigma > without.sigma, "sigma %g with a selection, %g without", with.sigma,
          without.sigma);
    fr_rdp a = t.l.rdp;
    double eps = 0;
    CHECK(fr_rdp_compose(&a, 1.0, sel, 1, &err) == FR_OK &&
              fr_rdp_compose(&a, 0.05, with.sigma, 200, &err) == FR_OK &&
              fr_rdp_epsilon(&a, t.l.budget_delta, &eps, NULL, &err) == FR_OK,
          "%s", err.msg);
    CHECK(eps <= 4.0 && eps > 3.99, "selection and steps spend %g of 4", eps);
    /* a given noise that the selection pushes over the budget is flagged */
    r.noise = without.sigma;
    CHECK(fr_dp_plan_make(&t.l, &r, &with, &err) == FR_OK && with.over_budget,
          "over the budget not flagged");
    CHECK(fr_dp_plan_rows_sigma(&t.l, 1.5, &sel, &err) == FR_EINVAL, "a share over 1 accepted");
    close_tmp(&t);
}

int main(void)
{
    RUN(test_sums_and_sensitivity);
    RUN(test_selection_is_in_the_ledger);
    RUN(test_rows_left_out_batched);
    RUN(test_rows_left_out_per_user);
    RUN(test_plan_with_selection);
    return fr_test_end();
}
