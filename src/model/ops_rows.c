/* ops_rows.c: the block's row kernels that are not matrix products, written to become vector
 * code: RMSNorm (its output, its 1/rms and its backward), the rotary embedding and the residual
 * add (contracts in ops_cpu.h). Built like ops_elem.c: vector clones for AVX-512, AVX2 and the
 * x86-64 baseline (PIPA_CLONES), with the Makefile's flags that let gcc vectorise loops with a
 * remainder.
 *
 * Same bits on every CPU: a sum over a row is not left to the compiler's order (it would not
 * reorder one anyway without -ffast-math, and then stays scalar); it runs in LANES fixed partial
 * sums (lane j takes elements j, j + LANES, ...) combined by a fixed tree, the same operations in
 * the same order on every instruction set. In double, like the one sequential sum before it, and
 * no less exact (each partial sum adds fewer terms). */
#include "model/ops_cpu.h"

#include <math.h>

#include "model/ops_vec.h"

#include "base/status.h"

enum { LANES = 16 };

/* The LANES partial sums combined pairwise: a fixed tree, whatever the vector width. */
PIPA_VEC_INLINE double lanes_total(double *acc)
{
    for (int w = LANES / 2; w >= 1; w /= 2)
        for (int j = 0; j < w; j++) acc[j] += acc[j + w];
    return acc[0];
}

/* The last r (0 < r < LANES) elements of a row from a, as a whole block padded with pad: a tail
 * then runs through the block's vector code, each element in the lane it has anyway (short rows,
 * the causal softmax's first ones, are all tail). */
PIPA_VEC_INLINE void tail_block(float *restrict blk, const float *restrict a, int r, float pad)
{
    for (int j = 0; j < LANES; j++) blk[j] = j < r ? a[j] : pad;
}

/* acc[j] += a[j] * b[j], one block of lanes, in double. */
PIPA_VEC_INLINE void dot_block(double *restrict acc, const float *a, const float *b)
{
    for (int j = 0; j < LANES; j++) acc[j] += (double)a[j] * b[j];
}

/* sum of a[c] * b[c] over c < n, in double, in the lanes' order (the tail padded with zeros,
 * which add nothing). */
PIPA_VEC_INLINE double dot_lanes(const float *a, const float *b, int n)
{
    double acc[LANES] = {0};
    int c = 0;
    for (; c + LANES <= n; c += LANES) dot_block(acc, a + c, b + c);
    if (c < n) {
        float ta[LANES], tb[LANES];
        tail_block(ta, a + c, n - c, 0.0f);
        tail_block(tb, b + c, n - c, 0.0f);
        dot_block(acc, ta, tb);
    }
    return lanes_total(acc);
}

/* 1 / sqrt(mean(x^2) + eps) of one row x (C). The sum of squares in double keeps wide rows (C in
 * the thousands) as accurate as narrow ones. One function for the forward and for the value the
 * training forward saves: the backward must multiply by the very bits the forward did. */
PIPA_VEC_INLINE float row_rstd(const float *xr, int C, float eps)
{
    return (float)(1.0 / sqrt(dot_lanes(xr, xr, C) / C + eps));
}

PIPA_CLONES
void pipa__cpu_rmsnorm(float *out, const float *x, const float *w, int N, int C, float eps)
{
    for (int n = 0; n < N; n++) {
        const float *xr = x + (size_t)n * C;  // (C)
        float *restrict o = out + (size_t)n * C;  // (C)
        float rstd = row_rstd(xr, C, eps);
        for (int c = 0; c < C; c++) o[c] = xr[c] * rstd * w[c];
    }
}

PIPA_CLONES
void pipa__cpu_rmsnorm_rstd(float *rstd, const float *x, int N, int C, float eps)
{
    for (int n = 0; n < N; n++) rstd[n] = row_rstd(x + (size_t)n * C, C, eps);
}

PIPA_CLONES
void pipa__cpu_rmsnorm_bwd_x(float *dx, const float *dy, const float *x, const float *w,
                             const float *rstd, int N, int C, int accumulate)
{
    for (int n = 0; n < N; n++) {
        const float *xr = x + (size_t)n * C, *g = dy + (size_t)n * C;  // (C) each
        float *restrict d = dx + (size_t)n * C;                        // (C)
        double r = rstd[n], acc[LANES] = {0};
        int c = 0;
        for (; c + LANES <= C; c += LANES)
            for (int j = 0; j < LANES; j++)
                acc[j] += (double)g[c + j] * w[c + j] * xr[c + j];
        for (int j = 0; c + j < C; j++) acc[j] += (double)g[c + j] * w[c + j] * xr[c + j];
        /* d/dx_c of x_c r w_c, through r's dependence on every x_j: r^3 x_c mean(dy w x). */
        double m = lanes_total(acc) / C * r * r;
        if (accumulate)
            for (c = 0; c < C; c++) d[c] += (float)(r * ((double)g[c] * w[c] - xr[c] * m));
        else
            for (c = 0; c < C; c++) d[c] = (float)(r * ((double)g[c] * w[c] - xr[c] * m));
    }
}

