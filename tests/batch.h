/* batch.h: the synthetic batch the runtime tests train on (train_driver, test_reorder), one
 * formula so that their runs see the same data: token i of microbatch mb at step is a fixed
 * mix of the three, over a vocabulary of 23, and its target a fixed function of the token. */
#ifndef PIPA_TEST_BATCH_H
#define PIPA_TEST_BATCH_H

#include <stdint.h>

/* Fills n tokens and targets (either may be NULL) of microbatch mb at step. */
static inline void test_batch_fill(int64_t step, int mb, int n, int32_t *tokens, int32_t *targets)
{
    for (int i = 0; i < n; i++) {
        int v = (int)((step * 131 + mb * 17 + i * 7 + (i * i) % 5) % 23);
        if (tokens) tokens[i] = v;
        if (targets) targets[i] = (v * 3 + 1) % 23;
    }
}

#endif
