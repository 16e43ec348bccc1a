/* ops.c: the fast forward ops of a Llama-style block (see ops_cpu.h for the contracts).
 *
 * Matrix products go to CBLAS (OpenBLAS or BLIS, see blas.c); the rest are plain loops in a
 * fixed order, so the same call on the same data gives the same bits every time. No op
 * allocates: callers own every buffer, including attention's score scratch.
 * Also the forward ops of the model's ends (embedding, cross-entropy).
 * Left out: backward passes (ops_bwd.c), other dtypes, fused kernels. */
#include "model/ops_cpu.h"

#include <cblas.h>
#include <math.h>
#include <string.h>

#include "base/status.h"

/* 1 / sqrt(mean(x^2) + eps) of one row x (C). The sum of squares in double costs nothing next to
 * the matmuls and keeps wide rows (C in the thousands) as accurate as narrow ones. One function
 * for the forward and for the value the training forward saves: the backward must multiply by
 * the very bits the forward did. */
static float row_rstd(const float *xr, int C, float eps)
{
    double ss = 0.0;
    for (int c = 0; c < C; c++) ss += (double)xr[c] * xr[c];
    return (float)(1.0 / sqrt(ss / C + eps));
}

void pipa__cpu_rmsnorm(float *out, const float *x, const float *w, int N, int C, float eps)
{
    for (int n = 0; n < N; n++) {
        const float *xr = x + (size_t)n * C;  // (C)
        float *o = out + (size_t)n * C;       // (C)
        float rstd = row_rstd(xr, C, eps);
        for (int c = 0; c < C; c++) o[c] = xr[c] * rstd * w[c];
    }
}

void pipa__cpu_rmsnorm_rstd(float *rstd, const float *x, int N, int C, float eps)
{
    for (int n = 0; n < N; n++) rstd[n] = row_rstd(x + (size_t)n * C, C, eps);
}

void pipa__cpu_linear(float *out, const float *x, const float *w, int N, int IC, int OC)
{
    /* out (N, OC) = x (N, IC) @ w^T, w (OC, IC) read transposed in place by BLAS. */
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, N, OC, IC, 1.0f, x, IC, w, IC, 0.0f,
                out, OC);
}

/* Rotates every (i, i + HS/2) pair of x by +angle (sign 1) or -angle (sign -1: the transpose,
 * which is the backward). cos/sin depend only on (t, i): computed once per pair, in double so
 * positions far down a long sequence keep an accurate angle, then applied to every (b, h).
 * Negating sin is exact, so both directions use the very same cos and sin bits. */
void pipa__cpu_rope_rotate(float *x, int B, int T, int NH, int HS, float theta, float sign)
{
    PIPA_ASSERT(HS % 2 == 0);
    const int half = HS / 2;
    const size_t C = (size_t)NH * HS;
    for (int t = 0; t < T; t++) {
        for (int i = 0; i < half; i++) {
            double freq = pow((double)theta, -2.0 * i / HS);
            float c = (float)cos(t * freq), s = sign * (float)sin(t * freq);
            for (int b = 0; b < B; b++) {
                float *row = x + ((size_t)b * T + t) * C;  // (NH, HS)
                for (int h = 0; h < NH; h++) {
                    float *xh = row + (size_t)h * HS;  // (HS)
                    float x1 = xh[i], x2 = xh[i + half];
                    xh[i] = x1 * c - x2 * s;
                    xh[i + half] = x2 * c + x1 * s;
                }
            }
        }
    }
}

void pipa__cpu_rope(float *x, int B, int T, int NH, int HS, float theta)
{
    pipa__cpu_rope_rotate(x, B, T, NH, HS, theta, 1.0f);
}

/* In place on one row of scores: causal softmax over s <= t, zeros after t (so the following
 * att @ v product can run over the whole square without reading masked scores). */
