/* pipa-bench_layer.c: one layer's forward FLOP rate beside sgemm's rate on the same shapes.
 *
 * FLOPs of one layer forward (N = B*T tokens, HS = C/NH), matrix products only:
 *   q, k, v, o     4 x 2*N*C*C
 *   gate, up       2 x 2*N*C*I
 *   down           1 x 2*N*I*C
 *   attention      2 x 2*B*NH*T*T*HS   (q k^T and att v over the full T x T square: the model's
 *                                      count, pipa-bench_flops.c; the causal half is printed too)
 * The CPU attention executes them in causal row blocks (ops.c: rows [r0, r1) against keys
 * [0, r1)), and so does the sgemm reference here, whose attention rows count those FLOPs.
 * RMSNorm, rotary, softmax, SwiGLU and the residual adds count 0 FLOPs: their time is overhead.
 * The sgemm reference times the backend's linear (linears) and cblas_sgemm with the same strides
 * as the CPU attention (attention), each shape alone, median over reps; its total is the time the
 * layer would take if it were nothing but those products. ratio = layer rate / sgemm rate.
 * Each rep times the layer and every shape once, interleaved, so drifting load hits both alike;
 * --cpu-time times both by the thread's CPU clock, so other processes' share of a loaded core
 * drops out of both sides of the ratio.
 * of_peak: each rate over the core's FMA peak, measured in the same run (pipa-bench_flops.c); the
 * layer's FLOPs are bench_flops_layer_fwd, which the shapes above sum to.
 * Runs on rank 0; other ranks of a launched run wait at a barrier.
 * Left out: backward, several layers (the layer is the unit; layers are independent). */
#include <cblas.h>
/* OpenBLAS's cblas.h pulls in <complex.h>, whose macro I would hide pipa_model_config_t's field I. */
#undef I
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "model/backend.h"
#include "model/blas.h"
#include "bench.h"
#include "model/layer.h"
#include "model/model.h"

typedef struct {
    pipa_model_config_t cfg;
    int B, T, reps, warmup;
    int cpu_time;      /* 1: time by this thread's CPU clock (--cpu-time), else the wall clock */
    double peak;       /* the core's FMA peak, GFLOP/s (bench_fma_peak) */
} layer_opts_t;

/* Seconds by the chosen clock. The thread's CPU time leaves out what other processes take of the
 * core on a loaded machine (BLAS runs on this thread: one thread per rank); cache and memory
 * sharing still count. */
static double now(const layer_opts_t *o)
{
    return o->cpu_time ? bench_thread_seconds() : pipa_now();
}

typedef struct {
    const char *name;
    int m, n, k;       /* out (m, n) = a (m, k) @ b (k, n) */
    int calls;         /* per layer forward */
    double flops;      /* per layer forward, all calls */
    double ms;         /* median time of all calls */
} shape_t;

enum { SH_QKVO, SH_GATEUP, SH_DOWN, SH_SCORES, SH_VALUES, N_SHAPES };
enum { ATT_ROWS = 32 };  /* the CPU attention's causal row blocks (ops_cpu.h PIPA_CPU_ATT_ROWS) */

static void layer_usage(FILE *f)
{
    fprintf(f,
            "usage: pipa-bench layer [OPTIONS]   (alias: gemm)\n"
            "  --hidden C      hidden size (default 512, demo 3)\n"
            "  --heads NH      attention heads (default 8)\n"
            "  --inter I       MLP intermediate size (default 2048)\n"
            "  --batch B       batch (default 8)\n"
            "  --seq T         sequence length (default 128)\n"
            "  --reps N        timed repetitions, median reported (default 11)\n"
            "  --warmup N      untimed repetitions first (default 2)\n"
            "  --threads N     BLAS threads (default PIPA_BLAS_THREADS, else 1)\n"
            "  --cpu-time      time by the thread's CPU clock, not the wall clock (a loaded\n"
            "                  machine; BLAS must run on this thread: --threads 1)\n"
            "  --json FILE     one JSON object per row: row, m, n, k, calls, gflop, ms, gflops\n");
}

