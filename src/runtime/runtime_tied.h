/* runtime_tied.h: internal to the runtime: tied embeddings in training (runtime_tied.c). */
#ifndef PIPA_RUNTIME_TIED_H
#define PIPA_RUNTIME_TIED_H

#include "runtime/runtime.h"

/* After the views (tied embeddings, training only; nothing otherwise): P 1, the head's gradient
 * buffer, pointed at by ends_grad.lm_head; P > 1, the group of my pipeline's first and last stage
 * (id: pipa_grid_ends_id). */
pipa_status pipa__runtime_tied_init(pipa_runtime_t *tr, int group_id);
void pipa__runtime_tied_free(pipa_runtime_t *tr);
/* Before STEP: the embedding's gradient += the head's (P 1), or the two stages' copies'
 * gradients summed between them (P > 1): the same bits on both, and the same as P 1's. */
pipa_status pipa__runtime_tied_sum(pipa_runtime_t *tr);
/* After STEP's gradient zeroing: zeroes the head's buffer (P 1). */
void pipa__runtime_tied_zero(pipa_runtime_t *tr);
/* Checkpoints: whether tensor i of my table is the last stage's copy (not saved: the first
 * stage's shard holds it); after a load, the first stage sends the weight and its moments to
 * the last (both call it; others return at once). */
int pipa__runtime_tied_is_copy(const pipa_runtime_t *tr, int i);
pipa_status pipa__runtime_tied_load(pipa_runtime_t *tr);

#endif
