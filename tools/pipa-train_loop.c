/* pipa-train_loop.c: the training run of pipa-train: builds the runtime, resumes from a
 * checkpoint, runs the steps, gathers every rank's wall and busy time at rank 0 for the
 * progress line and the measured bubble, saves checkpoints, and at the end prints the summary
 * and writes the JSON document (config, per-step records, parameter hashes (pipa-train_params.c),
 * peak activations).
 *
 * Failures every rank can see differently (a checkpoint shard, an allocation) go through
 * train_agree, so all ranks stop together with one message; a step that fails mid-way (a peer
 * died, a deadline passed) is printed by the rank that saw it and the launcher stops the rest. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/cli.h"
#include "pipa-train.h"
#include "runtime/timeline_gather.h"
#include "runtime/trace.h"
#include "plan/split.h"

/* What each rank sends rank 0 after a step. */
typedef struct {
    double wall, busy;        /* seconds: barrier to my STEP done; in F, B, I, W, STEP */
    double enter_abs, end_abs;/* pipa_now() entering the step's barrier, at my end */
    double peak_live;         /* most slots live at once in this step */
    double slot_bytes;        /* activation bytes of one slot */
    double reduce;            /* seconds in the data group's gradient reductions (dp > 1) */
    double reduce_wait;       /* of which waiting for them before STEP */
    double bytes_sent;        /* between stages */
    double tp_bytes, tp_s;    /* sent and seconds in the tensor group's collectives (tp > 1) */
} rank_rec_t;

typedef struct {
    train_ctx_t *ctx;
    pipa_runtime_t tr;
    int64_t data_step;        /* 0-based step the batch callback draws from */
    rank_rec_t *recs;         /* (P) rank 0: this step's records */
    /* rank 0: figures for the summary */
    int64_t first_step, last_step, timed_steps;
    double first_loss, last_loss;
    double timed_wall, timed_busy;   /* sums over steps after the first (warm-up) */
    double timed_reduce;      /* sum over those steps of the ranks' mean reduction time */
    double timed_reduce_wait; /* the same, waiting before STEP only */
    double step_tp_s, step_tp_bytes;    /* this step's mean over ranks in the tensor groups'
                                         * collectives (tp > 1) */
    double timed_tp_s, timed_tp_bytes;  /* their sums over the steps after the first */
    int *peak_live;           /* (P) max over steps */
    double *slot_bytes;       /* (P) */
} run_t;

static void batch(void *p, int mb, int32_t *tokens, int32_t *targets)
{
    const run_t *run = p;
    const train_ctx_t *ctx = run->ctx;
    pipa_corpus_batch(&ctx->corpus, run->data_step, mb, ctx->cfg.B, ctx->cfg.T, tokens, targets);
}

/* ---- agreement -------------------------------------------------------------------------- */

int train_agree(train_ctx_t *ctx, pipa_status s, const char *what)
{
    if (s != PIPA_OK && what) {
        char why[512];  // pipa_status_set_error overwrites the message it would read
        snprintf(why, sizeof why, "%s", pipa_last_error());
        pipa_status_set_error(s, "%s: %s", what, why);
    }
    int who;
    if (pipa_agree(&ctx->world, s, &who) == PIPA_OK) return 0;
    if (who < 0) {
        fprintf(stderr, "pipa-train: rank %d: %s\n", ctx->rank, pipa_last_error());
        return -2;
    }
    if (ctx->rank == 0 && who == 0) fprintf(stderr, "pipa-train: %s\n", pipa_last_error());
    else if (ctx->rank == 0) fprintf(stderr, "pipa-train: rank %d: %s\n", who, pipa_last_error());
    return -1;
}

/* ---- JSON ------------------------------------------------------------------------------- */

