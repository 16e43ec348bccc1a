/* comm.c: the communicator: joining a run, the send/receive calls, the header check, and the one
 * wait loop with its deadlines and liveness checks. The moving of bytes is a transport's
 * (transport.h; shm.c today), reached only through its table of functions; collectives are
 * coll.c's, on top of the calls here. */
#include "comm/comm.h"

#include <limits.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/env.h"
#include "comm/transport.h"

struct pipa_comm {
    const pipa_transport_ops_t *ops;
    void *t;             /* the transport's state */
    int rank, world;
    double timeout;      /* seconds a wait may take */
    int busy;            /* the transport's busy_wait: waits never yield the core */
    uint64_t bytes_sent; /* payload bytes of every send posted (pipa_comm_bytes_sent) */
};

/* Waiting: spin first (a hand-off between two running ranks takes well under a microsecond),
 * then keep polling but yield the core between polls (other ranks sharing it can run; with a
 * free core this is still a fast poll), and only then sleep until the transport sees a change.
 * Waking a sleeper takes tens of microseconds, so the yielding phase lasts longer than one
 * wake-up: otherwise one sleeper makes its partner sleep too and every hand-off after pays the
 * wake-up. A transport whose ranks have cores of their own (busy_wait: MPI's, unless its
 * launcher oversubscribed the machine) never yields: on a loaded machine a yield hands the core
 * to another program for a whole time slice, milliseconds, where MPI's own waits keep it. */
#define SPIN_SECONDS 20e-6
#define YIELD_SECONDS 2e-3
#define NAP_SECONDS 0.05     /* longest sleep between deadline and liveness checks */

/* ---- joining ------------------------------------------------------------------------------ */

/* RANK and WORLD_SIZE (pipa-run's); both unset: an MPI launcher's numbering (env.h), else a
 * world of one, rank -1 for the transport. */
static pipa_status rank_from_env(int *rank, int *world)
{
    PIPA_TRY(pipa_env_int("RANK", -1, 0, INT_MAX, rank));
    PIPA_TRY(pipa_env_int("WORLD_SIZE", -1, 1, PIPA_MAX_RANKS, world));
    if (*rank == -1 && *world == -1) {
        const char *from;
        PIPA_TRY(pipa_env_mpi_launcher(rank, world, &from));
        if (*world > PIPA_MAX_RANKS)
            return pipa__fail(PIPA_ERR_ARG, "%s=%d: at most %d ranks", from, *world,
                              PIPA_MAX_RANKS);
        return PIPA_OK;
    }
    if (*rank == -1 || *world == -1 || *rank >= *world)
        return pipa__fail(PIPA_ERR_ARG,
                          "bad environment: RANK=%s and WORLD_SIZE=%s (need 0 <= RANK < "
                          "WORLD_SIZE; both set, or neither for one process)",
                          getenv("RANK") ? getenv("RANK") : "(unset)",
                          getenv("WORLD_SIZE") ? getenv("WORLD_SIZE") : "(unset)");
    return PIPA_OK;
}

pipa_status pipa_comm_init(pipa_comm_t **out)
{
    const pipa_transport_ops_t *ops;
    PIPA_TRY(pipa__transport_from_env(&ops));
    return pipa__comm_init_on(ops, out);
}

pipa_status pipa__comm_init_on(const pipa_transport_ops_t *ops, pipa_comm_t **out)
{
    /* Every setting, those read later (PIPA_LOG, PIPA_BLAS_THREADS) too: refused at the start. */
    PIPA_TRY(pipa_env_check());
    double timeout;
    PIPA_TRY(pipa_env_timeout(&timeout));
    int rank, world;
    PIPA_TRY(rank_from_env(&rank, &world));
    pipa_comm_t *c = calloc(1, sizeof *c);
    if (!c) return pipa__fail(PIPA_ERR_NOMEM, "out of memory");
    c->ops = ops;
    pipa_status s = c->ops->join(rank, world, &c->t);
    if (s != PIPA_OK) {
        c->ops->leave(c->t);
        free(c);
        return s;
    }
    c->rank = rank < 0 ? 0 : rank;
    c->world = world;
    c->timeout = timeout;
    c->busy = ops->busy_wait && ops->busy_wait(c->t);
    pipa_log_set_identity(c->rank, c->world, -1);
    *out = c;
    return PIPA_OK;
}

