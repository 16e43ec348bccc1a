/* pipa-bench_train.c: training-step tokens/s per schedule at P = 1 and P = 2 against the ideal.
 *
 * Run as `pipa-run -n 2 pipa-bench train`. For every M of the list, every schedule gets two
 * runtimes built from the same seeded weights: P = 1 on rank 0 alone (a one-rank pipeline that
 * owns every layer and both ends; rank 1 waits at a barrier, as in `pipeline`) and P = 2 over
 * ranks 0 and 1 (layers split evenly over the P*V virtual stages). After one warm-up step each,
 * `reps` rounds run one step of each (schedule, P) in turn, so a change in the machine's load
 * touches every schedule and both sides of the speedup alike. Interleaved needs P >= 2: its
 * P = 1 baseline is 1F1B at P = 1 (what one rank would run anyway).
 *
 * Time of a step: from the last rank entering the step's barrier to the last rank done, on the
 * machine-wide clock (pipa_step_stats_t enter_abs / end_abs). tokens/s = M*B*T / time, median over
 * reps. speedup = tokens/s at P=2 / at P=1 (same M and schedule); ideal = P*M/(M+P-1). Measured
 * bubble: 1 - (time in F, B, I, W, STEP of all ranks) / (P * time), busy as the runtime and the
 * simulator define it (pipa_act_is_busy); beside it the analytic bubble and the simulated one
 * (the plan through pipa_plan_simulate with this run's mean F, B, I, W, STEP times, comms
 * free), which separates what the schedule costs from what the machine adds.
 * Model FLOP utilisation (pipa-bench_flops.c): forward GFLOP/s per core = M x the model's
 * forward FLOPs / (F time of all ranks), backward = 2 x that over (B, I, W time of all ranks),
 * both from the median step; a step = 3 x forward FLOPs x M / step time; of_peak over the cores' FMA peak (one
 * core per busy second, P x tp cores for a step), measured on every rank at once first.
 *
 * With --tp T (pipa-run -n 2T) every stage is T tensor ranks: P = 1 on ranks 0..T-1, P = 2 on
 * all; the times are tensor rank 0's pipeline's, and a second table gives world rank 0's bytes
 * per step between stages and inside its tensor group, for --tp-send slice (the default) or
 * whole.
 *
 * With --dp D (pipa-run -n 2DT) the world is D x P x T (layout.h's order) at P = 2 and the first
 * D*T ranks at P = 1: D replicas of the pipeline, each running M / D of the M microbatches (M is
 * the global count, as pipa-train's --microbatches), their gradients reduced in the data group
 * before STEP (--dp-overlap on|off as pipa-train). tokens/s counts the global batch; times and
 * bubbles are replica 0's pipeline's (the reductions keep the replicas in step), the ideal and
 * the bubbles use M / D; a third table gives world rank 0's reduction time, wait and bytes.
 * Left out: P > 2. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"
#include "model/optim.h"
#include "plan/layout.h"
#include "runtime/runtime.h"
#include "plan/split.h"
#include "runtime/trace.h"

#define MAX_M_LIST 32
#define MAX_REPS 64
#define N_SCHED 4
#define TRAIN_VOCAB 256

typedef struct {
    pipa_model_config_t cfg;
    int B, T, V, reps, warmup;
    int m_list[MAX_M_LIST], n_m;
    pipa_sched sched[N_SCHED];
    int n_sched;
    int layout[3];            /* --pp, --dp, --tp; 0 not given (bench_check_layout) */
    int tp, tp_send_whole;    /* tensor ranks per stage; --tp-send whole */
    int dp, dp_overlap_off;   /* replicas; --dp-overlap off */
    pipa_opt_kind opt;        /* --optimizer (pipa_opt_parse), AdamW by default */
    double peak;              /* the core's FMA peak, GFLOP/s (bench_fma_peak) */
} train_opts_t;

/* One (schedule, P) at one M: its plan and, on the ranks in it, its runtime. */
typedef struct {
    pipa_sched sched;
    int P, V;
    pipa_plan_t plan;
    pipa_runtime_t tr;
    int has_plan, has_tr;
    double time[MAX_REPS], bubble[MAX_REPS];  /* per rep, rank 0 */
    double busy_kind[MAX_REPS][PIPA_ACT_COUNT]; /* per rep, summed over ranks, rank 0 */
    int64_t bytes_sent, tp_bytes;               /* rank 0's in its last step */
    double reduce[MAX_REPS], reduce_wait[MAX_REPS]; /* per rep, rank 0's data group's */
    int64_t dp_bytes;                           /* rank 0's in its last step */
} run_t;

