/* transport_mpi.c: the MPI transport: point-to-point messages between the ranks an MPI launcher
 * (mpirun, srun) started, on one machine or many. Open MPI or MPICH do the networking.
 *
 * Every pipa message is one MPI message on HDR_TAG carrying its header (the full 64-bit tag,
 * dtype, shape, byte count), with the payload inline when it is small (INLINE_MAX: one message,
 * one copy on each side), else followed by messages on DATA_TAG with the payload, sent straight
 * from the caller's buffer (in pieces of at most CHUNK bytes: MPI counts are int). Matching is
 * ours, by (source, full tag), as in shm: MPI's int tags never have to hold pipa's 64-bit ones.
 * The payloads from one source are received in the order of their headers (MPI lets no message
 * overtake another of the same source, tag and communicator), so each payload's receive is posted
 * the moment its header is taken in.
 *
 * A posted receive (post_recv) waits in the posted list. Every progress call, whatever it waits
 * for, takes in every header that has arrived (MPI_Improbe from any source): one that the oldest
 * posted receive for its source and tag expects exactly has its payload received straight into
 * that receive's buffer; any other goes to the unexpected list, its payload into a copy of ours
 * (a receive posted later takes it from there). So a send never waits for its receiver's code
 * to reach that receive, only for the receiver to poll at all, which every wait does: sends
 * never block, as the plan checker assumes. A header that is not identical to what its receive
 * expects is reported (PIPA_MATCH_HEADER) for the communicator to judge and name; its payload
 * never reaches the receive's buffer.
 *
 * Failures: MPI calls on pipa's communicator return errors (MPI_ERRORS_RETURN), which become
 * statuses naming the call. A rank that dies ends the whole job: the launcher (mpirun) kills the
 * others when one exits without MPI_Finalize, so peer_gone has nothing to say. A rank that fails
 * must not hang in MPI_Finalize waiting for peers that wait for it: the process's exit handler
 * (on_exit, which sees the exit status) calls MPI_Finalize after a zero exit and MPI_Abort after
 * any other, which ends every rank at once with the launcher's message and a non-zero exit.
 *
 * Left out: a receive whose wait failed is not taken back (the communicator cancels sends only;
 * its record stays posted and a late message may still land in its buffer: the run is ending);
 * MPI's own collectives (pipa's fixed-order ones run over this, so every rank and run gets the
 * same bits on both transports); thread safety (one thread per rank). */
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/env.h"
#include "comm/transport.h"

#define HDR_TAG 1
#define DATA_TAG 2
#define INLINE_MAX 4096             /* payloads up to this travel inside their header's message */
#define CHUNK ((size_t)1 << 30)     /* the largest piece of a payload in one MPI message */

/* What travels first, for every message. */
typedef struct {
    uint64_t tag;
    uint64_t bytes;
    int32_t dtype, ndim;
    int64_t shape[PIPA_MAX_DIMS];
} wire_hdr_t;

/* A send under way: its header (and inline payload) lives here until MPI is done with it. */
typedef struct out {
    struct out *next;
    pipa_req_t *req;      /* the caller's; &own once the caller has it back (inline, cancelled) */
    pipa_req_t own;       /* what oldest_send reports for a send the caller no longer holds */
    int nreq;
    MPI_Request *r;       /* (nreq) header, then the payload's pieces */
    char *msg;            /* header + inline payload */
} out_t;

/* A posted receive (direct: its payload goes into the receive's buffer), in the posted list
 * until its message comes; or a message that came first, in the unexpected list until a
 * receive takes it, its payload in a copy of ours. */
typedef struct in {
    struct in *next;
    int src;
    wire_hdr_t h;
    char *data;           /* the payload: our copy, or the receive's buffer (direct) */
    int direct;
    pipa_req_t *claimed;  /* unexpected: the receive that accepted it */
    pipa_desc_t want;     /* posted: what the receive expects */
    int arrived;          /* posted: its message came (payload in place or arriving) */
    int nreq;
    MPI_Request *r;       /* (nreq) the payload's pieces still arriving */
} in_t;

