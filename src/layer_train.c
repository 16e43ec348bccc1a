/* layer_train.c: training a range of Llama-style layers: the saved activations of one
 * microbatch (one allocation carved by a size table), the forward pass that saves them, and the
 * backward pass split into input gradients (I) and weight gradients (W).
 *
 * The training forward calls the very ops of pipa_layers_forward (model.c) in the same order on
 * the same values, only writing into the saved slots instead of the scratch, so its output has
 * the same bits. The input-gradient pass leaves in the activations every gradient the weight pass
 * needs (the gradient of each linear's output and of each norm's output), so W reads nothing but
 * the activations and can run any time later.
 * Left out: activation recomputation, the model's ends (ends.c). */
#include <stdlib.h>
#include <string.h>

#include "ops.h"
#include "ops_bwd.h"
#include "train.h"

/* ---- the size table ----------------------------------------------------------------------- */

/* A layer's slots in memory order (the order of pipa_act_layer_t). */
enum {
    A_X, A_XN_ATTN, A_RSTD_ATTN, A_Q, A_K, A_V, A_ATT, A_Y, A_X_MID, A_XN_MLP, A_RSTD_MLP,
    A_GATE, A_UP, A_H, A_DY_O, A_DXN_ATTN, A_DY_DOWN, A_DXN_MLP, N_SLOTS
};

/* Floats of each slot, each rounded up to 16 (64 bytes) so every slot starts 64-byte aligned,
 * as the forward scratch's buffers do (model.c): BLAS sees the same alignments. */
static size_t act_sizes(const pipa_model_config_t *cfg, int B, int T, size_t sizes[N_SLOTS])
{
    size_t N = (size_t)B * T, C = (size_t)cfg->C, I = (size_t)cfg->I, NH = (size_t)cfg->NH;
    const size_t s[N_SLOTS] = {
        [A_X] = N * C, [A_XN_ATTN] = N * C, [A_RSTD_ATTN] = N, [A_Q] = N * C, [A_K] = N * C,
        [A_V] = N * C, [A_ATT] = (size_t)B * NH * T * T, [A_Y] = N * C, [A_X_MID] = N * C,
        [A_XN_MLP] = N * C, [A_RSTD_MLP] = N, [A_GATE] = N * I, [A_UP] = N * I, [A_H] = N * I,
        [A_DY_O] = N * C, [A_DXN_ATTN] = N * C, [A_DY_DOWN] = N * C, [A_DXN_MLP] = N * C};
    size_t total = 0;
    for (int i = 0; i < N_SLOTS; i++) {
        sizes[i] = (s[i] + 15) / 16 * 16;
        total += sizes[i];
    }
    return total;  // floats per layer
}

static void act_carve(pipa_act_layer_t *l, float *base, const size_t sizes[N_SLOTS])
{
    float **fields[N_SLOTS] = {
        &l->x, &l->xn_attn, &l->rstd_attn, &l->q, &l->k, &l->v, &l->att, &l->y, &l->x_mid,
        &l->xn_mlp, &l->rstd_mlp, &l->gate, &l->up, &l->h, &l->dy_o, &l->dxn_attn, &l->dy_down,
        &l->dxn_mlp};
    for (int i = 0; i < N_SLOTS; i++) {
        *fields[i] = base;
        base += sizes[i];
    }
}

size_t pipa_acts_bytes(const pipa_model_config_t *cfg, int count, int B, int T)
{
    size_t sizes[N_SLOTS];
    return act_sizes(cfg, B, T, sizes) * (size_t)count * sizeof(float);
}

pipa_status pipa_acts_init(pipa_acts_t *a, const pipa_model_config_t *cfg, int count, int B, int T)
{
    memset(a, 0, sizeof *a);
    PIPA_TRY(pipa_config_check(cfg));
    if (count < 0 || B < 1 || T < 1)
        return pipa__fail(PIPA_ERR_ARG, "acts: count (%d) must be >= 0, B (%d) and T (%d) positive",
                          count, B, T);
    size_t sizes[N_SLOTS], per_layer = act_sizes(cfg, B, T, sizes);
    a->cfg = *cfg;
    a->count = count;
    a->B = B;
    a->T = T;
    a->n_floats = per_layer * (size_t)count;
    if (count == 0) return PIPA_OK;
    a->buf = aligned_alloc(64, a->n_floats * sizeof(float));
    a->layers = calloc((size_t)count, sizeof *a->layers);
    if (!a->buf || !a->layers) {
        pipa_acts_free(a);
        return pipa__fail(PIPA_ERR_NOMEM, "acts: cannot allocate %zu bytes for %d layers",
                          per_layer * (size_t)count * sizeof(float), count);
    }
    for (int l = 0; l < count; l++) act_carve(&a->layers[l], a->buf + (size_t)l * per_layer, sizes);
    return PIPA_OK;
}

void pipa_acts_free(pipa_acts_t *a)
{
    free(a->buf);
    free(a->layers);
    memset(a, 0, sizeof *a);
}

