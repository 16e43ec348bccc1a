/* pipa-bench_pipeline.c: pipelined forward throughput at P = 1 and P = 2 against the ideal.
 *
 * Run as `pipa-run -n 2 pipa-bench pipeline`. Every run is a forward-only plan (schedule
 * "forward") executed by the runtime (pipa_runtime_forward). P = 1: rank 0 alone runs a one-stage
 * plan that owns every layer (the same loop with no neighbours: inputs copied in, outputs copied
 * out, weights built beforehand) while rank 1 waits at a barrier. P = 2: the layers
 * split evenly over ranks 0 and 1. Time of a run: the slowest stage's wall time, from the common
 * start barrier to its last microbatch leaving; tokens/s = M*B*T / time, median over reps.
 * Runs at P = 1 and P = 2 alternate (same M, rep by rep), so load drift touches both alike.
 * speedup = tokens/s at P=2 / tokens/s at P=1 for the same M; ideal = P*M / (M + P - 1), what equal
 * stages with free transfers would reach. Measured bubble: 1 - (busy time of all stages) / (P * wall).
 * --validate checks the P = 2 output of the last M of the list equals the unpipelined forward to the bit.
 * GFLOP/s: the layers' FLOPs (bench_flops_model_fwd) per second; of_peak: over P x tp cores' FMA peak,
 * measured on every rank at once before the runs (pipa-bench_flops.c).
 * Started alone (world of one) it measures P = 1 only. With --tp T (pipa-run -n 2T) every stage
 * is T tensor ranks (P = 1 on ranks 0..T-1), times are tensor rank 0's pipeline's, and
 * --validate allows the tensor group's rounding (1e-5 of the largest output). With --dp D
 * (pipa-run -n 2DT) the world is D x P x T (layout.h's order) at P = 2 and the first D*T ranks at
 * P = 1: D replicas of the pipeline, replica d running microbatches d*M/D .. (d+1)*M/D - 1 of the
 * M (the global count); tokens/s counts all M, times are replica 0's pipeline's, the ideal and
 * bubble_th use M / D, and --validate checks every replica's share. Left out: P > 2, backward. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"
#include "plan/layout.h"
#include "plan/plan.h"
#include "runtime/runtime.h"
#include "plan/split.h"

#define MAX_M_LIST 32

typedef struct {
    pipa_model_config_t cfg;
    int B, T, reps, warmup, validate;
    int m_list[MAX_M_LIST], n_m, m_max;
    int layout[3];            /* --pp, --dp, --tp; 0 not given (bench_check_layout) */
    int tp, dp;               /* tensor ranks per stage; replicas */
    double peak;              /* the core's FMA peak, GFLOP/s (bench_fma_peak) */
} pipe_opts_t;

typedef struct {
    double tokens_per_s, bubble;
} pipe_result_t;

static void pipeline_usage(FILE *f)
{
    fprintf(f,
            "usage: pipa-run -n 2 pipa-bench pipeline [OPTIONS]\n"
            "  --layers L      layers (default 8, demo 3's model)\n"
            "  --hidden C      hidden size (default 512)\n"
            "  --heads NH      attention heads (default 8)\n"
            "  --inter I       MLP intermediate size (default 2048)\n"
            "  --batch B       microbatch batch (default 8)\n"
            "  --seq T         microbatch sequence length (default 128)\n"
            "  --pp P, --dp D, --tp T  the layout (pp x dp x tp = ranks, pp 1 or 2), checked\n"
            "                  against the model first: run it on 2DT ranks, D replicas of the\n"
            "                  pipeline each running M / D microbatches, T tensor ranks per stage\n"
            "  --m LIST        microbatch counts (default 1,2,4,8,16)\n"
            "  --reps N        timed runs per (P, M), median reported (default 3)\n"
            "  --warmup N      untimed runs per P before timing, at M = 2 (default 1)\n"
            "  --validate      P = 2 output of the last M must equal the unpipelined one\n"
            "  --json FILE     one JSON object per row: p, m, tokens_per_s, speedup, ideal_speedup,\n"
            "                  bubble (and dp, tp with dp or tp > 1)\n");
}

