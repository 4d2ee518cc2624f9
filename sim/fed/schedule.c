#include "sim/fed/schedule.h"

#include <stdlib.h>
#include <string.h>

#include "sim/io/error.h"
#include "sim/io/rng.h"

int fs_train_state_init(fs_train_state *s, const fs_adapter_bank *like)
{
    memset(s, 0, sizeof *s);
    if (fs_bank_init(&s->grads, like->ops, &like->shape, like->clients) ||
        fs_bank_init(&s->m, like->ops, &like->shape, like->clients) ||
        fs_bank_init(&s->v, like->ops, &like->shape, like->clients)) {
        fs_train_state_free(s);
        return -1;
    }
    return 0;
}

void fs_train_state_free(fs_train_state *s)
{
    fs_bank_free(&s->grads);
    fs_bank_free(&s->m);
    fs_bank_free(&s->v);
}

int fs_local_steps(int n, const fs_local_opts *opt)
{
    int per_epoch = (n + opt->batch_size - 1) / opt->batch_size;
    int steps = opt->epochs * per_epoch;
    return opt->max_steps > 0 && opt->max_steps < steps ? opt->max_steps : steps;
}

/* The client's sample order for one epoch: a fresh permutation from its own
 * stream, so the order never depends on which other clients run alongside. */
static void epoch_order(const fs_shard *sh, uint64_t seed, int slot, int epoch, int *out)
{
    fs_rng r = fs_rng_seed(seed ^ (0x9E3779B97F4A7C15ull * (uint64_t)(slot + 1)) ^
                           ((uint64_t)(epoch + 1) << 40));
    memcpy(out, sh->samples, (size_t)sh->n * sizeof *out);
    for (int i = sh->n - 1; i > 0; i--) {
        int j = (int)fs_rng_below(&r, (uint64_t)i + 1);
        int t = out[i];
        out[i] = out[j], out[j] = t;
    }
}

/* Slots lo..hi of every part of b: one contiguous block per part. */
static void zero_slots(fs_adapter_bank *b, int lo, int hi)
{
    for (int p = 0; p < b->nparts; p++)
        b->ops->zero(fs_bank_part(b, p, lo), (size_t)(hi - lo + 1) * b->part_numel * sizeof(float));
}

/* Only slots lo..hi (those trained) are touched: a call that trains a few
 * clients of a large bank costs what those clients do. */
static void optimizer_step(fs_adapter_bank *bank, fs_train_state *st, const int32_t *step, int lo,
                           int hi, const int *active, int nactive, const fs_local_opts *opt)
{
    const fs_ops *o = bank->ops;
    long pn = (long)bank->part_numel;
    if (!opt->sgd) {
        for (int p = 0; p < bank->nparts; p++)
            o->adamw(fs_bank_part(bank, p, lo), fs_bank_part(&st->grads, p, lo),
                     fs_bank_part(&st->m, p, lo), fs_bank_part(&st->v, p, lo), step + lo,
                     hi - lo + 1, pn, opt->lr, 0.9f, 0.999f, 1e-8f, opt->weight_decay);
        return;
    }
    for (int a = 0; a < nactive; a++)
        for (int p = 0; p < bank->nparts; p++) {
            float *w = fs_bank_part(bank, p, active[a]);
            if (opt->weight_decay > 0) o->axpy(w, -opt->lr * opt->weight_decay, w, pn);
            o->axpy(w, -opt->lr, fs_bank_part(&st->grads, p, active[a]), pn);
        }
}

