/* pipa-demo: the four demos of the original PyTorch pipeline-parallel demo, computed for real
 * and measured: a forward pass through the stages (checked bit for bit against one process),
 * microbatches, memory per rank, and pipeline efficiency; a fifth: the training schedules
 * (GPipe, 1F1B, interleaved, ZB-H1) side by side; and a sixth, run only when asked (--demo 6):
 * the original's "comparison with other strategies", pipeline, tensor and data parallelism over
 * the same ranks, measured.
 *
 *   pipa-run --nproc-per-node=4 pipa-demo [--demo N] [--json FILE] [model options]
 *   pipa-run -n 8 pipa-demo --demo 6
 *
 * This file: options, the header, each demo's setup (defaults, split), running the demos and
 * writing the JSON document. Left out: data and tensor parallelism in demos 1-5 (dp = tp = 1),
 * GPUs. */
#include "pipa-demo.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/cli.h"
#include "model/blas.h"
#include "plan/split.h"
#include "runtime/grid.h"

/* ---- options ------------------------------------------------------------------------- */

static void usage(FILE *f)
{
    fprintf(f,
        "usage: pipa-run --nproc-per-node=P pipa-demo [options]\n"
        "Runs the pipeline-parallel demos on P ranks (demos 1-5: P pipeline stages):\n"
        "  1 forward pass    how activations flow from stage to stage; output equals one process\n"
        "  2 microbatches    M microbatches flowing through the stages\n"
        "  3 memory          parameters and measured peak memory per rank vs the whole model\n"
        "  4 efficiency      busy and idle time, the bubble, speedup, for M = 1, 2, 4, 8, 16\n"
        "  5 schedules       training under GPipe, 1F1B, interleaved, ZB-H1: step time, bubble\n"
        "                    (measured, theory, simulated), peak activations, identical loss\n"
        "  6 layouts         only with --demo 6 (it trains the model six times: not part of the\n"
        "                    default run): 8 ranks as 2 stages x 4 tensor-parallel (other P: pp 2\n"
        "                    x tp P/2 where it fits, else pp P; or --pp/--dp/--tp): the grid,\n"
        "                    memory, busy time and bytes per rank and stage, the loss against one\n"
        "                    process; then pp = P, tp = P, dp = P side by side: memory, bytes\n"
        "                    between stages and in tensor and data groups, step time, bubble\n"
        "options (each demo has its own defaults; a value given here applies to every demo):\n"
        "  --demo N            run only demo N (1-6)\n"
        "  --layers L          transformer layers        (demos 1,4: 4; 2: 6; 3,5,6: 8)\n"
        "  --hidden C          hidden size               (128; demo 3: 512)\n"
        "  --heads NH          attention heads           (4; demos 3, 6: 8)\n"
        "  --intermediate I    MLP intermediate size     (512; demo 3: 2048)\n"
        "  --batch B           sequences per microbatch  (2); the whole batch is B x M\n"
        "  --seq T             tokens per sequence       (10; demo 5: 32; demo 6: 16)\n"
        "  --microbatches M    microbatches (1; demo 2: 4; demo 4: sweep 1, 2, 4, ... up to M, 16;\n"
        "                      demo 5: 8; demo 6: 8 per step, M / dp for each data replica)\n"
        "  --seed S            weights and inputs seed   (%d)\n"
        "  --pp P              pipeline stages (the ranks left by --dp and --tp)\n"
        "  --dp D, --tp T      data-parallel replicas, tensor-parallel ranks per stage (1 each;\n"
        "                      --pp x --dp x --tp = P); demos 1-5 run with dp = tp = 1 only,\n"
        "                      demo 6 takes them as its part 1 layout\n"
        "  --grid              print every rank's (pp, dp, tp) coordinates and groups, the\n"
        "                      layout checked against the model (heads, intermediate size,\n"
        "                      layers) and --microbatches, instead of the demos\n"
        "  --split A,B,...     layers per stage (default: as even as possible; not demo 6)\n"
        "  --json FILE         every printed figure, machine-readable (written by rank 0)\n"
        "  --force-cpu         run on the CPU (this build has no GPU support: always the CPU)\n"
        "  --help              this text\n",
        DEMO_DEFAULT_SEED);
}

