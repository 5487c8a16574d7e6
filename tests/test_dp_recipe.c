/* The recipe from the budget (fr_dp_recipe.h): its rule (the smallest rate of the grid
 * whose noise on the mean gradient is within the bound, else the largest batches that
 * leave the fewest steps), a noise multiplier that spends no more than the budget,
 * the same answer for the same inputs, and refusals. */
#include <math.h>
#include <string.h>

#include "fr_test.h"
#include "privacy/fr_dp_accountant.h"
#include "privacy/fr_dp_recipe.h"
#include "privacy/fr_dp_sgd.h"

/* epsilon of the recipe's own steps at its sigma */
static double spent(const fr_dp_recipe *r, double delta)
{
    double eps = INFINITY;
    fr_err err = {{0}};
    if (fr_dp_epsilon(r->q, r->sigma, r->steps, delta, &eps, &err) != FR_OK)
        return INFINITY;
    return eps;
}

static void test_many_users_meet_the_bound(void)
{
    fr_err err = {{0}};
    fr_dp_recipe r, smaller;
    double delta = 1.0 / 200000;
    CHECK(fr_dp_recipe_pick(8.0, delta, 20000, 2, &r, &err) == FR_OK, "%s", err.msg);
    CHECK(!r.noisy && r.noise_mean <= FR_DP_RECIPE_NOISE, "noise %g", r.noise_mean);
    CHECK(r.steps == 2 * fr_dp_steps_per_epoch(r.q) && r.steps >= FR_DP_RECIPE_MIN_STEPS,
          "%ld steps at q %g", r.steps, r.q);
    CHECK(fabs(r.noise_mean - r.sigma * r.clip / (r.q * 20000)) < 1e-12, "noise %g", r.noise_mean);
    CHECK(r.clip == FR_DP_RECIPE_CLIP && r.lr == FR_DP_RECIPE_LR, "C %g lr %g", (double)r.clip,
          (double)r.lr);
    double e = spent(&r, delta);
    CHECK(e <= 8.0 && e > 7.9, "the recipe spends %g of 8", e);
    /* the next smaller rate of the grid is over the bound: the smallest was taken */
    static const double grid[] = {0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0};
    double q2 = 0;
    for (int i = 1; i < 10; i++)
        if (grid[i] == r.q)
            q2 = grid[i - 1];
    CHECK(q2 > 0 && q2 * 20000 >= FR_DP_RECIPE_MIN_USERS, "q %g is not past the grid's start", r.q);
    double sigma2 = 0;
    long steps2 = 2 * fr_dp_steps_per_epoch(q2);
    CHECK(fr_dp_sigma(q2, 8.0, steps2, delta, &sigma2, &err) == FR_OK, "%s", err.msg);
    CHECK(sigma2 / (q2 * 20000) > FR_DP_RECIPE_NOISE, "q %g (noise %g) would have met the bound",
          q2, sigma2 / (q2 * 20000));
    /* more budget, same rate or a smaller one: never a noisier recipe */
    CHECK(fr_dp_recipe_pick(3.0, delta, 20000, 2, &smaller, &err) == FR_OK, "%s", err.msg);
    CHECK(smaller.q >= r.q && spent(&smaller, delta) <= 3.0, "epsilon 3: q %g", smaller.q);
}

static void test_few_users_take_large_batches(void)
{
    fr_err err = {{0}};
    fr_dp_recipe r;
    CHECK(fr_dp_recipe_pick(8.0, 1.0 / 6100, 610, 10, &r, &err) == FR_OK, "%s", err.msg);
    CHECK(r.noisy && r.q == 10.0 / FR_DP_RECIPE_MIN_STEPS, "noisy %d q %g", r.noisy, r.q);
    CHECK(r.steps == FR_DP_RECIPE_MIN_STEPS, "%ld steps", r.steps);
    CHECK(spent(&r, 1.0 / 6100) <= 8.0, "spends %g", spent(&r, 1.0 / 6100));
    /* more epochs than the fewest steps allow at rate 1: every user every step */
    CHECK(fr_dp_recipe_pick(8.0, 1e-3, 100, 80, &r, &err) == FR_OK && r.q == 1.0 && r.steps == 80,
          "q %g, %ld steps", r.q, r.steps);
}

