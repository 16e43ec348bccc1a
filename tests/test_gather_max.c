/* test_gather_max: the tensor group's other collectives, run through pipa-run on 1..8 ranks (or
 * alone): the all-reduce maximum, the all-gather, and the communicator's count of bytes sent.
 *   max        f32 and f64, 0 / 1 / 5 / 100003 elements (direct below 64 KiB, ring above), each
 *              member's values made from its rank and the index; every element == the maximum
 *              computed here from those inputs, the same on every member; a NaN on one member
 *              gives NaN everywhere; a second call gives the same bits
 *   allgather  0, 3 and 1 MiB blocks per member, into a separate buffer and in place (the own
 *              block already in recvbuf); every block == its member's bytes; a subgroup {3, 0, 2}
 *              in that order (4 ranks and up); a member missing is the deadline error naming
 *              the group
 *   bytes      pipa_comm_bytes_sent grows by exactly the payload of a send, and an all-gather
 *              of b bytes per member adds (size - 1) * b on every member */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "coll_test.h"

/* Element i of world rank r's values: spread so that every rank holds the maximum somewhere. */
static double input(int r, size_t i)
{
    uint32_t u = (uint32_t)(r + 7) * 2654435761u ^ (uint32_t)(i * 2246822519u + 99u);
    u ^= u >> 13;
    u *= 3266489917u;
    u ^= u >> 16;
    return ((double)(u >> 8) / 8388608.0 - 1.0) * 1e3;
}

static void fill(pipa_dtype t, void *buf, int r, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (t == PIPA_F32) ((float *)buf)[i] = (float)input(r, i);
        else ((double *)buf)[i] = input(r, i);
    }
}

static double at(pipa_dtype t, const void *buf, size_t i)
{
    return t == PIPA_F32 ? ((const float *)buf)[i] : ((const double *)buf)[i];
}

/* ---- max -------------------------------------------------------------------------------------- */

static void check_max(pipa_group_t *g, pipa_dtype t, size_t n)
{
    size_t es = pipa_dtype_size(t);
    void *x = malloc(n * es + 8), *y = malloc(n * es + 8);
    fill(t, x, rank, n);
    fill(t, y, rank, n);
    CHECKF(pipa_allreduce_max(g, t, x, n) == PIPA_OK, "max %s n=%zu: %s", pipa_dtype_name(t), n,
           pipa_last_error());
    size_t bad = 0;
    for (size_t i = 0; i < n; i++) {
        double want = -INFINITY;
        for (int r = 0; r < g->size; r++) {
            double v = t == PIPA_F32 ? (double)(float)input(g->ranks[r], i) : input(g->ranks[r], i);
            want = v > want ? v : want;
        }
        bad += at(t, x, i) != want;
    }
    CHECKF(bad == 0, "max %s n=%zu: %zu elements are not the members' maximum", pipa_dtype_name(t),
           n, bad);
    CHECKF(pipa_allreduce_max(g, t, y, n) == PIPA_OK, "%s", pipa_last_error());
    CHECKF(memcmp(x, y, n * es) == 0, "max %s n=%zu: a second call gave other bits",
           pipa_dtype_name(t), n);
    free(x);
    free(y);
}

/* Member size-1 holds a NaN at element 2: every member gets NaN there and the maximum elsewhere. */
static void check_max_nan(pipa_group_t *g)
{
    float x[4] = {(float)rank, -1, 5, (float)-rank};
    if (g->me == g->size - 1) x[2] = NAN;
    CHECK(pipa_allreduce_max(g, PIPA_F32, x, 4) == PIPA_OK);
    CHECKF(x[0] == (float)(world - 1) && x[1] == -1 && isnan(x[2]) && x[3] == 0,
           "max with a NaN: %g %g %g %g", x[0], x[1], x[2], x[3]);
}

/* ---- all-gather -------------------------------------------------------------------------------- */

static unsigned char byte_of(int r, size_t i) { return (unsigned char)(r * 31 + i * 7 + (i >> 9)); }