/* Fills o from argv. Returns 0, or -1 with a message in err. */
static int parse_options(int argc, char **argv, demo_opts_t *o, char *err, size_t errlen)
{
    static const char *const int_names[] = {"--demo", "--layers", "--hidden", "--heads",
                                            "--intermediate", "--batch", "--seq",
                                            "--microbatches", "--pp", "--dp", "--tp"};
    int *const int_slots[] = {&o->demo, &o->L, &o->C, &o->NH, &o->I, &o->B, &o->T, &o->M, &o->pp,
                              &o->dp, &o->tp};
    memset(o, 0, sizeof *o);
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = NULL;
        int r = 0;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) { o->help = 1; continue; }
        if (!strcmp(a, "--force-cpu")) { o->force_cpu = 1; continue; }
        if (!strcmp(a, "--grid")) { o->grid = 1; continue; }
        if (!strcmp(a, "--measure-whole-model")) { o->measure_whole_model = 1; continue; }
        for (int k = 0; k < (int)(sizeof int_names / sizeof *int_names) && r == 0; k++) {
            r = pipa_cli_take(argc, argv, &i, int_names[k], &v);
            if (r == 1 && pipa_cli_int(int_names[k], v, 1, 1000000, int_slots[k]) != PIPA_OK) {
                snprintf(err, errlen, "%s", pipa_last_error());
                return -1;
            }
        }
        if (r == 0 && (r = pipa_cli_take(argc, argv, &i, "--split", &v)) == 1) o->split = v;
        if (r == 0 && (r = pipa_cli_take(argc, argv, &i, "--json", &v)) == 1) o->json_path = v;
        if (r == 0 && (r = pipa_cli_take(argc, argv, &i, "--seed", &v)) == 1) {
            if (pipa_cli_u64("--seed", v, &o->seed) != PIPA_OK) {
                snprintf(err, errlen, "%s", pipa_last_error());
                return -1;
            }
            o->seed_given = 1;
        }
        if (r == -1) {
            snprintf(err, errlen, "%s needs a value", a);
            return -1;
        }
        if (r == 0) {
            snprintf(err, errlen, "unknown option '%s' (try --help)", a);
            return -1;
        }
    }
    if (o->demo > DEMO_COUNT) {
        snprintf(err, errlen, "--demo must be 1 to %d, got %d", DEMO_COUNT, o->demo);
        return -1;
    }
    return 0;
}

/* ---- each demo's setup ----------------------------------------------------------------- */

/* The original demo's sizes, then the user's overrides, then the split over P stages (demo 6:
 * over its part 1 layout's stages, for this rank of the P). Fails with a message naming the
 * demo (its layer count differs from the others'). */
