/* model.h: the model's configuration, the weights of a range of Llama-style layers, and the
 * model's random numbers (weights and inputs). Their forward and backward: layer.h.
 *
 * Block: x += Attn(RMSNorm(x)); x += MLP(RMSNorm(x)), MLP(x) = down(silu(gate(x)) * up(x)).
 * Supported: Hugging Face LlamaForCausalLM's math in fp32: rotate-half RoPE (rope_theta),
 * grouped-query attention (NKV key/value heads), tied or untied LM head, any vocabulary.
 * Weights are seeded per (seed, layer index, tensor), so a rank builds only its own layers and
 * they are bit-identical to the same layers of a one-process model. Names, shapes and layout of the
 * parameters: the tensor table (tensors.h). */
#ifndef PIPA_MODEL_H
#define PIPA_MODEL_H

#include <stddef.h>
#include <stdint.h>

#include "base/rand.h"  // the weights' and inputs' streams (PIPA_STREAM_INPUT)
#include "base/status.h"

typedef struct {
    int L;            /* layers */
    int C;            /* hidden size */
    int NH;           /* attention heads; C % NH == 0 */
    int I;            /* MLP intermediate size */
    float eps;        /* RMSNorm epsilon (1e-5) */
    float rope_theta; /* rotary base (10000) */
    uint64_t seed;
    int NKV;          /* key/value heads (grouped-query attention): NH % NKV == 0, query head h
                       * uses key/value head h / (NH / NKV); 0 means NH (multi-head) */
    int tie_embeddings; /* 1: the LM head is the token embedding (tied); 0: its own weight */
} pipa_model_config_t;

/* Checks sizes (positive, C divisible by NH, even head size, NKV 0 or a divisor of NH); message
 * names the bad field. */
pipa_status pipa_config_check(const pipa_model_config_t *cfg);
/* Key/value heads: NKV, or NH when NKV is 0 (plain multi-head attention). */
int pipa_config_nkv(const pipa_model_config_t *cfg);
/* Checks a tensor-parallel size: positive, dividing NH (heads), NKV (key/value heads) and I
 * (their slices). The one check of it in the model (tensor tables, scratch, saved activations). */
pipa_status pipa_config_check_tp(const pipa_model_config_t *cfg, int tp);

/* One layer's weights: pointers into the range's single allocation. */
typedef struct {
    float *attn_norm;  /* (C) */
    float *wq, *wo;    /* (C, C) each */
    float *wk, *wv;    /* (NKV * HS, C) each: the key/value heads (HS = C / NH) */
    float *mlp_norm;   /* (C) */
    float *w_gate;     /* (I, C) */
    float *w_up;       /* (I, C) */
    float *w_down;     /* (C, I) */
} pipa_layer_t;

/* Layers [first, first + count) of the model: a view of their tensors in an allocation laid out
 * by a tensor table (tensors.h), which packs a range into one vector. */
typedef struct {
    pipa_model_config_t cfg;
    int first, count;
    int tp_rank, tp_size;   /* a tensor-parallel slice of the layers (tensors.h), 0 of 1 if whole */
    pipa_layer_t *layers;   /* (count) */
    float *params;          /* the range's first float: its n_params floats are contiguous */
    size_t n_params;        /* floats of the range */
    void *alloc;            /* the allocation if the layers own it (pipa_layers_build), else NULL */
} pipa_layers_t;

size_t pipa_layer_param_count(const pipa_model_config_t *cfg);
/* The floats one rank of a tensor group of tp_size holds of a layer (its slices and both norms);
 * tp_size 1: pipa_layer_param_count. tp_size must divide NH, NKV and I. */
size_t pipa_layer_param_count_tp(const pipa_model_config_t *cfg, int tp_size);
/* Allocates (through the range's tensor table) and initialises the layers from the seed; count
 * may be 0 (a stage holding only the model's ends). Errors: PIPA_ERR_ARG (bad config or range),
 * PIPA_ERR_NOMEM. */
pipa_status pipa_layers_build(pipa_layers_t *ls, const pipa_model_config_t *cfg, int first, int count);
/* grads: the same layers and layout as pipa_layers_build(cfg, first, count), all zeros. */
pipa_status pipa_layers_alloc_zero(pipa_layers_t *grads, const pipa_model_config_t *cfg, int first,
                                   int count);
/* Frees what ls owns (its allocation, if any, and its layer array): views too. */
/* The same for tensor rank tp_rank of a group of tp_size: the rank's slices (tensors.h), laid
 * out by pipa_tensors_build_tp; tp_size 1 is pipa_layers_build / pipa_layers_alloc_zero. Errors
 * also PIPA_ERR_ARG when tp_size does not divide NH or I. */
pipa_status pipa_layers_build_tp(pipa_layers_t *ls, const pipa_model_config_t *cfg, int first,
                                 int count, int tp_rank, int tp_size);
pipa_status pipa_layers_alloc_zero_tp(pipa_layers_t *grads, const pipa_model_config_t *cfg,
                                      int first, int count, int tp_rank, int tp_size);
void pipa_layers_free(pipa_layers_t *ls);

/* Deterministic model input for (seed, microbatch): x (B, T, C), values in [-1, 1); element i of
 * the flat (B, T, C) array depends only on (seed, microbatch, i). */
void pipa_model_input(float *x, const pipa_model_config_t *cfg, int microbatch, int B, int T);
/* in (M, B, T, C): the model inputs of microbatches 0..M-1. */
void pipa_model_inputs(float *in, const pipa_model_config_t *cfg, int M, int B, int T);


/* The one initialisation formula of every parameter (layers and ends): p (n) from stream
 * (seed, a, b); fan_in 0: a norm weight, 1 + 0.1 u; fan_in > 0: a linear weight, u / sqrt(fan_in)
 * (fan_in 1: u itself, the embedding). */
void pipa__init_tensor(float *p, size_t n, int fan_in, uint64_t seed, uint64_t a, uint64_t b);
/* The same formula for elements [first, first + n) of the stream: p[i] is the value
 * pipa__init_tensor writes at index first + i (a slice of a tensor gets the whole one's bits). */
void pipa__init_tensor_at(float *p, size_t n, size_t first, int fan_in, uint64_t seed, uint64_t a,
                          uint64_t b);

#endif
