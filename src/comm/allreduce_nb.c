/* allreduce_nb.c: the non-blocking all-reduce (comm.h): the sum of an f32 or f64 array over a
 * group in group order, ((a0 + a1) + a2) + ..., started at once and finished later, so that the
 * caller computes while the arrays travel (data parallelism: a layer's gradient reduction
 * overlapping the rest of the backward).
 *
 * start sends my array to every other member (one tag per call, reserved in the group's tag space
 * like every collective: matching is by (source, tag), so the n-1 messages of a call share it);
 * wait receives the others' arrays one at a time in group order and adds them, which needs no
 * ordering between members because sends never block (comm.h): a send that does not fit waits in
 * its sender's queue and moves on at the sender's next call into the communicator, or is taken in
 * by the receiver's waits. Every member adds the same arrays in the same order, so all hold the
 * same bits, those of allreduce.c's direct algorithm; with two members a0 + a1 == a1 + a0 to the
 * bit, which is every algorithm's result.
 * My array may be read by my sends until they completed, so wait adds into a buffer of its own,
 * waits for my sends, and only then writes buf. Each member moves (n-1) arrays each way: fine for
 * the small groups of data parallelism, not a replacement for the ring at 8 members.
 * Left out: the ring split into halves (its order depends on the element's chunk, and the data
 * parallel runtime needs one order for every cut of the gradients), a caller-owned workspace
 * (each wait allocates one array, two with more than two members). */
#include <stdlib.h>
#include <string.h>

#include "comm/comm.h"

/* Member i's array into dst (a blocking receive: the other member's send was posted at its
 * start, so this waits for nobody who waits for me). */
static pipa_status recv_from(const pipa_allreduce_req_t *r, int i, void *dst)
{
    pipa_desc_t d = pipa_desc_1d(r->t, (int64_t)r->n);
    return pipa_recv(r->g->comm, r->g->ranks[i], r->tag, &d, dst);
}

/* Lets my sends go on from the communicator's copies (buf is the caller's again), forgets r and
 * passes s through with its message. */
static pipa_status drop_sends(pipa_allreduce_req_t *r, pipa_status s)
{
    if (r->sends) s = pipa__coll_drop_sends(r->g->comm, r->sends, (size_t)r->g->size, s);
    free(r->sends);
    r->sends = NULL;
    return s;
}

/* s after a failure: the sends dropped, the group named once. */
static pipa_status fail(pipa_allreduce_req_t *r, pipa_status s)
{
    return pipa__coll_named(r->g, drop_sends(r, s));
}

pipa_status pipa_allreduce_start(pipa_group_t *g, pipa_dtype t, void *buf, size_t n,
                                 pipa_allreduce_req_t *r)
{
    memset(r, 0, sizeof *r);
    PIPA_TRY(pipa__coll_named(g, pipa__allreduce_check(g, t, n)));
    *r = (pipa_allreduce_req_t){.g = g, .t = t, .buf = buf, .n = n, .tag = pipa__coll_tags(g, 1)};
    r->sends = calloc((size_t)g->size, sizeof *r->sends);
    if (!r->sends) return pipa__coll_named(g, pipa__fail(PIPA_ERR_NOMEM, "out of memory in "
                                                         "all-reduce"));
    pipa_desc_t d = pipa_desc_1d(t, (int64_t)n);
    for (int k = 1; k < g->size; k++) {
        int i = (g->me + k) % g->size;  // from my successor on: member 0 is not everyone's first
        pipa_status s = pipa_isend(g->comm, g->ranks[i], r->tag, &d, buf, &r->sends[i]);
        if (s != PIPA_OK) return fail(r, s);
    }
    return PIPA_OK;
}

pipa_status pipa_allreduce_progress(pipa_allreduce_req_t *r)
{
    for (int i = 0; r->sends && i < r->g->size; i++) {
        int done;
        if (i == r->g->me || r->sends[i].kind == PIPA_REQ_NONE) continue;
        pipa_status s = pipa_test(r->g->comm, &r->sends[i], &done);
        if (s != PIPA_OK) return fail(r, s);
        if (!done) return PIPA_OK;  // one test pushed every queued send on: the rest wait too
    }
    return PIPA_OK;
}

/* Into acc, in group order: the others' arrays and (with mine) my own at its place; tmp holds
 * each array after the first while it is added. */
static pipa_status sum_in_order(const pipa_allreduce_req_t *r, int mine, char *acc, char *tmp)
{
    const pipa_group_t *g = r->g;
    int first = 1;
    for (int i = 0; i < g->size; i++) {
        if (i == g->me && !mine) continue;
        if (i == g->me && first) memcpy(acc, r->buf, r->n * pipa_dtype_size(r->t));
        else if (i != g->me) PIPA_TRY(recv_from(r, i, first ? acc : tmp));
        if (!first) pipa__allreduce_add(r->t, acc, i == g->me ? r->buf : tmp, r->n);
        first = 0;
    }
    return PIPA_OK;
}

/* My sends, all complete (the receivers took them in their waits). */
static pipa_status wait_sends(pipa_allreduce_req_t *r)
{
    for (int i = 0; i < r->g->size; i++)
        if (i != r->g->me) PIPA_TRY(pipa_wait(r->g->comm, &r->sends[i]));
    return PIPA_OK;
}

pipa_status pipa_allreduce_wait(pipa_allreduce_req_t *r)
{
    PIPA_ASSERT(r->sends != NULL);  // started, and not waited for yet
    int n = r->g->size, me = r->g->me;
    /* The last member adds its own array last: buf += (others' sum), which is the group order's
     * last addition (with two members either one is "last": a0 + a1 == a1 + a0). The others
     * build the whole sum aside and copy it. */
    int last = me == n - 1 || n == 2;
    size_t bytes = r->n * pipa_dtype_size(r->t);
    char *acc = n > 1 ? malloc(bytes * (n > 2 ? 2 : 1) + 1) : NULL;
    if (n > 1 && !acc) return fail(r, pipa__fail(PIPA_ERR_NOMEM, "out of memory in all-reduce"));
    pipa_status s = n > 1 ? sum_in_order(r, !last, acc, acc + bytes) : PIPA_OK;
    if (s == PIPA_OK) s = wait_sends(r);
    if (s == PIPA_OK && n > 1 && last) pipa__allreduce_add(r->t, r->buf, acc, r->n);
    if (s == PIPA_OK && n > 1 && !last) memcpy(r->buf, acc, bytes);
    free(acc);
    if (s != PIPA_OK) return fail(r, s);
    free(r->sends);
    r->sends = NULL;
    return PIPA_OK;
}

void pipa_allreduce_drop(pipa_allreduce_req_t *r)
{
    (void)drop_sends(r, PIPA_OK);
}
