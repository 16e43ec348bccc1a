/* test_allreduce: the two all-reduce algorithms (allreduce.c) and AUTO's choice, run through
 * pipa-run on 1..8 ranks (or alone). Every rank makes its array from its world rank and the index
 * alone, with magnitudes from 1e-3 to 1e7 so that the grouping of the additions shows in the bits.
 * For each algorithm the test computes, from those inputs, the sum in the order comm.h documents
 * for it and demands `==` on every element (f32 and f64), checks it against a sum in double within
 * rounding, gathers every member's hash (all equal), and calls again (the same bits):
 *   sizes       0, 1, n-1, n, n+1 and 100003 elements, n the group size
 *   auto        AUTO gives direct's bits at PIPA_ALLREDUCE_RING_MIN_BYTES and ring's just above
 *   subgroups   (4 ranks and up) ranks {1,3}; {3,0,2} in that order; {0,2} and {1,3} at once
 *   missing     (2 ranks and up) rank 1 does not call: rank 0 ends in the deadline error, for
 *               both algorithms, its sends still under way no longer read its buffer (run under
 *               ASan with a small shm ring: allreduce_3_smallring), and the world still works */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "coll_test.h"

/* ---- inputs and the expected sums ----------------------------------------------------------- */

/* The member whose value is added j-th (j = 0 first) to element i under algorithm a: direct adds
 * in group order; ring adds chunk k's members k+1, k+2, ..., k+n-1, then k. */
static int adder(const pipa_group_t *g, pipa_allreduce_algo_t a, size_t count, size_t i, int j)
{
    int n = g->size;
    if (a == PIPA_ALLREDUCE_DIRECT) return j;
    /* chunk of i, found by walking the sizes comm.h states: the first count % n hold one more */
    size_t base = count / (size_t)n, rem = count % (size_t)n, end = 0;
    int k = 0;
    for (; k < n; k++) {
        end += base + ((size_t)k < rem);
        if (i < end) break;
    }
    return j == n - 1 ? k : (k + 1 + j) % n;
}

/* want[i]: the sum in a's order, rounded as the dtype rounds every addition. */
static void expected(const pipa_group_t *g, pipa_allreduce_algo_t a, pipa_dtype t, size_t count,
                     void *want)
{
    for (size_t i = 0; i < count; i++) {
        float f = 0;
        double d = 0;
        for (int j = 0; j < g->size; j++) {
            double v = coll_input(g->ranks[adder(g, a, count, i, j)], i);
            f = j == 0 ? (float)v : f + (float)v;
            d = j == 0 ? v : d + v;
        }
        if (t == PIPA_F32) ((float *)want)[i] = f;
        else ((double *)want)[i] = d;
    }
}

/* Elements of got outside rounding of the exact sum (taken in long double, all members). */
static size_t off_exact(const pipa_group_t *g, pipa_dtype t, const void *got, size_t count)
{
    size_t bad = 0;
    double eps = t == PIPA_F32 ? 6e-8 : 1.2e-16;
    for (size_t i = 0; i < count; i++) {
        long double sum = 0, mag = 0;
        for (int m = 0; m < g->size; m++) {
            double v = coll_input(g->ranks[m], i);
            if (t == PIPA_F32) v = (float)v;
            sum += v;
            mag += fabsl((long double)v);
        }
        double x = t == PIPA_F32 ? ((const float *)got)[i] : ((const double *)got)[i];
        bad += fabsl((long double)x - sum) > (long double)(g->size * eps) * mag * 2;
    }
    return bad;
}

/* ---- one call, checked ---------------------------------------------------------------------- */

/* Runs algorithm a (AUTO: expects `as`'s bits) twice on count elements and checks all. */
static void check_call(pipa_group_t *g, pipa_allreduce_algo_t a, pipa_allreduce_algo_t as,
                       pipa_dtype t, size_t count)
{
    size_t bytes = count * pipa_dtype_size(t);
    char what[128];
    snprintf(what, sizeof what, "group %d (%d members) %s %s n=%zu", g->id, g->size,
             pipa_allreduce_algo_name(a), pipa_dtype_name(t), count);
    void *x = coll_make_input(t, count), *y = coll_make_input(t, count), *want = malloc(bytes + 8);
    expected(g, as, t, count, want);
    if (pipa_allreduce_sum(g, a, t, x, count) != PIPA_OK) {
        /* the members are out of step now: stop at once (pipa-run ends the others) rather than
         * wait out every later call's deadline */
        fprintf(stderr, "%s: %s\n", what, pipa_last_error());
        exit(1);
    }
    CHECKF(memcmp(x, want, bytes) == 0, "%s: rank %d differs from the documented order", what,
           rank);
    CHECKF(off_exact(g, t, x, count) == 0, "%s: not the sum", what);
    coll_check_same_everywhere(g, x, bytes, what);
    CHECKF(pipa_allreduce_sum(g, a, t, y, count) == PIPA_OK, "%s: %s", what, pipa_last_error());
    CHECKF(memcmp(x, y, bytes) == 0, "%s: a second call gave other bits", what);
    free(x);
    free(y);
    free(want);
}

