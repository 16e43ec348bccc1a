/* model.c: configuration checks, the weights of a range of Llama-style layers (one allocation
 * carved by a size table, initialised from counter-based random numbers, rand.c) and inputs.
 *
 * Every random number is a pure function of (seed, stream, index), never of what was drawn
 * before, so a rank that builds only layers [first, first + count) gets the same bits as a
 * one-process build of all L layers, and microbatch k's input is the same whatever the schedule.
 * Left out: the forward and backward of the layers (layer.c), the model's ends (ends.c). */
#include "model.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "arena.h"
#include "backend.h"

/* ---- configuration ------------------------------------------------------------------------ */

/* Message for a size that must be positive: names the field and what it means. */
static pipa_status not_positive(const char *field, int value)
{
    return pipa__fail(PIPA_ERR_ARG, "config: %s must be positive, not %d", field, value);
}

pipa_status pipa_config_check(const pipa_model_config_t *cfg)
{
    if (cfg->L < 1) return not_positive("L (layers)", cfg->L);
    if (cfg->C < 1) return not_positive("C (hidden size)", cfg->C);
    if (cfg->NH < 1) return not_positive("NH (heads)", cfg->NH);
    if (cfg->I < 1) return not_positive("I (intermediate size)", cfg->I);
    if (cfg->C % cfg->NH != 0)
        return pipa__fail(PIPA_ERR_ARG, "config: C (%d) must be divisible by NH (%d)", cfg->C,
                          cfg->NH);
    if ((cfg->C / cfg->NH) % 2 != 0)
        return pipa__fail(PIPA_ERR_ARG,
                          "config: head size C/NH (%d) must be even for rotary embeddings",
                          cfg->C / cfg->NH);
    if (!(cfg->eps > 0.0f) || !isfinite(cfg->eps))
        return pipa__fail(PIPA_ERR_ARG, "config: eps must be positive and finite, not %g",
                          (double)cfg->eps);
    if (!(cfg->rope_theta > 0.0f) || !isfinite(cfg->rope_theta))
        return pipa__fail(PIPA_ERR_ARG, "config: rope_theta must be positive and finite, not %g",
                          (double)cfg->rope_theta);
    return PIPA_OK;
}

/* ---- the size table ----------------------------------------------------------------------- */

/* A layer's tensors, in their fixed order in memory. The index is also the tensor id of the
 * random stream, so reordering this table changes every weight: append, never reorder. */
enum { T_ATTN_NORM, T_WQ, T_WK, T_WV, T_WO, T_MLP_NORM, T_W_GATE, T_W_UP, T_W_DOWN, N_TENSORS };

/* Stream ids at or above this are not layer tensors (see PIPA_STREAM_INPUT in model.h). */
_Static_assert((int)N_TENSORS <= (int)PIPA_STREAM_INPUT, "layer tensor ids collide");

/* One layer's table (pieces packed, no padding: a layer's parameters are one flat vector that
 * checkpoints and the optimizer see whole) and the fan-in that scales each init (0: a norm).
 * Returns the floats of one layer. */
static size_t layer_table(const pipa_model_config_t *cfg, size_t off[N_TENSORS], int fan_in[N_TENSORS])
{
    size_t C = (size_t)cfg->C, I = (size_t)cfg->I;
    const pipa_piece_t t[N_TENSORS] = {
        {"attn_norm", C}, {"wq", C * C}, {"wk", C * C}, {"wv", C * C}, {"wo", C * C},
        {"mlp_norm", C}, {"w_gate", I * C}, {"w_up", I * C}, {"w_down", C * I}};
    const int f[N_TENSORS] = {0, cfg->C, cfg->C, cfg->C, cfg->C, 0, cfg->C, cfg->C, cfg->I};
    if (fan_in) memcpy(fan_in, f, sizeof f);
    return pipa_arena_layout(t, N_TENSORS, 1, off);
}

size_t pipa_layer_param_count(const pipa_model_config_t *cfg)
{
    size_t off[N_TENSORS];
    return layer_table(cfg, off, NULL);
}

/* Points a layer's tensor fields at base, in table order. */
static void layer_carve(pipa_layer_t *l, float *base, const size_t off[N_TENSORS])
{
    float **const fields[N_TENSORS] = {&l->attn_norm, &l->wq, &l->wk, &l->wv, &l->wo,
                                       &l->mlp_norm, &l->w_gate, &l->w_up, &l->w_down};
    pipa_arena_point(base, off, fields, N_TENSORS);
}

/* ---- initialisation (random numbers: rand.c) ------------------------------------------- */

