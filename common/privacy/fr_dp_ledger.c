/* The durable privacy ledger (see fr_dp_ledger.h). */
#include "privacy/fr_dp_ledger.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static fr_status write_line(fr_dp_ledger *l, const char *line, fr_err *err)
{
    size_t len = strlen(line), done = 0;
    while (done < len) {
        ssize_t w = write(l->fd, line + done, len - done);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0)
            return fr_fail(err, FR_EIO, "%s: cannot append: %s", l->path, strerror(errno));
        done += (size_t)w;
    }
    if (fsync(l->fd) != 0)
        return fr_fail(err, FR_EIO, "%s: cannot sync: %s", l->path, strerror(errno));
    return FR_OK;
}

static fr_status replay(fr_dp_ledger *l, fr_err *err)
{
    fr_status st = FR_OK;
    FILE *f = fopen(l->path, "r");
    if (!f)
        return fr_fail(err, FR_EIO, "%s: cannot read: %s", l->path, strerror(errno));
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    long lineno = 0;
    while ((len = getline(&line, &cap, f)) > 0) {
        lineno++;
        if (line[len - 1] != '\n')
            break; /* cut short by a crash before its step was applied */
        double q, sigma, e, dl, l1, l2, mu;
        long n;
        char tail;
        if (sscanf(line, "skellam q=%lf l1=%lf l2=%lf mu=%lf n=%ld%c", &q, &l1, &l2, &mu, &n,
                   &tail) == 6 &&
            tail == '\n' && n >= 0) {
            if ((st = fr_rdp_compose_skellam(&l->rdp, q, l1, l2, mu, n, err)) != FR_OK ||
                (st = fr_rdp_compose_skellam(&l->fdp_rdp, q, l1, l2, mu, n, err)) != FR_OK) {
                st = fr_fail(err, FR_EFORMAT, "%s:%ld: invalid skellam record: %s", l->path, lineno,
                             err ? err->msg : "");
                break;
            }
            l->steps += n;
            l->fdp_steps += n;
        } else if (sscanf(line, "steps q=%lf sigma=%lf n=%ld%c", &q, &sigma, &n, &tail) == 4 &&
                   tail == '\n' && n >= 0) {
            if ((st = fr_rdp_compose(&l->rdp, q, sigma, n, err)) != FR_OK) {
                st = fr_fail(err, FR_EFORMAT, "%s:%ld: invalid step record: %s", l->path, lineno,
                             err ? err->msg : "");
                break;
            }
            l->steps += n;
        } else if (sscanf(line, "budget epsilon=%lf delta=%lf%c", &e, &dl, &tail) == 3 &&
                   tail == '\n' && e > 0 && dl > 0 && dl < 1) {
            l->budget_eps = e;
            l->budget_delta = dl;
        } else {
            st = fr_fail(err, FR_EFORMAT,
                         "%s:%ld: unreadable ledger line; refusing to guess the "
                         "privacy spent",
                         l->path, lineno);
            break;
        }
    }
    free(line);
    fclose(f);
    return st;
}

