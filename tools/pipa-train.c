/* pipa-train: trains a byte-level language model on a text file through the pipeline.
 *
 *   pipa-run -n P pipa-train [--schedule gpipe|1f1b|interleaved|zb1|zbv|bfs] [--steps N] [options]
 *
 * This file: options, the checks every rank makes before the first step (model, split, plan,
 * output places, corpus; then agreed by all ranks), --print-plan, the header and main. The step loop, checkpoints and the JSON document
 * are in pipa-train_loop.c, the parameters' hashes and sums in pipa-train_params.c. Data and
 * tensor parallelism (--dp, --tp) run in the runtime. Left out: evaluation on held-out text,
 * sampling from the model, learning-rate schedules. */
#include "pipa-train.h"

#include <float.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/cli.h"
#include "model/blas.h"  // pipa_blas_choose_core
#include "plan/split.h"
#include "runtime/grid.h"

/* ---- options ------------------------------------------------------------------------- */

static void usage(FILE *f)
{
    fprintf(f,
        "usage: pipa-run -n P pipa-train [options]\n"
        "Trains a byte-level language model (vocabulary 256) on a text file, the model cut into\n"
        "P pipeline stages, one per rank; every step runs the plan of the chosen schedule.\n"
        "schedule:\n"
        "  --schedule S        gpipe, 1f1b, interleaved, zb1, zbv or bfs   (1f1b)\n"
        "  --microbatches M    microbatches per step, all replicas together (4)\n"
        "  --chunks V          chunks per rank (interleaved, bfs; zbv: 2)  (2 for those, else 1)\n"
        "  --pp P              pipeline stages            (the ranks left by --dp and --tp)\n"
        "  --dp D              data-parallel replicas, each a pipeline on M/D microbatches\n"
        "                      of its own, gradients summed before each step (1)\n"
        "  --tp T              tensor-parallel ranks per stage: heads, MLP and vocabulary\n"
        "                      split among them, as Megatron does (1)\n"
        "  --dp-overlap on|off on: each layer's gradient reduction starts as soon as the\n"
        "                      gradient is final, overlapping the rest of the backward; off:\n"
        "                      one all-reduce of all gradients before the step (same bits) (on)\n"
        "                      --pp x --dp x --tp must be the number of ranks\n"
        "  --tp-send S         between stages each tensor rank sends its 1/T share of the\n"
        "                      activation, all-gathered on arrival (slice), or all of it\n"
        "                      (whole); the same results either way     (slice)\n"
        "  --split A,B,...     layers per virtual stage (P*V entries; default as even as possible)\n"
        "  --plan FILE         run this plan (text form of --print-plan) instead of generating one\n"
        "  --print-plan        print the plan and the checker's report, then exit\n"
        "  --print-tensors     print every rank's tensors (global name, shape, offset), then exit\n"
        "model:\n"
        "  --layers L          transformer layers                          (4)\n"
        "  --hidden C          hidden size                                 (64)\n"
        "  --heads NH          attention heads                             (4)\n"
        "  --kv-heads N        key/value heads: grouped-query attention, N dividing\n"
        "                      NH; query head h uses key/value head h / (NH/N) (the heads)\n"
        "  --tie-embeddings    the LM head is the token embedding (one weight)  (off)\n"
        "  --intermediate I    MLP intermediate size                       (256)\n"
        "  --seed S            weights and data seed                       (%d)\n"
        "training:\n"
        "  --steps N           total optimizer steps (a resumed run counts the saved ones) (100)\n"
        "  --batch B           sequences per microbatch                    (4)\n"
        "  --seq T             tokens (bytes) per sequence                 (64)\n"
        "  --lr X              learning rate                               (3e-3)\n"
        "  --optimizer O       adamw or sgd                                (adamw)\n"
        "  --weight-decay X    AdamW weight decay                          (0.01)\n"
        "  --corpus FILE       training text                               (%s)\n"
        "checkpoints and output:\n"
        "  --save DIR          save at the end (and every --save-every K steps) into DIR\n"
        "  --save-every K      also save after every K-th step\n"
        "  --resume DIR        load DIR and continue from its step count up to --steps\n"
        "  --json FILE         config, per-step records, final parameter hashes (rank 0 writes)\n"
        "  --trace FILE        the last step's measured timeline beside the simulated one\n"
        "                      (same plan, measured mean cost per action kind): Chrome trace\n"
        "  --timeline FILE     the same two timelines drawn as an SVG picture\n"
        "  --force-cpu         accepted for the original demo's users: pipa runs on the CPU\n"
        "                      in this build, so it changes nothing (the header says so)\n"
        "  --help              this text\n",
        TRAIN_DEFAULT_SEED, PIPA_DEFAULT_CORPUS);
}

