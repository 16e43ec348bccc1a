/* backend.h: the compute seam. Every float buffer of the model comes from one allocator and
 * every op is reached through one table of functions per op family, so the code above (layer.c,
 * ends.c, optim.c, the runtime) never names an implementation. The CPU backend (backend_cpu.c,
 * its kernels in ops*.c and blas.c) is the one there is.
 *
 * One process drives one device: the backend is chosen once at start-up (pipa_backend_use, before
 * any buffer is allocated) and the model fetches it with pipa_backend(). A process-wide choice,
 * like the BLAS thread count, spares a backend handle threaded through every call and every test.
 *
 * How to add a backend (say "cuda"):
 *   1. Write src/model/backend_cuda.c defining
 *      `const pipa_backend_t pipa__backend_cuda = {...}` with every function below
 *      (contracts in ops_cpu.h, which the CPU kernels implement; the references in ops_ref.h
 *      are the answers tests/test_ops.c and tests/test_backward.c hold every registered
 *      backend to).
 *   2. Add X(cuda) to PIPA_BACKENDS in backend.c: that is the registration line.
 * Nothing else changes. Left out: choosing it from the command line (later, --device), memory a
 * host cannot address: buffers from mem.alloc are read and written in place by the data loader,
 * transports, checkpoints and the runtime's gradient zeroing, so a device backend uses memory both
 * sides address (e.g. CUDA managed memory) and finishes its work before an op returns. Dimension
 * letters and shapes as in ops_cpu.h. */
#ifndef PIPA_BACKEND_H
#define PIPA_BACKEND_H

#include <stddef.h>
#include <stdint.h>

#include "base/status.h"

/* AdamW's per-step coefficients, computed once per step by optim.c (see optim.h):
 *   p *= decay;  m = b1 m + (1-b1) g;  v = b2 v + (1-b2) g^2;
 *   p -= step * m / (sqrt(v) / bc2_sqrt + eps) */
typedef struct {
    float beta1, beta2, eps;
    float step;      /* lr / (1 - beta1^t) */
    float bc2_sqrt;  /* sqrt(1 - beta2^t) */
    float decay;     /* 1 - lr * weight_decay */
} pipa_adamw_coef_t;