static pipa_status setup_demo(const demo_opts_t *o, int demo, int P, int rank, demo_setup_t *su)
{
    memset(su, 0, sizeof *su);
    su->demo = demo;
    pipa_model_config_t c = {.L = 4, .C = 128, .NH = 4, .I = 512, .eps = 1e-5f, .rope_theta = 10000.0f,
                       .seed = DEMO_DEFAULT_SEED};
    su->B = 2, su->T = 10, su->M = 1;
    if (demo == 2) c.L = 6, su->M = 4;
    if (demo == 3) c.L = 8, c.C = 512, c.NH = 8, c.I = 2048;
    if (demo == 4) su->M = 16;
    if (demo == 5) c.L = 8, su->T = 32, su->M = 8;  // layers >= 2P for interleaving up to P = 4
    if (demo == 6) c.L = 8, c.NH = 8, su->T = 16, su->M = 8;  // pp 8, tp 8 and dp 8 all fit
    if (o->L) c.L = o->L;
    if (o->C) c.C = o->C;
    if (o->NH) c.NH = o->NH;
    if (o->I) c.I = o->I;
    if (o->seed_given) c.seed = o->seed;
    if (o->B) su->B = o->B;
    if (o->T) su->T = o->T;
    if (o->M) su->M = o->M;
    su->cfg = c;
    su->P = P;
    char why[256];  // the library's message, copied: pipa_status_set_error overwrites it
    if (pipa_config_check(&c) != PIPA_OK) {
        snprintf(why, sizeof why, "%s", pipa_last_error());
        return pipa_status_set_error(PIPA_ERR_ARG, "demo %d: %s", demo, why);
    }
    if (P > PIPA_MAX_RANKS) return pipa_status_set_error(PIPA_ERR_ARG, "at most %d stages", PIPA_MAX_RANKS);
    pipa_status s = demo == 6 ? demo_layouts_choose(o, P, rank, su)
                  : o->split ? pipa_split_parse(o->split, c.L, P, su->counts)
                             : pipa_split_even(c.L, P, su->counts);
    if (s != PIPA_OK) {
        snprintf(why, sizeof why, "%s", pipa_last_error());
        if (demo == 6) return pipa_status_set_error(s, "demo 6: %s", why);
        return pipa_status_set_error(s, "demo %d (%d layers on %d stages): %s%s", demo, c.L, P, why,
                                     o->split && !o->L && !o->demo ? " (give --layers to use one split in every demo)" : "");
    }
    return PIPA_OK;
}

/* ---- helpers shared by the parts ------------------------------------------------------- */

pipa_status demo_stage_init(demo_stage_t *st, demo_ctx_t *ctx, const demo_setup_t *su, int M)
{
    memset(st, 0, sizeof *st);
    PIPA_TRY(pipa_plan_generate(&st->plan, PIPA_SCHED_FORWARD, ctx->P, M, 1));
    pipa_status s = pipa_plan_check(&st->plan, NULL);
    pipa_train_config_t tc = {.model = su->cfg, .vocab = 0, .B = su->B, .T = su->T};
    if (s == PIPA_OK) s = pipa_runtime_init(&st->tr, ctx->comm, &ctx->lay, &tc, &st->plan, su->counts);
    if (s != PIPA_OK) {
        pipa_plan_free(&st->plan);
        return s;
    }
    const pipa_chunk_t *ch = &st->tr.chunk[0];
    st->stage = st->tr.rank, st->first = ch->first, st->count = ch->count;
    st->prev = ch->prev, st->next = ch->next, st->n_params = ch->w.n_params;
    return PIPA_OK;
}

void demo_stage_free(demo_stage_t *st)
{
    pipa_runtime_free(&st->tr);
    pipa_plan_free(&st->plan);
}

void demo_batch(void *ctx, int mb, int32_t *tokens, int32_t *targets)
{
    const demo_batch_t *b = ctx;
    for (int i = 0; i < b->B * b->T; i++) {
        uint64_t h = (b->seed + 1) * 0x9e3779b97f4a7c15ull ^ ((uint64_t)mb << 32 | (uint64_t)i);
        h ^= h >> 29, h *= 0xbf58476d1ce4e5b9ull, h ^= h >> 32;
        int v = (int)(h % DEMO_VOCAB);
        if (tokens) tokens[i] = v;
        if (targets) targets[i] = (v * 7 + 3) % DEMO_VOCAB;  // learnable: a fixed map
    }
}

int demo_fail(const demo_ctx_t *ctx, const char *what)
{
    fprintf(stderr, "pipa-demo: rank %d: %s: %s\n", ctx->rank, what, pipa_last_error());
    return -1;
}

char *demo_layer_range(int first, int count, char *buf, size_t len)
{
    if (count == 1) snprintf(buf, len, "%d", first);
    else snprintf(buf, len, "%d-%d", first, first + count - 1);
    return buf;
}