static void test_rounds(void)
{
    fr_err err = {{0}};
    fr_dp_recipe r;
    CHECK(fr_dp_recipe_pick_rounds(8.0, 1e-6, 50000, 200, &r, &err) == FR_OK, "%s", err.msg);
    CHECK(r.steps == 200 && !r.noisy && r.noise_mean <= FR_DP_RECIPE_NOISE, "%ld steps, noise %g",
          r.steps, r.noise_mean);
    CHECK(spent(&r, 1e-6) <= 8.0, "spends %g", spent(&r, 1e-6));
    CHECK(fr_dp_recipe_pick_rounds(8.0, 1e-4, 600, 25, &r, &err) == FR_OK, "%s", err.msg);
    CHECK(r.noisy && r.q == 1.0 && r.steps == 25, "noisy %d q %g", r.noisy, r.q);
}

static void test_same_inputs_same_recipe(void)
{
    fr_err err = {{0}};
    fr_dp_recipe a, b;
    CHECK(fr_dp_recipe_pick(3.0, 5e-6, 19412, 5, &a, &err) == FR_OK, "%s", err.msg);
    CHECK(fr_dp_recipe_pick(3.0, 5e-6, 19412, 5, &b, &err) == FR_OK, "%s", err.msg);
    CHECK(!memcmp(&a, &b, sizeof a), "two answers for one budget");
    CHECK(fr_dp_recipe_pick_rounds(3.0, 5e-6, 19412, 100, &a, &err) == FR_OK, "%s", err.msg);
    CHECK(fr_dp_recipe_pick_rounds(3.0, 5e-6, 19412, 100, &b, &err) == FR_OK, "%s", err.msg);
    CHECK(!memcmp(&a, &b, sizeof a), "two answers for one federation budget");
}

static void test_refusals(void)
{
    fr_err err = {{0}};
    fr_dp_recipe r;
    CHECK(fr_dp_recipe_pick(0.0, 1e-5, 100, 1, &r, &err) == FR_EINVAL, "epsilon 0");
    CHECK(fr_dp_recipe_pick(INFINITY, 1e-5, 100, 1, &r, &err) == FR_EINVAL, "epsilon inf");
    CHECK(fr_dp_recipe_pick(1.0, 1.0, 100, 1, &r, &err) == FR_EINVAL, "delta 1");
    CHECK(fr_dp_recipe_pick(1.0, 1e-5, 0, 1, &r, &err) == FR_EINVAL, "no users");
    CHECK(fr_dp_recipe_pick(1.0, 1e-5, 100, 0, &r, &err) == FR_EINVAL, "no epochs");
    CHECK(fr_dp_recipe_pick_rounds(1.0, 1e-5, 100, 0, &r, &err) == FR_EINVAL, "no rounds");
    CHECK(strstr(err.msg, "rounds") != NULL, "message: %s", err.msg);
}

static void test_server_lr(void)
{
    /* 1/rounds within [0.01, 0.05]; 0.01 without a number of rounds */
    long rounds[] = {0, 1, 10, 20, 40, 50, 100, 1000};
    double want[] = {0.01, 0.05, 0.05, 0.05, 0.025, 0.02, 0.01, 0.01};
    for (int i = 0; i < 8; i++)
        CHECK(fabs(fr_dp_recipe_server_lr(rounds[i]) - want[i]) < 1e-15, "%ld rounds: %g",
              rounds[i], fr_dp_recipe_server_lr(rounds[i]));
}

int main(void)
{
    RUN(test_many_users_meet_the_bound);
    RUN(test_few_users_take_large_batches);
    RUN(test_rounds);
    RUN(test_same_inputs_same_recipe);
    RUN(test_refusals);
    RUN(test_server_lr);
    return fr_test_end();
}