static void fill_buf(float *p, size_t n, uint64_t stream)
{
    for (size_t i = 0; i < n; i++) p[i] = 0.1f * pipa_rand_uniform(7, stream, 0, i);
}

static void make_shapes(const layer_opts_t *o, shape_t *sh)
{
    int N = o->B * o->T, C = o->cfg.C, I = o->cfg.I, NH = o->cfg.NH, HS = C / NH;
    sh[SH_QKVO] = (shape_t){"linear q,k,v,o", N, C, C, 4, 0, 0};
    sh[SH_GATEUP] = (shape_t){"linear gate,up", N, I, C, 2, 0, 0};
    sh[SH_DOWN] = (shape_t){"linear down", N, C, I, 1, 0, 0};
    sh[SH_SCORES] = (shape_t){"attn q@k^T", o->T, o->T, HS, o->B * NH, 0, 0};
    sh[SH_VALUES] = (shape_t){"attn att@v", o->T, HS, o->T, o->B * NH, 0, 0};
    for (int i = 0; i < N_SHAPES; i++)
        sh[i].flops = 2.0 * sh[i].m * sh[i].n * sh[i].k * sh[i].calls;
    /* attention as executed: row blocks of ATT_ROWS against the keys up to the block's end */
    double cells = 0;
    for (int r0 = 0; r0 < o->T; r0 += ATT_ROWS)
        cells += (double)(r0 + ATT_ROWS < o->T ? ATT_ROWS : o->T - r0) *
                 (r0 + ATT_ROWS < o->T ? r0 + ATT_ROWS : o->T);
    sh[SH_SCORES].flops = sh[SH_VALUES].flops = 2.0 * cells * HS * sh[SH_SCORES].calls;
}

/* All B*NH products of one attention sgemm, laid out and blocked as the CPU attention does them
 * (ops.c's causal row blocks). */
static void attn_products(int which, float *out, float *att, const float *q, const float *k,
                          const layer_opts_t *o)
{
    int T = o->T, C = o->cfg.C, NH = o->cfg.NH, HS = C / NH;
    float scale = 1.0f / sqrtf((float)HS);
    for (int b = 0; b < o->B; b++) {
        for (int h = 0; h < NH; h++) {
            size_t off = (size_t)b * T * C + (size_t)h * HS;
            float *a = att + ((size_t)b * NH + h) * T * T;
            for (int r0 = 0; r0 < T; r0 += ATT_ROWS) {
                int r1 = r0 + ATT_ROWS < T ? r0 + ATT_ROWS : T;
                float *ab = a + (size_t)r0 * T;
                if (which == SH_SCORES)
                    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, r1 - r0, r1, HS, scale,
                                q + off + (size_t)r0 * C, C, k + off, C, 0.0f, ab, T);
                else
                    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, r1 - r0, HS, r1, 1.0f,
                                ab, T, k + off, C, 0.0f, out + off + (size_t)r0 * C, C);
            }
        }
    }
}

typedef struct {
    float *x, *w, *out, *q, *k, *att;
} gemm_bufs_t;

/* One timed call of shape i: a linear call, or all B*NH attention products. Seconds. */
static double time_shape(int i, const shape_t *s, gemm_bufs_t *g, const layer_opts_t *o)
{
    double t0 = now(o);
    if (i == SH_SCORES || i == SH_VALUES) attn_products(i, g->out, g->att, g->q, g->k, o);
    else pipa_backend()->linear.fwd(g->out, g->x, g->w, s->m, s->k, s->n);
    return now(o) - t0;
}

static int gemm_bufs_init(gemm_bufs_t *g, const layer_opts_t *o)
{
    size_t N = (size_t)o->B * o->T, C = (size_t)o->cfg.C, I = (size_t)o->cfg.I;
    size_t wide = C > I ? C : I;
    size_t att = (size_t)o->B * o->cfg.NH * o->T * o->T;
    size_t n[6] = {N * wide, wide * wide, N * wide, N * C, N * C, att};
    float **p[6] = {&g->x, &g->w, &g->out, &g->q, &g->k, &g->att};
    for (int i = 0; i < 6; i++) {
        *p[i] = malloc(n[i] * sizeof(float));
        if (!*p[i]) return -1;
        fill_buf(*p[i], n[i], (uint64_t)i);
    }
    return 0;
}

