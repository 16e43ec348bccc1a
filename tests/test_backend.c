/* test_backend.c: proves the compute seam (backend.h). A backend registered only here wraps every
 * function of the CPU table and counts its calls. Made current, it must carry a whole training
 * step of a two-layer model with both ends (embedding, layers forward saving activations, head
 * and loss, input and weight gradients, AdamW on the layers and SGD on the ends), with:
 *   - every call of the step through it: each function's count equals the number of calls the
 *     passes make (a call site that names a CPU kernel, or memcpy, instead shows as one short);
 *   - every buffer from its allocator, and every one given back to it;
 *   - the loss, the input gradient, the updated parameters and the moments equal to the CPU
 *     backend's bit for bit.
 * And the same for inference (the forward saving nothing).
 * Also: the registry (find, count, the default), and that the backend cannot be switched while
 * buffers of the current one are live.
 *   usage: test_backend */
#include <string.h>

#include "model/backend.h"
#include "check.h"
#include "model/ends.h"
#include "model/layer.h"
#include "model/model.h"
#include "model/optim.h"

/* ---- the counting backend ------------------------------------------------------------------ */

enum {
    K_ALLOC, K_FREE, K_COPY, K_NORM, K_RSTD, K_NORM_BX, K_NORM_BW, K_LIN, K_LIN_BX, K_LIN_BW,
    K_ROPE, K_ROPE_B, K_ATT, K_ATT_B, K_ADD, K_EXP, K_SWIGLU, K_SWIGLU_B, K_EMB, K_EMB_BW, K_XENT,
    K_XENT_B, K_SGD, K_ADAMW, N_K
};
static const char *const k_name[N_K] = {
    "mem.alloc", "mem.free", "mem.copy", "norm.fwd", "norm.rstd", "norm.bwd_x", "norm.bwd_w",
    "linear.fwd", "linear.bwd_x", "linear.bwd_w", "rope.fwd", "rope.bwd", "attention.fwd",
    "attention.bwd", "elem.add", "elem.exp", "elem.swiglu", "elem.swiglu_bwd", "ends.embed",
    "ends.embed_bwd_w", "ends.xent", "ends.xent_bwd", "optim.sgd", "optim.adamw"};
static long calls[N_K];
static const pipa_backend_t *cpu;

static void *c_alloc(size_t n, int z) { calls[K_ALLOC]++; return cpu->mem.alloc(n, z); }
static void c_free(void *p) { calls[K_FREE]++; cpu->mem.free(p); }
static void c_copy(void *d, const void *s, size_t n) { calls[K_COPY]++; cpu->mem.copy(d, s, n); }
static void c_norm(float *o, const float *x, const float *w, int N, int C, float eps)
{ calls[K_NORM]++; cpu->norm.fwd(o, x, w, N, C, eps); }
static void c_rstd(float *r, const float *x, int N, int C, float eps)
{ calls[K_RSTD]++; cpu->norm.rstd(r, x, N, C, eps); }
static void c_norm_bx(float *dx, const float *dy, const float *x, const float *w, const float *r,
                      int N, int C, int acc)
{ calls[K_NORM_BX]++; cpu->norm.bwd_x(dx, dy, x, w, r, N, C, acc); }
static void c_norm_bw(float *dw, const float *dy, const float *x, const float *r, int N, int C)
{ calls[K_NORM_BW]++; cpu->norm.bwd_w(dw, dy, x, r, N, C); }
static void c_lin(float *o, const float *x, const float *w, int N, int IC, int OC)
{ calls[K_LIN]++; cpu->linear.fwd(o, x, w, N, IC, OC); }
static void c_lin_bx(float *dx, const float *dy, const float *w, int N, int IC, int OC, int acc)
{ calls[K_LIN_BX]++; cpu->linear.bwd_x(dx, dy, w, N, IC, OC, acc); }
static void c_lin_bw(float *dw, const float *dy, const float *x, int N, int IC, int OC)
{ calls[K_LIN_BW]++; cpu->linear.bwd_w(dw, dy, x, N, IC, OC); }
static void c_rope(float *x, int B, int T, int NH, int HS, float th)
{ calls[K_ROPE]++; cpu->rope.fwd(x, B, T, NH, HS, th); }
static void c_rope_b(float *d, int B, int T, int NH, int HS, float th)
{ calls[K_ROPE_B]++; cpu->rope.bwd(d, B, T, NH, HS, th); }
static void c_att(float *o, float *att, const float *q, const float *k, const float *v, int B,
                  int T, int NH, int NKV, int HS)
{ calls[K_ATT]++; cpu->attention.fwd(o, att, q, k, v, B, T, NH, NKV, HS); }
static void c_att_b(float *dq, float *dk, float *dv, float *datt, const float *dout,
                    const float *att, const float *q, const float *k, const float *v, int B, int T,
                    int NH, int NKV, int HS)
{ calls[K_ATT_B]++; cpu->attention.bwd(dq, dk, dv, datt, dout, att, q, k, v, B, T, NH, NKV, HS); }
static void c_add(float *x, const float *y, size_t n) { calls[K_ADD]++; cpu->elem.add(x, y, n); }
static void c_exp(float *y, const float *x, size_t n) { calls[K_EXP]++; cpu->elem.exp(y, x, n); }
static void c_swiglu(float *o, const float *g, const float *u, size_t n)
{ calls[K_SWIGLU]++; cpu->elem.swiglu(o, g, u, n); }
static void c_swiglu_b(float *dg, float *du, const float *d, const float *g, const float *u,
                       size_t n)
{ calls[K_SWIGLU_B]++; cpu->elem.swiglu_bwd(dg, du, d, g, u, n); }
static void c_emb(float *x, const float *wte, const int32_t *t, int N, int C)
{ calls[K_EMB]++; cpu->ends.embed(x, wte, t, N, C); }
static void c_emb_bw(float *dw, const float *dx, const int32_t *t, int N, int C)
{ calls[K_EMB_BW]++; cpu->ends.embed_bwd_w(dw, dx, t, N, C); }
static double c_xent(float *p, const float *l, const int32_t *t, int N, int V)
{ calls[K_XENT]++; return cpu->ends.xent(p, l, t, N, V); }
static void c_xent_b(float *d, const float *p, const int32_t *t, int N, int V, float s)
{ calls[K_XENT_B]++; cpu->ends.xent_bwd(d, p, t, N, V, s); }
static void c_sgd(float *p, const float *g, size_t n, float lr)
{ calls[K_SGD]++; cpu->optim.sgd(p, g, n, lr); }
static void c_adamw(float *p, const float *g, float *m, float *v, size_t n,
                    const pipa_adamw_coef_t *c)
{ calls[K_ADAMW]++; cpu->optim.adamw(p, g, m, v, n, c); }

