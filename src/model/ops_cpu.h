/* ops_cpu.h: the CPU backend's kernels, fp32, row-major: the forward and backward ops of a
 * Llama-style block and of the model's ends, and the optimizer's element loops. Only
 * backend_cpu.c (which puts them in the backend table) and the kernels' own files include this:
 * the model reaches them through backend.h. These comments are the contracts of every backend.
 *
 * Dimension letters: B batch, T sequence, C hidden, NH heads, HS head size (C / NH),
 * I intermediate (MLP). N is any row count (B*T). Matrix products go through CBLAS (blas.c);
 * plain-loop references of the same ops for the tests are in ops_ref.h. Ops know nothing of
 * ranks or pipelines. Outputs never alias inputs unless the comment says "in place". Same call on
 * the same data gives the same bits: no threading-order dependence. */
#ifndef PIPA_OPS_CPU_H
#define PIPA_OPS_CPU_H

#include <stddef.h>
#include <stdint.h>

#include "model/backend.h"  /* pipa_adamw_coef_t */

/* out (N, C) = x / sqrt(mean(x^2) + eps) * w;  w (C) */
void pipa__cpu_rmsnorm(float *out, const float *x, const float *w, int N, int C, float eps);
/* out (N, OC) = x (N, IC) @ w^T;  w (OC, IC), PyTorch's nn.Linear layout, no bias */
void pipa__cpu_linear(float *out, const float *x, const float *w, int N, int IC, int OC);
/* In place on x (B, T, NH, HS): rotary embedding with the "rotate half" pairing (element i
 * with i + HS/2, as in Hugging Face Llama), position t = 0..T-1, frequency theta^(-2i/HS).
 * cos and sin come from a table of positions the calling thread keeps for its last (HS, theta)
 * (ops_rows.c), so they are computed once per (position, i), not once per call. */
void pipa__cpu_rope(float *x, int B, int T, int NH, int HS, float theta);
/* The rotation itself: sign 1 is pipa__cpu_rope, sign -1 its transpose (the backward). */
void pipa__cpu_rope_rotate(float *x, int B, int T, int NH, int HS, float theta, float sign);
/* Rows per block of the attention's causal products, forward and backward alike: rows
 * [r0, r1) of the scores need keys [0, r1) only, and keys [s0, s1) gather rows [s0, T) only, so
 * the masked upper triangle is skipped block by block (about 3/8 of the square at T 128) while
 * each product stays one sgemm. */
enum { PIPA_CPU_ATT_ROWS = 32 };
/* In place on rows [r0, r1) of one (batch, head)'s scores a (T, T): row t becomes the softmax
 * of its scores s <= t, zeros after t (so a product over the whole square reads no masked score). */
void pipa__cpu_softmax_causal(float *a, int r0, int r1, int T);
/* Its backward, in place on rows [r0, r1) of datt (T, T) = dLoss/d(probabilities), a (T, T) the
 * probabilities: datt = a * (datt - rowsum(a * datt)) over s <= t, zeros after t. */
void pipa__cpu_softmax_causal_bwd(float *datt, const float *a, int r0, int r1, int T);
/* Causal self-attention, grouped-query: q, out (B, T, NH, HS); k, v (B, T, NKV, HS), NKV
 * dividing NH (NKV == NH: multi-head); query head h uses key/value head g = h / (NH / NKV).
 * att: scratch of B*NH*T*T floats.
 * out[b,t,h] = sum_{s<=t} softmax_s(q[b,t,h].k[b,s,g] / sqrt(HS)) v[b,s,g] */
void pipa__cpu_attention(float *out, float *att, const float *q, const float *k, const float *v,
                         int B, int T, int NH, int NKV, int HS);
/* out (n) = silu(gate) * up, silu(g) = g / (1 + exp(-g)). Element by element: out may be gate
 * or up (the model writes it over gate). */
void pipa__cpu_swiglu(float *out, const float *gate, const float *up, size_t n);
/* y (n) = exp(x) within 2 ulp (ops_elem.c); y may be x. */
void pipa__cpu_exp(float *y, const float *x, size_t n);
/* In place: x (n) += y (n) */
void pipa__cpu_add(float *x, const float *y, size_t n);
/* rstd (N) = 1 / sqrt(mean(x^2) + eps) of each row of x (N, C): the very bits that
 * pipa__cpu_rmsnorm multiplies by, so the training forward can save them for the backward. */
void pipa__cpu_rmsnorm_rstd(float *rstd, const float *x, int N, int C, float eps);

/* ---- the model's ends ---- */
/* Cross-entropy of logits (N, V) against targets (N), each in [0, V): writes the softmax into
 * probs (N, V) (may be logits: in place) and returns the SUM over rows of -log p[target],
 * accumulated in double in row order. */
double pipa__cpu_cross_entropy(float *probs, const float *logits, const int32_t *targets, int N,
                               int V);
/* Token embedding: x (N, C) = wte[tokens[n]], wte (V, C); tokens must be in [0, V). */
void pipa__cpu_embedding(float *x, const float *wte, const int32_t *tokens, int N, int C);

/* ==== backward ====
 * Every op with weights has two backward parts, the input gradient (..._bwd_x) and the weight
 * gradient (..._bwd_w), so that a schedule can run them at different times (zero-bubble). Weight
 * gradients always accumulate (dw +=); input gradients write, or accumulate where the comment
 * says so. dy is dLoss/d(output of the forward op). */
