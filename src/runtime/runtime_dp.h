/* runtime_dp.h: internal to the runtime: what data parallelism adds to a step (runtime_dp.c). */
#ifndef PIPA_RUNTIME_DP_H
#define PIPA_RUNTIME_DP_H

#include "runtime/runtime.h"

/* The all-reduce every data group uses: one whose order of additions does not depend on where an
 * element sits in the array, so every pp (another cut of the same tensors) and every schedule
 * gives the same bits at the same dp. With 2 members every algorithm adds a0 + a1 (comm.h), so
 * AUTO (the ring above 64 KiB); with more, the ring's order depends on the element's chunk, so
 * DIRECT, ((a0 + a1) + a2) + ..., for every element. */
pipa_allreduce_algo_t pipa__runtime_dp_algo(int dp);

/* The reductions' state (dp > 1 training, else nothing): overlap on. Free drops what is still
 * outstanding (after a failed step: the sends go on from the communicator's copies). */
pipa_status pipa__runtime_dp_init(pipa_runtime_t *tr);
void pipa__runtime_dp_free(pipa_runtime_t *tr);

/* The weight gradients of microbatch mb on chunk ch (pipa_layers_backward_weight). For the
 * step's last microbatch, whose gradients are final once computed (they accumulate in microbatch
 * order), with overlap: layer by layer, each layer's reduction started right after it (the same
 * ops on the same values, so the same bits). */
pipa_status pipa__runtime_dp_weight_grad(pipa_runtime_t *tr, pipa_chunk_t *ch,
                                         const pipa_acts_t *acts, int mb);
/* After the last microbatch's weight gradients of virtual stage vs, the ends' included: starts
 * the reductions of the ends it holds (the head after the last virtual stage, the embedding
 * before the first). */
pipa_status pipa__runtime_dp_ends_final(pipa_runtime_t *tr, int vs, int mb);

/* Before STEP: my gradients summed over the replicas of my stage: with overlap, waits for the
 * reductions started during the backward (every tensor's must have started); without, one
 * all-reduce of the whole allocation. Adds to st's reduce_s (all time in the reductions, starts
 * included) and reduce_wait_s (time waiting for them here). */
pipa_status pipa__runtime_reduce_grads(pipa_runtime_t *tr, pipa_step_stats_t *st);

/* Sums one replica's loss sum over the replicas (on the ranks of the last virtual stage). */
pipa_status pipa__runtime_reduce_loss(pipa_runtime_t *tr, double *sum);

#endif
