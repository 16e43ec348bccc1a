/* ops_ref.h: plain-loop references of the ops (tests only), one per kernel of ops_cpu.h, with the
 * same contracts, written to be obviously right rather than fast: no BLAS, sums in double. The
 * tests hold every registered backend to these and to PyTorch's answers. The rmsnorm and linear
 * input-gradient references always write (no accumulate flag); the rmsnorm ones recompute rstd
 * from x and eps. */
#ifndef PIPA_OPS_REF_H
#define PIPA_OPS_REF_H

#include <stddef.h>

/* ---- forward ---- */
void pipa_ref_rmsnorm(float *out, const float *x, const float *w, int N, int C, float eps);
void pipa_ref_linear(float *out, const float *x, const float *w, int N, int IC, int OC);
void pipa_ref_rope(float *x, int B, int T, int NH, int HS, float theta);
/* Attention: q, out (B, T, NH, HS); k, v (B, T, NKV, HS), grouped-query (ops_cpu.h). */
void pipa_ref_attention(float *out, const float *q, const float *k, const float *v, int B, int T,
                        int NH, int NKV, int HS);
void pipa_ref_swiglu(float *out, const float *gate, const float *up, size_t n);

/* ---- backward ---- */
void pipa_ref_rmsnorm_bwd_x(float *dx, const float *dy, const float *x, const float *w, int N,
                            int C, float eps);
void pipa_ref_rmsnorm_bwd_w(float *dw, const float *dy, const float *x, int N, int C, float eps);
void pipa_ref_linear_bwd_x(float *dx, const float *dy, const float *w, int N, int IC, int OC);
void pipa_ref_linear_bwd_w(float *dw, const float *dy, const float *x, int N, int IC, int OC);
void pipa_ref_rope_bwd(float *d, int B, int T, int NH, int HS, float theta);
void pipa_ref_attention_bwd(float *dq, float *dk, float *dv, const float *dout, const float *q,
                            const float *k, const float *v, int B, int T, int NH, int NKV,
                            int HS);
void pipa_ref_swiglu_bwd(float *dgate, float *dup, const float *dout, const float *gate,
                         const float *up, size_t n);

#endif