static void json_config(train_ctx_t *ctx, int64_t start)
{
    const train_opts_t *o = ctx->opt;
    pipa_json_t *j = ctx->json;
    pipa_json_begin_object(j, "config");
    pipa_json_int(j, "world", ctx->W);
    pipa_json_int(j, "pp", ctx->P);
    pipa_json_int(j, "dp", ctx->lay.dp);
    if (ctx->lay.dp > 1) pipa_json_str(j, "dp_overlap", ctx->opt->dp_overlap_off ? "off" : "on");
    pipa_json_int(j, "tp", ctx->lay.tp);
    if (ctx->lay.tp > 1) pipa_json_str(j, "tp_send", o->tp_send_whole ? "whole" : "slice");
    pipa_json_int(j, "chunks", o->V);
    pipa_json_str(j, "schedule", o->plan_path ? NULL : pipa_sched_name(o->sched));
    pipa_json_str(j, "plan", o->plan_path);
    pipa_json_int(j, "microbatches", o->M);
    pipa_json_int(j, "batch", o->B);
    pipa_json_int(j, "seq", o->T);
    pipa_json_int(j, "tokens_per_step", (int64_t)o->M * o->B * o->T);
    pipa_json_int(j, "layers", o->L);
    pipa_json_int(j, "hidden", o->C);
    pipa_json_int(j, "heads", o->NH);
    pipa_json_int(j, "kv_heads", o->NKV ? o->NKV : o->NH);
    pipa_json_int(j, "tie_embeddings", o->tie);
    pipa_json_int(j, "intermediate", o->I);
    pipa_json_int(j, "vocab", ctx->cfg.vocab);
    pipa_json_int(j, "parameters", ctx->params);
    char seed[24];  // a string: seeds go up to 2^64 - 1, past what JSON readers hold exactly
    snprintf(seed, sizeof seed, "%llu", (unsigned long long)o->seed);
    pipa_json_str(j, "seed", seed);
    pipa_json_str(j, "optimizer", o->optimizer == PIPA_OPT_ADAMW ? "adamw" : "sgd");
    pipa_json_num(j, "lr", o->lr);
    pipa_json_num(j, "weight_decay", ctx->cfg.opt.weight_decay);
    pipa_json_str(j, "corpus", o->corpus);
    pipa_json_int(j, "corpus_bytes", (int64_t)ctx->corpus.n);
    pipa_json_int(j, "steps", o->steps);
    pipa_json_int(j, "start_step", start);
    pipa_json_str(j, "resume", o->resume_dir);
    pipa_json_str(j, "save", o->save_dir);
    int64_t counts[PIPA_MAX_RANKS * PIPA_MAX_CHUNKS];
    for (int s = 0; s < ctx->P * o->V; s++) counts[s] = ctx->counts[s];
    pipa_json_int_array(j, "split", counts, ctx->P * o->V);
    pipa_json_end_object(j);
    pipa_json_begin_object(j, "plan");
    int64_t peak[PIPA_PLAN_MAX_P];
    for (int r = 0; r < ctx->P; r++) peak[r] = ctx->report.peak_live[r];
    pipa_json_int_array(j, "peak_live", peak, ctx->P);
    if (ctx->bubble_theory >= 0) pipa_json_num(j, "bubble_theory", ctx->bubble_theory);
    else pipa_json_null(j, "bubble_theory");
    pipa_json_num(j, "bubble_simulated", ctx->bubble_sim);
    pipa_json_end_object(j);
}

/* Every rank's bytes between stages and in its tensor group, and seconds in the latter. */
static void json_tp_step(run_t *run)
{
    pipa_json_t *j = run->ctx->json;
    const char *names[3] = {"bytes_sent", "tp_bytes", "tp_s"};
    for (int k = 0; k < 3; k++) {
        pipa_json_begin_array(j, names[k]);
        for (int r = 0; r < run->ctx->W; r++) {
            const rank_rec_t *x = &run->recs[r];
            double v = k == 0 ? x->bytes_sent : k == 1 ? x->tp_bytes : x->tp_s;
            if (k < 2) pipa_json_int(j, NULL, (int64_t)v);
            else pipa_json_num(j, NULL, v);
        }
        pipa_json_end_array(j);
    }
}

/* One step's record: 1-based step number, the loss exactly (17 digits and hex), speed, bubble,
 * and every rank's wall and busy seconds. */
