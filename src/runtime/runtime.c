/* runtime.c: executes one rank's action list of a checked plan (see runtime.h), training or
 * forward-only: the one executor of every pipelined run.
 * Tensor parallelism's passes and messages are in runtime_tp.c, data parallelism's reductions in
 * runtime_dp.c. Left out: overlapping compute with receives on transports that move data
 * asynchronously (shm copies when the receive is waited on). */
#include "runtime/runtime.h"
#include "runtime/grid.h"
#include "runtime/runtime_dp.h"
#include "runtime/runtime_tied.h"
#include "runtime/runtime_tp.h"

#include <stdlib.h>
#include <string.h>

#include "base/arena.h"
#include "model/backend.h"
#include "base/hash.h"
#include "plan/split.h"

/* ---- building ----------------------------------------------------------------------------- */

static int last_vs(const pipa_runtime_t *tr) { return tr->P * tr->V - 1; }
/* The rank of the last virtual stage (the head's): P - 1 round-robin, 0 in the V shape. */
static int last_rank(const pipa_runtime_t *tr) { return pipa_vstage_rank(tr->plan, last_vs(tr)); }
/* Tokens in the global batch (every replica's microbatches): the loss is their mean. */
static double batch_tokens(const pipa_runtime_t *tr)
{
    return (double)tr->dp * tr->M * tr->cfg.B * tr->cfg.T;
}

/* Where chunk c sits: its virtual stage (the plan's placement), layers and neighbours. */
static void chunk_place(pipa_runtime_t *tr, int c, const int *counts)
{
    pipa_chunk_t *ch = &tr->chunk[c];
    const pipa_plan_t *p = tr->plan;
    ch->vs = pipa_vstage(p, tr->rank, c);
    ch->count = counts[ch->vs];
    pipa_split_first(counts, ch->vs, &ch->first);
    ch->prev = ch->vs > 0 ? tr->group.ranks[pipa_vstage_rank(p, ch->vs - 1)] : -1; /* world ranks */
    ch->next = ch->vs < last_vs(tr) ? tr->group.ranks[pipa_vstage_rank(p, ch->vs + 1)] : -1;
}

pipa_status pipa_runtime_tensors(pipa_tensors_t *tab, const pipa_train_config_t *cfg, int P, int V,
                                 int place, int rank, int tp_rank, int tp_size, const int *counts)
{
    PIPA_ASSERT(V >= 1 && V <= PIPA_MAX_CHUNKS && rank >= 0 && rank < P);
    pipa_layer_range_t r[PIPA_MAX_CHUNKS];
    for (int c = 0; c < V; c++) {
        int vs = pipa_place_vstage(place, P, rank, c);
        r[c].count = counts[vs];
        pipa_split_first(counts, vs, &r[c].first);
    }
    int ends = cfg->vocab > 0;  // vocab 0: a model without ends
    return pipa_tensors_build_tp(tab, &cfg->model, cfg->vocab, r, V, ends && rank == 0,
                                 ends && rank == pipa_place_rank(place, P, P * V - 1), tp_rank,
                                 tp_size);
}

/* Points the chunks' and ends' fields at params (and grads, training) by name. */
static pipa_status views_init(pipa_runtime_t *tr)
{
    for (int c = 0; c < tr->V; c++) {
        pipa_chunk_t *ch = &tr->chunk[c];
        PIPA_TRY(pipa_tensors_view_layers(&tr->tensors, tr->params, ch->first, ch->count, &ch->w));
        if (tr->grads)
            PIPA_TRY(pipa_tensors_view_layers(&tr->tensors, tr->grads, ch->first, ch->count, &ch->g));
    }
    pipa_tensors_view_ends(&tr->tensors, tr->params, &tr->ends);
    tr->has_ends = tr->ends.has_embedding || tr->ends.has_head;
    if (tr->has_ends && tr->grads) pipa_tensors_view_ends(&tr->tensors, tr->grads, &tr->ends_grad);
    return PIPA_OK;
}