/* What the table shows of one (schedule, P, M), rank 0. */
typedef struct {
    double tokens_per_s, bubble, theory, simulated;
    double step_s;                 /* median step time: tokens_per_s's divisor */
    double cost[PIPA_ACT_COUNT];
    int64_t bytes_sent, tp_bytes;  /* rank 0's per step */
    double reduce_s, reduce_wait_s; /* rank 0's in the data group's reductions, median */
    int64_t dp_bytes;              /* rank 0's per step in its data group */
    double gflops[3];         /* forward and backward per core, whole step (mfu()) */
    pipa_opt_kind opt;        /* the optimizer rank 0's runtime stepped with */
} train_result_t;

static void train_usage(FILE *f)
{
    fprintf(f,
            "usage: pipa-run -n 2 pipa-bench train [OPTIONS]\n"
            "  --layers L      layers (default 8)\n"
            "  --hidden C      hidden size (default 256)\n"
            "  --heads NH      attention heads (default 4)\n"
            "  --kv-heads N    key/value heads, dividing NH: grouped-query attention\n"
            "                  (default: the heads)\n"
            "  --tie-embeddings  the LM head is the token embedding (default off)\n"
            "  --inter I       MLP intermediate size (default 1024)\n"
            "  --batch B       microbatch batch (default 4)\n"
            "  --seq T         microbatch sequence length (default 64)\n"
            "  --m LIST        microbatch counts (default 1,2,4,8,16)\n"
            "  --sched LIST    schedules (default gpipe,1f1b,interleaved,zb1)\n"
            "  --v V           chunks per rank of interleaved (default 2)\n"
            "  --pp P, --dp D, --tp T  the layout (pp x dp x tp = ranks, pp 1 or 2): run it on\n"
            "                  2DT ranks, D replicas of the pipeline each running M / D\n"
            "                  microbatches (M divisible by D), T tensor ranks per stage\n"
            "  --dp-overlap on|off  dp > 1: each layer's gradient reduction starts as soon as\n"
            "                  it is final (on, the default), or one all-reduce before STEP\n"
            "  --tp-send S     slice (each tensor rank sends 1/T of an activation between\n"
            "                  stages, all-gathered on arrival) or whole (default slice)\n"
            "  --reps N        timed steps per (schedule, P, M), median reported (default 3)\n"
            "  --warmup N      untimed steps per (schedule, P, M) first (default 1)\n"
            "  --optimizer O   adamw or sgd, with pipa_opt_defaults' settings (default adamw)\n"
            "  --json FILE     one JSON object per row: schedule, p, m, tokens_per_s, speedup,\n"
            "                  ideal_speedup, bubble (and bubble_theory, bubble_sim); with dp or\n"
            "                  tp > 1 the layout (dp, tp) and step_s (the median step: tokens_per_s\n"
            "                  = m*B*T / step_s), with dp > 1 dp_overlap and the data group's\n"
            "                  reduce_s, reduce_wait_s, dp_bytes\n");
}

static int parse_sched_list(const char *text, train_opts_t *o)
{
    char buf[256];
    snprintf(buf, sizeof buf, "%s", text);
    o->n_sched = 0;
    for (char *save = NULL, *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        if (o->n_sched == N_SCHED || pipa_sched_parse(t, &o->sched[o->n_sched]) != PIPA_OK)
            return 0;
        o->n_sched++;
    }
    return o->n_sched;
}