static void json_step(run_t *run, int64_t step, double loss, double tok_s, double bubble)
{
    pipa_json_t *j = run->ctx->json;
    char hex[40];
    snprintf(hex, sizeof hex, "%a", loss);
    pipa_json_begin_object(j, NULL);
    pipa_json_int(j, "step", step);
    pipa_json_num(j, "loss", loss);
    pipa_json_str(j, "loss_hex", hex);
    pipa_json_num(j, "tokens_per_s", tok_s);
    pipa_json_num(j, "bubble_measured", bubble);
    pipa_json_begin_array(j, "wall_s");
    for (int r = 0; r < run->ctx->W; r++) pipa_json_num(j, NULL, run->recs[r].wall);
    pipa_json_end_array(j);
    pipa_json_begin_array(j, "busy_s");
    for (int r = 0; r < run->ctx->W; r++) pipa_json_num(j, NULL, run->recs[r].busy);
    pipa_json_end_array(j);
    if (run->ctx->lay.dp > 1) {
        pipa_json_begin_array(j, "reduce_s");
        for (int r = 0; r < run->ctx->W; r++) pipa_json_num(j, NULL, run->recs[r].reduce);
        pipa_json_end_array(j);
        pipa_json_begin_array(j, "reduce_wait_s");
        for (int r = 0; r < run->ctx->W; r++) pipa_json_num(j, NULL, run->recs[r].reduce_wait);
        pipa_json_end_array(j);
    }
    if (run->ctx->lay.tp > 1) json_tp_step(run);
    pipa_json_end_object(j);
}

/* ---- steps ------------------------------------------------------------------------------ */

/* Gathers this step's per-rank figures at rank 0. *span is the step's time on the machine-wide
 * clock (pipa_trace_step_span; see pipa-demo's demo 4). */
static pipa_status gather_step(run_t *run, const pipa_step_stats_t *st, double *span,
                               double *sum_busy, double reduce[2])
{
    train_ctx_t *ctx = run->ctx;
    rank_rec_t me = {st->wall_s, st->busy_s, st->enter_abs, st->end_abs, st->peak_live,
                     (double)st->slot_bytes, st->reduce_s, st->reduce_wait_s,
                     (double)st->bytes_sent, (double)st->tp_bytes, st->tp_s};
    PIPA_TRY(pipa_gather(&ctx->world, 0, &me, sizeof me, run->recs));
    if (ctx->rank != 0) return PIPA_OK;
    *sum_busy = 0;
    run->step_tp_s = run->step_tp_bytes = 0;
    for (int r = 0; r < ctx->W; r++) {
        const rank_rec_t *x = &run->recs[r];
        *sum_busy += x->busy;
        reduce[0] += x->reduce / ctx->W;
        reduce[1] += x->reduce_wait / ctx->W;
        run->step_tp_s += x->tp_s / ctx->W;
        run->step_tp_bytes += x->tp_bytes / ctx->W;
        int p = r / ctx->lay.tp;  /* stage p of replica 0 is rank p * tp + t (layout.h) */
        if (p >= ctx->P || r % ctx->lay.tp) continue;  /* one rank per stage: replica 0's, t 0 */
        if ((int)x->peak_live > run->peak_live[p]) run->peak_live[p] = (int)x->peak_live;
        run->slot_bytes[p] = x->slot_bytes;
    }
    *span = pipa_trace_step_span(&run->recs[0].enter_abs, &run->recs[0].end_abs, ctx->W,
                                 sizeof *run->recs);
    return PIPA_OK;
}

/* ---- divergence -------------------------------------------------------------------------- */

static int all_finite(const float *x, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!isfinite(x[i])) return 0;
    return 1;
}

/* Whether my weights and optimizer state are all finite. A step's loss is computed before its
 * update, so a finite loss can still leave inf or NaN weights behind: they are looked at
 * themselves before any save, never to be written over a good checkpoint. */
static int state_finite(const pipa_runtime_t *tr)
{
    if (!all_finite(tr->params, tr->tensors.total)) return 0;
    return !tr->opt.state || all_finite(tr->opt.state, 2 * tr->opt.n);  // AdamW: m, v
}

/* A diverged run stops at once: what follows a NaN loss is NaN, and the time is wasted. Every
 * rank holds the same loss bits (the runtime broadcasts it), so all stop together. */
static int diverged(const run_t *run, int64_t step, double loss)
{
    if (isfinite(loss)) return 0;
    const train_opts_t *o = run->ctx->opt;
    if (run->ctx->rank == 0)
        fprintf(stderr, "pipa-train: step %lld: loss %f: training diverged (try a lower --lr); "
                "stopped%s%s\n", (long long)step, loss, o->save_dir ? ", nothing saved from "
                "this step on in " : "", o->save_dir ? o->save_dir : "");
    return 1;
}

