/* runtime_tp.c: the tensor-parallel part of the runtime (runtime.h describes who runs what): the
 * hook that gives the layer and ends passes their reductions over the tensor group, the passes
 * themselves (the one-process call when tp == 1, so a run without tensor parallelism makes
 * exactly the calls it always made), and the messages between stages, whole or Megatron's
 * scatter-gather of 1/tp shares.
 *
 * Every tensor-group collective here moves B*T*C (or B*T, 2*B*T, B*T*C/tp) floats whatever pp
 * and the schedule, so AUTO picks the same algorithm and the ring the same chunks for every pp:
 * the same bits at the same tp. Left out: overlapping the all-reduces with compute, sequence
 * parallelism (the norms run whole on every tensor rank). */
#include "runtime/runtime_tp.h"

#include <stdio.h>

#include "model/backend.h"

/* ---- checks and buffers ------------------------------------------------------------------ */

pipa_status pipa_runtime_check_tp(const pipa_train_config_t *cfg, int tp)
{
    pipa_status s = pipa_config_check_tp(&cfg->model, tp);
    if (s != PIPA_OK) {
        char why[256];  // pipa__fail overwrites the message it would read
        snprintf(why, sizeof why, "%s", pipa_last_error());
        return pipa__fail(s, "--tp %d (tensor-parallel size): %s", tp, why);
    }
    if (cfg->vocab > 0 && cfg->vocab % tp != 0)
        return pipa__fail(PIPA_ERR_ARG, "--tp %d (tensor-parallel size): the vocabulary of %d does "
                          "not divide among %d tensor ranks (the embedding and the LM head are "
                          "split by vocabulary)", tp, cfg->vocab, tp);
    return PIPA_OK;
}

static size_t act_floats(const pipa_runtime_t *tr)
{
    return (size_t)tr->cfg.B * tr->cfg.T * tr->cfg.model.C;
}

/* tp_buf: the head's 3*B*T softmax statistics (pipa_ends_head_forward_tp's scratch). */
pipa_status pipa__runtime_tp_init(pipa_runtime_t *tr)
{
    if (tr->tp == 1) return PIPA_OK;
    PIPA_ASSERT(act_floats(tr) % (size_t)tr->tp == 0);  /* shares exact: C divides by tp */
    size_t n = 3 * (size_t)tr->cfg.B * tr->cfg.T;
    return pipa_backend_alloc((void **)&tr->tp_buf, n, 0, "tensor-parallel buffers");
}

void pipa__runtime_tp_free(pipa_runtime_t *tr)
{
    pipa_backend_free(tr->tp_buf);
    tr->tp_buf = NULL;
}

/* ---- the tensor group's collectives, timed and counted ------------------------------------- */

typedef struct {
    double t0;
    uint64_t bytes0;
} tp_clock_t;

static tp_clock_t clock_start(const pipa_runtime_t *tr)
{
    return (tp_clock_t){pipa_now(), pipa_comm_bytes_sent(tr->comm)};
}

/* Adds the time and bytes since c to the step's and passes s through. */
static pipa_status clock_stop(pipa_runtime_t *tr, tp_clock_t c, pipa_status s)
{
    tr->tp_s += pipa_now() - c.t0;
    tr->tp_bytes += (int64_t)(pipa_comm_bytes_sent(tr->comm) - c.bytes0);
    return s;
}

static pipa_status hook_sum(void *ctx, float *buf, size_t n)
{
    pipa_runtime_t *tr = ctx;
    tp_clock_t c = clock_start(tr);
    return clock_stop(tr, c, pipa_allreduce_sum(&tr->tp_group, PIPA_ALLREDUCE_AUTO, PIPA_F32,
                                                buf, n));
}

static pipa_status hook_max(void *ctx, float *buf, size_t n)
{
    pipa_runtime_t *tr = ctx;
    tp_clock_t c = clock_start(tr);
    return clock_stop(tr, c, pipa_allreduce_max(&tr->tp_group, PIPA_F32, buf, n));
}

/* Made at each call, never kept: the runtime may be moved between calls. */
static pipa_tp_hook_t hook_of(pipa_runtime_t *tr)
{
    return (pipa_tp_hook_t){.allreduce = hook_sum, .allreduce_max = hook_max, .ctx = tr};
}

/* ---- the passes ---------------------------------------------------------------------------- */

pipa_status pipa__runtime_layers_forward(pipa_runtime_t *tr, const pipa_chunk_t *ch, float *x,
                                         pipa_acts_t *save)
{
    int B = tr->cfg.B, T = tr->cfg.T;
    if (tr->tp == 1) {
        pipa_layers_forward(&ch->w, x, B, T, save, &tr->scratch);
        return PIPA_OK;
    }
    pipa_tp_hook_t h = hook_of(tr);
    return pipa_layers_forward_tp(&ch->w, x, B, T, save, &tr->scratch, &h);
}