static void set_defaults(train_opts_t *o)
{
    memset(o, 0, sizeof *o);
    o->sched = PIPA_SCHED_1F1B;
    o->M = 4, o->steps = 100;
    o->L = 4, o->C = 64, o->NH = 4, o->I = 256;
    o->B = 4, o->T = 64;
    o->lr = 3e-3f, o->wd = 0.01f;
    o->optimizer = PIPA_OPT_ADAMW;
    o->seed = TRAIN_DEFAULT_SEED;
    o->corpus = PIPA_DEFAULT_CORPUS;
}

/* Options with an integer value, 1 to 1000000 each. Returns 1 taken, 0 not one of them, -1 the
 * value is missing, -2 the value is bad (message in pipa_last_error). */
static int take_int(int argc, char **argv, int *i, train_opts_t *o)
{
    static const char *const names[] = {"--microbatches", "--chunks", "--steps", "--layers",
                                        "--hidden", "--heads", "--intermediate", "--batch",
                                        "--seq", "--pp", "--save-every", "--dp", "--tp",
                                        "--kv-heads"};
    int *const slots[] = {&o->M, &o->V, &o->steps, &o->L, &o->C, &o->NH, &o->I, &o->B, &o->T,
                          &o->pp, &o->save_every, &o->dp, &o->tp, &o->NKV};
    for (int k = 0; k < (int)(sizeof names / sizeof *names); k++) {
        const char *v;
        int r = pipa_cli_take(argc, argv, i, names[k], &v);
        if (r == 1 && pipa_cli_int(names[k], v, 1, 1000000, slots[k]) != PIPA_OK) return -2;
        if (r == 1 && slots[k] == &o->V) o->V_given = 1;
        if (r) return r;
    }
    return 0;
}

/* Options with a text value; returns as take_int. */
static int take_text(int argc, char **argv, int *i, train_opts_t *o)
{
    static const char *const names[] = {"--corpus", "--split", "--plan", "--json", "--save",
                                        "--resume", "--trace", "--timeline"};
    const char **const slots[] = {&o->corpus, &o->split, &o->plan_path, &o->json_path,
                                  &o->save_dir, &o->resume_dir, &o->trace_path, &o->svg_path};
    for (int k = 0; k < (int)(sizeof names / sizeof *names); k++) {
        int r = pipa_cli_take(argc, argv, i, names[k], slots[k]);
        if (r) return r;
    }
    return 0;
}

