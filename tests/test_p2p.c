/* test_p2p: point-to-point and collectives through the communicator, run through pipa-run (shm)
 * or mpirun (MPI, tests/test_mpi.sh):  pipa-run -n N test_p2p MODE
 *   sizes     0 B .. 64 MiB both ways between ranks 0 and 1, contents checked byte for byte
 *   huge      one 256 MiB message, contents checked
 *   order     tags received in another order than sent, also past the ring's capacity; 48
 *             messages of one tag arrive in the order sent (more than MPI's 32 header slots)
 *   mismatch  a receive expecting another dtype or shape (also of the same byte count, also from
 *             the unexpected queue) fails naming both ranks, the tag and both descriptions
 *   deadline  a receive nobody answers fails at its deadline naming rank, peer and tag
 *   deadpeer  a receive from a rank that exited fails within about a second, not at the deadline
 *   coll      barrier, broadcast, gather, all-reduce on the world and on a subgroup
 *   sendsend  ranks 0 and 1 each send the other more than a ring holds and wait for their sends
 *             before receiving: completes (blocked senders drain incoming rings), no deadlock
 *   fail      rank 0 leaves and exits 3, as a tool does after an error, while the others wait for
 *             its message; die: rank 0 is killed (SIGKILL). The run must end at once, non-zero,
 *             with nothing left running: under MPI, whose transport has no liveness of its own,
 *             the job must be ended (test_mpi.sh); under pipa-run the waits fail naming the peer */
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "comm/comm.h"

static pipa_comm_t *comm;
static int rank, world;

static uint8_t pattern(size_t i, uint64_t salt) { return (uint8_t)((i * 2654435761u + salt * 97) >> 7); }

static void fill(uint8_t *b, size_t n, uint64_t salt)
{
    for (size_t i = 0; i < n; i++) b[i] = pattern(i, salt);
}

static size_t count_bad(const uint8_t *b, size_t n, uint64_t salt)
{
    size_t bad = 0;
    for (size_t i = 0; i < n; i++) bad += b[i] != pattern(i, salt);
    return bad;
}

/* Sends `n` bytes from `from` to `to` (as u8[n]) and checks them on arrival. */
static void one_transfer(int from, int to, size_t n, uint64_t tag)
{
    uint8_t *buf = malloc(n + 1);
    pipa_desc_t d = pipa_desc_1d(PIPA_U8, (int64_t)n);
    if (rank == from) {
        fill(buf, n, tag);
        CHECKF(pipa_send(comm, to, tag, &d, buf) == PIPA_OK, "%s", pipa_last_error());
    } else if (rank == to) {
        memset(buf, 0xEE, n);
        CHECKF(pipa_recv(comm, from, tag, &d, buf) == PIPA_OK, "%s", pipa_last_error());
        size_t bad = count_bad(buf, n, tag);
        CHECKF(bad == 0, "%zu of %zu bytes wrong", bad, n);
    }
    free(buf);
}

static void test_sizes(void)
{
    size_t sizes[] = {0, 1, 7, 8, 63, 64, 65, 4096, 65536, 1 << 20, (1 << 20) + 3, 16 << 20, 64 << 20};
    for (size_t i = 0; i < sizeof sizes / sizeof *sizes; i++) {
        one_transfer(0, 1, sizes[i], 100 + i);
        one_transfer(1, 0, sizes[i], 200 + i);
    }
}

/* Rank 0 sends tags 1..K with non-blocking sends, rank 1 receives them backwards. With large
 * messages the early ones must leave the ring (unexpected queue) for the later ones to arrive. */
static void reversed(size_t n, int k)
{
    pipa_desc_t d = pipa_desc_1d(PIPA_U8, (int64_t)n);
    uint8_t *bufs = malloc(n * k + 1);
    if (rank == 0) {
        pipa_req_t reqs[16];
        for (int i = 0; i < k; i++) {
            fill(bufs + n * i, n, 1000 + i);
            CHECK(pipa_isend(comm, 1, 1000 + i, &d, bufs + n * i, &reqs[i]) == PIPA_OK);
        }
        for (int i = 0; i < k; i++) CHECKF(pipa_wait(comm, &reqs[i]) == PIPA_OK, "%s", pipa_last_error());
    } else if (rank == 1) {
        for (int i = k - 1; i >= 0; i--) {
            CHECKF(pipa_recv(comm, 0, 1000 + i, &d, bufs + n * i) == PIPA_OK, "%s", pipa_last_error());
            CHECKF(count_bad(bufs + n * i, n, 1000 + i) == 0, "size %zu tag %d wrong", n, 1000 + i);
        }
    }
    free(bufs);
}

