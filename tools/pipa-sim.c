/* pipa-sim: schedules on paper. Generates (or reads) a plan, proves it with the checker, runs the
 * simulator with per-action costs, and prints makespan, bubble and peak live activations per
 * rank; draws the timelines as SVG and Chrome trace. One process, no ranks: the same plan code
 * the runtime executes, with a clock instead of a model.
 *
 *   pipa-sim --pp 4 --microbatches 8                   every schedule side by side
 *   pipa-sim --schedule zbv --pp 4 --microbatches 8 --svg zbv.svg
 *   pipa-sim --plan my.plan --svg my.svg               a plan you wrote */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/cli.h"
#include "comm/launch.h"
#include "plan/plan.h"
#include "runtime/trace.h"

typedef struct {
    int P, M, V, all, print_plan;
    int sched_given, V_given, costs_given;
    const char *shape_given;  /* the last of --pp, --microbatches, --chunks given, or NULL */
    pipa_sched sched;
    const char *plan_path, *svg_path, *trace_path;
    pipa_plan_costs_t costs;
} sim_opts_t;

static void usage(FILE *f)
{
    fprintf(f, "usage: pipa-sim [options]\n"
          "Simulates pipeline schedules: makespan, bubble, peak live activations, timelines.\n"
          "  --schedule S        gpipe | 1f1b | interleaved | zb1 | zbv | bfs\n"
          "                      (default: every one of them, side by side)\n"
          "  --pp P              pipeline stages (4; at most %d)\n"
          "  --microbatches M    microbatches (8; at most %d)\n"
          "  --chunks V          model chunks per stage for interleaved and bfs (2; at most %d;\n"
          "                      zbv always runs 2, in its V shape)\n"
          "                      and P x M x V at most %d: the bound on a plan's memory and time\n"
          "                      (about %d bytes per triple; P=%d x M=%d checks and simulates\n"
          "                      in about a second, BENCHMARKS.md)\n"
          "  --plan FILE         simulate a plan written in pipa's text form instead\n"
          "  --cost-f, --cost-b, --cost-i, --cost-w, --cost-step, --cost-comm X\n"
          "                      action costs in any unit (F 1, B 2, I 1, W 1, STEP 0,\n"
          "                      send/receive 0); STEP is busy time, as in a measured run;\n"
          "                      interleaved chunks hold 1/V of the layers, so their F, B, I, W\n"
          "                      costs are divided by V\n"
          "  --print-plan        print the plan in text form (one schedule; --plan reads it back)\n"
          "  --svg FILE          draw the timelines (one band per schedule)\n"
          "  --trace FILE        the same as a Chrome trace (chrome://tracing, Perfetto)\n"
          "  --help              this text\n"
          "columns: simulated makespan and bubble, the schedule's bubble formula (theory:\n"
          "(P-1)/(M+P-1) gpipe and 1f1b, (P-1)/(VM+P-1) interleaved and bfs (M >= P),\n"
          "(P-1)/(3M+P-1) zb1, (P-1)/(6M+P-1) zbv: plan_gen.c cites each), and the peak live\n"
          "(microbatch, chunk) activations per rank (beyond 8 ranks: their max and min)\n",
          PIPA_PLAN_MAX_P, PIPA_PLAN_MAX_M, PIPA_PLAN_MAX_V, PIPA_PLAN_MAX_PMV,
          PIPA_PLAN_BYTES_PER_TRIPLE, PIPA_PLAN_MAX_P, PIPA_PLAN_MAX_PMV / PIPA_PLAN_MAX_P);
}

/* An option that would be ignored is refused: the user meant something by it. */
static pipa_status check_applies(const sim_opts_t *o)
{
    if (o->plan_path && (o->sched_given || o->shape_given))
        return pipa_status_set_error(PIPA_ERR_ARG, "%s does not apply with --plan (the plan file says "
                                     "what runs)", o->sched_given ? "--schedule" : o->shape_given);
    if (o->V_given && o->sched_given && !pipa_sched_interleaves(o->sched))
        return pipa_status_set_error(PIPA_ERR_ARG, "--chunks applies to --schedule interleaved, bfs "
                                     "and zbv only, not %s", pipa_sched_name(o->sched));
    if (o->print_plan && (o->svg_path || o->trace_path || o->costs_given))
        return pipa_status_set_error(PIPA_ERR_ARG, "--%s does not apply with --print-plan (it prints the "
                                     "plan and simulates nothing)", o->svg_path ? "svg" : o->trace_path ?
                                     "trace" : "cost-*");
    /* Checked before the work, so a run that cannot write its results does not start. */
    if (o->svg_path) PIPA_TRY(pipa_cli_check_out_file("--svg", o->svg_path));
    if (o->trace_path) PIPA_TRY(pipa_cli_check_out_file("--trace", o->trace_path));
    return PIPA_OK;
}

