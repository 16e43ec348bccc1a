/* pipa-demo_layouts.c: demo 6, the original demo's "comparison with other strategies", measured.
 * The same model trains on the same global batch, one warm-up and LAY_REPS timed 1F1B steps,
 * under several layouts of the same W ranks, each a pipa_layout_t with its own runtime, freed
 * before the next:
 *   part 1   the layout the original names: 8 ranks = 2 pipeline stages x 4 tensor-parallel
 *            (other worlds: pp 2 x tp W/2 where it fits, else pp W; --pp, --dp, --tp choose
 *            another): its grid, memory, busy time and bytes per rank and per stage, and
 *            the same run again sending whole activations between the stages instead of
 *            Megatron's 1/tp shares gathered on arrival (bytes, both ways);
 *   part 2   the same model as pp = W, tp = W and dp = W beside it (each where it fits; a
 *            layout that does not says why).
 * Rank 0 first trains the model alone (a world of one: the one-process run) for the same steps:
 * every layout's loss, every step, must be within LAY_TOLERANCE relative of it, or the demo fails
 * (pp alone does the same arithmetic: its loss has the same bits).
 * Step time: the median of the timed steps, from the last rank entering the step to the last
 * rank done (pipa_trace_step_span); measured bubble: 1 - (busy time summed over the ranks) /
 * (W * step), against 1F1B's (P-1)/(M+P-1) with M the microbatches of each replica.
 * On fewer cores than ranks every time includes waiting for a core: the output says so.
 * Left out: the other schedules (demo 5 compares them), ZeRO, layouts mixing all three. */
#include "pipa-demo_layouts.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "plan/split.h"
#include "runtime/grid.h"
#include "runtime/trace.h"

/* ---- which layouts ----------------------------------------------------------------------- */

/* The training configuration of every run. */
static pipa_train_config_t train_config(const demo_setup_t *su, int send_whole)
{
    return (pipa_train_config_t){.model = su->cfg, .vocab = DEMO_VOCAB, .B = su->B, .T = su->T,
                                 .opt = pipa_opt_defaults(), .tp_send_whole = send_whole};
}

/* Whether layout (dp, pp, tp) of `world` ranks fits the model, the vocabulary and the global
 * batch of M microbatches; the error names what does not. */
static pipa_status layout_check(const demo_setup_t *su, int world, int dp, int pp, int tp)
{
    pipa_layout_t l;
    pipa_train_config_t cfg = train_config(su, 0);
    PIPA_TRY(pipa_layout_init(&l, world, 0, dp, pp, tp));
    PIPA_TRY(pipa_grid_check(&l, &su->cfg, 1, su->M));
    return pipa_runtime_check_tp(&cfg, tp);  // also: the vocabulary divides
}

pipa_status demo_layouts_choose(const demo_opts_t *o, int world, int rank, demo_setup_t *su)
{
    if (o->split)
        return pipa_status_set_error(PIPA_ERR_ARG, "--split does not apply to demo 6: each of its "
                                     "layouts splits the layers as evenly as possible");
    pipa_layout_t *l = &su->lay;
    if (o->pp || o->dp || o->tp) {  // the user's layout, checked before anything runs
        PIPA_TRY(pipa_grid_layout(l, world, rank, o->dp, o->pp, o->tp));
        PIPA_TRY(layout_check(su, world, l->dp, l->pp, l->tp));
    } else if (world >= 4 && world % 2 == 0 && layout_check(su, world, 1, 2, world / 2) == PIPA_OK) {
        PIPA_TRY(pipa_layout_init(l, world, rank, 1, 2, world / 2));
    } else {
        PIPA_TRY(pipa_layout_init(l, world, rank, 1, world, 1));
        PIPA_TRY(layout_check(su, world, 1, world, 1));
    }
    su->P = l->pp;
    return pipa_split_even(su->cfg.L, su->P, su->counts);
}