static void gemm_bufs_free(gemm_bufs_t *g)
{
    free(g->x), free(g->w), free(g->out), free(g->q), free(g->k), free(g->att);
}

/* One layer with its scratch, and the input every rep starts from. */
typedef struct {
    pipa_layers_t ls;
    pipa_scratch_t s;
    float *x0, *x;  /* (B, T, C) */
    int built, scratched;
} layer_run_t;

static int layer_run_init(layer_run_t *lr, const layer_opts_t *o)
{
    pipa_model_config_t cfg = o->cfg;
    cfg.L = 1;
    memset(lr, 0, sizeof *lr);
    size_t act = (size_t)o->B * o->T * cfg.C;
    lr->built = pipa_layers_build(&lr->ls, &cfg, 0, 1) == PIPA_OK;
    lr->scratched = lr->built && pipa_scratch_init(&lr->s, &cfg, o->B, o->T) == PIPA_OK;
    lr->x0 = malloc(act * sizeof(float));
    lr->x = malloc(act * sizeof(float));
    if (!lr->scratched || !lr->x0 || !lr->x) return -1;
    pipa_model_input(lr->x0, &cfg, 0, o->B, o->T);
    return 0;
}

static void layer_run_free(layer_run_t *lr)
{
    if (lr->scratched) pipa_scratch_free(&lr->s);
    if (lr->built) pipa_layers_free(&lr->ls);
    free(lr->x0), free(lr->x);
}

/* One forward of the layer from the saved input. Seconds. */
static double time_layer_once(layer_run_t *lr, const layer_opts_t *o)
{
    memcpy(lr->x, lr->x0, (size_t)o->B * o->T * o->cfg.C * sizeof(float));
    double t0 = now(o);
    pipa_layers_forward(&lr->ls, lr->x, o->B, o->T, NULL, &lr->s);
    return now(o) - t0;
}

/* Median milliseconds of the layer forward (*layer_ms) and of each shape's calls per layer
 * forward (sh[i].ms). Every rep times the layer and then each shape once, interleaved, so a
 * change in the machine's load touches both sides of the ratio alike. */
static int time_layer_and_gemms(const layer_opts_t *o, shape_t *sh, double *layer_ms)
{
    gemm_bufs_t g;
    layer_run_t lr;
    memset(&g, 0, sizeof g);
    memset(&lr, 0, sizeof lr);
    double *v = malloc(sizeof(double) * (size_t)o->reps * (N_SHAPES + 1));
    int rc = (!v || gemm_bufs_init(&g, o) || layer_run_init(&lr, o)) ? -1 : 0;
    for (int r = 0; rc == 0 && r < o->warmup + o->reps; r++) {
        double *row = v + (size_t)(r < o->warmup ? 0 : r - o->warmup) * (N_SHAPES + 1);
        row[N_SHAPES] = time_layer_once(&lr, o);
        for (int i = 0; i < N_SHAPES; i++) row[i] = time_shape(i, &sh[i], &g, o);
    }
    double *col = v ? malloc(sizeof(double) * (size_t)o->reps) : NULL;
    for (int i = 0; rc == 0 && col && i <= N_SHAPES; i++) {
        for (int r = 0; r < o->reps; r++) col[r] = v[(size_t)r * (N_SHAPES + 1) + i];
        double ms = bench_median(col, o->reps) * 1e3;
        if (i == N_SHAPES) *layer_ms = ms;
        /* a linear sample is one call; an attention sample is all B*NH products */
        else sh[i].ms = (i == SH_SCORES || i == SH_VALUES) ? ms : ms * sh[i].calls;
    }
    if (rc == 0 && !col) rc = -1;
    gemm_bufs_free(&g);
    layer_run_free(&lr);
    free(v), free(col);
    return rc;
}

