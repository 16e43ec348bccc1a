/* allreduce.c: the sum (or the maximum) of an f32 or f64 array over a group, in place, by one of
 * two algorithms, each with a fixed order of additions, so every member and every run gets
 * identical bits. The maximum runs the same algorithms with max in place of +.
 *
 *   direct  members send their arrays to member 0, which adds them in group order,
 *           ((a0 + a1) + a2) + ..., and broadcasts the sum: 2 message latencies, but member 0
 *           receives and adds (n-1) whole arrays: for small arrays.
 *   ring    reduce-scatter then all-gather around the ring of members in group order (member i
 *           sends to i+1, receives from i-1): each member sends and receives 2(n-1)/n of the
 *           array, whatever n; 2(n-1) steps: for large arrays. Chunk k of the array (below) is
 *           owned by member k; its sum starts at member k+1 and goes once round the ring,
 *           (((a[k+1] + a[k+2]) + ...) + a[k-1]) + a[k] (indices mod n); the all-gather copies
 *           the owner's sum to every member, so all hold the same bits.
 * Both are written over the communicator's non-blocking point-to-point: a ring step posts its
 * receives, then its sends, then waits, so it sends and receives at once (sends never block).
 * A member that does not call makes the others' waits end in the communicator's deadline error.
 * Left out: recursive doubling and trees (their orders differ between members unless made to
 * agree), other reductions than the sum and the maximum, other dtypes, a caller-owned workspace (each call
 * allocates its receive buffer: one chunk for ring, one array at member 0 for direct). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "comm/comm.h"

/* A ring chunk is sent in segments of this many bytes (the last one shorter): the receiver adds
 * one segment while the sender still copies the next, and the segment added is still in cache.
 * Measured with pipa-bench allreduce (BENCHMARKS.md). */
#define RING_SEGMENT_BYTES ((size_t)256 * 1024)

typedef enum { OP_SUM, OP_MAX } op_t;

typedef struct {
    pipa_group_t *g;
    op_t op;
    pipa_dtype t;
    size_t esize;          /* bytes of one element */
    char *buf;             /* the caller's array: n elements */
    size_t n;
    size_t seg;            /* elements of one segment */
    size_t max_segs;       /* segments of the largest chunk: tags reserved per step */
    uint64_t tag0;         /* first tag of this call's block */
    char *tmp;             /* reduce-scatter: the partial sums arriving, one chunk */
    pipa_req_t *req;       /* 2 * max_segs: receives, then sends */
} ring_t;

/* ---- order: chunks and adds ---------------------------------------------------------------- */

void pipa_allreduce_ring_chunk(size_t n, int members, int k, size_t *start, size_t *len)
{
    size_t base = n / (size_t)members, rem = n % (size_t)members, kk = (size_t)k;
    *start = kk * base + (kk < rem ? kk : rem);
    *len = base + (kk < rem);
}

/* dst[i] += src[i]: in IEEE arithmetic a + b == b + a to the bit, so which operand is the
 * partial sum does not matter; the grouping of the additions, fixed by the caller, does. */
void pipa__allreduce_add(pipa_dtype t, void *dst, const void *src, size_t n)
{
    if (t == PIPA_F32) {
        float *d = dst;
        const float *s = src;
        for (size_t i = 0; i < n; i++) d[i] += s[i];
    } else {
        double *d = dst;
        const double *s = src;
        for (size_t i = 0; i < n; i++) d[i] += s[i];
    }
}

/* dst[i] = max(dst[i], src[i]), a NaN in either kept (s != s: NaN), so the result does not depend
 * on which member's value came first. */
static void max_into(pipa_dtype t, void *dst, const void *src, size_t n)
{
    if (t == PIPA_F32) {
        float *d = dst;
        const float *s = src;
        for (size_t i = 0; i < n; i++) d[i] = (s[i] > d[i] || s[i] != s[i]) ? s[i] : d[i];
    } else {
        double *d = dst;
        const double *s = src;
        for (size_t i = 0; i < n; i++) d[i] = (s[i] > d[i] || s[i] != s[i]) ? s[i] : d[i];
    }
}

static void combine_into(op_t op, pipa_dtype t, void *dst, const void *src, size_t n)
{
    if (op == OP_SUM) pipa__allreduce_add(t, dst, src, n);
    else max_into(t, dst, src, n);
}

static int ring_mod(int i, int n) { return ((i % n) + n) % n; }

/* ---- ring ----------------------------------------------------------------------------------- */

/* Segment j of a chunk of len elements: its offset and length (an empty chunk is one empty
 * segment, so that every step is one message at least and the members stay in step). */
