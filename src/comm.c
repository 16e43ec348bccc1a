/* comm.c: the communicator: joining a run, message descriptions, and the send/receive calls
 * with their deadlines. The moving of bytes is shm.c's; collectives are coll.c's. */
#include "comm.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "env.h"
#include "shm_internal.h"

struct pipa_comm {
    pipa__shm_t shm;
    double timeout;      /* seconds a wait may take */
};

/* Waiting: spin first (a hand-off between two running ranks takes well under a microsecond),
 * then keep polling but yield the core between polls (other ranks sharing it can run; with a
 * free core this is still a fast poll), and only then sleep on the doorbell. Waking a sleeper
 * takes tens of microseconds, so the yielding phase lasts longer than one wake-up: otherwise
 * one sleeper makes its partner sleep too and every hand-off after pays the wake-up. */
#define SPIN_SECONDS 20e-6
#define YIELD_SECONDS 2e-3
#define NAP_SECONDS 0.05     /* longest sleep between deadline and liveness checks */

/* ---- message descriptions ----------------------------------------------------------------- */

size_t pipa_dtype_size(pipa_dtype t)
{
    switch (t) {
    case PIPA_F32: case PIPA_I32: return 4;
    case PIPA_F16: case PIPA_BF16: return 2;
    case PIPA_I64: case PIPA_F64: return 8;
    case PIPA_U8: return 1;
    }
    return 0;
}

const char *pipa_dtype_name(pipa_dtype t)
{
    static const char *names[] = {"f32", "f16", "bf16", "i32", "i64", "u8", "f64"};
    return (unsigned)t < sizeof names / sizeof *names ? names[t] : "?";
}

pipa_desc_t pipa_desc(pipa_dtype t, int ndim, const int64_t *shape)
{
    pipa_desc_t d = {.dtype = t, .ndim = ndim};
    PIPA_ASSERT(ndim >= 0 && ndim <= PIPA_MAX_DIMS);
    for (int i = 0; i < ndim; i++) d.shape[i] = shape[i];
    return d;
}

pipa_desc_t pipa_desc_1d(pipa_dtype t, int64_t n) { return pipa_desc(t, 1, &n); }

size_t pipa_desc_bytes(const pipa_desc_t *d)
{
    size_t n = pipa_dtype_size(d->dtype);
    for (int i = 0; i < d->ndim; i++) n *= (size_t)d->shape[i];
    return n;
}

char *pipa_desc_str(const pipa_desc_t *d, char *buf, size_t len)
{
    int n = snprintf(buf, len, "%s[", pipa_dtype_name(d->dtype));
    for (int i = 0; i < d->ndim && n > 0 && (size_t)n < len; i++)
        n += snprintf(buf + n, len - n, i ? ",%lld" : "%lld", (long long)d->shape[i]);
    if (n > 0 && (size_t)n < len) snprintf(buf + n, len - n, "]");
    return buf;
}

pipa_status pipa__check_header(int me, const pipa_req_t *req, const pipa_desc_t *got)
{
    int same = got->dtype == req->desc.dtype && got->ndim == req->desc.ndim;
    for (int i = 0; same && i < got->ndim; i++) same = got->shape[i] == req->desc.shape[i];
    if (same) return PIPA_OK;
    char want[96], have[96];
    return pipa__fail(PIPA_ERR_MISMATCH,
                      "rank %d expected %s from rank %d with tag %llu, but rank %d sent %s", me,
                      pipa_desc_str(&req->desc, want, sizeof want), req->peer,
                      (unsigned long long)req->tag, req->peer, pipa_desc_str(got, have, sizeof have));
}

/* ---- joining ------------------------------------------------------------------------------ */

/* RANK and WORLD_SIZE (both unset: a world of one), then the run's segment from PIPA_SHM_FD. */
static pipa_status join_from_env(pipa__shm_t *shm)
{
    int rank, world, fd;
    PIPA_TRY(pipa_env_int("RANK", -1, 0, INT_MAX, &rank));
    PIPA_TRY(pipa_env_int("WORLD_SIZE", -1, 1, PIPA_MAX_RANKS, &world));
    if (rank == -1 && world == -1) return pipa__shm_join_alone(shm);
    if (rank == -1 || world == -1 || rank >= world)
        return pipa__fail(PIPA_ERR_ARG,
                          "bad environment: RANK=%s and WORLD_SIZE=%s (need 0 <= RANK < "
                          "WORLD_SIZE; both set, or neither for one process)",
                          getenv("RANK") ? getenv("RANK") : "(unset)",
                          getenv("WORLD_SIZE") ? getenv("WORLD_SIZE") : "(unset)");
    PIPA_TRY(pipa_env_int("PIPA_SHM_FD", -1, 0, INT_MAX, &fd));
    if (fd == -1 && world == 1) return pipa__shm_join_alone(shm);
    if (fd < 0 || fcntl(fd, F_GETFD) < 0)
        return pipa__fail(PIPA_ERR_ARG,
                          "rank %d of %d has no shared-memory segment (PIPA_SHM_FD): start the "
                          "program with pipa-run",
                          rank, world);
    return pipa__shm_join(shm, rank, world, fd);
}

pipa_status pipa_comm_init(pipa_comm_t **out)
{
    /* Every setting, those read later (PIPA_LOG, PIPA_BLAS_THREADS) too: refused at the start. */
    PIPA_TRY(pipa_env_check());
    double timeout;
    PIPA_TRY(pipa_env_timeout(&timeout));
    pipa_comm_t *c = calloc(1, sizeof *c);
    if (!c) return pipa__fail(PIPA_ERR_NOMEM, "out of memory");
    pipa_status s = join_from_env(&c->shm);
    if (s != PIPA_OK) {
        pipa__shm_leave(&c->shm);
        free(c);
        return s;
    }
    c->timeout = timeout;
    pipa_log_set_identity(c->shm.rank, c->shm.world, -1);
    *out = c;
    return PIPA_OK;
}

