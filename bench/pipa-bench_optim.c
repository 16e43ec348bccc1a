/* pipa-bench_optim.c: the optimizer step's memory rate beside memcpy moving the same bytes.
 *
 * The step is memory-bound: per parameter it touches each array once. Bytes it must move:
 *   AdamW  7 x 4 bytes per parameter: reads params, grads, m, v (4 x 4) and writes params, m,
 *          v (3 x 4);
 *   SGD    3 x 4 bytes per parameter: reads params and grads, writes params.
 * The reference is a memcpy that moves the same bytes: it reads bytes/2 and writes bytes/2, i.e.
 * memcpy(dst, src, bytes / 2). Both rates count bytes moved (read + written), so
 * ratio = step GB/s / memcpy GB/s = memcpy time / step time, and 1 means the step runs at
 * single-thread memcpy speed.
 * Each rep times the step and then its memcpy, alternately, so drifting load hits both alike;
 * medians over reps. Small sizes repeat each timed operation in a block (up to 1 MiB moved or
 * 4096 calls) so the clock's resolution does not dominate. Runs on rank 0; other ranks of a
 * launched run wait at a barrier. Left out: several threads (the step is single-threaded). */
#include <stdlib.h>
#include <string.h>

#include "base/rand.h"
#include "bench.h"
#include "model/ends.h"
#include "model/optim.h"

/* The model of the measurements: L8 C512 NH8 I2048, and pipa-bench train's vocabulary. */
#define OPTIM_VOCAB 256

typedef struct {
    long long n;  /* parameters */
    int reps, warmup;
} optim_opts_t;

typedef struct {
    const char *name;
    pipa_opt_kind kind;
    int words;    /* 4-byte words moved per parameter: 7 AdamW, 3 SGD (see the top) */
    double step_ms, copy_ms;
} optim_row_t;

static void optim_usage(FILE *f)
{
    fprintf(f,
            "usage: pipa-bench optim [OPTIONS]\n"
            "  --params N      parameters (default: the L8 C512 NH8 I2048 model with vocabulary %d"
            " ends)\n"
            "  --reps N        timed repetitions, median reported (default 11)\n"
            "  --warmup N      untimed repetitions first (default 2)\n"
            "  --json FILE     one JSON object per row: row, params, bytes, reps, step_ms, step_gbs,\n"
            "                  memcpy_ms, memcpy_gbs, ratio\n",
            OPTIM_VOCAB);
}

static long long default_params(void)
{
    pipa_model_config_t cfg = {.L = 8, .C = 512, .NH = 8, .I = 2048, .eps = 1e-5f,
                               .rope_theta = 10000.0f, .seed = 1};
    return (long long)(cfg.L * pipa_layer_param_count(&cfg) +
                       pipa_ends_param_count(&cfg, OPTIM_VOCAB, 1, 1));
}

static int parse_optim(bench_ctx_t *ctx, int argc, char **argv, optim_opts_t *o, int *help)
{
    int bad = 0;
    const char *json = NULL, *params = NULL;
    o->n = default_params(), o->reps = 11, o->warmup = 2;
    for (int i = 1; i < argc && !bad && !*help; i++) {
        if (bench_opt_common(ctx, argv, argc, &i, &json, help, &bad)) continue;
        if (bench_opt_str(argv, argc, &i, "--params", &params, &bad)) continue;
        if (bench_opt_int(argv, argc, &i, "--reps", &o->reps, &bad)) continue;
        if (bench_opt_int(argv, argc, &i, "--warmup", &o->warmup, &bad)) continue;
        fprintf(stderr, "pipa-bench optim: unknown option '%s'\n", argv[i]);
        bad = 1;
    }
    if (bad || *help) return bad;
    char *end = NULL;
    if (params) o->n = strtoll(params, &end, 10);
    if ((params && (*end || end == params)) || o->n < 1 || o->reps < 1 || o->warmup < 0) {
        fprintf(stderr, "pipa-bench optim: --params and --reps must be >= 1, --warmup >= 0\n");
        return 1;
    }
    return bench_json_open(ctx, json) != 0;
}

/* Calls per timed sample: enough to move about 1 MiB, at most 4096 (as bench_memcpy_rate). */
static int calls_per_sample(size_t bytes)
{
    size_t per = bytes >= (1u << 20) ? 1 : (1u << 20) / bytes;
    return per > 4096 ? 4096 : (int)per;
}

/* Times reps samples of `per` steps and `per` memcpys of bytes / 2, alternately; medians in ms
 * per call into r. 0 ok, -1 out of memory. */
