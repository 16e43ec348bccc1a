/* pipa-demo_sched.c: demo 5, the four schedules side by side. The same model trains on the same
 * batch for one warm-up step and SCHED_REPS timed steps under GPipe, 1F1B, interleaved 1F1B
 * (V = 2 chunks per rank) and ZB-H1, each from the same seeded weights. Per schedule: the step
 * time (median), the measured bubble, the schedule's analytic bubble, the simulated bubble (the
 * plan run through pipa_plan_simulate with the per-kind costs measured in this very run), the
 * peak of live activations per rank, and the loss, which must be bit-identical across schedules
 * (gradients accumulate in microbatch order whatever the schedule): if it is not, the demo fails.
 *
 * Step time: like demo 4, on the machine-wide clock, from the last rank entering the step (no
 * stage can start before: the step opens with a barrier) to the last rank done. Measured bubble:
 * 1 - sum over ranks of the time in F, B, I, W, STEP / (P * step time): busy as the runtime and
 * the simulator define it (pipa_act_is_busy), so the two are comparable.
 * Left out: communication costs in the simulation (0: on shm they are microseconds), more than
 * V = 2 chunks, and data beyond a synthetic batch. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "pipa-demo.h"
#include "runtime/runtime.h"
#include "plan/split.h"
#include "runtime/trace.h"

#define SCHED_REPS 3     /* timed steps after the warm-up step */
#define SCHED_COUNT 4
#define SCHED_V 2        /* chunks per rank of the interleaved schedule */

static const pipa_sched sched_order[SCHED_COUNT] = {PIPA_SCHED_GPIPE, PIPA_SCHED_1F1B,
                                                    PIPA_SCHED_INTERLEAVED, PIPA_SCHED_ZB1};

/* One rank's figures of one step, gathered at rank 0. */
typedef struct {
    double enter, done;              /* pipa_now() entering the step's barrier / at my end */
    double busy_kind[PIPA_ACT_COUNT];
    double loss;
    int64_t peak_live, slot_bytes;
} rank_step_t;

/* One schedule's result, at rank 0. */
typedef struct {
    pipa_sched sched;
    int V;
    int skipped;
    char why[160];                   /* why it was skipped */
    double step_s;                   /* median step time */
    double bubble, theory, simulated;
    double cost[PIPA_ACT_COUNT];     /* mean seconds per action of each kind, over all ranks */
    int count[PIPA_ACT_COUNT];       /* actions of each kind, all ranks */
    double loss[1 + SCHED_REPS];     /* every step's loss, warm-up first */
    int ranks_agree;                 /* every rank reported the same loss bits */
    rank_step_t *ranks;              /* (P) of the median step */
} sched_row_t;

static int bits_equal(double a, double b) { return memcmp(&a, &b, sizeof a) == 0; }

/* Whether the schedule runs here; if not, why (the same verdict on every rank). */
static int sched_possible(const demo_setup_t *su, pipa_sched s, char *why, size_t len)
{
    if (!pipa_sched_interleaves(s)) return 1;
    if (su->P < 2) {
        snprintf(why, len, "needs P >= 2 ranks (with one rank there is nothing to interleave)");
        return 0;
    }
    if (su->P * SCHED_V > su->cfg.L) {
        snprintf(why, len, "needs P*V = %d*%d = %d layers, the model has %d (give --layers %d)",
                 su->P, SCHED_V, su->P * SCHED_V, su->cfg.L, su->P * SCHED_V);
        return 0;
    }
    return 1;
}

/* Rank 0: median step, bubbles, costs from the gathered steps all[(REPS, P)]. */
static pipa_status summarise(const demo_setup_t *su, const pipa_plan_t *plan,
                             const rank_step_t *all, sched_row_t *row)
{
    int P = su->P;
    double spans[SCHED_REPS];
    for (int r = 0; r < SCHED_REPS; r++) {
        const rank_step_t *s = all + (size_t)r * P;
        spans[r] = pipa_trace_step_span(&s[0].enter, &s[0].done, P, sizeof *s);
    }
    int med = demo_median_index(spans, SCHED_REPS);
    row->step_s = spans[med];
    memcpy(row->ranks, all + (size_t)med * P, (size_t)P * sizeof *row->ranks);
    memset(row->count, 0, sizeof row->count);
    for (int r = 0; r < P; r++)
        for (int i = 0; i < plan->len[r]; i++) row->count[plan->act[r][i].kind]++;
    pipa_plan_costs_t costs = {{0}};  // communication: 0
    double work = 0;
    for (int k = 0; k < PIPA_ACT_COUNT; k++) {
        double sum = 0;
        for (int r = 0; r < P; r++) sum += row->ranks[r].busy_kind[k];
        row->cost[k] = row->count[k] ? sum / row->count[k] : 0;
        if (pipa_act_is_busy(k)) work += sum;
    }
    costs.cost[PIPA_ACT_F] = row->cost[PIPA_ACT_F];
    costs.cost[PIPA_ACT_B] = row->cost[PIPA_ACT_B];
    costs.cost[PIPA_ACT_I] = row->cost[PIPA_ACT_I];
    costs.cost[PIPA_ACT_W] = row->cost[PIPA_ACT_W];
    costs.cost[PIPA_ACT_STEP] = row->cost[PIPA_ACT_STEP];
    row->bubble = 1.0 - work / (P * row->step_s);
    row->theory = pipa_plan_bubble_theory(row->sched, P, su->M, row->V);
    pipa_plan_sim_t sim;
    PIPA_TRY(pipa_plan_simulate(plan, &costs, &sim));
    row->simulated = sim.bubble;
    return PIPA_OK;
}