pipa_status pipa_layers_alloc_zero(pipa_layers_t *grads, const pipa_model_config_t *cfg, int first,
                                   int count)
{
    /* Built, then zeroed: the carving comes from model.c's own size table, so the layouts cannot
     * drift apart. The random fill is wasted work, once per run. */
    PIPA_TRY(pipa_layers_build(grads, cfg, first, count));
    if (grads->n_params) memset(grads->params, 0, grads->n_params * sizeof(float));
    return PIPA_OK;
}

/* ---- forward ------------------------------------------------------------------------------ */

/* Asserts a fits the range and the microbatch shape. Slots made for more layers serve a shorter
 * range with their first layers (the runtime sizes its slots for its largest chunk). */
static void check_acts(const pipa_layers_t *ls, const pipa_acts_t *a, int B, int T)
{
    PIPA_ASSERT(a->count >= ls->count && a->cfg.C == ls->cfg.C && a->cfg.NH == ls->cfg.NH &&
                a->cfg.I == ls->cfg.I);
    /* Every slot is one contiguous array, so a smaller microbatch uses a prefix of each. */
    PIPA_ASSERT(B >= 1 && T >= 1 && B <= a->B && T <= a->T);
}

/* Mirrors attn_forward of model.c op for op. */
static void attn_forward_train(const pipa_model_config_t *cfg, const pipa_layer_t *l, float *x, int B,
                               int T, pipa_act_layer_t *a, pipa_scratch_t *s)
{
    const int N = B * T, C = cfg->C, NH = cfg->NH, HS = C / NH;
    memcpy(a->x, x, (size_t)N * C * sizeof *x);
    pipa_op_rmsnorm(a->xn_attn, x, l->attn_norm, N, C, cfg->eps);
    pipa_op_rmsnorm_rstd(a->rstd_attn, x, N, C, cfg->eps);
    pipa_op_linear(a->q, a->xn_attn, l->wq, N, C, C);
    pipa_op_linear(a->k, a->xn_attn, l->wk, N, C, C);
    pipa_op_linear(a->v, a->xn_attn, l->wv, N, C, C);
    pipa_op_rope(a->q, B, T, NH, HS, cfg->rope_theta);
    pipa_op_rope(a->k, B, T, NH, HS, cfg->rope_theta);
    pipa_op_attention(a->y, a->att, a->q, a->k, a->v, B, T, NH, HS);
    pipa_op_linear(s->xn, a->y, l->wo, N, C, C);
    pipa_op_add(x, s->xn, (size_t)N * C);
}

/* Mirrors mlp_forward of model.c op for op (swiglu into h instead of over gate). */
static void mlp_forward_train(const pipa_model_config_t *cfg, const pipa_layer_t *l, float *x, int B,
                              int T, pipa_act_layer_t *a, pipa_scratch_t *s)
{
    const int N = B * T, C = cfg->C, I = cfg->I;
    memcpy(a->x_mid, x, (size_t)N * C * sizeof *x);
    pipa_op_rmsnorm(a->xn_mlp, x, l->mlp_norm, N, C, cfg->eps);
    pipa_op_rmsnorm_rstd(a->rstd_mlp, x, N, C, cfg->eps);
    pipa_op_linear(a->gate, a->xn_mlp, l->w_gate, N, C, I);
    pipa_op_linear(a->up, a->xn_mlp, l->w_up, N, C, I);
    pipa_op_swiglu(a->h, a->gate, a->up, (size_t)N * I);
    pipa_op_linear(s->y, a->h, l->w_down, N, I, C);
    pipa_op_add(x, s->y, (size_t)N * C);
}

void pipa_layers_forward_train(const pipa_layers_t *ls, float *x, int B, int T, pipa_acts_t *a,
                               pipa_scratch_t *s)
{
    check_acts(ls, a, B, T);
    PIPA_ASSERT(B <= s->B && T <= s->T);
    for (int l = 0; l < ls->count; l++) {
        attn_forward_train(&ls->cfg, &ls->layers[l], x, B, T, &a->layers[l], s);
        mlp_forward_train(&ls->cfg, &ls->layers[l], x, B, T, &a->layers[l], s);
    }
    a->phase = PIPA_ACTS_FORWARD;
}

/* ---- backward: input gradients ------------------------------------------------------------ */

/* dx (B, T, C): in, dLoss/d(layer output); out, dLoss/d(x_mid). */
static void mlp_backward_input(const pipa_model_config_t *cfg, const pipa_layer_t *l, float *dx, int B,
                               int T, pipa_act_layer_t *a, pipa_scratch_t *s)
{
    const int N = B * T, C = cfg->C, I = cfg->I;
    memcpy(a->dy_down, dx, (size_t)N * C * sizeof *dx);
    pipa_op_linear_bwd_x(s->gate, dx, l->w_down, N, I, C, 0);  // dLoss/dh (B, T, I)
    pipa_op_swiglu_bwd(a->gate, a->up, s->gate, a->gate, a->up, (size_t)N * I);
    pipa_op_linear_bwd_x(a->dxn_mlp, a->gate, l->w_gate, N, C, I, 0);
    pipa_op_linear_bwd_x(a->dxn_mlp, a->up, l->w_up, N, C, I, 1);
    pipa_op_rmsnorm_bwd_x(dx, a->dxn_mlp, a->x_mid, l->mlp_norm, a->rstd_mlp, N, C, 1);
}