typedef struct {
    MPI_Comm comm;        /* pipa's own duplicate of MPI_COMM_WORLD */
    int rank, world;
    double timeout;       /* how long detach may wait for MPI to take a send */
    out_t *outs;          /* sends under way, in posting order */
    in_t *posted;         /* receives waiting for their message, in posting order */
    in_t *ins;            /* the unexpected list, in arrival order */
    char scratch[sizeof(wire_hdr_t) + INLINE_MAX]; /* one header message */
    pipa_status send_err; /* a send MPI refused (post_send cannot fail): reported by progress */
    char send_why[256];
} mpi_t;

/* ---- MPI errors --------------------------------------------------------------------------- */

static pipa_status mpi_fail(int rc, const char *call, int rank)
{
    char msg[MPI_MAX_ERROR_STRING];
    int len = 0;
    if (MPI_Error_string(rc, msg, &len) != MPI_SUCCESS) snprintf(msg, sizeof msg, "error %d", rc);
    return pipa__fail(PIPA_ERR_IO, "rank %d: %s failed: %s", rank, call, msg);
}

#define MPI_TRY(t, call)                                                                       \
    do {                                                                                       \
        int rc_ = (call);                                                                      \
        if (rc_ != MPI_SUCCESS) return mpi_fail(rc_, #call, (t)->rank);                       \
    } while (0)

static int pieces(size_t bytes) { return (int)((bytes + CHUNK - 1) / CHUNK); }

/* ---- joining and leaving ------------------------------------------------------------------ */

/* After the program's exit: MPI_Finalize after a zero status; after any other MPI_Abort, which
 * ends every rank (a failed rank in MPI_Finalize would wait for peers that wait for it). */
static void at_exit(int status, void *arg)
{
    int done = 0;
    (void)arg;
    MPI_Finalized(&done);
    if (done) return;
    if (status != 0) {
        fprintf(stderr, "pipa: rank exits with status %d: ending the MPI job\n", status);
        MPI_Abort(MPI_COMM_WORLD, status);
    }
    MPI_Finalize();
}

/* MPI is started once per process (MPI_Init may not run twice), by the first join. */
static pipa_status mpi_start(void)
{
    int ready = 0, provided;
    MPI_Initialized(&ready);
    if (ready) return PIPA_OK;
    int rc = MPI_Init_thread(NULL, NULL, MPI_THREAD_FUNNELED, &provided);
    if (rc != MPI_SUCCESS) return mpi_fail(rc, "MPI_Init_thread", -1);
    if (on_exit(at_exit, NULL) != 0)
        return pipa__fail(PIPA_ERR_STATE, "cannot register the MPI exit handler (on_exit)");
    return PIPA_OK;
}

static pipa_status mpi_join(int rank, int world, void **state)
{
    mpi_t *t = calloc(1, sizeof *t);
    if (!t) return pipa__fail(PIPA_ERR_NOMEM, "out of memory");
    *state = t;
    t->comm = MPI_COMM_NULL;
    PIPA_TRY(pipa_env_timeout(&t->timeout));
    PIPA_TRY(mpi_start());
    int r, w;
    MPI_Comm_rank(MPI_COMM_WORLD, &r);
    MPI_Comm_size(MPI_COMM_WORLD, &w);
    t->rank = r;
    t->world = w;
    /* rank -1: no launcher said; then MPI must see a world of one too (a singleton). */
    if (rank < 0 ? w != 1 : (r != rank || w != world))
        return pipa__fail(PIPA_ERR_ARG, "MPI says rank %d of %d, but the environment says rank %d "
                          "of %d", r, w, rank < 0 ? 0 : rank, world);
    MPI_TRY(t, MPI_Comm_dup(MPI_COMM_WORLD, &t->comm));
    MPI_TRY(t, MPI_Comm_set_errhandler(t->comm, MPI_ERRORS_RETURN));
    return PIPA_OK;
}

static void in_free(in_t *in)
{
    for (int i = 0; i < in->nreq; i++) {
        if (in->r[i] == MPI_REQUEST_NULL) continue;
        MPI_Cancel(&in->r[i]);
        MPI_Wait(&in->r[i], MPI_STATUS_IGNORE);
    }
    if (!in->direct) free(in->data);
    free(in);
}

/* Sends still under way are left to MPI (their memory too: MPI may still read it; pipa_flush
 * first, as every program does, and there are none). */
static void mpi_leave(void *state)
{
    mpi_t *t = state;
    if (!t) return;
    for (in_t **list = &t->ins; list; list = list == &t->ins ? &t->posted : NULL)
        while (*list) {
            in_t *in = *list;
            *list = in->next;
            in_free(in);
        }
    for (out_t *o = t->outs; o; o = o->next)
        for (int i = 0; i < o->nreq; i++)
            if (o->r[i] != MPI_REQUEST_NULL) MPI_Request_free(&o->r[i]);
    if (t->comm != MPI_COMM_NULL) MPI_Comm_free(&t->comm);
    free(t);
}

/* ---- sending ------------------------------------------------------------------------------ */

static void hdr_fill(wire_hdr_t *h, const pipa_req_t *req)
{
    memset(h, 0, sizeof *h);
    h->tag = req->tag;
    h->bytes = req->bytes;
    h->dtype = (int32_t)req->desc.dtype;
    h->ndim = req->desc.ndim;
    for (int i = 0; i < req->desc.ndim; i++) h->shape[i] = req->desc.shape[i];
}

/* One block: the record, its requests, the header and an inline payload. */
static out_t *out_new(const pipa_req_t *req, int inl)
{
    int nreq = 1 + (inl ? 0 : pieces(req->bytes));
    size_t msg = sizeof(wire_hdr_t) + (inl ? req->bytes : 0);
    out_t *o = calloc(1, sizeof *o + (size_t)nreq * sizeof(MPI_Request) + msg);
    if (!o) return NULL;
    o->nreq = nreq;
    o->r = (MPI_Request *)(o + 1);
    o->msg = (char *)(o->r + nreq);
    for (int i = 0; i < nreq; i++) o->r[i] = MPI_REQUEST_NULL;
    wire_hdr_t h;
    hdr_fill(&h, req);
    memcpy(o->msg, &h, sizeof h);
    if (inl && req->bytes) memcpy(o->msg + sizeof h, req->buf, req->bytes);
    return o;
}

static int out_start(mpi_t *t, out_t *o, const pipa_req_t *req, int inl)
{
    int n = (int)sizeof(wire_hdr_t) + (inl ? (int)req->bytes : 0);
    int rc = MPI_Isend(o->msg, n, MPI_BYTE, req->peer, HDR_TAG, t->comm, &o->r[0]);
    for (int i = 1; rc == MPI_SUCCESS && i < o->nreq; i++) {
        size_t off = (size_t)(i - 1) * CHUNK, len = req->bytes - off < CHUNK ? req->bytes - off : CHUNK;
        rc = MPI_Isend((const char *)req->buf + off, (int)len, MPI_BYTE, req->peer, DATA_TAG,
                       t->comm, &o->r[i]);
    }
    return rc;
}

/* Never blocks: MPI_Isend. An inline send is complete at once (its bytes are copied); a larger
 * one once MPI has every piece (sends_test). A send MPI refuses is reported by the next progress. */
static void mpi_post_send(void *state, pipa_req_t *req)
{
    mpi_t *t = state;
    int inl = req->bytes <= INLINE_MAX;
    out_t *o = out_new(req, inl);
    if (!o) {
        t->send_err = PIPA_ERR_NOMEM;
        snprintf(t->send_why, sizeof t->send_why, "rank %d: out of memory sending to rank %d",
                 t->rank, req->peer);
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
    if (rc != MPI_SUCCESS && !t->send_err) {
        t->send_err = mpi_fail(rc, "MPI_Isend", t->rank);
        snprintf(t->send_why, sizeof t->send_why, "%s", pipa_last_error());
    }
    /* A small message has usually left at once (MPI's eager path): then nothing is kept, and
     * later polls have no record to test. */
    if (inl && rc == MPI_SUCCESS && MPI_Test(&o->r[0], &done, MPI_STATUS_IGNORE) == MPI_SUCCESS &&
        done) {
        free(o);
        return;
    }
    out_t **end = &t->outs;
    while (*end) end = &(*end)->next;
    *end = o;
}

/* Completes the sends MPI is done with; frees their records. */
static pipa_status sends_test(mpi_t *t)
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
        free(o);
    }
    return PIPA_OK;
}