/* Rank 0 sends k messages of one tag at once; rank 1 receives them: each must be the next one
 * sent (matching takes the oldest message of a tag), whatever path the headers took. */
static void same_tag(size_t n, int k)
{
    pipa_desc_t d = pipa_desc_1d(PIPA_U8, (int64_t)n);
    uint8_t *bufs = malloc(n * k + 1);
    pipa_req_t reqs[64];
    for (int i = 0; i < k && rank <= 1; i++) {
        if (rank == 1) {
            CHECKF(pipa_recv(comm, 0, 77, &d, bufs + n * i) == PIPA_OK, "%s", pipa_last_error());
            CHECKF(count_bad(bufs + n * i, n, 2000 + i) == 0, "message %d of tag 77 out of order", i);
            continue;
        }
        fill(bufs + n * i, n, 2000 + i);
        CHECK(pipa_isend(comm, 1, 77, &d, bufs + n * i, &reqs[i]) == PIPA_OK);
    }
    for (int i = 0; i < k && rank == 0; i++)
        CHECKF(pipa_wait(comm, &reqs[i]) == PIPA_OK, "%s", pipa_last_error());
    free(bufs);
}

static void test_order(void)
{
    same_tag(100, 48);
    same_tag(5000, 40); /* payloads after their headers */
    reversed(100, 5);
    reversed(3 << 20, 4);   /* spans fragments */
    reversed(20 << 20, 3);  /* each larger than the default ring */
}

/* Rank 1 receives tag expecting `want` what rank 0 sent as `sent`: a mismatch error (not an
 * assertion, not a hang) naming both ranks, the tag and both descriptions, and nothing copied. */
static void expect_mismatch(uint64_t tag, const pipa_desc_t *want, const pipa_desc_t *sent)
{
    float got[16] = {0};
    char w[96], h[96], t[32];
    pipa_desc_str(want, w, sizeof w);
    pipa_desc_str(sent, h, sizeof h);
    snprintf(t, sizeof t, "tag %llu", (unsigned long long)tag);
    pipa_status s = pipa_recv(comm, 0, tag, want, got);
    const char *m = pipa_last_error();
    CHECKF(s == PIPA_ERR_MISMATCH, "%s received as %s: status %d", h, w, (int)s);
    CHECKF(strstr(m, "rank 1") && strstr(m, "rank 0") && strstr(m, t) && strstr(m, w) && strstr(m, h),
           "%s received as %s, message: %s", h, w, m);
    for (int i = 0; i < 16; i++) CHECKF(got[i] == 0, "%s copied into a %s buffer", h, w);
}

/* Each case sends one description and receives another: the byte count differs in the first
 * only. Equal sizes must fail as well (a header check comparing bytes alone lets them through):
 * f32 vs i32, [2,6] vs [3,4], [12] vs [2,6]. The last goes through the unexpected queue: rank 1
 * first takes a message larger than the ring, which moves the waiting one out of the ring. After
 * the mismatches, a correct message still arrives intact. */