static int parse_train(bench_ctx_t *ctx, int argc, char **argv, train_opts_t *o, int *help)
{
    int bad = 0;
    const char *json = NULL, *mlist = "1,2,4,8,16", *slist = "gpipe,1f1b,interleaved,zb1";
    const char *send = NULL, *overlap = NULL;
    const char *opt = "adamw";
    o->cfg = (pipa_model_config_t){.L = 8, .C = 256, .NH = 4, .I = 1024, .eps = 1e-5f,
                             .rope_theta = 10000.0f, .seed = 1};
    o->B = 4, o->T = 64, o->V = 0, o->reps = 3, o->warmup = 1;  // V 0: not given, 2
    memset(o->layout, 0, sizeof o->layout);
    for (int i = 1; i < argc && !bad && !*help; i++) {
        if (bench_opt_common(ctx, argv, argc, &i, &json, help, &bad)) continue;
        if (bench_opt_int(argv, argc, &i, "--layers", &o->cfg.L, &bad)) continue;
        if (bench_opt_int(argv, argc, &i, "--hidden", &o->cfg.C, &bad)) continue;
        if (bench_opt_int(argv, argc, &i, "--heads", &o->cfg.NH, &bad)) continue;
        if (bench_opt_int(argv, argc, &i, "--kv-heads", &o->cfg.NKV, &bad)) continue;
        if (!strcmp(argv[i], "--tie-embeddings")) { o->cfg.tie_embeddings = 1; continue; }
        if (bench_opt_int(argv, argc, &i, "--inter", &o->cfg.I, &bad)) continue;
        if (bench_opt_int(argv, argc, &i, "--batch", &o->B, &bad)) continue;
        if (bench_opt_int(argv, argc, &i, "--seq", &o->T, &bad)) continue;
        if (bench_opt_int(argv, argc, &i, "--v", &o->V, &bad)) continue;
        if (bench_opt_str(argv, argc, &i, "--m", &mlist, &bad)) continue;
        if (bench_opt_str(argv, argc, &i, "--sched", &slist, &bad)) continue;
        if (bench_opt_layout(argv, argc, &i, o->layout, &bad)) continue;
        if (bench_opt_int(argv, argc, &i, "--reps", &o->reps, &bad)) continue;
        if (bench_opt_int(argv, argc, &i, "--warmup", &o->warmup, &bad)) continue;
        if (bench_opt_str(argv, argc, &i, "--tp-send", &send, &bad)) continue;
        if (bench_opt_str(argv, argc, &i, "--dp-overlap", &overlap, &bad)) continue;
        if (bench_opt_str(argv, argc, &i, "--optimizer", &opt, &bad)) continue;
        fprintf(stderr, "pipa-bench train: unknown option '%s'\n", argv[i]);
        bad = 1;
    }
    if (bad || *help) return bad;
    if (pipa_opt_parse(opt, &o->opt) != PIPA_OK) {
        fprintf(stderr, "pipa-bench train: --optimizer: %s\n", pipa_last_error());
        return 1;
    }
    if ((o->n_m = bench_parse_list(mlist, o->m_list, MAX_M_LIST)) == 0) {
        fprintf(stderr, "pipa-bench train: --m wants a list like 1,2,4 (at most %d entries), "
                        "not '%s'\n", MAX_M_LIST, mlist);
        return 1;
    }
    if (!parse_sched_list(slist, o)) {
        fprintf(stderr, "pipa-bench train: --sched wants a list of gpipe, 1f1b, interleaved, "
                        "zb1 (each at most once), not '%s'\n", slist);
        return 1;
    }
    int interleaved = 0;
    for (int s = 0; s < o->n_sched; s++) interleaved |= pipa_sched_interleaves(o->sched[s]);
    if (o->V && !interleaved) {
        fprintf(stderr, "pipa-bench train: --v applies to interleaved only, which --sched '%s' "
                        "leaves out\n", slist);
        return 1;
    }
    if (!o->V) o->V = 2;
    if (o->reps < 1 || o->reps > MAX_REPS || o->B < 1 || o->T < 1 || o->V < 2 ||
        o->V > PIPA_MAX_CHUNKS) {
        fprintf(stderr, "pipa-bench train: reps 1..%d, batch and seq >= 1, v 2..%d\n", MAX_REPS,
                PIPA_MAX_CHUNKS);
        return 1;
    }
    for (int s = 0; s < o->n_sched; s++)
        if (pipa_sched_interleaves(o->sched[s]) && o->cfg.L < 2 * o->V) {
            fprintf(stderr, "pipa-bench train: interleaved at P = 2 needs at least P*V = %d "
                            "layers, not %d\n", 2 * o->V, o->cfg.L);
            return 1;
        }
    if (o->cfg.L < 2 || pipa_config_check(&o->cfg) != PIPA_OK) {
        fprintf(stderr, "pipa-bench train: %s\n",
                o->cfg.L < 2 ? "layers must be >= 2" : pipa_last_error());
        return 1;
    }
    if (bench_check_layout(ctx, o->layout, &o->cfg, TRAIN_VOCAB, o->m_list, o->n_m, &o->dp,
                           &o->tp))
        return 1;
    o->dp_overlap_off = overlap && !strcmp(overlap, "off");
    if (overlap && !o->dp_overlap_off && strcmp(overlap, "on")) {
        fprintf(stderr, "pipa-bench train: --dp-overlap '%s': on or off\n", overlap);
        return 1;
    }
    o->tp_send_whole = send && !strcmp(send, "whole");
    if (send && ((!o->tp_send_whole && strcmp(send, "slice")) || o->tp == 1)) {
        fprintf(stderr, "pipa-bench train: --tp-send '%s': slice or whole, with --tp 2 or more\n",
                send);
        return 1;
    }
    return bench_json_open(ctx, json) != 0;
}

