/* runtime_dp.c: the data-parallel part of a step: the replicas' gradients and losses summed in
 * the data group (runtime.h describes who runs what).
 *
 * Overlap (the default): a gradient is final after the step's last microbatch's weight gradient
 * (gradients accumulate in microbatch order, whatever the schedule). That pass runs layer by
 * layer, and each layer's reduction starts (pipa_allreduce_start: its array posted to the other
 * replicas) as soon as its gradient is computed; the ends' after theirs. The reductions then
 * travel while the rest of the backward runs (each start and the runtime's own messages push
 * them on), and STEP waits for them all. The non-blocking all-reduce adds in group order, the
 * DIRECT order pipa__runtime_dp_algo gives every element, and each tensor is reduced on its own
 * rather than the whole allocation at once: the same additions on every element, so the same
 * bits (the padding between groups of tensors is zero everywhere and stays zero).
 * Without overlap (pipa_runtime_set_dp_overlap): one all-reduce of the whole allocation before
 * STEP, as it was first built; kept to measure the difference. */
#include "runtime/runtime_dp.h"

#include <stdlib.h>
#include <string.h>

struct pipa__runtime_dp {
    int overlap;                 /* reductions started during the backward */
    pipa_allreduce_req_t *req;   /* (cap) started in this step, in start order */
    int n, cap;                  /* started; pieces per step: my layers and ends */
    double reduce_s;             /* this step's time in starts and progress so far */
    int64_t bytes;               /* and the bytes those starts sent */
};

pipa_allreduce_algo_t pipa__runtime_dp_algo(int dp)
{
    return dp <= 2 ? PIPA_ALLREDUCE_AUTO : PIPA_ALLREDUCE_DIRECT;
}

pipa_status pipa__runtime_dp_init(pipa_runtime_t *tr)
{
    if (tr->dp < 2 || tr->forward_only) return PIPA_OK;
    struct pipa__runtime_dp *x = calloc(1, sizeof *x);
    if (!x) return pipa__fail(PIPA_ERR_NOMEM, "out of memory for the data group's reductions");
    tr->dps = x;
    x->overlap = 1;
    for (int c = 0; c < tr->V; c++) x->cap += tr->chunk[c].count;
    x->cap += tr->ends.has_embedding + tr->ends.has_head;
    x->req = calloc((size_t)x->cap + 1, sizeof *x->req);
    return x->req ? PIPA_OK : pipa__fail(PIPA_ERR_NOMEM, "out of memory for the data group's "
                                         "reductions");
}

void pipa__runtime_dp_free(pipa_runtime_t *tr)
{
    struct pipa__runtime_dp *x = tr->dps;
    if (!x) return;
    for (int i = 0; x->req && i < x->n; i++) pipa_allreduce_drop(&x->req[i]);
    free(x->req);
    free(x);
    tr->dps = NULL;
}

void pipa_runtime_set_dp_overlap(pipa_runtime_t *tr, int on)
{
    if (tr->dps) tr->dps->overlap = on != 0;
}

static int overlapping(const pipa_runtime_t *tr) { return tr->dps && tr->dps->overlap; }

/* Starts the reduction of n gradients at g, then pushes on the ones under way. */
static pipa_status start(pipa_runtime_t *tr, float *g, size_t n)
{
    struct pipa__runtime_dp *x = tr->dps;
    double t0 = pipa_now();
    uint64_t b0 = pipa_comm_bytes_sent(tr->comm);
    PIPA_ASSERT(x->n < x->cap);  /* one reduction per tensor group per step */
    PIPA_TRY(pipa_allreduce_start(&tr->dp_group, PIPA_F32, g, n, &x->req[x->n]));
    x->n++;
    for (int i = 0; i < x->n; i++) PIPA_TRY(pipa_allreduce_progress(&x->req[i]));
    x->reduce_s += pipa_now() - t0;
    x->bytes += (int64_t)(pipa_comm_bytes_sent(tr->comm) - b0);
    return PIPA_OK;
}

