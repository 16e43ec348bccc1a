/* transport_mpi_recv.c: the MPI transport's receives (the wire: transport_mpi.h).
 *
 * Headers land in the always-posted slots, in arrival order. A posted receive (post_recv) waits
 * in the posted list. Every progress call, whatever it waits for, takes in the headers that have
 * arrived (drain): one that the oldest posted receive for its source and tag expects exactly has
 * its payload received straight into that receive's buffer (an inline one copied from the slot);
 * any other goes to the unexpected list, its payload into a copy of ours (a receive posted later
 * takes it from there). So a send never waits for its receiver's code to reach that receive, only
 * for the receiver to poll at all, which every wait does: sends never block, as the plan checker
 * assumes. A header that is not identical to what its receive expects is reported
 * (PIPA_MATCH_HEADER) for the communicator to judge and name; its payload never reaches the
 * receive's buffer. The payloads from one source are received in the order of their headers (MPI
 * lets no message overtake another of the same source, tag and communicator), so each payload's
 * receive is posted the moment its header is taken in.
 *
 * Left out: a receive whose wait failed is not taken back (the communicator cancels sends only;
 * its record stays posted and a late message may still land in its buffer: the run is ending). */
#include <stdlib.h>
#include <string.h>

#include "comm/transport_mpi.h"

/* ---- records ------------------------------------------------------------------------------ */

/* A record with room for `nreq` payload pieces, none under way; one-piece records come from the
 * free list (no malloc per small receive). */
static in_t *in_alloc(mpi_t *t, int nreq)
{
    int cap = nreq < 1 ? 1 : nreq;
    in_t *in = cap == 1 ? t->free_ins : NULL;
    if (in) {
        t->free_ins = in->next;
        t->n_free_ins--;
    } else {
        in = malloc(sizeof *in + (size_t)cap * sizeof(MPI_Request));
        if (!in) return NULL;
    }
    memset(in, 0, sizeof *in);
    in->cap = cap;
    in->nreq = nreq;
    in->r = (MPI_Request *)(in + 1);
    for (int i = 0; i < cap; i++) in->r[i] = MPI_REQUEST_NULL;
    return in;
}

/* Cancels what is still arriving, frees our copy, keeps a one-piece record for reuse. */
static void in_free(mpi_t *t, in_t *in)
{
    for (int i = 0; i < in->nreq; i++) {
        if (in->r[i] == MPI_REQUEST_NULL) continue;
        MPI_Cancel(&in->r[i]);
        MPI_Wait(&in->r[i], MPI_STATUS_IGNORE);
    }
    if (!in->direct) free(in->data);
    if (in->cap != 1 || t->n_free_ins >= FREE_MAX) {
        free(in);
        return;
    }
    in->next = t->free_ins;
    t->free_ins = in;
    t->n_free_ins++;
}

static pipa_desc_t hdr_desc(const wire_hdr_t *h)
{
    pipa_desc_t d = {.dtype = (pipa_dtype)h->dtype, .ndim = h->ndim};
    for (int i = 0; i < h->ndim && i < PIPA_MAX_DIMS; i++) d.shape[i] = h->shape[i];
    return d;
}

/* Posts the receives of the payload's pieces into in->data. */
static pipa_status in_post(mpi_t *t, in_t *in)
{
    for (int i = 0; i < in->nreq; i++) {
        size_t off = (size_t)i * CHUNK, len = in->h.bytes - off < CHUNK ? in->h.bytes - off : CHUNK;
        MPI_TRY(t, MPI_Irecv(in->data + off, (int)len, MPI_BYTE, in->src, DATA_TAG, t->comm,
                             &in->r[i]));
    }
    return PIPA_OK;
}

/* The link to the oldest record of `list` from src with tag (and no receive yet, for the
 * unexpected list), or NULL. */
static in_t **find(in_t **list, int src, uint64_t tag)
{
    for (; *list; list = &(*list)->next)
        if (!(*list)->claimed && (*list)->src == src && (*list)->h.tag == tag) return list;
    return NULL;
}

/* ---- headers in --------------------------------------------------------------------------- */