/* Trains under one schedule on every rank; rank 0 fills row. all: (REPS, P) gather space. */
static int run_schedule(demo_ctx_t *ctx, const demo_setup_t *su, sched_row_t *row,
                        rank_step_t *all)
{
    int P = ctx->P, V = row->V;
    int counts[PIPA_MAX_RANKS * SCHED_V];
    pipa_plan_t plan;
    char what[64];
    snprintf(what, sizeof what, "demo 5, %s", pipa_sched_name(row->sched));
    if (pipa_plan_generate(&plan, row->sched, P, su->M, V) != PIPA_OK) return demo_fail(ctx, what);
    pipa_status s = pipa_plan_check(&plan, NULL);
    if (s == PIPA_OK && V == 1) memcpy(counts, su->counts, (size_t)P * sizeof *counts);
    else if (s == PIPA_OK) s = pipa_split_even(su->cfg.L, P * V, counts);
    pipa_train_config_t cfg = {.model = su->cfg, .vocab = DEMO_VOCAB, .B = su->B, .T = su->T,
                               .opt = pipa_opt_defaults()};
    pipa_runtime_t tr;
    if (s == PIPA_OK) s = pipa_runtime_init(&tr, ctx->comm, &ctx->lay, &cfg, &plan, counts);
    int have_tr = s == PIPA_OK;  // a failed init has freed its part already
    demo_batch_t bctx = {.seed = su->cfg.seed, .B = su->B, .T = su->T};
    for (int step = -1; step < SCHED_REPS && s == PIPA_OK; step++) {  // step -1: the warm-up
        pipa_step_stats_t st;
        s = pipa_runtime_step(&tr, demo_batch, &bctx, &st);
        if (s != PIPA_OK) break;
        rank_step_t me = {.enter = st.enter_abs, .done = st.end_abs};
        memcpy(me.busy_kind, st.busy_kind, sizeof me.busy_kind);
        me.loss = st.loss;
        me.peak_live = st.peak_live;
        me.slot_bytes = (int64_t)st.slot_bytes;
        row->loss[step + 1] = st.loss;
        /* The warm-up's figures are gathered too (into the first row, overwritten next), so
         * every rank's loss is compared at every step. */
        rank_step_t *dst = all + (size_t)(step < 0 ? 0 : step) * P;
        s = pipa_gather(&ctx->world, 0, &me, sizeof me, dst);
        for (int r = 0; s == PIPA_OK && ctx->rank == 0 && r < P; r++)
            if (!bits_equal(dst[r].loss, st.loss)) row->ranks_agree = 0;
    }
    if (have_tr) pipa_runtime_free(&tr);
    if (s == PIPA_OK && ctx->rank == 0) s = summarise(su, &plan, all, row);
    pipa_plan_free(&plan);
    return s == PIPA_OK ? 0 : demo_fail(ctx, what);
}

/* ---- printing ------------------------------------------------------------------------------ */