/* The options whose value needs its own parser; returns as take_int, -2 for a bad value. */
static int take_other(int argc, char **argv, int *i, train_opts_t *o)
{
    const char *v;
    int r;
    if ((r = pipa_cli_take(argc, argv, i, "--schedule", &v))) {
        o->sched_given = 1;
        return r < 0 ? r : pipa_sched_parse(v, &o->sched) == PIPA_OK ? 1 : -2;
    }
    if ((r = pipa_cli_take(argc, argv, i, "--optimizer", &v)))
        return r < 0 ? r : pipa_opt_parse(v, &o->optimizer) == PIPA_OK ? 1 : -2;
    /* No bound on --lr but float's: a rate too large diverges, and the run stops saying so. */
    if ((r = pipa_cli_take(argc, argv, i, "--lr", &v)))
        return r < 0 ? r : pipa_cli_float("--lr", v, 1e-12, FLT_MAX, &o->lr) == PIPA_OK ? 1 : -2;
    if ((r = pipa_cli_take(argc, argv, i, "--weight-decay", &v))) {
        o->wd_given = 1;
        return r < 0 ? r : pipa_cli_float("--weight-decay", v, 0.0, 1.0, &o->wd) == PIPA_OK ? 1 : -2;
    }
    if ((r = pipa_cli_take(argc, argv, i, "--dp-overlap", &v))) {
        if (r < 0) return r;
        o->dp_overlap_off = !strcmp(v, "off");
        if (o->dp_overlap_off || !strcmp(v, "on")) return 1;
        pipa_status_set_error(PIPA_ERR_ARG, "--dp-overlap '%s': on or off", v);
        return -2;
    }
    if ((r = pipa_cli_take(argc, argv, i, "--seed", &v)))
        return r < 0 ? r : pipa_cli_u64("--seed", v, &o->seed) == PIPA_OK ? 1 : -2;
    if ((r = pipa_cli_take(argc, argv, i, "--tp-send", &v))) {
        o->tp_send_given = 1;
        if (r < 0) return r;
        o->tp_send_whole = !strcmp(v, "whole");
        if (o->tp_send_whole || !strcmp(v, "slice")) return 1;
        pipa_status_set_error(PIPA_ERR_ARG, "--tp-send '%s': slice or whole", v);
        return -2;
    }
    return 0;
}

/* Fills o from argv. Returns 0, or -1 with a message in err. */
static int parse_options(int argc, char **argv, train_opts_t *o, char *err, size_t errlen)
{
    set_defaults(o);
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) { o->help = 1; continue; }
        if (!strcmp(a, "--print-plan")) { o->print_plan = 1; continue; }
        if (!strcmp(a, "--print-tensors")) { o->print_tensors = 1; continue; }
        if (!strcmp(a, "--force-cpu")) { o->force_cpu = 1; continue; }
        if (!strcmp(a, "--tie-embeddings")) { o->tie = 1; continue; }
        int r = take_int(argc, argv, &i, o);
        if (r == 0) r = take_text(argc, argv, &i, o);
        if (r == 0) r = take_other(argc, argv, &i, o);
        if (r == 1) continue;
        if (r == -2) snprintf(err, errlen, "%s", pipa_last_error());
        else if (r == -1) snprintf(err, errlen, "%s needs a value", a);
        else snprintf(err, errlen, "unknown option '%s' (try --help)", a);
        return -1;
    }
    if (!o->V_given) o->V = pipa_sched_interleaves(o->sched) ? 2 : 1;
    return 0;
}

/* ---- checks every rank makes alone -------------------------------------------------- */

/* --print-plan (or --print-tensors) prints and trains nothing: options about a run's results
 * would be ignored. */
static pipa_status check_print_plan(const train_opts_t *o)
{
    const char *flag = o->print_plan ? "--print-plan" : "--print-tensors";
    const char *const names[] = {"--save", "--resume", "--json", "--trace", "--timeline"};
    const char *const values[] = {o->save_dir, o->resume_dir, o->json_path, o->trace_path,
                                  o->svg_path};
    for (int k = 0; (o->print_plan || o->print_tensors) && k < 5; k++)
        if (values[k])
            return pipa_status_set_error(PIPA_ERR_ARG, "%s does not apply with %s (it prints the "
                                         "%s and trains nothing)", names[k], flag,
                                         o->print_plan ? "plan" : "tensors");
    return PIPA_OK;
}

