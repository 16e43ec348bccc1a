/* ops_bwd_ref.c: plain-loop references of the backward ops (ops_ref.h), for tests only.
 *
 * Independent of ops_bwd.c: no BLAS, everything in double, rstd and attention probabilities
 * recomputed from the inputs rather than taken from a forward. Allocates (attention only). */
#include "model/ops_ref.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/status.h"

static double ref_rstd(const float *xr, int C, float eps)
{
    double ss = 0.0;
    for (int c = 0; c < C; c++) ss += (double)xr[c] * xr[c];
    return 1.0 / sqrt(ss / C + (double)eps);
}

void pipa_ref_rmsnorm_bwd_x(float *dx, const float *dy, const float *x, const float *w, int N,
                            int C, float eps)
{
    for (int n = 0; n < N; n++) {
        const float *xr = x + (size_t)n * C, *g = dy + (size_t)n * C;
        double r = ref_rstd(xr, C, eps), dot = 0.0;
        for (int c = 0; c < C; c++) dot += (double)g[c] * w[c] * xr[c];
        for (int c = 0; c < C; c++)
            dx[(size_t)n * C + c] =
                (float)(r * g[c] * w[c] - (double)xr[c] * r * r * r * dot / C);
    }
}

void pipa_ref_rmsnorm_bwd_w(float *dw, const float *dy, const float *x, int N, int C, float eps)
{
    for (int c = 0; c < C; c++) {
        double acc = 0.0;
        for (int n = 0; n < N; n++)
            acc += (double)dy[(size_t)n * C + c] * x[(size_t)n * C + c] *
                   ref_rstd(x + (size_t)n * C, C, eps);
        dw[c] += (float)acc;
    }
}

void pipa_ref_linear_bwd_x(float *dx, const float *dy, const float *w, int N, int IC, int OC)
{
    for (int n = 0; n < N; n++)
        for (int i = 0; i < IC; i++) {
            double acc = 0.0;
            for (int o = 0; o < OC; o++)
                acc += (double)dy[(size_t)n * OC + o] * w[(size_t)o * IC + i];
            dx[(size_t)n * IC + i] = (float)acc;
        }
}

void pipa_ref_linear_bwd_w(float *dw, const float *dy, const float *x, int N, int IC, int OC)
{
    for (int o = 0; o < OC; o++)
        for (int i = 0; i < IC; i++) {
            double acc = 0.0;
            for (int n = 0; n < N; n++)
                acc += (double)dy[(size_t)n * OC + o] * x[(size_t)n * IC + i];
            dw[(size_t)o * IC + i] += (float)acc;
        }
}

void pipa_ref_rope_bwd(float *d, int B, int T, int NH, int HS, float theta)
{
    PIPA_ASSERT(HS % 2 == 0);
    int half = HS / 2;
    for (int b = 0; b < B; b++)
        for (int t = 0; t < T; t++)
            for (int h = 0; h < NH; h++) {
                float *dh = d + (((size_t)b * T + t) * NH + h) * HS;
                for (int i = 0; i < half; i++) {
                    /* Rotation by -angle: the transpose of the forward's rotation. */
                    double angle = t / pow((double)theta, 2.0 * i / HS);
                    double d1 = dh[i], d2 = dh[i + half];
                    dh[i] = (float)(d1 * cos(angle) + d2 * sin(angle));
                    dh[i + half] = (float)(d2 * cos(angle) - d1 * sin(angle));
                }
            }
}

void pipa_ref_attention_bwd(float *dq, float *dk, float *dv, const float *dout, const float *q,
                            const float *k, const float *v, int B, int T, int NH, int NKV, int HS)
{
    double *p = malloc((size_t)T * T * sizeof *p), *ds = malloc((size_t)T * T * sizeof *ds);
    PIPA_ASSERT(p && ds);
    const double scale = 1.0 / sqrt((double)HS);
    /* A key/value head's gradient sums over the query heads that share it: start from zero. */
    memset(dk, 0, (size_t)B * T * NKV * HS * sizeof *dk);
    memset(dv, 0, (size_t)B * T * NKV * HS * sizeof *dv);
#define AT(a, t_) ((a) + (((size_t)b * T + (t_)) * NH + h) * HS)  // (HS) of token t_, head h
#define KV(a, t_) ((a) + (((size_t)b * T + (t_)) * NKV + h / (NH / NKV)) * HS)  // its kv head
#define SQ(m, t_, s_) ((m)[(size_t)(t_) * T + (s_)])              // (T, T) element
    for (int b = 0; b < B; b++)
        for (int h = 0; h < NH; h++) {
            for (int t = 0; t < T; t++) {  // p: the causal softmax, recomputed
                double max = -INFINITY, sum = 0.0;
                for (int s = 0; s <= t; s++) {
                    double dot = 0.0;
                    for (int i = 0; i < HS; i++) dot += (double)AT(q, t)[i] * KV(k, s)[i];
                    SQ(p, t, s) = dot * scale;
                    max = fmax(max, dot * scale);
                }
                for (int s = 0; s <= t; s++) sum += exp(SQ(p, t, s) - max);
                for (int s = 0; s <= t; s++) SQ(p, t, s) = exp(SQ(p, t, s) - max) / sum;
            }
            for (int t = 0; t < T; t++) {  // ds = p * (dp - rowsum(p * dp)), dp = dout . v
                double rowsum = 0.0;
                for (int s = 0; s <= t; s++) {
                    double dp = 0.0;
                    for (int i = 0; i < HS; i++) dp += (double)AT(dout, t)[i] * KV(v, s)[i];
                    SQ(ds, t, s) = dp;
                    rowsum += SQ(p, t, s) * dp;
                }
                for (int s = 0; s <= t; s++) SQ(ds, t, s) = SQ(p, t, s) * (SQ(ds, t, s) - rowsum);
            }
            for (int t = 0; t < T; t++)
                for (int i = 0; i < HS; i++) {
                    double aq = 0.0, ak = 0.0, av = 0.0;
                    for (int s = 0; s <= t; s++) aq += SQ(ds, t, s) * KV(k, s)[i];
                    for (int s = t; s < T; s++) {  // rows s that see position t
                        ak += SQ(ds, s, t) * AT(q, s)[i];
                        av += SQ(p, s, t) * AT(dout, s)[i];
                    }
                    AT(dq, t)[i] = (float)(aq * scale);
                    KV(dk, t)[i] += (float)(ak * scale);
                    KV(dv, t)[i] += (float)av;
                }
        }
#undef AT
#undef KV
#undef SQ
    free(p);
    free(ds);
}

void pipa_ref_swiglu_bwd(float *dgate, float *dup, const float *dout, const float *gate,
                         const float *up, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        double g = gate[i], u = up[i], d = dout[i];
        double sig = 1.0 / (1.0 + exp(-g));
        dgate[i] = (float)(d * u * (sig + g * sig * (1.0 - sig)));
        dup[i] = (float)(d * g * sig);
    }
}
