/* layer.c: a range of Llama-style layers at work: the forward scratch, the saved activations of
 * one microbatch (each one allocation carved by a size table, arena.h), the one forward pass, and
 * the backward pass split into input gradients (I) and weight gradients (W).
 *
 * Inference and training run the same forward: saving only changes where the intermediate values
 * are written (the saved activations instead of the scratch), never which ops run on which values, so
 * the output has the same bits either way. The input-gradient pass leaves in the activations
 * every gradient the weight pass needs (the gradient of each linear's output and of each norm's
 * output), so W reads nothing but the activations and can run any time later.
 *
 * Tensor parallelism is the same passes on a rank's slices (tensors.h): fewer heads and a
 * narrower MLP (pass_t's sizes), plus the caller's all-reduce after wo and w_down (forward) and
 * before each norm's backward (backward_input); without a tensor group the hook is absent and the
 * very same ops run on the very same values.
 * Left out: activation recomputation, the model's ends (ends.c), scratch and saved activations
 * sized for a slice (a rank uses a prefix of the whole layer's). */
#include "model/layer.h"

#include <stdlib.h>
#include <string.h>

#include "base/arena.h"
#include "model/backend.h"

/* ---- scratch ------------------------------------------------------------------------------ */

enum { S_XN, S_Q, S_K, S_V, S_ATT, S_Y, S_GATE, S_UP, N_SCRATCH };

/* One tensor rank's widths of a layer (tp 1: the whole layer's): its heads' NH/tp, their width
 * QC = NH/tp * HS, its key/value heads' width KC = NKV/tp * HS, its I/tp. */
typedef struct {
    size_t NH, QC, KC, I;
} widths_t;

static widths_t widths(const pipa_model_config_t *cfg, int tp)
{
    /* Unchecked configurations (pipa_acts_bytes) must not divide by zero. */
    const size_t R = tp > 1 ? (size_t)tp : 1, HS = cfg->NH > 0 ? (size_t)(cfg->C / cfg->NH) : 0;
    const size_t NH = (size_t)cfg->NH / R, NKV = (size_t)pipa_config_nkv(cfg) / R;
    return (widths_t){NH, NH * HS, NKV * HS, (size_t)cfg->I / R};
}

pipa_status pipa_scratch_init_tp(pipa_scratch_t *s, const pipa_model_config_t *cfg, int tp_size,
                                 int B, int T)
{
    memset(s, 0, sizeof *s);
    PIPA_TRY(pipa_config_check(cfg));
    if (B < 1 || T < 1)
        return pipa__fail(PIPA_ERR_ARG, "scratch: B (%d) and T (%d) must be positive", B, T);
    PIPA_TRY(pipa_config_check_tp(cfg, tp_size));
    const widths_t w = widths(cfg, tp_size);
    size_t N = (size_t)B * T, C = (size_t)cfg->C, QC = w.QC, KC = w.KC, I = w.I;
    /* xn and y stay (B, T, C): they also take wo's and w_down's (whole-width) outputs. */
    const pipa_piece_t t[N_SCRATCH] = {
        {"xn", N * C}, {"q", N * QC}, {"k", N * KC}, {"v", N * KC},
        {"att", (size_t)B * w.NH * T * T}, {"y", N * C}, {"gate", N * I},
        {"up", N * I}};  // (B, T, C), (B, T, NH|NKV, HS), att (B, NH, T, T), (B, T, I)
    size_t off[N_SCRATCH], total = pipa_arena_layout(t, N_SCRATCH, 16, off);  // 64-byte aligned
    void *buf;
    PIPA_TRY(pipa_backend_alloc(&buf, total, 0, "forward scratch"));
    s->buf = buf;
    float **const fields[N_SCRATCH] = {&s->xn, &s->q, &s->k, &s->v, &s->att, &s->y, &s->gate,
                                       &s->up};
    pipa_arena_point(s->buf, off, fields, N_SCRATCH);
    s->B = B;
    s->T = T;
    s->tp_size = tp_size;
    return PIPA_OK;
}

pipa_status pipa_scratch_init(pipa_scratch_t *s, const pipa_model_config_t *cfg, int B, int T)
{
    return pipa_scratch_init_tp(s, cfg, 1, B, T);
}