/* Option combinations, before anything is built: an option that would be ignored is refused. */
static pipa_status check_combinations(const train_opts_t *o, int P, int dp, int tp)
{
    if (o->sched_given && o->plan_path)
        return pipa_status_set_error(PIPA_ERR_ARG, "--schedule does not apply with --plan (the plan file "
                                     "says what runs)");
    if (o->V > 1 && !pipa_sched_interleaves(o->sched) && !o->plan_path)
        return pipa_status_set_error(PIPA_ERR_ARG, "--chunks %d needs --schedule interleaved or bfs "
                                     "(%s runs one chunk per rank)", o->V, pipa_sched_name(o->sched));
    if (o->V == 1 && pipa_sched_interleaves(o->sched) && !o->plan_path)
        return pipa_status_set_error(PIPA_ERR_ARG, "--schedule %s needs --chunks 2 or more",
                                     pipa_sched_name(o->sched));
    if (o->V > PIPA_MAX_CHUNKS)
        return pipa_status_set_error(PIPA_ERR_ARG, "--chunks %d: at most %d chunks per rank", o->V,
                                     PIPA_MAX_CHUNKS);
    static const char *const plan_names[3] = {"P (ranks)", "--microbatches", "--chunks"};
    PIPA_TRY(pipa_plan_check_size(P, o->M / dp, o->V, plan_names));   /* the plan limits, before work */
    if (o->wd_given && o->optimizer != PIPA_OPT_ADAMW)
        return pipa_status_set_error(PIPA_ERR_ARG, "--weight-decay applies to adamw only (sgd has none)");
    if (o->save_every && !o->save_dir)
        return pipa_status_set_error(PIPA_ERR_ARG, "--save-every needs --save DIR");
    if (o->tp_send_given && tp == 1)
        return pipa_status_set_error(PIPA_ERR_ARG, "--tp-send applies with --tp 2 or more (it says "
                                     "what tensor ranks send between stages)");
    return check_print_plan(o);
}

/* Every place the run will write, checked before step 1 (and --save created): a run that cannot
 * write its results does not start. Rank 0 writes the files; every rank writes its shard. */
static pipa_status check_outputs(const train_ctx_t *ctx)
{
    const train_opts_t *o = ctx->opt;
    if (o->save_dir) PIPA_TRY(pipa_cli_make_out_dir("--save", o->save_dir));
    if (ctx->rank != 0) return PIPA_OK;
    if (o->json_path) PIPA_TRY(pipa_cli_check_out_file("--json", o->json_path));
    if (o->trace_path) PIPA_TRY(pipa_cli_check_out_file("--trace", o->trace_path));
    if (o->svg_path) PIPA_TRY(pipa_cli_check_out_file("--timeline", o->svg_path));
    return PIPA_OK;
}

/* Model configuration and the split over the P*V virtual stages. */
static pipa_status build_model(train_ctx_t *ctx)
{
    const train_opts_t *o = ctx->opt;
    pipa_train_config_t *c = &ctx->cfg;
    c->model = (pipa_model_config_t){.L = o->L, .C = o->C, .NH = o->NH, .I = o->I, .eps = 1e-5f,
                               .rope_theta = 10000.0f, .seed = o->seed, .NKV = o->NKV,
                               .tie_embeddings = o->tie};
    c->vocab = PIPA_VOCAB_BYTES;
    c->B = o->B, c->T = o->T;
    c->opt = pipa_opt_defaults();
    c->opt.kind = o->optimizer;
    c->opt.lr = o->lr;
    c->opt.weight_decay = o->optimizer == PIPA_OPT_ADAMW ? o->wd : 0.0f;
    c->tp_send_whole = o->tp_send_whole;
    PIPA_TRY(pipa_config_check(&c->model));
    ctx->params = (int64_t)o->L * (int64_t)pipa_layer_param_count(&c->model) +
                  (int64_t)pipa_ends_param_count(&c->model, c->vocab, 1, 1);
    int stages = ctx->P * o->V;  /* at most the layers: build_layout checked it */
    if (o->split) PIPA_TRY(pipa_split_parse(o->split, o->L, stages, ctx->counts));
    else PIPA_TRY(pipa_split_even(o->L, stages, ctx->counts));
    return PIPA_OK;
}

/* Reads a user's plan; it must be for this run's P, M and V. The checker runs afterwards. */
static pipa_status read_plan(train_ctx_t *ctx)
{
    const train_opts_t *o = ctx->opt;
    FILE *f = fopen(o->plan_path, "r");
    if (!f) return pipa_status_set_error(PIPA_ERR_IO, "cannot open plan %s", o->plan_path);
    pipa_status s = pipa_plan_read(&ctx->plan, f, o->plan_path);
    fclose(f);
    PIPA_TRY(s);
    const pipa_plan_t *p = &ctx->plan;
    if (p->P != ctx->P || p->M != ctx->M || p->V != o->V) {
        s = pipa_status_set_error(PIPA_ERR_ARG, "plan %s is for P=%d M=%d V=%d, this run has P=%d (ranks) "
                                  "M=%d (--microbatches per replica) V=%d (--chunks)", o->plan_path, p->P,
                                  p->M, p->V, ctx->P, ctx->M, o->V);
        pipa_plan_free(&ctx->plan);
    }
    return s;
}

