/* ops.h: the forward ops of a Llama-style block and of the model's ends, fp32, row-major.
 *
 * Dimension letters: B batch, T sequence, C hidden, NH heads, HS head size (C / NH),
 * I intermediate (MLP). N is any row count (B*T). Each op has a fast version (matrix products
 * through CBLAS) and a plain-loop reference (pipa_ref_*) used only by tests. Ops know nothing of
 * ranks or pipelines. Outputs never alias inputs unless the comment says "in place". */
#ifndef PIPA_OPS_H
#define PIPA_OPS_H

#include <stddef.h>
#include <stdint.h>

/* Sets the BLAS library's thread count (1 per rank by default) and reports its name. */
void pipa_blas_init(int threads);
const char *pipa_blas_name(void);
int pipa_blas_threads(void);

/* out (N, C) = x / sqrt(mean(x^2) + eps) * w;  w (C) */
void pipa_op_rmsnorm(float *out, const float *x, const float *w, int N, int C, float eps);
/* out (N, OC) = x (N, IC) @ w^T;  w (OC, IC), PyTorch's nn.Linear layout, no bias */
void pipa_op_linear(float *out, const float *x, const float *w, int N, int IC, int OC);
/* In place on x (B, T, NH, HS): rotary embedding with the "rotate half" pairing (element i
 * with i + HS/2, as in Hugging Face Llama), position t = 0..T-1, frequency theta^(-2i/HS). */
void pipa_op_rope(float *x, int B, int T, int NH, int HS, float theta);
/* The rotation itself: sign 1 is pipa_op_rope, sign -1 its transpose (the backward). */
void pipa__rope_rotate(float *x, int B, int T, int NH, int HS, float theta, float sign);
/* Causal self-attention. q, k, v, out: (B, T, NH, HS). att: scratch of B*NH*T*T floats.
 * out[b,t,h] = sum_{s<=t} softmax_s(q[b,t,h].k[b,s,h] / sqrt(HS)) v[b,s,h] */
void pipa_op_attention(float *out, float *att, const float *q, const float *k, const float *v,
                       int B, int T, int NH, int HS);
/* out (n) = silu(gate) * up, silu(g) = g / (1 + exp(-g)). Element by element: out may be gate
 * or up (the model writes it over gate). */
void pipa_op_swiglu(float *out, const float *gate, const float *up, size_t n);
/* In place: x (n) += y (n) */
void pipa_op_add(float *x, const float *y, size_t n);
/* rstd (N) = 1 / sqrt(mean(x^2) + eps) of each row of x (N, C): the very bits that
 * pipa_op_rmsnorm multiplies by, so the training forward can save them for the backward. */
void pipa_op_rmsnorm_rstd(float *rstd, const float *x, int N, int C, float eps);

/* ---- the model's ends ---- */
/* Cross-entropy of logits (N, V) against targets (N), each in [0, V): writes the softmax into
 * probs (N, V) (may be logits: in place) and returns the SUM over rows of -log p[target],
 * accumulated in double in row order. */
double pipa_op_cross_entropy(float *probs, const float *logits, const int32_t *targets, int N,
                             int V);
/* Token embedding: x (N, C) = wte[tokens[n]], wte (V, C); tokens must be in [0, V). */
void pipa_op_embedding(float *x, const float *wte, const int32_t *tokens, int N, int C);

/* Plain-loop references of the same ops (tests only). */
void pipa_ref_rmsnorm(float *out, const float *x, const float *w, int N, int C, float eps);
void pipa_ref_linear(float *out, const float *x, const float *w, int N, int IC, int OC);
void pipa_ref_rope(float *x, int B, int T, int NH, int HS, float theta);
void pipa_ref_attention(float *out, const float *q, const float *k, const float *v, int B, int T,
                        int NH, int HS);
void pipa_ref_swiglu(float *out, const float *gate, const float *up, size_t n);

#endif