/* ---- the runs ------------------------------------------------------------------------------ */

/* The synthetic batch: a fixed function of (microbatch, position); training content does not
 * change the time of a step. */
static void train_batch(void *ctx, int mb, int32_t *tokens, int32_t *targets)
{
    const train_opts_t *o = ctx;
    for (int i = 0; i < o->B * o->T; i++) {
        int v = (int)(((unsigned)mb * 2654435761u + (unsigned)i * 40503u) >> 8) % TRAIN_VOCAB;
        if (tokens) tokens[i] = v;
        if (targets) targets[i] = (v * 7 + 3) % TRAIN_VOCAB;
    }
}

static pipa_status run_init(run_t *r, bench_ctx_t *ctx, const train_opts_t *o, pipa_sched s,
                            int P, int M)
{
    memset(r, 0, sizeof *r);
    /* One rank has nothing to interleave: interleaved's P = 1 baseline is 1F1B. */
    r->sched = P == 1 && pipa_sched_interleaves(s) ? PIPA_SCHED_1F1B : s;
    r->P = P;
    r->V = pipa_sched_interleaves(r->sched) ? o->V : 1;
    PIPA_TRY(pipa_plan_generate(&r->plan, r->sched, P, M / o->dp, r->V));  /* one replica's */
    r->has_plan = 1;
    PIPA_TRY(pipa_plan_check(&r->plan, NULL));
    if (ctx->rank >= P * o->dp * o->tp) return PIPA_OK;
    pipa_layout_t lay;
    int counts[2 * PIPA_MAX_CHUNKS];
    PIPA_TRY(pipa_layout_init(&lay, P * o->dp * o->tp, ctx->rank, o->dp, P, o->tp));
    PIPA_TRY(pipa_split_even(o->cfg.L, P * r->V, counts));
    pipa_train_config_t cfg = {.model = o->cfg, .vocab = TRAIN_VOCAB, .B = o->B, .T = o->T,
                               .opt = pipa_opt_defaults(), .tp_send_whole = o->tp_send_whole};
    cfg.opt.kind = o->opt;
    PIPA_TRY(pipa_runtime_init(&r->tr, ctx->comm, &lay, &cfg, &r->plan, counts));
    r->has_tr = 1;
    pipa_runtime_set_dp_overlap(&r->tr, !o->dp_overlap_off);
    return PIPA_OK;
}

static void run_free(run_t *r)
{
    if (r->has_tr) pipa_runtime_free(&r->tr);
    if (r->has_plan) pipa_plan_free(&r->plan);
    r->has_tr = r->has_plan = 0;
}

/* One step of r on its ranks; the others wait at the closing world barrier. rep >= 0 records
 * the step's time, bubble and per-kind busy time (summed over ranks) on rank 0. */
static pipa_status run_step(bench_ctx_t *ctx, run_t *r, const train_opts_t *o, int rep)
{
    if (r->has_tr) {
        pipa_step_stats_t st;
        PIPA_TRY(pipa_runtime_step(&r->tr, train_batch, (void *)o, &st));
        r->bytes_sent = st.bytes_sent, r->tp_bytes = st.tp_bytes, r->dp_bytes = st.dp_bytes;
        if (rep >= 0) r->reduce[rep] = st.reduce_s, r->reduce_wait[rep] = st.reduce_wait_s;
        double mine[2 + PIPA_ACT_COUNT], all[2 * (2 + PIPA_ACT_COUNT)];
        mine[0] = st.enter_abs, mine[1] = st.end_abs;
        memcpy(mine + 2, st.busy_kind, sizeof st.busy_kind);
        PIPA_TRY(pipa_gather(&r->tr.group, 0, mine, sizeof mine, all));
        if (ctx->rank == 0 && rep >= 0) {
            double work = 0;
            double *kind = r->busy_kind[rep];
            memset(kind, 0, sizeof r->busy_kind[rep]);
            for (int p = 0; p < r->P; p++) {
                const double *a = all + p * (2 + PIPA_ACT_COUNT);
                for (int k = 0; k < PIPA_ACT_COUNT; k++) kind[k] += a[2 + k];
            }
            for (int k = 0; k < PIPA_ACT_COUNT; k++)
                if (pipa_act_is_busy(k)) work += kind[k];
            r->time[rep] = pipa_trace_step_span(&all[0], &all[1], r->P,
                                                sizeof(double) * (2 + PIPA_ACT_COUNT));
            r->bubble[rep] = 1.0 - work / (r->P * r->time[rep]);
        }
    }
    return pipa_barrier(&ctx->world);
}

