/* coll_test.h: what the collective tests (test_allreduce, test_allreduce_nb, test_gather_max)
 * share: the world they run in, the one start-up, and the all-reduce tests' inputs and their
 * same-bits-everywhere check. */
#ifndef PIPA_TEST_COLL_TEST_H
#define PIPA_TEST_COLL_TEST_H

#include <stdint.h>
#include <stdlib.h>

#include "check.h"
#include "comm/comm.h"
#include "base/hash.h"

static pipa_comm_t *comm;
static int rank, world;

/* Joins the run (pipa-run's or mpirun's ranks, or alone): comm, rank, world, a 120 s deadline,
 * and w, the world's group. 1 (after saying why) if the run cannot be joined. */
static inline int coll_test_init(const char *name, pipa_group_t *w)
{
    if (pipa_comm_init(&comm) != PIPA_OK) {
        fprintf(stderr, "%s: %s\n", name, pipa_last_error());
        return 1;
    }
    rank = pipa_comm_rank(comm);
    world = pipa_comm_size(comm);
    pipa_comm_set_timeout(comm, 120);
    pipa_group_world(w, comm);
    return 0;
}

/* Element i of world rank r's array: a value in [-1, 1) times one of 1e-3, 1, 1e3, 1e7, so that
 * the grouping of the additions shows in the bits. */
static inline double coll_input(int r, size_t i)
{
    uint32_t u = (uint32_t)(r + 1) * 2654435761u ^ (uint32_t)(i * 2246822519u + 12345u);
    u ^= u >> 15;
    u *= 2246822519u;
    u ^= u >> 13;
    static const double scale[4] = {1e-3, 1.0, 1e3, 1e7};
    return ((double)(u >> 8) / 8388608.0 - 1.0) * scale[u & 3];
}

/* This rank's array of count elements of t (f32 or f64), with 8 bytes to spare. */
static inline void *coll_make_input(pipa_dtype t, size_t count)
{
    void *x = malloc(count * pipa_dtype_size(t) + 8);
    for (size_t i = 0; i < count; i++) {
        if (t == PIPA_F32) ((float *)x)[i] = (float)coll_input(rank, i);
        else ((double *)x)[i] = coll_input(rank, i);
    }
    return x;
}

/* Members agree on got's bits: member 0 compares every member's hash with its own. */
static inline void coll_check_same_everywhere(pipa_group_t *g, const void *got, size_t bytes,
                                              const char *what)
{
    uint64_t h = pipa_hash_fnv1a(PIPA_HASH_INIT, got, bytes), all[PIPA_MAX_RANKS];
    CHECKF(pipa_gather(g, 0, &h, sizeof h, all) == PIPA_OK, "%s", pipa_last_error());
    for (int m = 1; g->me == 0 && m < g->size; m++)
        CHECKF(all[m] == all[0], "%s: member %d's sum differs from member 0's", what, m);
}

#endif
