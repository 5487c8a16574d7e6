/* fedrecall-node privacy: the accountant on the command line.
 *   privacy epsilon --sampling-rate Q --noise-multiplier S --steps T --delta D [--json]
 *   privacy sigma   --sampling-rate Q --epsilon E --steps T --delta D [--json]
 *   privacy status  --state-dir DIR [--delta D] [--json]
 *   privacy recipe  --epsilon E --users N --epochs K [--delta D] [--json]
 * The answer stands alone on the last line (a bare number), so scripts can take it. */
#include <stdio.h>
#include <string.h>

#include "fr_cmd.h"
#include "privacy/fr_dp_accountant.h"
#include "privacy/fr_dp_ledger.h"
#include "privacy/fr_dp_plan.h"
#include "privacy/fr_dp_recipe.h"
#include "util/fr_opts.h"

static int cmd_epsilon(int argc, char **argv)
{
    double q = 0, sigma = 0, delta = 1e-5;
    int steps = 0, json = 0, help = 0;
    fr_opt opts[] = {
        {"sampling-rate", FR_OPT_DOUBLE, &q, 1e-12, 1, "probability q that a user is sampled", 1,
         0},
        {"noise-multiplier", FR_OPT_DOUBLE, &sigma, 1e-6, 1e9, "noise stddev over clip norm", 1, 0},
        {"steps", FR_OPT_INT, &steps, 0, 2e9, "number of steps", 1, 0},
        {"delta", FR_OPT_DOUBLE, &delta, 1e-300, 0.999999, "target delta", 0, 0},
        {"json", FR_OPT_FLAG, &json, 0, 0, "print a JSON object", 0, 0},
        {"help", FR_OPT_FLAG, &help, 0, 0, "show this help", 0, 0},
        {0},
    };
    if (fr_opts_handle_help(argc, argv,
                            "fedrecall-node privacy epsilon --sampling-rate Q --noise-multiplier S "
                            "--steps T [--delta D] [--json]",
                            opts,
                            "fedrecall-node privacy epsilon --sampling-rate 0.004267 "
                            "--noise-multiplier 1.1 --steps 14063 --delta 1e-5"))
        return 0;
    fr_err err = {{0}};
    fr_status st = fr_opts_parse(opts, argc, argv, &err);
    fr_rdp a;
    double eps = 0, order = 0;
    fr_rdp_init(&a);
    if (st == FR_OK)
        st = fr_rdp_compose(&a, q, sigma, steps, &err);
    if (st == FR_OK)
        st = fr_rdp_epsilon(&a, delta, &eps, &order, &err);
    if (st)
        return fr_cmd_fail("privacy epsilon", st, err.msg);
    if (json)
        printf("{\"epsilon\": %.6g, \"delta\": %g, \"order\": %g, \"sampling_rate\": %g, "
               "\"noise_multiplier\": %g, \"steps\": %d}\n",
               eps, delta, order, q, sigma, steps);
    else
        printf("%d steps at q=%g, sigma=%g: (epsilon, delta) = (%.4g, %g) at RDP order %g\n%.6g\n",
               steps, q, sigma, eps, delta, order, eps);
    return 0;
}

