/* ops_optim.c: the CPU backend's optimizer element loops (contracts in ops_cpu.h, formulas in
 * optim.h). Element by element in index order, so every rank layout gets the same bits; the
 * per-step coefficients come from optim.c. */
#include "model/ops_cpu.h"

#include <math.h>

void pipa__cpu_sgd(float *p, const float *g, size_t n, float lr)
{
    for (size_t i = 0; i < n; i++) p[i] -= lr * g[i];
}

void pipa__cpu_adamw(float *p, const float *g, float *m, float *v, size_t n,
                     const pipa_adamw_coef_t *c)
{
    for (size_t i = 0; i < n; i++) {
        p[i] *= c->decay;
        m[i] = c->beta1 * m[i] + (1.0f - c->beta1) * g[i];
        v[i] = c->beta2 * v[i] + (1.0f - c->beta2) * g[i] * g[i];
        float denom = sqrtf(v[i]) / c->bc2_sqrt + c->eps;
        p[i] -= c->step * (m[i] / denom);
    }
}