void pipa_scratch_free(pipa_scratch_t *s)
{
    pipa_backend_free(s->buf);
    memset(s, 0, sizeof *s);
}

/* ---- saved activations -------------------------------------------------------------------- */

/* A layer's pieces in memory order (the order of pipa_act_layer_t). */
enum {
    A_X, A_XN_ATTN, A_RSTD_ATTN, A_Q, A_K, A_V, A_ATT, A_Y, A_X_MID, A_XN_MLP, A_RSTD_MLP,
    A_GATE, A_UP, A_H, A_DY_O, A_DXN_ATTN, A_DY_DOWN, A_DXN_MLP, N_PIECES
};

/* One layer's table (of tensor rank widths w), each piece 64-byte aligned as the scratch's
 * buffers are: BLAS sees the same alignments. Returns the floats of one layer. */
static size_t act_table(const pipa_model_config_t *cfg, widths_t w, int B, int T,
                        size_t off[N_PIECES])
{
    size_t N = (size_t)B * T, C = (size_t)cfg->C, I = w.I, Q = N * w.QC, K = N * w.KC;
    const pipa_piece_t t[N_PIECES] = {
        [A_X] = {"x", N * C}, [A_XN_ATTN] = {"xn_attn", N * C}, [A_RSTD_ATTN] = {"rstd_attn", N},
        [A_Q] = {"q", Q}, [A_K] = {"k", K}, [A_V] = {"v", K},
        [A_ATT] = {"att", (size_t)B * w.NH * T * T}, [A_Y] = {"y", Q},
        [A_X_MID] = {"x_mid", N * C}, [A_XN_MLP] = {"xn_mlp", N * C},
        [A_RSTD_MLP] = {"rstd_mlp", N}, [A_GATE] = {"gate", N * I}, [A_UP] = {"up", N * I},
        [A_H] = {"h", N * I}, [A_DY_O] = {"dy_o", N * C}, [A_DXN_ATTN] = {"dxn_attn", N * C},
        [A_DY_DOWN] = {"dy_down", N * C}, [A_DXN_MLP] = {"dxn_mlp", N * C}};
    return pipa_arena_layout(t, N_PIECES, 16, off);
}

static void act_carve(pipa_act_layer_t *l, float *base, const size_t off[N_PIECES])
{
    float **const fields[N_PIECES] = {
        &l->x, &l->xn_attn, &l->rstd_attn, &l->q, &l->k, &l->v, &l->att, &l->y, &l->x_mid,
        &l->xn_mlp, &l->rstd_mlp, &l->gate, &l->up, &l->h, &l->dy_o, &l->dxn_attn, &l->dy_down,
        &l->dxn_mlp};
    pipa_arena_point(base, off, fields, N_PIECES);
}

size_t pipa_acts_bytes_tp(const pipa_model_config_t *cfg, int tp_size, int count, int B, int T)
{
    size_t off[N_PIECES];
    return act_table(cfg, widths(cfg, tp_size), B, T, off) * (size_t)count * sizeof(float);
}

size_t pipa_acts_bytes(const pipa_model_config_t *cfg, int count, int B, int T)
{
    return pipa_acts_bytes_tp(cfg, 1, count, B, T);
}

pipa_status pipa_acts_init_tp(pipa_acts_t *a, const pipa_model_config_t *cfg, int tp_size,
                              int count, int B, int T)
{
    memset(a, 0, sizeof *a);
    PIPA_TRY(pipa_config_check(cfg));
    if (count < 0 || B < 1 || T < 1)
        return pipa__fail(PIPA_ERR_ARG, "acts: count (%d) must be >= 0, B (%d) and T (%d) positive",
                          count, B, T);
    PIPA_TRY(pipa_config_check_tp(cfg, tp_size));
    size_t off[N_PIECES], per_layer = act_table(cfg, widths(cfg, tp_size), B, T, off);
    a->cfg = *cfg;
    a->count = count;
    a->B = B;
    a->T = T;
    a->tp_size = tp_size;
    a->n_floats = per_layer * (size_t)count;
    if (count == 0) return PIPA_OK;
    void *buf;
    pipa_status s = pipa_backend_alloc(&buf, a->n_floats, 0, "saved activations");
    a->buf = buf;
    a->layers = calloc((size_t)count, sizeof *a->layers);
    if (s != PIPA_OK || !a->layers) {
        pipa_acts_free(a);
        return pipa__fail(PIPA_ERR_NOMEM, "acts: cannot allocate %zu bytes for %d layers",
                          per_layer * (size_t)count * sizeof(float), count);
    }
    for (int l = 0; l < count; l++) act_carve(&a->layers[l], a->buf + (size_t)l * per_layer, off);
    return PIPA_OK;
}