static const pipa_backend_t counting = {
    .name = "counting",
    .mem = {c_alloc, c_free, c_copy},
    .norm = {c_norm, c_rstd, c_norm_bx, c_norm_bw},
    .linear = {c_lin, c_lin_bx, c_lin_bw},
    .rope = {c_rope, c_rope_b},
    .attention = {c_att, c_att_b},
    .elem = {c_add, c_exp, c_swiglu, c_swiglu_b},  // exp: inside kernels, never from the model
    .ends = {c_emb, c_emb_bw, c_xent, c_xent_b},
    .optim = {c_sgd, c_adamw},
};

/* ---- one training step on the current backend --------------------------------------------- */

enum { L = 2, B = 2, T = 8, C = 32, V = 40 };
static const pipa_model_config_t cfg = {.L = L, .C = C, .NH = 4, .I = 48, .eps = 1e-5f,
                                        .rope_theta = 10000.0f, .seed = 11};

typedef struct {
    double loss;
    float dx[B * T * C];                 /* dLoss/d(embedding output) */
    float *layers, *ends, *moments;        /* after the step: copies, malloc'd */
    size_t n_layers, n_ends;
} step_result_t;

static float *dup_of(const float *p, size_t n)
{
    float *q = malloc(n * sizeof *q + 1);
    PIPA_ASSERT(q != NULL);
    memcpy(q, p, n * sizeof *q);
    return q;
}

