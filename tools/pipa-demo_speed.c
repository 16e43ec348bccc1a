/* pipa-demo_speed.c: demo 4, pipeline efficiency, measured. For M = 1, 2, 4, ... microbatches
 * the pipelined forward (a forward-only plan run by the runtime) runs a warm-up and then REPS
 * timed runs; the run with the median
 * makespan is reported, stage by stage: busy (in its layers) and idle (makespan - busy: waiting
 * for input during fill, waiting for its sends, finished early during drain). Beside it: the
 * bubble of an ideal pipeline, (P-1)/(M+P-1), and the time of one stage holding every layer
 * (rank 0, same microbatches, same kernels), from which the speedup comes.
 *
 * The makespan is taken on one clock for all ranks (CLOCK_MONOTONIC is machine-wide, and the
 * shm transport keeps every rank on one machine): from the moment the last rank entered the
 * run (no stage can start before) to the moment the last rank finished. Each rank's own wall_s
 * starts when it leaves the start barrier, and a rank that wakes late from that barrier would
 * leave its wait for input out of its wall time, making the pipeline look faster than it is. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "pipa-demo.h"

#define REPS 5

/* One stage's figures of one run, gathered at rank 0. */
typedef struct {
    double enter, done;    /* pipa_now() before the call and after it returned */
    double wall_s, busy_s; /* the library's figures: wall from leaving the start barrier */
    int64_t sends, bytes_sent;
} stage_time_t;

/* One row of the table: a value of M, at rank 0. */
typedef struct {
    int M;
    double makespan_s, one_stage_s;
    stage_time_t *stages;  /* (P) of the median run */
} row_t;

/* From the last rank entering to the last rank done, on the machine-wide clock. */
static double makespan(const stage_time_t *s, int P)
{
    double start = s[0].enter, end = s[0].done;
    for (int i = 1; i < P; i++) {
        if (s[i].enter > start) start = s[i].enter;
        if (s[i].done > end) end = s[i].done;
    }
    return end - start;
}

/* Rank 0: M microbatches through every layer, one after another, as a single stage would run
 * them (copy in, layers in place, copy out). Median of REPS after a warm-up. */
static double time_one_stage(const pipa_layers_t *all, pipa_scratch_t *scr, const demo_setup_t *su,
                             int M, const float *in, float *x, float *out)
{
    size_t act = (size_t)su->B * su->T * su->cfg.C;
    double t[REPS];
    for (int r = -1; r < REPS; r++) {
        double t0 = pipa_now();
        for (int k = 0; k < M; k++) {
            memcpy(x, in + act * k, act * sizeof(float));
            pipa_layers_forward(all, x, su->B, su->T, NULL, scr);
            memcpy(out + act * k, x, act * sizeof(float));
        }
        if (r >= 0) t[r] = pipa_now() - t0;
    }
    return t[demo_median_index(t, REPS)];
}

/* Resources of the demo: the ends' batches, and on rank 0 the whole model. My stage is built
 * for each M (a plan is made for its number of microbatches). */
typedef struct {
    int first, last;             /* I hold the first / last stage */
    int have_all;
    float *in, *out;             /* (Mmax, B, T, C) on the first / last stage */
    pipa_layers_t all;           /* rank 0: every layer, for the one-stage time */
    pipa_scratch_t scr;
    float *one_in, *one_x, *one_out;
} speed_res_t;

static void res_free(speed_res_t *r)
{
    if (r->have_all) {
        pipa_layers_free(&r->all);
        pipa_scratch_free(&r->scr);
    }
    free(r->in), free(r->out), free(r->one_in), free(r->one_x), free(r->one_out);
}

static pipa_status res_init(speed_res_t *r, demo_ctx_t *ctx, const demo_setup_t *su)
{
    memset(r, 0, sizeof *r);
    r->first = ctx->rank == 0, r->last = ctx->rank == ctx->P - 1;
    size_t act = (size_t)su->B * su->T * su->cfg.C, n = act * su->M;
    if (r->first && !(r->in = calloc(n, sizeof(float)))) return pipa_status_set_error(PIPA_ERR_NOMEM, "oom");
    if (r->last && !(r->out = calloc(n, sizeof(float)))) return pipa_status_set_error(PIPA_ERR_NOMEM, "oom");
    if (r->in) pipa_model_inputs(r->in, &su->cfg, su->M, su->B, su->T);
    if (ctx->rank != 0) return PIPA_OK;
    PIPA_TRY(pipa_layers_build(&r->all, &su->cfg, 0, su->cfg.L));
    if (pipa_scratch_init(&r->scr, &su->cfg, su->B, su->T) != PIPA_OK) {
        pipa_layers_free(&r->all);
        return PIPA_ERR_NOMEM;
    }
    r->have_all = 1;
    r->one_in = calloc(n, sizeof(float)), r->one_out = calloc(n, sizeof(float));
    r->one_x = calloc(act, sizeof(float));
    if (!r->one_in || !r->one_out || !r->one_x) return pipa_status_set_error(PIPA_ERR_NOMEM, "oom");
    pipa_model_inputs(r->one_in, &su->cfg, su->M, su->B, su->T);
    return PIPA_OK;
}

