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

#include <stdint.h>
#include <string.h>

#if defined(PIPA_CLONES)
/* given on the command line (-DPIPA_CLONES= builds one baseline version, to compare bits) */
#elif defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define PIPA_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define PIPA_CLONES /* clang builds the baseline only: the same bits, fewer lanes */
#endif

/* 2^k for k in [-126, 127], built in the exponent bits. */
static inline float pow2i(int32_t k)
{
    uint32_t bits = (uint32_t)(k + 127) << 23;
    float f;
    memcpy(&f, &bits, sizeof f);
    return f;
}

/* exp(x) for one element, written to vectorise: range reduction x = n ln2 + r with |r| <= ln2/2
 * (n found by the 1.5 * 2^23 rounding trick, which needs no rounding instruction), exp(r) by
 * Cephes' degree-6 polynomial, then times 2^n in two exact halves, so that results down in the
 * subnormals are rounded once, as expf rounds them. */
static inline float exp_one(float x)
{
    const float hi = 88.7228391f, lo = -103.972076f;  // above: inf; below: 0
    float xc = x > hi ? hi : (x < lo ? lo : x);
    if (x != x) xc = 0.0f;  // NaN: keep the integer conversion below defined
    const float magic = 12582912.0f;  // 1.5 * 2^23: adding it rounds to an integer
    float t = xc * 1.44269504088896341f + magic;
    float n = t - magic;               // in [-150, 128]
    float r = xc - n * 0.693359375f;   // ln2 split in two for an exact n * ln2_hi
    r = r - n * -2.12194440e-4f;
    float p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    p = p * (r * r) + r + 1.0f;
    int32_t k = (int32_t)n, k1 = k / 2, k2 = k - k1;  // each in [-75, 64]
    float y = p * pow2i(k1) * pow2i(k2);
    if (x > hi) y = 1.0f / 0.0f;
    if (x < lo) y = 0.0f;
    return x != x ? x : y;
}

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