void pipa_comm_free(pipa_comm_t *c)
{
    if (!c) return;
    pipa__shm_leave(&c->shm);
    free(c);
}

int pipa_comm_rank(const pipa_comm_t *c) { return c->shm.rank; }
int pipa_comm_size(const pipa_comm_t *c) { return c->shm.world; }
const char *pipa_comm_transport_name(const pipa_comm_t *c) { (void)c; return "shm"; }
void pipa_comm_set_timeout(pipa_comm_t *c, double seconds) { c->timeout = seconds; }
double pipa_comm_timeout(const pipa_comm_t *c) { return c->timeout; }

/* ---- send and receive --------------------------------------------------------------------- */

static pipa_status req_start(pipa_comm_t *c, int kind, int peer, uint64_t tag, const pipa_desc_t *d,
                             const void *buf, pipa_req_t *req)
{
    if (peer < 0 || peer >= c->shm.world)
        return pipa__fail(PIPA_ERR_ARG, "rank %d: peer rank %d out of range 0..%d", c->shm.rank,
                          peer, c->shm.world - 1);
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
    PIPA_TRY(req_start(c, PIPA__REQ_SEND, dst, tag, d, buf, req));
    pipa__shm_enqueue(&c->shm, req);
    return PIPA_OK;
}

pipa_status pipa_irecv(pipa_comm_t *c, int src, uint64_t tag, const pipa_desc_t *d, void *buf,
                       pipa_req_t *req)
{
    return req_start(c, PIPA__REQ_RECV, src, tag, d, buf, req);
}

/* Every poll, whatever it waits for, also drains the rings of peers that wait for space (shm.c:
 * pipa__shm_drain), so no rank ever waits on one that is waiting itself. */
pipa_status pipa_test(pipa_comm_t *c, pipa_req_t *req, int *done)
{
    int recv = req->kind == PIPA__REQ_RECV && !req->complete;
    pipa__shm_progress(&c->shm);
    if (recv) PIPA_TRY(pipa__shm_poll_recv(&c->shm, req));
    PIPA_TRY(pipa__shm_drain(&c->shm, recv ? req->peer : -1));
    *done = req->complete || req->kind == PIPA__REQ_NONE;
    return PIPA_OK;
}

pipa_status pipa_detach(pipa_comm_t *c, pipa_req_t *req)
{
    int done;
    PIPA_ASSERT(req->kind == PIPA__REQ_SEND || req->kind == PIPA__REQ_NONE);
    PIPA_TRY(pipa_test(c, req, &done));
    if (!done) PIPA_TRY(pipa__shm_detach(&c->shm, req));
    req->kind = PIPA__REQ_NONE;
    return PIPA_OK;
}

/* What a wait waits for: one request, or (req NULL, pipa_flush) every send still under way. */
typedef struct {
    pipa_comm_t *c;
    pipa_req_t *req;
} blocked_t;

static pipa_status poll_once(blocked_t *b, int *done)
{
    if (b->req) return pipa_test(b->c, b->req, done);
    pipa__shm_progress(&b->c->shm);
    PIPA_TRY(pipa__shm_drain(&b->c->shm, -1));
    *done = pipa__shm_pending_any(&b->c->shm) == NULL;
    return PIPA_OK;
}

/* The request a wait is about (for pipa_flush: the oldest send under way to the first peer that
 * has one); only asked while the wait is not done. */
static pipa_req_t *waited(blocked_t *b)
{
    return b->req ? b->req : pipa__shm_pending_any(&b->c->shm);
}

static int still_blocked(void *arg)
{
    int done = 0;
    if (poll_once(arg, &done) != PIPA_OK) return 0;
    return !done;
}

static pipa_status wait_error(pipa_comm_t *c, pipa_req_t *req, double waited)
{
    const char *what = req->kind != PIPA__REQ_RECV ? "sending to" : "receiving from";
    return pipa__fail(PIPA_ERR_TIMEOUT,
                      "rank %d: deadline of %.1f s passed %s rank %d (tag %llu, %zu of %zu bytes "
                      "moved)",
                      c->shm.rank, waited, what, req->peer, (unsigned long long)req->tag,
                      req->done_bytes, req->bytes);
}

static pipa_status check_peer(pipa_comm_t *c, pipa_req_t *req)
{
    char what[96];
    snprintf(what, sizeof what, "waited %s it (tag %llu)",
             req->kind != PIPA__REQ_RECV ? "to send to" : "for a message from",
             (unsigned long long)req->tag);
    return pipa__shm_peer_alive(&c->shm, req->peer, what);
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
            sched_yield();
            continue;
        }
        if (now - last_check > 0.2) {
            last_check = now;
            pipa_status s = check_peer(c, waited(b));
            if (s != PIPA_OK) {
                /* its last messages may still be in the ring: look once more */
                PIPA_TRY(poll_once(b, &done));
                if (done) return PIPA_OK;
                return s;
            }
        }
        if (now - start > c->timeout) return wait_error(c, waited(b), c->timeout);
        pipa__shm_sleep(&c->shm, NAP_SECONDS, still_blocked, b);
    }
}

pipa_status pipa_wait(pipa_comm_t *c, pipa_req_t *req)
{
    blocked_t b = {c, req};
    pipa_status s = wait_loop(&b);
    if (s != PIPA_OK && req->kind == PIPA__REQ_SEND) pipa__shm_cancel(&c->shm, req);
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
