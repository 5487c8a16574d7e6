/* The privacy accountant against values computed elsewhere:
 *  - RDP of the sampled Gaussian at integer and fractional orders against a numerical
 *    integration of its definition, A_a = E_{z~N(0,s^2)}[((1-q) + q e^{(2z-1)/(2s^2)})^a],
 *    done with mpmath's quad at 40 digits (an independent computation: no series);
 *  - the epsilon of the example in Opacus's documentation of compute_dp_sgd_privacy
 *    (q = 0.01, sigma = 1.0, 300 steps, delta = 1e-5, orders 2 5 10 20 100:
 *    "epsilon = 2.39 ... The optimal alpha is 5.0");
 *  - values from the test suite of Google's dp_accounting library
 *    (python/dp_accounting/dp_accounting/rdp/rdp_privacy_accountant_test.py):
 *    test_compute_rdp_poisson_sampled_gaussian (q = 0.01, sigma = 2.5, 50 steps, RDP at
 *    orders 2.5, 5, 50, 100 to rtol 1e-4; its value at order 1.5, 6.70579741e-04, is 3%
 *    above the integral of the definition, 50 log(A_1.5) / 0.5 = 6.5007089541e-04 by a
 *    400,000-point trapezoid over +-40 sigma, which this accountant matches to 1e-8),
 * test_compute_epsilon_delta_pure_dp (RDP 1.1 at orders 2..32, delta 1e-5: epsilon 1.32783806176 at
 * order 32), and test_compute_epsilon_delta_gaussian (q = 1, sigma = 4.530877117 is exactly (1,
 * 1e-6)-DP; there over 99,000 orders, here over 251 around the optimum, to 1%);
 *  - edge cases and refusals. */
#include <math.h>

#include "fr_test.h"
#include "privacy/fr_dp_accountant.h"

static void test_rdp_against_integration(void)
{
    static const struct {
        double q, sigma, alpha, rdp;
    } grid[] = {
        {0.01, 1.0, 2.5, 0.000217575332282},
        {0.01, 1.0, 2.0, 0.000171813422075},
        {0.01, 1.0, 3.0, 0.000264637574585},
        {256.0 / 60000, 1.1, 1.5, 1.74797844629e-5},
        {256.0 / 60000, 1.1, 7.3, 8.91813798876e-5},
        {0.1, 0.8, 12, 6.86308932644},
        {0.001, 2.0, 63, 0.856017947358},
        {0.05, 0.5, 4.7, 5.59461937952},
        {0.3, 5.0, 1.1, 0.00200103069289},
    };
    for (size_t i = 0; i < sizeof grid / sizeof grid[0]; i++) {
        double r = fr_rdp_sampled_gaussian(grid[i].q, grid[i].sigma, grid[i].alpha);
        CHECK(fabs(r - grid[i].rdp) <= 1e-6 * grid[i].rdp, "q %g sigma %g alpha %g: %.12g vs %.12g",
              grid[i].q, grid[i].sigma, grid[i].alpha, r, grid[i].rdp);
    }
}

static void test_opacus_documented_case(void)
{
    fr_rdp a;
    fr_err err = {{0}};
    double orders[] = {2, 5, 10, 20, 100}, eps, order;
    CHECK(fr_rdp_init_orders(&a, orders, 5, &err) == FR_OK, "%s", err.msg);
    CHECK(fr_rdp_compose(&a, 0.01, 1.0, 300, &err) == FR_OK, "%s", err.msg);
    CHECK(fr_rdp_epsilon(&a, 1e-5, &eps, &order, &err) == FR_OK, "%s", err.msg);
    CHECK(fabs(eps - 2.39) < 0.005 && order == 5.0, "epsilon %.4f at order %g", eps, order);
    /* composition: 300 steps at once = 100 + 200 */
    fr_rdp b;
    double e2;
    CHECK(fr_rdp_init_orders(&b, orders, 5, &err) == FR_OK, "%s", err.msg);
    CHECK(fr_rdp_compose(&b, 0.01, 1.0, 100, &err) == FR_OK, "%s", err.msg);
    CHECK(fr_rdp_compose(&b, 0.01, 1.0, 200, &err) == FR_OK, "%s", err.msg);
    CHECK(fr_rdp_epsilon(&b, 1e-5, &e2, NULL, &err) == FR_OK, "%s", err.msg);
    CHECK(fabs(e2 - eps) < 1e-12, "composed %.12g vs %.12g", e2, eps);
}