/* My table (chunks' layers, the ends I hold), and by it one allocation each of weights,
 * gradients and optimizer state; forward-only plans need the weights alone. */
static pipa_status params_init(pipa_runtime_t *tr, const int *counts)
{
    for (int c = 0; c < tr->V; c++) chunk_place(tr, c, counts);
    PIPA_TRY(pipa_runtime_tensors(&tr->tensors, &tr->cfg, tr->P, tr->V, tr->plan->place, tr->rank,
                                  tr->t, tr->tp, counts));
    PIPA_TRY(pipa_tensors_alloc(&tr->tensors, &tr->params, 1, "stage parameters"));
    if (!tr->forward_only) {  // inference: no gradients, no optimizer state
        PIPA_TRY(pipa_tensors_alloc(&tr->tensors, &tr->grads, 0, "stage gradients"));
        PIPA_TRY(pipa_optim_init(&tr->opt, &tr->cfg.opt, tr->tensors.total));
    }
    return views_init(tr);
}

/* When a (microbatch, chunk) is done with its slot: its last compute ran (the backward, B or W;
 * in a forward-only plan the F) and its last message left (SEND_B; forward-only: SEND_F), or
 * there is no such message (the first virtual stage; forward-only: the last). */
static int ends_compute(const pipa_runtime_t *tr, int kind)
{
    if (tr->forward_only) return kind == PIPA_ACT_F;
    return kind == PIPA_ACT_B || kind == PIPA_ACT_W;
}
static int ends_sends(const pipa_runtime_t *tr, int kind)
{
    return kind == (tr->forward_only ? PIPA_ACT_SEND_F : PIPA_ACT_SEND_B);
}
static int sends_nothing(const pipa_runtime_t *tr, int vs)
{
    return tr->forward_only ? vs == last_vs(tr) : vs == 0;
}

/* Slots: a (microbatch, chunk) takes one at its first RECV_F or F and gives it back once it is
 * done with it (above). This dry run of my list counts how many are ever live at once, so they
 * are all allocated before the first step. */
static int count_slots(const pipa_runtime_t *tr)
{
    int V = tr->V, M = tr->M, live = 0, peak = 0;
    char *state = calloc((size_t)V * M, 1); /* bit 1 live, 2 compute done, 4 sent or none */
    const pipa_action_t *a = tr->plan->act[tr->rank];
    for (int i = 0; i < tr->plan->len[tr->rank]; i++) {
        if (a[i].kind == PIPA_ACT_STEP) continue;
        char *s = &state[a[i].chunk * M + a[i].mb];
        int vs = pipa_vstage(tr->plan, tr->rank, a[i].chunk);
        if (!(*s & 1)) {
            *s = 1 | (sends_nothing(tr, vs) ? 4 : 0);
            peak = ++live > peak ? live : peak;
        }
        if (ends_compute(tr, a[i].kind)) *s |= 2;
        if (ends_sends(tr, a[i].kind)) *s |= 4;
        if ((*s & 7) == 7) {
            *s = 8; /* done for this step */
            live--;
        }
    }
    free(state);
    return peak;
}

static pipa_status slot_init(pipa_runtime_t *tr, pipa_slot_t *s, int max_count, int head)
{
    const pipa_train_config_t *c = &tr->cfg;
    size_t act = (size_t)c->B * c->T * c->model.C, tok = (size_t)c->B * c->T;
    s->mb = s->chunk = -1;
    /* Forward-only: x alone (the activation in flight); no gradient, nothing saved. */
    int grads = !tr->forward_only, tokens = tr->has_ends;
    enum { S_X, S_DX, S_TOKENS, S_TARGETS, N_BUFS };
    const pipa_piece_t t[N_BUFS] = {{"x", act}, {"dx", grads ? act : 0},
                                    {"tokens", tokens ? tok : 0}, {"targets", tokens ? tok : 0}};
    size_t off[N_BUFS], total = pipa_arena_layout(t, N_BUFS, 16, off);
    PIPA_TRY(pipa_backend_alloc(&s->buf, total, 0, "activation slot"));
    s->x = (float *)s->buf + off[S_X];
    s->dx = grads ? (float *)s->buf + off[S_DX] : NULL;
    s->tokens = tokens ? (int32_t *)s->buf + off[S_TOKENS] : NULL;
    s->targets = tokens ? (int32_t *)s->buf + off[S_TARGETS] : NULL;
    PIPA_TRY(pipa_acts_init_tp(&s->acts, &c->model, tr->tp, grads ? max_count : 0, c->B, c->T));
    if (head) PIPA_TRY(pipa_head_acts_init(&s->head, &c->model, c->vocab / tr->tp, c->B, c->T));
    return PIPA_OK;
}