/* GFLOP/s of the forward and backward per core (the median step's F and B + I + W time, summed
 * over ranks) and of the whole step (over its time). */
static void mfu(const run_t *r, const train_opts_t *o, int M, int best, train_result_t *res)
{
    /* with --tp each tensor rank runs 1/tp of the FLOPs in the busy time of tensor rank 0 */
    double fwd = M * bench_flops_model_fwd(&o->cfg, TRAIN_VOCAB, o->B, o->T) / o->tp;
    const double *k = r->busy_kind[best];
    res->gflops[0] = fwd / k[PIPA_ACT_F] * 1e-9;
    res->gflops[1] = 2 * fwd / (k[PIPA_ACT_B] + k[PIPA_ACT_I] + k[PIPA_ACT_W]) * 1e-9;
    res->gflops[2] = 3 * fwd * o->tp * res->tokens_per_s / ((double)M * o->B * o->T) * 1e-9;
}

/* Rank 0: medians of r's reps, the analytic bubble, and the simulated one from the per-kind
 * costs of the median step. */
static pipa_status summarise(const run_t *r, const train_opts_t *o, int M, train_result_t *res)
{
    double t[MAX_REPS], b[MAX_REPS], red[MAX_REPS], wait[MAX_REPS];
    memcpy(t, r->time, sizeof t);
    memcpy(b, r->bubble, sizeof b);
    memcpy(red, r->reduce, sizeof red);
    memcpy(wait, r->reduce_wait, sizeof wait);
    double med = bench_median(t, o->reps);
    res->tokens_per_s = (double)M * o->B * o->T / med;  /* the global batch */
    res->step_s = med;
    res->bubble = bench_median(b, o->reps);
    res->theory = pipa_plan_bubble_theory(r->sched, r->P, M / o->dp, r->V);
    res->reduce_s = bench_median(red, o->reps), res->reduce_wait_s = bench_median(wait, o->reps);
    res->dp_bytes = r->dp_bytes;
    int best = 0;  // the rep closest to the median time
    for (int i = 1; i < o->reps; i++)
        if (fabs(r->time[i] - med) < fabs(r->time[best] - med)) best = i;
    int count[PIPA_ACT_COUNT] = {0};
    for (int p = 0; p < r->P; p++)
        for (int i = 0; i < r->plan.len[p]; i++) count[r->plan.act[p][i].kind]++;
    pipa_plan_costs_t c = {{0}};
    const int kinds[] = {PIPA_ACT_F, PIPA_ACT_B, PIPA_ACT_I, PIPA_ACT_W, PIPA_ACT_STEP};
    memset(res->cost, 0, sizeof res->cost);
    for (int k = 0; k < 5; k++)
        if (count[kinds[k]])
            c.cost[kinds[k]] = res->cost[kinds[k]] = r->busy_kind[best][kinds[k]] / count[kinds[k]];
    pipa_plan_sim_t sim;
    PIPA_TRY(pipa_plan_simulate(&r->plan, &c, &sim));
    res->simulated = sim.bubble;
    res->bytes_sent = r->bytes_sent, res->tp_bytes = r->tp_bytes;
    mfu(r, o, M / o->dp, best, res);  /* busy times are one replica's: its microbatches */
    res->opt = r->tr.opt.cfg.kind;  // what ran, not what was asked: the JSON row says so
    return PIPA_OK;
}

/* Every schedule at P = 1 and 2 for one M: build, warm up, reps rounds in turn, summarise.
 * res[s][P-1] filled on rank 0. A failure to build, on any rank, is agreed by all (*who: the
 * failing rank; -1 for a failure seen by this rank alone). */
static pipa_status measure_m(bench_ctx_t *ctx, const train_opts_t *o, int M, int n_p,
                             train_result_t res[][2], int *who)
{
    run_t *runs = calloc((size_t)o->n_sched * n_p, sizeof *runs);
    if (!runs) return pipa_status_set_error(PIPA_ERR_NOMEM, "out of memory");
    int n = o->n_sched * n_p;
    pipa_status s = PIPA_OK;
    for (int i = 0; i < n && s == PIPA_OK; i++)
        s = run_init(&runs[i], ctx, o, o->sched[i / n_p], 1 + i % n_p, M);
    /* A rank that failed to build (out of memory) must not leave the other waiting in a step. */
    s = pipa_agree(&ctx->world, s, who);
    for (int w = 0; w < o->warmup && s == PIPA_OK; w++)
        for (int i = 0; i < n && s == PIPA_OK; i++) s = run_step(ctx, &runs[i], o, -1);
    for (int rep = 0; rep < o->reps && s == PIPA_OK; rep++)
        for (int i = 0; i < n && s == PIPA_OK; i++) s = run_step(ctx, &runs[i], o, rep);
    for (int i = 0; i < n && s == PIPA_OK && ctx->rank == 0; i++)
        s = summarise(&runs[i], o, M, &res[i / n_p][i % n_p]);
    for (int i = 0; i < n; i++) run_free(&runs[i]);
    free(runs);
    return s;
}

