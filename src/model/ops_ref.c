/* ops_ref.c: plain-loop references of the forward ops (ops_ref.h), for tests only.
 *
 * Written to be obviously right rather than fast, and independent of ops.c: no BLAS, sums and
 * transcendentals in double, the textbook formula of each op. Tests compare both these and the
 * fast ops against PyTorch dumps, and the fast ops against these on shapes the dumps lack. */
#include "model/ops_ref.h"

#include <math.h>

#include "base/status.h"

void pipa_ref_rmsnorm(float *out, const float *x, const float *w, int N, int C, float eps)
{
    for (int n = 0; n < N; n++) {
        double ss = 0.0;
        for (int c = 0; c < C; c++) ss += (double)x[(size_t)n * C + c] * x[(size_t)n * C + c];
        double rms = sqrt(ss / C + (double)eps);
        for (int c = 0; c < C; c++)
            out[(size_t)n * C + c] = (float)((double)x[(size_t)n * C + c] / rms * w[c]);
    }
}

void pipa_ref_linear(float *out, const float *x, const float *w, int N, int IC, int OC)
{
    for (int n = 0; n < N; n++) {
        for (int o = 0; o < OC; o++) {
            double acc = 0.0;
            for (int i = 0; i < IC; i++)
                acc += (double)x[(size_t)n * IC + i] * w[(size_t)o * IC + i];
            out[(size_t)n * OC + o] = (float)acc;
        }
    }
}

void pipa_ref_rope(float *x, int B, int T, int NH, int HS, float theta)
{
    PIPA_ASSERT(HS % 2 == 0);
    int half = HS / 2;
    for (int b = 0; b < B; b++)
        for (int t = 0; t < T; t++)
            for (int h = 0; h < NH; h++) {
                float *xh = x + (((size_t)b * T + t) * NH + h) * HS;  // (HS)
                for (int i = 0; i < half; i++) {
                    /* inv_freq_i = 1 / theta^(2i/HS), angle = t * inv_freq_i. */
                    double angle = t / pow((double)theta, 2.0 * i / HS);
                    double x1 = xh[i], x2 = xh[i + half];
                    xh[i] = (float)(x1 * cos(angle) - x2 * sin(angle));
                    xh[i + half] = (float)(x2 * cos(angle) + x1 * sin(angle));
                }
            }
}

/* q[b,t,h] . k[b,s,g] / sqrt(HS), in double; g = h / (NH / NKV), the key/value head of h. */
static double ref_score(const float *q, const float *k, int b, int t, int s, int h, int T, int NH,
                        int NKV, int HS)
{
    const float *qv = q + (((size_t)b * T + t) * NH + h) * HS;
    const float *kv = k + (((size_t)b * T + s) * NKV + h / (NH / NKV)) * HS;
    double dot = 0.0;
    for (int i = 0; i < HS; i++) dot += (double)qv[i] * kv[i];
    return dot / sqrt((double)HS);
}

void pipa_ref_attention(float *out, const float *q, const float *k, const float *v, int B, int T,
                        int NH, int NKV, int HS)
{
    /* No scratch in the signature, so each score is recomputed in each of three passes (max,
     * normaliser, weighted sum): slow, allocation-free, and obviously the formula of ops_cpu.h. */
    for (int b = 0; b < B; b++)
        for (int t = 0; t < T; t++)
            for (int h = 0; h < NH; h++) {
                double max = -INFINITY, sum = 0.0;
                for (int s = 0; s <= t; s++)
                    max = fmax(max, ref_score(q, k, b, t, s, h, T, NH, NKV, HS));
                for (int s = 0; s <= t; s++)
                    sum += exp(ref_score(q, k, b, t, s, h, T, NH, NKV, HS) - max);
                float *o = out + (((size_t)b * T + t) * NH + h) * HS;  // (HS)
                const int g = h / (NH / NKV);
                for (int i = 0; i < HS; i++) {
                    double acc = 0.0;
                    for (int s = 0; s <= t; s++) {
                        double p = exp(ref_score(q, k, b, t, s, h, T, NH, NKV, HS) - max) / sum;
                        acc += p * v[(((size_t)b * T + s) * NKV + g) * HS + i];
                    }
                    o[i] = (float)acc;
                }
            }
}

void pipa_ref_swiglu(float *out, const float *gate, const float *up, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        double g = gate[i];
        out[i] = (float)(g / (1.0 + exp(-g)) * up[i]);
    }
}
