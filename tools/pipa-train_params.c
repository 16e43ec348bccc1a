/* pipa-train_params.c: the parameters of a finished run, summed up for comparing runs of other
 * layouts without moving the weights: every layer's (and end's) hash, and every layer's sum of
 * |w|, gathered at rank 0, and written into the JSON document.
 *
 * With tensor parallelism a rank holds slices: a tensor's hash is then the hash of the tensor
 * ranks' slice hashes in tensor-rank order (comparable between runs of the same tp, whatever pp
 * and schedule), and a layer's sum of |w| adds every slice once and each norm (held whole by
 * every tensor rank) once, from tensor rank 0: comparable with the one-process run within
 * rounding. */
#include <math.h>
#include <stdlib.h>

#include "base/hash.h"
#include "pipa-train.h"

/* The tensor coordinate of world rank r (layout.h's order: tp fastest). */
static int tensor_rank_of(const train_ctx_t *ctx, int r)
{
    pipa_layout_t l;
    PIPA_ASSERT(pipa_layout_init(&l, ctx->W, r, ctx->lay.dp, ctx->lay.pp, ctx->lay.tp) == PIPA_OK);
    return l.t;
}

/* out = the hash of tensor i from every rank's hashes all[W][n]: per tensor rank the one held
 * (replicas must agree), then combined over the tensor ranks when tp > 1. */
static pipa_status combine_hashes(const train_ctx_t *ctx, const uint64_t *all, int n, int i,
                                  uint64_t *out)
{
    int L = ctx->cfg.model.L, tp = ctx->lay.tp;
    uint64_t per_t[PIPA_MAX_RANKS] = {0};
    for (int r = 0; r < ctx->W; r++) {
        uint64_t h = all[(size_t)r * n + i], *slot = &per_t[tensor_rank_of(ctx, r)];
        /* Replicas hold the same tensors: they must hold the same bits. */
        if (h && *slot && h != *slot)
            return pipa_status_set_error(PIPA_ERR_STATE, "the data-parallel replicas' weights "
                                         "differ (%s %d on rank %d)", i < L ? "layer" : "end",
                                         i < L ? i : i - L, r);
        *slot = h ? h : *slot;
    }
    *out = tp == 1 ? per_t[0] : pipa_hash_fnv1a(PIPA_HASH_INIT, per_t, (size_t)tp * sizeof *per_t);
    return PIPA_OK;
}

pipa_status train_gather_hashes(train_ctx_t *ctx, const pipa_runtime_t *tr, uint64_t *out)
{
    int L = ctx->cfg.model.L, n = L + 2;
    uint64_t *mine = calloc((size_t)n, sizeof *mine);
    uint64_t *all = ctx->rank == 0 ? calloc((size_t)n * ctx->W, sizeof *all) : NULL;
    pipa_status s = PIPA_OK;
    if (!mine || (ctx->rank == 0 && !all)) s = pipa_status_set_error(PIPA_ERR_NOMEM, "out of memory (hashes)");
    for (int l = 0; mine && l < L; l++) mine[l] = pipa_runtime_layer_hash(tr, l);
    for (int w = 0; mine && w < 2; w++) mine[L + w] = pipa_runtime_ends_hash(tr, w);
    if (s == PIPA_OK) s = pipa_gather(&ctx->world, 0, mine, (size_t)n * sizeof *mine, all);
    for (int i = 0; s == PIPA_OK && all && i < n; i++) s = combine_hashes(ctx, all, n, i, &out[i]);
    free(mine);
    free(all);
    return s;
}

/* Whether p is one of layer ly's norms (of C floats). */
static int in_norm(const pipa_layer_t *ly, const float *p, int C)
{
    return (p >= ly->attn_norm && p < ly->attn_norm + C) ||
           (p >= ly->mlp_norm && p < ly->mlp_norm + C);
}

/* My layers' sums of |w| into mine[L] (double, in memory order); a tensor rank other than 0
 * leaves out the norms, which tensor rank 0 holds too. */
static void my_abs_sums(const train_ctx_t *ctx, const pipa_runtime_t *tr, double *mine)
{
    size_t per = pipa_layer_param_count_tp(&ctx->cfg.model, ctx->lay.tp);
    int C = ctx->cfg.model.C, skip_norms = ctx->lay.t > 0;
    for (int c = 0; c < tr->V; c++) {
        const pipa_chunk_t *ch = &tr->chunk[c];
        for (size_t i = 0; i < per * (size_t)ch->count; i++) {
            const float *p = ch->w.params + i;
            if (skip_norms && in_norm(&ch->w.layers[i / per], p, C)) continue;
            mine[ch->first + (int)(i / per)] += fabs((double)*p);
        }
    }
}

pipa_status train_gather_abs_sums(train_ctx_t *ctx, const pipa_runtime_t *tr, double *out)
{
    int L = ctx->cfg.model.L;
    double *mine = calloc((size_t)L, sizeof *mine);
    double *all = ctx->rank == 0 ? calloc((size_t)L * ctx->W, sizeof *all) : NULL;
    if (!mine || (ctx->rank == 0 && !all)) {
        free(mine);
        free(all);
        return pipa_status_set_error(PIPA_ERR_NOMEM, "out of memory (sums)");
    }
    if (ctx->lay.d == 0) my_abs_sums(ctx, tr, mine);  /* replica 0's */
    pipa_status s = pipa_gather(&ctx->world, 0, mine, (size_t)L * sizeof *mine, all);
    for (int l = 0; s == PIPA_OK && all && l < L; l++) {
        out[l] = 0;
        for (int r = 0; r < ctx->W; r++) out[l] += all[(size_t)r * L + l];  /* its holders */
    }
    free(mine);
    free(all);
    return s;
}

void train_json_hashes(train_ctx_t *ctx, const uint64_t *h)
{
    pipa_json_t *j = ctx->json;
    int L = ctx->cfg.model.L;
    char hex[20];
    pipa_json_begin_object(j, "hashes");
    snprintf(hex, sizeof hex, "%016llx", (unsigned long long)h[L]);
    pipa_json_str(j, "embed", hex);
    pipa_json_begin_array(j, "layers");
    for (int l = 0; l < L; l++) {
        snprintf(hex, sizeof hex, "%016llx", (unsigned long long)h[l]);
        pipa_json_str(j, NULL, hex);
    }
    pipa_json_end_array(j);
    snprintf(hex, sizeof hex, "%016llx", (unsigned long long)h[L + 1]);
    pipa_json_str(j, "head", hex);
    pipa_json_end_object(j);
}
