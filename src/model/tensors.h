/* tensors.h: the tensor table. Every parameter has one global name in the Hugging Face Llama
 * convention, a dtype, a shape, an offset in its stage's one allocation and the rule that
 * initialises it; a stage's table drives allocation, initialisation, gradients, optimizer state
 * and checkpoints, so nothing else knows how parameters are laid out.
 *
 *   model.embed_tokens.weight                      (V, C)  first stage
 *   model.layers.{i}.input_layernorm.weight        (C)     i: the global layer index
 *   model.layers.{i}.self_attn.{q,o}_proj.weight   (C, C)
 *   model.layers.{i}.self_attn.{k,v}_proj.weight   (NKV * HS, C)  HS = C / NH: the key/value heads
 *   model.layers.{i}.post_attention_layernorm.weight (C)
 *   model.layers.{i}.mlp.{gate,up}_proj.weight     (I, C)
 *   model.layers.{i}.mlp.down_proj.weight          (C, I)
 *   model.norm.weight                              (C)     last stage
 *   lm_head.weight                                 (V, C)  last stage, untied only
 *
 * Tied embeddings (cfg.tie_embeddings): no lm_head.weight; the head multiplies by
 * model.embed_tokens.weight. A stage holding both ends holds it once (one tensor, both uses,
 * its gradient the sum of both); a last stage without the embedding holds its own copy under the
 * same name in the head group (the same init stream, so the same bits), as Megatron does.
 *
 * Layout (the table's order is memory order): the embedding, then each layer range (one per
 * chunk), then the head (norm and lm_head); each of these groups starts on a multiple of 16
 * elements (64 bytes), and inside a group the tensors are packed, so a range of layers is one
 * contiguous vector, as a layer range's own allocation was before the table.
 * Tensor-parallel slices (pipa_tensors_build_tp): rank t of a tensor group of R holds, under the
 * same global names, a slice of each tensor (Megatron's split):
 *   q (C, C)             rows [t C/R, (t+1) C/R): heads [t NH/R, (t+1) NH/R)   (column parallel)
 *   k, v (NKV HS, C)     rows of key/value heads [t NKV/R, (t+1) NKV/R): exactly those the
 *                        rank's query heads use (h / (NH/NKV))                 (column parallel)
 *   gate, up (I, C)      rows [t I/R, (t+1) I/R)                                (column parallel)
 *   o (C, C)             columns [t C/R, (t+1) C/R): the same heads             (row parallel)
 *   down (C, I)          columns [t I/R, (t+1) I/R)                             (row parallel)
 *   embed_tokens, lm_head (V, C)  rows [t V/R, (t+1) V/R): vocabulary parallel
 *   the norms (C)        whole, replicated on every rank
 * A slice is stored packed (its own row length), and its values are exactly the same elements of
 * the one-process tensor (the random stream is indexed by the full tensor's element index).
 * Left out: dtypes other than f32, a ragged vocabulary split (V % R == 0). */
#ifndef PIPA_TENSORS_H
#define PIPA_TENSORS_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "model/ends.h"
#include "model/model.h"
#include "base/dtype.h"
#include "base/status.h"

enum { PIPA_TENSOR_NAME = 64, PIPA_TENSOR_DIMS = 2 };

typedef struct {
    char name[PIPA_TENSOR_NAME];  /* global (Hugging Face) name */
    pipa_dtype dtype;             /* PIPA_F32 (the only one yet) */
    int ndim;
    int64_t shape[PIPA_TENSOR_DIMS];  /* what this table holds: the slice's shape */
    /* The slice: rows [start[0], start[0] + shape[0]) and (2-D) columns [start[1], start[1] +
     * shape[1]) of the full tensor of shape full; start 0 and full == shape when whole. */
    int64_t full[PIPA_TENSOR_DIMS], start[PIPA_TENSOR_DIMS];
    size_t offset, count;         /* elements from the allocation's start; elements */
    int fan_in;                   /* init rule (pipa__init_tensor): 0 a norm, else a linear */
    uint64_t stream_a, stream_b;  /* its random stream */
} pipa_tensor_t;

/* A stage's layer range: layers [first, first + count) of the model. */
typedef struct {
    int first, count;
} pipa_layer_range_t;

typedef struct {
    pipa_model_config_t cfg;
    int vocab;             /* the full vocabulary (a rank's embedding holds vocab / tp_size rows) */
    int tp_rank, tp_size;  /* this table's place in its tensor group; 0 of 1 without one */
    int has_embedding, has_head;  /* the ends this stage runs (tied: a head-only stage holds
                                   * model.embed_tokens.weight too, as its LM head) */
    int n;                 /* tensors */
    pipa_tensor_t *t;      /* (n) in memory order */
    size_t total;          /* elements of the allocation, padding included */
} pipa_tensors_t;

/* The table of a stage holding the n_ranges layer ranges (chunk order; a range may be empty) and
 * the embedding and/or head (vocab >= 1 when either is present). Errors: PIPA_ERR_ARG (bad
 * config, range or vocab), PIPA_ERR_NOMEM. */
pipa_status pipa_tensors_build(pipa_tensors_t *tab, const pipa_model_config_t *cfg, int vocab,
                               const pipa_layer_range_t *ranges, int n_ranges, int has_embedding,
                               int has_head);
/* The same table for tensor rank tp_rank of a group of tp_size (the slices above); tp_size 1 gives
 * exactly pipa_tensors_build's table. Errors: PIPA_ERR_ARG naming what does not divide (NH
 * (heads), NKV (key/value heads), I (intermediate size) or the vocabulary by tp_size) or a rank
 * outside [0, tp_size),
 * besides pipa_tensors_build's. */
pipa_status pipa_tensors_build_tp(pipa_tensors_t *tab, const pipa_model_config_t *cfg, int vocab,
                                  const pipa_layer_range_t *ranges, int n_ranges,
                                  int has_embedding, int has_head, int tp_rank, int tp_size);
void pipa_tensors_free(pipa_tensors_t *tab);

/* The tensor called name, or NULL. */
const pipa_tensor_t *pipa_tensors_find(const pipa_tensors_t *tab, const char *name);
/* Writes layer `layer`'s tensor `which` (0..8, memory order: input_layernorm, q, k, v, o,
 * post_attention_layernorm, gate, up, down) name into buf[PIPA_TENSOR_NAME]. */
void pipa_tensors_layer_name(char *buf, int layer, int which);

/* *out = a zeroed, 64-byte aligned allocation of tab->total elements; with init set, every
 * tensor initialised by its rule (the same bits as a one-process model's same-named tensor).
 * Padding stays zero. Free with free(). */
pipa_status pipa_tensors_alloc(const pipa_tensors_t *tab, float **out, int init, const char *what);

/* Views: points ls's (layers [first, first + count), a range of the table) or e's fields at the
 * named tensors in base (an allocation laid out by tab). The view owns nothing but ls->layers;
 * pipa_layers_free / pipa_ends_free release it. A tensor-parallel table gives views of its
 * slices: ls->tp_rank, ls->tp_size from the table (run them with pipa_layers_forward_tp), e->V the
 * vocabulary rows the rank holds (vocab / tp_size). */
pipa_status pipa_tensors_view_layers(const pipa_tensors_t *tab, float *base, int first, int count,
                                     pipa_layers_t *ls);
void pipa_tensors_view_ends(const pipa_tensors_t *tab, float *base, pipa_ends_t *e);

/* One line per tensor: name, shape, offset, count; a slice adds "slice [r0:r1, c0:c1] of (F0, F1)". */
void pipa_tensors_print(const pipa_tensors_t *tab, FILE *f);

#endif