pipa_status pipa_acts_init(pipa_acts_t *a, const pipa_model_config_t *cfg, int count, int B, int T)
{
    return pipa_acts_init_tp(a, cfg, 1, count, B, T);
}

void pipa_acts_free(pipa_acts_t *a)
{
    pipa_backend_free(a->buf);
    free(a->layers);
    memset(a, 0, sizeof *a);
}

/* Asserts a fits the range and the microbatch shape. Activations made for more layers serve a shorter
 * range with their first layers (the runtime sizes each slot's for its largest chunk). */
static void check_acts(const pipa_layers_t *ls, const pipa_acts_t *a, int B, int T)
{
    PIPA_ASSERT(a->count >= ls->count && a->cfg.C == ls->cfg.C && a->cfg.NH == ls->cfg.NH &&
                a->cfg.I == ls->cfg.I && pipa_config_nkv(&a->cfg) == pipa_config_nkv(&ls->cfg));
    /* Made for the whole layer (a rank uses a prefix of each piece) or for this rank's slices. */
    PIPA_ASSERT(a->tp_size <= 1 || a->tp_size == ls->tp_size);
    /* Every piece is one contiguous array, so a smaller microbatch uses a prefix of each. */
    PIPA_ASSERT(B >= 1 && T >= 1 && B <= a->B && T <= a->T);
}

/* ---- the forward -------------------------------------------------------------------------- */

/* What a layer pass needs besides weights and buffers: the sizes of the layer's slices (all of it
 * without tensor parallelism) and the tensor group's all-reduce. With tp_size R a rank holds NH/R
 * heads (QC = their width), the NKV/R key/value heads they use (KC = their width) and I/R of the
 * intermediate size; C stays whole. */
typedef struct {
    int C, NH, NKV, HS, QC, KC, I;
    float eps, theta;
    const pipa_tp_hook_t *tp;  /* NULL: no tensor group */
} pass_t;

static pass_t sizes_of(const pipa_layers_t *ls)
{
    const pipa_model_config_t *cfg = &ls->cfg;
    const int R = ls->tp_size > 1 ? ls->tp_size : 1;
    const int HS = cfg->C / cfg->NH, NKV = pipa_config_nkv(cfg) / R;
    return (pass_t){cfg->C, cfg->NH / R, NKV, HS, cfg->NH / R * HS, NKV * HS, cfg->I / R,
                    cfg->eps, cfg->rope_theta, NULL};
}

/* The sizes and the hook of a pass that reduces (forward, backward_input). */
static pass_t pass_of(const pipa_layers_t *ls, const pipa_tp_hook_t *tp)
{
    pass_t p = sizes_of(ls);
    /* A slice without its group's reduction would be a silently wrong layer. */
    PIPA_ASSERT(ls->tp_size <= 1 || (tp && tp->allreduce));
    p.tp = tp && tp->allreduce ? tp : NULL;
    return p;
}

/* buf (n) = its sum over the tensor group (nothing without one). */
static pipa_status reduce(const pass_t *p, float *buf, size_t n)
{
    return p->tp ? p->tp->allreduce(p->tp->ctx, buf, n) : PIPA_OK;
}

/* x (B, T, C) += wo(attention(rope(q), rope(k), v)) of rmsnorm(x), wo's output summed over the
 * tensor group. With a (saving), the intermediate values land in a's pieces, plus x and the norm's
 * 1/rms; without, in the scratch. */