/* What a shard records beside the runtime's own: the corpus, and the replica count when there
 * are several (shards are keyed by stage, and a resume at another dp would draw another batch
 * per replica: refused, naming the field; a run without dp writes what it always wrote). */
static pipa_ckpt_meta_t ckpt_extra(const train_ctx_t *ctx)
{
    pipa_ckpt_meta_t m = {0};
    pipa_corpus_identity(&ctx->corpus, &m);
    if (ctx->lay.dp > 1) pipa_ckpt_meta_add(&m, "data-parallel replicas", ctx->lay.dp);
    return m;
}

/* Saves a checkpoint set atomically (the protocol is in ckpt.h), unless some rank's state is no
 * longer finite: rank 0 opens a fresh temporary set, every rank writes its shard into it, and
 * once every rank has, rank 0 commits it. Every rank learns whether the save succeeded. Returns
 * as one_step. */
static int save(run_t *run)
{
    train_ctx_t *ctx = run->ctx;
    const char *dir = ctx->opt->save_dir, *what = "saving checkpoint";
    int64_t step = run->tr.steps, wire = 0;  /* bcast moves 64-bit integers */
    uint32_t id = 0;
    pipa_status s = PIPA_OK;
    if (!state_finite(&run->tr))
        s = pipa_status_set_error(PIPA_ERR_STATE, "after step %lld the weights are no longer finite: "
                                  "training diverged (try a lower --lr); not saved, %s keeps its last "
                                  "checkpoint", (long long)step, dir);
    if (train_agree(ctx, s, NULL) != 0) return 1;
    s = ctx->rank == 0 ? pipa_ckpt_begin(dir, step, &id) : PIPA_OK;
    if (train_agree(ctx, s, what) != 0) return 1;
    wire = id;
    pipa_desc_t d = pipa_desc_1d(PIPA_I64, 1);
    if (pipa_bcast(&ctx->world, 0, &d, &wire) != PIPA_OK) {
        fprintf(stderr, "pipa-train: rank %d: %s\n", ctx->rank, pipa_last_error());
        return -1;
    }
    id = (uint32_t)wire;
    char set[4200];
    pipa_ckpt_set_path(set, sizeof set, dir, step, id, 1);
    pipa_ckpt_meta_t extra = ckpt_extra(ctx);
    /* Replicas hold the same weights and optimizer state: replica 0 writes each stage's shard. */
    s = ctx->lay.d == 0 ? pipa_runtime_save(&run->tr, set, &extra) : PIPA_OK;
    if (train_agree(ctx, s, what) != 0) {
        if (ctx->rank == 0) pipa_ckpt_discard(dir, step, id);
        return 1;
    }
    s = ctx->rank == 0 ? pipa_ckpt_commit(dir, step, id) : PIPA_OK;
    return train_agree(ctx, s, what) != 0 ? 1 : 0;
}

/* One step: run the plan, gather, save if due, print the progress line and the record.
 * Returns 0, 1 (an agreed failure: all ranks stop) or -1 (a failure seen by this rank). */
static int one_step(run_t *run)
{
    train_ctx_t *ctx = run->ctx;
    const train_opts_t *o = ctx->opt;
    pipa_step_stats_t st;
    run->data_step = run->tr.steps;
    int64_t step = run->tr.steps + 1;
    pipa_status s = pipa_runtime_step(&run->tr, batch, run, &st);
    double wall = 0, busy = 0, reduce[2] = {0, 0};
    if (s == PIPA_OK) s = gather_step(run, &st, &wall, &busy, reduce);
    if (s != PIPA_OK) {
        fprintf(stderr, "pipa-train: rank %d: step %lld: %s\n", ctx->rank, (long long)step,
                pipa_last_error());
        return -1;
    }
    if (diverged(run, step, st.loss)) return 1;
    int saved = o->save_every && step % o->save_every == 0 && step < o->steps;
    if (saved && save(run) != 0) return 1;
    if (ctx->rank != 0) return 0;
    double tokens = (double)o->M * o->B * o->T;
    double tok_s = wall > 0 ? tokens / wall : 0, bubble = wall > 0 ? 1 - busy / (ctx->W * wall) : 0;
    printf("%8lld %10.4f %10.0f %8.1f %9.1f%s\n", (long long)step, st.loss, tok_s, 100 * bubble,
           1e3 * wall, saved ? "  saved" : "");
    fflush(stdout);
    if (!run->first_step) run->first_step = step, run->first_loss = st.loss;
    else run->timed_steps++, run->timed_wall += wall, run->timed_busy += busy,
         run->timed_reduce += reduce[0], run->timed_reduce_wait += reduce[1],
         run->timed_tp_s += run->step_tp_s, run->timed_tp_bytes += run->step_tp_bytes;
    run->last_step = step, run->last_loss = st.loss;
    if (ctx->json) json_step(run, step, st.loss, tok_s, bubble);
    return 0;
}