static pipa_status slots_init(pipa_runtime_t *tr)
{
    int max_count = 0;
    for (int c = 0; c < tr->V; c++)
        if (tr->chunk[c].count > max_count) max_count = tr->chunk[c].count;
    /* Forward-only: one slot more than are live, so the next microbatch rarely finds its slot's
     * send still under way (one computing, one sending). */
    tr->n_slots = count_slots(tr) + tr->forward_only;
    tr->slots = calloc((size_t)tr->n_slots + 1, sizeof *tr->slots);
    tr->slot_of = malloc((size_t)tr->V * tr->M * sizeof(int));
    tr->loss_sum = calloc((size_t)tr->M, sizeof(double));
    tr->t_start = calloc((size_t)tr->plan->len[tr->rank] + 1, sizeof(double));
    tr->t_end = calloc((size_t)tr->plan->len[tr->rank] + 1, sizeof(double));
    if (!tr->slots || !tr->slot_of || !tr->loss_sum || !tr->t_start || !tr->t_end)
        return pipa__fail(PIPA_ERR_NOMEM, "out of memory for activation slots");
    for (int i = 0; i < tr->n_slots; i++)
        PIPA_TRY(slot_init(tr, &tr->slots[i], max_count, tr->has_ends && tr->ends.has_head));
    return PIPA_OK;
}

static pipa_status runtime_build(pipa_runtime_t *tr, const int *counts)
{
    PIPA_TRY(params_init(tr, counts));
    PIPA_TRY(pipa_scratch_init_tp(&tr->scratch, &tr->cfg.model, tr->tp, tr->cfg.B, tr->cfg.T));
    PIPA_TRY(pipa__runtime_tp_init(tr));
    return slots_init(tr);
}

pipa_status pipa_runtime_init(pipa_runtime_t *tr, pipa_comm_t *comm, const pipa_layout_t *lay,
                              const pipa_train_config_t *cfg, const pipa_plan_t *plan,
                              const int *counts)
{
    memset(tr, 0, sizeof *tr);
    tr->comm = comm;
    tr->rank = pipa_layout_pp_rank(lay);
    tr->P = plan->P;
    tr->V = plan->V;
    tr->M = plan->M;
    tr->cfg = *cfg;
    tr->plan = plan;
    tr->forward_only = pipa_plan_forward_only(plan);
    if (!tr->forward_only && cfg->vocab < 1)
        return pipa__fail(PIPA_ERR_ARG, "a plan with a backward needs the model's ends (vocab %d, "
                          "must be >= 1)", cfg->vocab);
    /* Inference through the ends (logits, generation) is left for later: a forward-only plan
     * runs a model without ends, through pipa_runtime_forward. */
    if (tr->forward_only && cfg->vocab != 0)
        return pipa__fail(PIPA_ERR_ARG, "a forward-only plan runs a model without ends (vocab 0, "
                          "not %d)", cfg->vocab);
    if (plan->P != pipa_layout_pp_size(lay))
        return pipa__fail(PIPA_ERR_ARG, "the plan is for %d stages, the pipeline has %d", plan->P,
                          pipa_layout_pp_size(lay));
    if (plan->V > PIPA_MAX_CHUNKS)
        return pipa__fail(PIPA_ERR_ARG, "%d chunks per rank (at most %d)", plan->V, PIPA_MAX_CHUNKS);
    pipa_grid_t grid;
    PIPA_TRY(pipa_grid_init(&grid, comm, lay));
    tr->group = grid.pp;
    tr->dp_group = grid.dp;
    tr->dp = pipa_layout_dp_size(lay);
    tr->d = pipa_layout_dp_rank(lay);
    tr->tp_group = grid.tp;
    tr->tp = pipa_layout_tp_size(lay);
    tr->t = pipa_layout_tp_rank(lay);
    if (tr->tp > 1) PIPA_TRY(pipa_runtime_check_tp(cfg, tr->tp));
    /* Tied embeddings (runtime_tied.c) train at any P and tp, with one data-parallel replica:
     * the overlapped reduction would start the head's tensors before the two uses are summed. */
    if (!tr->forward_only && cfg->model.tie_embeddings && tr->dp > 1)
        return pipa__fail(PIPA_ERR_ARG, "tied embeddings (--tie-embeddings) train with one "
                          "data-parallel replica only for now (here --dp %d): use --dp 1, or "
                          "untie them", tr->dp);
    pipa_status s = runtime_build(tr, counts);
    if (s == PIPA_OK) s = pipa__runtime_tied_init(tr, pipa_grid_ends_id(lay));
    if (s == PIPA_OK) s = pipa__runtime_dp_init(tr);
    if (s != PIPA_OK) pipa_runtime_free(tr);
    return s;
}

