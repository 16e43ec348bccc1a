/* ops.c: the fast forward ops of a Llama-style block that are matrix products (see ops_cpu.h for
 * the contracts): the linears and the attention, whose causal softmax rows are ops_rows.c's.
 *
 * Matrix products go to CBLAS (OpenBLAS or BLIS, see blas.c); the rest are plain loops in a
 * fixed order, so the same call on the same data gives the same bits every time. No op
 * allocates: callers own every buffer, including attention's score scratch.
 * Also the forward ops of the model's ends (embedding, cross-entropy).
 * Left out: backward passes (ops_bwd.c), the row kernels (RMSNorm, rotary, softmax, adds:
 * ops_rows.c), other dtypes. */
#include "model/ops_cpu.h"

#include <cblas.h>
#include <math.h>
#include <string.h>

#include "base/status.h"

void pipa__cpu_linear(float *out, const float *x, const float *w, int N, int IC, int OC)
{
    /* out (N, OC) = x (N, IC) @ w^T, w (OC, IC) read transposed in place by BLAS. */
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, N, OC, IC, 1.0f, x, IC, w, IC, 0.0f,
                out, OC);
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
        pipa__cpu_softmax_causal(a, r0, r1, T);
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
