/* test_allreduce_nb: the non-blocking all-reduce (allreduce_nb.c), run through pipa-run on 1..8
 * ranks (or alone). Every rank makes its array from its world rank and the index alone, with
 * magnitudes from 1e-3 to 1e7, so that the grouping of the additions shows in the bits; the
 * blocking pipa_allreduce_sum DIRECT on a copy is what each result must equal with `==`:
 *   sizes        f32 and f64, 0, 1, n+1, 100003 and 3 Mi elements (12 MiB f32: with the other
 *                outstanding calls more than the transport takes in at once), every member's
 *                hash equal; with two members also the ring's bits (AUTO above 64 KiB)
 *   outstanding  five calls started at once, a barrier of the same group between them, progress
 *                called while "computing", waited in an order that differs between ranks
 *   subgroups    (4 ranks and up) {3, 0, 2} in that order, and {0, 2}, {1, 3} at once
 *   missing      (2 ranks and up) rank 1 never starts: rank 0's wait ends in the deadline error
 *                naming the data group, and its buffer is its own again (the world still works)
 *   mismatch     (2 ranks and up) 4 against 5 floats: an error naming both shapes and the group */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "coll_test.h"

/* The blocking all-reduce's result for the same inputs: what the non-blocking one must equal. */
static void *reference(pipa_group_t *g, pipa_allreduce_algo_t a, pipa_dtype t, size_t count)
{
    void *want = coll_make_input(t, count);
    if (pipa_allreduce_sum(g, a, t, want, count) != PIPA_OK) {
        fprintf(stderr, "reference all-reduce: %s\n", pipa_last_error());
        exit(1);
    }
    return want;
}

typedef struct {
    pipa_dtype t;
    size_t count;
    void *x;                  /* the buffer reduced in place */
    pipa_allreduce_req_t r;
} call_t;

static void start(pipa_group_t *g, call_t *c)
{
    c->x = coll_make_input(c->t, c->count);
    if (pipa_allreduce_start(g, c->t, c->x, c->count, &c->r) != PIPA_OK) {
        /* the members are out of step now: stop at once (pipa-run ends the others) */
        fprintf(stderr, "start %s n=%zu: %s\n", pipa_dtype_name(c->t), c->count, pipa_last_error());
        exit(1);
    }
}

/* Waits for c and checks it against DIRECT (and, with two members, the ring) on the same data. */
static void finish(pipa_group_t *g, call_t *c)
{
    char what[128];
    size_t bytes = c->count * pipa_dtype_size(c->t);
    snprintf(what, sizeof what, "group %d (%d members) %s n=%zu", g->id, g->size,
             pipa_dtype_name(c->t), c->count);
    if (pipa_allreduce_wait(&c->r) != PIPA_OK) {
        fprintf(stderr, "%s: %s\n", what, pipa_last_error());
        exit(1);
    }
    CHECK(c->r.sends == NULL);
    void *want = reference(g, PIPA_ALLREDUCE_DIRECT, c->t, c->count);
    CHECKF(memcmp(c->x, want, bytes) == 0, "%s: rank %d differs from DIRECT", what, rank);
    free(want);
    if (g->size <= 2) {
        want = reference(g, PIPA_ALLREDUCE_RING, c->t, c->count);
        CHECKF(memcmp(c->x, want, bytes) == 0, "%s: rank %d differs from RING", what, rank);
        free(want);
    }
    coll_check_same_everywhere(g, c->x, bytes, what);
    free(c->x);
}

static void check_sizes(pipa_group_t *g)
{
    size_t n = (size_t)g->size, sizes[] = {0, 1, n + 1, 100003, (size_t)3 << 20};
    pipa_dtype types[] = {PIPA_F32, PIPA_F64};
    for (int ti = 0; ti < 2; ti++)
        for (size_t k = 0; k < sizeof sizes / sizeof *sizes; k++) {
            call_t c = {.t = types[ti], .count = sizes[k]};
            start(g, &c);
            finish(g, &c);
        }
}

/* Five at once, a blocking collective of the same group between the starts, progress while
 * "computing", then waits in an order of each rank's own: results must not depend on it. */
static void check_outstanding(pipa_group_t *g)
{
    enum { K = 5 };
    call_t c[K] = {{PIPA_F32, 1000, NULL, {0}}, {PIPA_F64, 77, NULL, {0}},
                   {PIPA_F32, (size_t)3 << 20, NULL, {0}}, {PIPA_F32, 0, NULL, {0}},
                   {PIPA_F32, (size_t)2 << 20, NULL, {0}}};
    for (int k = 0; k < K; k++) {
        start(g, &c[k]);
        if (k == 2) CHECKF(pipa_barrier(g) == PIPA_OK, "%s", pipa_last_error());
        for (int j = 0; j <= k; j++) CHECK(pipa_allreduce_progress(&c[j].r) == PIPA_OK);
    }
    if (rank % 2) nanosleep(&(struct timespec){.tv_nsec = 20000000}, NULL);  // uneven arrival
    for (int k = 0; k < K; k++) {
        int i = (k * (rank + 1) + rank) % K;  /* a permutation of 0..4 for every rank (5 prime) */
        if (rank % 5 == 4) i = K - 1 - k;
        CHECKF(pipa_allreduce_wait(&c[i].r) == PIPA_OK, "wait %d: %s", i, pipa_last_error());
    }
    for (int k = 0; k < K; k++) {
        size_t bytes = c[k].count * pipa_dtype_size(c[k].t);
        void *want = reference(g, PIPA_ALLREDUCE_DIRECT, c[k].t, c[k].count);
        CHECKF(memcmp(c[k].x, want, bytes) == 0, "outstanding call %d: rank %d differs from "
               "DIRECT", k, rank);
        coll_check_same_everywhere(g, c[k].x, bytes, "outstanding");
        free(want);
        free(c[k].x);
    }
}