static pipa_status slot_detach(pipa_runtime_t *tr, pipa_slot_t *s);

/* Frees what slots_init made for the plan (the slots and the per-plan arrays). */
static void slots_free(pipa_runtime_t *tr)
{
    int head = tr->has_ends && tr->ends.has_head;
    for (int i = 0; tr->slots && i < tr->n_slots; i++) {
        pipa_slot_t *s = &tr->slots[i];
        /* a failed step may leave sends under way: they go on from copies (best effort, the run
         * ends anyway), never from freed buffers */
        (void)slot_detach(tr, s);
        pipa_backend_free(s->buf);
        pipa_acts_free(&s->acts);
        if (head) pipa_head_acts_free(&s->head);
    }
    free(tr->slots);
    free(tr->slot_of);
    free(tr->loss_sum);
    free(tr->t_start);
    free(tr->t_end);
    tr->slots = NULL, tr->slot_of = NULL, tr->loss_sum = NULL, tr->t_start = tr->t_end = NULL;
    tr->n_slots = 0;
}

void pipa_runtime_free(pipa_runtime_t *tr)
{
    slots_free(tr); /* slots hold head activations: freed before the ends */
    pipa__runtime_dp_free(tr); /* reductions still under way read the gradients */
    for (int c = 0; c < tr->V; c++) {  // views: their layer arrays only
        pipa_layers_free(&tr->chunk[c].w);
        pipa_layers_free(&tr->chunk[c].g);
    }
    pipa_backend_free(tr->params);
    pipa_backend_free(tr->grads);
    pipa_optim_free(&tr->opt);
    pipa_tensors_free(&tr->tensors);
    pipa_scratch_free(&tr->scratch);
    pipa__runtime_tp_free(tr);
    pipa__runtime_tied_free(tr);
    memset(tr, 0, sizeof *tr);
}

pipa_status pipa_runtime_set_plan(pipa_runtime_t *tr, const pipa_plan_t *plan)
{
    if (plan->P != tr->P || plan->V != tr->V || plan->place != tr->plan->place ||
        pipa_plan_forward_only(plan) != tr->forward_only)
        return pipa__fail(PIPA_ERR_ARG, "new plan (P=%d V=%d place=%s, %s) unlike the runtime's "
                          "(P=%d V=%d place=%s, %s)", plan->P, plan->V, pipa_place_name(plan->place),
                          pipa_plan_forward_only(plan) ? "forward-only" : "training", tr->P, tr->V,
                          pipa_place_name(tr->plan->place),
                          tr->forward_only ? "forward-only" : "training");
    slots_free(tr);
    tr->plan = plan;
    tr->M = plan->M;
    return slots_init(tr);
}

