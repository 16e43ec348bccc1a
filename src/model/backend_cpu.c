/* backend_cpu.c: the CPU backend: host memory from aligned_alloc, and the kernels of ops.c,
 * ops_bwd.c, ops_vocab.c and ops_optim.c (matrix products through CBLAS, blas.c) in the backend
 * table. */
#include "model/backend.h"

#include <stdlib.h>
#include <string.h>

#include "model/ops_cpu.h"

/* 64-byte aligned, the byte size rounded up to 64: with the carve tables' 16-element alignment
 * every piece starts on a cache line, so BLAS sees the same alignments wherever a buffer comes
 * from. */
static void *cpu_alloc(size_t elems, int zero)
{
    if (elems == 0) return NULL;
    size_t bytes = (elems * 4 + 63) / 64 * 64;  // aligned_alloc wants a multiple of the alignment
    void *p = aligned_alloc(64, bytes);
    if (p && zero) memset(p, 0, bytes);
    return p;
}

static void cpu_free(void *p) { free(p); }

static void cpu_copy(void *dst, const void *src, size_t elems) { memcpy(dst, src, elems * 4); }

const pipa_backend_t pipa__backend_cpu = {
    .name = "cpu",
    .mem = {.alloc = cpu_alloc, .free = cpu_free, .copy = cpu_copy},
    .norm = {.fwd = pipa__cpu_rmsnorm, .rstd = pipa__cpu_rmsnorm_rstd,
             .bwd_x = pipa__cpu_rmsnorm_bwd_x, .bwd_w = pipa__cpu_rmsnorm_bwd_w},
    .linear = {.fwd = pipa__cpu_linear, .bwd_x = pipa__cpu_linear_bwd_x,
               .bwd_w = pipa__cpu_linear_bwd_w},
    .rope = {.fwd = pipa__cpu_rope, .bwd = pipa__cpu_rope_bwd},
    .attention = {.fwd = pipa__cpu_attention, .bwd = pipa__cpu_attention_bwd},
    .elem = {.add = pipa__cpu_add, .exp = pipa__cpu_exp, .swiglu = pipa__cpu_swiglu, .swiglu_bwd = pipa__cpu_swiglu_bwd},
    .ends = {.embed = pipa__cpu_embedding, .embed_bwd_w = pipa__cpu_embedding_bwd_w,
             .xent = pipa__cpu_cross_entropy, .xent_bwd = pipa__cpu_cross_entropy_bwd},
    .vocab = {.embed = pipa__cpu_vocab_embed, .embed_bwd_w = pipa__cpu_vocab_embed_bwd_w,
              .row_max = pipa__cpu_row_max, .xent_exp = pipa__cpu_vocab_xent_exp,
              .xent_norm = pipa__cpu_vocab_xent_norm, .xent_bwd = pipa__cpu_vocab_xent_bwd},
    .optim = {.sgd = pipa__cpu_sgd, .adamw = pipa__cpu_adamw},
};