void pipa_comm_free(pipa_comm_t *c)
{
    if (!c) return;
    c->ops->leave(c->t);
    free(c);
}

int pipa_comm_rank(const pipa_comm_t *c) { return c->rank; }
int pipa_comm_size(const pipa_comm_t *c) { return c->world; }
const char *pipa_comm_transport_name(const pipa_comm_t *c) { return c->ops->name; }
void pipa_comm_set_timeout(pipa_comm_t *c, double seconds) { c->timeout = seconds; }
double pipa_comm_timeout(const pipa_comm_t *c) { return c->timeout; }
uint64_t pipa_comm_bytes_sent(const pipa_comm_t *c) { return c->bytes_sent; }

/* ---- send and receive --------------------------------------------------------------------- */

static pipa_status req_start(pipa_comm_t *c, pipa_req_kind_t kind, int peer, uint64_t tag,
                             const pipa_desc_t *d, const void *buf, pipa_req_t *req)
{
    if (peer < 0 || peer >= c->world)
        return pipa__fail(PIPA_ERR_ARG, "rank %d: peer rank %d out of range 0..%d", c->rank, peer,
                          c->world - 1);
    if (d->ndim < 0 || d->ndim > PIPA_MAX_DIMS)
        return pipa__fail(PIPA_ERR_ARG, "message with %d dimensions (at most %d)", d->ndim,
                          PIPA_MAX_DIMS);
    memset(req, 0, sizeof *req);
    req->kind = kind;
    req->peer = peer;
    req->tag = tag;
    req->desc = *d;
    req->buf = (void *)buf;
    req->bytes = pipa_desc_bytes(d);
    return PIPA_OK;
}

pipa_status pipa_isend(pipa_comm_t *c, int dst, uint64_t tag, const pipa_desc_t *d, const void *buf,
                       pipa_req_t *req)
{
    PIPA_TRY(req_start(c, PIPA_REQ_SEND, dst, tag, d, buf, req));
    c->bytes_sent += req->bytes;
    c->ops->post_send(c->t, req);
    return PIPA_OK;
}

pipa_status pipa_irecv(pipa_comm_t *c, int src, uint64_t tag, const pipa_desc_t *d, void *buf,
                       pipa_req_t *req)
{
    PIPA_TRY(req_start(c, PIPA_REQ_RECV, src, tag, d, buf, req));
    /* No call at all where there is nothing to announce (shm): an indirect call to a function
     * that did nothing cost ~0.05 us of a 0.5 us ping-pong hand-off on this machine. */
    return c->ops->post_recv ? c->ops->post_recv(c->t, req) : PIPA_OK;
}

/* The header check, for a header the transport reported rather than accepted (transport.h): a
 * message whose dtype or shape is not what the receive expects is an error naming both ranks, the
 * tag and both descriptions; its payload is never copied (the transport moves it only once
 * accepted). */
static pipa_status check_header(const pipa_comm_t *c, pipa_req_t *req)
{
    if (pipa_desc_equal(&req->got, &req->desc)) {
        req->match = PIPA_MATCH_ACCEPTED;
        return PIPA_OK;
    }
    char want[96], have[96];
    return pipa__fail(PIPA_ERR_MISMATCH,
                      "rank %d expected %s from rank %d with tag %llu, but rank %d sent %s",
                      c->rank, pipa_desc_str(&req->desc, want, sizeof want), req->peer,
                      (unsigned long long)req->tag, req->peer,
                      pipa_desc_str(&req->got, have, sizeof have));
}

/* Every poll, whatever it waits for, also takes in what blocked senders wait to hand over (the
 * transport's progress), so no rank ever waits on one that is waiting itself. */
pipa_status pipa_test(pipa_comm_t *c, pipa_req_t *req, int *done)
{
    if (req->match != PIPA_MATCH_HEADER) /* else refused before: it stays refused, named again */
        PIPA_TRY(c->ops->progress(c->t, req));
    if (req->match == PIPA_MATCH_HEADER) {
        PIPA_TRY(check_header(c, req));
        PIPA_TRY(c->ops->accept(c->t, req));
    }
    *done = req->complete || req->kind == PIPA_REQ_NONE;
    return PIPA_OK;
}