static int parse_pipeline(bench_ctx_t *ctx, int argc, char **argv, pipe_opts_t *o, int *help)
{
    int bad = 0;
    const char *json = NULL, *mlist = "1,2,4,8,16";
    o->cfg = (pipa_model_config_t){.L = 8, .C = 512, .NH = 8, .I = 2048, .eps = 1e-5f,
                             .rope_theta = 10000.0f, .seed = 1};
    o->B = 8, o->T = 128, o->reps = 3, o->warmup = 1, o->validate = 0;
    memset(o->layout, 0, sizeof o->layout);
    for (int i = 1; i < argc && !bad && !*help; i++) {
        if (bench_opt_common(ctx, argv, argc, &i, &json, help, &bad)) continue;
        if (bench_opt_int(argv, argc, &i, "--layers", &o->cfg.L, &bad)) continue;
        if (bench_opt_int(argv, argc, &i, "--hidden", &o->cfg.C, &bad)) continue;
        if (bench_opt_int(argv, argc, &i, "--heads", &o->cfg.NH, &bad)) continue;
        if (bench_opt_int(argv, argc, &i, "--inter", &o->cfg.I, &bad)) continue;
        if (bench_opt_int(argv, argc, &i, "--batch", &o->B, &bad)) continue;
        if (bench_opt_int(argv, argc, &i, "--seq", &o->T, &bad)) continue;
        if (bench_opt_str(argv, argc, &i, "--m", &mlist, &bad)) continue;
        if (bench_opt_layout(argv, argc, &i, o->layout, &bad)) continue;
        if (bench_opt_int(argv, argc, &i, "--reps", &o->reps, &bad)) continue;
        if (bench_opt_int(argv, argc, &i, "--warmup", &o->warmup, &bad)) continue;
        if (strcmp(argv[i], "--validate") == 0) {
            o->validate = 1;
            continue;
        }
        fprintf(stderr, "pipa-bench pipeline: unknown option '%s'\n", argv[i]);
        bad = 1;
    }
    if (bad || *help) return bad;
    o->n_m = bench_parse_list(mlist, o->m_list, MAX_M_LIST);
    o->m_max = 0;
    for (int i = 0; i < o->n_m; i++) o->m_max = o->m_list[i] > o->m_max ? o->m_list[i] : o->m_max;
    if (o->n_m == 0) {
        fprintf(stderr, "pipa-bench pipeline: --m wants a list like 1,2,4 (at most %d entries), "
                        "not '%s'\n", MAX_M_LIST, mlist);
        return 1;
    }
    if (o->reps < 1 || o->B < 1 || o->T < 1 || o->cfg.L < 2) {
        fprintf(stderr, "pipa-bench pipeline: reps, batch and seq must be >= 1, layers >= 2\n");
        return 1;
    }
    if (pipa_config_check(&o->cfg) != PIPA_OK) {
        fprintf(stderr, "pipa-bench pipeline: %s\n", pipa_last_error());
        return 1;
    }
    if (bench_check_layout(ctx, o->layout, &o->cfg, 0, o->m_list, o->n_m, &o->dp, &o->tp))
        return 1;
    return bench_json_open(ctx, json) != 0;
}

/* One pipelined run of M microbatches, gathered to the stage-0 rank (world rank 0): the slowest
 * stage's wall, and the bubble 1 - sum(busy) / (P * wall), the idle share of all stages' time. */
static pipa_status timed_run(pipa_runtime_t *tr, const float *in, float *out, double *wall,
                             double *bubble)
{
    pipa_step_stats_t fs;
    PIPA_TRY(pipa_runtime_forward(tr, in, out, &fs));
    double mine[2] = {fs.wall_s, fs.busy_s};
    double all[2 * PIPA_MAX_RANKS];
    PIPA_TRY(pipa_gather(&tr->group, 0, mine, sizeof mine, all));
    double busy = 0;
    *wall = 0;
    for (int s = 0; s < tr->P; s++) {
        *wall = all[2 * s] > *wall ? all[2 * s] : *wall;
        busy += all[2 * s + 1];
    }
    *bubble = 1.0 - busy / (tr->P * *wall);
    return PIPA_OK;
}

/* The pipelines measured: index P-1 holds the P-stage pipeline over world ranks 0..P-1, built on
 * the ranks that take part in it, with a forward-only plan for each M of the list (and the
 * warm-up's); pipa_runtime_set_plan switches between them. Both live at once so their runs can
 * alternate. (They share a group id; the one-rank group never sends a message, so their tags
 * cannot meet.) */
typedef struct {
    pipa_runtime_t tr[2];
    pipa_plan_t plan[2][MAX_M_LIST + 1];  /* [P-1][i]: M = m_list[i]; [P-1][n_m]: the warm-up's */
    int has[2], n_plans[2];
    int n_p;  /* 2 in a world of two stages, else 1 */
    int d;    /* my replica */
} pipes_t;