static int cmd_sigma(int argc, char **argv)
{
    double q = 0, eps = 0, delta = 1e-5;
    int steps = 0, json = 0, help = 0;
    fr_opt opts[] = {
        {"sampling-rate", FR_OPT_DOUBLE, &q, 1e-12, 1, "probability q that a user is sampled", 1,
         0},
        {"epsilon", FR_OPT_DOUBLE, &eps, 1e-9, 1e9, "target epsilon", 1, 0},
        {"steps", FR_OPT_INT, &steps, 1, 2e9, "number of steps", 1, 0},
        {"delta", FR_OPT_DOUBLE, &delta, 1e-300, 0.999999, "target delta", 0, 0},
        {"json", FR_OPT_FLAG, &json, 0, 0, "print a JSON object", 0, 0},
        {"help", FR_OPT_FLAG, &help, 0, 0, "show this help", 0, 0},
        {0},
    };
    if (fr_opts_handle_help(argc, argv,
                            "fedrecall-node privacy sigma --sampling-rate Q --epsilon E --steps T "
                            "[--delta D] [--json]",
                            opts,
                            "fedrecall-node privacy sigma --sampling-rate 0.01 --epsilon 3 "
                            "--steps 1000 --delta 1e-5"))
        return 0;
    fr_err err = {{0}};
    double sigma = 0;
    fr_status st = fr_opts_parse(opts, argc, argv, &err);
    if (st == FR_OK)
        st = fr_dp_sigma(q, eps, steps, delta, &sigma, &err);
    if (st)
        return fr_cmd_fail("privacy sigma", st, err.msg);
    if (json)
        printf(
            "{\"noise_multiplier\": %.3g, \"epsilon\": %g, \"delta\": %g, \"sampling_rate\": %g, "
            "\"steps\": %d}\n",
            sigma, eps, delta, q, steps);
    else
        printf("smallest noise multiplier for epsilon <= %g at delta %g, q=%g, %d steps:\n%.3g\n",
               eps, delta, q, steps, sigma);
    return 0;
}

/* What `train --dp` picks from a budget when q, the noise, the clip and lr are not
 * given (fr_dp_recipe.h). */
static int cmd_recipe(int argc, char **argv)
{
    double eps = 0, delta = 0;
    int users = 0, epochs = 0, json = 0, help = 0;
    fr_opt opts[] = {
        {"epsilon", FR_OPT_DOUBLE, &eps, 1e-9, 1e9, "the budget's epsilon", 1, 0},
        {"users", FR_OPT_INT, &users, 1, 2e9, "users with a training window", 1, 0},
        {"epochs", FR_OPT_INT, &epochs, 1, 1e6, "epochs of the run", 1, 0},
        {"delta", FR_OPT_DOUBLE, &delta, 1e-300, 0.999999, "delta (default 1/(10 users))", 0, 0},
        {"json", FR_OPT_FLAG, &json, 0, 0, "print a JSON object", 0, 0},
        {"help", FR_OPT_FLAG, &help, 0, 0, "show this help", 0, 0},
        {0},
    };
    if (fr_opts_handle_help(argc, argv,
                            "fedrecall-node privacy recipe --epsilon E --users N --epochs K "
                            "[--delta D] [--json]",
                            opts,
                            "fedrecall-node privacy recipe --epsilon 8 --users 19412 --epochs 5"))
        return 0;
    fr_err err = {{0}};
    fr_dp_recipe r;
    fr_status st = fr_opts_parse(opts, argc, argv, &err);
    if (st == FR_OK) {
        if (!(delta > 0))
            delta = fr_dp_plan_default_delta(users);
        st = fr_dp_recipe_pick(eps, delta, users, epochs, &r, &err);
    }
    if (st)
        return fr_cmd_fail("privacy recipe", st, err.msg);
    if (json)
        printf("{\"sampling_rate\": %g, \"steps\": %ld, \"noise_multiplier\": %.4g, "
               "\"noise_on_mean\": %.4g, \"clip\": %g, \"lr\": %g, \"noisy\": %s, "
               "\"epsilon\": %g, \"delta\": %g}\n",
               r.q, r.steps, r.sigma, r.noise_mean, (double)r.clip, (double)r.lr,
               r.noisy ? "true" : "false", eps, delta);
    else
        printf("epsilon %g at delta %g, %d users, %d epochs: q=%g (%ld steps), sigma=%.4g, C=%g, "
               "lr=%g; noise on a coordinate of the mean gradient %.3g%s\n%g\n",
               eps, delta, users, epochs, r.q, r.steps, r.sigma, (double)r.clip, (double)r.lr,
               r.noise_mean,
               r.noisy ? " (above the recipe's bound at every rate: the largest batches that "
                         "leave its fewest steps)"
                       : "",
               r.q);
    return 0;
}

