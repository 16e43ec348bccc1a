/* transport_mpi_send.c: the MPI transport's sends (the wire: transport_mpi.h). A send never
 * blocks: its header message (with the payload inline when small) and its payload pieces are
 * MPI_Isend's; an inline send is complete at once (its bytes are copied into the record), a
 * larger one once MPI has every piece (sends_test, from every progress call).
 * Left out: taking a posted send back (Open MPI does not cancel sends; see cancel). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "comm/transport_mpi.h"

/* The header message into msg: the fixed part and ndim dimensions; returns its bytes. */
static size_t hdr_pack(char *msg, const pipa_req_t *req)
{
    wire_hdr_t h;
    h.tag = req->tag;
    h.bytes = req->bytes;
    h.dtype = (int32_t)req->desc.dtype;
    h.ndim = req->desc.ndim;
    for (int i = 0; i < req->desc.ndim; i++) h.shape[i] = req->desc.shape[i];
    size_t n = pipa__mpi_hdr_size(h.ndim);
    memcpy(msg, &h, n);
    return n;
}

/* One block: the record, its requests, the header and an inline payload. Inline records all
 * have room for the largest inline message, so they are kept for reuse (free_outs): a small
 * send then costs no malloc. */
static out_t *out_new(mpi_t *t, const pipa_req_t *req, int inl)
{
    out_t *o = inl ? t->free_outs : NULL;
    if (o) {
        t->free_outs = o->next;
        t->n_free_outs--;
    } else {
        int nreq = 1 + (inl ? 0 : pipa__mpi_pieces(req->bytes));
        size_t msg = inl ? SLOT_BYTES : sizeof(wire_hdr_t);
        o = malloc(sizeof *o + (size_t)nreq * sizeof(MPI_Request) + msg);
        if (!o) return NULL;
        o->cap = nreq;
        o->r = (MPI_Request *)(o + 1);
        o->msg = (char *)(o->r + nreq);
    }
    o->next = NULL;
    o->nreq = o->cap;
    for (int i = 0; i < o->nreq; i++) o->r[i] = MPI_REQUEST_NULL;
    return o;
}

/* Back to the free list (an inline record, while the list is short) or freed. */
static void out_free(mpi_t *t, out_t *o)
{
    if (o->cap != 1 || t->n_free_outs >= FREE_MAX) {
        free(o);
        return;
    }
    o->next = t->free_outs;
    t->free_outs = o;
    t->n_free_outs++;
}

static int out_start(mpi_t *t, out_t *o, const pipa_req_t *req, int inl)
{
    size_t n = hdr_pack(o->msg, req);
    if (inl && req->bytes) memcpy(o->msg + n, req->buf, req->bytes);
    n += inl ? req->bytes : 0;
    int rc = MPI_Isend(o->msg, (int)n, MPI_BYTE, req->peer, HDR_TAG, t->comm, &o->r[0]);
    for (int i = 1; rc == MPI_SUCCESS && i < o->nreq; i++) {
        size_t off = (size_t)(i - 1) * CHUNK, len = req->bytes - off < CHUNK ? req->bytes - off : CHUNK;
        rc = MPI_Isend((const char *)req->buf + off, (int)len, MPI_BYTE, req->peer, DATA_TAG,
                       t->comm, &o->r[i]);
    }
    return rc;
}

static void send_refused(mpi_t *t, pipa_status s)
{
    if (t->send_err) return;
    t->send_err = s;
    snprintf(t->send_why, sizeof t->send_why, "%s", pipa_last_error());
}