/* The header receives: SLOTS persistent receives from any source, started in slot order. */
pipa_status pipa__mpi_slots_start(mpi_t *t)
{
    t->slots = malloc((size_t)SLOTS * SLOT_BYTES);
    if (!t->slots) return pipa__fail(PIPA_ERR_NOMEM, "out of memory");
    for (int i = 0; i < SLOTS; i++) t->slot_req[i] = MPI_REQUEST_NULL;
    t->slots_on = 1;
    for (int i = 0; i < SLOTS; i++)
        MPI_TRY(t, MPI_Recv_init(t->slots + (size_t)i * SLOT_BYTES, (int)SLOT_BYTES, MPI_BYTE,
                                 MPI_ANY_SOURCE, HDR_TAG, t->comm, &t->slot_req[i]));
    MPI_TRY(t, MPI_Startall(SLOTS, t->slot_req));
    return PIPA_OK;
}

/* A message no posted receive expects exactly: to the end of the unexpected list, its payload
 * into a copy (an inline one copied here from the header's message). */
static pipa_status stash(mpi_t *t, int src, const wire_hdr_t *h, const char *inl)
{
    in_t *in = in_alloc(t, inl ? 0 : pipa__mpi_pieces(h->bytes)), **end = &t->ins;
    if (!in) return pipa__fail(PIPA_ERR_NOMEM, "out of memory");
    in->src = src;
    in->h = *h;
    while (*end) end = &(*end)->next;
    *end = in;
    in->data = malloc(h->bytes ? h->bytes : 1);
    if (!in->data) return pipa__fail(PIPA_ERR_NOMEM, "out of memory (%llu bytes from rank %d)",
                                     (unsigned long long)h->bytes, src);
    if (inl && h->bytes) memcpy(in->data, inl, h->bytes);
    return in_post(t, in);
}

/* The header in msg (n bytes) from src, checked for its own consistency. */
static pipa_status hdr_read(mpi_t *t, int src, const char *msg, int n, wire_hdr_t *h)
{
    memset(h, 0, sizeof *h);
    if (n >= (int)HDR_FIXED) memcpy(h, msg, HDR_FIXED);
    if (n < (int)HDR_FIXED || h->ndim < 0 || h->ndim > PIPA_MAX_DIMS ||
        h->bytes > (uint64_t)INT64_MAX)
        return pipa__fail(PIPA_ERR_FORMAT, "rank %d: a malformed %d-byte header from rank %d",
                          t->rank, n, src);
    size_t hs = pipa__mpi_hdr_size(h->ndim);
    if ((size_t)n != hs + (h->bytes <= INLINE_MAX ? h->bytes : 0))
        return pipa__fail(PIPA_ERR_FORMAT, "rank %d: a malformed header from rank %d (tag %llu, "
                          "%d bytes)", t->rank, src, (unsigned long long)h->tag, n);
    memcpy(h->shape, msg + HDR_FIXED, hs - HDR_FIXED);
    return PIPA_OK;
}

/* A header (and inline payload) just taken in from src: straight into the buffer of the oldest
 * posted receive for it if that one expects exactly this message, else into the unexpected list
 * (where that receive finds it and reports it: a mismatch). */
static pipa_status take_in(mpi_t *t, int src, const char *msg, int n, uint64_t *tag)
{
    wire_hdr_t h;
    PIPA_TRY(hdr_read(t, src, msg, n, &h));
    *tag = h.tag;
    int inl = h.bytes <= INLINE_MAX;
    const char *payload = inl ? msg + pipa__mpi_hdr_size(h.ndim) : NULL;
    in_t **link = find(&t->posted, src, h.tag);
    pipa_desc_t got = hdr_desc(&h);
    if (!link || !pipa_desc_equal(&got, &(*link)->want)) return stash(t, src, &h, payload);
    in_t *p = *link;
    *link = p->next;
    p->next = NULL;
    p->arrived = 1;
    if (!inl) return in_post(t, p);
    if (h.bytes) memcpy(p->data, payload, h.bytes);
    p->nreq = 0; /* all here */
    return PIPA_OK;
}

pipa_status pipa__mpi_drain(mpi_t *t, const pipa_req_t *until)
{
    for (;;) {
        int flag = 0, n = 0, i = t->slot_head;
        MPI_Status st;
        MPI_TRY(t, MPI_Test(&t->slot_req[i], &flag, &st));
        if (!flag) return PIPA_OK;
        MPI_Get_count(&st, MPI_BYTE, &n);
        uint64_t tag = 0;
        pipa_status s = take_in(t, st.MPI_SOURCE, t->slots + (size_t)i * SLOT_BYTES, n, &tag);
        /* the slot is posted again behind the others, so headers keep landing in slot order */
        MPI_TRY(t, MPI_Start(&t->slot_req[i]));
        t->slot_head = (i + 1) % SLOTS;
        PIPA_TRY(s);
        if (until && st.MPI_SOURCE == until->peer && tag == until->tag) return PIPA_OK;
    }
}