PIPA_CLONES
void pipa__cpu_rmsnorm_bwd_w(float *dw, const float *dy, const float *x, const float *rstd, int N,
                             int C)
{
    /* Columns in blocks of 64, rows in order inside: row-major reads stay sequential, and each
     * dw[c] gets its whole microbatch sum in one rounding (so accumulating g twice gives 2g). */
    enum { CB = 64 };
    for (int c0 = 0; c0 < C; c0 += CB) {
        int cn = C - c0 < CB ? C - c0 : CB;
        double acc[CB] = {0};
        for (int n = 0; n < N; n++) {
            const float *g = dy + (size_t)n * C + c0, *xr = x + (size_t)n * C + c0;
            double r = rstd[n];
            for (int c = 0; c < cn; c++) acc[c] += (double)g[c] * xr[c] * r;
        }
        for (int c = 0; c < cn; c++) dw[c0 + c] += (float)acc[c];
    }
}

PIPA_CLONES
void pipa__cpu_add(float *x, const float *y, size_t n)
{
    for (size_t i = 0; i < n; i++) x[i] += y[i];
}

/* ---- causal softmax ---------------------------------------------------------------------- */

/* The largest of a[0..n), n >= 1, by lanes: a maximum is exact, so any order gives the same
 * value (a +0 and a -0 may swap, which no use below can tell apart). */
PIPA_VEC_INLINE float max_lanes(const float *a, int n)
{
    float m[LANES];
    for (int j = 0; j < LANES; j++) m[j] = a[0];
    int s = 0;
    for (; s + LANES <= n; s += LANES)
        for (int j = 0; j < LANES; j++) m[j] = a[s + j] > m[j] ? a[s + j] : m[j];
    if (s < n) {
        float blk[LANES];
        tail_block(blk, a + s, n - s, a[0]);  // a[0] changes no maximum
        for (int j = 0; j < LANES; j++) m[j] = blk[j] > m[j] ? blk[j] : m[j];
    }
    for (int w = LANES / 2; w >= 1; w /= 2)
        for (int j = 0; j < w; j++) m[j] = m[j + w] > m[j] ? m[j + w] : m[j];
    return m[0];
}

PIPA_CLONES
void pipa__cpu_softmax_causal(float *a, int r0, int r1, int T)
{
    for (int t = r0; t < r1; t++) {
        float *restrict row = a + (size_t)t * T;  // (T)
        const int n = t + 1;
        const float max = max_lanes(row, n);
        /* exp and its sum in one pass, the sum in double lanes (the sequential float sum before
         * was the least exact step of the row) */
        double acc[LANES] = {0};
        int s = 0;
        for (; s + LANES <= n; s += LANES)
            for (int j = 0; j < LANES; j++) {
                float e = exp_one(row[s + j] - max);
                row[s + j] = e;
                acc[j] += e;
            }
        if (s < n) {
            float blk[LANES];
            const int r = n - s;
            tail_block(blk, row + s, r, max);
            for (int j = 0; j < LANES; j++) {
                float e = j < r ? exp_one(blk[j] - max) : 0.0f;  // the pad adds nothing
                blk[j] = e;
                acc[j] += e;
            }
            for (int j = 0; j < r; j++) row[s + j] = blk[j];
        }
        const float inv = (float)(1.0 / lanes_total(acc));
        for (s = 0; s < n; s++) row[s] *= inv;
        for (s = n; s < T; s++) row[s] = 0.0f;
    }
}

PIPA_CLONES
void pipa__cpu_softmax_causal_bwd(float *datt, const float *a, int r0, int r1, int T)
{
    for (int t = r0; t < r1; t++) {
        const float *ar = a + (size_t)t * T;  // (T)
        float *restrict g = datt + (size_t)t * T;  // (T)
        const double dot = dot_lanes(ar, g, t + 1);
        for (int s = 0; s <= t; s++) g[s] = (float)(ar[s] * (g[s] - dot));
        for (int s = t + 1; s < T; s++) g[s] = 0.0f;
    }
}