/* ---- summary ---------------------------------------------------------------------------- */

static void print_summary(const run_t *run)
{
    const train_ctx_t *ctx = run->ctx;
    const train_opts_t *o = ctx->opt;
    char b[2][32];
    if (!run->first_step) return;
    printf("# summary\n");
    printf("loss        %.4f at step %lld -> %.4f at step %lld (uniform guess: ln 256 = 5.5452)\n",
           run->first_loss, (long long)run->first_step, run->last_loss, (long long)run->last_step);
    if (run->timed_steps && run->timed_wall > 0) {
        double tok = (double)o->M * o->B * o->T * run->timed_steps;
        printf("tokens/s    %.0f mean over steps %lld..%lld (step %lld left out: warm-up)\n",
               tok / run->timed_wall, (long long)run->first_step + 1, (long long)run->last_step,
               (long long)run->first_step);
        printf("bubble      measured %.1f%%, ", 100 * (1 - run->timed_busy / (ctx->W * run->timed_wall)));
        if (ctx->bubble_theory >= 0) printf("analytic %.1f%%, ", 100 * ctx->bubble_theory);
        printf("simulated %.1f%% (unit costs)\n", 100 * ctx->bubble_sim);
        if (ctx->lay.dp > 1)
            printf("all-reduce  %.3f ms per step in the data group's gradient sum, %.3f ms of it "
                   "waiting before the step (mean over ranks; %s)\n",
                   1e3 * run->timed_reduce / run->timed_steps,
                   1e3 * run->timed_reduce_wait / run->timed_steps,
                   o->dp_overlap_off ? "not overlapped: all of it waiting"
                                     : "the rest started during the backward");
        if (ctx->lay.tp > 1)
            printf("tensor      %.3f ms and %s sent per step in the tensor group's all-reduces and "
                   "all-gathers (mean over ranks; waiting for the group included)\n",
                   1e3 * run->timed_tp_s / run->timed_steps,
                   pipa_cli_bytes(run->timed_tp_bytes / run->timed_steps, b[0], sizeof b[0]));
    }
    printf("activations peak per rank = most live slots x slot bytes (checker's bound on live)\n");
    for (int r = 0; r < ctx->P; r++)
        printf("  rank %-3d  %3d x %10s = %10s   (plan %d)\n", r, run->peak_live[r],
               pipa_cli_bytes(run->slot_bytes[r], b[0], sizeof b[0]),
               pipa_cli_bytes(run->peak_live[r] * run->slot_bytes[r], b[1], sizeof b[1]),
               ctx->report.peak_live[r]);
}