/* Generates or reads the plan, checks it, and computes its bubble figures. */
static pipa_status build_plan(train_ctx_t *ctx)
{
    const train_opts_t *o = ctx->opt;
    if (o->plan_path) PIPA_TRY(read_plan(ctx));
    else PIPA_TRY(pipa_plan_generate(&ctx->plan, o->sched, ctx->P, ctx->M, o->V));
    char why[512];  // the checker's message, copied: pipa_status_set_error overwrites it
    pipa_status s = pipa_plan_check(&ctx->plan, &ctx->report);
    if (s != PIPA_OK) {
        snprintf(why, sizeof why, "%s", pipa_last_error());
        return pipa_status_set_error(s, "plan %s fails the check: %s", o->plan_path ? o->plan_path : "", why);
    }
    pipa_plan_costs_t unit = {{0}};
    unit.cost[PIPA_ACT_F] = 1, unit.cost[PIPA_ACT_B] = 2;
    unit.cost[PIPA_ACT_I] = 1, unit.cost[PIPA_ACT_W] = 1;
    pipa_plan_sim_t sim;
    PIPA_TRY(pipa_plan_simulate(&ctx->plan, &unit, &sim));
    ctx->bubble_sim = sim.bubble;
    ctx->bubble_theory = o->plan_path ? -1.0 : pipa_plan_bubble_theory(o->sched, ctx->P, o->M, o->V);
    return PIPA_OK;
}

/* The layout of --pp, --dp, --tp (grid.h). */
static pipa_status build_layout(train_ctx_t *ctx)
{
    const train_opts_t *o = ctx->opt;
    PIPA_TRY(pipa_grid_layout(&ctx->lay, ctx->W, ctx->rank, o->dp, o->pp, o->tp));
    pipa_model_config_t m = {.L = o->L, .C = o->C, .NH = o->NH, .I = o->I, .NKV = o->NKV};
    PIPA_TRY(pipa_grid_check(&ctx->lay, &m, o->V, o->M));  /* also: pp x V stages <= layers */
    ctx->P = ctx->lay.pp;
    ctx->M = o->M / ctx->lay.dp;  /* checked to divide (pipa_grid_check) */
    return PIPA_OK;
}

/* Everything that needs no communication. Mostly the same on every rank, but not all: a file
 * missing on one machine, the output files (rank 0), so main makes the ranks agree on it. */
static pipa_status prepare(train_ctx_t *ctx)
{
    const train_opts_t *o = ctx->opt;
    PIPA_TRY(build_layout(ctx));
    PIPA_TRY(check_combinations(o, ctx->P, ctx->lay.dp, ctx->lay.tp));
    PIPA_TRY(build_model(ctx));
    PIPA_TRY(pipa_runtime_check_tp(&ctx->cfg, ctx->lay.tp));  /* also: the vocabulary divides */
    PIPA_TRY(build_plan(ctx));
    if (o->print_plan || o->print_tensors) return PIPA_OK;  // printing needs no text
    PIPA_TRY(check_outputs(ctx));
    return pipa_corpus_load(&ctx->corpus, o->corpus, o->T, o->seed);
}

/* ---- printing --------------------------------------------------------------------------- */

static void print_peaks(const train_ctx_t *ctx, const char *prefix)
{
    printf("%speak live per rank (checker):", prefix);
    for (int r = 0; r < ctx->P; r++) printf(" %d", ctx->report.peak_live[r]);
    printf("\n");
}