/* Input gradient of out = x * rstd * w:  dx (N, C) = (or += when accumulate)
 *   rstd * (dy * w - x * rstd^2 * mean(dy * w * x)). */
void pipa__cpu_rmsnorm_bwd_x(float *dx, const float *dy, const float *x, const float *w,
                             const float *rstd, int N, int C, int accumulate);
/* Weight gradient: dw (C) += sum_n dy[n] * x[n] * rstd[n]. The sum over rows is taken in double
 * and added to dw in one rounding. */
void pipa__cpu_rmsnorm_bwd_w(float *dw, const float *dy, const float *x, const float *rstd, int N,
                             int C);

/* Input gradient of out = x @ w^T:
 *   dx (N, IC) = (or += when accumulate) dy (N, OC) @ w (OC, IC). */
void pipa__cpu_linear_bwd_x(float *dx, const float *dy, const float *w, int N, int IC, int OC,
                            int accumulate);
/* Weight gradient: dw (OC, IC) += dy^T (OC, N) @ x (N, IC). */
void pipa__cpu_linear_bwd_w(float *dw, const float *dy, const float *x, int N, int IC, int OC);

/* In place on d (B, T, NH, HS): from dLoss/d(rope output) to dLoss/d(rope input). The rotation
 * is orthogonal, so this is the rotation by the opposite angle. */
void pipa__cpu_rope_bwd(float *d, int B, int T, int NH, int HS, float theta);

/* Causal attention backward from the probabilities att (B, NH, T, T) the forward left (zeros
 * above the diagonal). dout, q, dq: (B, T, NH, HS); k, v, dk, dv: (B, T, NKV, HS); q and k are
 * the rotated ones the forward used. datt: scratch of T*T floats. Outputs written, never
 * aliasing inputs.
 *   dv = att^T dout;  dP = dout v^T;  dS = att * (dP - rowsum(att * dP));
 *   dq = dS k / sqrt(HS);  dk = dS^T q / sqrt(HS)  (per batch and query head)
 * dk and dv of key/value head g: the sum of those of its query heads, in head order. */
void pipa__cpu_attention_bwd(float *dq, float *dk, float *dv, float *datt, const float *dout,
                             const float *att, const float *q, const float *k, const float *v,
                             int B, int T, int NH, int NKV, int HS);

/* Backward of out = silu(gate) * up, element by element: dgate (n), dup (n). dgate may be gate
 * and dup may be up (the training pass writes the gradients over the saved pre-activations). */
void pipa__cpu_swiglu_bwd(float *dgate, float *dup, const float *dout, const float *gate,
                          const float *up, size_t n);

/* dlogits (N, V) = scale * (probs - onehot(targets)); dlogits may be probs (in place). */
void pipa__cpu_cross_entropy_bwd(float *dlogits, const float *probs, const int32_t *targets, int N,
                                 int V, float scale);

/* Weight gradient: dwte[tokens[n]] += dx[n], rows in order n = 0..N-1 (repeated tokens add up in
 * that order). */
void pipa__cpu_embedding_bwd_w(float *dwte, const float *dx, const int32_t *tokens, int N, int C);

/* ==== the ends split by vocabulary (ops_vocab.c): this part holds rows [v0, v0 + V) ==== */
/* x (N, C) = wte[tokens[n] - v0] for tokens in [v0, v0 + V), zero rows for the others. */
void pipa__cpu_vocab_embed(float *x, const float *wte, const int32_t *tokens, int v0, int V, int N,
                           int C);
/* dwte[tokens[n] - v0] += dx[n] for tokens in [v0, v0 + V), rows in order n = 0..N-1. */
void pipa__cpu_vocab_embed_bwd_w(float *dwte, const float *dx, const int32_t *tokens, int v0,
                                 int V, int N, int C);
/* mx (N) = max of each row of x (N, V). */
void pipa__cpu_row_max(float *mx, const float *x, int N, int V);
/* probs (N, V) = exp(logits - mx[n]) (may be logits); stats[2n] = the row's sum of them (taken
 * in double), stats[2n + 1] = logits[n, targets[n] - v0] - mx[n] if the target is here, else 0. */
void pipa__cpu_vocab_xent_exp(float *probs, float *stats, const float *logits, const float *mx,
                              const int32_t *targets, int v0, int N, int V);
/* In place: probs[n] /= stats[2n]. */
void pipa__cpu_vocab_xent_norm(float *probs, const float *stats, int N, int V);
/* dlogits (N, V) = scale * (probs - onehot(targets - v0)), no one for a target not here; dlogits
 * may be probs (in place). */
void pipa__cpu_vocab_xent_bwd(float *dlogits, const float *probs, const int32_t *targets, int v0,
                              int N, int V, float scale);

/* ==== optimizer element loops (optim.c computes the per-step coefficients) ==== */
/* The arrays of one call must not overlap (the definitions use restrict). */
/* p (n) -= lr * g (n) */
void pipa__cpu_sgd(float *p, const float *g, size_t n, float lr);
/* AdamW on p (n) with moments m, v (n), the formula of backend.h's pipa_adamw_coef_t */
void pipa__cpu_adamw(float *p, const float *g, float *m, float *v, size_t n,
                     const pipa_adamw_coef_t *c);

#endif
