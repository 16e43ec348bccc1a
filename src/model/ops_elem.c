/* ops_elem.c: the element-wise kernels that need exp: exp itself (for the causal softmax), SwiGLU
 * forward and backward. expf from libm is a scalar call per element and was SwiGLU's whole cost;
 * here exp is a short polynomial in plain C that the compiler turns into vector code, built for
 * three instruction sets (AVX-512, AVX2, the x86-64 baseline) and picked by the CPU at load time.
 *
 * Same bits on every CPU: every clone runs the same operations in the same order per element,
 * and -std=c11 keeps gcc from fusing a*b+c into FMA (-ffp-contract=off in ISO mode), so the
 * vector width changes speed only. Accuracy: within 2 ulp of the exact exp for normal results,
 * subnormal ones rounded once, overflow to inf and NaN as expf (tests/test_ops_elem.c sweeps it
 * against double-precision exp). */
#include "model/ops_cpu.h"
#include "model/ops_vec.h"

PIPA_CLONES
void pipa__cpu_exp(float *y, const float *x, size_t n)
{
    for (size_t i = 0; i < n; i++) y[i] = exp_one(x[i]);
}

PIPA_CLONES
void pipa__cpu_swiglu(float *out, const float *gate, const float *up, size_t n)
{
    /* Element by element, so out may be gate or up (see ops_cpu.h). */
    for (size_t i = 0; i < n; i++) {
        float g = gate[i];
        out[i] = g / (1.0f + exp_one(-g)) * up[i];
    }
}

PIPA_CLONES
void pipa__cpu_swiglu_bwd(float *dgate, float *dup, const float *dout, const float *gate,
                          const float *up, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        /* Read everything first: dgate may be gate, dup may be up. */
        float g = gate[i], u = up[i], d = dout[i];
        float sig = 1.0f / (1.0f + exp_one(-g));  // 0 (not NaN) in the far negative tail
        dgate[i] = d * u * sig * (1.0f + g * (1.0f - sig));
        dup[i] = d * g * sig;
    }
}