/* ---- slots -------------------------------------------------------------------------------- */

/* Sends never block (the checker's model): a slot is given back as soon as its backward is done
 * and its gradient was sent, while its last sends may still read its buffers. These helpers
 * decide when the buffers are free for the next (mb, chunk). */

/* *idle = 1 if no send of s is still under way. */
static pipa_status slot_sends_done(pipa_runtime_t *tr, pipa_slot_t *s, int *idle)
{
    pipa_req_t *reqs[2] = {&s->send_f, &s->send_b};
    *idle = 1;
    for (int k = 0; k < 2; k++) {
        int done = 1;
        if (reqs[k]->kind) PIPA_TRY(pipa_test(tr->comm, reqs[k], &done));
        if (done) reqs[k]->kind = 0;
        else *idle = 0;
    }
    return PIPA_OK;
}

/* Lets the slot's sends go on from the communicator's copies: its buffers are free now. */
static pipa_status slot_detach(pipa_runtime_t *tr, pipa_slot_t *s)
{
    PIPA_TRY(pipa_detach(tr->comm, &s->send_f));
    return pipa_detach(tr->comm, &s->send_b);
}

/* A free slot whose sends have left; failing that (the peers have not taken them yet), a free
 * one whose sends are detached: never a wait on a peer, which may be waiting for us. */
static pipa_status slot_take(pipa_runtime_t *tr, int *out)
{
    int busy = -1;
    for (int i = 0; i < tr->n_slots; i++) {
        if (tr->slots[i].mb >= 0) continue;
        int idle;
        PIPA_TRY(slot_sends_done(tr, &tr->slots[i], &idle));
        if (idle) {
            *out = i;
            return PIPA_OK;
        }
        if (busy < 0) busy = i;
    }
    PIPA_ASSERT(busy >= 0); /* count_slots sized them for this plan */
    *out = busy;
    return slot_detach(tr, &tr->slots[busy]);
}

/* The slot of (mb, chunk), taking a free one on first use. */
static pipa_status slot_get(pipa_runtime_t *tr, int mb, int chunk, pipa_slot_t **out)
{
    int *idx = &tr->slot_of[chunk * tr->M + mb];
    if (*idx < 0) {
        PIPA_TRY(slot_take(tr, idx));
        tr->slots[*idx].mb = mb;
        tr->slots[*idx].chunk = chunk;
    }
    *out = &tr->slots[*idx];
    return PIPA_OK;
}

static int slots_live(const pipa_runtime_t *tr)
{
    int n = 0;
    for (int i = 0; i < tr->n_slots; i++) n += tr->slots[i].mb >= 0;
    return n;
}

/* Gives a slot back; its sends may still be under way (see slot_take). */
static void slot_release(pipa_runtime_t *tr, pipa_slot_t *s)
{
    tr->slot_of[s->chunk * tr->M + s->mb] = -2; /* done for this step */
    s->mb = s->chunk = -1;
}

/* ---- actions ------------------------------------------------------------------------------ */

typedef struct {
    pipa_runtime_t *tr;
    pipa_chunk_t *ch;
    pipa_slot_t *s;
    int mb;
    pipa_batch_fn batch;
    void *ctx;
    const float *in;            /* without ends: (M, B, T, C) inputs of virtual stage 0 */
    float *out;                 /* without ends: (M, B, T, C) outputs of the last */
} action_ctx_t;

