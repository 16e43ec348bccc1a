/* runtime.h: the one loop that executes any checked plan: training, and forward-only plans
 * (inference: nothing saved, no gradients, no optimizer state).
 *
 * A runtime (pipa_runtime_t) is one rank's part of a pipeline: the chunks (virtual stages) it owns with their
 * weights, gradients and optimizer state, the model's ends if it holds them, and activation
 * slots. pipa_runtime_step runs its rank's action list for one optimizer step: receives wait for
 * their message, sends leave without waiting, compute actions call the ops. It knows nothing of
 * which schedule made the plan.
 *
 * Layers are split over the P*V virtual stages (contiguous ranges; the vs of each chunk is the
 * plan's placement, plan.h), the embedding sits before virtual stage 0 and the head after the
 * last one. Gradients accumulate in microbatch order (the checker guarantees it), and the loss is
 * the mean over the whole batch, so a step gives the same bits for every P, V and schedule at the same microbatch size.
 *
 * Data parallelism (layout.h's dp > 1): each replica runs its own pipeline, the same plan, on
 * microbatches of its own: replica d's microbatch mb is the step's global microbatch d * M + mb
 * (contiguous shares: the batch callback is given the global index), so dp replicas of M
 * microbatches see the batch one replica of dp * M would. The loss is the mean over the whole
 * global batch (each head's gradient scaled by 1 / (dp * M * B * T)), and before STEP the
 * gradients are summed in the data group (runtime_dp.c; each layer's reduction started as soon
 * as its gradient is final, overlapping the rest of the backward), in a fixed order:
 * bit-identical for every pp and schedule at the same dp, and within rounding of the one-replica
 * run.
 *
 * Tensor parallelism (layout.h's tp > 1, runtime_tp.c): the tp ranks of a stage hold the slices
 * of its tensors (pipa_tensors_build_tp: heads, the MLP and the vocabulary split, norms whole)
 * and run the same plan in step, the layer and ends passes all-reducing in the tensor group.
 * Between stages tensor rank t sends its 1/tp share of the (B, T, C) array to tensor rank t of
 * the next (or previous) stage, and the receiving group all-gathers it (or, tp_send_whole, each
 * sends the whole array). Every tensor-group buffer is B*T*C (or B*T, 2*B*T) floats whatever the
 * pp, so the reductions' order, and the bits, are the same for every pp and schedule at the same
 * tp; within rounding of the one-process run. Gradients come out whole (norms) or sliced, never
 * all-reduced in the tensor group. */
#ifndef PIPA_RUNTIME_H
#define PIPA_RUNTIME_H

#include <stdint.h>

#include "io/ckpt.h"
#include "comm/comm.h"
#include "plan/layout.h"
#include "model/model.h"
#include "model/optim.h"
#include "plan/plan.h"
#include "model/ends.h"
#include "model/layer.h"
#include "model/tensors.h"

#define PIPA_MAX_CHUNKS 8

typedef struct {
    pipa_model_config_t model;
    int vocab;                  /* 0: no ends, the model runs on activations (forward-only
                                 * plans, through pipa_runtime_forward) */
    int B, T;                   /* microbatch shape */
    pipa_opt_config_t opt;
    int tp_send_whole;          /* tp > 1: each tensor rank sends the whole (B, T, C) activation or
                                 * gradient to the next or previous stage, not its 1/tp share
                                 * (Megatron's scatter-gather, the default: the receiving tensor
                                 * group all-gathers the shares); the same bits either way */
} pipa_train_config_t;

/* Tokens and targets (B, T) of microbatch mb of the current step; tokens or targets may be NULL
 * when the rank does not need them. */
typedef void (*pipa_batch_fn)(void *ctx, int mb, int32_t *tokens, int32_t *targets);

typedef struct {
    int vs;                     /* virtual stage */
    int first, count;           /* layers */
    int prev, next;             /* ranks of virtual stages vs-1 and vs+1, -1 if none */
    pipa_layers_t w, g;         /* views of the runtime's weights and gradients */
} pipa_chunk_t;