static void print_bubbles(const train_ctx_t *ctx, const char *prefix)
{
    if (ctx->bubble_theory >= 0)
        printf("%sbubble analytic %.1f%% (%s formula), simulated %.1f%% (F=1 B=2 I=1 W=1)\n",
               prefix, 100 * ctx->bubble_theory, pipa_sched_name(ctx->opt->sched),
               100 * ctx->bubble_sim);
    else
        printf("%sbubble analytic - (plan from a file), simulated %.1f%% (F=1 B=2 I=1 W=1)\n",
               prefix, 100 * ctx->bubble_sim);
}

/* The plan in text form, then the report as comments, so the output reads back with --plan. */
static int print_plan(const train_ctx_t *ctx)
{
    if (ctx->rank != 0) return 0;
    if (pipa_plan_write(&ctx->plan, stdout) != PIPA_OK) {
        fprintf(stderr, "pipa-train: %s\n", pipa_last_error());
        return 1;
    }
    printf("# checker: ok\n");
    print_peaks(ctx, "# ");
    print_bubbles(ctx, "# ");
    return 0;
}

/* Every stage's tensor table (global names, shapes, offsets in its one allocation), and with
 * --tp every tensor rank's (its slices), rank 0 printing them all in stage, then tensor-rank,
 * order (a replica's: the others hold the same). */
static int print_tensors(const train_ctx_t *ctx)
{
    int tp = ctx->lay.tp;
    for (int r = 0; ctx->rank == 0 && r < ctx->P * tp; r++) {
        pipa_tensors_t tab;
        if (pipa_runtime_tensors(&tab, &ctx->cfg, ctx->P, ctx->opt->V, ctx->plan.place, r / tp,
                                 r % tp, tp, ctx->counts) != PIPA_OK) {
            fprintf(stderr, "pipa-train: %s\n", pipa_last_error());
            return 1;
        }
        if (tp == 1) printf("# rank %d: %d tensors, %zu floats\n", r, tab.n, tab.total);
        else printf("# stage %d tensor rank %d (rank %d): %d tensors, %zu floats\n", r / tp, r % tp,
                    pipa_layout_rank_of(&ctx->lay, 0, r / tp, r % tp), tab.n, tab.total);
        pipa_tensors_print(&tab, stdout);
        pipa_tensors_free(&tab);
    }
    return 0;
}

static void print_header(const train_ctx_t *ctx)
{
    const train_opts_t *o = ctx->opt;
    const pipa_model_config_t *m = &ctx->cfg.model;
    char split[12 * PIPA_MAX_RANKS * PIPA_MAX_CHUNKS];
    if (ctx->rank != 0) return;
    printf("pipa-train: a byte-level language model trained through the pipeline\n");
    printf("world      %d rank%s, P=%d stages x V=%d chunk%s, schedule %s%s%s\n", ctx->W,
           ctx->W == 1 ? "" : "s", ctx->P, o->V, o->V == 1 ? "" : "s",
           o->plan_path ? "from " : pipa_sched_name(o->sched), o->plan_path ? o->plan_path : "",
           o->plan_path ? "" : " (generated)");
    printf("model      L=%d C=%d NH=%d I=%d vocab %d, %lld parameters, seed %llu\n", m->L, m->C,
           m->NH, m->I, ctx->cfg.vocab, (long long)ctx->params, (unsigned long long)m->seed);
    if (m->NKV || m->tie_embeddings)  /* only then, so that default runs print what they did */
        printf("attention  %d key/value heads (grouped-query: %d query heads each); %s LM head\n",
               pipa_config_nkv(m), m->NH / pipa_config_nkv(m),
               m->tie_embeddings ? "tied" : "untied");
    printf("split      %s layers on virtual stages 0..%d\n",
           pipa_split_format(ctx->counts, ctx->P * o->V, split, sizeof split), ctx->P * o->V - 1);
    printf("corpus     %s (%zu bytes)\n", o->corpus, ctx->corpus.n);
    printf("batch      M=%d microbatches x B=%d sequences x T=%d tokens = %lld tokens per step\n",
           o->M, o->B, o->T, (long long)o->M * o->B * o->T);
    if (ctx->lay.dp > 1)
        printf("data       dp=%d replicas of the pipeline, %d microbatches each (replica d: "
               "d*%d .. d*%d+%d), gradients summed before each step: %s\n", ctx->lay.dp,
               ctx->M, ctx->M, ctx->M, ctx->M - 1, o->dp_overlap_off ? "one all-reduce "
               "(--dp-overlap off)" : "each layer's reduction started once its gradient is "
               "final (--dp-overlap on)");
    if (ctx->lay.tp > 1)
        printf("tensor     layout dp=%d x pp=%d x tp=%d: tp ranks per stage split the heads, the MLP "
               "and the vocabulary (Megatron); between stages each sends %s\n", ctx->lay.dp, ctx->P,
               ctx->lay.tp, o->tp_send_whole ?
               "the whole activation (--tp-send whole)" : "its 1/tp share, all-gathered on arrival");
    if (o->optimizer == PIPA_OPT_ADAMW)
        printf("optimizer  adamw, lr %g, weight decay %g\n", o->lr, o->wd);
    else
        printf("optimizer  sgd, lr %g\n", o->lr);
    print_peaks(ctx, "plan       ");
    print_bubbles(ctx, "plan       ");
    printf("transport  %s\n", pipa_comm_transport_name(ctx->comm));
    printf("BLAS       %s\n", pipa_blas_summary());
    if (o->force_cpu) printf("device     cpu (" PIPA_CLI_FORCE_CPU_NOTE ")\n");
}