static void test_dp_accounting_values(void)
{
    fr_rdp a;
    fr_err err = {{0}};
    /* RDP of 50 composed steps */
    double orders[] = {1.5, 2.5, 5, 50, 100};
    double want[] = {6.5007089541e-04, 1.08548710e-03, 2.18075656e-03, 2.38460375e-02,
                     1.67416308e02};
    CHECK(fr_rdp_init_orders(&a, orders, 5, &err) == FR_OK, "%s", err.msg);
    CHECK(fr_rdp_compose(&a, 0.01, 2.5, 50, &err) == FR_OK, "%s", err.msg);
    for (int i = 0; i < 5; i++)
        CHECK(fabs(a.rdp[i] - want[i]) <= 1e-4 * want[i], "order %g: %.9g vs %.9g", orders[i],
              a.rdp[i], want[i]);
    /* the conversion alone: a constant RDP is pure DP */
    double pure[31], eps, order;
    for (int i = 0; i < 31; i++)
        pure[i] = 2 + i;
    CHECK(fr_rdp_init_orders(&a, pure, 31, &err) == FR_OK, "%s", err.msg);
    for (int i = 0; i < 31; i++)
        a.rdp[i] = 1.1;
    CHECK(fr_rdp_epsilon(&a, 1e-5, &eps, &order, &err) == FR_OK, "%s", err.msg);
    CHECK(fabs(eps - 1.32783806176) < 1e-9 && order == 32, "pure DP: %.11f at order %g", eps,
          order);
    /* no sampling: the Gaussian mechanism with the noise that gives (1, 1e-6) exactly */
    double fine[251];
    for (int i = 0; i < 251; i++)
        fine[i] = 5 + 0.1 * i;
    CHECK(fr_rdp_init_orders(&a, fine, 251, &err) == FR_OK, "%s", err.msg);
    CHECK(fr_rdp_compose(&a, 1.0, 4.530877117, 1, &err) == FR_OK, "%s", err.msg);
    CHECK(fr_rdp_epsilon(&a, 1e-6, &eps, &order, &err) == FR_OK, "%s", err.msg);
    CHECK(eps >= 1 && eps < 1.01, "q = 1: epsilon %.6f at order %g, want 1 within 1%%", eps, order);
}

static void test_edges(void)
{
    fr_err err = {{0}};
    double e1, e2, s;
    /* q = 1: no sampling, the closed form a / (2 sigma^2) */
    CHECK(fabs(fr_rdp_sampled_gaussian(1.0, 2.0, 3.0) - 3.0 / 8.0) < 1e-15, "q = 1");
    CHECK(fr_dp_epsilon(1.0, 1.0, 1, 1e-5, &e1, &err) == FR_OK && e1 > 3 && e1 < 6, "q=1: %g", e1);
    /* epsilon grows with steps and q, falls with sigma */
    CHECK(fr_dp_epsilon(0.01, 1.0, 1, 1e-5, &e1, &err) == FR_OK && e1 > 0, "one step: %g", e1);
    CHECK(fr_dp_epsilon(0.01, 1.0, 1000, 1e-5, &e2, &err) == FR_OK && e2 > e1, "%g %g", e1, e2);
    /* with almost no privacy loss what remains is the conversion's delta term at the
     * largest order, log(1 - 1/63) - log(63 delta) / 62 = 0.1029 */
    CHECK(fr_dp_epsilon(0.01, 1e4, 1000, 1e-5, &e1, &err) == FR_OK && fabs(e1 - 0.1029) < 1e-3,
          "huge sigma: %g", e1);
    /* sigma search: 3 significant digits, smallest that meets the target */
    CHECK(fr_dp_sigma(0.01, 2.39, 300, 1e-5, &s, &err) == FR_OK, "%s", err.msg);
    CHECK(fr_dp_epsilon(0.01, s, 300, 1e-5, &e1, &err) == FR_OK && e1 <= 2.39, "sigma %g: %g", s,
          e1);
    double below = s - pow(10.0, floor(log10(s)) - 2.0);
    CHECK(fr_dp_epsilon(0.01, below, 300, 1e-5, &e2, &err) == FR_OK && e2 > 2.39,
          "sigma %g also meets the target (%g)", below, e2);
    /* refusals */
    CHECK(fr_dp_epsilon(0.0, 1.0, 10, 1e-5, &e1, &err) == FR_EINVAL && strstr(err.msg, "sampling"),
          "q = 0: %s", err.msg);
    CHECK(fr_dp_epsilon(1.5, 1.0, 10, 1e-5, &e1, &err) == FR_EINVAL, "q > 1");
    CHECK(fr_dp_epsilon(0.1, 0.0, 10, 1e-5, &e1, &err) == FR_EINVAL && strstr(err.msg, "noise"),
          "sigma 0: %s", err.msg);
    CHECK(fr_dp_epsilon(0.1, 1.0, 10, 1.0, &e1, &err) == FR_EINVAL && strstr(err.msg, "delta"),
          "delta 1: %s", err.msg);
    CHECK(fr_dp_epsilon(0.1, 1.0, -1, 1e-5, &e1, &err) == FR_EINVAL, "negative steps");
    CHECK(fr_dp_sigma(0.1, 0.0, 10, 1e-5, &s, &err) == FR_EINVAL, "target epsilon 0");
}

int main(void)
{
    RUN(test_rdp_against_integration);
    RUN(test_opacus_documented_case);
    RUN(test_dp_accounting_values);
    RUN(test_edges);
    return fr_test_end();
}