/* dx (B, T, C): in, dLoss/d(x_mid); out, dLoss/d(layer input). */
static void attn_backward_input(const pipa_model_config_t *cfg, const pipa_layer_t *l, float *dx,
                                int B, int T, pipa_act_layer_t *a, pipa_scratch_t *s)
{
    const int N = B * T, C = cfg->C, NH = cfg->NH, HS = C / NH;
    const size_t NC = (size_t)N * C;
    memcpy(a->dy_o, dx, NC * sizeof *dx);
    pipa_op_linear_bwd_x(s->y, dx, l->wo, N, C, C, 0);  // dLoss/d(attention output)
    /* Into the scratch first: q, k, v are read until the end of the attention backward. */
    pipa_op_attention_bwd(s->q, s->k, s->v, s->att, s->y, a->att, a->q, a->k, a->v, B, T, NH, HS);
    pipa_op_rope_bwd(s->q, B, T, NH, HS, cfg->rope_theta);
    pipa_op_rope_bwd(s->k, B, T, NH, HS, cfg->rope_theta);
    memcpy(a->q, s->q, NC * sizeof(float));
    memcpy(a->k, s->k, NC * sizeof(float));
    memcpy(a->v, s->v, NC * sizeof(float));
    pipa_op_linear_bwd_x(a->dxn_attn, a->q, l->wq, N, C, C, 0);
    pipa_op_linear_bwd_x(a->dxn_attn, a->k, l->wk, N, C, C, 1);
    pipa_op_linear_bwd_x(a->dxn_attn, a->v, l->wv, N, C, C, 1);
    pipa_op_rmsnorm_bwd_x(dx, a->dxn_attn, a->x, l->attn_norm, a->rstd_attn, N, C, 1);
}

void pipa_layers_backward_input(const pipa_layers_t *ls, pipa_acts_t *a, float *dx, int B, int T,
                                pipa_scratch_t *s)
{
    check_acts(ls, a, B, T);
    PIPA_ASSERT(a->phase == PIPA_ACTS_FORWARD);  // I consumes the forward values: once per F
    PIPA_ASSERT(B <= s->B && T <= s->T);
    for (int l = ls->count - 1; l >= 0; l--) {
        mlp_backward_input(&ls->cfg, &ls->layers[l], dx, B, T, &a->layers[l], s);
        attn_backward_input(&ls->cfg, &ls->layers[l], dx, B, T, &a->layers[l], s);
    }
    a->phase = PIPA_ACTS_INPUT_DONE;
}

/* ---- backward: weight gradients ----------------------------------------------------------- */

void pipa_layers_backward_weight(const pipa_layers_t *ls, const pipa_acts_t *a,
                                 pipa_layers_t *grads, int B, int T)
{
    check_acts(ls, a, B, T);
    PIPA_ASSERT(a->phase == PIPA_ACTS_INPUT_DONE);
    PIPA_ASSERT(grads->first == ls->first && grads->count == ls->count &&
                grads->n_params == ls->n_params);
    const int N = B * T, C = ls->cfg.C, I = ls->cfg.I;
    /* Layers and tensors in memory order; each tensor's += is one kernel call. */
    for (int i = 0; i < ls->count; i++) {
        const pipa_act_layer_t *al = &a->layers[i];
        pipa_layer_t *g = &grads->layers[i];
        pipa_op_rmsnorm_bwd_w(g->attn_norm, al->dxn_attn, al->x, al->rstd_attn, N, C);
        pipa_op_linear_bwd_w(g->wq, al->q, al->xn_attn, N, C, C);
        pipa_op_linear_bwd_w(g->wk, al->k, al->xn_attn, N, C, C);
        pipa_op_linear_bwd_w(g->wv, al->v, al->xn_attn, N, C, C);
        pipa_op_linear_bwd_w(g->wo, al->dy_o, al->y, N, C, C);
        pipa_op_rmsnorm_bwd_w(g->mlp_norm, al->dxn_mlp, al->x_mid, al->rstd_mlp, N, C);
        pipa_op_linear_bwd_w(g->w_gate, al->gate, al->xn_mlp, N, C, I);
        pipa_op_linear_bwd_w(g->w_up, al->up, al->xn_mlp, N, C, I);
        pipa_op_linear_bwd_w(g->w_down, al->dy_down, al->h, N, I, C);
    }
}

void pipa_layers_backward(const pipa_layers_t *ls, pipa_acts_t *a, float *dx, pipa_layers_t *grads,
                          int B, int T, pipa_scratch_t *s)
{
    pipa_layers_backward_input(ls, a, dx, B, T, s);
    pipa_layers_backward_weight(ls, a, grads, B, T);
}
