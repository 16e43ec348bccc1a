/* pipa-train.h: what the parts of pipa-train share.
 *
 * pipa-train.c reads and checks the options, builds the model configuration, the split and the
 * plan (generated or read from a file, always checked), loads the corpus and prints the header;
 * pipa-train_loop.c builds the runtime, resumes, runs the steps, gathers the per-rank figures at
 * rank 0, prints the progress lines and the summary, saves checkpoints and writes the JSON. */
#ifndef PIPA_TRAIN_TOOL_H
#define PIPA_TRAIN_TOOL_H

#include <stdint.h>

#include "comm/comm.h"
#include "io/data.h"
#include "base/json.h"
#include "plan/layout.h"
#include "plan/plan.h"
#include "runtime/runtime.h"

#define TRAIN_DEFAULT_SEED 42

/* Options after parsing and defaults. */
typedef struct {
    pipa_sched sched;
    int M, V, steps;          /* microbatches, chunks per rank, total optimizer steps */
    int L, C, NH, I;          /* model size */
    int NKV;                  /* key/value heads (--kv-heads); 0: NH */
    int tie;                  /* --tie-embeddings: the LM head is the token embedding */
    int B, T;                 /* sequences per microbatch, tokens per sequence */
    int pp, dp, tp;           /* 0: not given */
    int tp_send_whole, tp_send_given;  /* --tp-send whole (default slice) */
    int save_every;           /* 0: only at the end */
    int dp_overlap_off;       /* --dp-overlap off: one all-reduce before STEP (runtime.h) */
    int V_given, wd_given, sched_given;
    float lr, wd;
    pipa_opt_kind optimizer;
    uint64_t seed;
    const char *corpus, *split, *plan_path, *json_path, *save_dir, *resume_dir;
    const char *trace_path, *svg_path;  /* the last step's timeline: Chrome trace, SVG */
    int print_plan, print_tensors, help;
    int force_cpu;                      /* accepted, changes nothing (cli.h) */
} train_opts_t;

typedef struct {
    const train_opts_t *opt;
    pipa_comm_t *comm;
    pipa_group_t world;       /* all ranks: dp x tp pipelines of P */
    pipa_layout_t lay;
    int rank, W, P;           /* world rank and size, pipeline stages */
    int M;                    /* microbatches per replica (--microbatches / dp) */
    pipa_train_config_t cfg;
    int counts[PIPA_MAX_RANKS * PIPA_MAX_CHUNKS];   /* (P*V) layers per virtual stage */
    pipa_plan_t plan;
    pipa_plan_report_t report;
    double bubble_theory;     /* pipa_plan_bubble_theory; negative for a --plan file */
    double bubble_sim;        /* simulated with unit costs F=1, B=2, I=1, W=1 */
    pipa_corpus_t corpus;
    int64_t params;           /* whole model */
    pipa_json_t *json;        /* rank 0 with --json, else NULL */
} train_ctx_t;

/* Runs the steps (pipa-train_loop.c). Returns 0 ok, 1 a failure every rank agreed on (printed
 * once; the ranks may still meet at a barrier), -1 a failure seen by this rank alone (printed;
 * a peer may be gone, so no more collectives). */
int train_run(train_ctx_t *ctx);

/* The parameters at the end of a run (pipa-train_params.c), gathered at rank 0: out[L + 2] the
 * hashes of every layer, the embedding and the head (with tp > 1 combined over the tensor ranks'
 * slices); out[L] every layer's sum of |w| (each element once). Collective over the world. */
pipa_status train_gather_hashes(train_ctx_t *ctx, const pipa_runtime_t *tr, uint64_t *out);
pipa_status train_gather_abs_sums(train_ctx_t *ctx, const pipa_runtime_t *tr, double *out);
/* Writes "hashes" (from train_gather_hashes) into the JSON document. */
void train_json_hashes(train_ctx_t *ctx, const uint64_t *h);

/* Every rank calls it with its own status (what, when not NULL, names the operation): rank 0
 * prints the first failing rank's message once (naming that rank unless it is rank 0), and every
 * rank gets the same verdict, 0 all ok or -1 (pipa_agree); -2 when the agreement itself failed
 * (a peer is gone: printed by this rank, no more collectives). */
int train_agree(train_ctx_t *ctx, pipa_status s, const char *what);

#endif
