/* model.c: configuration checks, the weights of a range of Llama-style layers (one allocation
 * carved by a size table, initialised from a counter-based hash), the forward scratch, and the
 * forward pass of a range.
 *
 * Every random number is a pure function of (seed, stream, index), never of what was drawn
 * before, so a rank that builds only layers [first, first + count) gets the same bits as a
 * one-process build of all L layers, and microbatch k's input is the same whatever the schedule.
 * Left out: embedding, final norm, LM head and loss (the ends of the model), backward. */
#include "model.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ops.h"

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

/* Floats of each tensor of one layer (sizes) and the fan-in that scales its init (0: a norm). */
static void layer_sizes(const pipa_model_config_t *cfg, size_t sizes[N_TENSORS], int fan_in[N_TENSORS])
{
    size_t C = (size_t)cfg->C, I = (size_t)cfg->I;
    const size_t s[N_TENSORS] = {C, C * C, C * C, C * C, C * C, C, I * C, I * C, C * I};
    const int f[N_TENSORS] = {0, cfg->C, cfg->C, cfg->C, cfg->C, 0, cfg->C, cfg->C, cfg->I};
    for (int i = 0; i < N_TENSORS; i++) {
        sizes[i] = s[i];
        fan_in[i] = f[i];
    }
}

size_t pipa_layer_param_count(const pipa_model_config_t *cfg)
{
    size_t sizes[N_TENSORS], total = 0;
    int fan_in[N_TENSORS];
    layer_sizes(cfg, sizes, fan_in);
    for (int i = 0; i < N_TENSORS; i++) total += sizes[i];
    return total;
}

/* Points a layer's tensor fields at base, in table order. */
static void layer_carve(pipa_layer_t *l, float *base, const size_t sizes[N_TENSORS])
{
    float **fields[N_TENSORS] = {&l->attn_norm, &l->wq, &l->wk, &l->wv, &l->wo,
                                 &l->mlp_norm, &l->w_gate, &l->w_up, &l->w_down};
    for (int i = 0; i < N_TENSORS; i++) {
        *fields[i] = base;
        base += sizes[i];
    }
}

/* Fills one tensor of global layer `layer`: linear weights uniform in [-1, 1)/sqrt(fan_in) keep
 * activations of order one through the stack; norm weights 1 + 0.1 u differ from 1 enough that
 * a test notices a norm applied without its weight. */
static void tensor_init(float *p, size_t n, int fan_in, uint64_t seed, int layer, int tensor)
{
    if (fan_in == 0) {
        for (size_t i = 0; i < n; i++)
            p[i] = 1.0f + 0.1f * pipa_rand_uniform(seed, (uint64_t)layer, (uint64_t)tensor, i);
        return;
    }
    float scale = (float)(1.0 / sqrt((double)fan_in));
    for (size_t i = 0; i < n; i++)
        p[i] = scale * pipa_rand_uniform(seed, (uint64_t)layer, (uint64_t)tensor, i);
}

void pipa_model_input(float *x, const pipa_model_config_t *cfg, int microbatch, int B, int T)
{
    size_t n = (size_t)B * T * cfg->C;  // x (B, T, C)
    for (size_t i = 0; i < n; i++)
        x[i] = pipa_rand_uniform(cfg->seed, (uint64_t)microbatch, PIPA_STREAM_INPUT, i);
}

/* ---- layers ------------------------------------------------------------------------------- */

pipa_status pipa_layers_build(pipa_layers_t *ls, const pipa_model_config_t *cfg, int first, int count)
{
    memset(ls, 0, sizeof *ls);
    PIPA_TRY(pipa_config_check(cfg));
    if (first < 0 || count < 0 || first > cfg->L - count)
        return pipa__fail(PIPA_ERR_ARG, "layers [%d, %d) are not inside the model's %d layers",
                          first, first + count, cfg->L);
    size_t sizes[N_TENSORS];
    int fan_in[N_TENSORS];
    layer_sizes(cfg, sizes, fan_in);
    size_t per_layer = pipa_layer_param_count(cfg);
    ls->cfg = *cfg;
    ls->first = first;
    ls->count = count;
    ls->n_params = per_layer * (size_t)count;
    if (count == 0) return PIPA_OK;  // a stage may hold only the model's ends

    /* 64-byte aligned so that, when per_layer is a multiple of 16 floats, a layer's tensors sit
     * at the same alignment whatever the range: BLAS then sees the same addresses mod 64. */
    size_t bytes = (ls->n_params * sizeof(float) + 63) / 64 * 64;
    ls->params = aligned_alloc(64, bytes);
    ls->layers = calloc((size_t)count, sizeof *ls->layers);
    if (!ls->params || !ls->layers) {
        pipa_layers_free(ls);
        return pipa__fail(PIPA_ERR_NOMEM, "layers [%d, %d): cannot allocate %zu parameters", first,
                          first + count, per_layer * (size_t)count);
    }
    for (int l = 0; l < count; l++) {
        float *base = ls->params + (size_t)l * per_layer;
        layer_carve(&ls->layers[l], base, sizes);
        for (int t = 0; t < N_TENSORS; t++) {
            tensor_init(base, sizes[t], fan_in[t], cfg->seed, first + l, t);
            base += sizes[t];
        }
    }
    return PIPA_OK;
}