static pipa_status do_forward(action_ctx_t *a)
{
    pipa_runtime_t *tr = a->tr;
    int B = tr->cfg.B, T = tr->cfg.T;
    size_t act = (size_t)B * T * tr->cfg.model.C;
    if (a->ch->vs == 0 && !tr->has_ends) memcpy(a->s->x, a->in + act * a->mb, act * sizeof(float));
    if (a->ch->vs == 0 && tr->has_ends) {
        a->batch(a->ctx, tr->d * tr->M + a->mb, a->s->tokens, NULL);
        PIPA_TRY(pipa__runtime_embed_forward(tr, a->s->tokens, a->s->x));
    }
    PIPA_TRY(pipa__runtime_layers_forward(tr, a->ch, a->s->x,
                                          tr->forward_only ? NULL : &a->s->acts));
    if (a->ch->vs != last_vs(tr)) return PIPA_OK;
    if (!tr->has_ends) {
        memcpy(a->out + act * a->mb, a->s->x, act * sizeof(float));
        return PIPA_OK;
    }
    a->batch(a->ctx, tr->d * tr->M + a->mb, NULL, a->s->targets);
    return pipa__runtime_head_forward(tr, a->s->x, a->s->targets, &a->s->head,
                                      &tr->loss_sum[a->mb]);
}

static pipa_status do_input_grad(action_ctx_t *a)
{
    pipa_runtime_t *tr = a->tr;
    if (a->ch->vs == last_vs(tr)) {
        float scale = 1.0f / (float)batch_tokens(tr);
        PIPA_TRY(pipa__runtime_head_backward_input(tr, &a->s->head, scale, a->s->dx));
    }
    return pipa__runtime_layers_backward_input(tr, a->ch, &a->s->acts, a->s->dx);
}

/* With dp > 1, the step's last microbatch also starts the data group's reductions of the
 * gradients it makes final (runtime_dp.c). */
static pipa_status do_weight_grad(action_ctx_t *a)
{
    pipa_runtime_t *tr = a->tr;
    int B = tr->cfg.B, T = tr->cfg.T;
    PIPA_TRY(pipa__runtime_dp_weight_grad(tr, a->ch, &a->s->acts, a->mb));
    if (a->ch->vs == last_vs(tr)) pipa_ends_head_backward_weight(&tr->ends_grad, &a->s->head, B, T);
    if (a->ch->vs == 0) pipa__runtime_embed_backward_weight(tr, a->s->tokens, a->s->dx);
    return pipa__runtime_dp_ends_final(tr, a->ch->vs, a->mb);
}

/* One step over all my parameters at once: the optimizer is element-wise, so this gives each
 * tensor the bits of its own step (the padding between groups is zero and stays zero). */
static void optimizer_step(pipa_runtime_t *tr)
{
    pipa_optim_step(&tr->opt, tr->params, tr->grads);
    if (tr->grads) memset(tr->grads, 0, tr->tensors.total * sizeof(float));
    pipa__runtime_tied_zero(tr);
    tr->steps++;
}

/* Runs one action; compute kinds add their time to stats. */
static pipa_status run_action(pipa_runtime_t *tr, const pipa_action_t *act, action_ctx_t *a)
{
    pipa_slot_t *s = a->s;
    int vs = a->ch ? a->ch->vs : -1;
    switch (act->kind) {
    case PIPA_ACT_RECV_F:
        return pipa__runtime_recv_act(tr, a->ch->prev, pipa_tag(PIPA_DIR_FWD, act->mb, vs), s->x);
    case PIPA_ACT_SEND_F:
        return pipa__runtime_send_act(tr, a->ch->next, pipa_tag(PIPA_DIR_FWD, act->mb, vs + 1), s->x,
                                      &s->send_f);
    case PIPA_ACT_RECV_B:
        return pipa__runtime_recv_act(tr, a->ch->next, pipa_tag(PIPA_DIR_BWD, act->mb, vs), s->dx);
    case PIPA_ACT_SEND_B:
        return pipa__runtime_send_act(tr, a->ch->prev, pipa_tag(PIPA_DIR_BWD, act->mb, vs - 1),
                                      s->dx, &s->send_b);
    case PIPA_ACT_F:
        return do_forward(a);
    case PIPA_ACT_B:
        PIPA_TRY(do_input_grad(a));
        return do_weight_grad(a);
    case PIPA_ACT_I:
        return do_input_grad(a);
    case PIPA_ACT_W:
        return do_weight_grad(a);
    case PIPA_ACT_STEP:
        optimizer_step(tr);
        return PIPA_OK;
    }
    return pipa__fail(PIPA_ERR_ARG, "rank %d: unknown action kind %d", tr->rank, act->kind);
}