static pipa_status parse(int argc, char **argv, sim_opts_t *o)
{
    *o = (sim_opts_t){.P = 4, .M = 8, .V = 2, .all = 1};
    float f = 1, b = 2, i1 = 1, w = 1, step = 0, comm = 0;
    const char *float_names[] = {"--cost-f", "--cost-b",    "--cost-i",
                                 "--cost-w", "--cost-step", "--cost-comm"};
    float *floats[] = {&f, &b, &i1, &w, &step, &comm};
    const char *int_names[] = {"--pp", "--microbatches", "--chunks"};
    int *ints[] = {&o->P, &o->M, &o->V};
    const int int_max[] = {PIPA_PLAN_MAX_P, PIPA_PLAN_MAX_M, PIPA_PLAN_MAX_V};
    for (int i = 1; i < argc; i++) {
        const char *v = NULL;
        int r = 0;
        if (!strcmp(argv[i], "--print-plan")) {
            o->print_plan = 1;
            continue;
        }
        for (int k = 0; k < 6 && r == 0; k++)
            if ((r = pipa_cli_take(argc, argv, &i, float_names[k], &v)) == 1) {
                PIPA_TRY(pipa_cli_float(float_names[k], v, 0, 1e9, floats[k]));
                o->costs_given = 1;
            }
        for (int k = 0; k < 3 && r == 0; k++)
            if ((r = pipa_cli_take(argc, argv, &i, int_names[k], &v)) == 1) {
                PIPA_TRY(pipa_cli_int(int_names[k], v, 1, int_max[k], ints[k]));
                o->V_given |= k == 2;
                o->shape_given = int_names[k];
            }
        if (r == 0 && (r = pipa_cli_take(argc, argv, &i, "--schedule", &v)) == 1) {
            PIPA_TRY(pipa_sched_parse(v, &o->sched));
            o->all = 0, o->sched_given = 1;
        }
        if (r == 0 && (r = pipa_cli_take(argc, argv, &i, "--plan", &v)) == 1) o->plan_path = v;
        if (r == 0 && (r = pipa_cli_take(argc, argv, &i, "--svg", &v)) == 1) o->svg_path = v;
        if (r == 0 && (r = pipa_cli_take(argc, argv, &i, "--trace", &v)) == 1) o->trace_path = v;
        if (r == -1) return pipa_status_set_error(PIPA_ERR_ARG, "%s needs a value", argv[i]);
        if (r == 0) return pipa_status_set_error(PIPA_ERR_ARG, "unknown option '%s' (try --help)", argv[i]);
    }
    if (o->plan_path) o->all = 0;
    if (o->print_plan && o->all)
        return pipa_status_set_error(PIPA_ERR_ARG, "--print-plan prints one plan: give --schedule or --plan");
    PIPA_TRY(check_applies(o));
    /* The plan limits, before any work, for the largest V any row runs. */
    int V = o->all ? (o->V > 2 ? o->V : 2) : pipa_sched_chunks(o->sched, o->V);
    if (!o->plan_path) PIPA_TRY(pipa_plan_check_size(o->P, o->M, V, int_names));
    double c[PIPA_ACT_COUNT] = {[PIPA_ACT_F] = f, [PIPA_ACT_B] = b, [PIPA_ACT_I] = i1,
                                [PIPA_ACT_W] = w, [PIPA_ACT_STEP] = step,
                                [PIPA_ACT_SEND_F] = comm, [PIPA_ACT_SEND_B] = comm};
    memcpy(o->costs.cost, c, sizeof c);
    return PIPA_OK;
}