/* The plans of P stages for every M of the list (one replica's share), then the warm-up's M. */
static pipa_status plans_init(pipes_t *pp, const pipe_opts_t *o, int P, int warm_m)
{
    for (int i = 0; i <= o->n_m; i++) {
        int M = i < o->n_m ? o->m_list[i] / o->dp : warm_m;
        PIPA_TRY(pipa_plan_generate(&pp->plan[P - 1][i], PIPA_SCHED_FORWARD, P, M, 1));
        pp->n_plans[P - 1] = i + 1;
        PIPA_TRY(pipa_plan_check(&pp->plan[P - 1][i], NULL));
    }
    return PIPA_OK;
}

static pipa_status pipes_init(pipes_t *pp, bench_ctx_t *ctx, const pipe_opts_t *o)
{
    memset(pp, 0, sizeof *pp);
    int dt = o->dp * o->tp, m_rep = o->m_max / o->dp;
    pp->n_p = ctx->size == 2 * dt ? 2 : 1;
    for (int P = 1; P <= pp->n_p; P++) {
        if (ctx->rank >= P * dt) continue;
        pipa_layout_t lay;
        int counts[2];
        PIPA_TRY(pipa_layout_init(&lay, P * dt, ctx->rank, o->dp, P, o->tp));
        pp->d = lay.d;  /* the same in both: the replica is the rank's (rank / tp) % dp */
        PIPA_TRY(pipa_split_even(o->cfg.L, P, counts));
        PIPA_TRY(plans_init(pp, o, P, m_rep < 2 ? m_rep : 2));
        pipa_train_config_t tc = {.model = o->cfg, .vocab = 0, .B = o->B, .T = o->T};
        PIPA_TRY(pipa_runtime_init(&pp->tr[P - 1], ctx->comm, &lay, &tc, &pp->plan[P - 1][0],
                                   counts));
        pp->has[P - 1] = 1;
    }
    return PIPA_OK;
}

static void pipes_free(pipes_t *pp)
{
    for (int i = 0; i < 2; i++) {
        if (pp->has[i]) pipa_runtime_free(&pp->tr[i]);
        for (int k = 0; k < pp->n_plans[i]; k++) pipa_plan_free(&pp->plan[i][k]);
    }
}

/* One run of the current plan at P stages on my replica's share of in and out (microbatches
 * d*M .. d*M + M-1, M the replica's); ranks outside it wait at the closing world barrier. *tok
 * (the global batch's) and *bub are set on world rank 0 only. */
static pipa_status run_p(bench_ctx_t *ctx, pipes_t *pp, const pipe_opts_t *o, int P,
                         const float *in, float *out, double *tok, double *bub)
{
    double wall = 0;
    *tok = 0, *bub = 0;
    if (pp->has[P - 1]) {
        size_t share = (size_t)pp->d * pp->tr[P - 1].M * o->B * o->T * o->cfg.C;
        PIPA_TRY(timed_run(&pp->tr[P - 1], in + share, out + share, &wall, bub));
        *tok = (double)o->dp * pp->tr[P - 1].M * o->B * o->T / wall;
    }
    return pipa_barrier(&ctx->world);
}

/* Every pipeline I take part in runs plan i from now on (outside the timed runs). */
static pipa_status use_plan(pipes_t *pp, int i)
{
    for (int P = 1; P <= pp->n_p; P++)
        if (pp->has[P - 1]) PIPA_TRY(pipa_runtime_set_plan(&pp->tr[P - 1], &pp->plan[P - 1][i]));
    return PIPA_OK;
}

/* Warm-up at M = 2 for each P, then for every M of the list reps rounds of one run per P, P = 1
 * and P = 2 alternating so a change in the machine's load touches both sides of the speedup. */
static pipa_status measure_all(bench_ctx_t *ctx, pipes_t *pp, const pipe_opts_t *o,
                               const float *in, float *out, pipe_result_t *res[2])
{
    double tok[2][64], bub[2][64];
    int reps = o->reps > 64 ? 64 : o->reps;
    PIPA_TRY(use_plan(pp, o->n_m));
    for (int w = 0; w < o->warmup; w++)
        for (int P = 1; P <= pp->n_p; P++)
            PIPA_TRY(run_p(ctx, pp, o, P, in, out, &tok[0][0], &bub[0][0]));
    for (int i = 0; i < o->n_m; i++) {
        PIPA_TRY(use_plan(pp, i));
        for (int r = 0; r < reps; r++)
            for (int P = 1; P <= pp->n_p; P++)
                PIPA_TRY(run_p(ctx, pp, o, P, in, out, &tok[P - 1][r], &bub[P - 1][r]));
        for (int P = 1; P <= pp->n_p; P++) {
            res[P - 1][i].tokens_per_s = bench_median(tok[P - 1], reps);
            res[P - 1][i].bubble = bench_median(bub[P - 1], reps);
        }
    }
    return PIPA_OK;
}