static int is_compute(int kind)
{
    return kind == PIPA_ACT_F || kind == PIPA_ACT_B || kind == PIPA_ACT_I || kind == PIPA_ACT_W ||
           kind == PIPA_ACT_STEP;
}

/* After an action: gives the slot back once the (mb, chunk) is done with it (ends_compute). */
static void maybe_release(pipa_runtime_t *tr, const pipa_action_t *act, pipa_slot_t *s,
                          char *state)
{
    if (ends_compute(tr, act->kind)) *state |= 1;
    if (ends_sends(tr, act->kind)) *state |= 2;
    int needs_send = !sends_nothing(tr, tr->chunk[act->chunk].vs);
    if ((*state & 1) && (!needs_send || (*state & 2))) slot_release(tr, s);
}

/* Counts a transfer into the stats. */
static void count_transfer(const pipa_runtime_t *tr, int kind, pipa_step_stats_t *st)
{
    size_t offset;
    pipa_desc_t d = pipa__runtime_msg_desc(tr, &offset);
    if (kind == PIPA_ACT_RECV_F || kind == PIPA_ACT_RECV_B) {
        st->recvs++;
        st->recv_desc = d;
    } else if (kind == PIPA_ACT_SEND_F || kind == PIPA_ACT_SEND_B) {
        st->sends++;
        st->bytes_sent += (int64_t)pipa_desc_bytes(&d);
        st->send_desc = d;
    }
}

static pipa_status run_list(pipa_runtime_t *tr, const action_ctx_t *io, pipa_step_stats_t *st,
                            char *state, double start)
{
    const pipa_action_t *acts = tr->plan->act[tr->rank];
    for (int i = 0; i < tr->plan->len[tr->rank]; i++) {
        const pipa_action_t *act = &acts[i];
        action_ctx_t a = *io;
        a.mb = act->mb;
        if (act->kind != PIPA_ACT_STEP) {
            a.ch = &tr->chunk[act->chunk];
            PIPA_TRY(slot_get(tr, act->mb, act->chunk, &a.s));
        }
        double t0 = pipa_now();
        if (act->kind == PIPA_ACT_STEP) PIPA_TRY(pipa__runtime_tied_sum(tr));  /* both uses */
        if (act->kind == PIPA_ACT_STEP && tr->dp > 1) {  /* replicas' gradients summed first */
            PIPA_TRY(pipa__runtime_reduce_grads(tr, st));
            t0 = pipa_now();
        }
        pipa_status s = run_action(tr, act, &a);
        if (s != PIPA_OK) return s;
        double t1 = pipa_now();
        tr->t_start[i] = t0 - start;
        tr->t_end[i] = t1 - start;
        count_transfer(tr, act->kind, st);
        if (is_compute(act->kind)) {
            double dt = t1 - t0;
            st->busy_s += dt;
            st->busy_kind[act->kind] += dt;
        }
        int live = slots_live(tr);
        if (live > st->peak_live) st->peak_live = live;
        if (act->kind != PIPA_ACT_STEP)
            maybe_release(tr, act, a.s, &state[act->chunk * tr->M + act->mb]);
    }
    return PIPA_OK;
}

/* The mean loss over the global batch, from the ranks holding the last virtual stage (one per
 * replica, summed in the data group: its bytes count into dp_bytes) to everyone. */
static pipa_status share_loss(pipa_runtime_t *tr, pipa_step_stats_t *st)
{
    double sum = 0;
    for (int mb = 0; mb < tr->M; mb++) sum += tr->loss_sum[mb];
    if (tr->dp > 1 && tr->rank == last_rank(tr)) {
        uint64_t b0 = pipa_comm_bytes_sent(tr->comm);
        PIPA_TRY(pipa__runtime_reduce_loss(tr, &sum));
        st->dp_bytes += (int64_t)(pipa_comm_bytes_sent(tr->comm) - b0);
    }
    st->loss = sum / batch_tokens(tr);
    pipa_desc_t d = pipa_desc_1d(PIPA_F64, 1);
    return pipa_bcast(&tr->group, last_rank(tr), &d, &st->loss);
}