static void check_sizes(pipa_group_t *g)
{
    size_t n = (size_t)g->size, sizes[] = {0, 1, n - 1, n, n + 1, 100003};
    pipa_dtype types[] = {PIPA_F32, PIPA_F64};
    for (int ti = 0; ti < 2; ti++)
        for (size_t k = 0; k < sizeof sizes / sizeof *sizes; k++) {
            check_call(g, PIPA_ALLREDUCE_DIRECT, PIPA_ALLREDUCE_DIRECT, types[ti], sizes[k]);
            check_call(g, PIPA_ALLREDUCE_RING, PIPA_ALLREDUCE_RING, types[ti], sizes[k]);
        }
}

/* The inputs tell the orders apart: with 3 members or more, ring and direct differ somewhere. */
static void check_orders_differ(pipa_group_t *g, size_t count)
{
    if (g->size < 3) return;
    float *a = malloc(count * sizeof *a), *b = malloc(count * sizeof *b);
    expected(g, PIPA_ALLREDUCE_DIRECT, PIPA_F32, count, a);
    expected(g, PIPA_ALLREDUCE_RING, PIPA_F32, count, b);
    CHECKF(memcmp(a, b, count * sizeof *a) != 0, "%zu elements: the orders give the same bits",
           count);
    free(a);
    free(b);
}

/* AUTO: direct up to the threshold, ring above, by bytes alone. */
static void check_auto(pipa_group_t *g)
{
    size_t T = PIPA_ALLREDUCE_RING_MIN_BYTES;
    CHECK(pipa_allreduce_pick(0) == PIPA_ALLREDUCE_DIRECT);
    CHECK(pipa_allreduce_pick(T) == PIPA_ALLREDUCE_DIRECT);
    CHECK(pipa_allreduce_pick(T + 1) == PIPA_ALLREDUCE_RING);
    CHECK(pipa_allreduce_pick(SIZE_MAX) == PIPA_ALLREDUCE_RING);
    check_orders_differ(g, T / 4);
    check_orders_differ(g, T / 4 + 1);
    check_call(g, PIPA_ALLREDUCE_AUTO, PIPA_ALLREDUCE_DIRECT, PIPA_F32, T / 4);
    check_call(g, PIPA_ALLREDUCE_AUTO, PIPA_ALLREDUCE_RING, PIPA_F32, T / 4 + 1);
    check_call(g, PIPA_ALLREDUCE_AUTO, PIPA_ALLREDUCE_DIRECT, PIPA_F64, T / 8);
    check_call(g, PIPA_ALLREDUCE_AUTO, PIPA_ALLREDUCE_RING, PIPA_F64, T / 8 + 1);
    /* the public entry points are AUTO */
    size_t count = T / 4 + 1;
    float *x = coll_make_input(PIPA_F32, count), *want = malloc(count * sizeof *want);
    expected(g, PIPA_ALLREDUCE_RING, PIPA_F32, count, want);
    CHECKF(pipa_allreduce_sum_f32(g, x, count) == PIPA_OK, "%s", pipa_last_error());
    CHECK(memcmp(x, want, count * sizeof *x) == 0);
    free(x);
    free(want);
}

/* ---- groups --------------------------------------------------------------------------------- */

static void check_group(int id, const int *ranks, int n)
{
    pipa_group_t g;
    CHECK(pipa_group_init(&g, comm, id, ranks, n) == PIPA_OK);
    if (g.me < 0) {
        float x = 1;
        CHECK(pipa_allreduce_sum(&g, PIPA_ALLREDUCE_RING, PIPA_F32, &x, 1) == PIPA_ERR_STATE);
        return;
    }
    check_orders_differ(&g, 100003);
    check_call(&g, PIPA_ALLREDUCE_RING, PIPA_ALLREDUCE_RING, PIPA_F32, 100003);
    check_call(&g, PIPA_ALLREDUCE_DIRECT, PIPA_ALLREDUCE_DIRECT, PIPA_F64, 100003);
    check_call(&g, PIPA_ALLREDUCE_RING, PIPA_ALLREDUCE_RING, PIPA_F64, (size_t)n + 1);
}