static pipa_status attn_forward(const pass_t *p, const pipa_layer_t *l, float *x, int B, int T,
                                pipa_act_layer_t *a, pipa_scratch_t *s)
{
    const int N = B * T, C = p->C, NH = p->NH, NKV = p->NKV, HS = p->HS, QC = p->QC, KC = p->KC;
    float *xn = a ? a->xn_attn : s->xn, *q = a ? a->q : s->q, *k = a ? a->k : s->k;
    float *v = a ? a->v : s->v, *att = a ? a->att : s->att, *y = a ? a->y : s->y;
    const pipa_backend_t *be = pipa_backend();
    if (a) be->mem.copy(a->x, x, (size_t)N * C);
    be->norm.fwd(xn, x, l->attn_norm, N, C, p->eps);  // (B, T, C)
    if (a) be->norm.rstd(a->rstd_attn, x, N, C, p->eps);
    be->linear.fwd(q, xn, l->wq, N, C, QC);  // (B, T, NH, HS)
    be->linear.fwd(k, xn, l->wk, N, C, KC);  // (B, T, NKV, HS)
    be->linear.fwd(v, xn, l->wv, N, C, KC);  // (B, T, NKV, HS)
    be->rope.fwd(q, B, T, NH, HS, p->theta);
    be->rope.fwd(k, B, T, NKV, HS, p->theta);
    be->attention.fwd(y, att, q, k, v, B, T, NH, NKV, HS);  // (B, T, NH * HS)
    be->linear.fwd(s->xn, y, l->wo, N, QC, C);  // (B, T, C); the scratch's xn is free again
    PIPA_TRY(reduce(p, s->xn, (size_t)N * C));  // a slice of wo gives a partial sum
    be->elem.add(x, s->xn, (size_t)N * C);
    return PIPA_OK;
}

/* x (B, T, C) += w_down(silu(w_gate(h)) * w_up(h)), h = rmsnorm(x), w_down's output summed over
 * the tensor group. Saving keeps gate and up (the backward needs the pre-activations) and writes
 * silu(gate) * up into a->h; without, it goes over gate. */
static pipa_status mlp_forward(const pass_t *p, const pipa_layer_t *l, float *x, int B, int T,
                               pipa_act_layer_t *a, pipa_scratch_t *s)
{
    const int N = B * T, C = p->C, I = p->I;
    float *xn = a ? a->xn_mlp : s->xn, *gate = a ? a->gate : s->gate, *up = a ? a->up : s->up;
    float *h = a ? a->h : s->gate;
    const pipa_backend_t *be = pipa_backend();
    if (a) be->mem.copy(a->x_mid, x, (size_t)N * C);
    be->norm.fwd(xn, x, l->mlp_norm, N, C, p->eps);  // (B, T, C)
    if (a) be->norm.rstd(a->rstd_mlp, x, N, C, p->eps);
    be->linear.fwd(gate, xn, l->w_gate, N, C, I);  // (B, T, I)
    be->linear.fwd(up, xn, l->w_up, N, C, I);      // (B, T, I)
    be->elem.swiglu(h, gate, up, (size_t)N * I);   // (B, T, I)
    be->linear.fwd(s->y, h, l->w_down, N, I, C);   // (B, T, C)
    PIPA_TRY(reduce(p, s->y, (size_t)N * C));      // a slice of w_down gives a partial sum
    be->elem.add(x, s->y, (size_t)N * C);
    return PIPA_OK;
}

pipa_status pipa_layers_forward_tp(const pipa_layers_t *ls, float *x, int B, int T,
                                   pipa_acts_t *save, pipa_scratch_t *s, const pipa_tp_hook_t *tp)
{
    PIPA_ASSERT(B >= 1 && T >= 1 && B <= s->B && T <= s->T);
    PIPA_ASSERT(s->tp_size <= 1 || s->tp_size == ls->tp_size);
    if (save) check_acts(ls, save, B, T);
    const pass_t p = pass_of(ls, tp);
    if (save) save->phase = PIPA_ACTS_EMPTY;  // until the whole pass succeeded
    /* Nothing survives from one layer to the next but x itself (and what is saved), so a layer's
     * output depends only on its weights and its input: ranges and their pieces agree to the
     * bit. */
    for (int l = 0; l < ls->count; l++) {
        pipa_act_layer_t *a = save ? &save->layers[l] : NULL;
        PIPA_TRY(attn_forward(&p, &ls->layers[l], x, B, T, a, s));
        PIPA_TRY(mlp_forward(&p, &ls->layers[l], x, B, T, a, s));
    }
    if (save) save->phase = PIPA_ACTS_FORWARD;
    return PIPA_OK;
}