static size_t seg_count(const ring_t *r, size_t len) { return len ? (len + r->seg - 1) / r->seg : 1; }
static size_t seg_len(const ring_t *r, size_t len, size_t j)
{
    return len - j * r->seg < r->seg ? len - j * r->seg : r->seg;
}

/* One step: receives chunk rc from the previous member (into tmp when adding, else into its
 * place in buf) while sending chunk sc to the next, segment by segment, all posted at once;
 * adds each received segment into buf as it lands. phase 0: reduce-scatter, 1: all-gather. */
static pipa_status ring_step(ring_t *r, int phase, int step, int sc, int rc)
{
    pipa_group_t *g = r->g;
    int n = g->size, next = g->ranks[(g->me + 1) % n], prev = g->ranks[(g->me + n - 1) % n];
    size_t s0, slen, r0, rlen;
    pipa_allreduce_ring_chunk(r->n, n, sc, &s0, &slen);
    pipa_allreduce_ring_chunk(r->n, n, rc, &r0, &rlen);
    uint64_t tag = r->tag0 + ((uint64_t)phase * (uint64_t)(n - 1) + (uint64_t)step) * r->max_segs;
    size_t nrecv = seg_count(r, rlen), nsend = seg_count(r, slen), es = r->esize;
    char *rdst = phase == 0 ? r->tmp : r->buf + r0 * es;
    pipa_req_t *sreq = r->req + r->max_segs;
    for (size_t j = 0; j < nrecv; j++) {
        pipa_desc_t d = pipa_desc_1d(r->t, (int64_t)seg_len(r, rlen, j));
        PIPA_TRY(pipa_irecv(g->comm, prev, tag + j, &d, rdst + j * r->seg * es, &r->req[j]));
    }
    for (size_t j = 0; j < nsend; j++) {
        pipa_desc_t d = pipa_desc_1d(r->t, (int64_t)seg_len(r, slen, j));
        pipa_status s = pipa_isend(g->comm, next, tag + j, &d, r->buf + (s0 + j * r->seg) * es,
                                   &sreq[j]);
        if (s != PIPA_OK) return pipa__coll_drop_sends(g->comm, sreq, j, s);
    }
    for (size_t j = 0; j < nrecv; j++) {
        pipa_status s = pipa_wait(g->comm, &r->req[j]);
        if (s != PIPA_OK) return pipa__coll_drop_sends(g->comm, sreq, nsend, s);
        size_t off = j * r->seg;
        if (phase == 0)
            combine_into(r->op, r->t, r->buf + (r0 + off) * es, r->tmp + off * es,
                         seg_len(r, rlen, j));
    }
    for (size_t j = 0; j < nsend; j++) {
        pipa_status s = pipa_wait(g->comm, &sreq[j]);
        if (s != PIPA_OK) return pipa__coll_drop_sends(g->comm, sreq, nsend, s);
    }
    return PIPA_OK;
}

/* Reduce-scatter: at step s member i sends chunk i-1-s and adds what arrives into chunk i-2-s,
 * so chunk k starts at member k+1 and ends, summed, at member k. All-gather: at step s member i
 * sends chunk i-s and receives chunk i-1-s into place. */
static pipa_status ring_run(ring_t *r)
{
    int n = r->g->size, me = r->g->me;
    for (int s = 0; s < n - 1; s++)
        PIPA_TRY(ring_step(r, 0, s, ring_mod(me - 1 - s, n), ring_mod(me - 2 - s, n)));
    for (int s = 0; s < n - 1; s++)
        PIPA_TRY(ring_step(r, 1, s, ring_mod(me - s, n), ring_mod(me - 1 - s, n)));
    return PIPA_OK;
}

static pipa_status ring(pipa_group_t *g, op_t op, pipa_dtype t, void *buf, size_t n)
{
    ring_t r = {.g = g, .op = op, .t = t, .esize = pipa_dtype_size(t), .buf = buf, .n = n};
    r.seg = RING_SEGMENT_BYTES / r.esize;
    size_t start, big;
    pipa_allreduce_ring_chunk(n, g->size, 0, &start, &big); /* chunk 0 is a largest */
    r.max_segs = big == 0 ? 1 : (big + r.seg - 1) / r.seg;
    /* every member reserves the same block of tags: one per segment of every step */
    r.tag0 = pipa__coll_tags(g, 2 * (uint64_t)(g->size - 1) * r.max_segs);
    if (g->size == 1) return PIPA_OK;
    r.tmp = malloc(big * r.esize + 1);
    r.req = calloc(2 * r.max_segs, sizeof *r.req);
    pipa_status s = r.tmp && r.req ? ring_run(&r)
                                   : pipa__fail(PIPA_ERR_NOMEM, "out of memory in all-reduce");
    /* after an error: sends under way were detached (pipa__coll_drop_sends: the step's
     * sends may still read buf, the caller's again once we return); shm matches a receive only
     * when it is waited on, so an abandoned one never writes into tmp once freed (a transport
     * that posts receives ahead, MPI, will need a receive cancel here) */
    free(r.tmp);
    free(r.req);
    return s;
}