/* ---- output -------------------------------------------------------------------------------- */

static const char *opt_name(pipa_opt_kind k)
{
    return k == PIPA_OPT_SGD ? "SGD" : "AdamW";
}

static void json_row(const bench_ctx_t *ctx, const train_opts_t *o, pipa_sched s, int P, int M,
                     const train_result_t *r, double speedup, double ideal)
{
    if (!ctx->json) return;
    pipa_json_t j;
    bench_json_begin(ctx, &j);
    pipa_json_str(&j, "schedule", pipa_sched_name(s));
    pipa_json_str(&j, "optimizer", r->opt == PIPA_OPT_SGD ? "sgd" : "adamw");  // as --optimizer
    const char *keys[] = {"p", "m", "tokens_per_s", "speedup", "ideal_speedup", "bubble",
                          "bubble_theory", "bubble_sim", "dp", "tp", "step_s", "reduce_s",
                          "reduce_wait_s", "dp_bytes"};
    double vals[] = {P, M, r->tokens_per_s, speedup, ideal, r->bubble, r->theory, r->simulated,
                     o->dp, o->tp, r->step_s, r->reduce_s, r->reduce_wait_s, (double)r->dp_bytes};
    /* The one-pipeline rows (dp = tp = 1) keep their keys; the layout and the data group's
     * figures come with dp or tp > 1. */
    int n = o->dp * o->tp > 1 ? (o->dp > 1 ? 14 : 10) : 8;
    for (int k = 0; k < n; k++) pipa_json_num_short(&j, keys[k], vals[k]);
    if (o->dp > 1) pipa_json_str(&j, "dp_overlap", o->dp_overlap_off ? "off" : "on");
    const char *mk[] = {"gflops_fwd", "of_peak_fwd", "gflops_bwd", "of_peak_bwd", "gflops",
                        "of_peak"};
    for (int k = 0; k < 3; k++) {
        pipa_json_num_short(&j, mk[2 * k], r->gflops[k]);
        pipa_json_num_short(&j, mk[2 * k + 1],
                            r->gflops[k] / ((k == 2 ? P * o->dp * o->tp : 1) * o->peak));
    }
    bench_json_end(ctx, &j);
}