/* Never blocks: MPI_Isend. A send MPI refuses is reported by the next progress. */
void pipa__mpi_post_send(void *state, pipa_req_t *req)
{
    mpi_t *t = state;
    int inl = req->bytes <= INLINE_MAX;
    out_t *o = out_new(t, req, inl);
    if (!o) {
        send_refused(t, pipa__fail(PIPA_ERR_NOMEM, "rank %d: out of memory sending to rank %d",
                                   t->rank, req->peer));
        return;
    }
    o->own = *req;
    o->req = inl ? &o->own : req;
    req->internal = inl ? NULL : o;
    if (inl) {
        req->done_bytes = req->bytes;
        req->complete = 1;
    }
    int rc = out_start(t, o, req, inl), done = 0;
    if (rc != MPI_SUCCESS) send_refused(t, pipa__mpi_fail(rc, "MPI_Isend", t->rank));
    /* A small message has usually left at once (MPI's eager path): then nothing is kept, and
     * later polls have no record to test. */
    if (inl && rc == MPI_SUCCESS && MPI_Test(&o->r[0], &done, MPI_STATUS_IGNORE) == MPI_SUCCESS &&
        done) {
        out_free(t, o);
        return;
    }
    out_t **end = &t->outs;
    while (*end) end = &(*end)->next;
    *end = o;
}

/* Completes the sends MPI is done with; frees their records. */
pipa_status pipa__mpi_sends_test(mpi_t *t)
{
    for (out_t **link = &t->outs; *link;) {
        out_t *o = *link;
        int done = 0;
        MPI_TRY(t, MPI_Testall(o->nreq, o->r, &done, MPI_STATUSES_IGNORE));
        if (!done) {
            link = &o->next;
            continue;
        }
        if (o->req != &o->own) {
            o->req->done_bytes = o->req->bytes;
            o->req->complete = 1;
            o->req->internal = NULL;
        }
        *link = o->next;
        out_free(t, o);
    }
    return PIPA_OK;
}

pipa_req_t *pipa__mpi_oldest_send(void *state)
{
    mpi_t *t = state;
    out_t *best = NULL;
    for (out_t *o = t->outs; o; o = o->next)
        if (!best || o->req->peer < best->req->peer) best = o;
    return best ? best->req : NULL;
}

/* MPI cannot take a posted send back (Open MPI does not cancel sends): the record keeps a copy of
 * the request, so nothing touches req again; the message may still leave from its buffer, but
 * the run is ending (a wait failed). */
void pipa__mpi_cancel(void *state, pipa_req_t *req)
{
    (void)state;
    out_t *o = req->internal;
    if (!o) return;
    o->own = *req;
    o->req = &o->own;
    req->internal = NULL;
}

/* MPI cannot move a posted send to another buffer, so the caller gets its buffer back once MPI
 * is done with it. That is no wait on a peer's code: every progress call of the receiver, in any
 * wait, takes the message in (drain). It ends at the deadline (PIPA_TIMEOUT) all the same. */
pipa_status pipa__mpi_detach(void *state, pipa_req_t *req)
{
    mpi_t *t = state;
    double start = pipa_now();
    while (req->internal) {
        PIPA_TRY(pipa__mpi_progress_all(t, NULL));
        if (!req->internal) break;
        if (pipa_now() - start > t->timeout)
            return pipa__fail(PIPA_ERR_TIMEOUT, "rank %d: deadline of %.1f s passed while MPI "
                              "sent to rank %d (tag %llu) from a buffer wanted back", t->rank,
                              t->timeout, req->peer, (unsigned long long)req->tag);
        struct timespec nap = {0, 20000};
        nanosleep(&nap, NULL);
    }
    return PIPA_OK;
}

/* Sends still under way are left to MPI (their memory too: MPI may still read it; pipa_flush
 * first, as every program does, and there are none); the records kept for reuse are freed. */
void pipa__mpi_sends_free(mpi_t *t)
{
    for (out_t *o = t->outs; o; o = o->next)
        for (int i = 0; i < o->nreq; i++)
            if (o->r[i] != MPI_REQUEST_NULL) MPI_Request_free(&o->r[i]);
    while (t->free_outs) {
        out_t *o = t->free_outs;
        t->free_outs = o->next;
        free(o);
    }
}