static void row_set(lay_row_t *w, int world, int dp, int pp, int tp, int M, int send_whole)
{
    w->world = world, w->dp = dp, w->pp = pp, w->tp = tp;
    w->send_whole = send_whole && tp > 1;  // without a tensor group: the same run
    w->M = M / dp;
    w->same_as = -1;
    w->ranks_agree = 1;
}

/* The runs, and which of them run: the same verdict on every rank (nothing here depends on it). */
static void rows_init(const demo_ctx_t *ctx, const demo_setup_t *su, lay_result_t *r)
{
    int W = ctx->P, M = su->M;
    const pipa_layout_t *m = &su->lay;
    row_set(&r->row[LAY_REF], 1, 1, 1, 1, M, 0);
    row_set(&r->row[LAY_MAIN], W, m->dp, m->pp, m->tp, M, 0);
    row_set(&r->row[LAY_WHOLE], W, m->dp, m->pp, m->tp, M, 1);
    row_set(&r->row[LAY_PP], W, 1, W, 1, M, 0);
    row_set(&r->row[LAY_TP], W, 1, 1, W, M, 0);
    row_set(&r->row[LAY_DP], W, W, 1, 1, M, 0);  // skipped below unless W divides M
    for (int i = 0; i < LAY_N; i++) {
        lay_row_t *w = &r->row[i];
        for (int k = 0; k < i && w->same_as < 0; k++) {
            const lay_row_t *o = &r->row[k];
            if (o->world == w->world && o->dp == w->dp && o->pp == w->pp && o->tp == w->tp &&
                o->send_whole == w->send_whole)
                w->same_as = k, w->skipped = 1;
        }
        if (w->skipped) continue;
        pipa_status s = layout_check(su, w->world, w->dp, w->pp, w->tp);
        if (s != PIPA_OK) {
            w->skipped = 1;
            snprintf(w->why, sizeof w->why, "%s", pipa_last_error());
        }
    }
}

/* ---- running one layout -------------------------------------------------------------------- */

/* My figures of a step. */
static void rank_fill(lay_rank_t *me, const pipa_runtime_t *tr, const pipa_layout_t *l,
                      const pipa_step_stats_t *st)
{
    me->member = 1;
    me->p = l->p, me->d = l->d, me->t = l->t;
    me->first = tr->chunk[0].first, me->count = tr->chunk[0].count;
    me->weight_bytes = (int64_t)(tr->tensors.total * sizeof(float));
    me->grad_bytes = tr->grads ? me->weight_bytes : 0;
    me->opt_bytes = tr->opt.state ? (int64_t)(2 * tr->opt.n * sizeof(float)) : 0;
    me->act_bytes = (int64_t)st->peak_live * (int64_t)st->slot_bytes;
    me->sends = st->sends;
    me->share_bytes = st->sends ? (int64_t)pipa_desc_bytes(&st->send_desc) : 0;
    me->stage_bytes = st->bytes_sent;
    me->tp_bytes = st->tp_bytes;
    me->dp_bytes = st->dp_bytes;
    me->enter = st->enter_abs, me->done = st->end_abs;
    me->busy_s = st->busy_s;
    me->tp_s = st->tp_s;
    me->dp_s = st->reduce_s;
    me->loss = st->loss;
}

/* My part of a layout: its plan (1F1B over its pp stages, M microbatches per replica) and
 * runtime; *have says whether tr holds one to free. */
static pipa_status layout_build(demo_ctx_t *ctx, const demo_setup_t *su, const lay_row_t *w,
                                pipa_layout_t *l, pipa_plan_t *plan, pipa_runtime_t *tr, int *have)
{
    int counts[PIPA_MAX_RANKS];
    PIPA_TRY(pipa_layout_init(l, w->world, ctx->rank, w->dp, w->pp, w->tp));
    PIPA_TRY(pipa_split_even(su->cfg.L, w->pp, counts));
    PIPA_TRY(pipa_plan_generate(plan, PIPA_SCHED_1F1B, w->pp, w->M, 1));
    pipa_train_config_t cfg = train_config(su, w->send_whole);
    pipa_status s = pipa_plan_check(plan, NULL);
    if (s == PIPA_OK) s = pipa_runtime_init(tr, ctx->comm, l, &cfg, plan, counts);
    *have = s == PIPA_OK;  // a failed init has freed its part already
    if (s != PIPA_OK) pipa_plan_free(plan);
    return s;
}

