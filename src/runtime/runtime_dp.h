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

/* Sums my gradients (the whole allocation, by the tensor table) over the replicas of my stage. */
pipa_status pipa__runtime_reduce_grads(pipa_runtime_t *tr);

/* Sums one replica's loss sum over the replicas (on the ranks of the last virtual stage). */
pipa_status pipa__runtime_reduce_loss(pipa_runtime_t *tr, double *sum);

#endif