static void json_summary(const run_t *run)
{
    const train_ctx_t *ctx = run->ctx;
    pipa_json_t *j = ctx->json;
    pipa_json_begin_object(j, "summary");
    pipa_json_int(j, "first_step", run->first_step);
    pipa_json_int(j, "last_step", run->last_step);
    pipa_json_num(j, "first_loss", run->first_step ? run->first_loss : NAN);
    pipa_json_num(j, "last_loss", run->first_step ? run->last_loss : NAN);
    double tok = (double)ctx->opt->M * ctx->opt->B * ctx->opt->T * run->timed_steps;
    int timed = run->timed_steps && run->timed_wall > 0;
    pipa_json_num(j, "mean_tokens_per_s", timed ? tok / run->timed_wall : NAN);
    pipa_json_num(j, "bubble_measured",
                  timed ? 1 - run->timed_busy / (ctx->W * run->timed_wall) : NAN);
    if (ctx->lay.dp > 1) {
        pipa_json_num(j, "mean_reduce_s", timed ? run->timed_reduce / run->timed_steps : NAN);
        pipa_json_num(j, "mean_reduce_wait_s",
                      timed ? run->timed_reduce_wait / run->timed_steps : NAN);
    }
    if (ctx->lay.tp > 1) {
        pipa_json_num(j, "mean_tp_s", timed ? run->timed_tp_s / run->timed_steps : NAN);
        pipa_json_num(j, "mean_tp_bytes", timed ? run->timed_tp_bytes / run->timed_steps : NAN);
    }
    pipa_json_end_object(j);
    int64_t live[PIPA_MAX_RANKS], bytes[PIPA_MAX_RANKS], slot[PIPA_MAX_RANKS];
    for (int r = 0; r < ctx->P; r++) {
        live[r] = run->peak_live[r];
        slot[r] = (int64_t)run->slot_bytes[r];
        bytes[r] = live[r] * slot[r];
    }
    pipa_json_int_array(j, "peak_live", live, ctx->P);
    pipa_json_int_array(j, "slot_bytes", slot, ctx->P);
    pipa_json_int_array(j, "peak_activation_bytes", bytes, ctx->P);
}

/* ---- the run ---------------------------------------------------------------------------- */

/* Rank 0 finds the last complete set in --resume DIR (ckpt.h); every rank loads its shard of
 * it, which must hold the set's step. */
static int resume(run_t *run)
{
    train_ctx_t *ctx = run->ctx;
    const train_opts_t *o = ctx->opt;
    char what[512], set[4200];
    snprintf(what, sizeof what, "resuming from %s", o->resume_dir);
    int64_t found[2] = {0, 0};  /* the set's step and id */
    pipa_status s = PIPA_OK;
    if (ctx->rank == 0) {
        uint32_t id = 0;
        s = pipa_ckpt_find(o->resume_dir, &found[0], &id);
        found[1] = id;
        if (s == PIPA_OK && found[0] > o->steps)
            s = pipa_status_set_error(PIPA_ERR_ARG, "%s holds %lld steps, more than --steps %d (the total "
                                      "count, saved steps included)", o->resume_dir, (long long)found[0],
                                      o->steps);
    }
    if (train_agree(ctx, s, what) != 0) return -1;
    pipa_desc_t d = pipa_desc_1d(PIPA_I64, 2);
    if (pipa_bcast(&ctx->world, 0, &d, found) != PIPA_OK) return -1;
    pipa_ckpt_set_path(set, sizeof set, o->resume_dir, found[0], (uint32_t)found[1], 0);
    pipa_ckpt_meta_t extra = ckpt_extra(ctx);
    if (train_agree(ctx, pipa_runtime_load(&run->tr, set, &extra, found[0]), what) != 0)
        return -1;
    if (ctx->rank == 0)
        printf("resumed    %s at step %lld of %d\n", set, (long long)found[0], o->steps);
    return 0;
}

static int run_init(run_t *run, train_ctx_t *ctx)
{
    memset(run, 0, sizeof *run);
    run->ctx = ctx;
    pipa_status s = pipa_runtime_init(&run->tr, ctx->comm, &ctx->lay, &ctx->cfg, &ctx->plan,
                                      ctx->counts);
    if (s == PIPA_OK) pipa_runtime_set_dp_overlap(&run->tr, !ctx->opt->dp_overlap_off);
    if (s == PIPA_OK && ctx->rank == 0) {
        run->recs = calloc((size_t)ctx->W, sizeof *run->recs);
        run->peak_live = calloc((size_t)ctx->P, sizeof *run->peak_live);
        run->slot_bytes = calloc((size_t)ctx->P, sizeof *run->slot_bytes);
        if (!run->recs || !run->peak_live || !run->slot_bytes)
            s = pipa_status_set_error(PIPA_ERR_NOMEM, "out of memory");
    }
    return train_agree(ctx, s, "building the runtime");
}

static void run_free(run_t *run)
{
    pipa_runtime_free(&run->tr);
    free(run->recs);
    free(run->peak_live);
    free(run->slot_bytes);
}