char *demo_shape(const pipa_desc_t *d, char *buf, size_t len)
{
    if (d->ndim == 0) snprintf(buf, len, "-");
    else pipa_desc_str(d, buf, len);
    return buf;
}

char *demo_bytes(double bytes, char *buf, size_t len)
{
    return pipa_cli_bytes(bytes, buf, len);
}

void demo_print_title(const demo_ctx_t *ctx, const demo_setup_t *su, const char *title)
{
    if (ctx->rank != 0) return;
    const pipa_model_config_t *c = &su->cfg;
    char split[12 * PIPA_MAX_RANKS];
    printf("\n== Demo %d: %s ==\n", su->demo, title);
    printf("model   L=%d layers, C=%d hidden, NH=%d heads, I=%d intermediate, seed %llu\n", c->L,
           c->C, c->NH, c->I, (unsigned long long)c->seed);
    printf("split   %s layers on stages 0..%d%s\n", pipa_split_format(su->counts, su->P, split,
           sizeof split), su->P - 1, ctx->opt->split ? " (--split)" : " (as even as possible)");
}

void demo_json_setup(pipa_json_t *j, const demo_setup_t *su)
{
    pipa_json_begin_object(j, "config");
    pipa_json_int(j, "layers", su->cfg.L);
    pipa_json_int(j, "hidden", su->cfg.C);
    pipa_json_int(j, "heads", su->cfg.NH);
    pipa_json_int(j, "intermediate", su->cfg.I);
    pipa_json_int(j, "batch", su->B);
    pipa_json_int(j, "seq", su->T);
    pipa_json_int(j, "microbatches", su->M);
    pipa_json_int(j, "seed", (int64_t)su->cfg.seed);
    pipa_json_int(j, "stages", su->P);
    int64_t counts[PIPA_MAX_RANKS];
    for (int s = 0; s < su->P; s++) counts[s] = su->counts[s];
    pipa_json_int_array(j, "split", counts, su->P);
    pipa_json_end_object(j);
}

void demo_json_shape(pipa_json_t *j, const char *key, const pipa_desc_t *d)
{
    if (d->ndim == 0) pipa_json_null(j, key);
    else pipa_json_int_array(j, key, d->shape, d->ndim);
}

/* ---- main ------------------------------------------------------------------------------ */

static void print_header(demo_ctx_t *ctx, int argc, char **argv)
{
    const char *device = ctx->opt->force_cpu ? "cpu (" PIPA_CLI_FORCE_CPU_NOTE ")"
                                             : "cpu (no GPU support in this build)";
    char lay[48];
    pipa_layout_describe(&ctx->lay, lay, sizeof lay);
    if (ctx->rank == 0) {
        printf("pipa-demo: pipeline parallelism, computed and measured\n");
        if (ctx->opt->demo == 6)  // demo 6 lays the ranks out several ways: it prints each
            printf("world      %d ranks, laid out by demo 6 (below)\n", ctx->P);
        else
            printf("world      %d ranks, %d pipeline stages (%s): one stage per rank\n", ctx->P,
                   ctx->P, lay);
        printf("device     %s\n", device);
        printf("transport  %s\n", pipa_comm_transport_name(ctx->comm));
        printf("BLAS       %s\n", pipa_blas_summary());
        printf("cpus       %ld online\n", sysconf(_SC_NPROCESSORS_ONLN));
    }
    if (!ctx->json) return;
    pipa_json_t *j = ctx->json;
    pipa_json_begin_object(j, "header");
    pipa_json_int(j, "world", ctx->P);
    pipa_json_int(j, "pp", ctx->lay.pp);
    pipa_json_int(j, "dp", ctx->lay.dp);
    pipa_json_int(j, "tp", ctx->lay.tp);
    pipa_json_str(j, "device", device);
    pipa_json_str(j, "transport", pipa_comm_transport_name(ctx->comm));
    pipa_json_str(j, "blas", pipa_blas_name());
    pipa_json_int(j, "blas_threads", pipa_blas_threads());
    pipa_json_int(j, "cpus", sysconf(_SC_NPROCESSORS_ONLN));
    pipa_json_begin_array(j, "argv");
    for (int i = 0; i < argc; i++) pipa_json_str(j, NULL, argv[i]);
    pipa_json_end_array(j);
    pipa_json_end_object(j);
}