/* Trains under one layout on its ranks (the others only join the gathers); rank 0 collects
 * every step's records in all[(LAY_REPS, W)] (the warm-up's into the first row, overwritten). */
static pipa_status layout_train(demo_ctx_t *ctx, const demo_setup_t *su, lay_row_t *w,
                                lay_rank_t *all)
{
    int member = ctx->rank < w->world, have = 0, W = ctx->P;
    pipa_layout_t l;
    pipa_plan_t plan;
    pipa_runtime_t tr;
    pipa_status s = member ? layout_build(ctx, su, w, &l, &plan, &tr, &have) : PIPA_OK;
    demo_batch_t batch = {.seed = su->cfg.seed, .B = su->B, .T = su->T};
    for (int step = -1; step < LAY_REPS && s == PIPA_OK; step++) {  // step -1: the warm-up
        lay_rank_t me;
        memset(&me, 0, sizeof me);  // padding too: the bytes travel
        pipa_step_stats_t st;
        if (member) s = pipa_runtime_step(&tr, demo_batch, &batch, &st);
        if (s != PIPA_OK) break;
        if (member) rank_fill(&me, &tr, &l, &st);
        w->loss[step + 1] = me.loss;  // rank 0's: a member of every layout
        lay_rank_t *dst = all + (size_t)(step < 0 ? 0 : step) * W;
        s = pipa_gather(&ctx->world, 0, &me, sizeof me, dst);
        for (int r = 0; s == PIPA_OK && ctx->rank == 0 && r < w->world; r++)
            if (memcmp(&dst[r].loss, &me.loss, sizeof me.loss) != 0) w->ranks_agree = 0;
    }
    if (have) {
        pipa_runtime_free(&tr);
        pipa_plan_free(&plan);
    }
    return s;
}

/* Rank 0: the median step and the row's sums from all[(LAY_REPS, W)]. */
static void summarise(lay_row_t *w, const lay_rank_t *all, int W)
{
    double spans[LAY_REPS];
    for (int k = 0; k < LAY_REPS; k++) {
        const lay_rank_t *s = all + (size_t)k * W;
        spans[k] = pipa_trace_step_span(&s[0].enter, &s[0].done, w->world, sizeof *s);
    }
    int med = demo_median_index(spans, LAY_REPS);
    w->step_s = spans[med];
    memcpy(w->ranks, all + (size_t)med * W, (size_t)W * sizeof *w->ranks);
    double busy = 0;
    for (int r = 0; r < w->world; r++) {
        const lay_rank_t *k = &w->ranks[r];
        busy += k->busy_s;
        w->stage_bytes += k->stage_bytes, w->tp_bytes += k->tp_bytes, w->dp_bytes += k->dp_bytes;
        w->sends += k->sends;
        int64_t mem = k->weight_bytes + k->grad_bytes + k->opt_bytes + k->act_bytes;
        if (mem > w->max_memory) w->max_memory = mem;
    }
    w->bubble = 1.0 - busy / (w->world * w->step_s);
    w->theory = pipa_plan_bubble_theory(PIPA_SCHED_1F1B, w->pp, w->M, 1);
}

/* Rank 0: the row's losses against the one-process run's. */
static void compare(lay_row_t *w, const lay_row_t *ref)
{
    w->identical = 1;
    for (int k = 0; k <= LAY_REPS; k++) {
        double d = fabs(w->loss[k] - ref->loss[k]);
        double rel = d / fabs(ref->loss[k]);
        if (!(d <= w->max_abs)) w->max_abs = d;  // a NaN sticks
        if (!(rel <= w->max_rel)) w->max_rel = rel;
        if (memcmp(&w->loss[k], &ref->loss[k], sizeof w->loss[k]) != 0) w->identical = 0;
    }
}

