/* layer.h: a range of Llama-style layers at work: the one forward (inference saves nothing,
 * training saves the activations of one microbatch), the forward scratch, and the backward split
 * into its input-gradient part (I) and its weight-gradient part (W).
 *
 * Order per microbatch in training: forward with save, then backward_input, then backward_weight,
 * any time after (zero-bubble schedules delay W). Full backward (B) is I then W. Weight gradients
 * accumulate (+=) in the order of the calls; every kernel is deterministic, so the same calls in
 * the same order give the same bits whatever ran in between. The weights: model.h. A rank of a
 * tensor group runs its slices with the ..._tp passes and the group's all-reduce hook. */
#ifndef PIPA_LAYER_H
#define PIPA_LAYER_H

#include <stddef.h>

#include "model/model.h"
#include "base/status.h"

/* ---- scratch ------------------------------------------------------------------------------ */

/* Scratch of the forward (and temporary space of the backward) for up to B x T tokens; allocated
 * once, reused every call. */
typedef struct {
    int B, T;
    int tp_size;  /* made for the slices of a tensor group of tp_size (1: the whole layer) */
    float *buf;   /* one allocation */
    float *xn, *q, *k, *v, *att, *y, *gate, *up;
} pipa_scratch_t;
pipa_status pipa_scratch_init(pipa_scratch_t *s, const pipa_model_config_t *cfg, int B, int T);
/* The scratch of one rank of a tensor group of tp_size (its heads and intermediate slices only);
 * tp_size 1 is pipa_scratch_init. Serves only layers of that tp_size. Errors also PIPA_ERR_ARG
 * when tp_size does not divide NH and I. */
pipa_status pipa_scratch_init_tp(pipa_scratch_t *s, const pipa_model_config_t *cfg, int tp_size,
                                 int B, int T);
void pipa_scratch_free(pipa_scratch_t *s);

/* ---- saved activations of a range of layers ----------------------------------------------- */

/* One layer's saved activations for one microbatch of B x T tokens (N = B*T). The fields marked
 * "then" are reused: backward_input consumes the value and leaves there the gradient that
 * backward_weight needs (the gradient of that linear's output). */
typedef struct {
    float *x;          /* (B, T, C) layer input */
    float *xn_attn;    /* (B, T, C) rmsnorm(x) * attn_norm: input of wq, wk, wv */
    float *rstd_attn;  /* (B, T) its 1/rms */
    float *q;          /* (B, T, NH, HS) after rope; then dLoss/d(wq output) before rope */
    float *k;          /* (B, T, NKV, HS) after rope; then dLoss/d(wk output) before rope */
    float *v;          /* (B, T, NKV, HS); then dLoss/d(wv output) */
    float *att;        /* (B, NH, T, T) attention probabilities, zeros above the diagonal */
    float *y;          /* (B, T, C) attention output: input of wo */
    float *x_mid;      /* (B, T, C) x after the attention residual */
    float *xn_mlp;     /* (B, T, C) rmsnorm(x_mid) * mlp_norm: input of w_gate, w_up */
    float *rstd_mlp;   /* (B, T) */
    float *gate, *up;  /* (B, T, I) pre-activations; then dLoss/d(w_gate, w_up output) */
    float *h;          /* (B, T, I) silu(gate) * up: input of w_down */
    /* Written by backward_input only. */
    float *dy_o;       /* (B, T, C) dLoss/d(wo output) */
    float *dxn_attn;   /* (B, T, C) dLoss/d(xn_attn) */
    float *dy_down;    /* (B, T, C) dLoss/d(w_down output) */
    float *dxn_mlp;    /* (B, T, C) dLoss/d(xn_mlp) */
} pipa_act_layer_t;

typedef enum { PIPA_ACTS_EMPTY = 0, PIPA_ACTS_FORWARD, PIPA_ACTS_INPUT_DONE } pipa_acts_phase;

/* Saved activations of one microbatch for `count` layers: one allocation carved by a size table,
 * each piece 64-byte aligned. Owned by the runtime; reused microbatch after microbatch. */
typedef struct {
    pipa_model_config_t cfg;
    int count, B, T;
    int tp_size;               /* made for the slices of a tensor group of tp_size (1: whole) */
    pipa_acts_phase phase;     /* checked by the passes: F, then I, then W (W may repeat) */
    pipa_act_layer_t *layers;  /* (count) */
    float *buf;                /* the one allocation */
    size_t n_floats;
} pipa_acts_t;

/* Bytes of a pipa_acts_t for count layers and microbatches of B x T (its one buffer only). */
size_t pipa_acts_bytes(const pipa_model_config_t *cfg, int count, int B, int T);
/* Errors: PIPA_ERR_ARG (bad config or sizes), PIPA_ERR_NOMEM. count may be 0. */
pipa_status pipa_acts_init(pipa_acts_t *a, const pipa_model_config_t *cfg, int count, int B, int T);
/* The same for one rank of a tensor group of tp_size: the pieces of its heads and its slice of
 * the MLP only (q, y, att by NH/tp_size heads, k, v by NKV/tp_size; gate, up, h by I/tp_size);
 * they serve only layers of that tp_size (acts for the whole layer serve any). tp_size 1: the
 * functions above. Errors also PIPA_ERR_ARG when tp_size does not divide NH, NKV and I. */
