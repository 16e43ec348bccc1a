/* ends.c: the model's ends for a byte-level language model: token embedding before the first
 * layer; final RMSNorm, LM head and cross-entropy loss after the last. Forward, input gradient
 * and weight gradients, with their saved activations.
 *
 * Parameters are seeded like the layers' (see ends.h for the streams), so a first or last stage
 * builds only its own end and gets the bits of a one-process model.
 * Split by vocabulary (the ..._tp functions): Megatron's vocabulary-parallel embedding and
 * cross-entropy, each rank its rows, the rest combined through the caller's reduce hook.
 * Tied embeddings: the head's lm_head points at the embedding (tensors.h), so one stage holding
 * both ends adds both uses' gradients into one tensor, the head's and then the embedding's in
 * the order the runtime calls them.
 * Left out: a tokenizer, sampling. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "model/ends.h"

#include "base/arena.h"
#include "model/backend.h"
#include "model/tensors.h"

/* ---- parameters --------------------------------------------------------------------------- */

size_t pipa_ends_param_count(const pipa_model_config_t *cfg, int vocab, int has_embedding, int has_head)
{
    size_t VC = (size_t)vocab * cfg->C;
    /* Tied: the head's matrix is the embedding, counted once where both ends are. */
    int head_matrix = has_head && !(cfg->tie_embeddings && has_embedding);
    return (has_embedding ? VC : 0) + (has_head ? (size_t)cfg->C : 0) + (head_matrix ? VC : 0);
}

/* Allocates the ends present as their tensor table lays them out (the streams: ends.h, one
 * formula: pipa__init_tensor), initialised (init set) or zero. */
static pipa_status ends_make(pipa_ends_t *e, const pipa_model_config_t *cfg, int vocab,
                             int has_embedding, int has_head, int init, int tp_rank, int tp_size)
{
    memset(e, 0, sizeof *e);
    pipa_tensors_t tab;
    PIPA_TRY(pipa_tensors_build_tp(&tab, cfg, vocab, NULL, 0, has_embedding, has_head, tp_rank,
                                   tp_size));
    float *buf = NULL;
    pipa_status s = pipa_tensors_alloc(&tab, &buf, init, "ends' parameters");
    if (s == PIPA_OK) {
        pipa_tensors_view_ends(&tab, buf, e);
        e->alloc = buf;
    }
    pipa_tensors_free(&tab);
    return s;
}

pipa_status pipa_ends_build(pipa_ends_t *e, const pipa_model_config_t *cfg, int vocab, int has_embedding,
                            int has_head)
{
    return ends_make(e, cfg, vocab, has_embedding, has_head, 1, 0, 1);
}

pipa_status pipa_ends_build_tp(pipa_ends_t *e, const pipa_model_config_t *cfg, int vocab,
                               int has_embedding, int has_head, int tp_rank, int tp_size)
{
    return ends_make(e, cfg, vocab, has_embedding, has_head, 1, tp_rank, tp_size);
}

pipa_status pipa_ends_alloc_zero_tp(pipa_ends_t *g, const pipa_model_config_t *cfg, int vocab,
                                    int has_embedding, int has_head, int tp_rank, int tp_size)
{
    return ends_make(g, cfg, vocab, has_embedding, has_head, 0, tp_rank, tp_size);
}

pipa_status pipa_ends_alloc_zero(pipa_ends_t *g, const pipa_model_config_t *cfg, int vocab,
                                 int has_embedding, int has_head)
{
    return ends_make(g, cfg, vocab, has_embedding, has_head, 0, 0, 1);
}

void pipa_ends_free(pipa_ends_t *e)
{
    pipa_backend_free(e->alloc);
    memset(e, 0, sizeof *e);
}

/* ---- embedding ---------------------------------------------------------------------------- */

/* PIPA_ERR_ARG naming the first id outside [0, V). */
static pipa_status check_ids(const char *what, const int32_t *ids, size_t n, int V)
{
    for (size_t i = 0; i < n; i++)
        if (ids[i] < 0 || ids[i] >= V)
            return pipa__fail(PIPA_ERR_ARG, "%s %zu is %d, outside the vocabulary [0, %d)", what,
                              i, (int)ids[i], V);
    return PIPA_OK;
}

pipa_status pipa_ends_embed_forward(const pipa_ends_t *e, const int32_t *tokens, float *x, int B,
                                    int T)
{
    PIPA_ASSERT(e->wte != NULL);
    PIPA_TRY(check_ids("token", tokens, (size_t)B * T, e->V));
    pipa_backend()->ends.embed(x, e->wte, tokens, B * T, e->cfg.C);
    return PIPA_OK;
}

void pipa_ends_embed_backward_weight(pipa_ends_t *grads, const int32_t *tokens, const float *dx,
                                     int B, int T)
{
    PIPA_ASSERT(grads->wte != NULL);
    pipa_backend()->ends.embed_bwd_w(grads->wte, dx, tokens, B * T, grads->cfg.C);
}