static void check_subgroups(pipa_group_t *w)
{
    if (world < 4) return;
    check_group(7, (int[]){1, 3}, 2);
    CHECK(pipa_barrier(w) == PIPA_OK);
    check_group(8, (int[]){3, 0, 2}, 3);
    CHECK(pipa_barrier(w) == PIPA_OK);
    /* two disjoint groups at the same time, each rank in one */
    if (rank < 4 && rank % 2 == 0) check_group(9, (int[]){0, 2}, 2);
    if (rank < 4 && rank % 2 == 1) check_group(10, (int[]){1, 3}, 2);
    CHECK(pipa_barrier(w) == PIPA_OK);
}

/* Rank 1 stays away from group {0, 1}: rank 0's call must end in the deadline error. */
static void check_missing(pipa_group_t *w)
{
    if (world < 2) return;
    pipa_group_t g;
    CHECK(pipa_group_init(&g, comm, 11, (int[]){0, 1}, 2) == PIPA_OK);
    pipa_allreduce_algo_t algos[] = {PIPA_ALLREDUCE_RING, PIPA_ALLREDUCE_DIRECT};
    for (int k = 0; rank == 0 && k < 2; k++) {
        size_t count = (size_t)1 << 21; /* 8 MiB: more than the transport takes in at once */
        float *x = coll_make_input(PIPA_F32, count);
        double t0 = pipa_now();
        pipa_comm_set_timeout(comm, 0.5);
        pipa_status s = pipa_allreduce_sum(&g, algos[k], PIPA_F32, x, count);
        pipa_comm_set_timeout(comm, 120);
        double took = pipa_now() - t0;
        CHECKF(s == PIPA_ERR_TIMEOUT && strstr(pipa_last_error(), "deadline") &&
                   strstr(pipa_last_error(), "in the #11 group (ranks 0, 1): rank 0: deadline"),
               "%s with a member missing: status %d (%s)", pipa_allreduce_algo_name(algos[k]), s,
               pipa_last_error());
        CHECKF(took < 30, "the deadline error took %.1f s", took);
        memset(x, 0, count * sizeof *x); /* the buffer is ours again: nothing may still read it */
        free(x);
    }
    /* rank 1 polls nothing until rank 0 has given up, so rank 0's sends are still under way
     * when its call fails: they must not read its buffer (or requests) after it returns */
    if (rank == 1) nanosleep(&(struct timespec){.tv_sec = 1, .tv_nsec = 500000000}, NULL);
    CHECKF(pipa_barrier(w) == PIPA_OK, "%s", pipa_last_error());
    float one = 1;
    CHECK(pipa_allreduce_sum(w, PIPA_ALLREDUCE_RING, PIPA_F32, &one, 1) == PIPA_OK);
    CHECK(one == (float)world);
}

/* Members that disagree (4 floats on rank 0, 5 on rank 1) in a named group: rank 0 (the direct
 * algorithm's root) refuses rank 1's message, rank 1 waits for a broadcast that never comes;
 * both errors name the group and its members, once. */
static void check_named(pipa_group_t *w)
{
    if (world < 2) return;
    pipa_group_t g;
    CHECK(pipa_group_init(&g, comm, 12, (int[]){0, 1}, 2) == PIPA_OK);
    pipa_group_set_name(&g, "data");
    if (rank < 2) {
        float x[5] = {1, 2, 3, 4, 5};
        pipa_comm_set_timeout(comm, 0.5);
        pipa_status s = pipa_allreduce_sum(&g, PIPA_ALLREDUCE_DIRECT, PIPA_F32, x, 4 + rank);
        pipa_comm_set_timeout(comm, 120);
        const char *e = pipa_last_error();
        CHECKF(s != PIPA_OK && strstr(e, "in the data group (ranks 0, 1): ") == e &&
                   !strstr(e + 1, "in the data group"),
               "rank %d: %s", rank, e);
        if (rank == 0) CHECKF(strstr(e, "f32[4]") && strstr(e, "f32[5]"), "%s", e);
        if (rank == 1) CHECKF(strstr(e, "deadline"), "%s", e);
    }
    CHECKF(pipa_barrier(w) == PIPA_OK, "%s", pipa_last_error());
}

int main(void)
{
    pipa_group_t w;
    if (coll_test_init("test_allreduce", &w)) return 1;
    check_sizes(&w);
    check_auto(&w);
    check_subgroups(&w);
    check_missing(&w);
    check_named(&w);
    CHECK(pipa_allreduce_sum(&w, (pipa_allreduce_algo_t)9, PIPA_F32, NULL, 0) == PIPA_ERR_ARG);
    CHECK(pipa_allreduce_sum(&w, PIPA_ALLREDUCE_RING, PIPA_I32, NULL, 0) == PIPA_ERR_ARG);
    CHECK(pipa_flush(comm) == PIPA_OK);
    pipa_comm_free(comm);
    char name[64];
    snprintf(name, sizeof name, "test_allreduce rank %d of %d", rank, world);
    return check_done(name);
}