/* ---- the non-matmul ops, timed alone: where the layer's time beyond sgemm goes ------------ */

enum { OT_RMSNORM, OT_ROPE, OT_ATTENTION, OT_SWIGLU, OT_ADD, N_OTHER };
static const char *other_name[N_OTHER] = {"rmsnorm", "rope", "attention (whole)", "swiglu", "add"};
static const int other_calls[N_OTHER] = {2, 2, 1, 1, 2};

typedef struct {
    float *x, *y, *w, *q, *k, *v, *att, *gate, *up;
} other_bufs_t;

static int other_bufs_init(other_bufs_t *b, const layer_opts_t *o)
{
    size_t N = (size_t)o->B * o->T, C = (size_t)o->cfg.C, I = (size_t)o->cfg.I;
    size_t n[9] = {N * C, N * C, C, N * C, N * C, N * C,
                   (size_t)o->B * o->cfg.NH * o->T * o->T, N * I, N * I};
    float **p[9] = {&b->x, &b->y, &b->w, &b->q, &b->k, &b->v, &b->att, &b->gate, &b->up};
    for (int i = 0; i < 9; i++) {
        *p[i] = malloc(n[i] * sizeof(float));
        if (!*p[i]) return -1;
        fill_buf(*p[i], n[i], 16 + (uint64_t)i);
    }
    return 0;
}

static void other_bufs_free(other_bufs_t *b)
{
    free(b->x), free(b->y), free(b->w), free(b->q), free(b->k), free(b->v), free(b->att);
    free(b->gate), free(b->up);
}

/* One call of non-matmul op i on the layer's shapes. Seconds. */
static double time_other_op(int i, other_bufs_t *b, const layer_opts_t *o)
{
    int N = o->B * o->T, C = o->cfg.C, NH = o->cfg.NH, HS = C / NH;
    const pipa_backend_t *be = pipa_backend();
    double t0 = now(o);
    switch (i) {
    case OT_RMSNORM: be->norm.fwd(b->y, b->x, b->w, N, C, o->cfg.eps); break;
    case OT_ROPE: be->rope.fwd(b->q, o->B, o->T, NH, HS, o->cfg.rope_theta); break;
    case OT_ATTENTION:
        be->attention.fwd(b->y, b->att, b->q, b->k, b->v, o->B, o->T, NH, NH, HS);
        break;
    case OT_SWIGLU: be->elem.swiglu(b->gate, b->gate, b->up, (size_t)N * o->cfg.I); break;
    default: be->elem.add(b->y, b->x, (size_t)N * C); break;
    }
    return now(o) - t0;
}

/* Median milliseconds per layer forward (all its calls) of each non-matmul op into ms[]. */
static int time_others(const layer_opts_t *o, double *ms)
{
    other_bufs_t b;
    memset(&b, 0, sizeof b);
    double *v = malloc(sizeof(double) * (size_t)o->reps);
    int rc = (!v || other_bufs_init(&b, o)) ? -1 : 0;
    for (int i = 0; rc == 0 && i < N_OTHER; i++) {
        for (int r = 0; r < o->warmup; r++) time_other_op(i, &b, o);
        /* rope and swiglu write in place: values drift over reps but stay finite and normal */
        for (int r = 0; r < o->reps; r++) v[r] = time_other_op(i, &b, o);
        ms[i] = bench_median(v, o->reps) * 1e3 * other_calls[i];
    }
    other_bufs_free(&b);
    free(v);
    return rc;
}