/* ---- head: saved activations -------------------------------------------------------------- */

/* Pieces in order: x, xn, rstd, probs, dxn (floats), targets (int32), each 64-byte aligned. */
enum { H_X, H_XN, H_RSTD, H_PROBS, H_DXN, H_TARGETS, N_HPIECES };

static size_t head_table(const pipa_model_config_t *cfg, int vocab, int B, int T, size_t off[N_HPIECES])
{
    size_t N = (size_t)B * T, C = (size_t)cfg->C, V = (size_t)vocab;
    const pipa_piece_t t[N_HPIECES] = {{"x", N * C},     {"xn", N * C},  {"rstd", N},
                                      {"probs", N * V}, {"dxn", N * C}, {"targets", N}};
    return pipa_arena_layout(t, N_HPIECES, 16, off);  // 4-byte elements each
}

size_t pipa_head_acts_bytes(const pipa_model_config_t *cfg, int vocab, int B, int T)
{
    size_t off[N_HPIECES];
    return head_table(cfg, vocab, B, T, off) * 4;
}

pipa_status pipa_head_acts_init(pipa_head_acts_t *h, const pipa_model_config_t *cfg, int vocab, int B,
                                int T)
{
    memset(h, 0, sizeof *h);
    PIPA_TRY(pipa_config_check(cfg));
    if (vocab < 1 || B < 1 || T < 1)
        return pipa__fail(PIPA_ERR_ARG, "head acts: vocab (%d), B (%d), T (%d) must be positive",
                          vocab, B, T);
    _Static_assert(sizeof(float) == 4 && sizeof(int32_t) == 4, "pieces hold 4-byte elements");
    size_t off[N_HPIECES], total = head_table(cfg, vocab, B, T, off);
    PIPA_TRY(pipa_backend_alloc(&h->buf, total, 0, "head activations"));
    /* The allocation has no declared type: each piece is used as one type only. */
    float **const fields[N_HPIECES - 1] = {&h->x, &h->xn, &h->rstd, &h->probs, &h->dxn};
    pipa_arena_point(h->buf, off, fields, N_HPIECES - 1);
    h->targets = (int32_t *)h->buf + off[H_TARGETS];
    h->B = B, h->T = T, h->C = cfg->C, h->V = vocab;
    return PIPA_OK;
}

void pipa_head_acts_free(pipa_head_acts_t *h)
{
    pipa_backend_free(h->buf);
    memset(h, 0, sizeof *h);
}

/* ---- head: forward and backward ----------------------------------------------------------- */

static void check_head(const pipa_ends_t *e, const pipa_head_acts_t *h, int B, int T)
{
    PIPA_ASSERT(e->lm_head != NULL && e->final_norm != NULL);
    PIPA_ASSERT(h->C == e->cfg.C && h->V == e->V);
    PIPA_ASSERT(B >= 1 && T >= 1 && B <= h->B && T <= h->T);
}

pipa_status pipa_ends_head_forward(const pipa_ends_t *e, const float *x, const int32_t *targets,
                                   int B, int T, pipa_head_acts_t *h, double *loss_sum)
{
    check_head(e, h, B, T);
    const int N = B * T, C = e->cfg.C, V = e->V;
    PIPA_TRY(check_ids("target", targets, (size_t)N, V));
    const pipa_backend_t *be = pipa_backend();
    be->mem.copy(h->x, x, (size_t)N * C);
    be->mem.copy(h->targets, targets, (size_t)N);
    be->norm.fwd(h->xn, x, e->final_norm, N, C, e->cfg.eps);
    be->norm.rstd(h->rstd, x, N, C, e->cfg.eps);
    be->linear.fwd(h->probs, h->xn, e->lm_head, N, C, V);  // logits (B, T, V)
    *loss_sum = be->ends.xent(h->probs, h->probs, h->targets, N, V);
    h->phase = PIPA_ACTS_FORWARD;
    return PIPA_OK;
}

void pipa_ends_head_backward_input(const pipa_ends_t *e, pipa_head_acts_t *h, float scale,
                                   float *dx, int B, int T)
{
    check_head(e, h, B, T);
    PIPA_ASSERT(h->phase == PIPA_ACTS_FORWARD);  // probs become dlogits: once per forward
    const int N = B * T, C = e->cfg.C, V = e->V;
    const pipa_backend_t *be = pipa_backend();
    be->ends.xent_bwd(h->probs, h->probs, h->targets, N, V, scale);
    be->linear.bwd_x(h->dxn, h->probs, e->lm_head, N, C, V, 0);
    be->norm.bwd_x(dx, h->dxn, h->x, e->final_norm, h->rstd, N, C, 0);
    h->phase = PIPA_ACTS_INPUT_DONE;
}