static void print_table(const bench_ctx_t *ctx, const train_opts_t *o, int n_p,
                        train_result_t (*res)[N_SCHED][2])
{
    printf("# %-12s %3s %4s %11s %8s %7s %8s %8s %9s %9s %7s %7s %7s %7s %7s %8s %6s %8s %6s "
           "%8s %6s\n", "schedule", "P", "M", "tokens/s", "speedup", "ideal", "of_ideal", "bubble",
           "bubble_th", "bubble_sim", "F_ms", "B_ms", "I_ms", "W_ms", "STEP_ms", "F_GF/s", "F_pk",
           "B_GF/s", "B_pk", "GFLOP/s", "pk");
    for (int s = 0; s < o->n_sched; s++)
        for (int m = 0; m < o->n_m; m++)
            for (int P = 1; P <= n_p; P++) {
                const train_result_t *r = &res[m][s][P - 1], *r1 = &res[m][s][0];
                int M = o->m_list[m], Mr = M / o->dp;  /* Mr: one replica's */
                double speedup = r->tokens_per_s / r1->tokens_per_s;
                double ideal = (double)P * Mr / (Mr + P - 1);
                pipa_sched sched = o->sched[s];
                char name[24];
                snprintf(name, sizeof name, "%s%s", pipa_sched_name(sched),
                         P == 1 && pipa_sched_interleaves(sched) ? "*" : "");
                char ms[5][16];
                const int kinds[] = {PIPA_ACT_F, PIPA_ACT_B, PIPA_ACT_I, PIPA_ACT_W, PIPA_ACT_STEP};
                for (int k = 0; k < 5; k++) {
                    if (r->cost[kinds[k]] > 0) snprintf(ms[k], 16, "%.2f", r->cost[kinds[k]] * 1e3);
                    else snprintf(ms[k], 16, "-");
                }
                printf("  %-12s %3d %4d %11.1f %8.3f %7.3f %7.1f%% %7.1f%% %8.1f%% %9.1f%%"
                       " %7s %7s %7s %7s %7s",
                       name, P, M, r->tokens_per_s, speedup, ideal, 100.0 * speedup / ideal,
                       100.0 * r->bubble, 100.0 * r->theory, 100.0 * r->simulated, ms[0], ms[1],
                       ms[2], ms[3], ms[4]);
                for (int k = 0; k < 3; k++)
                    printf(" %8.2f %5.1f%%", r->gflops[k],
                           100 * r->gflops[k] / ((k == 2 ? P * o->dp * o->tp : 1) * o->peak));
                printf("\n");
                json_row(ctx, o, sched, P, M, r, speedup, ideal);
            }
    if (n_p < 2) return;
    /* The targets, on this run. */
    int i8 = -1, s1 = -1, sz = -1, si = -1;
    for (int m = 0; m < o->n_m; m++)
        if (o->m_list[m] == 8) i8 = m;
    for (int s = 0; s < o->n_sched; s++) {
        if (o->sched[s] == PIPA_SCHED_1F1B) s1 = s;
        if (o->sched[s] == PIPA_SCHED_ZB1) sz = s;
        if (pipa_sched_interleaves(o->sched[s])) si = s;
    }
    if (i8 < 0 || s1 < 0) return;
    const train_result_t *a = res[i8][s1];
    double mr = 8.0 / o->dp;
    double of = a[1].tokens_per_s / a[0].tokens_per_s / (2.0 * mr / (mr + 1));
    printf("# target: 1f1b P=2 M=8 >= 90%% of ideal speedup: %.1f%% (%s)\n", 100 * of,
           of >= 0.9 ? "met" : "NOT met");
    if (sz >= 0)
        printf("# target: zb1 bubble below 1f1b's at P=2 M=8: %.1f%% vs %.1f%% (%s)\n",
               100 * res[i8][sz][1].bubble, 100 * a[1].bubble,
               res[i8][sz][1].bubble < a[1].bubble ? "met" : "NOT met");
    if (si >= 0)
        printf("# target: interleaved bubble below 1f1b's at P=2 M=8: %.1f%% vs %.1f%% (%s)\n",
               100 * res[i8][si][1].bubble, 100 * a[1].bubble,
               res[i8][si][1].bubble < a[1].bubble ? "met" : "NOT met");
}

/* With tensor parallelism: what world rank 0 sent in a step, between stages and inside its
 * tensor group. */
static void print_bytes(const train_opts_t *o, int n_p, train_result_t (*res)[N_SCHED][2])
{
    printf("# tp %d, --tp-send %s: bytes world rank 0 sent per step\n", o->tp,
           o->tp_send_whole ? "whole" : "slice");
    printf("# %-12s %3s %4s %14s %14s\n", "schedule", "P", "M", "between_stages", "tensor_group");
    for (int s = 0; s < o->n_sched; s++)
        for (int m = 0; m < o->n_m; m++)
            for (int P = 1; P <= n_p; P++)
                printf("  %-12s %3d %4d %14lld %14lld\n", pipa_sched_name(o->sched[s]), P,
                       o->m_list[m], (long long)res[m][s][P - 1].bytes_sent,
                       (long long)res[m][s][P - 1].tp_bytes);
}

/* With data parallelism: world rank 0's reductions in its data group per step. */
static void print_reduce(const train_opts_t *o, int n_p, train_result_t (*res)[N_SCHED][2])
{
    printf("# dp %d, --dp-overlap %s: world rank 0's gradient reductions per step (median)\n",
           o->dp, o->dp_overlap_off ? "off" : "on");
    printf("# %-12s %3s %4s %10s %10s %14s\n", "schedule", "P", "M", "reduce_ms", "wait_ms",
           "dp_bytes");
    for (int s = 0; s < o->n_sched; s++)
        for (int m = 0; m < o->n_m; m++)
            for (int P = 1; P <= n_p; P++) {
                const train_result_t *r = &res[m][s][P - 1];
                printf("  %-12s %3d %4d %10.3f %10.3f %14lld\n", pipa_sched_name(o->sched[s]), P,
                       o->m_list[m], r->reduce_s * 1e3, r->reduce_wait_s * 1e3,
                       (long long)r->dp_bytes);
            }
}