/* One schedule's plan: generated, or read from the user's file. */
static pipa_status make_plan(const sim_opts_t *o, pipa_sched s, pipa_plan_t *p, char *label,
                             size_t len)
{
    if (!o->plan_path) {
        int V = pipa_sched_chunks(s, o->V);
        if (V > 1) snprintf(label, len, "%s P=%d M=%d V=%d", pipa_sched_name(s), o->P, o->M, V);
        else snprintf(label, len, "%s P=%d M=%d", pipa_sched_name(s), o->P, o->M);
        return pipa_plan_generate(p, s, o->P, o->M, V);
    }
    FILE *f = fopen(o->plan_path, "r");
    if (!f) return pipa_status_set_error(PIPA_ERR_IO, "cannot open plan %s", o->plan_path);
    pipa_status st = pipa_plan_read(p, f, o->plan_path);
    fclose(f);
    snprintf(label, len, "%s", o->plan_path);
    return st;
}

/* Chunks hold 1/V of the layers: their compute costs scale down. */
static pipa_plan_costs_t chunk_costs(const pipa_plan_costs_t *c, int V)
{
    pipa_plan_costs_t out = *c;
    for (int k = PIPA_ACT_F; k <= PIPA_ACT_W; k++) out.cost[k] /= V;
    return out;
}

static void print_row(const char *label, const pipa_plan_t *p, const pipa_plan_report_t *rep,
                      const pipa_plan_sim_t *sim, double theory)
{
    printf("%-26s %9.2f %8.1f%% %8.1f%%   ", label, sim->makespan, 100 * sim->bubble,
           100 * theory);
    if (p->P <= 8) {
        for (int r = 0; r < p->P; r++) printf("%s%d", r ? "," : "", rep->peak_live[r]);
        printf("\n");
        return;
    }
    int hi = 0, lo = 0;   /* a line per plan at any P: the extremes, not every rank */
    for (int r = 1; r < p->P; r++) {
        if (rep->peak_live[r] > rep->peak_live[hi]) hi = r;
        if (rep->peak_live[r] < rep->peak_live[lo]) lo = r;
    }
    printf("max %d (rank %d), min %d (rank %d)\n", rep->peak_live[hi], hi, rep->peak_live[lo], lo);
}

/* Every row's plan, timeline and label, for the SVG and the trace drawn after the table. */
enum { MAX_ROWS = 8 };   /* at least the registry's training schedules */
typedef struct {
    pipa_plan_t plan[MAX_ROWS];
    pipa_timeline_t tl[MAX_ROWS];  /* allocated only for --svg and --trace */
    char label[MAX_ROWS][64];
    int n;
} sim_rows_t;

/* A row that failed: its label (the schedule and size, or the plan file) and why, on stderr.
 * The reader's messages begin with the file's name already. Returns 1. */
static int row_failed(const char *label)
{
    const char *why = pipa_last_error();
    if (!strncmp(why, label, strlen(label))) fprintf(stderr, "pipa-sim: %s\n", why);
    else fprintf(stderr, "pipa-sim: %s: %s\n", label, why);
    return 1;
}

/* One row of the table: makes, checks and simulates one plan and keeps it in rows. Returns 0,
 * or 1 with the reason on stderr. */
static int run_row(const sim_opts_t *o, pipa_sched s, sim_rows_t *rows)
{
    pipa_plan_t *p = &rows->plan[rows->n];
    pipa_timeline_t *tl = &rows->tl[rows->n];
    char *label = rows->label[rows->n];
    pipa_plan_report_t rep;
    pipa_plan_sim_t sim;
    pipa_status st = make_plan(o, s, p, label, sizeof rows->label[0]);
    if (st == PIPA_OK && o->print_plan && (st = pipa_plan_check(p, &rep)) != PIPA_OK) pipa_plan_free(p);
    if (st != PIPA_OK) return row_failed(label);
    if (o->print_plan) {
        st = pipa_plan_write(p, stdout);
        pipa_plan_free(p);
        if (st != PIPA_OK) fprintf(stderr, "pipa-sim: %s\n", pipa_last_error());
        return st != PIPA_OK;
    }
    pipa_plan_costs_t c = chunk_costs(&o->costs, p->V);
    /* A timeline is 16 bytes per action: only when it is drawn. One pass checks and simulates. */
    *tl = (pipa_timeline_t){0};
    st = o->svg_path || o->trace_path ? pipa_timeline_alloc(tl, p) : PIPA_OK;
    if (st == PIPA_OK) st = pipa_plan_check_simulate(p, &rep, &c, &sim, tl->start, tl->end);
    if (st != PIPA_OK) {
        pipa_timeline_free(tl, p);
        pipa_plan_free(p);
        return row_failed(label);
    }
    double theory = o->plan_path ? -0.0 : pipa_plan_bubble_theory(s, p->P, p->M, p->V);
    print_row(label, p, &rep, &sim, theory);
    rows->n++;
    return 0;
}

