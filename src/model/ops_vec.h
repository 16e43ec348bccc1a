/* ops_vec.h: what the CPU's vector kernels (ops_elem.c, ops_rows.c) share: the clone attribute
 * that builds a function for three instruction sets, and exp of one element written to vectorise.
 * Included by those files only. */
#ifndef PIPA_OPS_VEC_H
#define PIPA_OPS_VEC_H

#include <stdint.h>
#include <string.h>

#if defined(PIPA_CLONES)
/* given on the command line (-DPIPA_CLONES= builds one baseline version, to compare bits) */
#elif defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define PIPA_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define PIPA_CLONES /* clang builds the baseline only: the same bits, fewer lanes */
#endif

/* The helpers of a cloned function must be inlined into it: a helper left out of line is built
 * once, for the baseline, and runs there whatever the CPU (gcc's heuristics did so with the row
 * sums once they grew a tail). */
#if defined(__GNUC__)
#define PIPA_VEC_INLINE static inline __attribute__((always_inline))
#else
#define PIPA_VEC_INLINE static inline
#endif

/* 2^k for k in [-126, 127], built in the exponent bits. */
PIPA_VEC_INLINE float pow2i(int32_t k)
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
PIPA_VEC_INLINE float exp_one(float x)
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

#endif