/* Embedding, layers (saving), head and loss, backward, AdamW (layers) and SGD (ends). */
static void train_step(step_result_t *r)
{
    pipa_layers_t w, g;
    pipa_ends_t e, ge;
    pipa_acts_t a;
    pipa_head_acts_t h;
    pipa_scratch_t s;
    pipa_optim_t ol, oe;
    pipa_opt_config_t adamw = pipa_opt_defaults(), sgd = adamw;
    sgd.kind = PIPA_OPT_SGD;
    int32_t tokens[B * T], targets[B * T];
    for (int i = 0; i < B * T; i++) tokens[i] = (i * 7 + 3) % V, targets[i] = (i * 5 + 1) % V;
    void *x, *dx;
    CHECK(pipa_layers_build(&w, &cfg, 0, L) == PIPA_OK);
    CHECK(pipa_layers_alloc_zero(&g, &cfg, 0, L) == PIPA_OK);
    CHECK(pipa_ends_build(&e, &cfg, V, 1, 1) == PIPA_OK);
    CHECK(pipa_ends_alloc_zero(&ge, &cfg, V, 1, 1) == PIPA_OK);
    CHECK(pipa_acts_init(&a, &cfg, L, B, T) == PIPA_OK);
    CHECK(pipa_head_acts_init(&h, &cfg, V, B, T) == PIPA_OK);
    CHECK(pipa_scratch_init(&s, &cfg, B, T) == PIPA_OK);
    CHECK(pipa_optim_init(&ol, &adamw, w.n_params) == PIPA_OK);
    CHECK(pipa_optim_init(&oe, &sgd, e.n_params) == PIPA_OK);
    CHECK(pipa_backend_alloc(&x, (size_t)B * T * cfg.C, 0, "x") == PIPA_OK);
    CHECK(pipa_backend_alloc(&dx, (size_t)B * T * cfg.C, 0, "dx") == PIPA_OK);

    CHECK(pipa_ends_embed_forward(&e, tokens, x, B, T) == PIPA_OK);
    pipa_layers_forward(&w, x, B, T, &a, &s);
    CHECK(pipa_ends_head_forward(&e, x, targets, B, T, &h, &r->loss) == PIPA_OK);
    pipa_ends_head_backward_input(&e, &h, 1.0f / (B * T), dx, B, T);
    pipa_ends_head_backward_weight(&ge, &h, B, T);
    pipa_layers_backward(&w, &a, dx, &g, B, T, &s);
    pipa_ends_embed_backward_weight(&ge, tokens, dx, B, T);
    pipa_optim_step(&ol, w.params, g.params);
    /* The ends' allocation is their n_params floats with no padding at this shape (V*C a
     * multiple of 16): one step over it all. */
    CHECK(e.lm_head + (size_t)e.V * cfg.C == (float *)e.alloc + e.n_params);
    pipa_optim_step(&oe, e.alloc, ge.alloc);

    memcpy(r->dx, dx, sizeof r->dx);
    r->n_layers = w.n_params, r->n_ends = e.n_params;
    r->layers = dup_of(w.params, w.n_params);
    r->ends = dup_of(e.alloc, e.n_params);
    r->moments = dup_of(ol.state, 2 * w.n_params);
    pipa_backend_free(x), pipa_backend_free(dx);
    pipa_optim_free(&ol), pipa_optim_free(&oe);
    pipa_scratch_free(&s), pipa_head_acts_free(&h), pipa_acts_free(&a);
    pipa_ends_free(&e), pipa_ends_free(&ge), pipa_layers_free(&w), pipa_layers_free(&g);
}

static void result_free(step_result_t *r) { free(r->layers), free(r->ends), free(r->moments); }

/* The calls one train_step makes, from the passes' code: per layer, forward 7 linears, 2 norms
 * (+2 rstd saved), 2 ropes, 1 attention, 2 adds, 1 SwiGLU, 2 copies (x, x_mid); backward input
 * 7 linear input gradients, 2 norm ones, 2 ropes, 1 attention, 1 SwiGLU, 5 copies (dy_down, dy_o,
 * q, k, v); backward weight 7 linear and 2 norm weight gradients. Head: 1 of each of norm, rstd,
 * linear, cross-entropy forward and backward, norm and linear input and weight gradients, 2
 * copies (x, targets). Allocations: weights, gradients, ends, their gradients, acts, head acts,
 * scratch, AdamW's moments (SGD has none), x and dx: 10, each given back. */
static long expected(int k)
{
    static const long per_layer[N_K] = {
        [K_COPY] = 7, [K_NORM] = 2, [K_RSTD] = 2, [K_NORM_BX] = 2, [K_NORM_BW] = 2, [K_LIN] = 7,
        [K_LIN_BX] = 7, [K_LIN_BW] = 7, [K_ROPE] = 2, [K_ROPE_B] = 2, [K_ATT] = 1, [K_ATT_B] = 1,
        [K_ADD] = 2, [K_SWIGLU] = 1, [K_SWIGLU_B] = 1};
    static const long once[N_K] = {
        [K_ALLOC] = 10, [K_FREE] = 10, [K_COPY] = 2, [K_NORM] = 1, [K_RSTD] = 1, [K_NORM_BX] = 1,
        [K_NORM_BW] = 1, [K_LIN] = 1, [K_LIN_BX] = 1, [K_LIN_BW] = 1, [K_EMB] = 1, [K_EMB_BW] = 1,
        [K_XENT] = 1, [K_XENT_B] = 1, [K_SGD] = 1, [K_ADAMW] = 1};
    return L * per_layer[k] + once[k];
}