typedef struct pipa_backend {
    const char *name;  /* "cpu" */

    struct {
        /* *out = a block of `elems` 4-byte elements, 64-byte aligned, zeroed when zero is set;
         * NULL when elems is 0. Returns NULL only when out of memory. */
        void *(*alloc)(size_t elems, int zero);
        void (*free)(void *p);  /* p from alloc, or NULL */
        /* dst (elems) = src (elems), 4-byte elements, not overlapping */
        void (*copy)(void *dst, const void *src, size_t elems);
    } mem;

    struct {
        /* out (N, C) = x * rstd * w */
        void (*fwd)(float *out, const float *x, const float *w, int N, int C, float eps);
        /* rstd (N): the very bits fwd multiplies by */
        void (*rstd)(float *rstd, const float *x, int N, int C, float eps);
        void (*bwd_x)(float *dx, const float *dy, const float *x, const float *w,
                      const float *rstd, int N, int C, int accumulate);
        void (*bwd_w)(float *dw, const float *dy, const float *x, const float *rstd, int N, int C);
    } norm;  /* RMSNorm */

    struct {
        /* out (N, OC) = x (N, IC) @ w^T, w (OC, IC) */
        void (*fwd)(float *out, const float *x, const float *w, int N, int IC, int OC);
        void (*bwd_x)(float *dx, const float *dy, const float *w, int N, int IC, int OC,
                      int accumulate);
        void (*bwd_w)(float *dw, const float *dy, const float *x, int N, int IC, int OC);
    } linear;

    struct {
        void (*fwd)(float *x, int B, int T, int NH, int HS, float theta);  /* in place */
        void (*bwd)(float *d, int B, int T, int NH, int HS, float theta);  /* in place */
    } rope;

    struct {
        /* q, out (B, T, NH, HS); k, v (B, T, NKV, HS): grouped-query (ops_cpu.h) */
        void (*fwd)(float *out, float *att, const float *q, const float *k, const float *v, int B,
                    int T, int NH, int NKV, int HS);
        void (*bwd)(float *dq, float *dk, float *dv, float *datt, const float *dout,
                    const float *att, const float *q, const float *k, const float *v, int B, int T,
                    int NH, int NKV, int HS);
    } attention;

    struct {
        void (*add)(float *x, const float *y, size_t n);  /* x += y */
        void (*exp)(float *y, const float *x, size_t n);  /* y = exp(x) within 2 ulp; y may be x */
        void (*swiglu)(float *out, const float *gate, const float *up, size_t n);
        void (*swiglu_bwd)(float *dgate, float *dup, const float *dout, const float *gate,
                           const float *up, size_t n);
    } elem;  /* element by element */

    struct {
        void (*embed)(float *x, const float *wte, const int32_t *tokens, int N, int C);
        void (*embed_bwd_w)(float *dwte, const float *dx, const int32_t *tokens, int N, int C);
        /* returns the sum over rows of -log p[target], in double, in row order */
        double (*xent)(float *probs, const float *logits, const int32_t *targets, int N, int V);
        void (*xent_bwd)(float *dlogits, const float *probs, const int32_t *targets, int N, int V,
                         float scale);
    } ends;  /* token embedding and cross-entropy */

    struct {
        /* x (N, C) = wte[tokens[n] - v0] (V, C) for tokens in [v0, v0 + V), zeros for the rest */
        void (*embed)(float *x, const float *wte, const int32_t *tokens, int v0, int V, int N,
                      int C);
        /* dwte[tokens[n] - v0] += dx[n] for tokens in [v0, v0 + V), in the order n = 0..N-1 */
        void (*embed_bwd_w)(float *dwte, const float *dx, const int32_t *tokens, int v0, int V,
                            int N, int C);
        /* mx (N) = the largest element of each row of logits (N, V) */
        void (*row_max)(float *mx, const float *logits, int N, int V);
        /* probs (N, V) = exp(logits - mx) (may be logits: in place); stats (N, 2) = per row the
         * sum of those (in double, then rounded) and logits[target - v0] - mx when the target
         * is in [v0, v0 + V), else 0 */
        void (*xent_exp)(float *probs, float *stats, const float *logits, const float *mx,
                         const int32_t *targets, int v0, int N, int V);
        /* probs (N, V) /= stats[2n] (the row's sum over the whole vocabulary), in place */
        void (*xent_norm)(float *probs, const float *stats, int N, int V);
        /* dlogits (N, V) = scale * (probs - onehot(targets - v0)) (may be probs: in place);
         * a target outside [v0, v0 + V) has no one here */
        void (*xent_bwd)(float *dlogits, const float *probs, const int32_t *targets, int v0,
                         int N, int V, float scale);
    } vocab;  /* the ends split by vocabulary rows: [v0, v0 + V) of a larger vocabulary */

    struct {
        void (*sgd)(float *p, const float *g, size_t n, float lr);  /* p -= lr * g */
        /* m, v (n): the moments; element by element in index order */
        void (*adamw)(float *p, const float *g, float *m, float *v, size_t n,
                      const pipa_adamw_coef_t *c);
    } optim;
} pipa_backend_t;

/* The backend every op and buffer of this process goes to (the CPU one until another is used). */
const pipa_backend_t *pipa_backend(void);
/* Makes b the current backend. PIPA_ERR_STATE while buffers of the current one are live: a buffer
 * is freed by the backend that allocated it, so the choice is made before any is allocated. */
pipa_status pipa_backend_use(const pipa_backend_t *b);

/* The registered backends: count, the i-th (0 is the default), the one named (NULL if none). */
int pipa_backend_count(void);
const pipa_backend_t *pipa_backend_at(int i);
const pipa_backend_t *pipa_backend_find(const char *name);

/* The one allocator of the model's buffers: *out = the current backend's block of `elems` 4-byte
 * elements (zeroed when zero is set; NULL with PIPA_OK when elems is 0). PIPA_ERR_NOMEM names
 * `what`. Free with pipa_backend_free. Carve it with arena.h. */
pipa_status pipa_backend_alloc(void **out, size_t elems, int zero, const char *what);
void pipa_backend_free(void *p);  /* NULL is nothing */

#endif
