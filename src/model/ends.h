/* ends.h: the model's ends for a byte-level language model: token embedding before the first
 * layer; final RMSNorm + LM head + cross-entropy after the last. Forward, input gradient and
 * weight gradients, with the head's saved activations (the phases of layer.h). */
#ifndef PIPA_ENDS_H
#define PIPA_ENDS_H

#include <stddef.h>
#include <stdint.h>

#include "model/layer.h"
#include "model/model.h"
#include "base/status.h"

/* ---- the model's ends --------------------------------------------------------------------- */

enum { PIPA_VOCAB_BYTES = 256 };  /* byte-level: one token per byte */
/* Random stream of the embedding (see pipa_rand_uniform): a = 0, b = PIPA_STREAM_EMBED. The
 * final norm and LM head use a = L (one past the last layer), tensor ids 0 and 1. */
enum { PIPA_STREAM_EMBED = PIPA_STREAM_INPUT + 1 };

/* Embedding (first stage) and/or head (last stage); a one-stage model has both. */
typedef struct {
    pipa_model_config_t cfg;
    int V;                 /* vocabulary size (split by vocabulary: the rows this rank holds) */
    int has_embedding, has_head;
    float *wte;            /* (V, C) token embedding, or NULL */
    float *final_norm;     /* (C) or NULL */
    float *lm_head;        /* (V, C) untied from wte; tied, wte itself or (a head-only stage)
                            * its copy; NULL without the head */
    size_t n_params;       /* parameters of the ends present */
    int v0, tp_size;       /* vocabulary-parallel: wte and lm_head hold rows [v0, v0 + V) of the
                            * tp_size * V; 0 and 1 without a tensor group */
    void *alloc;           /* the allocation if e owns it (pipa_ends_build), else NULL: a view
                            * of a stage's tensor table (tensors.h) */
} pipa_ends_t;

size_t pipa_ends_param_count(const pipa_model_config_t *cfg, int vocab, int has_embedding,
                             int has_head);
/* Builds (through the ends' tensor table) from the seed: wte uniform in [-1, 1) (the scale of pipa_model_input), final_norm
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

/* ---- split by vocabulary (Megatron's vocabulary-parallel ends; ends_tp.c) ----------------- */
/* Tensor rank tp_rank of a group of tp_size holds embedding and LM-head rows [v0, v0 + V),
 * V = vocab / tp_size, v0 = tp_rank * V (the slices of pipa_tensors_build_tp, the one-process
 * values); the final norm whole. tp: the group's hook (layer.h); every function below makes the
 * same hook calls on every rank, so all of them call it, whatever their tokens. */

/* pipa_ends_build / pipa_ends_alloc_zero for one tensor rank; tp_size 1 gives the same ends.
 * Errors also PIPA_ERR_ARG when tp_size does not divide vocab. */
pipa_status pipa_ends_build_tp(pipa_ends_t *e, const pipa_model_config_t *cfg, int vocab,
                               int has_embedding, int has_head, int tp_rank, int tp_size);
pipa_status pipa_ends_alloc_zero_tp(pipa_ends_t *g, const pipa_model_config_t *cfg, int vocab,
                                    int has_embedding, int has_head, int tp_rank, int tp_size);

/* x (B, T, C) = wte[tokens] of the whole vocabulary, on every rank: each rank writes its rows'
 * tokens and zeros for the others, then one sum all-reduce of B*T*C floats (one value and zeros:
 * the one-process bits). Error PIPA_ERR_ARG if a token is outside the whole vocabulary (before
 * any hook call: every rank sees the same tokens), or the hook's. */
pipa_status pipa_ends_embed_forward_tp(const pipa_ends_t *e, const int32_t *tokens, float *x,
                                       int B, int T, const pipa_tp_hook_t *tp);
/* grads->wte (this rank's rows) += dx (B, T, C) of the tokens it holds, in token order. No
 * reduction: dx is whole on every rank. */
void pipa_ends_embed_backward_weight_tp(pipa_ends_t *grads, const int32_t *tokens,
                                        const float *dx, int B, int T);

/* pipa_ends_head_forward with the LM head split by vocabulary: each rank's logits are its V
 * columns; the row maxima go through one max all-reduce (B*T floats), the sums of exponentials and
 * the target's logit through one sum all-reduce (2*B*T), so *loss_sum is the whole vocabulary's
 * on every rank (within rounding of the one-process loss) and h->probs (h made for V, the rows
 * held) this rank's part of the softmax. stats: the caller's scratch of 3*B*T floats. Errors:
 * PIPA_ERR_ARG for a target outside the whole vocabulary, the hook's. */
pipa_status pipa_ends_head_forward_tp(const pipa_ends_t *e, const float *x, const int32_t *targets,
                                      int B, int T, pipa_head_acts_t *h, float *stats,
                                      double *loss_sum, const pipa_tp_hook_t *tp);
/* pipa_ends_head_backward_input for the split head: dx (B, T, C) whole on every rank after one
 * sum all-reduce (B*T*C) of the norm output's gradient. Then pipa_ends_head_backward_weight (grads
 * from pipa_ends_alloc_zero_tp) gives this rank's lm_head rows and the final norm's gradient
 * whole and identical on every rank: the caller must NOT all-reduce them in the tensor group. */
pipa_status pipa_ends_head_backward_input_tp(const pipa_ends_t *e, pipa_head_acts_t *h,
                                             float scale, float *dx, int B, int T,
                                             const pipa_tp_hook_t *tp);

#endif