static void print_rows(const demo_ctx_t *ctx, const demo_setup_t *su, const sched_row_t *rows)
{
    int P = ctx->P;
    printf("step: median of %d steps after a warm-up step, last rank ready to last rank done.\n"
           "bubble: 1 - (time in F, B, I, W, STEP summed over ranks) / (P * step); theory: the\n"
           "schedule's formula with B = 2F (ZB: I = W = F); simulated: this plan through the\n"
           "simulator with the mean F, B, I, W, STEP times measured here (all ranks), comms free.\n\n",
           SCHED_REPS);
    printf("%-12s %2s %9s %8s %8s %9s %8s %8s %8s %8s  %s\n", "schedule", "V", "step ms", "bubble",
           "theory", "simulated", "F ms", "B ms", "I ms", "W ms", "loss (last step)");
    for (int i = 0; i < SCHED_COUNT; i++) {
        const sched_row_t *w = &rows[i];
        if (w->skipped) {
            printf("%-12s %2d  skipped: %s\n", pipa_sched_name(w->sched), w->V, w->why);
            continue;
        }
        char ms[4][16];
        const int kinds[4] = {PIPA_ACT_F, PIPA_ACT_B, PIPA_ACT_I, PIPA_ACT_W};
        for (int k = 0; k < 4; k++) {
            if (w->count[kinds[k]]) snprintf(ms[k], sizeof ms[k], "%.3f", w->cost[kinds[k]] * 1e3);
            else snprintf(ms[k], sizeof ms[k], "-");
        }
        printf("%-12s %2d %9.2f %7.1f%% %7.1f%% %8.1f%% %8s %8s %8s %8s  %.9f (%a)\n",
               pipa_sched_name(w->sched), w->V, w->step_s * 1e3, 100 * w->bubble,
               100 * w->theory, 100 * w->simulated, ms[0], ms[1], ms[2], ms[3],
               w->loss[SCHED_REPS], w->loss[SCHED_REPS]);
    }
    printf("\npeak live activations per rank: count x one slot = bytes (one slot: a microbatch's\n"
           "saved activations for the layers of one chunk)\n%-12s", "schedule");
    for (int r = 0; r < P; r++) {
        char label[24];
        snprintf(label, sizeof label, "rank %d", r);
        printf(" %24s", label);
    }
    printf("\n");
    for (int i = 0; i < SCHED_COUNT; i++) {
        const sched_row_t *w = &rows[i];
        if (w->skipped) continue;
        printf("%-12s", pipa_sched_name(w->sched));
        for (int r = 0; r < P; r++) {
            char cell[64], a[32], b[32];
            const rank_step_t *k = &w->ranks[r];
            snprintf(cell, sizeof cell, "%lld x %s = %s", (long long)k->peak_live,
                     demo_bytes((double)k->slot_bytes, a, sizeof a),
                     demo_bytes((double)k->peak_live * k->slot_bytes, b, sizeof b));
            printf(" %24s", cell);
        }
        printf("\n");
    }
    printf("\nWhat differs (P = %d stages, M = %d microbatches):\n"
           "  gpipe        all M forwards, then all M backwards: bubble (P-1)/(M+P-1), and every\n"
           "               rank holds all M microbatches' activations at the peak.\n"
           "  1f1b         P-r-1 warm-up forwards on rank r, then one forward / one backward:\n"
           "               the same bubble as GPipe, but at most P activations live (rank 0).\n"
           "  interleaved  V chunks per rank (virtual stages round-robin): fill and drain take\n"
           "               1/V as long, bubble (P-1)/(V*M+P-1), for V times the messages and\n"
           "               more warm-up activations.\n"
           "  zb1          the backward split into I (input gradient, on the critical path) and\n"
           "               W (weight gradient, deferred): W's fill the drain; bubble\n"
           "               (P-1)/(3M+P-1) if I = W = F, with 1F1B's peak memory (rank 0).\n"
           "The theory assumes equal stages, B = 2F and free transfers; the simulated figure\n"
           "uses this run's real costs (the ends make the first and last stage heavier, I + W\n"
           "cost more than one B, the optimizer step adds a tail), and the measured one adds\n"
           "waiting for messages and, with more ranks than cores, waiting for a core.\n",
           su->P, su->M);
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    if (cpus > 0 && cpus < P)
        printf("note: %d ranks share %ld cpus: measured step times and bubbles include waiting\n"
               "for a core and do not show the schedules' own behaviour.\n", P, cpus);
}