/* The one loop of every run: my actions of the plan, between a barrier and a flush. io: the
 * runtime and where inputs come from (batch, or in/out without ends). */
static pipa_status run_step(pipa_runtime_t *tr, const action_ctx_t *io, pipa_step_stats_t *st)
{
    memset(st, 0, sizeof *st);
    tr->tp_bytes = 0, tr->tp_s = 0;
    for (int i = 0; i < tr->V * tr->M; i++) tr->slot_of[i] = -1;
    memset(tr->loss_sum, 0, (size_t)tr->M * sizeof(double));
    char *state = calloc((size_t)tr->V * tr->M, 1);
    if (!state) return pipa__fail(PIPA_ERR_NOMEM, "out of memory");
    st->enter_abs = pipa_now();
    pipa_status s = pipa_barrier(&tr->group);
    double start = pipa_now();
    if (s == PIPA_OK) s = run_list(tr, io, st, state, start);
    /* My last sends may not have left yet (sends never wait): nothing of the step stays behind. */
    if (s == PIPA_OK) s = pipa_flush(tr->comm);
    free(state);
    PIPA_TRY(s);
    st->end_abs = pipa_now();
    st->wall_s = st->end_abs - start;
    st->slot_bytes = tr->n_slots ? pipa_acts_bytes_tp(&tr->cfg.model, tr->tp,
                                                      tr->slots[0].acts.count, tr->cfg.B, tr->cfg.T)
                                 : 0;  // 0 forward-only
    st->tp_bytes = tr->tp_bytes;
    st->tp_s = tr->tp_s;
    return tr->cfg.vocab > 0 ? share_loss(tr, st) : PIPA_OK;
}

pipa_status pipa_runtime_step(pipa_runtime_t *tr, pipa_batch_fn batch, void *ctx,
                              pipa_step_stats_t *st)
{
    PIPA_ASSERT(tr->cfg.vocab > 0 && batch != NULL);
    action_ctx_t io = {.tr = tr, .batch = batch, .ctx = ctx};
    return run_step(tr, &io, st);
}

pipa_status pipa_runtime_forward(pipa_runtime_t *tr, const float *in, float *out,
                                 pipa_step_stats_t *st)
{
    if (!tr->forward_only || tr->cfg.vocab != 0)
        return pipa__fail(PIPA_ERR_ARG, "pipa_runtime_forward runs forward-only plans on a model "
                          "without ends (vocab 0)");
    PIPA_ASSERT((tr->rank != 0 || in) && (tr->rank != last_rank(tr) || out));
    action_ctx_t io = {.tr = tr, .in = in, .out = out};
    return run_step(tr, &io, st);
}

/* ---- parameters, for comparing layouts ---------------------------------------------------- */

static uint64_t fnv_floats(const float *p, size_t n)
{
    return pipa_hash_fnv1a(PIPA_HASH_INIT, p, n * sizeof(float));
}

uint64_t pipa_runtime_layer_hash(const pipa_runtime_t *tr, int layer)
{
    size_t per = pipa_layer_param_count_tp(&tr->cfg.model, tr->tp);  // my slices of a layer
    for (int c = 0; c < tr->V; c++) {
        const pipa_chunk_t *ch = &tr->chunk[c];
        if (layer >= ch->first && layer < ch->first + ch->count)
            return fnv_floats(ch->w.params + per * (size_t)(layer - ch->first), per);
    }
    return 0;
}

uint64_t pipa_runtime_ends_hash(const pipa_runtime_t *tr, int which)
{
    if (!tr->has_ends) return 0;
    const pipa_ends_t *e = &tr->ends;
    size_t VC = (size_t)e->V * e->cfg.C;
    if (which == 0) return e->has_embedding ? fnv_floats(e->wte, VC) : 0;
    return e->has_head ? fnv_floats(e->final_norm, e->cfg.C) ^ fnv_floats(e->lm_head, VC) : 0;
}