static void softmax_causal_row(float *a, int t, int T)
{
    float max = a[0];
    for (int s = 1; s <= t; s++) max = a[s] > max ? a[s] : max;
    float sum = 0.0f;
    for (int s = 0; s <= t; s++) a[s] = a[s] - max;
    pipa__cpu_exp(a, a, (size_t)t + 1);
    for (int s = 0; s <= t; s++) sum += a[s];
    float inv = 1.0f / sum;
    for (int s = 0; s <= t; s++) a[s] *= inv;
    for (int s = t + 1; s < T; s++) a[s] = 0.0f;
}

/* One (batch, head): scores, causal softmax and the weighted values, row block by row block.
 * The skipped scores are the softmax's zeros: each row is still written whole (the backward
 * reads the square), and a product over keys [0, r1) adds exactly what the full square's would
 * add (the rest are zeros times values). */
static void attention_head(float *oh, float *a, const float *qh, const float *kh, const float *vh,
                           int T, int HS, int ldq, int ldk, float scale)
{
    for (int r0 = 0; r0 < T; r0 += PIPA_CPU_ATT_ROWS) {
        int r1 = r0 + PIPA_CPU_ATT_ROWS < T ? r0 + PIPA_CPU_ATT_ROWS : T;
        float *ab = a + (size_t)r0 * T;
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, r1 - r0, r1, HS, scale,
                    qh + (size_t)r0 * ldq, ldq, kh, ldk, 0.0f, ab, T);
        for (int t = r0; t < r1; t++) softmax_causal_row(a + (size_t)t * T, t, T);
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, r1 - r0, HS, r1, 1.0f, ab, T, vh,
                    ldk, 0.0f, oh + (size_t)r0 * ldq, ldq);
    }
}

void pipa__cpu_attention(float *out, float *att, const float *q, const float *k, const float *v,
                         int B, int T, int NH, int NKV, int HS)
{
    /* Head h of token t lives at row (b*T + t), column h*HS of a (B*T, C) matrix, so each
     * (b, h) slice is a strided (T, HS) matrix with leading dimension C: BLAS reads it in place,
     * no transposes or copies. Keys and values the same in their (B*T, KC) matrices; query head
     * h reads key/value head h / G (grouped-query attention; G 1: multi-head). */
    const int C = NH * HS, KC = NKV * HS, G = NH / NKV;
    const float scale = 1.0f / sqrtf((float)HS);
    for (int b = 0; b < B; b++) {
        for (int h = 0; h < NH; h++) {
            size_t off = (size_t)b * T * C + (size_t)h * HS;
            size_t koff = (size_t)b * T * KC + (size_t)(h / G) * HS;
            attention_head(out + off, att + ((size_t)b * NH + h) * T * T, q + off, k + koff,
                           v + koff, T, HS, C, KC, scale);
        }
    }
}

void pipa__cpu_add(float *x, const float *y, size_t n)
{
    for (size_t i = 0; i < n; i++) x[i] += y[i];
}

/* ---- the ends' forward ops -------------------------------------------------------------- */

double pipa__cpu_cross_entropy(float *probs, const float *logits, const int32_t *targets, int N,
                               int V)
{
    double loss = 0.0;
    for (int n = 0; n < N; n++) {
        const float *l = logits + (size_t)n * V;
        float *p = probs + (size_t)n * V;
        int32_t tgt = targets[n];
        PIPA_ASSERT(tgt >= 0 && tgt < V);
        double max = l[0];
        for (int j = 1; j < V; j++) max = l[j] > max ? l[j] : max;
        double lt = l[tgt];  // read before p overwrites l (in place)
        double sum = 0.0;
        for (int j = 0; j < V; j++) {
            double e = exp((double)l[j] - max);
            p[j] = (float)e;
            sum += e;
        }
        for (int j = 0; j < V; j++) p[j] = (float)(p[j] / sum);
        loss += log(sum) - (lt - max);
    }
    return loss;
}

void pipa__cpu_embedding(float *x, const float *wte, const int32_t *tokens, int N, int C)
{
    for (int n = 0; n < N; n++)
        memcpy(x + (size_t)n * C, wte + (size_t)tokens[n] * C, (size_t)C * sizeof *x);
}