static int layout_run(demo_ctx_t *ctx, const demo_setup_t *su, lay_result_t *r, int i,
                      lay_rank_t *all)
{
    lay_row_t *w = &r->row[i];
    if (w->skipped) return 0;
    char what[64];
    snprintf(what, sizeof what, "demo 6, dp %d x pp %d x tp %d%s", w->dp, w->pp, w->tp,
             w->send_whole ? " (whole activations)" : "");
    if (layout_train(ctx, su, w, all) != PIPA_OK) return demo_fail(ctx, what);
    if (ctx->rank != 0) return 0;
    summarise(w, all, ctx->P);
    compare(w, &r->row[LAY_REF]);
    if (!(w->max_rel <= LAY_TOLERANCE) || !w->ranks_agree) r->ok = 0;
    return 0;
}

/* ---- the demo ------------------------------------------------------------------------------ */

static void print_intro(const demo_ctx_t *ctx, const demo_setup_t *su, const lay_result_t *r)
{
    char what[48];
    demo_print_title(ctx, su, "pipeline, tensor and data parallelism side by side");
    if (ctx->rank != 0) return;
    printf("batch   M=%d microbatches of B=%d x T=%d tokens (vocab %d) per step, the same every\n"
           "        step; AdamW; 1F1B; every layout from the same seeded weights\n"
           "        (split: the layers of part 1's layout, %s)\n", su->M, su->B, su->T,
           DEMO_VOCAB, pipa_layout_describe(&su->lay, what, sizeof what));
    if (r->cpus > 0 && r->cpus < ctx->P)
        printf("note    %d ranks share %ld online cpus: the step times, busy times and bubbles below\n"
               "        include waiting for a core (a rank that is ready but not running); the\n"
               "        results (losses, bytes, memory) do not depend on it.\n", ctx->P, r->cpus);
}

int demo_layouts(demo_ctx_t *ctx, const demo_setup_t *su)
{
    int W = ctx->P;
    lay_result_t *r = calloc(1, sizeof *r);
    lay_rank_t *ranks = calloc((size_t)LAY_N * W, sizeof *ranks);
    lay_rank_t *all = calloc((size_t)LAY_REPS * W, sizeof *all);
    if (!r || !ranks || !all) {
        free(r), free(ranks), free(all);
        pipa_status_set_error(PIPA_ERR_NOMEM, "out of memory");
        return demo_fail(ctx, "demo 6");
    }
    r->cpus = sysconf(_SC_NPROCESSORS_ONLN);
    r->ok = 1;
    for (int i = 0; i < LAY_N; i++) r->row[i].ranks = ranks + (size_t)i * W;
    rows_init(ctx, su, r);
    print_intro(ctx, su, r);
    int rc = layout_run(ctx, su, r, LAY_REF, all);
    if (rc == 0 && ctx->rank == 0) {
        char what[48];
        printf("\n-- part 1: %d ranks as %s --\n", W, pipa_layout_describe(&su->lay, what, sizeof what));
        fflush(stdout);
    }
    if (rc == 0 && demo_grid_show(ctx, &su->lay) != 0) rc = -1;
    if (rc == 0) rc = layout_run(ctx, su, r, LAY_MAIN, all);
    if (rc == 0) rc = layout_run(ctx, su, r, LAY_WHOLE, all);
    if (rc == 0 && ctx->rank == 0) demo_layouts_print_main(ctx, su, r);
    for (int i = LAY_PP; i < LAY_N && rc == 0; i++) rc = layout_run(ctx, su, r, i, all);
    if (rc == 0 && ctx->rank == 0) demo_layouts_print_table(ctx, su, r);
    if (rc == 0 && ctx->json) demo_layouts_json(ctx->json, ctx, su, r);
    if (rc == 0 && ctx->rank == 0 && !r->ok) rc = 1;
    free(r), free(ranks), free(all);
    return rc;
}