static void check_gather(pipa_group_t *g, size_t b, int in_place)
{
    unsigned char *mine = malloc(b + 1), *all = malloc((size_t)g->size * b + 1);
    memset(all, 0xEE, (size_t)g->size * b + 1);
    for (size_t i = 0; i < b; i++) mine[i] = byte_of(rank, i);
    const unsigned char *src = mine;
    if (in_place) {
        memcpy(all + (size_t)g->me * b, mine, b);
        src = all + (size_t)g->me * b;
    }
    uint64_t before = pipa_comm_bytes_sent(comm);
    CHECKF(pipa_allgather(g, src, b, all) == PIPA_OK, "allgather %zu B: %s", b, pipa_last_error());
    CHECKF(pipa_comm_bytes_sent(comm) - before == (uint64_t)(g->size - 1) * b,
           "allgather of %zu B per member on %d: %llu bytes sent, want %llu", b, g->size,
           (unsigned long long)(pipa_comm_bytes_sent(comm) - before),
           (unsigned long long)(g->size - 1) * b);
    size_t bad = 0;
    for (int m = 0; m < g->size; m++)
        for (size_t i = 0; i < b; i++) bad += all[(size_t)m * b + i] != byte_of(g->ranks[m], i);
    CHECKF(bad == 0 && all[(size_t)g->size * b] == 0xEE,
           "allgather %zu B (%s): %zu bytes wrong or written past the end", b,
           in_place ? "in place" : "apart", bad);
    free(mine);
    free(all);
}

static void check_gather_sizes(pipa_group_t *g)
{
    size_t sizes[] = {0, 3, (size_t)1 << 20};
    for (int k = 0; k < 3; k++) {
        check_gather(g, sizes[k], 0);
        check_gather(g, sizes[k], 1);
    }
}

/* Rank 1 stays away from group {0, 1}: rank 0's all-gather ends in the deadline error. */
static void check_gather_missing(pipa_group_t *w)
{
    if (world < 2) return;
    pipa_group_t g;
    CHECK(pipa_group_init(&g, comm, 21, (int[]){0, 1}, 2) == PIPA_OK);
    pipa_group_set_name(&g, "tensor");
    if (rank == 0) {
        char mine[64] = {1}, all[128];
        pipa_comm_set_timeout(comm, 0.5);
        pipa_status s = pipa_allgather(&g, mine, sizeof mine, all);
        pipa_comm_set_timeout(comm, 120);
        CHECKF(s == PIPA_ERR_TIMEOUT &&
                   strstr(pipa_last_error(), "in the tensor group (ranks 0, 1): rank 0: deadline"),
               "allgather with a member missing: %d (%s)", s, pipa_last_error());
    }
    CHECKF(pipa_barrier(w) == PIPA_OK, "%s", pipa_last_error());
}

/* ---- bytes ------------------------------------------------------------------------------------- */

static void check_bytes(pipa_group_t *w)
{
    if (world < 2) return;
    float v[1000];
    pipa_desc_t d = pipa_desc_1d(PIPA_F32, 1000);
    uint64_t before = pipa_comm_bytes_sent(comm);
    if (rank == 0) CHECK(pipa_send(comm, 1, 77, &d, v) == PIPA_OK);
    if (rank == 1) CHECK(pipa_recv(comm, 0, 77, &d, v) == PIPA_OK);
    uint64_t sent = pipa_comm_bytes_sent(comm) - before;
    CHECKF(sent == (rank == 0 ? sizeof v : 0), "rank %d: a 4000-byte send counted %llu bytes",
           rank, (unsigned long long)sent);
    CHECK(pipa_barrier(w) == PIPA_OK);
}

int main(void)
{
    pipa_group_t w;
    if (coll_test_init("test_gather_max", &w)) return 1;
    size_t sizes[] = {0, 1, 5, 100003};
    for (int k = 0; k < 4; k++) {
        check_max(&w, PIPA_F32, sizes[k]);
        check_max(&w, PIPA_F64, sizes[k]);
    }
    check_max_nan(&w);
    CHECK(pipa_allreduce_max(&w, PIPA_I32, NULL, 0) == PIPA_ERR_ARG);
    check_gather_sizes(&w);
    if (world >= 4) {
        pipa_group_t g;
        CHECK(pipa_group_init(&g, comm, 22, (int[]){3, 0, 2}, 3) == PIPA_OK);
        if (rank == 3 || rank == 0 || rank == 2) check_gather(&g, 1000, 0);
        CHECK(pipa_barrier(&w) == PIPA_OK);
    }
    check_gather_missing(&w);
    check_bytes(&w);
    CHECK(pipa_flush(comm) == PIPA_OK);
    pipa_comm_free(comm);
    char name[64];
    snprintf(name, sizeof name, "test_gather_max rank %d of %d", rank, world);
    return check_done(name);
}