static pipa_req_t *mpi_oldest_send(void *state)
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
static void mpi_cancel(void *state, pipa_req_t *req)
{
    (void)state;
    out_t *o = req->internal;
    if (!o) return;
    o->own = *req;
    o->req = &o->own;
    req->internal = NULL;
}

static pipa_status progress_all(mpi_t *t);

/* MPI cannot move a posted send to another buffer, so the caller gets its buffer back once MPI
 * is done with it. That is no wait on a peer's code: every progress call of the receiver, in any
 * wait, takes the message in (drain). It ends at the deadline (PIPA_TIMEOUT) all the same. */
static pipa_status mpi_detach(void *state, pipa_req_t *req)
{
    mpi_t *t = state;
    double start = pipa_now();
    while (req->internal) {
        PIPA_TRY(progress_all(t));
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

/* ---- receiving ---------------------------------------------------------------------------- */

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

/* A record with room for `nreq` payload pieces, none under way. */
static in_t *in_alloc(int nreq)
{
    in_t *in = calloc(1, sizeof *in + (size_t)nreq * sizeof(MPI_Request));
    if (!in) return NULL;
    in->nreq = nreq;
    in->r = (MPI_Request *)(in + 1);
    for (int i = 0; i < nreq; i++) in->r[i] = MPI_REQUEST_NULL;
    return in;
}

/* A message no posted receive expects exactly: to the end of the unexpected list, its payload
 * into a copy (an inline one copied here from the header's message). */
static pipa_status stash(mpi_t *t, int src, const wire_hdr_t *h, const char *inl)
{
    in_t *in = in_alloc(inl ? 0 : pieces(h->bytes)), **end = &t->ins;
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

/* The link to the oldest record of `list` from src with tag (and no receive yet, for the
 * unexpected list), or NULL. */
static in_t **find(in_t **list, int src, uint64_t tag)
{
    for (; *list; list = &(*list)->next)
        if (!(*list)->claimed && (*list)->src == src && (*list)->h.tag == tag) return list;
    return NULL;
}

/* A header (and inline payload) just taken in from src: straight into the buffer of the oldest
 * posted receive for it if that one expects exactly this message, else into the unexpected list
 * (where that receive finds it and reports it: a mismatch). */
static pipa_status take_in(mpi_t *t, int src, int n)
{
    wire_hdr_t h;
    if (n < (int)sizeof h) return pipa__fail(PIPA_ERR_FORMAT, "rank %d: a %d-byte header from "
                                             "rank %d", t->rank, n, src);
    memcpy(&h, t->scratch, sizeof h);
    int inl = h.bytes <= INLINE_MAX;
    if (h.ndim < 0 || h.ndim > PIPA_MAX_DIMS || n != (int)(sizeof h + (inl ? h.bytes : 0)))
        return pipa__fail(PIPA_ERR_FORMAT, "rank %d: a malformed header from rank %d (tag %llu)",
                          t->rank, src, (unsigned long long)h.tag);
    const char *payload = inl ? t->scratch + sizeof h : NULL;
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

/* Takes in every header that has arrived, from any source. */
static pipa_status drain(mpi_t *t)
{
    for (;;) {
        int flag = 0, n = 0;
        MPI_Message m;
        MPI_Status st;
        MPI_TRY(t, MPI_Improbe(MPI_ANY_SOURCE, HDR_TAG, t->comm, &flag, &m, &st));
        if (!flag) return PIPA_OK;
        MPI_Get_count(&st, MPI_BYTE, &n);
        if (n < 0 || n > (int)sizeof t->scratch)
            return pipa__fail(PIPA_ERR_FORMAT, "rank %d: a %d-byte header from rank %d", t->rank,
                              n, st.MPI_SOURCE);
        MPI_TRY(t, MPI_Mrecv(t->scratch, n, MPI_BYTE, &m, MPI_STATUS_IGNORE));
        PIPA_TRY(take_in(t, st.MPI_SOURCE, n));
    }
}

/* Posts a receive (see the top): a message for it already in the unexpected list comes first,
 * and progress takes it from there; else a record waits in the posted list for its header. */
static pipa_status mpi_post_recv(void *state, pipa_req_t *req)
{
    mpi_t *t = state;
    req->internal = NULL;
    if (find(&t->ins, req->peer, req->tag)) return PIPA_OK;
    in_t *p = in_alloc(pieces(req->bytes)), **end = &t->posted;
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
static void recv_match(mpi_t *t, pipa_req_t *req)
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
        free(p);
    }
    req->got = hdr_desc(&(*u)->h);
    req->internal = *u;
    req->match = pipa_desc_equal(&req->got, &req->desc) ? PIPA_MATCH_ACCEPTED
                                                         : PIPA_MATCH_HEADER;
    if (req->match == PIPA_MATCH_ACCEPTED) (*u)->claimed = req;
}

/* An accepted receive: complete once its payload is all here (copied out of ours, if it waited
 * in the unexpected list). */
static pipa_status payload_poll(mpi_t *t, pipa_req_t *req)
{
    in_t *in = req->internal;
    if (!in) return PIPA_OK; /* inline: complete already */
    int done = 0;
    MPI_TRY(t, MPI_Testall(in->nreq, in->r, &done, MPI_STATUSES_IGNORE));
    if (!done) return PIPA_OK;
    PIPA_ASSERT(in->h.bytes == req->bytes);
    if (!in->direct) {
        if (req->bytes) memcpy(req->buf, in->data, req->bytes);
        in_t **link = &t->ins;
        while (*link != in) link = &(*link)->next;
        *link = in->next;
    }
    in_free(in);
    req->internal = NULL;
    req->done_bytes = req->bytes;
    req->complete = 1;
    return PIPA_OK;
}

/* ---- the transport's table ---------------------------------------------------------------- */

static pipa_status progress_all(mpi_t *t)
{
    if (t->send_err) return pipa__fail(t->send_err, "%s", t->send_why);
    PIPA_TRY(sends_test(t));
    return drain(t);
}

static pipa_status mpi_progress(void *state, pipa_req_t *req)
{
    mpi_t *t = state;
    pipa_req_t *r = req && req->kind == PIPA_REQ_RECV && !req->complete ? req : NULL;
    PIPA_TRY(progress_all(t));
    if (r && r->match == PIPA_MATCH_NONE) recv_match(t, r);
    if (r && r->match == PIPA_MATCH_ACCEPTED) PIPA_TRY(payload_poll(t, r));
    return PIPA_OK;
}

/* The communicator accepted the header progress reported (req->internal is its message). */
static pipa_status mpi_accept(void *state, pipa_req_t *req)
{
    in_t *in = req->internal;
    PIPA_ASSERT(in && !in->claimed);
    in->claimed = req;
    return payload_poll(state, req);
}

/* The launcher ends the job when a rank dies (see the top): nothing to report here. */
static const char *mpi_peer_gone(void *state, int peer)
{
    (void)state;
    (void)peer;
    return NULL;
}

/* MPI has no "sleep until something arrives" with a time limit: poll, napping 50 us between
 * polls (a wait lasts this long only after 2 ms of spinning and yielding: the nap costs
 * that wait at most 2.5%), until the caller is no longer blocked or `seconds` pass. */
static void mpi_wait_change(void *state, double seconds, int (*still_blocked)(void *), void *arg)
{
    (void)state;
    double end = pipa_now() + seconds;
    while (still_blocked(arg) && pipa_now() < end) {
        struct timespec nap = {0, 50000};
        nanosleep(&nap, NULL);
    }
}

/* The launcher's side: MPI's ranks are started by mpirun or srun, never by pipa-run. */
static pipa_status mpi_launch(int world, void **run)
{
    (void)world;
    *run = NULL;
    return pipa__fail(PIPA_ERR_ARG, "PIPA_TRANSPORT=mpi: pipa-run starts shm runs only; start an "
                      "MPI run with mpirun -n N PROGRAM (or srun), without pipa-run");
}

static void mpi_launch_rank_env(void *run, int rank)
{
    (void)run;
    (void)rank;
}

static void mpi_launch_rank_ended(void *run, int rank, int failed)
{
    (void)run;
    (void)rank;
    (void)failed;
}

static void mpi_launch_end(void *run) { (void)run; }

const pipa_transport_ops_t pipa__transport_mpi = {
    .name = "mpi",
    .join = mpi_join,
    .leave = mpi_leave,
    .post_send = mpi_post_send,
    .post_recv = mpi_post_recv,
    .progress = mpi_progress,
    .accept = mpi_accept,
    .oldest_send = mpi_oldest_send,
    .peer_gone = mpi_peer_gone,
    .wait_change = mpi_wait_change,
    .cancel = mpi_cancel,
    .detach = mpi_detach,
    .launch = mpi_launch,
    .launch_rank_env = mpi_launch_rank_env,
    .launch_rank_ended = mpi_launch_rank_ended,
    .launch_end = mpi_launch_end,
};
