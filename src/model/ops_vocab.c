/* ops_vocab.c: the CPU kernels of the model's ends split by vocabulary rows (Megatron's
 * vocabulary-parallel embedding and cross-entropy): a part holds rows [v0, v0 + V) of the
 * embedding and the LM head and works on those only; what crosses parts (the row maxima, the
 * sums, the embedding rows) is combined by the caller (ends_tp.c, through its reduce hook).
 * Contracts: ops_cpu.h. Left out: a fused kernel, other dtypes. */
#include "model/ops_cpu.h"

#include <math.h>
#include <string.h>

/* Whether token t is one of this part's rows. */
static int here(int32_t t, int v0, int V) { return t >= v0 && t - v0 < V; }

void pipa__cpu_vocab_embed(float *x, const float *wte, const int32_t *tokens, int v0, int V, int N,
                           int C)
{
    for (int n = 0; n < N; n++) {
        float *xr = x + (size_t)n * C;
        if (here(tokens[n], v0, V)) memcpy(xr, wte + (size_t)(tokens[n] - v0) * C, (size_t)C * 4);
        else memset(xr, 0, (size_t)C * sizeof *xr);
    }
}

void pipa__cpu_vocab_embed_bwd_w(float *dwte, const float *dx, const int32_t *tokens, int v0,
                                 int V, int N, int C)
{
    for (int n = 0; n < N; n++) {
        if (!here(tokens[n], v0, V)) continue;
        float *g = dwte + (size_t)(tokens[n] - v0) * C;
        const float *d = dx + (size_t)n * C;
        for (int c = 0; c < C; c++) g[c] += d[c];
    }
}

void pipa__cpu_row_max(float *mx, const float *x, int N, int V)
{
    for (int n = 0; n < N; n++) {
        const float *r = x + (size_t)n * V;
        float m = r[0];
        for (int j = 1; j < V; j++) m = r[j] > m ? r[j] : m;
        mx[n] = m;
    }
}

void pipa__cpu_vocab_xent_exp(float *probs, float *stats, const float *logits, const float *mx,
                              const int32_t *targets, int v0, int N, int V)
{
    for (int n = 0; n < N; n++) {
        const float *l = logits + (size_t)n * V;
        float *p = probs + (size_t)n * V;
        const double m = mx[n];
        /* read before p overwrites l (in place), as the whole cross-entropy does */
        stats[2 * n + 1] = here(targets[n], v0, V) ? (float)((double)l[targets[n] - v0] - m) : 0;
        double sum = 0.0;
        for (int j = 0; j < V; j++) {
            double e = exp((double)l[j] - m);
            p[j] = (float)e;
            sum += e;
        }
        stats[2 * n] = (float)sum;
    }
}

void pipa__cpu_vocab_xent_norm(float *probs, const float *stats, int N, int V)
{
    for (int n = 0; n < N; n++) {
        float *p = probs + (size_t)n * V;
        const double sum = stats[2 * n];
        for (int j = 0; j < V; j++) p[j] = (float)(p[j] / sum);
    }
}

void pipa__cpu_vocab_xent_bwd(float *dlogits, const float *probs, const int32_t *targets, int v0,
                              int N, int V, float scale)
{
    for (int n = 0; n < N; n++) {
        const float *p = probs + (size_t)n * V;
        float *d = dlogits + (size_t)n * V;
        const int t = here(targets[n], v0, V) ? targets[n] - v0 : -1;
        for (int j = 0; j < V; j++) d[j] = scale * (p[j] - (j == t ? 1.0f : 0.0f));  // as ops_bwd.c
    }
}