void pipa_layers_forward(const pipa_layers_t *ls, float *x, int B, int T, pipa_acts_t *save,
                         pipa_scratch_t *s)
{
    pipa_status st = pipa_layers_forward_tp(ls, x, B, T, save, s, NULL);
    PIPA_ASSERT(st == PIPA_OK);  // without a hook nothing can fail
    (void)st;
}

pipa_status pipa_model_forward(const pipa_model_config_t *cfg, int M, int B, int T, const float *in,
                               float *out)
{
    pipa_layers_t all;
    pipa_scratch_t s;
    PIPA_TRY(pipa_layers_build(&all, cfg, 0, cfg->L));
    pipa_status st = pipa_scratch_init(&s, cfg, B, T);
    if (st != PIPA_OK) {
        pipa_layers_free(&all);
        return st;
    }
    size_t act = (size_t)B * T * cfg->C;
    memcpy(out, in, act * M * sizeof(float));
    for (int k = 0; k < M; k++) pipa_layers_forward(&all, out + act * k, B, T, NULL, &s);
    pipa_scratch_free(&s);
    pipa_layers_free(&all);
    return PIPA_OK;
}

/* ---- backward: input gradients ------------------------------------------------------------ */

/* dx (B, T, C): in, dLoss/d(layer output); out, dLoss/d(x_mid). The gradient of w_down's output
 * is the whole dx on every rank (the conjugate of the forward's sum is the identity); the
 * gradient of the norm's output is summed over the tensor group before the norm's backward (the
 * conjugate of feeding every rank's slices the same input). */
static pipa_status mlp_backward_input(const pass_t *p, const pipa_layer_t *l, float *dx, int B,
                                      int T, pipa_act_layer_t *a, pipa_scratch_t *s)
{
    const int N = B * T, C = p->C, I = p->I;
    const pipa_backend_t *be = pipa_backend();
    be->mem.copy(a->dy_down, dx, (size_t)N * C);
    be->linear.bwd_x(s->gate, dx, l->w_down, N, I, C, 0);  // dLoss/dh (B, T, I)
    be->elem.swiglu_bwd(a->gate, a->up, s->gate, a->gate, a->up, (size_t)N * I);
    be->linear.bwd_x(a->dxn_mlp, a->gate, l->w_gate, N, C, I, 0);
    be->linear.bwd_x(a->dxn_mlp, a->up, l->w_up, N, C, I, 1);
    PIPA_TRY(reduce(p, a->dxn_mlp, (size_t)N * C));
    be->norm.bwd_x(dx, a->dxn_mlp, a->x_mid, l->mlp_norm, a->rstd_mlp, N, C, 1);
    return PIPA_OK;
}

/* dx (B, T, C): in, dLoss/d(x_mid); out, dLoss/d(layer input). The reductions of mlp's. */
static pipa_status attn_backward_input(const pass_t *p, const pipa_layer_t *l, float *dx, int B,
                                       int T, pipa_act_layer_t *a, pipa_scratch_t *s)
{
    const int N = B * T, C = p->C, NH = p->NH, NKV = p->NKV, HS = p->HS, QC = p->QC, KC = p->KC;
    const size_t NQ = (size_t)N * QC, NK = (size_t)N * KC;
    const pipa_backend_t *be = pipa_backend();
    be->mem.copy(a->dy_o, dx, (size_t)N * C);
    be->linear.bwd_x(s->y, dx, l->wo, N, QC, C, 0);  // dLoss/d(attention output)
    /* Into the scratch first: q, k, v are read until the end of the attention backward. */
    be->attention.bwd(s->q, s->k, s->v, s->att, s->y, a->att, a->q, a->k, a->v, B, T, NH, NKV,
                      HS);
    be->rope.bwd(s->q, B, T, NH, HS, p->theta);
    be->rope.bwd(s->k, B, T, NKV, HS, p->theta);
    be->mem.copy(a->q, s->q, NQ);
    be->mem.copy(a->k, s->k, NK);
    be->mem.copy(a->v, s->v, NK);
    be->linear.bwd_x(a->dxn_attn, a->q, l->wq, N, C, QC, 0);
    be->linear.bwd_x(a->dxn_attn, a->k, l->wk, N, C, KC, 1);
    be->linear.bwd_x(a->dxn_attn, a->v, l->wv, N, C, KC, 1);
    PIPA_TRY(reduce(p, a->dxn_attn, (size_t)N * C));
    be->norm.bwd_x(dx, a->dxn_attn, a->x, l->attn_norm, a->rstd_attn, N, C, 1);
    return PIPA_OK;
}

