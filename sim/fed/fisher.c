#include "sim/fed/fisher.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "sim/io/error.h"
#include "sim/io/rng.h"

/* p(c) over the n_choices answer letters, renormalised. */
static void choice_probs(const float *logp, int nc, double *p)
{
    double mx = logp[0], s = 0;
    for (int c = 1; c < nc; c++) mx = logp[c] > mx ? logp[c] : mx;
    for (int c = 0; c < nc; c++) s += p[c] = exp(logp[c] - mx);
    for (int c = 0; c < nc; c++) p[c] /= s;
}

int fs_fisher_diag(fs_engine *e, const fs_adapter_bank *bank, const int *slots, int n,
                   const fs_shard *shards, int n_samples, fs_fisher_labels labels, uint64_t seed,
                   fs_adapter_bank *fisher, fs_adapter_bank *scratch)
{
    int total = 0, rc = -1;
    for (int a = 0; a < n; a++) {
        int nk = shards[slots[a]].n;
        total += nk < n_samples ? nk : n_samples;
    }
    fs_item *items = malloc((size_t)(total ? total : 1) * sizeof *items);
    float *logp = malloc((size_t)(total ? total : 1) * FS_MAX_CHOICES * sizeof *logp);
    float *ones = malloc((size_t)(total ? total : 1) * sizeof *ones);
    float *fw = malloc((size_t)(total ? total : 1) * sizeof *fw);
    float *inv_n = malloc((size_t)(total ? total : 1) * sizeof *inv_n);
    int *target = malloc((size_t)(total ? total : 1) * sizeof *target);
    int *perm = NULL;
    if (!items || !logp || !ones || !fw || !inv_n || !target) {
        fs_fail("out of memory estimating the Fisher");
        goto done;
    }
    /* Each client's subset: a seeded shuffle of its shard, first n_samples. */
    int m = 0;
    for (int a = 0; a < n; a++) {
        const fs_shard *sh = &shards[slots[a]];
        int take = sh->n < n_samples ? sh->n : n_samples;
        free(perm);
        perm = malloc((size_t)(sh->n ? sh->n : 1) * sizeof *perm);
        if (!perm) {
            fs_fail("out of memory");
            goto done;
        }
        memcpy(perm, sh->samples, (size_t)sh->n * sizeof *perm);
        fs_rng r = fs_rng_seed(seed ^ (0xA24BAED4963EE407ull * (uint64_t)(slots[a] + 1)));
        for (int i = 0; i < take; i++) {
            int j = i + (int)fs_rng_below(&r, (uint64_t)(sh->n - i));
            int t = perm[i];
            perm[i] = perm[j], perm[j] = t;
            items[m] = (fs_item){perm[i], slots[a]};
            inv_n[m] = 1.0f / (float)take;
            ones[m++] = 1.0f;
        }
    }
    fs_adapter_use use = {.bank = bank};
    if (labels == FS_FISHER_TRUE_LABELS) {
        rc = fs_engine_backward(e, items, m, &use, 1, ones, NULL, scratch, fisher, inv_n, NULL);
        goto done;
    }
    if (fs_engine_forward(e, items, m, &use, 1, NULL, logp)) goto done;
    fs_rng draw;
    double p[FS_MAX_CHOICES];
    if (labels == FS_FISHER_SAMPLED) {
        for (int i = 0; i < m; i++) {
            /* Each client's labels from its own stream: they never depend on
             * which clients share the pass. */
            if (i == 0 || items[i].slot != items[i - 1].slot)
                draw = fs_rng_seed(seed ^ 0x5851F42D4C957F2Dull ^
                                   (0x9E3779B97F4A7C15ull * (uint64_t)(items[i].slot + 1)));
            int nc = fs_engine_sample(e, items[i].sample)->n_choices;
            choice_probs(logp + (size_t)i * FS_MAX_CHOICES, nc, p);
            double u = fs_rng_uniform(&draw), acc = 0;
            target[i] = nc - 1;
            for (int c = 0; c < nc; c++)
                if (u < (acc += p[c])) {
                    target[i] = c;
                    break;
                }
        }
        rc = fs_engine_backward(e, items, m, &use, 1, ones, target, scratch, fisher, inv_n, NULL);
        goto done;
    }
    /* Expected Fisher: one backward per answer letter, weighted by p(c). */
    for (int c = 0; c < FS_MAX_CHOICES; c++) {
        int any = 0;
        for (int i = 0; i < m; i++) {
            int nc = fs_engine_sample(e, items[i].sample)->n_choices;
            target[i] = c < nc ? c : 0;
            fw[i] = 0;
            if (c < nc) {
                choice_probs(logp + (size_t)i * FS_MAX_CHOICES, nc, p);
                fw[i] = (float)(p[c] * inv_n[i]);
                any = 1;
            }
        }
        if (!any) break;
        if (fs_engine_backward(e, items, m, &use, 1, ones, target, scratch, fisher, fw, NULL))
            goto done;
    }
    rc = 0;
done:
    free(items), free(logp), free(ones), free(fw), free(inv_n), free(target), free(perm);
    return rc;
}