/* Whether demo d runs: the one asked for, else demos 1-5 (demo 6 trains the model six times
 * over: only when asked). */
static int demo_selected(const demo_opts_t *o, int d)
{
    return o->demo ? o->demo == d : d <= 5;
}

/* Runs the selected demos; returns 0 ok, 1 a check failed, -1 an error (ranks out of step). */
static int run_demos(demo_ctx_t *ctx, const demo_setup_t *setups)
{
    static const demo_fn fns[DEMO_COUNT] = {demo_forward, demo_microbatches, demo_memory,
                                            demo_efficiency, demo_schedules, demo_layouts};
    int rc = 0;
    for (int d = 1; d <= DEMO_COUNT; d++) {
        if (!demo_selected(ctx->opt, d)) continue;
        int r = fns[d - 1](ctx, &setups[d - 1]);
        if (r < 0) return -1;  // stop here: the other ranks may be waiting on another step
        if (r > 0) rc = 1;
    }
    if (ctx->rank == 0) {
        if (rc) printf("\nFAILED: a pipelined result differs from the one-process run\n");
        fflush(stdout);
    }
    return rc;
}

/* --grid: the layout against the model of the options (demo 1's sizes where not given) and
 * --microbatches; the grid prints and runs nothing else. */
static pipa_status prepare_grid(demo_ctx_t *ctx)
{
    const demo_opts_t *o = ctx->opt;
    if (o->demo || o->json_path)
        return pipa_status_set_error(PIPA_ERR_ARG, "%s does not apply with --grid (it prints the grid and "
                                     "runs no demo)", o->demo ? "--demo" : "--json");
    pipa_model_config_t m = {.L = o->L ? o->L : 4, .NH = o->NH ? o->NH : 4, .I = o->I ? o->I : 512};
    return pipa_grid_check(&ctx->lay, &m, 1, o->M);
}

/* Everything before the first demo, on this rank: the options, the layout, every selected demo's
 * setup, and the JSON file (rank 0 writes it; a run that cannot write its results does not
 * start). */
static pipa_status prepare(demo_ctx_t *ctx, demo_setup_t *setups)
{
    const demo_opts_t *o = ctx->opt;
    PIPA_TRY(pipa_grid_layout(&ctx->lay, ctx->P, ctx->rank, o->dp, o->pp, o->tp));
    if (o->grid) return prepare_grid(ctx);
    if ((ctx->lay.dp > 1 || ctx->lay.tp > 1) && o->demo != 6)
        return pipa_status_set_error(PIPA_ERR_ARG, "--dp %d --tp %d: the demos run one pipeline over "
                                     "every rank (dp = tp = 1), all but demo 6 (--demo 6), which "
                                     "takes this layout as its first; --grid prints it", ctx->lay.dp,
                                     ctx->lay.tp);
    for (int d = 1; d <= DEMO_COUNT; d++)
        if (demo_selected(o, d)) PIPA_TRY(setup_demo(o, d, ctx->P, ctx->rank, &setups[d - 1]));
    if (ctx->rank == 0 && o->json_path) PIPA_TRY(pipa_cli_check_out_file("--json", o->json_path));
    return PIPA_OK;
}