int fs_train_lockstep(fs_engine *e, fs_adapter_bank *bank, fs_train_state *st, const int *slots,
                      int nslots, const fs_shard *shards, const fs_local_opts *opt,
                      double *mean_loss)
{
    int C = bank->clients, bs = opt->batch_size, max_steps = 0, total_items = 0, rc = -1;
    int lo = C, hi = -1; /* the range of slots trained */
    int *steps_of = calloc((size_t)nslots, sizeof *steps_of);
    int **order = calloc((size_t)nslots, sizeof *order);
    int32_t *step = calloc((size_t)C, sizeof *step);
    int *active = malloc((size_t)nslots * sizeof *active);
    double *loss_sum = calloc((size_t)nslots, sizeof *loss_sum);
    int *loss_cnt = calloc((size_t)nslots, sizeof *loss_cnt);
    for (int a = 0; a < nslots; a++) {
        steps_of[a] = shards[slots[a]].n ? fs_local_steps(shards[slots[a]].n, opt) : 0;
        if (steps_of[a] > max_steps) max_steps = steps_of[a];
        total_items += bs;
        lo = slots[a] < lo ? slots[a] : lo, hi = slots[a] > hi ? slots[a] : hi;
    }
    fs_item *items = malloc((size_t)(total_items ? total_items : 1) * sizeof *items);
    float *w = malloc((size_t)(total_items ? total_items : 1) * sizeof *w);
    float *fw = malloc((size_t)(total_items ? total_items : 1) * sizeof *fw);
    float *loss = malloc((size_t)(total_items ? total_items : 1) * sizeof *loss);
    int *owner = malloc((size_t)(total_items ? total_items : 1) * sizeof *owner);
    float *mix = malloc((size_t)(total_items ? total_items : 1) * 2 * sizeof *mix);
    if (!steps_of || !order || !step || !active || !loss_sum || !loss_cnt || !items || !w ||
        !fw || !loss || !owner || !mix) {
        fs_fail("out of memory scheduling %d clients", nslots);
        goto done;
    }
    for (int a = 0; a < nslots; a++) {
        order[a] = malloc((size_t)(shards[slots[a]].n ? shards[slots[a]].n : 1) * sizeof(int));
        if (!order[a]) {
            fs_fail("out of memory");
            goto done;
        }
    }
    if (hi >= lo) zero_slots(&st->m, lo, hi), zero_slots(&st->v, lo, hi);
    fs_adapter_use uses[2] = {{.bank = bank}, {.bank = opt->frozen_extra, .single = true}};
    int nuses = opt->frozen_extra ? 2 : 1;
    if (opt->frozen_extra) {
        for (int i = 0; i < total_items; i++) mix[i] = opt->mix, mix[total_items + i] = 1 - opt->mix;
        uses[0].item_weight = mix, uses[1].item_weight = mix + total_items;
    }
    for (int g = 0; g < max_steps; g++) {
        int n = 0, nactive = 0;
        memset(step, 0, (size_t)C * sizeof *step);
        for (int a = 0; a < nslots; a++) {
            if (g >= steps_of[a]) continue;
            const fs_shard *sh = &shards[slots[a]];
            int per_epoch = (sh->n + bs - 1) / bs, epoch = g / per_epoch, s = g % per_epoch;
            if (s == 0) epoch_order(sh, opt->seed, slots[a], epoch, order[a]);
            int lo = s * bs, hi = lo + bs < sh->n ? lo + bs : sh->n;
            bool last_epoch = epoch == opt->epochs - 1;
            for (int i = lo; i < hi; i++) {
                items[n] = (fs_item){order[a][i], slots[a]};
                w[n] = 1.0f / (float)(hi - lo);
                fw[n] = last_epoch ? 1.0f / (float)sh->n : 0.0f;
                owner[n++] = a;
            }
            active[nactive++] = slots[a];
            step[slots[a]] = g + 1;
        }
        zero_slots(&st->grads, lo, hi);
        if (fs_engine_backward(e, items, n, uses, nuses, w, NULL, &st->grads, opt->sq_grads, fw,
                               loss))
            goto done;
        for (int i = 0; i < n; i++) loss_sum[owner[i]] += loss[i], loss_cnt[owner[i]]++;
        if (opt->grad_hook) opt->grad_hook(opt->grad_ctx, &st->grads, bank, active, nactive);
        optimizer_step(bank, st, step, lo, hi, active, nactive, opt);
    }
    if (mean_loss)
        for (int a = 0; a < nslots; a++)
            mean_loss[a] = loss_cnt[a] ? loss_sum[a] / loss_cnt[a] : 0.0;
    rc = 0;
done:
    if (order)
        for (int a = 0; a < nslots; a++) free(order[a]);
    free(order), free(steps_of), free(step), free(active), free(loss_sum), free(loss_cnt);
    free(items), free(w), free(fw), free(loss), free(owner), free(mix);
    return rc;
}
