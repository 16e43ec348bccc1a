/* ops_optim.c: the CPU backend's optimizer element loops (contracts in ops_cpu.h, formulas in
 * optim.h). Element by element, so every rank layout gets the same bits; the per-step
 * coefficients come from optim.c.
 *
 * The step is memory-bound (pipa-bench optim), so the loops run four elements at a time with
 * SSE2 (every x86-64 has it) and the rest one at a time. Each lane does the very operations of
 * the one-element code, in the same order, each rounded once: IEEE-754 makes _mm_mul_ps,
 * _mm_add_ps, _mm_sub_ps, _mm_div_ps and _mm_sqrt_ps round exactly as *, +, -, / and sqrtf do on
 * one float (the same SSE unit and rounding mode), so the vector and scalar paths give the same
 * bits. No FMA, no reassociation, no reciprocal approximations. Left to the compiler, the loop
 * stayed scalar: at -O2 gcc vectorises only when no remainder loop is needed, and sqrtf's errno
 * check blocks it anyway. The arrays never overlap (ops_cpu.h), hence restrict. */
#include "model/ops_cpu.h"

#include <math.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

void pipa__cpu_sgd(float *restrict p, const float *restrict g, size_t n, float lr)
{
    size_t i = 0;
#if defined(__SSE2__)
    const __m128 vlr = _mm_set1_ps(lr);
    for (; i + 4 <= n; i += 4)
        _mm_storeu_ps(p + i, _mm_sub_ps(_mm_loadu_ps(p + i), _mm_mul_ps(vlr, _mm_loadu_ps(g + i))));
#endif
    for (; i < n; i++) p[i] -= lr * g[i];
}

/* The coefficients in registers: loaded once, not once per element (through c, they could alias
 * the arrays as far as the compiler knows). a1 = 1 - beta1 and a2 = 1 - beta2 in float, as the
 * one-element formula computes them. */
typedef struct {
    float b1, a1, b2, a2, eps, step, bc2, decay;
} adamw_k_t;

#if defined(__SSE2__)
/* Elements [0, n rounded down to 4); returns that count. Lane by lane the scalar loop below. */
static size_t adamw_sse2(float *restrict p, const float *restrict g, float *restrict m,
                         float *restrict v, size_t n, const adamw_k_t *k)
{
    const __m128 b1 = _mm_set1_ps(k->b1), a1 = _mm_set1_ps(k->a1), b2 = _mm_set1_ps(k->b2),
                 a2 = _mm_set1_ps(k->a2), eps = _mm_set1_ps(k->eps), step = _mm_set1_ps(k->step),
                 bc2 = _mm_set1_ps(k->bc2), decay = _mm_set1_ps(k->decay);
    size_t i = 0;
    for (; i + 4 <= n; i += 4) {
        __m128 gi = _mm_loadu_ps(g + i);
        __m128 pi = _mm_mul_ps(_mm_loadu_ps(p + i), decay);
        __m128 mi = _mm_add_ps(_mm_mul_ps(b1, _mm_loadu_ps(m + i)), _mm_mul_ps(a1, gi));
        __m128 vi = _mm_add_ps(_mm_mul_ps(b2, _mm_loadu_ps(v + i)),
                               _mm_mul_ps(_mm_mul_ps(a2, gi), gi));
        __m128 denom = _mm_add_ps(_mm_div_ps(_mm_sqrt_ps(vi), bc2), eps);
        pi = _mm_sub_ps(pi, _mm_mul_ps(step, _mm_div_ps(mi, denom)));
        _mm_storeu_ps(m + i, mi);
        _mm_storeu_ps(v + i, vi);
        _mm_storeu_ps(p + i, pi);
    }
    return i;
}
#endif

void pipa__cpu_adamw(float *restrict p, const float *restrict g, float *restrict m,
                     float *restrict v, size_t n, const pipa_adamw_coef_t *c)
{
    const adamw_k_t k = {.b1 = c->beta1, .a1 = 1.0f - c->beta1, .b2 = c->beta2,
                         .a2 = 1.0f - c->beta2, .eps = c->eps, .step = c->step,
                         .bc2 = c->bc2_sqrt, .decay = c->decay};
    size_t i = 0;
#if defined(__SSE2__)
    i = adamw_sse2(p, g, m, v, n, &k);
#endif
    for (; i < n; i++) {
        float pi = p[i] * k.decay;
        float mi = k.b1 * m[i] + k.a1 * g[i];
        float vi = k.b2 * v[i] + k.a2 * g[i] * g[i];
        float denom = sqrtf(vi) / k.bc2 + k.eps;
        m[i] = mi;
        v[i] = vi;
        p[i] = pi - k.step * (mi / denom);
    }
}