pipa_status pipa_detach(pipa_comm_t *c, pipa_req_t *req)
{
    int done;
    PIPA_ASSERT(req->kind == PIPA_REQ_SEND || req->kind == PIPA_REQ_NONE);
    PIPA_TRY(pipa_test(c, req, &done));
    if (!done) PIPA_TRY(c->ops->detach(c->t, req));
    req->kind = PIPA_REQ_NONE;
    return PIPA_OK;
}

/* ---- waiting ------------------------------------------------------------------------------ */

/* What a wait waits for: one request, or (req NULL, pipa_flush) every send still under way. */
typedef struct {
    pipa_comm_t *c;
    pipa_req_t *req;
} blocked_t;

static pipa_status poll_once(blocked_t *b, int *done)
{
    if (b->req) return pipa_test(b->c, b->req, done);
    PIPA_TRY(b->c->ops->progress(b->c->t, NULL));
    *done = b->c->ops->oldest_send(b->c->t) == NULL;
    return PIPA_OK;
}

/* The request a wait is about (for pipa_flush: the oldest send under way to the first peer that
 * has one); only asked while the wait is not done. */
static pipa_req_t *waited(blocked_t *b)
{
    return b->req ? b->req : b->c->ops->oldest_send(b->c->t);
}

static int still_blocked(void *arg)
{
    int done = 0;
    if (poll_once(arg, &done) != PIPA_OK) return 0;
    return !done;
}

static pipa_status wait_error(pipa_comm_t *c, pipa_req_t *req, double waited)
{
    const char *what = req->kind != PIPA_REQ_RECV ? "sending to" : "receiving from";
    return pipa__fail(PIPA_ERR_TIMEOUT,
                      "rank %d: deadline of %.1f s passed %s rank %d (tag %llu, %zu of %zu bytes "
                      "moved)",
                      c->rank, waited, what, req->peer, (unsigned long long)req->tag,
                      req->done_bytes, req->bytes);
}

/* PIPA_OK while the peer req waits on may still send; PIPA_ERR_PEER naming both ranks once not. */
static pipa_status check_peer(pipa_comm_t *c, pipa_req_t *req)
{
    const char *how = c->ops->peer_gone(c->t, req->peer);
    if (!how) return PIPA_OK;
    return pipa__fail(PIPA_ERR_PEER,
                      "rank %d: peer rank %d %s while rank %d waited %s it (tag %llu)", c->rank,
                      req->peer, how, c->rank,
                      req->kind != PIPA_REQ_RECV ? "to send to" : "for a message from",
                      (unsigned long long)req->tag);
}

static pipa_status wait_loop(blocked_t *b)
{
    pipa_comm_t *c = b->c;
    int done = 0;
    double start = pipa_now(), last_check = start;
    for (;;) {
        PIPA_TRY(poll_once(b, &done));
        if (done) return PIPA_OK;
        double now = pipa_now();
        if (now - start < SPIN_SECONDS) continue;
        if (now - start < YIELD_SECONDS) {
            if (!c->busy) sched_yield();
            continue;
        }
        if (now - last_check > 0.2) {
            last_check = now;
            pipa_status s = check_peer(c, waited(b));
            if (s != PIPA_OK) {
                /* its last messages may still be on their way: look once more */
                PIPA_TRY(poll_once(b, &done));
                if (done) return PIPA_OK;
                return s;
            }
        }
        if (now - start > c->timeout) return wait_error(c, waited(b), c->timeout);
        c->ops->wait_change(c->t, NAP_SECONDS, still_blocked, b);
    }
}

pipa_status pipa_wait(pipa_comm_t *c, pipa_req_t *req)
{
    blocked_t b = {c, req};
    pipa_status s = wait_loop(&b);
    if (s != PIPA_OK && req->kind == PIPA_REQ_SEND) c->ops->cancel(c->t, req);
    return s;
}

pipa_status pipa_flush(pipa_comm_t *c)
{
    blocked_t b = {c, NULL};
    return wait_loop(&b);
}

pipa_status pipa_send(pipa_comm_t *c, int dst, uint64_t tag, const pipa_desc_t *d, const void *buf)
{
    pipa_req_t req;
    PIPA_TRY(pipa_isend(c, dst, tag, d, buf, &req));
    return pipa_wait(c, &req);
}

pipa_status pipa_recv(pipa_comm_t *c, int src, uint64_t tag, const pipa_desc_t *d, void *buf)
{
    pipa_req_t req;
    PIPA_TRY(pipa_irecv(c, src, tag, d, buf, &req));
    return pipa_wait(c, &req);
}