size_t pipa_acts_bytes_tp(const pipa_model_config_t *cfg, int tp_size, int count, int B, int T);
pipa_status pipa_acts_init_tp(pipa_acts_t *a, const pipa_model_config_t *cfg, int tp_size,
                              int count, int B, int T);
void pipa_acts_free(pipa_acts_t *a);

/* ---- a range of layers -------------------------------------------------------------------- */

/* The one forward: in place, x (B, T, C) through every layer of the range. B, T at most the
 * scratch's (made for the same configuration). save: NULL for inference (nothing kept), or the
 * activations the backward needs are saved there (made for this configuration, at least
 * ls->count layers (a longer one uses its first layers) and at least B x T). Saving or not, the
 * same ops run on the same values: the output has the same bits. Carries no state between calls
 * beyond save. */
void pipa_layers_forward(const pipa_layers_t *ls, float *x, int B, int T, pipa_acts_t *save,
                         pipa_scratch_t *s);
/* The one-process reference of a pipelined forward: the M microbatches in (M, B, T, C) through
 * all L layers, one after another, into out (M, B, T, C); what pipelined outputs must equal bit
 * for bit. Builds the whole model (and frees it). */
pipa_status pipa_model_forward(const pipa_model_config_t *cfg, int M, int B, int T, const float *in,
                               float *out);

/* In place on dx (B, T, C): in, dLoss/d(output of the range); out, dLoss/d(input of the range).
 * Consumes a's forward values and leaves in a what backward_weight needs. s: forward scratch,
 * used as temporary space only. */
void pipa_layers_backward_input(const pipa_layers_t *ls, pipa_acts_t *a, float *dx, int B, int T,
                                pipa_scratch_t *s);
/* grads (from pipa_layers_alloc_zero for the same range, or pipa_layers_alloc_zero_tp for the
 * same tensor rank) += the weight gradients of this microbatch. Reads a only: may be called again
 * on the same a. */
void pipa_layers_backward_weight(const pipa_layers_t *ls, const pipa_acts_t *a,
                                 pipa_layers_t *grads, int B, int T);
/* ---- tensor parallelism (Megatron's split of a layer; the slices: tensors.h) --------------- */

/* The tensor group's all-reduce, supplied by the caller (the model knows nothing of ranks): on
 * return buf (n) holds the element-wise sum of every group rank's buf, the same bits on every
 * rank (a fixed order). Every rank of the group calls it the same number of times with the same
 * n, in the same order. Errors pass through to the layer pass's caller. */
typedef struct {
    pipa_status (*allreduce)(void *ctx, float *buf, size_t n);
    /* The same with the element-wise maximum: only the vocabulary-parallel cross-entropy
     * (pipa_ends_head_forward_tp) needs it; the layers never call it. */
    pipa_status (*allreduce_max)(void *ctx, float *buf, size_t n);
    void *ctx;
} pipa_tp_hook_t;

/* pipa_layers_forward for layers holding the slices of one rank of a tensor group (ls from
 * pipa_layers_build_tp or a view of a pipa_tensors_build_tp table; tp required when
 * ls->tp_size > 1, NULL or a hook otherwise). x (B, T, C) is whole and the same on every rank, in
 * and out. Each rank runs its NH/tp_size heads and I/tp_size of the MLP; wo's and w_down's
 * outputs are partial sums, all-reduced through tp (2 calls of B*T*C floats per layer). save and
 * s as for pipa_layers_forward, made for the whole layer (a rank uses a prefix of each piece) or
 * for this tp_size (pipa_acts_init_tp, pipa_scratch_init_tp).
 * Errors: the hook's; then x and save are undefined (save's phase is EMPTY). tp_size 1 with no
 * hook: pipa_layers_forward's very ops and bits. */
pipa_status pipa_layers_forward_tp(const pipa_layers_t *ls, float *x, int B, int T,
                                   pipa_acts_t *save, pipa_scratch_t *s, const pipa_tp_hook_t *tp);
/* pipa_layers_backward_input for the same slices: dx (B, T, C) whole and the same on every rank,
 * in and out. The gradient of each norm's output (the input of q, k, v and of gate, up) is
 * all-reduced through tp before the norm's backward (2 calls of B*T*C floats per layer). Then
 * pipa_layers_backward_weight (grads from pipa_layers_alloc_zero_tp for the same rank) gives each
 * rank the gradients of its slices, and the norms' gradients WHOLE and identical on every rank of
 * the group: the caller must NOT all-reduce any layer gradient in the tensor group (only, with
 * data parallelism, every gradient in the data group). Errors: the hook's; then dx and a are
 * undefined (a's phase is EMPTY). */
pipa_status pipa_layers_backward_input_tp(const pipa_layers_t *ls, pipa_acts_t *a, float *dx,
                                          int B, int T, pipa_scratch_t *s,
                                          const pipa_tp_hook_t *tp);

/* Full backward: backward_input then backward_weight. */
void pipa_layers_backward(const pipa_layers_t *ls, pipa_acts_t *a, float *dx, pipa_layers_t *grads,
                          int B, int T, pipa_scratch_t *s);

#endif