/* Measures one value of M on every rank; rank 0 fills row (stages must hold P entries). */
static int measure_m(demo_ctx_t *ctx, const demo_setup_t *su, speed_res_t *r, int M, row_t *row)
{
    int P = ctx->P;
    stage_time_t *runs = calloc((size_t)REPS * P, sizeof *runs);
    if (!runs) {
        pipa_status_set_error(PIPA_ERR_NOMEM, "out of memory");
        return demo_fail(ctx, "demo 4");
    }
    demo_stage_t st;
    if (demo_stage_init(&st, ctx, su, M) != PIPA_OK) {
        free(runs);
        return demo_fail(ctx, "building the stage");
    }
    pipa_step_stats_t stats;
    int rc = 0;
    for (int rep = -1; rep < REPS && rc == 0; rep++) {  // rep -1: the warm-up
        double enter = pipa_now();
        if (pipa_runtime_forward(&st.tr, r->in, r->out, &stats) != PIPA_OK) {
            rc = demo_fail(ctx, "pipelined forward");
            break;
        }
        double done = pipa_now();
        if (rep < 0) continue;
        stage_time_t me = {.enter = enter, .done = done, .wall_s = stats.wall_s,
                           .busy_s = stats.busy_s, .sends = stats.sends,
                           .bytes_sent = stats.bytes_sent};
        if (pipa_gather(&ctx->world, 0, &me, sizeof me, runs + (size_t)rep * P) != PIPA_OK)
            rc = demo_fail(ctx, "gathering the stages' times");
    }
    /* Rank 0 times the one-stage run while the others wait in the barrier, so nothing else
     * competes for the cores. */
    if (rc == 0 && ctx->rank == 0) {
        double spans[REPS];
        for (int rep = 0; rep < REPS; rep++) spans[rep] = makespan(runs + (size_t)rep * P, P);
        int med = demo_median_index(spans, REPS);
        row->M = M;
        row->makespan_s = spans[med];
        memcpy(row->stages, runs + (size_t)med * P, (size_t)P * sizeof *runs);
        row->one_stage_s = time_one_stage(&r->all, &r->scr, su, M, r->one_in, r->one_x, r->one_out);
    }
    if (rc == 0 && pipa_barrier(&ctx->world) != PIPA_OK) rc = demo_fail(ctx, "barrier");
    demo_stage_free(&st);
    free(runs);
    return rc;
}

static void print_rows(const demo_ctx_t *ctx, const row_t *rows, int n)
{
    int P = ctx->P;
    char by[32];
    printf("makespan: from the last rank ready to the last rank done, on the machine's clock.\n"
           "bubble: mean over stages of idle / makespan, idle = makespan - busy; theory: an ideal\n"
           "pipeline of equal stages with free transfers, (P-1)/(M+P-1). one stage: the same M\n"
           "microbatches through all layers on one rank; speedup = one stage / makespan; ideal\n"
           "speedup = P*M/(M+P-1). Each figure: median of %d runs after a warm-up.\n\n", REPS);
    printf("%4s %12s %12s %8s %7s %8s %8s %10s %11s\n", "M", "makespan ms", "1 stage ms",
           "speedup", "ideal", "bubble", "theory", "transfers", "bytes sent");
    for (int i = 0; i < n; i++) {
        const row_t *w = &rows[i];
        double idle = 0;
        int64_t sends = 0, bytes = 0;
        for (int s = 0; s < P; s++) {
            idle += (w->makespan_s - w->stages[s].busy_s) / w->makespan_s;
            sends += w->stages[s].sends, bytes += w->stages[s].bytes_sent;
        }
        printf("%4d %12.3f %12.3f %7.2fx %6.2fx %7.1f%% %7.1f%% %10lld %11s\n", w->M,
               w->makespan_s * 1e3, w->one_stage_s * 1e3, w->one_stage_s / w->makespan_s,
               (double)P * w->M / (w->M + P - 1), 100 * idle / P,
               100 * pipa_plan_bubble_theory(PIPA_SCHED_FORWARD, P, w->M, 1), (long long)sends,
               demo_bytes((double)bytes, by, sizeof by));
    }
    printf("\nper stage, busy / idle in ms (the median run):\n%4s", "M");
    for (int s = 0; s < P; s++) {
        char label[24];
        snprintf(label, sizeof label, "stage %d", s);
        printf("  %19s", label);
    }
    printf("\n");
    for (int i = 0; i < n; i++) {
        printf("%4d", rows[i].M);
        for (int s = 0; s < P; s++) {
            const stage_time_t *t = &rows[i].stages[s];
            printf("  %8.3f /%9.3f", t->busy_s * 1e3, (rows[i].makespan_s - t->busy_s) * 1e3);
        }
        printf("\n");
    }
    printf("\nMore microbatches shrink the fill and drain (the bubble) relative to the work; with\n"
           "tiny microbatches the per-transfer and per-call overheads grow instead.\n");
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    if (cpus > 0 && cpus < P)
        printf("note: %d ranks share %ld cpus, so at most %ld stages compute at once: the measured\n"
               "speedup cannot pass %ldx here, and idle time includes waiting for a core.\n",
               P, cpus, cpus, cpus);
}