pipa_status pipa__runtime_layers_backward_input(pipa_runtime_t *tr, const pipa_chunk_t *ch,
                                                pipa_acts_t *a, float *dx)
{
    int B = tr->cfg.B, T = tr->cfg.T;
    if (tr->tp == 1) {
        pipa_layers_backward_input(&ch->w, a, dx, B, T, &tr->scratch);
        return PIPA_OK;
    }
    pipa_tp_hook_t h = hook_of(tr);
    return pipa_layers_backward_input_tp(&ch->w, a, dx, B, T, &tr->scratch, &h);
}

pipa_status pipa__runtime_embed_forward(pipa_runtime_t *tr, const int32_t *tokens, float *x)
{
    if (tr->tp == 1) return pipa_ends_embed_forward(&tr->ends, tokens, x, tr->cfg.B, tr->cfg.T);
    pipa_tp_hook_t h = hook_of(tr);
    return pipa_ends_embed_forward_tp(&tr->ends, tokens, x, tr->cfg.B, tr->cfg.T, &h);
}

void pipa__runtime_embed_backward_weight(pipa_runtime_t *tr, const int32_t *tokens,
                                         const float *dx)
{
    if (tr->tp == 1) pipa_ends_embed_backward_weight(&tr->ends_grad, tokens, dx, tr->cfg.B, tr->cfg.T);
    else pipa_ends_embed_backward_weight_tp(&tr->ends_grad, tokens, dx, tr->cfg.B, tr->cfg.T);
}

pipa_status pipa__runtime_head_forward(pipa_runtime_t *tr, const float *x, const int32_t *targets,
                                       pipa_head_acts_t *h, double *loss_sum)
{
    int B = tr->cfg.B, T = tr->cfg.T;
    if (tr->tp == 1) return pipa_ends_head_forward(&tr->ends, x, targets, B, T, h, loss_sum);
    pipa_tp_hook_t hk = hook_of(tr);
    return pipa_ends_head_forward_tp(&tr->ends, x, targets, B, T, h, tr->tp_buf, loss_sum, &hk);
}

pipa_status pipa__runtime_head_backward_input(pipa_runtime_t *tr, pipa_head_acts_t *h, float scale,
                                              float *dx)
{
    int B = tr->cfg.B, T = tr->cfg.T;
    if (tr->tp == 1) {
        pipa_ends_head_backward_input(&tr->ends, h, scale, dx, B, T);
        return PIPA_OK;
    }
    pipa_tp_hook_t hk = hook_of(tr);
    return pipa_ends_head_backward_input_tp(&tr->ends, h, scale, dx, B, T, &hk);
}

/* ---- messages between stages ---------------------------------------------------------------- */

static int sends_share(const pipa_runtime_t *tr) { return tr->tp > 1 && !tr->cfg.tp_send_whole; }

pipa_desc_t pipa__runtime_msg_desc(const pipa_runtime_t *tr, size_t *offset)
{
    if (!sends_share(tr)) {
        *offset = 0;
        return pipa_desc(PIPA_F32, 3, (int64_t[]){tr->cfg.B, tr->cfg.T, tr->cfg.model.C});
    }
    size_t share = act_floats(tr) / (size_t)tr->tp;  /* exact: C divides by tp */
    *offset = share * (size_t)tr->t;
    return pipa_desc_1d(PIPA_F32, (int64_t)share);
}

pipa_status pipa__runtime_recv_act(pipa_runtime_t *tr, int src, uint64_t tag, float *buf)
{
    size_t off;
    pipa_desc_t d = pipa__runtime_msg_desc(tr, &off);
    if (!sends_share(tr)) return pipa_recv(tr->comm, src, tag, &d, buf);
    /* my share straight into its place, then the others' around it, in place */
    PIPA_TRY(pipa_recv(tr->comm, src, tag, &d, buf + off));
    tp_clock_t c = clock_start(tr);
    return clock_stop(tr, c, pipa_allgather(&tr->tp_group, buf + off, pipa_desc_bytes(&d), buf));
}

pipa_status pipa__runtime_send_act(pipa_runtime_t *tr, int dst, uint64_t tag, const float *buf,
                                   pipa_req_t *req)
{
    size_t off;
    pipa_desc_t d = pipa__runtime_msg_desc(tr, &off);
    return pipa_isend(tr->comm, dst, tag, &d, buf + off, req);
}
