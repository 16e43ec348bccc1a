/* ops_bwd.c: the fast backward ops (see ops_cpu.h for the contracts), those of the block and
 * those of the model's ends (embedding, cross-entropy); their forward ops are in ops.c. The row
 * kernels' backward (RMSNorm, softmax rows) is in ops_rows.c, built as vector code.
 *
 * Matrix products go to CBLAS; the rest are plain loops in a fixed order, so the same call on the
 * same data gives the same bits every time. No op allocates: callers own every buffer.
 * Left out: fused kernels, recomputation (attention backward reads the saved probabilities). */
#include "model/ops_cpu.h"

#include <cblas.h>
#include <math.h>
#include <string.h>

#include "base/status.h"

/* ---- linear ------------------------------------------------------------------------------- */

void pipa__cpu_linear_bwd_x(float *dx, const float *dy, const float *w, int N, int IC, int OC,
                            int accumulate)
{
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, N, IC, OC, 1.0f, dy, OC, w, IC,
                accumulate ? 1.0f : 0.0f, dx, IC);
}

void pipa__cpu_linear_bwd_w(float *dw, const float *dy, const float *x, int N, int IC, int OC)
{
    /* dy read transposed in place; beta 1 accumulates. */
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, OC, IC, N, 1.0f, dy, OC, x, IC, 1.0f,
                dw, IC);
}

/* ---- rope --------------------------------------------------------------------------------- */

void pipa__cpu_rope_bwd(float *d, int B, int T, int NH, int HS, float theta)
{
    pipa__cpu_rope_rotate(d, B, T, NH, HS, theta, -1.0f); /* the forward's rotation, transposed */
}

/* ---- attention ---------------------------------------------------------------------------- */

/* One (batch, head): dP and dq by row blocks (keys [0, r1)), dv and dk by key blocks (rows
 * [s0, T)). beta 1 adds to dk and dv (grouped-query attention's later heads of a group). */
static void attention_bwd_head(float *dqh, float *dkh, float *dvh, float *datt, const float *douth,
                               const float *a, const float *qh, const float *kh, const float *vh,
                               int T, int HS, int ldq, int ldk, float scale, float beta)
{
    for (int r0 = 0; r0 < T; r0 += PIPA_CPU_ATT_ROWS) {
        int r1 = r0 + PIPA_CPU_ATT_ROWS < T ? r0 + PIPA_CPU_ATT_ROWS : T;
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, r1 - r0, r1, HS, 1.0f,
                    douth + (size_t)r0 * ldq, ldq, vh, ldk, 0.0f, datt + (size_t)r0 * T, T);
        pipa__cpu_softmax_causal_bwd(datt, a, r0, r1, T);
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, r1 - r0, HS, r1, scale,
                    datt + (size_t)r0 * T, T, kh, ldk, 0.0f, dqh + (size_t)r0 * ldq, ldq);
    }
    for (int s0 = 0; s0 < T; s0 += PIPA_CPU_ATT_ROWS) {
        int s1 = s0 + PIPA_CPU_ATT_ROWS < T ? s0 + PIPA_CPU_ATT_ROWS : T;
        size_t at = (size_t)s0 * T + (size_t)s0;  // rows [s0, T), columns [s0, s1)
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, s1 - s0, HS, T - s0, 1.0f, a + at, T,
                    douth + (size_t)s0 * ldq, ldq, beta, dvh + (size_t)s0 * ldk, ldk);
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, s1 - s0, HS, T - s0, scale,
                    datt + at, T, qh + (size_t)s0 * ldq, ldq, beta, dkh + (size_t)s0 * ldk, ldk);
    }
}

void pipa__cpu_attention_bwd(float *dq, float *dk, float *dv, float *datt, const float *dout,
                             const float *att, const float *q, const float *k, const float *v,
                             int B, int T, int NH, int NKV, int HS)
{
    /* Same strided (T, HS) views with leading dimension C (q) and KC (k, v) as the forward
     * (ops.c). A key/value head's gradient is the sum over the G query heads that read it, in
     * head order: the first writes (beta 0), the others add (beta 1); G 1 writes only. */
    const int C = NH * HS, KC = NKV * HS, G = NH / NKV;
    const float scale = 1.0f / sqrtf((float)HS);
    for (int b = 0; b < B; b++) {
        for (int h = 0; h < NH; h++) {
            size_t off = (size_t)b * T * C + (size_t)h * HS;
            size_t koff = (size_t)b * T * KC + (size_t)(h / G) * HS;
            attention_bwd_head(dq + off, dk + koff, dv + koff, datt, dout + off,
                               att + ((size_t)b * NH + h) * T * T, q + off, k + koff, v + koff, T,
                               HS, C, KC, scale, h % G == 0 ? 0.0f : 1.0f);
        }
    }
}

/* ---- cross-entropy ------------------------------------------------------------------------ */

void pipa__cpu_cross_entropy_bwd(float *dlogits, const float *probs, const int32_t *targets, int N,
                                 int V, float scale)
{
    for (int n = 0; n < N; n++) {
        const float *p = probs + (size_t)n * V;
        float *d = dlogits + (size_t)n * V;
        for (int j = 0; j < V; j++) d[j] = scale * (p[j] - (j == targets[n] ? 1.0f : 0.0f));
    }
}

/* ---- embedding ---------------------------------------------------------------------------- */

void pipa__cpu_embedding_bwd_w(float *dwte, const float *dx, const int32_t *tokens, int N, int C)
{
    for (int n = 0; n < N; n++) {
        float *row = dwte + (size_t)tokens[n] * C;
        const float *g = dx + (size_t)n * C;
        for (int c = 0; c < C; c++) row[c] += g[c];
    }
}
