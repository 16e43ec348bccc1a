/* tp_group.h: a tensor group simulated in one process (tests only): R threads, one per rank,
 * meet in the hook of layer.h (pipa_tp_hook_t); rank 0 sums (or takes the maximum of) every
 * rank's buffer in rank order, then each copies the result back, so every rank gets the same
 * bits, as the real group's all-reduce promises. Used by test_tp (against pipa's one-process
 * pass) and test_tp_ref (against PyTorch). */
#ifndef PIPA_TEST_TP_GROUP_H
#define PIPA_TEST_TP_GROUP_H

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "model/layer.h"

enum { TP_GROUP_MAX = 8 };

/* The group: its size, the threads' meeting point, every rank's buffer, the result. */
typedef struct {
    int R;
    pthread_barrier_t bar;
    float *bufs[TP_GROUP_MAX];
    float *sum;  /* (cap) */
    size_t cap;  /* the most floats one call reduces */
} tp_group_t;

/* A rank's place in the group: the hook's context; calls counts its reductions. */
typedef struct {
    tp_group_t *g;
    int rank, calls;
} tp_peer_t;

static inline void tp_group_init(tp_group_t *g, int R, size_t cap)
{
    PIPA_ASSERT(R >= 1 && R <= TP_GROUP_MAX);
    memset(g, 0, sizeof *g);
    g->R = R, g->cap = cap;
    g->sum = malloc(cap * sizeof *g->sum);
    PIPA_ASSERT(g->sum != NULL);
    pthread_barrier_init(&g->bar, NULL, (unsigned)R);
}

static inline void tp_group_free(tp_group_t *g)
{
    pthread_barrier_destroy(&g->bar);
    free(g->sum);
}

static inline pipa_status tp_group_reduce(tp_peer_t *m, float *buf, size_t n, int max)
{
    tp_group_t *g = m->g;
    PIPA_ASSERT(n <= g->cap);
    m->calls++;
    g->bufs[m->rank] = buf;
    pthread_barrier_wait(&g->bar);
    if (m->rank == 0)
        for (size_t i = 0; i < n; i++) {
            float v = g->bufs[0][i];
            for (int r = 1; r < g->R; r++)
                v = max ? (g->bufs[r][i] > v ? g->bufs[r][i] : v) : v + g->bufs[r][i];
            g->sum[i] = v;
        }
    pthread_barrier_wait(&g->bar);
    memcpy(buf, g->sum, n * sizeof *buf);
    pthread_barrier_wait(&g->bar);  // nobody reads sum once rank 0 may write it again
    return PIPA_OK;
}

static inline pipa_status tp_group_sum(void *ctx, float *buf, size_t n)
{
    return tp_group_reduce(ctx, buf, n, 0);
}

static inline pipa_status tp_group_max(void *ctx, float *buf, size_t n)
{
    return tp_group_reduce(ctx, buf, n, 1);
}

/* The hook of rank p (sum and maximum). */
static inline pipa_tp_hook_t tp_group_hook(tp_peer_t *p)
{
    return (pipa_tp_hook_t){.allreduce = tp_group_sum, .allreduce_max = tp_group_max, .ctx = p};
}

#endif