/* ---- main ------------------------------------------------------------------------------ */

/* Exit after every rank has come here: pipa-run stops all ranks as soon as one exits non-zero,
 * which could cut rank 0's message short. */
static int finish(train_ctx_t *ctx, int rc)
{
    fflush(stdout);
    fflush(stderr);
    if (pipa_barrier(&ctx->world) != PIPA_OK && rc == 0) rc = 1;
    pipa_corpus_free(&ctx->corpus);
    pipa_plan_free(&ctx->plan);
    pipa_comm_free(ctx->comm);
    return rc;
}

int main(int argc, char **argv)
{
    train_opts_t opt;
    pipa_blas_choose_core(argv);  // before anything runs: may re-execute
    char err[512];
    int bad = parse_options(argc, argv, &opt, err, sizeof err);
    train_ctx_t ctx = {.opt = &opt};
    pipa_cli_check_stdout_at_exit("pipa-train");
    if (pipa_comm_init(&ctx.comm) != PIPA_OK) {
        fprintf(stderr, "pipa-train: %s\n", pipa_last_error());
        return 1;
    }
    ctx.rank = pipa_comm_rank(ctx.comm);
    ctx.W = pipa_comm_size(ctx.comm);
    ctx.P = ctx.W;  /* until the layout says otherwise (prepare) */
    pipa_group_world(&ctx.world, ctx.comm);
    /* Every rank checks its options and setup, then all agree before any other collective: a
     * rank that failed alone (a corpus missing on its machine) must not leave the others waiting
     * for it in the first step. Rank 0 prints the first failing rank's message. */
    pipa_status s = bad ? pipa_status_set_error(PIPA_ERR_ARG, "%s", err) : opt.help ? PIPA_OK : prepare(&ctx);
    int agreed = train_agree(&ctx, s, NULL);
    if (agreed == -2) return 1;  // a peer is gone: no closing barrier, pipa-run stops the rest
    if (agreed != 0) return finish(&ctx, 2);
    if (opt.help) {
        if (ctx.rank == 0) usage(stdout);
        return finish(&ctx, 0);
    }
    if (opt.print_plan || opt.print_tensors) {
        int rc = opt.print_plan ? print_plan(&ctx) : 0;
        return finish(&ctx, rc == 0 && opt.print_tensors ? print_tensors(&ctx) : rc);
    }
    pipa_log_set_identity(ctx.rank, ctx.P, pipa_layout_pp_rank(&ctx.lay));
    print_header(&ctx);
    int rc = train_run(&ctx);
    if (rc < 0) {
        /* A step failed: a peer may be gone, so no closing barrier; pipa-run stops the rest. */
        pipa_corpus_free(&ctx.corpus);
        pipa_plan_free(&ctx.plan);
        return 1;
    }
    return finish(&ctx, rc);
}