void pipa_layers_free(pipa_layers_t *ls)
{
    free(ls->params);
    free(ls->layers);
    ls->params = NULL;
    ls->layers = NULL;
    ls->count = 0;
    ls->n_params = 0;
}

/* ---- scratch ------------------------------------------------------------------------------ */

pipa_status pipa_scratch_init(pipa_scratch_t *s, const pipa_model_config_t *cfg, int B, int T)
{
    memset(s, 0, sizeof *s);
    PIPA_TRY(pipa_config_check(cfg));
    if (B < 1 || T < 1)
        return pipa__fail(PIPA_ERR_ARG, "scratch: B (%d) and T (%d) must be positive", B, T);
    size_t N = (size_t)B * T, C = (size_t)cfg->C, I = (size_t)cfg->I, NH = (size_t)cfg->NH;
    /* xn, q, k, v, y: (B, T, C);  att: (B, NH, T, T);  gate, up: (B, T, I) */
    size_t sizes[8] = {N * C, N * C, N * C, N * C, (size_t)B * NH * T * T, N * C, N * I, N * I};
    float **fields[8] = {&s->xn, &s->q, &s->k, &s->v, &s->att, &s->y, &s->gate, &s->up};
    size_t total = 0;
    for (int i = 0; i < 8; i++) total += (sizes[i] + 15) / 16 * 16;  // each buffer 64-byte aligned
    s->buf = aligned_alloc(64, total * sizeof(float));
    if (!s->buf) return pipa__fail(PIPA_ERR_NOMEM, "scratch: cannot allocate %zu floats", total);
    float *p = s->buf;
    for (int i = 0; i < 8; i++) {
        *fields[i] = p;
        p += (sizes[i] + 15) / 16 * 16;
    }
    s->B = B;
    s->T = T;
    return PIPA_OK;
}

void pipa_scratch_free(pipa_scratch_t *s)
{
    free(s->buf);
    memset(s, 0, sizeof *s);
}

/* ---- forward ------------------------------------------------------------------------------ */

/* x (B, T, C) += wo(attention(rope(q), rope(k), v)) of rmsnorm(x). */
static void attn_forward(const pipa_model_config_t *cfg, const pipa_layer_t *l, float *x, int B, int T,
                         pipa_scratch_t *s)
{
    const int N = B * T, C = cfg->C, NH = cfg->NH, HS = C / NH;
    pipa_op_rmsnorm(s->xn, x, l->attn_norm, N, C, cfg->eps);  // (B, T, C)
    pipa_op_linear(s->q, s->xn, l->wq, N, C, C);               // (B, T, NH, HS)
    pipa_op_linear(s->k, s->xn, l->wk, N, C, C);               // (B, T, NH, HS)
    pipa_op_linear(s->v, s->xn, l->wv, N, C, C);               // (B, T, NH, HS)
    pipa_op_rope(s->q, B, T, NH, HS, cfg->rope_theta);
    pipa_op_rope(s->k, B, T, NH, HS, cfg->rope_theta);
    pipa_op_attention(s->y, s->att, s->q, s->k, s->v, B, T, NH, HS);  // (B, T, C)
    pipa_op_linear(s->xn, s->y, l->wo, N, C, C);  // (B, T, C); xn is free again
    pipa_op_add(x, s->xn, (size_t)N * C);
}

/* x (B, T, C) += w_down(silu(w_gate(h)) * w_up(h)), h = rmsnorm(x). */
static void mlp_forward(const pipa_model_config_t *cfg, const pipa_layer_t *l, float *x, int B, int T,
                        pipa_scratch_t *s)
{
    const int N = B * T, C = cfg->C, I = cfg->I;
    pipa_op_rmsnorm(s->xn, x, l->mlp_norm, N, C, cfg->eps);  // (B, T, C)
    pipa_op_linear(s->gate, s->xn, l->w_gate, N, C, I);       // (B, T, I)
    pipa_op_linear(s->up, s->xn, l->w_up, N, C, I);           // (B, T, I)
    pipa_op_swiglu(s->gate, s->gate, s->up, (size_t)N * I);   // (B, T, I), over gate
    pipa_op_linear(s->y, s->gate, l->w_down, N, I, C);        // (B, T, C)
    pipa_op_add(x, s->y, (size_t)N * C);
}

void pipa_layers_forward(const pipa_layers_t *ls, float *x, int B, int T, pipa_scratch_t *s)
{
    PIPA_ASSERT(B >= 1 && T >= 1 && B <= s->B && T <= s->T);
    /* Nothing survives from one layer to the next but x itself, so a layer's output depends
     * only on its weights and its input: ranges and their pieces agree to the bit. */
    for (int l = 0; l < ls->count; l++) {
        attn_forward(&ls->cfg, &ls->layers[l], x, B, T, s);
        mlp_forward(&ls->cfg, &ls->layers[l], x, B, T, s);
    }
}