/* Everything one live (microbatch, chunk) needs, allocated once, reused. */
typedef struct {
    int mb, chunk;              /* -1 when free */
    void *buf;                  /* one allocation (arena.h) carved into the next four */
    float *x;                   /* (B, T, C) forward input, then output (sent from here) */
    float *dx;                  /* (B, T, C) gradient: received, then the input gradient; NULL
                                 * forward-only */
    int32_t *tokens, *targets;  /* (B, T); NULL without ends */
    pipa_acts_t acts;
    pipa_head_acts_t head;      /* only on the rank with the last virtual stage */
    pipa_req_t send_f, send_b;
} pipa_slot_t;

typedef struct {
    double wall_s;              /* barrier to my STEP done */
    double enter_abs, end_abs;  /* pipa_now() entering the start barrier / at my end: the step
                                 * took max(end_abs) - max(enter_abs) over the ranks */
    double busy_s;              /* F, B, I, W, STEP */
    double busy_kind[PIPA_ACT_COUNT];
    int peak_live;              /* most slots in use at once */
    size_t slot_bytes;          /* activation bytes of one slot */
    double loss;                /* mean over the batch (valid on every rank; 0 without ends) */
    int64_t recvs, sends;       /* activation and gradient transfers */
    int64_t bytes_sent;         /* between stages (tp > 1: the shares, unless tp_send_whole) */
    pipa_desc_t recv_desc, send_desc; /* shapes received and sent (ndim 0 when none) */
    int64_t tp_bytes;           /* sent inside my tensor group (its all-reduces and all-gathers;
                                 * 0 when tp == 1) */
    double tp_s;                /* in those collectives, the others' arrival included (the
                                 * all-reduces run inside F, B and I, so inside busy_s too; the
                                 * all-gathers inside receives) */
    double reduce_s;            /* in the data group's gradient reductions (dp > 1): starting
                                 * them during the backward (inside W or B, so also busy) and
                                 * waiting for them before STEP (not busy) */
    double reduce_wait_s;       /* of which waiting before STEP: what overlap did not hide (the
                                 * others' arrival included); all of it without overlap */
    int64_t dp_bytes;           /* sent inside my data group: the gradient reductions and the
                                 * loss's (0 when dp == 1) */
} pipa_step_stats_t;

typedef struct {
    pipa_comm_t *comm;
    pipa_group_t group;         /* my pipeline, stage order */
    int rank, P, V, M;          /* M: microbatches of my replica per step */
    int dp, d;                  /* data-parallel replicas and mine (layout.h) */
    pipa_group_t dp_group;      /* my stage in every replica, replica order (grid.h) */
    int tp, t;                  /* tensor-parallel ranks per stage and mine (layout.h) */
    pipa_group_t tp_group;      /* my stage's tensor ranks, tensor-rank order (grid.h) */
    float *tp_buf;              /* tp > 1: (3*B*T) the head's softmax statistics; NULL when
                                 * tp == 1 */
    int64_t tp_bytes;           /* this step's so far in tp_group's collectives (the passes'
                                 * reductions and the all-gathers of shares, runtime_tp.c) */
    double tp_s;
    pipa_train_config_t cfg;
    const pipa_plan_t *plan;
    int forward_only;           /* pipa_plan_forward_only(plan): no activations saved, no
                                 * gradients or optimizer state allocated */
    pipa_tensors_t tensors;     /* my parameters by global name: chunks' layers and my ends */
    float *params, *grads;      /* (tensors.total) each, laid out by the table; grads NULL
                                 * forward-only */
    pipa_optim_t opt;           /* over the whole of params (element-wise: one step is every
                                 * tensor's step); unused forward-only */
    pipa_chunk_t chunk[PIPA_MAX_CHUNKS];
    pipa_ends_t ends, ends_grad;  /* views, as the chunks' w and g */
    /* Tied embeddings in training (runtime_tied.c): P 1, the head's gradient of the embedding
     * (its own buffer, added to the embedding's before STEP); P > 1, the first and last stage
     * (each holding a copy) of my pipeline, whose gradients are summed before STEP. */
    float *tied_grad;
    pipa_group_t tied_group;
    int tied_member;            /* P > 1: I am the first or the last stage */
    int has_ends;
    pipa_scratch_t scratch;
    pipa_slot_t *slots;
    int n_slots;
    int *slot_of;               /* (V, M): slot index of (chunk, mb), -1 if none */
    double *loss_sum;           /* (M) on the last stage */
    double *t_start, *t_end;    /* (my actions) when each action of the last step ran, seconds
                                 * from the step's start: the measured timeline (trace.h) */
    int64_t steps;              /* optimizer steps taken */
    struct pipa__runtime_dp *dps;  /* dp > 1 training: the reductions (runtime_dp.c) */
} pipa_runtime_t;

