/* runtime_tp.h: internal to the runtime: what tensor parallelism adds to it (runtime_tp.c). Each
 * pass below runs today's one-process call when tp == 1, the tensor-parallel one (layer.h,
 * ends.h) with the runtime's hook over its tensor group when tp > 1. */
#ifndef PIPA_RUNTIME_TP_H
#define PIPA_RUNTIME_TP_H

#include "runtime/runtime.h"

/* The hook over tr->tp_group and tr->tp_buf (tp > 1); after the tensor table is built. */
pipa_status pipa__runtime_tp_init(pipa_runtime_t *tr);
void pipa__runtime_tp_free(pipa_runtime_t *tr);

/* The passes of an action (runtime.c's do_forward, do_input_grad, do_weight_grad). */
pipa_status pipa__runtime_layers_forward(pipa_runtime_t *tr, const pipa_chunk_t *ch, float *x,
                                         pipa_acts_t *save);
pipa_status pipa__runtime_layers_backward_input(pipa_runtime_t *tr, const pipa_chunk_t *ch,
                                                pipa_acts_t *a, float *dx);
pipa_status pipa__runtime_embed_forward(pipa_runtime_t *tr, const int32_t *tokens, float *x);
void pipa__runtime_embed_backward_weight(pipa_runtime_t *tr, const int32_t *tokens,
                                         const float *dx);
pipa_status pipa__runtime_head_forward(pipa_runtime_t *tr, const float *x, const int32_t *targets,
                                       pipa_head_acts_t *h, double *loss_sum);
pipa_status pipa__runtime_head_backward_input(pipa_runtime_t *tr, pipa_head_acts_t *h, float scale,
                                              float *dx);

/* The message between stages: its description, and where in the (B, T, C) array it starts
 * (floats). tp == 1 or tp_send_whole: the whole array at 0; else tensor rank t's share,
 * B*T*C/tp floats from t * B*T*C/tp. */
pipa_desc_t pipa__runtime_msg_desc(const pipa_runtime_t *tr, size_t *offset);
/* Receives the array buf (B, T, C) from world rank src: the whole, or my share which the tensor
 * group then all-gathers into buf (every tensor rank of the stage calls it at the same action). */
pipa_status pipa__runtime_recv_act(pipa_runtime_t *tr, int src, uint64_t tag, float *buf);
/* Sends buf (B, T, C) to world rank dst without waiting: the whole, or my share of it. */
pipa_status pipa__runtime_send_act(pipa_runtime_t *tr, int dst, uint64_t tag, const float *buf,
                                   pipa_req_t *req);

#endif