/* ---- receives ----------------------------------------------------------------------------- */

/* Posts a receive (see the top): a message for it already in the unexpected list comes first,
 * and progress takes it from there; else a record waits in the posted list for its header. */
pipa_status pipa__mpi_post_recv(void *state, pipa_req_t *req)
{
    mpi_t *t = state;
    req->internal = NULL;
    if (find(&t->ins, req->peer, req->tag)) return PIPA_OK;
    in_t *p = in_alloc(t, pipa__mpi_pieces(req->bytes)), **end = &t->posted;
    if (!p) return pipa__fail(PIPA_ERR_NOMEM, "out of memory");
    p->src = req->peer;
    p->h.tag = req->tag;
    p->h.bytes = req->bytes;
    p->want = req->desc;
    p->data = req->buf;
    p->direct = 1;
    while (*end) end = &(*end)->next;
    *end = p;
    req->internal = p;
    return PIPA_OK;
}

/* A receive that has matched nothing: its posted record got its message (accepted), or the
 * oldest unexpected message with its source and tag no receive took: identical to what it
 * expects, accepted; else reported (the communicator names the mismatch; the message stays for
 * a receive that expects it, and the posted record is dropped). */
void pipa__mpi_recv_match(mpi_t *t, pipa_req_t *req)
{
    in_t *p = req->internal, **link;
    if (p && p->arrived) {
        req->got = req->desc;
        req->match = PIPA_MATCH_ACCEPTED;
        return;
    }
    in_t **u = find(&t->ins, req->peer, req->tag);
    if (!u) return;
    if (p) {
        for (link = &t->posted; *link != p; link = &(*link)->next) {}
        *link = p->next;
        in_free(t, p);
    }
    req->got = hdr_desc(&(*u)->h);
    req->internal = *u;
    req->match = pipa_desc_equal(&req->got, &req->desc) ? PIPA_MATCH_ACCEPTED
                                                         : PIPA_MATCH_HEADER;
    if (req->match == PIPA_MATCH_ACCEPTED) (*u)->claimed = req;
}

/* An accepted receive: complete once its payload is all here (copied out of ours, if it waited
 * in the unexpected list). */
pipa_status pipa__mpi_payload_poll(mpi_t *t, pipa_req_t *req)
{
    in_t *in = req->internal;
    if (!in) return PIPA_OK; /* inline: complete already */
    int done = 1;
    if (in->nreq) MPI_TRY(t, MPI_Testall(in->nreq, in->r, &done, MPI_STATUSES_IGNORE));
    if (!done) return PIPA_OK;
    PIPA_ASSERT(in->h.bytes == req->bytes);
    if (!in->direct) {
        if (req->bytes) memcpy(req->buf, in->data, req->bytes);
        in_t **link = &t->ins;
        while (*link != in) link = &(*link)->next;
        *link = in->next;
    }
    in->nreq = 0; /* every piece is in */
    in_free(t, in);
    req->internal = NULL;
    req->done_bytes = req->bytes;
    req->complete = 1;
    return PIPA_OK;
}

/* Receives still posted and messages never taken are dropped; the slots' receives cancelled. */
void pipa__mpi_recvs_free(mpi_t *t)
{
    for (in_t **list = &t->ins; list; list = list == &t->ins ? &t->posted : NULL)
        while (*list) {
            in_t *in = *list;
            *list = in->next;
            in->cap = 0; /* freed, not kept */
            in_free(t, in);
        }
    while (t->free_ins) {
        in_t *in = t->free_ins;
        t->free_ins = in->next;
        free(in);
    }
    for (int i = 0; t->slots_on && i < SLOTS; i++) {
        if (t->slot_req[i] == MPI_REQUEST_NULL) continue;
        MPI_Cancel(&t->slot_req[i]);
        MPI_Wait(&t->slot_req[i], MPI_STATUS_IGNORE);
        MPI_Request_free(&t->slot_req[i]);
    }
    free(t->slots);
}
