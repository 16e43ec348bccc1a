/* pipa-demo_layouts.h: what the two parts of demo 6 share: pipa-demo_layouts.c trains the model
 * under each layout and summarises the steps; pipa-demo_layouts_out.c prints the tables and
 * writes the JSON. */
#ifndef PIPA_DEMO_LAYOUTS_H
#define PIPA_DEMO_LAYOUTS_H

#include "pipa-demo.h"

#define LAY_REPS 3  /* timed steps after the warm-up step */

/* The runs of demo 6, in order: the one-process reference (rank 0 alone), part 1's layout, the
 * same sending whole activations between stages (not Megatron's 1/tp shares gathered on
 * arrival), then pp = W, tp = W and dp = W. */
enum { LAY_REF, LAY_MAIN, LAY_WHOLE, LAY_PP, LAY_TP, LAY_DP, LAY_N };

/* One rank's figures of one step, gathered at rank 0. Bytes: what this rank sent in the step,
 * payload only (comm.h): to the next or previous stage, inside its tensor group, inside its data
 * group. Memory: bytes the runtime allocated for this rank, by its tensor table (weights,
 * gradients, AdamW's two moments) and its saved activations at their peak. */
typedef struct {
    int member;                 /* 0: not in this run (the reference runs on rank 0 alone) */
    int p, d, t;                /* coordinates (layout.h) */
    int first, count;           /* layers */
    int64_t weight_bytes, grad_bytes, opt_bytes, act_bytes;
    int64_t sends, share_bytes; /* activations and gradients sent to other stages; bytes each */
    int64_t stage_bytes, tp_bytes, dp_bytes;
    double enter, done;         /* pipa_now() entering the step / at my end */
    double busy_s;              /* F, B, STEP (tensor all-reduces inside F and B included) */
    double tp_s, dp_s;          /* in the tensor group's all-reduces; in the data group's */
    double loss;
} lay_rank_t;

/* One layout's run, at rank 0. */
typedef struct {
    int world, dp, pp, tp;
    int M;                      /* microbatches of each replica: the global count / dp */
    int send_whole;             /* tp > 1: whole activations between stages, not 1/tp shares */
    int skipped;
    char why[240];              /* why it was skipped */
    int same_as;                /* skipped as the same layout as row same_as (-1: not) */
    double step_s;              /* median of LAY_REPS steps */
    double bubble, theory;      /* measured 1 - busy / (world * step); 1F1B's (P-1)/(M+P-1) */
    double loss[1 + LAY_REPS];  /* warm-up step first */
    int ranks_agree;            /* every member reported the same loss bits, every step */
    double max_abs, max_rel;    /* largest loss difference from the reference over the steps */
    int identical;              /* every step's loss has the reference's bits */
    int64_t stage_bytes, tp_bytes, dp_bytes, sends;  /* summed over the ranks, median step */
    int64_t max_memory;         /* the largest rank's weights + gradients + optimizer + acts */
    lay_rank_t *ranks;          /* (W) of the median step */
} lay_row_t;

/* The demo's figures, at rank 0. */
typedef struct {
    lay_row_t row[LAY_N];
    long cpus;                  /* online (sysconf): fewer than W means waiting for a core */
    int ok;                     /* every layout that ran is within tolerance of one process */
} lay_result_t;

#define LAY_TOLERANCE 1e-5      /* relative, of the loss against one process */

void demo_layouts_print_main(const demo_ctx_t *ctx, const demo_setup_t *su, const lay_result_t *r);
void demo_layouts_print_table(const demo_ctx_t *ctx, const demo_setup_t *su, const lay_result_t *r);
void demo_layouts_json(pipa_json_t *j, const demo_ctx_t *ctx, const demo_setup_t *su,
                       const lay_result_t *r);

#endif