/* On the last stage of every replica: its share of the output of the last P = 2 run (the last M
 * of the list) against the unpipelined forward of the same microbatches, to the bit. */
static pipa_status validate(bench_ctx_t *ctx, const pipe_opts_t *o, int d, const float *out,
                            int *ok)
{
    int M = o->m_list[o->n_m - 1];
    size_t n = (size_t)M * o->B * o->T * o->cfg.C, share = n / o->dp;
    double wrong = 0;
    if (ctx->rank == (d * 2 + 1) * o->tp) {  /* replica d's last stage's tensor rank 0 */
        float *in = malloc(n * sizeof(float)), *ref = malloc(n * sizeof(float));
        if (!in || !ref) return pipa_status_set_error(PIPA_ERR_NOMEM, "out of memory for validation");
        pipa_model_inputs(in, &o->cfg, M, o->B, o->T);
        pipa_status s = pipa_model_forward(&o->cfg, M, o->B, o->T, in, ref);
        double big = 0;  /* tp > 1 adds the heads' partial sums in another order: rounding */
        for (size_t i = 0; o->tp > 1 && i < n; i++) big = fmax(big, fabs((double)ref[i]));
        for (size_t i = d * share; s == PIPA_OK && i < (d + 1) * share; i++)
            wrong += o->tp == 1 ? memcmp(&out[i], &ref[i], 4) != 0
                                : fabs((double)out[i] - ref[i]) > 1e-5 * big;
        free(in), free(ref);
        PIPA_TRY(s);
    }
    PIPA_TRY(pipa_allreduce_sum_f64(&ctx->world, &wrong, 1));
    char shares[32] = "";  /* dp > 1: whose outputs */
    if (o->dp > 1) snprintf(shares, sizeof shares, " (%d replica shares)", o->dp);
    if (ctx->rank == 0)
        printf("# validate: P=2 output of M=%d%s vs unpipelined: %.0f of %zu floats differ%s\n",
               M, shares, wrong, n, o->tp > 1 ? " by more than 1e-5 of the largest (tensor-parallel "
               "rounding allowed)" : "");
    *ok = wrong == 0;
    return PIPA_OK;
}

static void print_table(const bench_ctx_t *ctx, const pipe_opts_t *o, const pipe_result_t *r1,
                        const pipe_result_t *r2)
{
    printf("# %3s %4s %14s %9s %9s %9s %10s %10s %9s %8s\n", "P", "M", "tokens/s", "speedup",
           "ideal", "of_ideal", "bubble", "bubble_th", "GFLOP/s", "of_peak");
    double flop_tok = bench_flops_model_fwd(&o->cfg, 0, o->B, o->T) / (o->B * o->T);
    for (int i = 0; i < o->n_m; i++) {
        int M = o->m_list[i];
        for (int P = 1; P <= (r2 ? 2 : 1); P++) {
            const pipe_result_t *r = P == 1 ? &r1[i] : &r2[i];
            int Mr = M / o->dp;  /* one replica's */
            double speedup = r->tokens_per_s / r1[i].tokens_per_s;
            double ideal = (double)P * Mr / (Mr + P - 1);
            double gflops = r->tokens_per_s * flop_tok * 1e-9;  /* all replicas' tokens */
            int cores = P * o->dp * o->tp;
            printf("%5d %4d %14.1f %9.3f %9.3f %8.1f%% %9.1f%% %9.1f%% %9.2f %7.1f%%\n", P, M,
                   r->tokens_per_s, speedup, ideal, 100.0 * speedup / ideal, 100.0 * r->bubble,
                   100.0 * pipa_plan_bubble_theory(PIPA_SCHED_FORWARD, P, Mr, 1), gflops,
                   100.0 * gflops / (cores * o->peak));
            /* The one-pipeline rows keep their keys; the layout comes with dp or tp > 1. */
            bench_json_row(ctx, NULL, "p", (double)P, "m", (double)M, "tokens_per_s",
                           r->tokens_per_s, "speedup", speedup, "ideal_speedup", ideal,
                           "bubble", r->bubble, "gflops", gflops, "of_peak",
                           gflops / (cores * o->peak), o->dp * o->tp > 1 ? "dp" : NULL,
                           (double)o->dp, "tp", (double)o->tp, (const char *)NULL);
        }
    }
}