/* Layer i of ls alone: a view of one layer, for a pass run layer by layer. */
static pipa_layers_t one_layer(const pipa_layers_t *ls, int i)
{
    pipa_layers_t one = *ls;
    size_t per = ls->n_params / (size_t)ls->count;
    one.first += i;
    one.count = 1;
    one.layers += i;
    one.params = ls->params + per * (size_t)i;
    one.n_params = per;
    one.alloc = NULL;
    PIPA_ASSERT(one.layers[0].attn_norm == one.params);  /* a range is one packed vector */
    return one;
}

pipa_status pipa__runtime_dp_weight_grad(pipa_runtime_t *tr, pipa_chunk_t *ch,
                                         const pipa_acts_t *acts, int mb)
{
    int B = tr->cfg.B, T = tr->cfg.T;
    if (mb != tr->M - 1 || !overlapping(tr)) {
        pipa_layers_backward_weight(&ch->w, acts, &ch->g, B, T);
        return PIPA_OK;
    }
    for (int i = 0; i < ch->count; i++) {  /* the pass's own order: layers in memory order */
        pipa_layers_t w = one_layer(&ch->w, i), g = one_layer(&ch->g, i);
        pipa_acts_t a = *acts;
        a.layers += i;
        a.count -= i;
        pipa_layers_backward_weight(&w, &a, &g, B, T);
        PIPA_TRY(start(tr, g.params, g.n_params));
    }
    return PIPA_OK;
}

/* The gradients of the table's tensors first .. last (packed: one vector). */
static pipa_status start_tensors(pipa_runtime_t *tr, const char *first, const char *last)
{
    const pipa_tensor_t *a = pipa_tensors_find(&tr->tensors, first);
    const pipa_tensor_t *b = pipa_tensors_find(&tr->tensors, last);
    PIPA_ASSERT(a && b && b->offset >= a->offset);
    return start(tr, tr->grads + a->offset, b->offset + b->count - a->offset);
}

pipa_status pipa__runtime_dp_ends_final(pipa_runtime_t *tr, int vs, int mb)
{
    if (mb != tr->M - 1 || !overlapping(tr)) return PIPA_OK;
    if (vs == tr->P * tr->V - 1 && tr->ends.has_head)
        PIPA_TRY(start_tensors(tr, "model.norm.weight", "lm_head.weight"));
    if (vs == 0 && tr->ends.has_embedding)
        PIPA_TRY(start_tensors(tr, "model.embed_tokens.weight", "model.embed_tokens.weight"));
    return PIPA_OK;
}

/* Waits for every reduction started in this step, in start order. */
static pipa_status wait_all(pipa_runtime_t *tr)
{
    struct pipa__runtime_dp *x = tr->dps;
    /* every tensor's reduction started: the plan gave each chunk its last microbatch's backward */
    PIPA_ASSERT(x->n == x->cap);
    for (int i = 0; i < x->n; i++) {
        pipa_status s = pipa_allreduce_wait(&x->req[i]);
        if (s != PIPA_OK) {  /* the rest are dropped: their sends go on from copies */
            for (int k = i + 1; k < x->n; k++) pipa_allreduce_drop(&x->req[k]);
            x->n = 0;
            return s;
        }
    }
    x->n = 0;
    return PIPA_OK;
}

pipa_status pipa__runtime_reduce_grads(pipa_runtime_t *tr, pipa_step_stats_t *st)
{
    double t0 = pipa_now();
    uint64_t b0 = pipa_comm_bytes_sent(tr->comm);
    pipa_status s = overlapping(tr)
                        ? wait_all(tr)
                        : pipa_allreduce_sum(&tr->dp_group, pipa__runtime_dp_algo(tr->dp),
                                             PIPA_F32, tr->grads, tr->tensors.total);
    double waited = pipa_now() - t0;
    st->reduce_wait_s += waited;
    st->reduce_s += waited + (tr->dps ? tr->dps->reduce_s : 0);
    st->dp_bytes += (int64_t)(pipa_comm_bytes_sent(tr->comm) - b0) + (tr->dps ? tr->dps->bytes : 0);
    if (tr->dps) tr->dps->reduce_s = 0, tr->dps->bytes = 0;
    return s;
}

pipa_status pipa__runtime_reduce_loss(pipa_runtime_t *tr, double *sum)
{
    return pipa_allreduce_sum(&tr->dp_group, pipa__runtime_dp_algo(tr->dp), PIPA_F64, sum, 1);
}
