/* shm_queue.c: the sends of the shared-memory transport that wait for ring space, per
 * destination, oldest first (shm.c pushes them on): taking one out when its wait failed, and
 * taking one over (detach) so that its caller can reuse the buffer at once. A sender never waits
 * on its queue: that is what lets the plan checker model sends as never blocking. */
#include <stdlib.h>
#include <string.h>

#include "comm/shm_internal.h"

/* Unlinks the pending send `req` of pe (prev: the one before it, NULL if first) or puts `with` in
 * its place when with is not NULL. */
static void pending_replace(pipa__peer_t *pe, pipa_req_t *prev, pipa_req_t *req, pipa_req_t *with)
{
    pipa_req_t **link = prev ? (pipa_req_t **)&prev->internal : &pe->pending;
    if (with) {
        with->internal = req->internal;
        *link = with;
    } else {
        *link = req->internal;
    }
    if (pe->pending_last == req) pe->pending_last = with ? with : prev;
    req->internal = NULL;
}

/* The pending send before req (NULL if req is first); *found = 0 if req is not pending. */
static pipa_req_t *pending_prev(pipa__peer_t *pe, pipa_req_t *req, int *found)
{
    pipa_req_t *prev = NULL, *q = pe->pending;
    while (q && q != req) {
        prev = q;
        q = q->internal;
    }
    *found = q != NULL;
    return prev;
}

pipa_req_t *pipa__shm_pending_any(const pipa__shm_t *t)
{
    for (int d = 0; d < t->world; d++)
        if (t->peers[d].pending) return t->peers[d].pending;
    return NULL;
}

/* Takes a send that will not complete (its wait failed) out of the pending queue, so nothing
 * touches the caller's request or buffer afterwards. */
void pipa__shm_cancel(pipa__shm_t *t, pipa_req_t *req)
{
    pipa__peer_t *pe = &t->peers[req->peer];
    int found;
    pipa_req_t *prev = pending_prev(pe, req, &found);
    if (found) pending_replace(pe, prev, req, NULL);
}

/* The copy takes req's place in the queue (fragments of one destination must not interleave).
 * It holds the whole message's size, though only the bytes not yet sent are copied: the offsets
 * of the fragments still to go stay those of the message. */
pipa_status pipa__shm_detach(pipa__shm_t *t, pipa_req_t *req)
{
    pipa__peer_t *pe = &t->peers[req->peer];
    int found;
    pipa_req_t *prev = pending_prev(pe, req, &found);
    PIPA_ASSERT(req->kind == PIPA_REQ_SEND);
    if (!found) return PIPA_OK; /* cancelled (its wait failed): nothing will read the buffer */
    pipa_req_t *own = malloc(sizeof *own + (req->bytes ? req->bytes : 1));
    if (!own) return pipa__fail(PIPA_ERR_NOMEM, "rank %d: out of memory for a send of %zu bytes "
                                "to rank %d", t->rank, req->bytes, req->peer);
    *own = *req;
    own->kind = PIPA_REQ_SEND_DETACHED;
    own->buf = own + 1;
    memcpy((char *)own->buf + req->done_bytes, (const char *)req->buf + req->done_bytes,
           req->bytes - req->done_bytes);
    pending_replace(pe, prev, req, own);
    return PIPA_OK;
}

void pipa__shm_queue_clear(pipa__peer_t *pe)
{
    while (pe->pending) { /* what never left: only owned copies are ours to free */
        pipa_req_t *q = pe->pending;
        pe->pending = q->internal;
        if (q->kind == PIPA_REQ_SEND_DETACHED) free(q);
    }
    pe->pending_last = NULL;
}