static void print_intro(const bench_ctx_t *ctx, const train_opts_t *o)
{
    bench_print_header(ctx, "training step tokens/s per schedule at P = 1, 2 vs ideal P*M/(M+P-1)");
    if (ctx->rank != 0) return;
    printf("# model: L %d, C %d, NH %d, I %d, vocab %d; microbatch B %d x T %d = %d tokens; %s; "
           "median of %d steps after %d warm-up step(s)\n",
           o->cfg.L, o->cfg.C, o->cfg.NH, o->cfg.I, TRAIN_VOCAB, o->B, o->T, o->B * o->T,
           opt_name(o->opt), o->reps,
           o->warmup);
    if (o->cfg.NKV || o->cfg.tie_embeddings)
        printf("# attention: %d key/value heads (grouped-query); %s LM head\n",
               pipa_config_nkv(&o->cfg), o->cfg.tie_embeddings ? "tied" : "untied");
    printf("# P=1: rank 0 alone, all layers and ends; P=2: layers even over the P*V virtual "
           "stages (interleaved V=%d); steps of every (schedule, P) alternate\n", o->V);
    printf("# * interleaved's P=1 baseline is 1f1b (one rank has nothing to interleave)\n");
    printf("# speedup = tokens/s / tokens/s at P=1 (same M, schedule); bubble = 1 - sum(F,B,I,W "
           "time) / (P*step); bubble_th: the schedule's formula;\n# bubble_sim: the plan simulated "
           "with this run's mean per-action times (columns *_ms, median step), comms free\n");
    if (o->tp > 1)
        printf("# tp %d: every stage is %d tensor ranks (P=1: ranks 0..%d); times are tensor rank "
               "0's pipeline's; between stages: %s\n", o->tp, o->tp, o->tp - 1,
               o->tp_send_whole ? "the whole activation" : "1/tp shares, all-gathered");
    if (o->dp > 1)
        printf("# dp %d: %d replicas of each pipeline (P=1: ranks 0..%d), each running M/%d "
               "microbatches; M, tokens/s: the global batch; times, bubbles: replica 0's; ideal, "
               "bubble_th: M/%d\n", o->dp, o->dp, o->dp * o->tp - 1, o->dp, o->dp);
    bench_print_layout(ctx, o->dp, o->tp);
    if (ctx->size == 1) printf("# world of one rank: P=2 not measured (use pipa-run -n 2)\n");
    fflush(stdout);
}

int bench_train(bench_ctx_t *ctx, int argc, char **argv)
{
    train_opts_t o;
    int help = 0;
    int who, bad = parse_train(ctx, argc, argv, &o, &help);
    /* Each rank printed its own complaint; all stop together, whichever rank had one. */
    pipa_status mine = bad ? pipa_status_set_error(PIPA_ERR_ARG, "bad options") : PIPA_OK;
    if (pipa_agree(&ctx->world, mine, &who) != PIPA_OK)
        return 2;
    if (help) {
        if (ctx->rank == 0) train_usage(stdout);
        return 0;
    }
    int dt = o.dp * o.tp;  /* ranks of one stage in every replica */
    if (ctx->size > 2 * dt) {
        if (dt == 1) fprintf(stderr, "pipa-bench train: run it on 1 or 2 ranks (pipa-run -n 2)\n");
        else fprintf(stderr, "pipa-bench train: run it on %d or %d ranks with --dp %d --tp %d\n",
                     dt, 2 * dt, o.dp, o.tp);
        return 2;
    }
    print_intro(ctx, &o);
    const char *isa;
    o.peak = bench_fma_peak(&isa);  // every rank at once: the cores as loaded as in a P = 2 run
    if (ctx->rank == 0) bench_print_peak(o.peak, isa);
    int n_p = ctx->size == 2 * dt ? 2 : 1;
    train_result_t (*res)[N_SCHED][2] = calloc((size_t)o.n_m, sizeof *res);
    if (!res) {
        fprintf(stderr, "pipa-bench train: out of memory\n");
        return 1;
    }
    pipa_status s = PIPA_OK;
    who = -1;
    for (int m = 0; m < o.n_m && s == PIPA_OK; m++)
        s = measure_m(ctx, &o, o.m_list[m], n_p, res[m], &who);
    if (s == PIPA_OK && ctx->rank == 0) print_table(ctx, &o, n_p, res);
    if (s == PIPA_OK && ctx->rank == 0 && o.tp > 1) print_bytes(&o, n_p, res);
    if (s == PIPA_OK && ctx->rank == 0 && o.dp > 1) print_reduce(&o, n_p, res);
    free(res);
    if (s != PIPA_OK && (who < 0 || ctx->rank == 0))
        fprintf(stderr, "pipa-bench train: rank %d: %s\n", who < 0 ? ctx->rank : who,
                pipa_last_error());
    if (s != PIPA_OK) return 1;
    return 0;
}
