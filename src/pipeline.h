/* pipeline.h: a pipeline stage (the layers this rank owns, its neighbours) and the pipelined
 * forward pass over M microbatches, measured.
 *
 * Stage s receives microbatch k from stage s-1, runs its layers, sends the result on without
 * waiting for it to arrive, and starts k+1 while k is in flight. The first stage reads the inputs,
 * the last writes the outputs. Every run records how long each stage computed and how long it
 * waited, so the bubble is measured, not estimated. */
#ifndef PIPA_PIPELINE_H
#define PIPA_PIPELINE_H

#include <stdint.h>

#include "comm.h"
#include "layout.h"
#include "layer.h"
#include "model.h"

/* Message tags encode direction, microbatch and chunk: arrival order never matters. */
enum { PIPA_DIR_FWD = 1, PIPA_DIR_BWD = 2 };
static inline uint64_t pipa_tag(int dir, int microbatch, int chunk)
{
    return ((uint64_t)dir << 40) | ((uint64_t)chunk << 24) | (uint64_t)microbatch;
}

#define PIPA_STAGE_SLOTS 2 /* activations in flight per stage: one computing, one sending */

typedef struct {
    pipa_comm_t *comm;
    pipa_group_t pp_group;     /* the stages of my pipeline, in stage order */
    int stage, n_stages;       /* my stage s of P */
    int prev, next;            /* world ranks of my neighbours, -1 at the ends */
    pipa_layers_t layers;      /* the layers I own */
    pipa_scratch_t scratch;
    int B, T;                  /* microbatch shape */
    float *slots[PIPA_STAGE_SLOTS]; /* (B, T, C) each */
} pipa_stage_t;

/* Builds my stage of a model split by counts[P] (layers per stage) for microbatches of B x T. */
pipa_status pipa_stage_init(pipa_stage_t *st, pipa_comm_t *comm, const pipa_layout_t *lay,
                            const pipa_config_t *cfg, const int *counts, int B, int T);
void pipa_stage_free(pipa_stage_t *st);

typedef struct {
    double wall_s;         /* start barrier to my last send leaving */
    double enter_abs;      /* pipa_now() when I entered the start barrier: the run started for
                            * everyone at the latest entry, so the makespan is
                            * max(end_abs) - max(enter_abs) over the stages (one machine) */
    double end_abs;        /* pipa_now() at my end */
    double busy_s;         /* time in my layers */
    int64_t recvs, sends;  /* activation transfers */
    int64_t bytes_sent;
    pipa_desc_t recv_desc, send_desc; /* shapes received and sent (ndim 0 when none) */
} pipa_fwd_stats_t;

/* Runs M microbatches through the pipeline. in: (M, B, T, C), read by the first stage only;
 * out: (M, B, T, C), written by the last stage only. Either may be NULL on other stages. */
pipa_status pipa_pipeline_forward(pipa_stage_t *st, int M, const float *in, float *out,
                                  pipa_fwd_stats_t *stats);

/* The same M microbatches through all layers in this one process, one after another: the
 * unpipelined reference that pipelined outputs must equal bit for bit. */
pipa_status pipa_forward_unpipelined(const pipa_config_t *cfg, int M, int B, int T, const float *in,
                                     float *out);

/* Fills in (M, B, T, C) with the model inputs of microbatches 0..M-1. */
void pipa_pipeline_inputs(const pipa_config_t *cfg, int M, int B, int T, float *in);

/* The bubble of an ideal pipeline with equal stages: (P - 1) / (M + P - 1). */
double pipa_bubble_theory(int P, int M);

#endif
