/* ops_bwd.h: the backward ops of a Llama-style block and of the model's ends, fp32, row-major.
 * Their forward ops are in ops.h.
 *
 * Every op with weights has two backward parts, the input gradient (..._bwd_x) and the weight
 * gradient (..._bwd_w), so that a schedule can run them at different times (zero-bubble). Weight
 * gradients always accumulate (dw +=); input gradients write, or accumulate where the comment
 * says so. Shapes and dimension letters as in ops.h; dy is dLoss/d(output of the forward op).
 * Same call on the same data gives the same bits: no threading-order dependence. Plain-loop
 * references (pipa_ref_*_bwd, sums in double, no BLAS) are for tests only. */
#ifndef PIPA_OPS_BWD_H
#define PIPA_OPS_BWD_H

#include <stddef.h>
#include <stdint.h>

/* Input gradient of out = x * rstd * w:  dx (N, C) = (or += when accumulate)
 *   rstd * (dy * w - x * rstd^2 * mean(dy * w * x)). */
void pipa_op_rmsnorm_bwd_x(float *dx, const float *dy, const float *x, const float *w,
                           const float *rstd, int N, int C, int accumulate);
/* Weight gradient: dw (C) += sum_n dy[n] * x[n] * rstd[n]. The sum over rows is taken in double
 * and added to dw in one rounding. */
void pipa_op_rmsnorm_bwd_w(float *dw, const float *dy, const float *x, const float *rstd, int N,
                           int C);

/* Input gradient of out = x @ w^T:
 *   dx (N, IC) = (or += when accumulate) dy (N, OC) @ w (OC, IC). */
void pipa_op_linear_bwd_x(float *dx, const float *dy, const float *w, int N, int IC, int OC,
                          int accumulate);
/* Weight gradient: dw (OC, IC) += dy^T (OC, N) @ x (N, IC). */
void pipa_op_linear_bwd_w(float *dw, const float *dy, const float *x, int N, int IC, int OC);

/* In place on d (B, T, NH, HS): from dLoss/d(rope output) to dLoss/d(rope input). The rotation
 * is orthogonal, so this is the rotation by the opposite angle. */
void pipa_op_rope_bwd(float *d, int B, int T, int NH, int HS, float theta);

/* Causal attention backward from the probabilities att (B, NH, T, T) the forward left (zeros
 * above the diagonal). dout, q, k, v, dq, dk, dv: (B, T, NH, HS); q and k are the rotated ones
 * the forward used. datt: scratch of T*T floats. Outputs written, never aliasing inputs.
 *   dv = att^T dout;  dP = dout v^T;  dS = att * (dP - rowsum(att * dP));
 *   dq = dS k / sqrt(HS);  dk = dS^T q / sqrt(HS)  (per batch and head) */
void pipa_op_attention_bwd(float *dq, float *dk, float *dv, float *datt, const float *dout,
                           const float *att, const float *q, const float *k, const float *v,
                           int B, int T, int NH, int HS);

/* Backward of out = silu(gate) * up, element by element: dgate (n), dup (n). dgate may be gate
 * and dup may be up (the training pass writes the gradients over the saved pre-activations). */
void pipa_op_swiglu_bwd(float *dgate, float *dup, const float *dout, const float *gate,
                        const float *up, size_t n);

/* dlogits (N, V) = scale * (probs - onehot(targets)); dlogits may be probs (in place). */
void pipa_op_cross_entropy_bwd(float *dlogits, const float *probs, const int32_t *targets, int N,
                               int V, float scale);

/* Weight gradient: dwte[tokens[n]] += dx[n], rows in order n = 0..N-1 (repeated tokens add up in
 * that order). */
void pipa_op_embedding_bwd_w(float *dwte, const float *dx, const int32_t *tokens, int N, int C);

/* Plain-loop references (tests only): same contracts as the fast ops above; the rmsnorm and
 * linear input gradients always write (no accumulate flag). */
void pipa_ref_rmsnorm_bwd_x(float *dx, const float *dy, const float *x, const float *w, int N,
                            int C, float eps);
void pipa_ref_rmsnorm_bwd_w(float *dw, const float *dy, const float *x, int N, int C, float eps);
void pipa_ref_linear_bwd_x(float *dx, const float *dy, const float *w, int N, int IC, int OC);
void pipa_ref_linear_bwd_w(float *dw, const float *dy, const float *x, int N, int IC, int OC);
void pipa_ref_rope_bwd(float *d, int B, int T, int NH, int HS, float theta);
void pipa_ref_attention_bwd(float *dq, float *dk, float *dv, const float *dout, const float *q,
                            const float *k, const float *v, int B, int T, int NH, int HS);
void pipa_ref_swiglu_bwd(float *dgate, float *dup, const float *dout, const float *gate,
                         const float *up, size_t n);

#endif