static void print_intro(const bench_ctx_t *ctx, const pipe_opts_t *o)
{
    bench_print_header(ctx, "pipelined forward tokens/s at P = 1, 2 vs ideal P*M/(M+P-1)");
    if (ctx->rank != 0) return;
    printf("# model: L %d, C %d, NH %d, I %d; microbatch B %d x T %d = %d tokens; median of %d "
           "runs after %d warm-up run(s)\n",
           o->cfg.L, o->cfg.C, o->cfg.NH, o->cfg.I, o->B, o->T, o->B * o->T, o->reps, o->warmup);
    printf("# P=1: rank 0 alone, all layers; P=2: layers split evenly over ranks 0, 1; runs at "
           "P=1 and P=2 alternate\n");
    printf("# speedup = tokens/s / tokens/s at P=1 (same M); bubble = 1 - sum(busy) / "
           "(P*wall); bubble_th = (P-1)/(M+P-1)\n");
    if (o->tp > 1)
        printf("# tp %d: every stage is %d tensor ranks (P=1: ranks 0..%d); times are tensor rank "
               "0's pipeline's\n", o->tp, o->tp, o->tp - 1);
    if (o->dp > 1)
        printf("# dp %d: %d replicas of each pipeline (P=1: ranks 0..%d), replica d running "
               "microbatches d*M/%d.. of the M; tokens/s: all M; times: replica 0's; ideal, "
               "bubble_th: M/%d\n", o->dp, o->dp, o->dp * o->tp - 1, o->dp, o->dp);
    bench_print_layout(ctx, o->dp, o->tp);
    if (ctx->size == 1) printf("# world of one rank: P=2 not measured (use pipa-run -n 2)\n");
    fflush(stdout);
}

int bench_pipeline(bench_ctx_t *ctx, int argc, char **argv)
{
    pipe_opts_t o;
    int help = 0, ok = 1;
    if (parse_pipeline(ctx, argc, argv, &o, &help)) return 2;
    if (help) {
        if (ctx->rank == 0) pipeline_usage(stdout);
        return 0;
    }
    int dt = o.dp * o.tp;  /* ranks of one stage in every replica */
    if (ctx->size > 2 * dt) {
        if (dt == 1) fprintf(stderr, "pipa-bench pipeline: run it on 1 or 2 ranks (pipa-run -n 2)\n");
        else fprintf(stderr, "pipa-bench pipeline: run it on %d or %d ranks with --dp %d --tp %d\n",
                     dt, 2 * dt, o.dp, o.tp);
        return 2;
    }
    print_intro(ctx, &o);
    const char *isa;
    o.peak = bench_fma_peak(&isa);  // every rank at once: the cores as loaded as in a P = 2 run
    if (ctx->rank == 0) bench_print_peak(o.peak, isa);
    size_t n = (size_t)o.m_max * o.B * o.T * o.cfg.C;
    float *in = malloc(n * sizeof(float)), *out = malloc(n * sizeof(float));
    pipe_result_t r1[MAX_M_LIST], r2[MAX_M_LIST];
    if (!in || !out) {
        fprintf(stderr, "pipa-bench pipeline: out of memory for %zu floats\n", 2 * n);
        return 1;
    }
    if (ctx->rank < dt || ctx->rank % (2 * o.tp) < o.tp)  /* stage 0's (P = 1: all) */
        pipa_model_inputs(in, &o.cfg, o.m_max, o.B, o.T);
    pipes_t pp;
    pipe_result_t *res[2] = {r1, r2};
    pipa_status s = pipes_init(&pp, ctx, &o);
    if (s == PIPA_OK) s = measure_all(ctx, &pp, &o, in, out, res);
    pipes_free(&pp);
    if (s == PIPA_OK && ctx->rank == 0) print_table(ctx, &o, r1, ctx->size == 2 * dt ? r2 : NULL);
    if (s == PIPA_OK && o.validate && ctx->size == 2 * dt) s = validate(ctx, &o, pp.d, out, &ok);
    free(in), free(out);
    if (s != PIPA_OK) {
        fprintf(stderr, "pipa-bench pipeline: rank %d: %s\n", ctx->rank, pipa_last_error());
        return 1;
    }
    return ok ? 0 : 1;
}