static void check_group(int id, const int *ranks, int n)
{
    pipa_group_t g;
    CHECK(pipa_group_init(&g, comm, id, ranks, n) == PIPA_OK);
    if (g.me < 0) {
        float x = 1;
        pipa_allreduce_req_t r;
        CHECK(pipa_allreduce_start(&g, PIPA_F32, &x, 1, &r) == PIPA_ERR_STATE);
        return;
    }
    call_t c = {.t = PIPA_F32, .count = 100003};
    start(&g, &c);
    finish(&g, &c);
    check_outstanding(&g);
}

static void check_subgroups(pipa_group_t *w)
{
    if (world < 4) return;
    check_group(8, (int[]){3, 0, 2}, 3);
    CHECK(pipa_barrier(w) == PIPA_OK);
    if (rank < 4 && rank % 2 == 0) check_group(9, (int[]){0, 2}, 2);
    if (rank < 4 && rank % 2 == 1) check_group(10, (int[]){1, 3}, 2);
    CHECK(pipa_barrier(w) == PIPA_OK);
}

/* Rank 1 never starts: rank 0's wait ends in the deadline error, naming the group. */
static void check_missing(pipa_group_t *w)
{
    if (world < 2) return;
    pipa_group_t g;
    CHECK(pipa_group_init(&g, comm, 11, (int[]){0, 1}, 2) == PIPA_OK);
    pipa_group_set_name(&g, "data");
    if (rank == 0) {
        size_t count = (size_t)5 << 20; /* 20 MiB: more than the transport takes in at once */
        float *x = coll_make_input(PIPA_F32, count);
        pipa_allreduce_req_t r;
        CHECK(pipa_allreduce_start(&g, PIPA_F32, x, count, &r) == PIPA_OK);
        CHECK(pipa_allreduce_progress(&r) == PIPA_OK);
        double t0 = pipa_now();
        pipa_comm_set_timeout(comm, 0.5);
        pipa_status s = pipa_allreduce_wait(&r);
        pipa_comm_set_timeout(comm, 120);
        CHECKF(s == PIPA_ERR_TIMEOUT &&
                   strstr(pipa_last_error(), "in the data group (ranks 0, 1): rank 0: deadline"),
               "a member missing: status %d (%s)", s, pipa_last_error());
        CHECKF(pipa_now() - t0 < 30, "the deadline error took %.1f s", pipa_now() - t0);
        CHECK(r.sends == NULL);
        memset(x, 0, count * sizeof *x); /* the buffer is ours again: nothing may still read it */
        free(x);
    }
    /* rank 1 polls nothing until rank 0 gave up: rank 0's sends were still under way */
    if (rank == 1) nanosleep(&(struct timespec){.tv_sec = 1, .tv_nsec = 500000000}, NULL);
    CHECKF(pipa_barrier(w) == PIPA_OK, "%s", pipa_last_error());
}

/* 4 floats on rank 0, 5 on rank 1: both name the shapes they saw and the group, once. */
static void check_mismatch(pipa_group_t *w)
{
    if (world < 2) return;
    pipa_group_t g;
    CHECK(pipa_group_init(&g, comm, 12, (int[]){0, 1}, 2) == PIPA_OK);
    pipa_group_set_name(&g, "data");
    if (rank < 2) {
        float x[5] = {1, 2, 3, 4, 5};
        pipa_allreduce_req_t r;
        pipa_comm_set_timeout(comm, 0.5);
        pipa_status s = pipa_allreduce_start(&g, PIPA_F32, x, (size_t)(4 + rank), &r);
        if (s == PIPA_OK) s = pipa_allreduce_wait(&r);
        pipa_comm_set_timeout(comm, 120);
        const char *e = pipa_last_error();
        CHECKF(s != PIPA_OK && strstr(e, "in the data group (ranks 0, 1): ") == e &&
                   !strstr(e + 1, "in the data group") && strstr(e, "f32[4]") &&
                   strstr(e, "f32[5]"),
               "rank %d: %s", rank, e);
    }
    CHECKF(pipa_barrier(w) == PIPA_OK, "%s", pipa_last_error());
}

int main(void)
{
    pipa_group_t w;
    if (coll_test_init("test_allreduce_nb", &w)) return 1;
    check_sizes(&w);
    check_outstanding(&w);
    check_subgroups(&w);
    check_missing(&w);
    check_mismatch(&w);
    pipa_allreduce_req_t r;
    CHECK(pipa_allreduce_start(&w, PIPA_I32, NULL, 0, &r) == PIPA_ERR_ARG && r.sends == NULL);
    pipa_allreduce_drop(&r);  // nothing outstanding: a no-op
    CHECK(pipa_flush(comm) == PIPA_OK);
    pipa_comm_free(comm);
    char name[64];
    snprintf(name, sizeof name, "test_allreduce_nb rank %d of %d", rank, world);
    return check_done(name);
}
