/* pipa-bench_flops.c: model FLOP utilisation: the FLOP counts of the model's work (one formula,
 * here) and the core's FMA peak, measured by a small kernel in the same run. See bench.h.
 *
 * Peak: independent chains of fused multiply-adds (acc = acc * a + b) in the widest vectors the
 * CPU runs (AVX-512, else AVX2 + FMA, chosen at run time by __builtin_cpu_supports and compiled
 * with target attributes, so the build needs no -march flag); 12 chains cover the FMA latency (4
 * cycles) times the FMA ports (2) with room to spare. Each FMA is 2 FLOPs per lane. The best of
 * several samples is the peak, each timed in this thread's CPU time, so that a sample the
 * scheduler interrupts on a shared machine still measures the core. Without either
 * instruction set (or off x86) a plain multiply-add loop stands in, and the name says so.
 * Left out: more than one core (the peak is per core; a run of P ranks has P cores' worth). */
#include <string.h>
#include <time.h>

#include "bench.h"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>
#define HAVE_X86_KERNELS 1
#endif

#define CHAINS 12

/* The 12 chains as 12 named variables, written out: an array of accumulators is kept in memory
 * by gcc -O2 (the inner loop is not unrolled), and the stores would be the bottleneck. */
#define DECL12(T, init) T c0 = init(0), c1 = init(1), c2 = init(2), c3 = init(3), c4 = init(4), \
    c5 = init(5), c6 = init(6), c7 = init(7), c8 = init(8), c9 = init(9), c10 = init(10), \
    c11 = init(11)
#define STEP12(f, a, b) c0 = f(c0, a, b), c1 = f(c1, a, b), c2 = f(c2, a, b), \
    c3 = f(c3, a, b), c4 = f(c4, a, b), c5 = f(c5, a, b), c6 = f(c6, a, b), c7 = f(c7, a, b), \
    c8 = f(c8, a, b), c9 = f(c9, a, b), c10 = f(c10, a, b), c11 = f(c11, a, b)
#define SUM12(add) add(add(add(add(c0, c1), add(c2, c3)), add(add(c4, c5), add(c6, c7))), \
    add(add(c8, c9), add(c10, c11)))

static volatile float sink;  // keeps the loops' results alive

#ifdef HAVE_X86_KERNELS
#define SET512(k) _mm512_set1_ps((float)(k))
__attribute__((target("avx512f"))) static double fma_avx512(long iters)
{
    __m512 a = _mm512_set1_ps(0.999f), b = _mm512_set1_ps(1e-3f);
    DECL12(__m512, SET512);
    for (long i = 0; i < iters; i++) STEP12(_mm512_fmadd_ps, a, b);
    sink = _mm512_reduce_add_ps(SUM12(_mm512_add_ps));
    return 2.0 * 16 * CHAINS * (double)iters;
}

#define SET256(k) _mm256_set1_ps((float)(k))
__attribute__((target("avx2,fma"))) static double fma_avx2(long iters)
{
    __m256 a = _mm256_set1_ps(0.999f), b = _mm256_set1_ps(1e-3f);
    DECL12(__m256, SET256);
    for (long i = 0; i < iters; i++) STEP12(_mm256_fmadd_ps, a, b);
    float out[8];
    _mm256_storeu_ps(out, SUM12(_mm256_add_ps));
    sink = out[0] + out[7];
    return 2.0 * 8 * CHAINS * (double)iters;
}
#endif

/* Whatever the compiler makes of a multiply and an add (no FMA contraction under -std=c11), in
 * gcc's generic 8-float vectors: a floor, not the machine's peak. */
typedef float v8f __attribute__((vector_size(32)));
#define SETV8(k) ((v8f){0} + (float)(k))
#define MULADD(c, a, b) ((c) * (a) + (b))
#define ADDV8(x, y) ((x) + (y))
static double muladd_plain(long iters)
{
    v8f a = SETV8(0.999f), b = SETV8(1e-3f);
    DECL12(v8f, SETV8);
    for (long i = 0; i < iters; i++) STEP12(MULADD, a, b);
    v8f s = SUM12(ADDV8);
    sink = s[0] + s[7];
    return 2.0 * 8 * CHAINS * (double)iters;
}

typedef double (*kernel_fn)(long);

static kernel_fn pick_kernel(const char **isa)
{
#ifdef HAVE_X86_KERNELS
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f")) {
        *isa = "AVX-512 FMA";
        return fma_avx512;
    }
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) {
        *isa = "AVX2 FMA";
        return fma_avx2;
    }
#endif
    *isa = "plain multiply-add (no FMA kernel for this CPU)";
    return muladd_plain;
}

double bench_thread_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

double bench_fma_peak(const char **isa)
{
    const char *name = NULL;
    kernel_fn k = pick_kernel(&name);
    if (isa) *isa = name;
    long iters = 1000;
    double best = 0;
    /* Grow the sample to ~20 ms (timer resolution and call cost vanish), then keep the best
     * of 5 such samples. */
    for (int sample = 0; sample < 5;) {
        double t0 = bench_thread_seconds(), flops = k(iters), dt = bench_thread_seconds() - t0;
        if (dt < 0.02) {
            iters = dt > 1e-4 ? (long)(iters * 0.025 / dt) : iters * 100;
            continue;
        }
        best = flops / dt > best ? flops / dt : best;
        sample++;
    }
    return best * 1e-9;
}

/* ---- FLOP counts: the one formula ------------------------------------------------------------
 * Matrix products only, 2 FLOPs per multiply-add; per layer forward over N = B*T tokens:
 *   q, k, v, o        4 x 2 N C C         (C x C projections)
 *   gate, up          2 x 2 N C I
 *   down              1 x 2 N I C
 *   q k^T, att v      2 x 2 B NH T T HS = 4 N T C   (HS = C / NH; the full T x T square, as
 *                     PaLM's and Megatron's MFU count it; the CPU attention skips most of the
 *                     masked half, which this count does not credit)
 * so 8 N C^2 + 6 N C I + 4 N T C. The head: 2 N C V (the embedding is a lookup: 0). RMSNorm,
 * rotary, softmax, SwiGLU, the residual adds, the loss and the optimizer count 0: their time is
 * overhead, which is what the fraction of peak shows. The backward computes two products per
 * forward product (input gradient and weight gradient; attention's four for its two) of the same
 * sizes: 2 x the forward, so a training step is 3 x. pipa-bench layer's per-shape table sums to
 * bench_flops_layer_fwd. */
double bench_flops_layer_fwd(const pipa_model_config_t *cfg, int B, int T)
{
    double N = (double)B * T, C = cfg->C, I = cfg->I;
    return 8 * N * C * C + 6 * N * C * I + 4 * N * T * C;
}

double bench_flops_head_fwd(const pipa_model_config_t *cfg, int vocab, int B, int T)
{
    return 2.0 * B * T * cfg->C * vocab;
}

double bench_flops_model_fwd(const pipa_model_config_t *cfg, int vocab, int B, int T)
{
    return cfg->L * bench_flops_layer_fwd(cfg, B, T) + bench_flops_head_fwd(cfg, vocab, B, T);
}

void bench_print_peak(double peak, const char *isa)
{
    printf("# FMA peak: %.1f GFLOP/s per core (%s, measured now: best of 5 samples in thread CPU "
           "time); FLOPs: matrix products only,\n#   attention full T x T, backward = 2 x forward "
           "(pipa-bench_flops.c); of_peak: the rate over P cores' peak\n", peak, isa);
}
