/* pipa-demo.h: what the parts of pipa-demo share: options, each demo's setup, the run context,
 * and small formatting helpers.
 *
 * pipa-demo.c parses options, prints the header and runs the demos; pipa-demo_flow.c holds
 * demos 1 and 2 (activations flowing, bit-identical check), pipa-demo_memory.c demo 3 (parameters
 * and peak RSS per rank beside a one-process model), pipa-demo_speed.c demo 4 (busy, idle and
 * bubble against microbatches), pipa-demo_sched.c demo 5 (the four schedules training side by
 * side: step time, bubbles measured, analytic and simulated, peak activations, loss),
 * pipa-demo_layouts*.c demo 6 (pipeline, tensor and data parallelism over the same ranks side by
 * side). Every demo computes on all ranks, gathers per-rank records at
 * rank 0, and rank 0 alone prints them and adds them to the JSON document. */
#ifndef PIPA_DEMO_H
#define PIPA_DEMO_H

#include <stdint.h>

#include "comm/comm.h"
#include "base/json.h"
#include "plan/layout.h"
#include "model/layer.h"
#include "model/model.h"
#include "plan/plan.h"
#include "runtime/runtime.h"

#define DEMO_COUNT 6      /* demos 1-5 run by default; demo 6 only when asked (--demo 6) */
#define DEMO_DEFAULT_SEED 42

/* Options as given; 0 (or NULL) means "not given: each demo uses its own default". */
typedef struct {
    int demo;                 /* 1..6 for one demo, 0 for demos 1-5 */
    int force_cpu;
    int L, C, NH, I, B, T, M;
    uint64_t seed;
    int seed_given;
    int pp, dp, tp;           /* 0: not given (dp = tp = 1, pp the rest) */
    int grid;                 /* --grid: print the layout's grid instead of the demos */
    const char *split;
    const char *json_path;
    int help;
    int measure_whole_model;  /* hidden: the child of demo 3 (see pipa-demo_memory.c) */
} demo_opts_t;

/* One demo's model and batch after defaults and options are merged, and its split. */
typedef struct {
    int demo;
    pipa_model_config_t cfg;
    int B, T, M;              /* microbatch B x T tokens; M microbatches (demo 4: largest M) */
    int P;
    int counts[PIPA_MAX_RANKS];
    pipa_layout_t lay;        /* demo 6: part 1's layout (P = its pp, counts its split) */
} demo_setup_t;

typedef struct {
    const demo_opts_t *opt;
    pipa_comm_t *comm;
    pipa_group_t world;       /* all ranks; world == pipeline for now (dp = tp = 1) */
    pipa_layout_t lay;
    int rank, P;
    pipa_json_t *json;        /* rank 0 only (NULL elsewhere, and without --json) */
} demo_ctx_t;

/* A demo's result: 0 ok, 1 a check failed (outputs differ), -1 an error (already printed). */
typedef int (*demo_fn)(demo_ctx_t *ctx, const demo_setup_t *su);
int demo_forward(demo_ctx_t *ctx, const demo_setup_t *su);       /* demo 1 */
int demo_microbatches(demo_ctx_t *ctx, const demo_setup_t *su);  /* demo 2 */
int demo_memory(demo_ctx_t *ctx, const demo_setup_t *su);        /* demo 3 */
int demo_efficiency(demo_ctx_t *ctx, const demo_setup_t *su);    /* demo 4 */
int demo_schedules(demo_ctx_t *ctx, const demo_setup_t *su);     /* demo 5 */
int demo_layouts(demo_ctx_t *ctx, const demo_setup_t *su);       /* demo 6 */
/* Demo 6's part 1 layout of `world` ranks into su->lay, and su->P and su->counts by it: --pp,
 * --dp, --tp if given, else pp 2 x tp world/2 where it fits the model, else pp = world; checked
 * against the model, the vocabulary and the batch. Errors name the options. */
pipa_status demo_layouts_choose(const demo_opts_t *o, int world, int rank, demo_setup_t *su);
/* --grid (pipa-demo_grid.c): every rank's coordinates and groups, and one sum in each group
 * through its handle; returns as a demo. */
int demo_grid(demo_ctx_t *ctx);
/* The same for layout l (of every rank of the world), e.g. one of demo 6's. */
int demo_grid_show(demo_ctx_t *ctx, const pipa_layout_t *l);

/* The hidden child mode of demo 3: builds the whole model, runs one forward, prints its peak
 * RSS. Returns the process exit code. */
int demo_measure_whole_model(const demo_opts_t *opt);

/* My stage of a forward-only run (demos 1-4): the plan of schedule "forward" for M microbatches,
 * checked, and the runtime executing it (pipa_runtime_forward) on the setup's model without ends.
 * Nothing is saved for a backward: this is inference. */
typedef struct {
    pipa_plan_t plan;
    pipa_runtime_t tr;
    int stage, first, count, prev, next;  /* my stage, layers and neighbours (-1: none) */
    size_t n_params;                      /* floats of my layers' weights */
} demo_stage_t;
pipa_status demo_stage_init(demo_stage_t *st, demo_ctx_t *ctx, const demo_setup_t *su, int M);
void demo_stage_free(demo_stage_t *st);

/* ---- helpers (pipa-demo.c) ------------------------------------------------------------ */
/* The training demos' batch (demos 5 and 6): the same tokens every step, a function of the seed,
 * the global microbatch and the position only, over a byte-level vocabulary; targets a fixed
 * (learnable) map of the tokens. A pipa_batch_fn over a demo_batch_t. */
#define DEMO_VOCAB 256
typedef struct {
    uint64_t seed;
    int B, T;
} demo_batch_t;
void demo_batch(void *ctx, int mb, int32_t *tokens, int32_t *targets);
/* Prints on stderr "pipa-demo: rank r: what: <last library error>" and returns -1. */
int demo_fail(const demo_ctx_t *ctx, const char *what);
/* Section title, the model line and the split line (rank 0 only). */
void demo_print_title(const demo_ctx_t *ctx, const demo_setup_t *su, const char *title);
/* Index of the median of n values (the middle one once sorted), n at most DEMO_MAX_REPS. */
#define DEMO_MAX_REPS 32
int demo_median_index(const double *v, int n);
/* "layers 2-3", "layer 2" into buf. Returns buf. */
char *demo_layer_range(int first, int count, char *buf, size_t len);
/* "-" for a shape with no dimensions, else pipa_desc_str. Returns buf (96 bytes). */
char *demo_shape(const pipa_desc_t *d, char *buf, size_t len);
/* 123456789 -> "117.7 MiB". Returns buf. */
char *demo_bytes(double bytes, char *buf, size_t len);
/* Writes the setup's configuration and split as members of the current JSON object. */
void demo_json_setup(pipa_json_t *j, const demo_setup_t *su);
void demo_json_shape(pipa_json_t *j, const char *key, const pipa_desc_t *d);

#endif
