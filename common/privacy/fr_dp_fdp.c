/* Federation-wide DP-SGD with distributed noise (see fr_dp_fdp.h). */
#include "privacy/fr_dp_fdp.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

fr_status fr_dp_fdp_node_vector(fr_dp_trainer *tr, const fr_skellam *sk, const int32_t *users,
                                int n, fr_dp_rng *rng, uint32_t *out, size_t *clamped,
                                fr_dp_step_stats *stats, fr_err *err)
{
    fr_model *m = tr->model;
    const fr_backend *be = m->be;
    if (sk->dim != m->n)
        return fr_fail(err, FR_EINVAL, "fdp: the mechanism has %zu coordinates, the model %zu",
                       sk->dim, m->n);
    memset(stats, 0, sizeof *stats);
    int64_t *acc = calloc(m->n, sizeof *acc);
    int32_t *scratch = malloc(m->n * sizeof *scratch);
    float *host = malloc(m->n * sizeof *host);
    fr_status st = FR_OK;
    if (!acc || !scratch || !host) {
        st = fr_fail(err, FR_ENOMEM, "fdp: out of memory for a node's vector");
        goto out;
    }
    /* one user at a time: the ring's sensitivity is that of one user's rounded vector,
     * so each clipped gradient is rounded on its own before the node sums them */
    for (int i = 0; i < n && st == FR_OK; i++) {
        be->zero(m->grads, m->n);
        if ((st = fr_dp_accumulate_user(tr, users[i], stats, err)) != FR_OK)
            break;
        be->download(host, m->grads, m->n * sizeof *host);
        st = fr_skellam_round_add(sk, host, rng, scratch, acc, err);
    }
    be->zero(m->grads, m->n);
    if (st == FR_OK)
        fr_skellam_share(sk, acc, rng, out, clamped);
out:
    free(acc);
    free(scratch);
    free(host);
    return st;
}

void fr_dp_fdp_apply(fr_dp_trainer *tr, const fr_skellam *sk, const uint32_t *sum, double q,
                     long population)
{
    fr_model *m = tr->model;
    const fr_backend *be = m->be;
    float *host = tr->noise; /* host, model->n: free between steps */
    fr_skellam_decode(sk, sum, host);
    /* the padding rows are constants of the model, not parameters: their noise goes */
    int d = m->cfg.dim;
    memset(host + m->p[FR_P_E_ID].offset, 0, (size_t)d * sizeof(float));
    memset(host + m->p[FR_P_E_TOK].offset, 0, (size_t)d * sizeof(float));
    be->upload(m->grads, host, m->n * sizeof(float));
    be->scale(m->grads, (float)(1.0 / (q * (double)population)), m->n);
    fr_train_adam_step(m, tr->tc.lr);
    tr->steps++;
}

void fr_dp_fdp_round_delta(const fr_model *m, const fr_skellam *sk, double q, long population,
                           double weight, double *sum)
{
    /* the ring's integers are exact in a double; one division each by powers of two
     * and the expected users */
    double f = -weight / (sk->scale * q * (double)population);
    for (size_t i = 0; i < m->n; i++)
        sum[i] *= f;
    /* the padding rows are constants of the model, not parameters: their noise goes */
    size_t d = (size_t)m->cfg.dim;
    for (size_t i = 0; i < d; i++) {
        sum[m->p[FR_P_E_ID].offset + i] = 0;
        sum[m->p[FR_P_E_TOK].offset + i] = 0;
    }
}

fr_status fr_dp_fdp_sim_epoch(fr_dp_trainer *tr, const fr_skellam *sk, double q,
                              fr_dp_ledger *ledger, fr_dp_rng *rng, fr_epoch_stats *out,
                              size_t *clamped, fr_err *err)
{
    size_t d = sk->dim;
    int sites = sk->nodes;
    uint32_t *sum = malloc(d * sizeof *sum), *one = malloc(d * sizeof *one);
    int32_t *site_users = malloc((size_t)(tr->n_users > 0 ? tr->n_users : 1) * sizeof(int32_t));
    fr_status st = FR_OK;
    double loss = 0;
    long positions = 0, sampled = 0, steps = fr_dp_steps_per_epoch(q);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    if (!sum || !one || !site_users) {
        st = fr_fail(err, FR_ENOMEM, "fdp: out of memory for a round's sum");
        goto out;
    }
    for (long s = 0; s < steps && st == FR_OK; s++) {
        if (ledger &&
            (st = fr_dp_ledger_record_skellam(ledger, q, sk->l1, sk->l2, sk->mu, 1, err)) != FR_OK)
            break;
        fr_dp_draw_negatives(tr);
        memset(sum, 0, d * sizeof *sum);
        for (int site = 0; site < sites && st == FR_OK; site++) {
            int n = 0;
            for (int u = site; u < tr->n_users; u += sites)
                if (fr_dp_rng_uniform(rng) < q)
                    site_users[n++] = u;
            fr_dp_step_stats ss;
            size_t cut = 0;
            st = fr_dp_fdp_node_vector(tr, sk, site_users, n, rng, one, &cut, &ss, err);
            if (st != FR_OK)
                break;
            for (size_t i = 0; i < d; i++)
                sum[i] += one[i]; /* modulo 2^32, as secure aggregation adds */
            if (clamped)
                *clamped += cut;
            loss += ss.loss_sum;
            positions += ss.positions;
            sampled += ss.sampled;
        }
        if (st == FR_OK)
            fr_dp_fdp_apply(tr, sk, sum, q, tr->n_users);
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double secs = (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec);
    memset(out, 0, sizeof *out);
    out->epoch = (int)(tr->steps / (steps > 0 ? steps : 1));
    out->loss = positions ? loss / (double)positions : 0.0;
    out->seconds = secs;
    out->positions = positions;
    out->sequences_per_s = secs > 0 ? (double)sampled / secs : 0.0;
    out->positions_per_s = secs > 0 ? (double)positions / secs : 0.0;
out:
    free(sum);
    free(one);
    free(site_users);
    return st;
}