pipa_status pipa_layers_backward_input_tp(const pipa_layers_t *ls, pipa_acts_t *a, float *dx,
                                          int B, int T, pipa_scratch_t *s,
                                          const pipa_tp_hook_t *tp)
{
    check_acts(ls, a, B, T);
    PIPA_ASSERT(a->phase == PIPA_ACTS_FORWARD);  // I consumes the forward values: once per F
    PIPA_ASSERT(B <= s->B && T <= s->T && (s->tp_size <= 1 || s->tp_size == ls->tp_size));
    const pass_t p = pass_of(ls, tp);
    a->phase = PIPA_ACTS_EMPTY;  // consumed, whether or not the pass succeeds
    for (int l = ls->count - 1; l >= 0; l--) {
        PIPA_TRY(mlp_backward_input(&p, &ls->layers[l], dx, B, T, &a->layers[l], s));
        PIPA_TRY(attn_backward_input(&p, &ls->layers[l], dx, B, T, &a->layers[l], s));
    }
    a->phase = PIPA_ACTS_INPUT_DONE;
    return PIPA_OK;
}

void pipa_layers_backward_input(const pipa_layers_t *ls, pipa_acts_t *a, float *dx, int B, int T,
                                pipa_scratch_t *s)
{
    pipa_status st = pipa_layers_backward_input_tp(ls, a, dx, B, T, s, NULL);
    PIPA_ASSERT(st == PIPA_OK);  // without a hook nothing can fail
    (void)st;
}

/* ---- backward: weight gradients ----------------------------------------------------------- */

void pipa_layers_backward_weight(const pipa_layers_t *ls, const pipa_acts_t *a,
                                 pipa_layers_t *grads, int B, int T)
{
    check_acts(ls, a, B, T);
    PIPA_ASSERT(a->phase == PIPA_ACTS_INPUT_DONE);
    PIPA_ASSERT(grads->first == ls->first && grads->count == ls->count &&
                grads->n_params == ls->n_params);
    PIPA_ASSERT(grads->tp_size == ls->tp_size && grads->tp_rank == ls->tp_rank);
    const pass_t p = sizes_of(ls);
    const int N = B * T, C = p.C, I = p.I, QC = p.QC, KC = p.KC;
    const pipa_backend_t *be = pipa_backend();
    /* Layers and tensors in memory order; each tensor's += is one kernel call. The norms'
     * gradients read dxn_*, already summed over the tensor group by backward_input: they are
     * whole, and the same on every rank of the group. */
    for (int i = 0; i < ls->count; i++) {
        const pipa_act_layer_t *al = &a->layers[i];
        pipa_layer_t *g = &grads->layers[i];
        be->norm.bwd_w(g->attn_norm, al->dxn_attn, al->x, al->rstd_attn, N, C);
        be->linear.bwd_w(g->wq, al->q, al->xn_attn, N, C, QC);
        be->linear.bwd_w(g->wk, al->k, al->xn_attn, N, C, KC);
        be->linear.bwd_w(g->wv, al->v, al->xn_attn, N, C, KC);
        be->linear.bwd_w(g->wo, al->dy_o, al->y, N, QC, C);
        be->norm.bwd_w(g->mlp_norm, al->dxn_mlp, al->x_mid, al->rstd_mlp, N, C);
        be->linear.bwd_w(g->w_gate, al->gate, al->xn_mlp, N, C, I);
        be->linear.bwd_w(g->w_up, al->up, al->xn_mlp, N, C, I);
        be->linear.bwd_w(g->w_down, al->dy_down, al->h, N, I, C);
    }
}

void pipa_layers_backward(const pipa_layers_t *ls, pipa_acts_t *a, float *dx, pipa_layers_t *grads,
                          int B, int T, pipa_scratch_t *s)
{
    pipa_layers_backward_input(ls, a, dx, B, T, s);
    pipa_layers_backward_weight(ls, a, grads, B, T);
}