fr_status fr_dp_ledger_open(fr_dp_ledger *l, const char *state_dir, fr_err *err)
{
    memset(l, 0, sizeof *l);
    l->fd = -1;
    fr_rdp_init(&l->rdp);
    fr_rdp_init(&l->fdp_rdp);
    if (mkdir(state_dir, 0700) != 0 && errno != EEXIST)
        return fr_fail(err, FR_EIO, "%s: cannot create the state folder: %s", state_dir,
                       strerror(errno));
    if ((size_t)snprintf(l->path, sizeof l->path, "%s/privacy-ledger", state_dir) >= sizeof l->path)
        return fr_fail(err, FR_EINVAL, "%s: state folder path too long", state_dir);
    l->fd = open(l->path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    if (l->fd < 0)
        return fr_fail(err, FR_EIO, "%s: cannot open: %s", l->path, strerror(errno));
    fr_status st = replay(l, err);
    if (st != FR_OK)
        fr_dp_ledger_close(l);
    return st;
}

void fr_dp_ledger_close(fr_dp_ledger *l)
{
    if (l->fd >= 0)
        close(l->fd);
    l->fd = -1;
}

fr_status fr_dp_ledger_set_budget(fr_dp_ledger *l, double eps, double delta, fr_err *err)
{
    if (!(eps > 0) || !(delta > 0 && delta < 1))
        return fr_fail(err, FR_EINVAL,
                       "privacy budget epsilon %g, delta %g: need epsilon > 0 and "
                       "delta in (0, 1)",
                       eps, delta);
    if (eps == l->budget_eps && delta == l->budget_delta)
        return FR_OK;
    char line[128];
    snprintf(line, sizeof line, "budget epsilon=%.17g delta=%.17g\n", eps, delta);
    fr_status st = write_line(l, line, err);
    if (st == FR_OK) {
        l->budget_eps = eps;
        l->budget_delta = delta;
    }
    return st;
}

fr_status fr_dp_ledger_record(fr_dp_ledger *l, double q, double sigma, long n, fr_err *err)
{
    fr_rdp next = l->rdp;
    fr_status st = fr_rdp_compose(&next, q, sigma, n, err);
    if (st)
        return st;
    char line[160];
    snprintf(line, sizeof line, "steps q=%.17g sigma=%.17g n=%ld\n", q, sigma, n);
    if ((st = write_line(l, line, err)) != FR_OK)
        return st;
    l->rdp = next;
    l->steps += n;
    return FR_OK;
}

fr_status fr_dp_ledger_record_skellam(fr_dp_ledger *l, double q, double l1, double l2, double mu,
                                      long n, fr_err *err)
{
    fr_rdp next = l->rdp, fdp_next = l->fdp_rdp;
    fr_status st = fr_rdp_compose_skellam(&next, q, l1, l2, mu, n, err);
    if (st == FR_OK)
        st = fr_rdp_compose_skellam(&fdp_next, q, l1, l2, mu, n, err);
    if (st)
        return st;
    char line[256];
    snprintf(line, sizeof line, "skellam q=%.17g l1=%.17g l2=%.17g mu=%.17g n=%ld\n", q, l1, l2, mu,
             n);
    if ((st = write_line(l, line, err)) != FR_OK)
        return st;
    l->rdp = next;
    l->fdp_rdp = fdp_next;
    l->steps += n;
    l->fdp_steps += n;
    return FR_OK;
}

fr_status fr_dp_ledger_fdp_spent(const fr_dp_ledger *l, double delta, double *eps, fr_err *err)
{
    if (l->fdp_steps == 0) {
        *eps = 0.0;
        return FR_OK;
    }
    return fr_rdp_epsilon(&l->fdp_rdp, delta, eps, NULL, err);
}

fr_status fr_dp_ledger_spent(const fr_dp_ledger *l, double delta, double *eps, fr_err *err)
{
    if (l->steps == 0) {
        *eps = 0.0;
        return FR_OK;
    }
    return fr_rdp_epsilon(&l->rdp, delta, eps, NULL, err);
}

/* Whether the ledger's spending after `next` (its RDP with the planned steps added)
 * stays within the budget; the refusal names what is spent, what remains and, through
 * `what`, the planned steps. */
static fr_status check_after(const fr_dp_ledger *l, const fr_rdp *next, const char *what,
                             fr_err *err)
{
    double spent, after;
    fr_status st = fr_dp_ledger_spent(l, l->budget_delta, &spent, err);
    if (st == FR_OK)
        st = fr_rdp_epsilon(next, l->budget_delta, &after, NULL, err);
    if (st)
        return st;
    if (after > l->budget_eps)
        return fr_fail(err, FR_EINVAL,
                       "privacy budget exceeded: spent epsilon %.4g of %.4g (delta %g), %.4g "
                       "remaining; %s would bring it to %.4g",
                       spent, l->budget_eps, l->budget_delta, l->budget_eps - spent, what, after);
    return FR_OK;
}

fr_status fr_dp_ledger_check(const fr_dp_ledger *l, double q, double sigma, long n, fr_err *err)
{
    if (!(l->budget_eps > 0))
        return FR_OK;
    fr_rdp next = l->rdp;
    fr_status st = fr_rdp_compose(&next, q, sigma, n, err);
    if (st)
        return st;
    char what[128];
    snprintf(what, sizeof what, "%ld more steps at q=%g, sigma=%g", n, q, sigma);
    return check_after(l, &next, what, err);
}

fr_status fr_dp_ledger_check_skellam(const fr_dp_ledger *l, double q, double l1, double l2,
                                     double mu, long n, fr_err *err)
{
    if (!(l->budget_eps > 0))
        return FR_OK;
    fr_rdp next = l->rdp;
    fr_status st = fr_rdp_compose_skellam(&next, q, l1, l2, mu, n, err);
    if (st)
        return st;
    char what[128];
    snprintf(what, sizeof what, "%ld more federation-wide rounds at q=%g (distributed noise)", n,
             q);
    return check_after(l, &next, what, err);
}

fr_status fr_dp_ledger_sigma_for(const fr_dp_ledger *l, double q, long n, double *sigma,
                                 fr_err *err)
{
    if (!(l->budget_eps > 0))
        return fr_fail(err, FR_EINVAL,
                       "no privacy budget set: give the noise multiplier or a "
                       "budget");
    double lo = 1e-3, hi = 1.0, e = 0;
    fr_status st;
    /* epsilon of (spent + n steps at sigma) falls as sigma grows: bracket, then bisect */
    for (;;) {
        fr_rdp next = l->rdp;
        if ((st = fr_rdp_compose(&next, q, hi, n, err)) != FR_OK ||
            (st = fr_rdp_epsilon(&next, l->budget_delta, &e, NULL, err)) != FR_OK)
            return st;
        if (e <= l->budget_eps)
            break;
        lo = hi;
        hi *= 2.0;
        if (hi > 1e7)
            return fr_fail(err, FR_EINVAL,
                           "privacy budget: no noise multiplier fits %ld more "
                           "steps in the epsilon %g that remains of %g",
                           n, l->budget_eps - e, l->budget_eps);
    }
    for (int it = 0; it < 100 && hi - lo > 1e-4 * hi; it++) {
        double mid = 0.5 * (lo + hi);
        fr_rdp next = l->rdp;
        if ((st = fr_rdp_compose(&next, q, mid, n, err)) != FR_OK ||
            (st = fr_rdp_epsilon(&next, l->budget_delta, &e, NULL, err)) != FR_OK)
            return st;
        if (e <= l->budget_eps)
            hi = mid;
        else
            lo = mid;
    }
    *sigma = hi;
    return FR_OK;
}