/* ---- rotary embedding --------------------------------------------------------------------- */

/* cos and sin of (position, i), position-major: row p holds the HS/2 angles of position p.
 * TAB floats each: the thread's table, kept from call to call for the last (HS, theta) and grown
 * as positions are asked for (the forward's q and k and the backward's ask for the same ones),
 * so sin and cos run once per (position, i), not once per call. Beyond TAB, a stack table per
 * block of positions, the very same bits. */
enum { TAB = 4096 };

typedef struct {
    int HS, rows;  /* rows: positions [0, rows) filled */
    float theta;
    float cs[TAB], sn[TAB];
} rope_table_t;

static _Thread_local rope_table_t table;

/* Rows [p0, p1) of the table of (HS, theta) into cs, sn (starting at their row 0). The angle in
 * double, so positions far down a long sequence keep an accurate one. */
static void rope_fill(float *cs, float *sn, int p0, int p1, int HS, float theta)
{
    const int half = HS / 2;
    for (int i = 0; i < half; i++) {
        double freq = pow((double)theta, -2.0 * i / HS);
        for (int p = p0; p < p1; p++) {
            double angle = (double)p * freq;
            cs[(size_t)(p - p0) * half + i] = (float)cos(angle);
            sn[(size_t)(p - p0) * half + i] = (float)sin(angle);
        }
    }
}

/* One head's pairs (i, i + HS/2) rotated by a table row's angles, sin times sign (exact). */
PIPA_VEC_INLINE void rotate_head(float *restrict lo, float *restrict hi, const float *restrict c,
                               const float *restrict s, float sign, int half)
{
    for (int i = 0; i < half; i++) {
        float x1 = lo[i], x2 = hi[i], si = sign * s[i];
        lo[i] = x1 * c[i] - x2 * si;
        hi[i] = x2 * c[i] + x1 * si;
    }
}

/* Tokens [t0, t1) of x (B, T, NH, HS), token t at table row t - t0. */
PIPA_CLONES
static void rotate_tokens(float *x, const float *cs, const float *sn, int t0, int t1, int B,
                          int T, int NH, int HS, float sign)
{
    const int half = HS / 2;
    const size_t C = (size_t)NH * HS;
    for (int b = 0; b < B; b++)
        for (int t = t0; t < t1; t++) {
            float *row = x + ((size_t)b * T + t) * C;  // (NH, HS)
            const float *c = cs + (size_t)(t - t0) * half, *s = sn + (size_t)(t - t0) * half;
            for (int h = 0; h < NH; h++)
                rotate_head(row + (size_t)h * HS, row + (size_t)h * HS + half, c, s, sign, half);
        }
}

/* Rotates every (i, i + HS/2) pair of x (B, T, NH, HS), token t at position pos0 + t, by +angle
 * (sign 1) or -angle (sign -1: the transpose, which is the backward), each head one vector loop.
 * Negating sin is exact, so both directions use the very same bits. */
static void rope_positions(float *x, int B, int T, int NH, int HS, float theta, float sign,
                           int pos0)
{
    PIPA_ASSERT(HS % 2 == 0 && HS / 2 <= TAB && pos0 >= 0);
    const int half = HS / 2, end = pos0 + T;
    if ((size_t)end * half <= TAB) {
        if (table.HS != HS || table.theta != theta) table.rows = 0;
        if (table.rows < end) {
            rope_fill(table.cs + (size_t)table.rows * half, table.sn + (size_t)table.rows * half,
                      table.rows, end, HS, theta);
            table.HS = HS, table.theta = theta, table.rows = end;
        }
        rotate_tokens(x, table.cs + (size_t)pos0 * half, table.sn + (size_t)pos0 * half, 0, T,
                      B, T, NH, HS, sign);
        return;
    }
    float cs[TAB], sn[TAB];
    for (int t0 = 0, per = TAB / half; t0 < T; t0 += per) {
        int t1 = t0 + per < T ? t0 + per : T;
        rope_fill(cs, sn, pos0 + t0, pos0 + t1, HS, theta);
        rotate_tokens(x, cs, sn, t0, t1, B, T, NH, HS, sign);
    }
}

void pipa__cpu_rope_rotate(float *x, int B, int T, int NH, int HS, float theta, float sign)
{
    rope_positions(x, B, T, NH, HS, theta, sign, 0);
}

void pipa__cpu_rope(float *x, int B, int T, int NH, int HS, float theta)
{
    pipa__cpu_rope_rotate(x, B, T, NH, HS, theta, 1.0f);
}