static int time_row(const optim_opts_t *o, optim_row_t *r, float *p, const float *g,
                    unsigned char *dst, const unsigned char *src)
{
    size_t n = (size_t)o->n, bytes = n * 4 * (size_t)r->words;
    pipa_opt_config_t cfg = pipa_opt_defaults();
    cfg.kind = r->kind;
    pipa_optim_t opt;
    double *ts = malloc(sizeof(double) * 2 * (size_t)o->reps);
    if (!ts || pipa_optim_init(&opt, &cfg, n) != PIPA_OK) {
        free(ts);
        return -1;
    }
    int per = calls_per_sample(bytes);
    for (int rep = -o->warmup; rep < o->reps; rep++) {
        double t0 = pipa_now();
        for (int k = 0; k < per; k++) pipa_optim_step(&opt, p, g);
        double t1 = pipa_now();
        for (int k = 0; k < per; k++) {
            memcpy(dst, src, bytes / 2);
            __asm__ __volatile__("" : : "r"(dst) : "memory"); /* keep every copy */
        }
        double t2 = pipa_now();
        if (rep < 0) continue;
        ts[rep] = (t1 - t0) * 1e3 / per;
        ts[o->reps + rep] = (t2 - t1) * 1e3 / per;
    }
    r->step_ms = bench_median(ts, o->reps);
    r->copy_ms = bench_median(ts + o->reps, o->reps);
    pipa_optim_free(&opt);
    free(ts);
    return 0;
}

static void print_row(const bench_ctx_t *ctx, const optim_opts_t *o, const optim_row_t *r)
{
    double bytes = (double)o->n * 4 * r->words;
    double step_gbs = bytes / (r->step_ms * 1e-3) * 1e-9;
    double copy_gbs = bytes / (r->copy_ms * 1e-3) * 1e-9;
    double ratio = step_gbs / copy_gbs;
    printf("%-8s %12lld %14.0f %12.4f %10.3f %12.4f %10.3f %8.3f\n", r->name, o->n, bytes,
           r->step_ms, step_gbs, r->copy_ms, copy_gbs, ratio);
    printf("# %s: ratio %.3f (target >= 0.80: %s)\n", r->name, ratio,
           ratio >= 0.8 ? "met" : "NOT met");
    bench_json_row(ctx, r->name, "params", (double)o->n, "bytes", bytes, "reps", (double)o->reps,
                   "step_ms", r->step_ms, "step_gbs", step_gbs, "memcpy_ms", r->copy_ms,
                   "memcpy_gbs", copy_gbs, "ratio", ratio, (const char *)NULL);
}

/* Both optimizers on rank 0. 0 ok, 1 out of memory (printed). */
static int run_optim(const bench_ctx_t *ctx, const optim_opts_t *o)
{
    size_t n = (size_t)o->n;
    float *p = malloc(n * sizeof(float)), *g = malloc(n * sizeof(float));
    unsigned char *src = malloc(n * 14), *dst = malloc(n * 14);  /* AdamW's 28 n bytes / 2 */
    int rc = !p || !g || !src || !dst;
    for (size_t i = 0; !rc && i < n; i++) {
        p[i] = pipa_rand_uniform(11, 0, 0, i);
        g[i] = 0.01f * pipa_rand_uniform(11, 1, 0, i);
    }
    if (!rc) memset(src, 1, n * 14), memset(dst, 0, n * 14);  /* fault the pages in */
    optim_row_t rows[2] = {{"adamw", PIPA_OPT_ADAMW, 7, 0, 0}, {"sgd", PIPA_OPT_SGD, 3, 0, 0}};
    if (!rc) {
        printf("# %-6s %12s %14s %12s %10s %12s %10s %8s\n", "opt", "params", "bytes", "step ms",
               "GB/s", "memcpy ms", "GB/s", "ratio");
    }
    for (int i = 0; i < 2 && !rc; i++) {
        rc = time_row(o, &rows[i], p, g, dst, src) != 0;
        if (!rc) print_row(ctx, o, &rows[i]);
    }
    if (rc) fprintf(stderr, "pipa-bench optim: out of memory (%lld parameters)\n", o->n);
    free(p), free(g), free(src), free(dst);
    return rc;
}

int bench_optim(bench_ctx_t *ctx, int argc, char **argv)
{
    optim_opts_t o;
    int help = 0;
    if (parse_optim(ctx, argc, argv, &o, &help)) return 2;
    if (help) {
        if (ctx->rank == 0) optim_usage(stdout);
        return 0;
    }
    bench_print_header(ctx, "optimizer step's memory rate vs memcpy moving the same bytes");
    int rc = 0;
    if (ctx->rank == 0) {
        printf("# bytes moved per parameter: AdamW 7 x 4 (reads p, g, m, v; writes p, m, v), "
               "SGD 3 x 4 (reads p, g; writes p)\n# memcpy(dst, src, bytes / 2) moves the same "
               "bytes; GB/s = bytes moved / time; ratio = step GB/s / memcpy GB/s\n"
               "# median of %d reps after %d warm-up, step and memcpy alternately\n",
               o.reps, o.warmup);
        rc = run_optim(ctx, &o);
    }
    if (pipa_barrier(&ctx->world) != PIPA_OK) return 1;
    return rc;
}