/* Linear weights uniform in [-1, 1)/sqrt(fan_in) keep activations of order one through the stack
 * (fan_in 1 gives the plain uniform exactly: the embedding); norm weights 1 + 0.1 u differ from 1
 * enough that a test notices a norm applied without its weight. */
void pipa__init_tensor(float *p, size_t n, int fan_in, uint64_t seed, uint64_t a, uint64_t b)
{
    if (fan_in == 0) {
        for (size_t i = 0; i < n; i++) p[i] = 1.0f + 0.1f * pipa_rand_uniform(seed, a, b, i);
        return;
    }
    float scale = (float)(1.0 / sqrt((double)fan_in));
    for (size_t i = 0; i < n; i++) p[i] = scale * pipa_rand_uniform(seed, a, b, i);
}

void pipa_model_input(float *x, const pipa_model_config_t *cfg, int microbatch, int B, int T)
{
    size_t n = (size_t)B * T * cfg->C;  // x (B, T, C)
    for (size_t i = 0; i < n; i++)
        x[i] = pipa_rand_uniform(cfg->seed, (uint64_t)microbatch, PIPA_STREAM_INPUT, i);
}

void pipa_model_inputs(float *in, const pipa_model_config_t *cfg, int M, int B, int T)
{
    size_t act = (size_t)B * T * cfg->C;
    for (int k = 0; k < M; k++) pipa_model_input(in + act * k, cfg, k, B, T);
}

/* ---- layers ------------------------------------------------------------------------------- */

/* Allocates and carves layers [first, first + count), values zero (zero set) or uninitialised. */
static pipa_status layers_alloc(pipa_layers_t *ls, const pipa_model_config_t *cfg, int first, int count,
                                int zero)
{
    memset(ls, 0, sizeof *ls);
    PIPA_TRY(pipa_config_check(cfg));
    if (first < 0 || count < 0 || first > cfg->L - count)
        return pipa__fail(PIPA_ERR_ARG, "layers [%d, %d) are not inside the model's %d layers",
                          first, first + count, cfg->L);
    size_t off[N_TENSORS], per_layer = layer_table(cfg, off, NULL);
    ls->cfg = *cfg;
    ls->first = first;
    ls->count = count;
    ls->n_params = per_layer * (size_t)count;
    if (count == 0) return PIPA_OK;  // a stage may hold only the model's ends

    /* 64-byte aligned so that, when per_layer is a multiple of 16 floats, a layer's tensors sit
     * at the same alignment whatever the range: BLAS then sees the same addresses mod 64. */
    void *buf;
    pipa_status s = pipa_backend_alloc(&buf, ls->n_params, zero, "layer parameters");
    ls->params = buf;
    ls->layers = calloc((size_t)count, sizeof *ls->layers);
    if (s != PIPA_OK || !ls->layers) {
        pipa_layers_free(ls);
        return pipa__fail(PIPA_ERR_NOMEM, "layers [%d, %d): cannot allocate %zu parameters", first,
                          first + count, per_layer * (size_t)count);
    }
    for (int l = 0; l < count; l++) layer_carve(&ls->layers[l], ls->params + l * per_layer, off);
    return PIPA_OK;
}

pipa_status pipa_layers_build(pipa_layers_t *ls, const pipa_model_config_t *cfg, int first, int count)
{
    PIPA_TRY(layers_alloc(ls, cfg, first, count, 0));
    size_t off[N_TENSORS], sizes[N_TENSORS];
    int fan_in[N_TENSORS];
    size_t per_layer = layer_table(cfg, off, fan_in);
    for (int t = 0; t < N_TENSORS; t++)
        sizes[t] = (t + 1 < N_TENSORS ? off[t + 1] : per_layer) - off[t];
    for (int l = 0; l < count; l++)
        for (int t = 0; t < N_TENSORS; t++)
            pipa__init_tensor(ls->params + l * per_layer + off[t], sizes[t], fan_in[t], cfg->seed,
                              (uint64_t)(first + l), (uint64_t)t);
    return PIPA_OK;
}

pipa_status pipa_layers_alloc_zero(pipa_layers_t *grads, const pipa_model_config_t *cfg, int first,
                                   int count)
{
    return layers_alloc(grads, cfg, first, count, 1);
}

void pipa_layers_free(pipa_layers_t *ls)
{
    pipa_backend_free(ls->params);
    free(ls->layers);
    ls->params = NULL;
    ls->layers = NULL;
    ls->count = 0;
    ls->n_params = 0;
}