static void print_others(const bench_ctx_t *ctx, const shape_t *sh, const double *ms,
                         double layer_ms, double gemm_ms)
{
    double softmax = ms[OT_ATTENTION] - sh[SH_SCORES].ms - sh[SH_VALUES].ms, sum = softmax;
    printf("# non-matmul ops, each timed alone (ms per layer forward, all its calls):\n");
    printf("# %-16s %6s %10s\n", "op", "calls", "ms");
    for (int i = 0; i < N_OTHER; i++) {
        if (i == OT_ATTENTION) {
            printf("%-18s %6d %10.3f\n", "softmax+mask", sh[SH_SCORES].calls, softmax);
            bench_json_row(ctx, "softmax+mask", "ms", softmax, (const char *)NULL);
            continue;
        }
        printf("%-18s %6d %10.3f\n", other_name[i], other_calls[i], ms[i]);
        bench_json_row(ctx, other_name[i], "calls", (double)other_calls[i], "ms", ms[i],
                       (const char *)NULL);
        sum += ms[i];
    }
    printf("# sgemm %.3f + these %.3f = %.3f ms; layer forward %.3f ms\n", gemm_ms, sum,
           gemm_ms + sum, layer_ms);
}

static int parse_layer(bench_ctx_t *ctx, int argc, char **argv, layer_opts_t *o, int *help)
{
    int bad = 0, threads = 0;
    const char *json = NULL;
    o->cfg = (pipa_model_config_t){.L = 1, .C = 512, .NH = 8, .I = 2048, .eps = 1e-5f,
                             .rope_theta = 10000.0f, .seed = 1};
    o->B = 8, o->T = 128, o->reps = 11, o->warmup = 2, o->cpu_time = 0;
    for (int i = 1; i < argc && !bad && !*help; i++) {
        if (bench_opt_common(ctx, argv, argc, &i, &json, help, &bad)) continue;
        if (bench_opt_int(argv, argc, &i, "--hidden", &o->cfg.C, &bad)) continue;
        if (bench_opt_int(argv, argc, &i, "--heads", &o->cfg.NH, &bad)) continue;
        if (bench_opt_int(argv, argc, &i, "--inter", &o->cfg.I, &bad)) continue;
        if (bench_opt_int(argv, argc, &i, "--batch", &o->B, &bad)) continue;
        if (bench_opt_int(argv, argc, &i, "--seq", &o->T, &bad)) continue;
        if (bench_opt_int(argv, argc, &i, "--reps", &o->reps, &bad)) continue;
        if (bench_opt_int(argv, argc, &i, "--warmup", &o->warmup, &bad)) continue;
        if (bench_opt_int(argv, argc, &i, "--threads", &threads, &bad)) continue;
        if (strcmp(argv[i], "--cpu-time") == 0) {
            o->cpu_time = 1;
            continue;
        }
        fprintf(stderr, "pipa-bench layer: unknown option '%s'\n", argv[i]);
        bad = 1;
    }
    if (bad || *help) return bad;
    if (pipa_config_check(&o->cfg) != PIPA_OK || o->B < 1 || o->T < 1 || o->reps < 1) {
        fprintf(stderr, "pipa-bench layer: %s\n",
                o->reps < 1 || o->B < 1 || o->T < 1 ? "batch, seq and reps must be >= 1"
                                                    : pipa_last_error());
        return 1;
    }
    if (o->cpu_time && (threads > 1 || (threads == 0 && pipa_blas_threads() > 1))) {
        fprintf(stderr, "pipa-bench layer: --cpu-time times this thread only: BLAS must run on "
                        "one thread (--threads 1)\n");
        return 1;
    }
    if (threads > 0) pipa_blas_init(threads);
    return bench_json_open(ctx, json) != 0;
}

static void print_row(const bench_ctx_t *ctx, const char *name, const char *dims, int calls,
                      double flops, double ms, const int *mnk, double peak)
{
    double gflops = flops / (ms * 1e-3) * 1e-9;
    printf("%-18s %18s %6d %10.3f %10.3f %10.2f %8.1f%%\n", name, dims, calls, flops * 1e-9, ms,
           gflops, 100 * gflops / peak);
    bench_json_row(ctx, name, "m", (double)mnk[0], "n", (double)mnk[1], "k", (double)mnk[2],
                   "calls", (double)calls, "gflop", flops * 1e-9, "ms", ms, "gflops", gflops,
                   "of_peak", gflops / peak, (const char *)NULL);
}

