/* runtime_tied.c: tied embeddings in training. The LM head multiplies by the token embedding
 * (tensors.h); its gradient is the sum of the embedding's use (the scatter of the first layer's
 * input gradient) and the head's (the product with the normed hidden states).
 *
 * Every layout gives the same bits: each use's gradient accumulates over the microbatches in
 * their order into a buffer of its own (P 1: the embedding's table slot and tied_grad; P > 1: the
 * first stage's table slot and the last stage's copy's slot), and before STEP the two are added
 * once, embedding's + head's (a two-member all-reduce between first and last stage at P > 1:
 * a + b is b + a, so both copies get the same bits, those of P 1's add). The copies then take the
 * same optimizer step from the same state, so they stay bit-identical without being sent again.
 * Checkpoints hold the weight once (the first stage's shard); a load sends it to the last stage.
 * Left out: data parallelism (pipa_runtime_init refuses it: its overlapped reductions would start
 * the head's tensors before the sum). */
#include "runtime/runtime_tied.h"

#include <string.h>

#include "model/backend.h"

static int tied_training(const pipa_runtime_t *tr)
{
    return tr->cfg.model.tie_embeddings && !tr->forward_only && tr->cfg.vocab > 0;
}

/* My embedding tensor (the first stage's or the last stage's copy), or NULL. */
static const pipa_tensor_t *embedding(const pipa_runtime_t *tr)
{
    return pipa_tensors_find(&tr->tensors, "model.embed_tokens.weight");
}

pipa_status pipa__runtime_tied_init(pipa_runtime_t *tr, int group_id)
{
    if (!tied_training(tr)) return PIPA_OK;
    const pipa_tensor_t *e = embedding(tr);
    if (tr->P == 1) {
        PIPA_ASSERT(e && tr->ends_grad.lm_head == tr->ends_grad.wte);
        void *buf;
        PIPA_TRY(pipa_backend_alloc(&buf, e->count, 1, "the head's gradient of the embedding"));
        tr->tied_grad = buf;
        tr->ends_grad.lm_head = tr->tied_grad;
        return PIPA_OK;
    }
    tr->tied_member = tr->rank == 0 || tr->rank == tr->P - 1;
    if (!tr->tied_member) return PIPA_OK;
    PIPA_ASSERT(e != NULL);
    const int ranks[2] = {tr->group.ranks[0], tr->group.ranks[tr->P - 1]};
    PIPA_TRY(pipa_group_init(&tr->tied_group, tr->comm, group_id, ranks, 2));
    pipa_group_set_name(&tr->tied_group, "tied ends");
    return PIPA_OK;
}

void pipa__runtime_tied_free(pipa_runtime_t *tr)
{
    pipa_backend_free(tr->tied_grad);
    tr->tied_grad = NULL;
}

pipa_status pipa__runtime_tied_sum(pipa_runtime_t *tr)
{
    if (!tied_training(tr)) return PIPA_OK;
    const pipa_tensor_t *e = embedding(tr);
    if (tr->P == 1) {
        pipa_backend()->elem.add(tr->grads + e->offset, tr->tied_grad, e->count);
        return PIPA_OK;
    }
    if (!tr->tied_member) return PIPA_OK;
    return pipa_allreduce_sum_f32(&tr->tied_group, tr->grads + e->offset, e->count);
}

void pipa__runtime_tied_zero(pipa_runtime_t *tr)
{
    if (tr->tied_grad)
        memset(tr->tied_grad, 0, embedding(tr)->count * sizeof *tr->tied_grad);
}

int pipa__runtime_tied_is_copy(const pipa_runtime_t *tr, int i)
{
    return tr->cfg.model.tie_embeddings && tr->P > 1 && tr->rank == tr->P - 1 &&
           strcmp(tr->tensors.t[i].name, "model.embed_tokens.weight") == 0;
}

pipa_status pipa__runtime_tied_load(pipa_runtime_t *tr)
{
    if (!tied_training(tr) || tr->P == 1 || !tr->tied_member) return PIPA_OK;
    const pipa_tensor_t *e = embedding(tr);
    pipa_desc_t d = pipa_desc_1d(PIPA_F32, (int64_t)e->count);
    PIPA_TRY(pipa_bcast(&tr->tied_group, 0, &d, tr->params + e->offset));
    float *m = tr->opt.state, *v = m ? m + tr->opt.n : NULL;
    if (m) PIPA_TRY(pipa_bcast(&tr->tied_group, 0, &d, m + e->offset));
    if (v) PIPA_TRY(pipa_bcast(&tr->tied_group, 0, &d, v + e->offset));
    return PIPA_OK;
}