void pipa_ends_head_backward_weight(pipa_ends_t *grads, const pipa_head_acts_t *h, int B, int T)
{
    PIPA_ASSERT(grads->lm_head != NULL && grads->final_norm != NULL);
    PIPA_ASSERT(h->phase == PIPA_ACTS_INPUT_DONE && h->C == grads->cfg.C && h->V == grads->V);
    PIPA_ASSERT(B >= 1 && T >= 1 && B <= h->B && T <= h->T);
    const int N = B * T, C = grads->cfg.C, V = grads->V;
    const pipa_backend_t *be = pipa_backend();
    be->norm.bwd_w(grads->final_norm, h->dxn, h->x, h->rstd, N, C);
    be->linear.bwd_w(grads->lm_head, h->probs, h->xn, N, C, V);
}

/* ---- split by vocabulary (ends.h): Megatron's vocabulary-parallel ends ------------------- */

pipa_status pipa_ends_embed_forward_tp(const pipa_ends_t *e, const int32_t *tokens, float *x,
                                       int B, int T, const pipa_tp_hook_t *tp)
{
    PIPA_ASSERT(e->wte != NULL && tp && tp->allreduce);
    const int N = B * T, C = e->cfg.C;
    PIPA_TRY(check_ids("token", tokens, (size_t)N, e->V * e->tp_size));
    pipa_backend()->vocab.embed(x, e->wte, tokens, e->v0, e->V, N, C);
    return tp->allreduce(tp->ctx, x, (size_t)N * C);  // one rank's row and zeros from the rest
}

void pipa_ends_embed_backward_weight_tp(pipa_ends_t *grads, const int32_t *tokens,
                                        const float *dx, int B, int T)
{
    PIPA_ASSERT(grads->wte != NULL);
    pipa_backend()->vocab.embed_bwd_w(grads->wte, dx, tokens, grads->v0, grads->V, B * T,
                                      grads->cfg.C);
}

pipa_status pipa_ends_head_forward_tp(const pipa_ends_t *e, const float *x, const int32_t *targets,
                                      int B, int T, pipa_head_acts_t *h, float *stats,
                                      double *loss_sum, const pipa_tp_hook_t *tp)
{
    check_head(e, h, B, T);
    PIPA_ASSERT(tp && tp->allreduce && tp->allreduce_max);
    const int N = B * T, C = e->cfg.C, V = e->V;
    PIPA_TRY(check_ids("target", targets, (size_t)N, V * e->tp_size));
    const pipa_backend_t *be = pipa_backend();
    float *mx = stats, *sums = stats + N;  // (N) row maxima, (N, 2) sum of exp, target's logit
    h->phase = PIPA_ACTS_EMPTY;  // until the softmax is whole
    be->mem.copy(h->x, x, (size_t)N * C);
    be->mem.copy(h->targets, targets, (size_t)N);
    be->norm.fwd(h->xn, x, e->final_norm, N, C, e->cfg.eps);
    be->norm.rstd(h->rstd, x, N, C, e->cfg.eps);
    be->linear.fwd(h->probs, h->xn, e->lm_head, N, C, V);  // this rank's logits (B, T, V)
    be->vocab.row_max(mx, h->probs, N, V);
    PIPA_TRY(tp->allreduce_max(tp->ctx, mx, (size_t)N));  // the whole vocabulary's maxima
    be->vocab.xent_exp(h->probs, sums, h->probs, mx, h->targets, e->v0, N, V);
    PIPA_TRY(tp->allreduce(tp->ctx, sums, 2 * (size_t)N));  // the target is on one rank only
    be->vocab.xent_norm(h->probs, sums, N, V);
    double loss = 0.0;  // per token: log(sum of exp) - (target's logit - max), in token order
    for (int n = 0; n < N; n++) loss += log((double)sums[2 * n]) - (double)sums[2 * n + 1];
    *loss_sum = loss;
    h->phase = PIPA_ACTS_FORWARD;
    return PIPA_OK;
}

pipa_status pipa_ends_head_backward_input_tp(const pipa_ends_t *e, pipa_head_acts_t *h,
                                             float scale, float *dx, int B, int T,
                                             const pipa_tp_hook_t *tp)
{
    check_head(e, h, B, T);
    PIPA_ASSERT(h->phase == PIPA_ACTS_FORWARD && tp && tp->allreduce);
    const int N = B * T, C = e->cfg.C, V = e->V;
    const pipa_backend_t *be = pipa_backend();
    h->phase = PIPA_ACTS_EMPTY;  // probs become dlogits, whether or not the pass succeeds
    be->vocab.xent_bwd(h->probs, h->probs, h->targets, e->v0, N, V, scale);
    be->linear.bwd_x(h->dxn, h->probs, e->lm_head, N, C, V, 0);  // a partial sum over V
    PIPA_TRY(tp->allreduce(tp->ctx, h->dxn, (size_t)N * C));
    be->norm.bwd_x(dx, h->dxn, h->x, e->final_norm, h->rstd, N, C, 0);
    h->phase = PIPA_ACTS_INPUT_DONE;
    return PIPA_OK;
}