/* Prints the sgemm rows, the layer, the ratio; returns the sgemm total in ms. */
static double print_results(const bench_ctx_t *ctx, const layer_opts_t *o, const shape_t *sh,
                            double layer_ms)
{
    double flops = 0, gemm_ms = 0;
    printf("# %-16s %18s %6s %10s %10s %10s %9s\n", "op", "m x n x k", "calls", "GFLOP", "ms",
           "GFLOP/s", "of_peak");
    for (int i = 0; i < N_SHAPES; i++) {
        char dims[48];
        snprintf(dims, sizeof dims, "%dx%dx%d", sh[i].m, sh[i].n, sh[i].k);
        print_row(ctx, sh[i].name, dims, sh[i].calls, sh[i].flops, sh[i].ms,
                  (int[]){sh[i].m, sh[i].n, sh[i].k}, o->peak);
        flops += sh[i].flops;
        gemm_ms += sh[i].ms;
    }
    int zero[3] = {0, 0, 0};
    print_row(ctx, "sgemm total", "-", 0, flops, gemm_ms, zero, o->peak);
    print_row(ctx, "layer forward", "-", 1, bench_flops_layer_fwd(&o->cfg, o->B, o->T), layer_ms,
              zero, o->peak);
    double ratio = gemm_ms / layer_ms;
    /* useful: the model's count with the attention's square halved */
    double square = 4.0 * o->B * o->T * (double)o->T * o->cfg.C;
    double causal = bench_flops_layer_fwd(&o->cfg, o->B, o->T) - 0.5 * square;
    printf("# ratio layer/sgemm rate: %.3f  (target >= 0.95, issue 10: %s)\n", ratio,
           ratio >= 0.95 ? "met" : "NOT met");
    printf("# non-matmul ops and call overhead: %.3f ms of %.3f ms\n", layer_ms - gemm_ms,
           layer_ms);
    printf("# with attention counted causal-halved (%.3f GFLOP useful): layer %.2f GFLOP/s\n",
           causal * 1e-9, causal / (layer_ms * 1e-3) * 1e-9);
    bench_json_row(ctx, "ratio", "ratio", ratio, "B", (double)o->B, "T", (double)o->T,
                   "cpu_time", (double)o->cpu_time, (const char *)NULL);
    return gemm_ms;
}

int bench_layer(bench_ctx_t *ctx, int argc, char **argv)
{
    layer_opts_t o;
    int help = 0;
    if (parse_layer(ctx, argc, argv, &o, &help)) return 2;
    if (help) {
        if (ctx->rank == 0) layer_usage(stdout);
        return 0;
    }
    bench_print_header(ctx, "one layer's forward FLOP rate vs sgemm on the same shapes");
    int rc = 0;
    if (ctx->rank == 0) {
        printf("# layer: C %d, NH %d, I %d; microbatch B %d x T %d = %d tokens; median of %d "
               "reps after %d warm-up, %s\n# FLOPs: matrix products only; the attention rows as "
               "executed (causal row blocks of %d), the layer's as the model counts them (full "
               "T x T)\n",
               o.cfg.C, o.cfg.NH, o.cfg.I, o.B, o.T, o.B * o.T, o.reps, o.warmup,
               o.cpu_time ? "thread CPU time (--cpu-time)" : "wall clock", ATT_ROWS);
        const char *isa;
        o.peak = bench_fma_peak(&isa);
        bench_print_peak(o.peak, isa);
        shape_t sh[N_SHAPES];
        double layer_ms = 0, other_ms[N_OTHER];
        make_shapes(&o, sh);
        rc = time_layer_and_gemms(&o, sh, &layer_ms) || time_others(&o, other_ms);
        if (rc) fprintf(stderr, "pipa-bench layer: out of memory\n");
        else print_others(ctx, sh, other_ms, layer_ms, print_results(ctx, &o, sh, layer_ms));
    }
    if (pipa_barrier(&ctx->world) != PIPA_OK) return 1;
    return rc;
}