/* Runs the demos and writes the JSON document; returns as run_demos. */
static int run_all(demo_ctx_t *ctx, const demo_setup_t *setups, int argc, char **argv)
{
    pipa_log_set_identity(ctx->rank, ctx->P, pipa_layout_pp_rank(&ctx->lay));
    pipa_blas_init(0);
    pipa_json_t json;
    pipa_json_init(&json);
    if (ctx->rank == 0 && ctx->opt->json_path) ctx->json = &json;
    if (ctx->json) pipa_json_begin_object(ctx->json, NULL);
    print_header(ctx, argc, argv);
    int rc = run_demos(ctx, setups);
    if (rc >= 0 && ctx->json) {
        pipa_json_bool(ctx->json, "ok", rc == 0);
        pipa_json_end_object(ctx->json);
        if (pipa_json_write(ctx->json, ctx->opt->json_path) != PIPA_OK) {
            fprintf(stderr, "pipa-demo: %s\n", pipa_last_error());
            rc = 1;
        }
    }
    pipa_json_free(&json);
    ctx->json = NULL;
    return rc;
}

int main(int argc, char **argv)
{
    demo_opts_t opt;
    char err[256];
    pipa_blas_choose_core(argv);  // before anything runs: may re-execute
    pipa_cli_check_stdout_at_exit("pipa-demo");
    int bad = parse_options(argc, argv, &opt, err, sizeof err);
    if (!bad && opt.measure_whole_model) return demo_measure_whole_model(&opt);

    demo_ctx_t ctx = {.opt = &opt};
    if (pipa_comm_init(&ctx.comm) != PIPA_OK) {
        fprintf(stderr, "pipa-demo: %s\n", pipa_last_error());
        return 1;
    }
    ctx.rank = pipa_comm_rank(ctx.comm);
    ctx.P = pipa_comm_size(ctx.comm);
    pipa_group_world(&ctx.world, ctx.comm);
    /* Every rank checks its options and setup, then all agree before any demo: a rank that
     * failed alone must not leave the others waiting for it in a collective it never joins.
     * Rank 0 prints the first failing rank's message. */
    demo_setup_t setups[DEMO_COUNT];
    pipa_status s = bad ? pipa_status_set_error(PIPA_ERR_ARG, "%s", err)
                        : opt.help ? PIPA_OK : prepare(&ctx, setups);
    int who, rc = 0;
    if (pipa_agree(&ctx.world, s, &who) != PIPA_OK) {
        if (who < 0) {
            fprintf(stderr, "pipa-demo: rank %d: %s\n", ctx.rank, pipa_last_error());
            return 1;
        }  // a peer is gone: no closing barrier, pipa-run stops the rest
        if (ctx.rank == 0 && who == 0) fprintf(stderr, "pipa-demo: %s\n", pipa_last_error());
        else if (ctx.rank == 0) fprintf(stderr, "pipa-demo: rank %d: %s\n", who, pipa_last_error());
        rc = 2;
    } else if (opt.help) {
        if (ctx.rank == 0) usage(stdout);
    } else {
        rc = opt.grid ? demo_grid(&ctx) : run_all(&ctx, setups, argc, argv);
        /* An error: a peer may be gone, so no closing barrier; pipa-run stops the rest. */
        if (rc < 0) return 1;
    }
    /* Nobody leaves before rank 0 has printed: pipa-run stops every rank as soon as one exits
     * non-zero, which would cut rank 0's message or report short. */
    fflush(stdout);
    fflush(stderr);
    if (pipa_barrier(&ctx.world) != PIPA_OK && rc == 0) rc = 1;
    pipa_comm_free(ctx.comm);
    return rc;
}

int demo_median_index(const double *v, int n)
{
    int idx[DEMO_MAX_REPS];
    PIPA_ASSERT(n >= 1 && n <= DEMO_MAX_REPS);
    for (int i = 0; i < n; i++) idx[i] = i;
    for (int i = 1; i < n; i++) /* insertion sort of the indices: n is a handful */
        for (int k = i; k > 0 && v[idx[k]] < v[idx[k - 1]]; k--) {
            int t = idx[k];
            idx[k] = idx[k - 1];
            idx[k - 1] = t;
        }
    return idx[n / 2];
}
