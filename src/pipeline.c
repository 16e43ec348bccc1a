/* pipeline.c: building a stage and the pipelined forward pass (see pipeline.h).
 * Left out: backward and schedules other than "forward in microbatch order". */
#include "pipeline.h"

#include <stdlib.h>
#include <string.h>

#include "split.h"

pipa_status pipa_stage_init(pipa_stage_t *st, pipa_comm_t *comm, const pipa_layout_t *lay,
                            const pipa_config_t *cfg, const int *counts, int B, int T)
{
    memset(st, 0, sizeof *st);
    st->comm = comm;
    st->stage = pipa_layout_pp_rank(lay);
    st->n_stages = pipa_layout_pp_size(lay);
    st->prev = pipa_layout_prev(lay);
    st->next = pipa_layout_next(lay);
    st->B = B;
    st->T = T;
    int ranks[PIPA_MAX_RANKS];
    int n = pipa_layout_pp_group_ranks(lay, ranks);
    PIPA_TRY(pipa_group_init(&st->pp_group, comm, 1 + pipa_layout_dp_rank(lay) * 4096 +
                                                      pipa_layout_tp_rank(lay), ranks, n));
    int first;
    pipa_split_first(counts, st->stage, &first);
    PIPA_TRY(pipa_layers_build(&st->layers, cfg, first, counts[st->stage]));
    pipa_status s = pipa_scratch_init(&st->scratch, cfg, B, T);
    size_t act = (size_t)B * T * cfg->C;
    for (int i = 0; s == PIPA_OK && i < PIPA_STAGE_SLOTS; i++) {
        st->slots[i] = malloc(act * sizeof(float));
        if (!st->slots[i]) s = pipa__fail(PIPA_ERR_NOMEM, "out of memory for activations");
    }
    if (s != PIPA_OK) pipa_stage_free(st);
    return s;
}

void pipa_stage_free(pipa_stage_t *st)
{
    pipa_layers_free(&st->layers);
    pipa_scratch_free(&st->scratch);
    for (int i = 0; i < PIPA_STAGE_SLOTS; i++) free(st->slots[i]);
    memset(st->slots, 0, sizeof st->slots);
}

/* Waits for the send that last used a slot, so the slot can be overwritten. */
static pipa_status slot_free(pipa_stage_t *st, pipa_req_t *send)
{
    if (send->kind == 0) return PIPA_OK;
    pipa_status s = pipa_wait(st->comm, send);
    send->kind = 0;
    return s;
}

pipa_status pipa_pipeline_forward(pipa_stage_t *st, int M, const float *in, float *out,
                                  pipa_fwd_stats_t *stats)
{
    int C = st->layers.cfg.C;
    size_t act = (size_t)st->B * st->T * C;
    pipa_desc_t d = pipa_desc(PIPA_F32, 3, (int64_t[]){st->B, st->T, C});
    pipa_req_t sends[PIPA_STAGE_SLOTS];
    memset(sends, 0, sizeof sends);
    memset(stats, 0, sizeof *stats);
    if (st->prev >= 0) stats->recv_desc = d;
    if (st->next >= 0) stats->send_desc = d;
    stats->enter_abs = pipa_now();
    PIPA_TRY(pipa_barrier(&st->pp_group));
    double start = pipa_now();
    for (int k = 0; k < M; k++) {
        float *x = st->slots[k % PIPA_STAGE_SLOTS];
        PIPA_TRY(slot_free(st, &sends[k % PIPA_STAGE_SLOTS]));
        if (st->prev < 0) memcpy(x, in + act * k, act * sizeof(float));
        else PIPA_TRY(pipa_recv(st->comm, st->prev, pipa_tag(PIPA_DIR_FWD, k, 0), &d, x));
        stats->recvs += st->prev >= 0;
        double t0 = pipa_now();
        pipa_layers_forward(&st->layers, x, st->B, st->T, NULL, &st->scratch);
        stats->busy_s += pipa_now() - t0;
        if (st->next < 0) {
            memcpy(out + act * k, x, act * sizeof(float));
            continue;
        }
        PIPA_TRY(pipa_isend(st->comm, st->next, pipa_tag(PIPA_DIR_FWD, k, 0), &d, x,
                            &sends[k % PIPA_STAGE_SLOTS]));
        stats->sends++;
        stats->bytes_sent += (int64_t)(act * sizeof(float));
    }
    for (int i = 0; i < PIPA_STAGE_SLOTS; i++) PIPA_TRY(slot_free(st, &sends[i]));
    stats->end_abs = pipa_now();
    stats->wall_s = stats->end_abs - start;
    return PIPA_OK;
}

void pipa_pipeline_inputs(const pipa_config_t *cfg, int M, int B, int T, float *in)
{
    size_t act = (size_t)B * T * cfg->C;
    for (int k = 0; k < M; k++) pipa_model_input(in + act * k, cfg, k, B, T);
}

pipa_status pipa_forward_unpipelined(const pipa_config_t *cfg, int M, int B, int T, const float *in,
                                     float *out)
{
    pipa_layers_t all;
    pipa_scratch_t s;
    PIPA_TRY(pipa_layers_build(&all, cfg, 0, cfg->L));
    pipa_status st = pipa_scratch_init(&s, cfg, B, T);
    if (st != PIPA_OK) {
        pipa_layers_free(&all);
        return st;
    }
    size_t act = (size_t)B * T * cfg->C;
    memcpy(out, in, act * M * sizeof(float));
    for (int k = 0; k < M; k++) pipa_layers_forward(&all, out + act * k, B, T, NULL, &s);
    pipa_scratch_free(&s);
    pipa_layers_free(&all);
    return PIPA_OK;
}

double pipa_bubble_theory(int P, int M) { return (double)(P - 1) / (double)(M + P - 1); }