static void test_mismatch(void)
{
    float data[16] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12};
    const struct { uint64_t tag; pipa_desc_t sent, want; } cases[] = {
        {42, pipa_desc(PIPA_F32, 2, (int64_t[]){2, 3}), pipa_desc(PIPA_F32, 2, (int64_t[]){2, 4})},
        {43, pipa_desc(PIPA_F32, 2, (int64_t[]){2, 6}), pipa_desc(PIPA_I32, 2, (int64_t[]){2, 6})},
        {44, pipa_desc(PIPA_F32, 2, (int64_t[]){2, 6}), pipa_desc(PIPA_F32, 2, (int64_t[]){3, 4})},
        {45, pipa_desc(PIPA_F32, 1, (int64_t[]){12}), pipa_desc(PIPA_F32, 2, (int64_t[]){2, 6})},
        {46, pipa_desc(PIPA_I32, 2, (int64_t[]){3, 4}), pipa_desc(PIPA_F32, 2, (int64_t[]){3, 4})},
    };
    enum { NCASE = sizeof cases / sizeof *cases };
    size_t big = 20u << 20;  /* more than the ring holds */
    pipa_desc_t bd = pipa_desc_1d(PIPA_U8, (int64_t)big), ok = pipa_desc_1d(PIPA_F32, 12);
    uint8_t *bb = malloc(big);
    if (rank == 0) {
        for (int k = 0; k < NCASE; k++) CHECK(pipa_send(comm, 1, cases[k].tag, &cases[k].sent, data) == PIPA_OK);
        fill(bb, big, 47);
        CHECKF(pipa_send(comm, 1, 47, &bd, bb) == PIPA_OK, "%s", pipa_last_error());
        CHECK(pipa_send(comm, 1, 48, &ok, data) == PIPA_OK);
    } else if (rank == 1) {
        for (int k = 0; k < NCASE - 1; k++) expect_mismatch(cases[k].tag, &cases[k].want, &cases[k].sent);
        CHECKF(pipa_recv(comm, 0, 47, &bd, bb) == PIPA_OK, "%s", pipa_last_error());
        CHECK(count_bad(bb, big, 47) == 0);
        expect_mismatch(cases[NCASE - 1].tag, &cases[NCASE - 1].want, &cases[NCASE - 1].sent);
        float got[12] = {0};
        CHECKF(pipa_recv(comm, 0, 48, &ok, got) == PIPA_OK, "%s", pipa_last_error());
        CHECK(memcmp(got, data, sizeof got) == 0);
    }
    free(bb);
}

static void test_deadline(void)
{
    if (rank == 0) {
        sleep(2); /* alive, silent */
        return;
    }
    float x;
    pipa_desc_t d = pipa_desc_1d(PIPA_F32, 1);
    pipa_comm_set_timeout(comm, 0.5);
    double t0 = pipa_now();
    pipa_status s = pipa_recv(comm, 0, 77, &d, &x);
    double waited = pipa_now() - t0;
    CHECK(s == PIPA_ERR_TIMEOUT);
    CHECKF(waited >= 0.45 && waited < 1.5, "waited %.3f s for a 0.5 s deadline", waited);
    const char *m = pipa_last_error();
    CHECKF(strstr(m, "rank 1") && strstr(m, "rank 0") && strstr(m, "tag 77"), "message: %s", m);
}

static void test_deadpeer(void)
{
    if (rank == 0) return; /* exits at once */
    float x;
    pipa_desc_t d = pipa_desc_1d(PIPA_F32, 1);
    double t0 = pipa_now();
    pipa_status s = pipa_recv(comm, 0, 5, &d, &x);
    double waited = pipa_now() - t0;
    CHECK(s == PIPA_ERR_PEER);
    CHECKF(waited < 1.5, "noticed the dead peer after %.2f s", waited);
    CHECKF(strstr(pipa_last_error(), "peer rank 0"), "message: %s", pipa_last_error());
}

/* Rank 0 fails (exit 3 from main, after pipa_comm_free) or dies; the others wait for a message
 * it never sends, under the default deadline (minutes): only the run's end can stop them. */
static int test_fail(int die)
{
    if (rank == 0) {
        if (die) raise(SIGKILL);
        pipa_comm_free(comm);
        fprintf(stderr, "test_p2p fail: rank 0 fails on purpose (exit 3)\n");
        return 3;
    }
    float x;
    pipa_desc_t d = pipa_desc_1d(PIPA_F32, 1);
    pipa_status s = pipa_recv(comm, 0, 99, &d, &x);
    fprintf(stderr, "test_p2p fail: rank %d: %s\n", rank, s ? pipa_last_error() : "received?!");
    return 4;
}

static void test_sendsend(void)
{
    enum { K = 3 };
    size_t n = 8u << 20;
    int peer = 1 - rank;
    if (rank > 1) return;
    uint8_t *out = malloc(n * K), *in = malloc(n * K);
    pipa_desc_t d = pipa_desc_1d(PIPA_U8, (int64_t)n);
    pipa_req_t reqs[K];
    for (int i = 0; i < K; i++) {
        fill(out + n * i, n, 500 + 10 * rank + i);
        CHECK(pipa_isend(comm, peer, 500 + i, &d, out + n * i, &reqs[i]) == PIPA_OK);
    }
    for (int i = 0; i < K; i++) CHECKF(pipa_wait(comm, &reqs[i]) == PIPA_OK, "%s", pipa_last_error());
    for (int i = 0; i < K; i++) {
        CHECKF(pipa_recv(comm, peer, 500 + i, &d, in + n * i) == PIPA_OK, "%s", pipa_last_error());
        CHECKF(count_bad(in + n * i, n, 500 + 10 * peer + i) == 0, "message %d wrong", i);
    }
    free(out);
    free(in);
}