/* The last step's measured timeline beside the simulated one (--trace, --timeline). */
static int write_timelines(run_t *run)
{
    train_ctx_t *ctx = run->ctx;
    const train_opts_t *o = ctx->opt;
    pipa_timeline_t t = {0};
    pipa_status s = pipa_timeline_gather(&ctx->world, &ctx->plan, run->tr.t_start, run->tr.t_end, &t);
    if (s == PIPA_OK && ctx->rank == 0) {
        pipa_plan_sim_t sim;
        s = pipa_trace_compare(&ctx->plan, &t, o->trace_path, o->svg_path, &sim);
        if (s == PIPA_OK)
            printf("timeline   last step: %s%s%s (simulated from measured costs: %.2f ms, bubble "
                   "%.1f%%)\n", o->trace_path ? o->trace_path : "", o->trace_path && o->svg_path ?
                   ", " : "", o->svg_path ? o->svg_path : "", 1e3 * sim.makespan, 100 * sim.bubble);
        pipa_timeline_free(&t, &ctx->plan);
    }
    return train_agree(ctx, s, "writing the timeline");
}

/* The steps, the final save, the summary and the JSON document. */
static int run_steps(run_t *run)
{
    train_ctx_t *ctx = run->ctx;
    const train_opts_t *o = ctx->opt;
    if (ctx->json) {
        json_config(ctx, run->tr.steps);
        pipa_json_begin_array(ctx->json, "steps");
    }
    if (ctx->rank == 0 && run->tr.steps < o->steps)
        printf("#   step       loss   tokens/s  bubble%%   wall ms\n");
    else if (ctx->rank == 0)
        printf("nothing to train: the checkpoint is at --steps %d already\n", o->steps);
    int rc = 0;
    int64_t start = run->tr.steps;
    while (rc == 0 && run->tr.steps < o->steps) rc = one_step(run);
    if (rc != 0) return rc;
    if (ctx->json) pipa_json_end_array(ctx->json);
    if (o->save_dir && save(run) != 0) return 1;
    int ran = run->tr.steps > start; /* the same on every rank */
    if ((o->trace_path || o->svg_path) && ran && write_timelines(run) != 0) return 1;
    uint64_t *hash = calloc((size_t)ctx->cfg.model.L + 2, sizeof *hash);
    pipa_status s = hash ? train_gather_hashes(ctx, &run->tr, hash) : pipa_status_set_error(PIPA_ERR_NOMEM, "out of memory");
    double *sums = calloc((size_t)ctx->cfg.model.L, sizeof *sums);
    if (s == PIPA_OK) s = sums ? train_gather_abs_sums(ctx, &run->tr, sums) : pipa_status_set_error(PIPA_ERR_NOMEM, "out of memory");
    if (s != PIPA_OK) {
        fprintf(stderr, "pipa-train: rank %d: %s\n", ctx->rank, pipa_last_error());
        free(sums);
        free(hash);
        return -1;
    }
    if (ctx->rank == 0) {
        print_summary(run);
        if (o->save_dir) printf("saved      %s at step %lld\n", o->save_dir, (long long)run->tr.steps);
    }
    if (ctx->json) {
        json_summary(run);
        train_json_hashes(ctx, hash);
        pipa_json_begin_array(ctx->json, "layer_abs_sums");
        for (int l = 0; l < ctx->cfg.model.L; l++) pipa_json_num(ctx->json, NULL, sums[l]);
        pipa_json_end_array(ctx->json);
    }
    free(sums);
    free(hash);
    return 0;
}

int train_run(train_ctx_t *ctx)
{
    run_t run;
    pipa_json_t json;
    pipa_json_init(&json);
    ctx->json = ctx->rank == 0 && ctx->opt->json_path ? &json : NULL;
    if (ctx->json) pipa_json_begin_object(ctx->json, NULL);
    int rc = run_init(&run, ctx) != 0 ? 1 : 0;
    if (rc == 0 && ctx->opt->resume_dir && resume(&run) != 0) rc = 1;
    if (rc == 0) rc = run_steps(&run);
    if (rc == 0 && ctx->json) {
        pipa_json_end_object(ctx->json);
        if (pipa_json_write(ctx->json, ctx->opt->json_path) != PIPA_OK) {
            fprintf(stderr, "pipa-train: %s\n", pipa_last_error());
            rc = 1;
        }
    }
    run_free(&run);
    pipa_json_free(&json);
    ctx->json = NULL;
    return rc;
}