static void json_rows(pipa_json_t *j, const demo_ctx_t *ctx, const demo_setup_t *su,
                      const row_t *rows, int n)
{
    int P = ctx->P;
    pipa_json_begin_object(j, "demo4");
    pipa_json_str(j, "title", "efficiency");
    demo_json_setup(j, su);
    pipa_json_int(j, "repeats", REPS);
    pipa_json_begin_array(j, "runs");
    for (int i = 0; i < n; i++) {
        const row_t *w = &rows[i];
        double idle = 0;
        int64_t sends = 0, bytes = 0;
        pipa_json_begin_object(j, NULL);
        pipa_json_int(j, "microbatches", w->M);
        pipa_json_num(j, "makespan_s", w->makespan_s);
        pipa_json_num(j, "one_stage_s", w->one_stage_s);
        pipa_json_num(j, "speedup", w->one_stage_s / w->makespan_s);
        pipa_json_num(j, "ideal_speedup", (double)P * w->M / (w->M + P - 1));
        pipa_json_begin_array(j, "stages");
        for (int s = 0; s < P; s++) {
            const stage_time_t *t = &w->stages[s];
            idle += (w->makespan_s - t->busy_s) / w->makespan_s;
            sends += t->sends, bytes += t->bytes_sent;
            pipa_json_begin_object(j, NULL);
            pipa_json_int(j, "stage", s);
            pipa_json_num(j, "wall_s", t->wall_s);
            pipa_json_num(j, "busy_s", t->busy_s);
            pipa_json_num(j, "idle_s", w->makespan_s - t->busy_s);
            pipa_json_int(j, "sends", t->sends);
            pipa_json_int(j, "bytes_sent", t->bytes_sent);
            pipa_json_end_object(j);
        }
        pipa_json_end_array(j);
        pipa_json_num(j, "bubble_measured", idle / P);
        pipa_json_num(j, "bubble_theory", pipa_plan_bubble_theory(PIPA_SCHED_FORWARD, P, w->M, 1));
        pipa_json_int(j, "transfers", sends);
        pipa_json_int(j, "bytes_sent", bytes);
        pipa_json_end_object(j);
    }
    pipa_json_end_array(j);
    pipa_json_end_object(j);
}

int demo_efficiency(demo_ctx_t *ctx, const demo_setup_t *su)
{
    demo_print_title(ctx, su, "pipeline efficiency");
    if (ctx->rank == 0)
        printf("batch   M microbatches of B=%d x T=%d, M = 1, 2, 4, ... %d\n", su->B, su->T, su->M);
    int n = 0, Ms[32];
    for (int M = 1; M < su->M && n < 31; M *= 2) Ms[n++] = M;
    Ms[n++] = su->M;  // the largest, even when not a power of two
    row_t *rows = calloc((size_t)n, sizeof *rows);
    stage_time_t *stages = calloc((size_t)n * ctx->P, sizeof *stages);
    speed_res_t r;
    int rc = 0;
    if (!rows || !stages) rc = -1, pipa_status_set_error(PIPA_ERR_NOMEM, "out of memory");
    if (rc == 0 && res_init(&r, ctx, su) != PIPA_OK) rc = -1;
    if (rc < 0) demo_fail(ctx, "setting up demo 4");
    for (int i = 0; i < n && rc == 0; i++) {
        rows[i].stages = stages + (size_t)i * ctx->P;
        rc = measure_m(ctx, su, &r, Ms[i], &rows[i]);
    }
    if (rc == 0 && ctx->rank == 0) print_rows(ctx, rows, n);
    if (rc == 0 && ctx->json) json_rows(ctx->json, ctx, su, rows, n);
    if (rows && stages) res_free(&r);
    free(rows);
    free(stages);
    return rc;
}
