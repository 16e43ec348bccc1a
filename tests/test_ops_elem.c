/* test_ops_elem.c: every registered backend's exp and SwiGLU (the CPU's: model/ops_elem.c,
 * vectorised) against double-precision libm: exp within 2 ulp over a sweep of every 211th float in [-110, 95] and at the edges
 * (overflow, the subnormal range, infinities, NaN, signed zeros); SwiGLU forward and backward
 * within a few ulp of the formulas in double, also when outputs overwrite inputs. */
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "check.h"
#include "model/backend.h"

static float from_bits(uint32_t u) { float f; memcpy(&f, &u, sizeof f); return f; }
static uint32_t to_bits(float f) { uint32_t u; memcpy(&u, &f, sizeof u); return u; }

/* Error of y against the exact e in units of the float spacing at e (2^-149 in the subnormals). */
static double ulps(float y, double e)
{
    int ex;
    frexp(e, &ex);
    double ulp = ldexp(1.0, (ex - 24 < -149) ? -149 : ex - 24);
    return fabs((double)y - e) / ulp;
}

static const pipa_backend_t *be;  /* the backend under test */

enum { N = 4096 };

static void check_exp_sweep(void)
{
    static float x[N], y[N];
    double worst = 0, worst_sub = 0;
    float worst_x = 0;
    size_t count = 0, n = 0;
    /* Negative floats from -110 up to -0, then positive ones to 95, every 61st bit pattern. */
    uint32_t neg_hi = to_bits(-110.0f), pos_hi = to_bits(95.0f);
    for (int64_t i = -(int64_t)neg_hi; i <= (int64_t)pos_hi; i += 211) {
        x[n++] = i < 0 ? from_bits((uint32_t)(-i)) : from_bits((uint32_t)i);
        if (n < N && i + 211 <= (int64_t)pos_hi) continue;
        be->elem.exp(y, x, n);
        for (size_t j = 0; j < n; j++) {
            double e = exp((double)x[j]);
            if (e > FLT_MAX * (1.0 + 0x1p-25)) {  // rounds to inf
                CHECKF(isinf(y[j]) && y[j] > 0, "exp(%a) = %a, not inf", (double)x[j], (double)y[j]);
                continue;
            }
            double u = ulps(y[j], e);
            if (e < FLT_MIN) worst_sub = u > worst_sub ? u : worst_sub;
            else if (u > worst) { worst = u; worst_x = x[j]; }
        }
        count += n;
        n = 0;
    }
    printf("exp: %zu values, worst %.3f ulp (at %a), subnormal results worst %.3f ulp\n", count,
           worst, (double)worst_x, worst_sub);
    CHECKF(count > 10000000, "swept only %zu values", count);
    CHECKF(worst <= 2.0, "exp is %.3f ulp off at %a", worst, (double)worst_x);
    CHECKF(worst_sub <= 1.0, "subnormal results %.3f ulp off", worst_sub);
}

static void check_exp_edges(void)
{
    float x[] = {0.0f, -0.0f, 1.0f, -1.0f, INFINITY, -INFINITY, NAN, FLT_MAX, -FLT_MAX,
                 88.72283f, 88.7229f, -87.33654f, -103.9f, -104.0f, -150.0f, 1e-30f};
    enum { K = sizeof x / sizeof *x };
    float y[K];
    be->elem.exp(y, x, K);
    CHECK(y[0] == 1.0f && y[1] == 1.0f);
    for (int i = 2; i <= 3; i++) CHECK(ulps(y[i], exp((double)x[i])) <= 2);
    CHECK(isinf(y[4]) && y[4] > 0);
    CHECK(y[5] == 0.0f);
    CHECK(isnan(y[6]));
    CHECK(isinf(y[7]) && y[8] == 0.0f);
    CHECKF(isfinite(y[9]) && ulps(y[9], exp((double)x[9])) <= 2, "exp(%a) = %a", (double)x[9],
           (double)y[9]);
    CHECK(isinf(y[10]));
    CHECKF(ulps(y[11], exp((double)x[11])) <= 2, "exp(%a) = %a", (double)x[11], (double)y[11]);
    CHECKF(y[12] > 0 && ulps(y[12], exp((double)x[12])) <= 1, "exp(%a) = %a", (double)x[12],
           (double)y[12]);
    CHECK(y[13] >= 0 && y[13] <= 0x1p-149f && y[14] == 0.0f);
    CHECK(y[15] == 1.0f);
    /* In place gives the same bits. */
    float z[K];
    memcpy(z, x, sizeof z);
    be->elem.exp(z, z, K);
    CHECK(memcmp(z, y, sizeof z) == 0 || isnan(z[6]));
}

static void check_swiglu(void)
{
    enum { M = 2001 };
    static float g[M], u[M], d[M], out[M], dg[M], du[M], g2[M], u2[M];
    for (int i = 0; i < M; i++) {
        g[i] = -100.0f + 0.1f * (float)i;  // the far tails included
        u[i] = 0.5f + 0.001f * (float)i;
        d[i] = 1.0f - 0.0007f * (float)i;
    }
    be->elem.swiglu(out, g, u, M);
    be->elem.swiglu_bwd(dg, du, d, g, u, M);
    double worst = 0, worst_b = 0;
    for (int i = 0; i < M; i++) {
        double G = g[i], U = u[i], D = d[i], sig = 1.0 / (1.0 + exp(-G));
        double f = G * sig * U, dgate = D * U * sig * (1.0 + G * (1.0 - sig)), dup = D * G * sig;
        double e = fabs(out[i] - f) / (fabs(f) + 1e-30);
        worst = e > worst ? e : worst;
        double eb = fmax(fabs(dg[i] - dgate) / (fabs(dgate) + 1e-6),
                         fabs(du[i] - dup) / (fabs(dup) + 1e-6));
        worst_b = eb > worst_b ? eb : worst_b;
    }
    printf("swiglu: worst relative error forward %.3g, backward %.3g\n", worst, worst_b);
    CHECKF(worst < 1e-6, "swiglu forward off by %.3g", worst);
    /* The backward's float formula itself cancels where dgate crosses 0 (g near -1.28): a few
     * float roundings of d * u, relative to that scale, whatever exp's accuracy. */
    CHECKF(worst_b < 1e-5, "swiglu backward off by %.3g", worst_b);
    /* Outputs over inputs (the model writes silu(gate) * up over gate). */
    memcpy(g2, g, sizeof g);
    memcpy(u2, u, sizeof u);
    be->elem.swiglu(g2, g2, u2, M);
    CHECK(memcmp(g2, out, sizeof out) == 0);
    memcpy(g2, g, sizeof g);
    be->elem.swiglu_bwd(g2, u2, d, g2, u2, M);
    CHECK(memcmp(g2, dg, sizeof dg) == 0 && memcmp(u2, du, sizeof du) == 0);
}

int main(void)
{
    for (int i = 0; i < pipa_backend_count(); i++) {
        be = pipa_backend_at(i);
        printf("backend %s\n", be->name);
        check_exp_sweep();
        check_exp_edges();
        check_swiglu();
    }
    return check_done("ops_elem");
}