static float contribution(int r, int i) { return (float)(r + 1) * 0.1f + (float)i * 1e-7f + 1e4f * (r == 1); }

static void test_coll_on(pipa_group_t *g)
{
    CHECKF(pipa_barrier(g) == PIPA_OK, "%s", pipa_last_error());
    for (int root = 0; root < g->size; root++) {
        int64_t v[3] = {g->me == root ? root * 11 : -1, g->me == root ? 5 : -1, 7};
        pipa_desc_t d = pipa_desc_1d(PIPA_I64, 3);
        CHECK(pipa_bcast(g, root, &d, v) == PIPA_OK);
        CHECK(v[0] == root * 11 && v[1] == 5);
    }
    int mine = 1000 + g->ranks[g->me], all[PIPA_MAX_RANKS];
    CHECK(pipa_gather(g, 0, &mine, sizeof mine, all) == PIPA_OK);
    if (g->me == 0)
        for (int i = 0; i < g->size; i++) CHECK(all[i] == 1000 + g->ranks[i]);
    enum { N = 1000 };
    float x[N], want[N];
    for (int i = 0; i < N; i++) {
        x[i] = contribution(g->ranks[g->me], i);
        want[i] = contribution(g->ranks[0], i);
        for (int m = 1; m < g->size; m++) want[i] += contribution(g->ranks[m], i);
    }
    CHECK(pipa_allreduce_sum_f32(g, x, N) == PIPA_OK);
    CHECKF(memcmp(x, want, sizeof x) == 0, "all-reduce differs from the group-order sum");
    double y = 0.5 * (g->me + 1), ywant = 0;
    for (int m = 0; m < g->size; m++) ywant += 0.5 * (m + 1);
    CHECK(pipa_allreduce_sum_f64(g, &y, 1) == PIPA_OK);
    CHECK(y == ywant);
}

static void test_coll(void)
{
    pipa_group_t g;
    pipa_group_world(&g, comm);
    test_coll_on(&g);
    int evens[PIPA_MAX_RANKS], n = 0;
    for (int r = 0; r < world; r += 2) evens[n++] = r;
    pipa_group_t e;
    CHECK(pipa_group_init(&e, comm, 1, evens, n) == PIPA_OK);
    if (e.me >= 0) test_coll_on(&e);
    CHECK(pipa_barrier(&g) == PIPA_OK);
    char line[64];
    snprintf(line, sizeof line, "rank %d of %d reporting\n", rank, world);
    CHECK(pipa_print_ordered(&g, line) == PIPA_OK);
}

int main(int argc, char **argv)
{
    const char *mode = argc > 1 ? argv[1] : "sizes";
    if (pipa_comm_init(&comm) != PIPA_OK) {
        fprintf(stderr, "test_p2p: %s\n", pipa_last_error());
        return 1;
    }
    rank = pipa_comm_rank(comm);
    world = pipa_comm_size(comm);
    int needs_two = strcmp(mode, "coll") != 0;
    if (needs_two && world < 2) {
        fprintf(stderr, "test_p2p %s needs 2 ranks\n", mode);
        return 1;
    }
    if (!strcmp(mode, "fail") || !strcmp(mode, "die")) return test_fail(!strcmp(mode, "die"));
    if (!strcmp(mode, "sizes")) test_sizes();
    else if (!strcmp(mode, "order")) test_order();
    else if (!strcmp(mode, "mismatch")) test_mismatch();
    else if (!strcmp(mode, "deadline")) test_deadline();
    else if (!strcmp(mode, "deadpeer")) test_deadpeer();
    else if (!strcmp(mode, "coll")) test_coll();
    else if (!strcmp(mode, "sendsend")) test_sendsend();
    else if (!strcmp(mode, "huge")) one_transfer(0, 1, 256u << 20, 7);
    else {
        fprintf(stderr, "unknown mode %s\n", mode);
        return 2;
    }
    pipa_comm_free(comm);
    char name[64];
    snprintf(name, sizeof name, "test_p2p %s rank %d", mode, rank);
    return check_done(name);
}
