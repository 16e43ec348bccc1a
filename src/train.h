/* train.h: what a pipeline stage needs to train: the saved activations of one microbatch, the
 * training forward, and the backward of a range of layers split into its input-gradient part (I)
 * and its weight-gradient part (W); and the model's ends (token embedding before the first layer,
 * final RMSNorm + LM head + cross-entropy after the last) for a byte-level language model.
 *
 * Order per microbatch: forward_train, then backward_input, then backward_weight, any time after
 * (zero-bubble schedules delay W). Full backward (B) is I then W. Weight gradients accumulate
 * (+=) in the order of the calls; every kernel is deterministic, so the same calls in the same
 * order give the same bits whatever ran in between. */
#ifndef PIPA_TRAIN_H
#define PIPA_TRAIN_H

#include <stddef.h>
#include <stdint.h>

#include "model.h"
#include "status.h"

/* ---- saved activations of a range of layers ----------------------------------------------- */

/* One layer's saved activations for one microbatch of B x T tokens (N = B*T). The slots marked
 * "then" are reused: backward_input consumes the value and leaves there the gradient that
 * backward_weight needs (the gradient of that linear's output). */
typedef struct {
    float *x;          /* (B, T, C) layer input */
    float *xn_attn;    /* (B, T, C) rmsnorm(x) * attn_norm: input of wq, wk, wv */
    float *rstd_attn;  /* (B, T) its 1/rms */
    float *q, *k;      /* (B, T, NH, HS) after rope; then dLoss/d(wq, wk output) before rope */
    float *v;          /* (B, T, NH, HS); then dLoss/d(wv output) */
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
 * each slot 64-byte aligned. Owned by the runtime; reused microbatch after microbatch. */
typedef struct {
    pipa_model_config_t cfg;
    int count, B, T;
    pipa_acts_phase phase;     /* checked by the passes: F, then I, then W (W may repeat) */
    pipa_act_layer_t *layers;  /* (count) */
    float *buf;                /* the one allocation */
    size_t n_floats;
} pipa_acts_t;

/* Bytes of a pipa_acts_t for count layers and microbatches of B x T (the slot buffer only). */
size_t pipa_acts_bytes(const pipa_model_config_t *cfg, int count, int B, int T);
/* Errors: PIPA_ERR_ARG (bad config or sizes), PIPA_ERR_NOMEM. count may be 0. */
pipa_status pipa_acts_init(pipa_acts_t *a, const pipa_model_config_t *cfg, int count, int B, int T);
void pipa_acts_free(pipa_acts_t *a);

/* ---- a range of layers -------------------------------------------------------------------- */

/* grads: the same layers and layout as pipa_layers_build(cfg, first, count), all zeros. */
pipa_status pipa_layers_alloc_zero(pipa_layers_t *grads, const pipa_model_config_t *cfg, int first,
                                   int count);

/* In place on x (B, T, C), the same bits as pipa_layers_forward, saving into a (made for this
 * configuration, at least ls->count layers (a longer one uses its first layers) and at least
 * B x T). s: the forward scratch. */
void pipa_layers_forward_train(const pipa_layers_t *ls, float *x, int B, int T, pipa_acts_t *a,
                               pipa_scratch_t *s);
/* In place on dx (B, T, C): in, dLoss/d(output of the range); out, dLoss/d(input of the range).
 * Consumes a's forward values and leaves in a what backward_weight needs. s: forward scratch,
 * used as temporary space only. */
void pipa_layers_backward_input(const pipa_layers_t *ls, pipa_acts_t *a, float *dx, int B, int T,
                                pipa_scratch_t *s);
/* grads (from pipa_layers_alloc_zero for the same range) += the weight gradients of this
 * microbatch. Reads a only: may be called again on the same a. */
void pipa_layers_backward_weight(const pipa_layers_t *ls, const pipa_acts_t *a,
                                 pipa_layers_t *grads, int B, int T);
/* Full backward: backward_input then backward_weight. */
void pipa_layers_backward(const pipa_layers_t *ls, pipa_acts_t *a, float *dx, pipa_layers_t *grads,
                          int B, int T, pipa_scratch_t *s);

/* ---- the model's ends --------------------------------------------------------------------- */

enum { PIPA_VOCAB_BYTES = 256 };  /* byte-level: one token per byte */
/* Random stream of the embedding (see pipa_rand_uniform): a = 0, b = PIPA_STREAM_EMBED. The
 * final norm and LM head use a = L (one past the last layer), tensor ids 0 and 1. */
enum { PIPA_STREAM_EMBED = PIPA_STREAM_INPUT + 1 };

/* Embedding (first stage) and/or head (last stage); a one-stage model has both. */
typedef struct {
    pipa_model_config_t cfg;
    int V;                 /* vocabulary size */
    int has_embedding, has_head;
    float *wte;            /* (V, C) token embedding, or NULL */
    float *final_norm;     /* (C) or NULL */
    float *lm_head;        /* (V, C) untied from wte, or NULL */
    float *params;         /* one allocation: wte, final_norm, lm_head, those present, in order */
    size_t n_params;
} pipa_ends_t;

size_t pipa_ends_param_count(const pipa_model_config_t *cfg, int vocab, int has_embedding,
                             int has_head);
/* Builds from the seed: wte uniform in [-1, 1) (the scale of pipa_model_input), final_norm
 * 1 + 0.1 u, lm_head u / sqrt(C). Errors: PIPA_ERR_ARG, PIPA_ERR_NOMEM. */
pipa_status pipa_ends_build(pipa_ends_t *e, const pipa_model_config_t *cfg, int vocab, int has_embedding,
                            int has_head);
/* The same layout, zero-filled: gradients of pipa_ends_build's parameters. */
pipa_status pipa_ends_alloc_zero(pipa_ends_t *g, const pipa_model_config_t *cfg, int vocab,
                                 int has_embedding, int has_head);
void pipa_ends_free(pipa_ends_t *e);

/* x (B, T, C) = wte[tokens], tokens (B, T). Error PIPA_ERR_ARG if a token is outside [0, V). */
pipa_status pipa_ends_embed_forward(const pipa_ends_t *e, const int32_t *tokens, float *x, int B,
                                    int T);
/* grads->wte += scatter of dx (B, T, C) (the input gradient of the first layer) by tokens, in
 * token order. The embedding has no input gradient; run this after the first stage's
 * backward_input, while dx and tokens are still at hand. */
void pipa_ends_embed_backward_weight(pipa_ends_t *grads, const int32_t *tokens, const float *dx,
                                     int B, int T);

/* Saved activations of the head for one microbatch. */
typedef struct {
    int B, T, C, V;
    pipa_acts_phase phase;  /* F, then I, then W (W may repeat) */
    void *buf;            /* one allocation */
    float *x;             /* (B, T, C) input of the final norm */
    float *xn;            /* (B, T, C) normed: input of the LM head */
    float *rstd;          /* (B, T) */
    float *probs;         /* (B, T, V) softmax of the logits; then dLoss/d(logits) */
    float *dxn;           /* (B, T, C) dLoss/d(xn) */
    int32_t *targets;     /* (B, T) copy of the targets */
} pipa_head_acts_t;

size_t pipa_head_acts_bytes(const pipa_model_config_t *cfg, int vocab, int B, int T);
pipa_status pipa_head_acts_init(pipa_head_acts_t *h, const pipa_model_config_t *cfg, int vocab, int B,
                                int T);
void pipa_head_acts_free(pipa_head_acts_t *h);

/* logits = lm_head(rmsnorm(x) * final_norm) for x (B, T, C); *loss_sum = the SUM over the B*T
 * tokens of -log softmax(logits)[target] (accumulated in double, token order). Saves into h.
 * Error PIPA_ERR_ARG if a target is outside [0, V). */
pipa_status pipa_ends_head_forward(const pipa_ends_t *e, const float *x, const int32_t *targets,
                                   int B, int T, pipa_head_acts_t *h, double *loss_sum);
/* dx (B, T, C) = scale * dLoss_sum/dx (written). The runtime passes scale = 1 / (tokens in the
 * whole batch, all microbatches), making the loss the mean over the batch. */
void pipa_ends_head_backward_input(const pipa_ends_t *e, pipa_head_acts_t *h, float scale,
                                   float *dx, int B, int T);
/* grads->final_norm and grads->lm_head += this microbatch's gradients (after backward_input). */
void pipa_ends_head_backward_weight(pipa_ends_t *grads, const pipa_head_acts_t *h, int B, int T);

#endif