/* ---- direct -------------------------------------------------------------------------------- */

/* Member 0 adds the members' arrays in group order into buf, then broadcasts the sum. */
static pipa_status direct(pipa_group_t *g, op_t op, pipa_dtype t, void *buf, size_t n)
{
    uint64_t tag = pipa__coll_tags(g, 1);
    pipa_desc_t d = pipa_desc_1d(t, (int64_t)n);
    if (g->me != 0) {
        PIPA_TRY(pipa_send(g->comm, g->ranks[0], tag, &d, buf));
    } else if (g->size > 1) {
        void *tmp = malloc(pipa_desc_bytes(&d) + 1);
        if (!tmp) return pipa__fail(PIPA_ERR_NOMEM, "out of memory in all-reduce");
        for (int i = 1; i < g->size; i++) {
            pipa_status s = pipa_recv(g->comm, g->ranks[i], tag, &d, tmp);
            if (s != PIPA_OK) {
                free(tmp);
                return s;
            }
            combine_into(op, t, buf, tmp, n);
        }
        free(tmp);
    }
    return pipa_bcast(g, 0, &d, buf);
}

/* ---- choice and entry points ----------------------------------------------------------------- */

pipa_allreduce_algo_t pipa_allreduce_pick(size_t bytes)
{
    return bytes <= PIPA_ALLREDUCE_RING_MIN_BYTES ? PIPA_ALLREDUCE_DIRECT : PIPA_ALLREDUCE_RING;
}

const char *pipa_allreduce_algo_name(pipa_allreduce_algo_t a)
{
    switch (a) {
    case PIPA_ALLREDUCE_AUTO: return "auto";
    case PIPA_ALLREDUCE_DIRECT: return "direct";
    case PIPA_ALLREDUCE_RING: return "ring";
    }
    return "?";
}

pipa_status pipa__allreduce_check(pipa_group_t *g, pipa_dtype t, size_t n)
{
    if (t != PIPA_F32 && t != PIPA_F64)
        return pipa__fail(PIPA_ERR_ARG, "all-reduce of %s: only f32 and f64 are reduced",
                          pipa_dtype_name(t));
    if (n > (size_t)INT64_MAX / pipa_dtype_size(t))
        return pipa__fail(PIPA_ERR_ARG, "all-reduce of %zu elements: too many", n);
    return pipa__coll_check_member(g, 0);
}

static pipa_status reduce(pipa_group_t *g, pipa_allreduce_algo_t algo, op_t op, pipa_dtype t,
                          void *buf, size_t n)
{
    PIPA_TRY(pipa__allreduce_check(g, t, n));
    if (algo == PIPA_ALLREDUCE_AUTO) algo = pipa_allreduce_pick(n * pipa_dtype_size(t));
    if (algo == PIPA_ALLREDUCE_RING) return pipa__coll_named(g, ring(g, op, t, buf, n));
    if (algo == PIPA_ALLREDUCE_DIRECT) return pipa__coll_named(g, direct(g, op, t, buf, n));
    return pipa__fail(PIPA_ERR_ARG, "all-reduce algorithm %d unknown", (int)algo);
}

pipa_status pipa_allreduce_sum(pipa_group_t *g, pipa_allreduce_algo_t algo, pipa_dtype t,
                               void *buf, size_t n)
{
    return reduce(g, algo, OP_SUM, t, buf, n);
}

pipa_status pipa_allreduce_max(pipa_group_t *g, pipa_dtype t, void *buf, size_t n)
{
    return reduce(g, PIPA_ALLREDUCE_AUTO, OP_MAX, t, buf, n);
}

pipa_status pipa_allreduce_sum_f32(pipa_group_t *g, float *buf, size_t n)
{
    return pipa_allreduce_sum(g, PIPA_ALLREDUCE_AUTO, PIPA_F32, buf, n);
}

pipa_status pipa_allreduce_sum_f64(pipa_group_t *g, double *buf, size_t n)
{
    return pipa_allreduce_sum(g, PIPA_ALLREDUCE_AUTO, PIPA_F64, buf, n);
}