/* The timelines of every row as SVG and Chrome trace, where asked. Returns 0 or 1. */
static int write_outputs(const sim_opts_t *o, const sim_rows_t *rows)
{
    int rc = 0;
    if (rows->n && o->svg_path) {
        FILE *f = fopen(o->svg_path, "w");
        const pipa_timeline_t *t[MAX_ROWS];
        const pipa_plan_t *pl[MAX_ROWS];
        const char *l[MAX_ROWS];
        for (int k = 0; k < rows->n; k++) t[k] = &rows->tl[k], pl[k] = &rows->plan[k], l[k] = rows->label[k];
        pipa_trace_svg_units(0);
        int ok = f && pipa_trace_svg(f, pl, t, l, rows->n) == PIPA_OK;
        if (f && fclose(f) != 0) ok = 0;
        if (!ok) {
            fprintf(stderr, "pipa-sim: could not write %s\n", o->svg_path);
            rc = 1;
        }
    }
    if (rows->n && o->trace_path) {
        FILE *f = fopen(o->trace_path, "w");
        int ok = f != NULL;
        if (f) {
            pipa_trace_begin(f);
            for (int k = 0; k < rows->n; k++)
                pipa_trace_timeline(f, &rows->plan[k], &rows->tl[k], k, rows->label[k]);
            ok = pipa_trace_end(f) == PIPA_OK;
            if (fclose(f) != 0) ok = 0;
        }
        if (!ok) {
            fprintf(stderr, "pipa-sim: could not write %s\n", o->trace_path);
            rc = 1;
        }
    }
    return rc;
}

int main(int argc, char **argv)
{
    sim_opts_t o;
    pipa_cli_check_stdout_at_exit("pipa-sim");
    for (int i = 1; i < argc; i++)
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) return usage(stdout), 0;
    /* pipa-sim starts no ranks, but PIPA_LOG and the rest mean the same here: refused alike. */
    if (pipa_launch_env_check() != PIPA_OK || parse(argc, argv, &o) != PIPA_OK)
        return fprintf(stderr, "pipa-sim: %s\n", pipa_last_error()), 2;
    /* Side by side: every training schedule of the registry; else the one asked for. */
    pipa_sched list[MAX_ROWS];
    int n = 0, rc = 0;
    for (int k = 0; o.all && k < pipa_sched_count() && n < MAX_ROWS; k++)
        if (pipa_sched_info((pipa_sched)k)->training) list[n++] = (pipa_sched)k;
    if (!o.all) list[n++] = o.sched;
    if (!o.print_plan) printf("# costs: F %g, B %g, I %g, W %g, STEP %g, send %g (V chunks per rank: "
                              "F, B, I, W / V)\n",
           o.costs.cost[PIPA_ACT_F], o.costs.cost[PIPA_ACT_B], o.costs.cost[PIPA_ACT_I],
           o.costs.cost[PIPA_ACT_W], o.costs.cost[PIPA_ACT_STEP], o.costs.cost[PIPA_ACT_SEND_F]);
    if (!o.print_plan) printf("%-26s %9s %9s %9s   %s\n", "# plan", "makespan", "bubble", "theory", "peak live per rank");
    sim_rows_t rows = {.n = 0};
    for (int k = 0; k < n; k++) {
        /* Side by side, interleaved joins only where it applies; asked for alone, it fails. */
        if (o.all && pipa_sched_interleaves(list[k]) && (o.P < 2 || pipa_sched_chunks(list[k], o.V) < 2)) {
            printf("# %s: skipped, it needs --pp 2 or more and --chunks 2 or more\n",
                   pipa_sched_name(list[k]));
            continue;
        }
        rc |= run_row(&o, list[k], &rows);
    }
    rc |= write_outputs(&o, &rows);
    for (int k = 0; k < rows.n; k++) {
        pipa_timeline_free(&rows.tl[k], &rows.plan[k]);
        pipa_plan_free(&rows.plan[k]);
    }
    return rc;
}