static int cmd_status(int argc, char **argv)
{
    const char *dir = "fedrecall-state";
    double delta = 0;
    int json = 0, help = 0;
    fr_opt opts[] = {
        {"state-dir", FR_OPT_STR, &dir, 0, 0, "the node's state folder", 0, 0},
        {"delta", FR_OPT_DOUBLE, &delta, 1e-300, 0.999999, "delta (default: the budget's)", 0, 0},
        {"json", FR_OPT_FLAG, &json, 0, 0, "print a JSON object", 0, 0},
        {"help", FR_OPT_FLAG, &help, 0, 0, "show this help", 0, 0},
        {0},
    };
    if (fr_opts_handle_help(argc, argv, "fedrecall-node privacy status [--state-dir DIR] [--json]",
                            opts, "fedrecall-node privacy status --state-dir /var/lib/fedrecall"))
        return 0;
    fr_err err = {{0}};
    fr_status st = fr_opts_parse(opts, argc, argv, &err);
    fr_dp_ledger l;
    double spent = 0, fdp = 0;
    if (st == FR_OK)
        st = fr_dp_ledger_open(&l, dir, &err);
    if (st)
        return fr_cmd_fail("privacy status", st, err.msg);
    if (!(delta > 0))
        delta = l.budget_delta > 0 ? l.budget_delta : 1e-5;
    st = fr_dp_ledger_spent(&l, delta, &spent, &err);
    if (st == FR_OK)
        st = fr_dp_ledger_fdp_spent(&l, delta, &fdp, &err);
    fr_dp_ledger_close(&l);
    if (st)
        return fr_cmd_fail("privacy status", st, err.msg);
    double remaining = l.budget_eps > 0 ? l.budget_eps - spent : -1;
    if (json) {
        printf("{\"steps\": %ld, \"epsilon_spent\": %.6g, \"delta\": %g", l.steps, spent, delta);
        printf(", \"federation_rounds\": %ld, \"federation_epsilon\": %.6g", l.fdp_steps, fdp);
        if (l.budget_eps > 0)
            printf(", \"epsilon_budget\": %g, \"epsilon_remaining\": %.6g", l.budget_eps,
                   remaining);
        printf("}\n");
    } else {
        printf("ledger %s: %ld DP steps, epsilon spent %.4g at delta %g\n", l.path, l.steps, spent,
               delta);
        if (l.fdp_steps > 0) /* the same figure at every member of those rounds */
            printf("federation-wide: %ld rounds with distributed noise, epsilon %.4g at delta %g\n",
                   l.fdp_steps, fdp, delta);
        if (l.budget_eps > 0)
            printf("budget epsilon %g: %.4g remaining\n", l.budget_eps, remaining);
        else
            printf("no budget recorded\n");
        printf("%.6g\n", spent);
    }
    return 0;
}

int fr_cmd_privacy(int argc, char **argv)
{
    if (argc >= 1 && !strcmp(argv[0], "epsilon"))
        return cmd_epsilon(argc - 1, argv + 1);
    if (argc >= 1 && !strcmp(argv[0], "sigma"))
        return cmd_sigma(argc - 1, argv + 1);
    if (argc >= 1 && !strcmp(argv[0], "status"))
        return cmd_status(argc - 1, argv + 1);
    if (argc >= 1 && !strcmp(argv[0], "recipe"))
        return cmd_recipe(argc - 1, argv + 1);
    if (argc >= 1 && (!strcmp(argv[0], "--help") || !strcmp(argv[0], "-h"))) {
        printf("usage: fedrecall-node privacy epsilon|sigma|status|recipe [OPTIONS]\n\n"
               "  epsilon  (epsilon, delta) spent by DP-SGD steps at (q, sigma)\n"
               "  sigma    the smallest noise multiplier that keeps epsilon within a target\n"
               "  status   the privacy spent by this node (its ledger) and what remains\n"
               "  recipe   q, steps, noise, clip and lr that train --dp picks from a budget\n"
               "\n'fedrecall-node privacy COMMAND --help' describes a command's options.\n"
               "\nexamples:\n"
               "  fedrecall-node privacy sigma --sampling-rate 0.01 --epsilon 3 --steps 1000 "
               "--delta 1e-5\n"
               "  fedrecall-node privacy status --state-dir /var/lib/fedrecall-node\n");
        return 0;
    }
    fprintf(
        stderr,
        "fedrecall-node privacy: expected 'epsilon', 'sigma', 'status' or 'recipe' (see --help)\n");
    return 2;
}
