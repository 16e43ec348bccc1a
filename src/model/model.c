/* model.c: configuration checks, the weights of a range of Llama-style layers (laid out by
 * their tensor table, tensors.c, initialised from counter-based random numbers, rand.c) and inputs.
 *
 * Every random number is a pure function of (seed, stream, index), never of what was drawn
 * before, so a rank that builds only layers [first, first + count) gets the same bits as a
 * one-process build of all L layers, and microbatch k's input is the same whatever the schedule.
 * Left out: the forward and backward of the layers (layer.c), the model's ends (ends.c). */
#include "model/model.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "model/backend.h"
#include "model/tensors.h"

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
    if (cfg->NKV < 0 || (cfg->NKV > 0 && cfg->NH % cfg->NKV != 0))
        return pipa__fail(PIPA_ERR_ARG, "config: NKV (key/value heads, %d) must divide NH "
                          "(heads, %d)", cfg->NKV, cfg->NH);
    if (cfg->tie_embeddings != 0 && cfg->tie_embeddings != 1)
        return pipa__fail(PIPA_ERR_ARG, "config: tie_embeddings must be 0 or 1, not %d",
                          cfg->tie_embeddings);
    return PIPA_OK;
}

int pipa_config_nkv(const pipa_model_config_t *cfg)
{
    return cfg->NKV > 0 ? cfg->NKV : cfg->NH;
}

pipa_status pipa_config_check_tp(const pipa_model_config_t *cfg, int tp)
{
    if (tp < 1) return not_positive("tp (tensor-parallel size)", tp);
    if (cfg->NH % tp != 0)
        return pipa__fail(PIPA_ERR_ARG, "tensor parallel: NH (heads, %d) is not divisible by tp %d",
                          cfg->NH, tp);
    /* A rank holds whole key/value heads and the query heads that use them (tensors.h). */
    if (pipa_config_nkv(cfg) % tp != 0)
        return pipa__fail(PIPA_ERR_ARG, "tensor parallel: NKV (key/value heads, %d) is not "
                          "divisible by tp %d", pipa_config_nkv(cfg), tp);
    if (cfg->I % tp != 0)
        return pipa__fail(PIPA_ERR_ARG,
                          "tensor parallel: I (intermediate size, %d) is not divisible by tp %d",
                          cfg->I, tp);
    return PIPA_OK;
}

/* ---- parameter count ---------------------------------------------------------------------- */

/* A layer's tensors (tensors.c): two norms (C), q and o (C, C), k and v (KC, C) with KC = NKV *
 * HS, gate and up (I, C) and down (C, I). */
size_t pipa_layer_param_count(const pipa_model_config_t *cfg)
{
    return pipa_layer_param_count_tp(cfg, 1);
}

size_t pipa_layer_param_count_tp(const pipa_model_config_t *cfg, int tp_size)
{
    size_t C = (size_t)cfg->C, I = (size_t)cfg->I, R = (size_t)tp_size;
    size_t KC = (size_t)pipa_config_nkv(cfg) * (C / (size_t)cfg->NH);
    return 2 * C + (2 * C * C + 2 * KC * C + 3 * I * C) / R;  // norms whole, linears 1/R each
}

/* ---- initialisation (random numbers: rand.c) ------------------------------------------- */

/* Linear weights uniform in [-1, 1)/sqrt(fan_in) keep activations of order one through the stack
 * (fan_in 1 gives the plain uniform exactly: the embedding); norm weights 1 + 0.1 u differ from 1
 * enough that a test notices a norm applied without its weight. */
void pipa__init_tensor(float *p, size_t n, int fan_in, uint64_t seed, uint64_t a, uint64_t b)
{
    pipa__init_tensor_at(p, n, 0, fan_in, seed, a, b);
}

void pipa__init_tensor_at(float *p, size_t n, size_t first, int fan_in, uint64_t seed, uint64_t a,
                          uint64_t b)
{
    if (fan_in == 0) {
        for (size_t i = 0; i < n; i++)
            p[i] = 1.0f + 0.1f * pipa_rand_uniform(seed, a, b, first + i);
        return;
    }
    float scale = (float)(1.0 / sqrt((double)fan_in));
    for (size_t i = 0; i < n; i++) p[i] = scale * pipa_rand_uniform(seed, a, b, first + i);
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

/* Allocates layers [first, first + count) as their tensor table lays them out: initialised
 * (init set) or zero. */
static pipa_status layers_make(pipa_layers_t *ls, const pipa_model_config_t *cfg, int first,
                               int count, int init, int tp_rank, int tp_size)
{
    memset(ls, 0, sizeof *ls);
    pipa_tensors_t tab;
    const pipa_layer_range_t range = {first, count};
    PIPA_TRY(pipa_tensors_build_tp(&tab, cfg, 0, &range, 1, 0, 0, tp_rank, tp_size));
    float *buf = NULL;
    pipa_status s = pipa_tensors_alloc(&tab, &buf, init, "layer parameters");
    if (s == PIPA_OK) s = pipa_tensors_view_layers(&tab, buf, first, count, ls);
    if (s == PIPA_OK) ls->alloc = buf;
    else pipa_backend_free(buf);
    pipa_tensors_free(&tab);
    return s;
}

pipa_status pipa_layers_build(pipa_layers_t *ls, const pipa_model_config_t *cfg, int first, int count)
{
    return layers_make(ls, cfg, first, count, 1, 0, 1);
}

pipa_status pipa_layers_build_tp(pipa_layers_t *ls, const pipa_model_config_t *cfg, int first,
                                 int count, int tp_rank, int tp_size)
{
    return layers_make(ls, cfg, first, count, 1, tp_rank, tp_size);
}

pipa_status pipa_layers_alloc_zero_tp(pipa_layers_t *grads, const pipa_model_config_t *cfg,
                                      int first, int count, int tp_rank, int tp_size)
{
    return layers_make(grads, cfg, first, count, 0, tp_rank, tp_size);
}

pipa_status pipa_layers_alloc_zero(pipa_layers_t *grads, const pipa_model_config_t *cfg, int first,
                                   int count)
{
    return layers_make(grads, cfg, first, count, 0, 0, 1);
}

void pipa_layers_free(pipa_layers_t *ls)
{
    pipa_backend_free(ls->alloc);
    free(ls->layers);
    ls->alloc = NULL;
    ls->params = NULL;
    ls->layers = NULL;
    ls->count = 0;
    ls->n_params = 0;
}
