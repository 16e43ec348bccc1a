/* tensors.h: the tensor table. Every parameter has one global name in the Hugging Face Llama
 * convention, a dtype, a shape, an offset in its stage's one allocation and the rule that
 * initialises it; a stage's table drives allocation, initialisation, gradients, optimizer state
 * and checkpoints, so nothing else knows how parameters are laid out.
 *
 *   model.embed_tokens.weight                      (V, C)  first stage
 *   model.layers.{i}.input_layernorm.weight        (C)     i: the global layer index
 *   model.layers.{i}.self_attn.{q,k,v,o}_proj.weight (C, C)
 *   model.layers.{i}.post_attention_layernorm.weight (C)
 *   model.layers.{i}.mlp.{gate,up}_proj.weight     (I, C)
 *   model.layers.{i}.mlp.down_proj.weight          (C, I)
 *   model.norm.weight                              (C)     last stage
 *   lm_head.weight                                 (V, C)  last stage
 *
 * Layout (the table's order is memory order): the embedding, then each layer range (one per
 * chunk), then the head (norm and lm_head); each of these groups starts on a multiple of 16
 * elements (64 bytes), and inside a group the tensors are packed, so a range of layers is one
 * contiguous vector, as a layer range's own allocation was before the table.
 * Left out: dtypes other than f32, tied embeddings, tensor-parallel slices. */
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
    int64_t shape[PIPA_TENSOR_DIMS];
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
    int vocab;
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
 * pipa_layers_free / pipa_ends_free release it. */
pipa_status pipa_tensors_view_layers(const pipa_tensors_t *tab, float *base, int first, int count,
                                     pipa_layers_t *ls);
void pipa_tensors_view_ends(const pipa_tensors_t *tab, float *base, pipa_ends_t *e);

/* One line per tensor: name, shape, offset, count. */
void pipa_tensors_print(const pipa_tensors_t *tab, FILE *f);

#endif