static void json_rows(pipa_json_t *j, const demo_ctx_t *ctx, const demo_setup_t *su,
                      const sched_row_t *rows, int identical)
{
    static const char *const kind_keys[] = {"F", "B", "I", "W", "STEP"};
    static const int kinds[] = {PIPA_ACT_F, PIPA_ACT_B, PIPA_ACT_I, PIPA_ACT_W, PIPA_ACT_STEP};
    pipa_json_begin_object(j, "demo5");
    pipa_json_str(j, "title", "schedules side by side");
    demo_json_setup(j, su);
    pipa_json_int(j, "repeats", SCHED_REPS);
    pipa_json_int(j, "vocab", DEMO_VOCAB);
    pipa_json_begin_array(j, "schedules");
    for (int i = 0; i < SCHED_COUNT; i++) {
        const sched_row_t *w = &rows[i];
        pipa_json_begin_object(j, NULL);
        pipa_json_str(j, "schedule", pipa_sched_name(w->sched));
        pipa_json_int(j, "chunks", w->V);
        pipa_json_bool(j, "skipped", w->skipped);
        if (w->skipped) {
            pipa_json_str(j, "reason", w->why);
            pipa_json_end_object(j);
            continue;
        }
        pipa_json_num(j, "step_s", w->step_s);
        pipa_json_num(j, "bubble_measured", w->bubble);
        pipa_json_num(j, "bubble_theory", w->theory);
        pipa_json_num(j, "bubble_simulated", w->simulated);
        pipa_json_begin_object(j, "cost_s");
        for (int k = 0; k < 5; k++)
            if (w->count[kinds[k]]) pipa_json_num(j, kind_keys[k], w->cost[kinds[k]]);
        pipa_json_end_object(j);
        pipa_json_num(j, "loss", w->loss[SCHED_REPS]);
        char hex[64];
        snprintf(hex, sizeof hex, "%a", w->loss[SCHED_REPS]);
        pipa_json_str(j, "loss_hex", hex);
        pipa_json_begin_array(j, "losses");
        for (int s = 0; s <= SCHED_REPS; s++) pipa_json_num(j, NULL, w->loss[s]);
        pipa_json_end_array(j);
        pipa_json_begin_array(j, "ranks");
        for (int r = 0; r < ctx->P; r++) {
            const rank_step_t *k = &w->ranks[r];
            double busy = 0;
            for (int q = 0; q < 4; q++) busy += k->busy_kind[kinds[q]];
            pipa_json_begin_object(j, NULL);
            pipa_json_int(j, "rank", r);
            pipa_json_int(j, "peak_live", k->peak_live);
            pipa_json_int(j, "slot_bytes", k->slot_bytes);
            pipa_json_int(j, "peak_activation_bytes", k->peak_live * k->slot_bytes);
            pipa_json_num(j, "busy_s", busy);
            pipa_json_end_object(j);
        }
        pipa_json_end_array(j);
        pipa_json_end_object(j);
    }
    pipa_json_end_array(j);
    pipa_json_bool(j, "loss_identical", identical);
    pipa_json_end_object(j);
}

/* ---- the demo ------------------------------------------------------------------------------ */

int demo_schedules(demo_ctx_t *ctx, const demo_setup_t *su)
{
    demo_print_title(ctx, su, "schedules side by side");
    if (ctx->rank == 0)
        printf("batch   M=%d microbatches of B=%d x T=%d tokens (vocab %d), the same every step;\n"
               "        AdamW, every schedule from the same seeded weights\n",
               su->M, su->B, su->T, DEMO_VOCAB);
    if (ctx->rank == 0 && ctx->opt->split)  // said, not silently ignored
        printf("        interleaved: layers as even as possible over its P*V = %d virtual stages "
               "(--split is for one chunk per rank)\n", ctx->P * SCHED_V);
    sched_row_t rows[SCHED_COUNT];
    memset(rows, 0, sizeof rows);
    rank_step_t *ranks = calloc((size_t)SCHED_COUNT * ctx->P, sizeof *ranks);
    rank_step_t *all = calloc((size_t)SCHED_REPS * ctx->P, sizeof *all);
    if (!ranks || !all) {
        free(ranks), free(all);
        pipa_status_set_error(PIPA_ERR_NOMEM, "out of memory");
        return demo_fail(ctx, "demo 5");
    }
    int rc = 0;
    for (int i = 0; i < SCHED_COUNT && rc == 0; i++) {
        sched_row_t *w = &rows[i];
        w->sched = sched_order[i];
        w->V = pipa_sched_interleaves(w->sched) ? SCHED_V : 1;
        w->ranks = ranks + (size_t)i * ctx->P;
        w->ranks_agree = 1;
        if (!sched_possible(su, w->sched, w->why, sizeof w->why)) w->skipped = 1;
        else rc = run_schedule(ctx, su, w, all);
    }
    free(all);
    int identical = 1, ref = -1;
    for (int i = 0; i < SCHED_COUNT && rc == 0; i++) {
        if (rows[i].skipped) continue;
        if (!rows[i].ranks_agree) identical = 0;
        if (ref < 0) ref = i;
        for (int s = 0; s <= SCHED_REPS; s++)
            if (!bits_equal(rows[i].loss[s], rows[ref].loss[s])) identical = 0;
    }
    if (rc == 0 && ctx->rank == 0) {
        print_rows(ctx, su, rows);
        if (identical)
            printf("loss bit-identical across schedules and ranks, every step (%d steps): yes\n",
                   1 + SCHED_REPS);
        else
            printf("loss bit-identical across schedules and ranks: NO: a schedule changed the "
                   "result\n");
    }
    if (rc == 0 && ctx->json) json_rows(ctx->json, ctx, su, rows, identical);
    free(ranks);
    if (rc == 0 && ctx->rank == 0 && !identical) rc = 1;
    return rc;
}