/* Whether a tensor-parallel size fits the model: the heads, the intermediate size and (vocab >= 1)
 * the vocabulary divide by tp. The error names --tp. pipa_runtime_init checks it too. */
pipa_status pipa_runtime_check_tp(const pipa_train_config_t *cfg, int tp);

/* Builds my part for a checked plan; counts[P*V] are the layers of each virtual stage. A plan
 * with a backward needs the ends (vocab >= 1); a forward-only plan a model without them
 * (vocab 0). */
pipa_status pipa_runtime_init(pipa_runtime_t *tr, pipa_comm_t *comm, const pipa_layout_t *lay,
                              const pipa_train_config_t *cfg, const pipa_plan_t *plan,
                              const int *counts);
void pipa_runtime_free(pipa_runtime_t *tr);

/* The tensor table of pipeline rank `rank` of P, V chunks each over counts[P*V] (chunk c is
 * virtual stage pipa_place_vstage(place, P, rank, c), place a plan's pipa_place; the embedding
 * on rank 0, the head on the last virtual stage's rank,
 * with vocab >= 1), tensor rank tp_rank of tp_size (its slices, tensors.h; 0 of 1 without tensor
 * parallelism): what pipa_runtime_init lays out on that rank. */
pipa_status pipa_runtime_tensors(pipa_tensors_t *tab, const pipa_train_config_t *cfg, int P, int V,
                                 int place, int rank, int tp_rank, int tp_size, const int *counts);

/* Runs another checked plan from now on, of the same P and V and kind (training or forward-only),
 * e.g. another number of microbatches; weights and optimizer state stay. The slots are made
 * again for it. On failure the runtime can only be freed. */
pipa_status pipa_runtime_set_plan(pipa_runtime_t *tr, const pipa_plan_t *plan);

/* One optimizer step: runs my actions of the plan over M microbatches. Sends never wait (a slot's
 * buffers are reused once its sends left, or after the communicator copied them): the step
 * returns once every send of mine has left (pipa_flush), so nothing of it is outstanding after. */
pipa_status pipa_runtime_step(pipa_runtime_t *tr, pipa_batch_fn batch, void *ctx,
                              pipa_step_stats_t *stats);

/* Runs my actions of a forward-only plan on a model without ends (vocab 0): in (M, B, T, C) the
 * input of virtual stage 0, read on its ranks only (with tp > 1 each of its tensor ranks); out
 * (M, B, T, C) the output of the last virtual stage, written on its ranks only (either NULL
 * elsewhere). The same loop as pipa_runtime_step; returns once every send of mine has left. */
pipa_status pipa_runtime_forward(pipa_runtime_t *tr, const float *in, float *out,
                                 pipa_step_stats_t *stats);

/* dp > 1: on (the default), each layer's gradient reduction starts as soon as its gradient is
 * final, overlapping the rest of the backward; off, one all-reduce of all gradients before
 * STEP. The same bits either way (runtime_dp.c). No effect at dp 1 or forward-only. */
void pipa_runtime_set_dp_overlap(pipa_runtime_t *tr, int on);

/* Checkpoints (runtime_ckpt.c): my shard of a set directory (ckpt.h), recording extra (may be
 * NULL) beside the model and layout. Save writes it into dir, which must not hold it yet; load
 * reads it, which must be of step `step`, and sets the step count, so a resumed run continues as
 * if it had never stopped. */
pipa_status pipa_runtime_save(pipa_runtime_t *tr, const char *dir, const pipa_ckpt_meta_t *extra);
pipa_status pipa_runtime_load(pipa_runtime_t *tr, const char *dir, const pipa_ckpt_meta_t *extra,
                              int64_t step);

/* FNV-1a hash of the weights of global layer `layer` if I hold it (else 0): lets tests and tools
 * compare parameters across layouts without moving them. With tp > 1, of my slices only. */
uint64_t pipa_runtime_layer_hash(const pipa_runtime_t *tr, int layer);
/* Hash of the embedding (which = 0) or head (which = 1) weights if I hold them, else 0. */
uint64_t pipa_runtime_ends_hash(const pipa_runtime_t *tr, int which);

#endif
