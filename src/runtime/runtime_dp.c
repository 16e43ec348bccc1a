/* runtime_dp.c: the data-parallel part of a step: the replicas' gradients and losses summed in
 * the data group (runtime.h describes who runs what). One all-reduce of the whole gradient
 * allocation after the last backward of the step, before STEP; starting each layer's reduction
 * as soon as its gradient is final (overlapping the rest of the backward) is left for later. */
#include "runtime/runtime_dp.h"

pipa_allreduce_algo_t pipa__runtime_dp_algo(int dp)
{
    return dp <= 2 ? PIPA_ALLREDUCE_AUTO : PIPA_ALLREDUCE_DIRECT;
}

pipa_status pipa__runtime_reduce_grads(pipa_runtime_t *tr)
{
    return pipa_allreduce_sum(&tr->dp_group, pipa__runtime_dp_algo(tr->dp), PIPA_F32, tr->grads,
                              tr->tensors.total);
}

pipa_status pipa__runtime_reduce_loss(pipa_runtime_t *tr, double *sum)
{
    return pipa_allreduce_sum(&tr->dp_group, pipa__runtime_dp_algo(tr->dp), PIPA_F64, sum, 1);
}