static void test_step_through_counting(void)
{
    step_result_t want, got;
    cpu = pipa_backend_find("cpu");
    CHECK(cpu != NULL && pipa_backend() == cpu);
    if (!cpu) return;
    train_step(&want);

    memset(calls, 0, sizeof calls);
    CHECK(pipa_backend_use(&counting) == PIPA_OK);
    CHECK(pipa_backend() == &counting);
    train_step(&got);
    CHECK(pipa_backend_use(cpu) == PIPA_OK);

    for (int k = 0; k < N_K; k++)
        CHECKF(calls[k] == expected(k), "%s: %ld calls through the backend, expected %ld",
               k_name[k], calls[k], expected(k));
    CHECKF(memcmp(&got.loss, &want.loss, sizeof got.loss) == 0, "loss %.17g vs cpu %.17g",
           got.loss, want.loss);
    CHECK(memcmp(got.dx, want.dx, sizeof got.dx) == 0);
    CHECK(got.n_layers == want.n_layers && got.n_ends == want.n_ends);
    CHECK(memcmp(got.layers, want.layers, want.n_layers * sizeof(float)) == 0);
    CHECK(memcmp(got.ends, want.ends, want.n_ends * sizeof(float)) == 0);
    CHECK(memcmp(got.moments, want.moments, 2 * want.n_layers * sizeof(float)) == 0);
    long total = 0;
    for (int k = 0; k < N_K; k++) total += calls[k];
    printf("step through the counting backend: loss %.9g, %ld calls, same bits as cpu\n",
           got.loss, total);
    result_free(&want), result_free(&got);
}

/* Inference: the same forward saving nothing. Per layer 7 linears, 2 norms, 2 ropes, 1
 * attention, 2 adds, 1 SwiGLU, and nothing else (no rstd, no copies); allocations: weights,
 * scratch, x. */
static void infer(float out[B * T * C])
{
    pipa_layers_t w;
    pipa_scratch_t s;
    void *x;
    CHECK(pipa_layers_build(&w, &cfg, 0, L) == PIPA_OK);
    CHECK(pipa_scratch_init(&s, &cfg, B, T) == PIPA_OK);
    CHECK(pipa_backend_alloc(&x, (size_t)B * T * C, 0, "x") == PIPA_OK);
    pipa_model_input(x, &cfg, 0, B, T);
    pipa_layers_forward(&w, x, B, T, NULL, &s);
    memcpy(out, x, (size_t)B * T * C * sizeof(float));
    pipa_backend_free(x);
    pipa_scratch_free(&s);
    pipa_layers_free(&w);
}

static void test_infer_through_counting(void)
{
    static float want[B * T * C], got[B * T * C];
    infer(want);
    memset(calls, 0, sizeof calls);
    CHECK(pipa_backend_use(&counting) == PIPA_OK);
    infer(got);
    CHECK(pipa_backend_use(cpu) == PIPA_OK);
    static const long per_layer[N_K] = {[K_NORM] = 2, [K_LIN] = 7, [K_ROPE] = 2, [K_ATT] = 1,
                                        [K_ADD] = 2, [K_SWIGLU] = 1};
    for (int k = 0; k < N_K; k++) {
        long e = L * per_layer[k] + (k == K_ALLOC || k == K_FREE ? 3 : 0);
        CHECKF(calls[k] == e, "inference: %s: %ld calls through the backend, expected %ld",
               k_name[k], calls[k], e);
    }
    CHECK(memcmp(got, want, sizeof got) == 0);
}

/* ---- the registry and the switch ----------------------------------------------------------- */

static void test_registry(void)
{
    CHECK(pipa_backend_count() >= 1);
    CHECK(pipa_backend_at(0) == pipa_backend_find("cpu"));
    CHECK(pipa_backend_find("no such backend") == NULL);
    for (int i = 0; i < pipa_backend_count(); i++)
        CHECK(pipa_backend_find(pipa_backend_at(i)->name) == pipa_backend_at(i));

    /* A buffer of the current backend is live: no switch, and the message names both. */
    void *p;
    CHECK(pipa_backend_alloc(&p, 3, 1, "probe") == PIPA_OK && p != NULL);
    CHECK(pipa_backend_use(&counting) == PIPA_ERR_STATE);
    CHECK(strstr(pipa_last_error(), "counting") != NULL);
    CHECK(pipa_backend() == pipa_backend_at(0));
    CHECK(pipa_backend_use(pipa_backend()) == PIPA_OK);  // staying is always allowed
    pipa_backend_free(p);
    CHECK(pipa_backend_use(&counting) == PIPA_OK);
    CHECK(pipa_backend_use(pipa_backend_at(0)) == PIPA_OK);
}

int main(void)
{
    test_step_through_counting();
    test_infer_through_counting();
    test_registry();
    return check_done("test_backend");
}
