/* shm.c: the shared-memory transport: point-to-point messages between the processes of one run.
 *
 * The launcher creates one anonymous memory file (memfd) for the run; every rank maps it. It holds
 * an entry per rank (pid, state, doorbell) and one channel per ordered pair (src, dst): a ring of
 * variable-size records that only src writes. A record is a 64-byte header (tag, dtype, shape,
 * sizes) followed by payload. The receiver scans the records it has not consumed for the first
 * one with the tag it wants, so arrival order never matters, copies the payload out and marks the
 * record consumed; the sender reclaims consumed records from the oldest end. Messages larger than
 * a fragment travel as several records, which lets sender and receiver copy at the same time.
 *
 * Waiting spins briefly, then sleeps on the waiter's doorbell (a futex in the segment), waking
 * every 50 ms to check the deadline and whether the peer is still alive.
 *
 * Sends never block, which is what the plan checker assumes: a send that does not fit waits in a
 * queue and is pushed on by every later call, the sender marks itself blocked, and any wait of the
 * receiver (for whatever peer) copies that sender's records out into the unexpected list. A send
 * whose buffer the caller needs back is copied into the transport (pipa__shm_detach).
 *
 * The communicator reaches all this through pipa__transport_shm (the table at the end; contracts
 * in transport.h); nothing here knows what is above it: a receive takes a message whose header is
 * identical to the one it expects, and reports any other to the communicator, which judges it and
 * names the mismatch; the payload moves only once accepted.
 *
 * Left out: zero-copy transfers, thread safety (one thread per rank talks), multi-machine runs. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/futex.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "base/env.h"
#include "comm/shm_internal.h"
#include "comm/shm_seg.h"
#include "comm/transport.h"

/* ---- launcher side ------------------------------------------------------------------------ */

/* pipa-run (launch.h, through the table's launch functions) creates one anonymous memory file
 * (memfd) per run before it starts the ranks; the ranks inherit its descriptor (PIPA_SHM_FD).
 * Nothing is ever named in /dev/shm, so nothing can be left there, however the run ends. The
 * launcher also records in the segment when a rank exited, so waiting peers notice at once. */
typedef struct {
    void *base;
    size_t bytes;
    int fd;  /* inheritable (no close-on-exec) */
} shm_run_t;

static pipa_status seg_map_new(int world, void **base, size_t *bytes, int *fd_out)
{
    int mb;
    PIPA_TRY(pipa_env_shm_ring_mb(&mb));
    uint64_t ring = (uint64_t)mb << 20;
    size_t n = seg_bytes(world, ring);
    int fd = memfd_create("pipa-run", 0); /* no MFD_CLOEXEC: ranks inherit it */
    if (fd < 0) return pipa__fail(PIPA_ERR_IO, "memfd_create: %s", strerror(errno));
    if (ftruncate(fd, (off_t)n) != 0) {
        close(fd);
        return pipa__fail(PIPA_ERR_IO, "sizing shared memory (%zu bytes): %s", n, strerror(errno));
    }
    void *p = mmap(NULL, n, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_NORESERVE, fd, 0);
    if (p == MAP_FAILED) {
        close(fd);
        return pipa__fail(PIPA_ERR_IO, "mapping shared memory: %s", strerror(errno));
    }
    seg_header_t *h = p;
    h->world = world;
    h->ring_bytes = ring;
    h->total_bytes = n;
    atomic_thread_fence(memory_order_release);
    h->magic = SEG_MAGIC;
    *base = p;
    *bytes = n;
    *fd_out = fd;
    return PIPA_OK;
}

static void shm_launch_end(void *run)
{
    shm_run_t *r = run;
    if (!r) return;
    if (r->base) munmap(r->base, r->bytes);
    if (r->fd >= 0) close(r->fd);
    free(r);
}

static pipa_status shm_launch(int world, void **run)
{
    if (world < 1 || world > PIPA_MAX_RANKS)
        return pipa__fail(PIPA_ERR_ARG, "world size %d out of range 1..%d", world, PIPA_MAX_RANKS);
    shm_run_t *r = calloc(1, sizeof *r);
    if (!r) return pipa__fail(PIPA_ERR_NOMEM, "out of memory");
    r->fd = -1;
    *run = r;
    return seg_map_new(world, &r->base, &r->bytes, &r->fd);
}

static void shm_launch_rank_env(void *run, int rank)
{
    const shm_run_t *r = run;
    char fd[16];
    (void)rank; /* every rank maps the same segment */
    snprintf(fd, sizeof fd, "%d", r->fd);
    setenv("PIPA_SHM_FD", fd, 1);
}

static void shm_launch_rank_ended(void *run, int rank, int failed)
{
    shm_run_t *r = run;
    seg_header_t *h = r->base;
    if (rank < 0 || rank >= h->world) return;
    atomic_store(&seg_rank(r->base, rank)->state, failed ? RANK_FAILED : RANK_EXITED);
    for (int i = 0; i < h->world; i++) bell_ring(seg_rank(r->base, i));
}

/* ---- rank side: joining ------------------------------------------------------------------- */

static pipa_status shm_join_fd(pipa__shm_t *t, int rank, int world, int fd)
{
    memset(t, 0, sizeof *t);
    int frag_kb;
    PIPA_TRY(pipa_env_shm_frag_kb(&frag_kb));
    seg_header_t h;
    if (pread(fd, &h, sizeof h, 0) != (ssize_t)sizeof h || h.magic != SEG_MAGIC)
        return pipa__fail(PIPA_ERR_ARG, "PIPA_SHM_FD=%d is not a pipa-run segment", fd);
    if (h.world != world)
        return pipa__fail(PIPA_ERR_ARG, "WORLD_SIZE=%d but the run's segment is for %d ranks",
                          world, h.world);
    void *p = mmap(NULL, h.total_bytes, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_NORESERVE, fd, 0);
    if (p == MAP_FAILED) return pipa__fail(PIPA_ERR_IO, "mapping shared memory: %s", strerror(errno));
    t->base = p;
    t->bytes = h.total_bytes;
    t->ring = h.ring_bytes;
    t->world = world;
    t->rank = rank;
    t->frag = frag_bytes(frag_kb, t->ring);
    t->peers = calloc((size_t)world, sizeof *t->peers);
    if (!t->peers) return pipa__fail(PIPA_ERR_NOMEM, "out of memory");
    rank_entry_t *me = seg_rank(p, rank);
    atomic_store(&me->pid, (int32_t)getpid());
    atomic_store(&me->state, RANK_JOINED);
    return PIPA_OK;
}

/* A private segment for a world of one (program started without pipa-run). */
static pipa_status shm_join_alone(pipa__shm_t *t)
{
    void *base;
    size_t bytes;
    int fd;
    PIPA_TRY(seg_map_new(1, &base, &bytes, &fd));
    pipa_status s = shm_join_fd(t, 0, 1, fd);
    munmap(base, bytes);
    close(fd);
    return s;
}

/* The run's segment from PIPA_SHM_FD (rank -1: started alone, a private one). */
static pipa_status shm_join(int rank, int world, void **state)
{
    pipa__shm_t *t = calloc(1, sizeof *t);
    if (!t) return pipa__fail(PIPA_ERR_NOMEM, "out of memory");
    *state = t;
    if (rank < 0) return shm_join_alone(t);
    int fd;
    PIPA_TRY(pipa_env_int("PIPA_SHM_FD", -1, 0, INT_MAX, &fd));
    if (fd == -1 && world == 1) return shm_join_alone(t);
    if (fd < 0 || fcntl(fd, F_GETFD) < 0)
        return pipa__fail(PIPA_ERR_ARG,
                          "rank %d of %d has no shared-memory segment (PIPA_SHM_FD): start the "
                          "program with pipa-run",
                          rank, world);
    return shm_join_fd(t, rank, world, fd);
}

static void shm_leave(void *state)
{
    pipa__shm_t *t = state;
    if (!t) return;
    if (!t->base) {
        free(t);
        return;
    }
    for (int i = 0; i < t->world; i++) {
        pipa__unexpected_clear(&t->peers[i]);
        pipa__shm_queue_clear(&t->peers[i]);
    }
    free(t->peers);
    munmap(t->base, t->bytes);
    free(t);
}

/* ---- liveness ------------------------------------------------------------------------------ */

/* NULL while `peer` may still send; how it went once it is gone. */
static const char *shm_peer_gone(void *state, int peer)
{
    pipa__shm_t *t = state;
    rank_entry_t *s = seg_rank(t->base, peer);
    int rank_state = atomic_load(&s->state);
    int pid = atomic_load(&s->pid);
    if (rank_state == RANK_FAILED) return "failed";
    if (rank_state == RANK_EXITED) return "exited";
    if (pid > 0 && kill(pid, 0) != 0 && errno == ESRCH) return "died";
    return NULL;
}

/* Sleeps until someone rings my bell or `seconds` pass. `still_blocked` is re-checked after
 * announcing the sleep, so a ring between the check and the sleep is never lost. */
static void shm_wait_change(void *state, double seconds, int (*still_blocked)(void *), void *arg)
{
    pipa__shm_t *t = state;
    rank_entry_t *me = seg_rank(t->base, t->rank);
    uint32_t seen = atomic_load(&me->bell);
    atomic_store(&me->sleeping, 1);
    if (still_blocked(arg)) {
        struct timespec ts = {(time_t)seconds, (long)((seconds - (time_t)seconds) * 1e9)};
        syscall(SYS_futex, &me->bell, FUTEX_WAIT, seen, &ts, NULL, 0);
    }
    atomic_store(&me->sleeping, 0);
}

/* Ranks with cores of their own (no more of them than cores online) spin in their waits rather
 * than yield, as MPI's shared-memory path does: on a loaded machine a yield hands the core to
 * another program for a time slice, and a large message is many hand-offs through the ring.
 * The sleep after 2 ms of waiting stays (shm can be woken: the bell). */
static int shm_busy_wait(void *state)
{
    pipa__shm_t *t = state;
    return t->world <= sysconf(_SC_NPROCESSORS_ONLN);
}

/* ---- sending ------------------------------------------------------------------------------ */

static uint64_t round_line(uint64_t n) { return (n + LINE - 1) & ~(uint64_t)(LINE - 1); }

/* The sender may reuse what the receiver has published as done with. Only the receiver reads
 * the consumed flags: once space is reusable, its old headers are no longer safe to read. A
 * receiver still at the start of the last jump is, for space, already at its end. */
static void reclaim(pipa__shm_t *t, int dst)
{
    chan_t *ch = seg_chan(t->base, t->world, t->rank, dst);
    pipa__peer_t *pe = &t->peers[dst];
    pe->tail = atomic_load_explicit(&ch->tail, memory_order_acquire);
    if (pe->tail == pe->skip_from) pe->tail = pe->skip_to;
}

/* When the receiver has taken everything, the next record goes to the ring's beginning again, so
 * small messages keep using the same, cache-warm lines. The positions in between are skipped:
 * the receiver, finding its read position at skip_from, continues at skip_to. No padding record
 * is needed, so the jump costs the sender no space. */
static void start_over_if_empty(pipa__shm_t *t, int dst)
{
    pipa__peer_t *pe = &t->peers[dst];
    uint64_t pos = pe->head % t->ring;
    if (!pos || pe->tail != pe->head) return;
    chan_t *ch = seg_chan(t->base, t->world, t->rank, dst);
    pe->skip_from = pe->head;
    pe->head += t->ring - pos;
    pe->skip_to = pe->tail = pe->head;
    atomic_store_explicit(&ch->skip_from, pe->skip_from, memory_order_relaxed);
    atomic_store_explicit(&ch->skip_to, pe->skip_to, memory_order_relaxed);
}

/* Writes one record (a fragment of req's message) if the ring has room; returns 1 if written. */
static int push_fragment(pipa__shm_t *t, pipa_req_t *req)
{
    int dst = req->peer;
    pipa__peer_t *pe = &t->peers[dst];
    char *ring = seg_ring(t->base, t->world, t->ring, t->rank, dst);
    uint64_t left = req->bytes - req->done_bytes;
    uint64_t payload = left < t->frag ? left : t->frag;
    uint64_t need = sizeof(rec_t) + round_line(payload);
    reclaim(t, dst);
    start_over_if_empty(t, dst);
    uint64_t pos = pe->head % t->ring;
    uint64_t pad = pos + need > t->ring ? t->ring - pos : 0; /* a record is contiguous */
    if (pe->head + pad + need - pe->tail > t->ring) return 0;
    if (pad) {
        rec_t *p = (rec_t *)(ring + pos);
        p->rec_bytes = pad;
        atomic_store_explicit(&p->flags, REC_PAD | REC_CONSUMED, memory_order_relaxed);
        pe->head += pad;
    }
    rec_t *r = (rec_t *)(ring + pe->head % t->ring);
    r->tag = req->tag;
    r->dtype = (uint32_t)req->desc.dtype;
    r->ndim = req->desc.ndim;
    for (int i = 0; i < req->desc.ndim; i++) r->shape[i] = (int32_t)req->desc.shape[i];
    r->rec_bytes = need;
    r->msg_bytes = req->bytes;
    r->frag_off = req->done_bytes;
    if (payload) memcpy(r + 1, (const char *)req->buf + req->done_bytes, payload);
    atomic_store_explicit(&r->flags, 0, memory_order_relaxed);
    pe->head += need;
    req->done_bytes += payload;
    chan_t *ch = seg_chan(t->base, t->world, t->rank, dst);
    atomic_store_explicit(&ch->head, pe->head, memory_order_release);
    bell_ring(seg_rank(t->base, dst));
    return 1;
}

/* Pushes as much of a send as the ring takes now. Sets complete when every byte is out. */
static void push(pipa__shm_t *t, pipa_req_t *req)
{
    do {
        if (!push_fragment(t, req)) return;
    } while (req->done_bytes < req->bytes);
    req->complete = 1;
}

/* Tells the receiver whether I wait for space: it then wakes me when it frees some, and, whatever
 * it waits for itself, moves my records out of the ring (drain). Written only on
 * change: this line is read by the receiver's polling. Its bell rings so that a receiver asleep
 * on another wait drains at once rather than at its next nap's end. */
static void set_blocked(pipa__shm_t *t, int dst, int blocked)
{
    pipa__peer_t *pe = &t->peers[dst];
    if (pe->blocked == blocked) return;
    pe->blocked = blocked;
    atomic_store(&seg_chan(t->base, t->world, t->rank, dst)->sender_blocked, blocked);
    if (blocked) bell_ring(seg_rank(t->base, dst));
}

/* Pushes pending sends, oldest first per destination (fragments must not interleave). */
static void push_pending(pipa__shm_t *t)
{
    for (int d = 0; d < t->world; d++) {
        pipa__peer_t *pe = &t->peers[d];
        while (pe->pending) {
            pipa_req_t *q = pe->pending;
            push(t, q);
            if (!q->complete) break;
            pe->pending = q->internal;
            q->internal = NULL;
            if (q->kind == PIPA_REQ_SEND_DETACHED) free(q); /* its buffer is in the same block */
        }
        if (!pe->pending) pe->pending_last = NULL;
        set_blocked(t, d, pe->pending != NULL);
    }
}

static void shm_post_send(void *state, pipa_req_t *req)
{
    pipa__shm_t *t = state;
    pipa__peer_t *pe = &t->peers[req->peer];
    req->internal = NULL;
    if (!pe->pending) {
        push(t, req);
        if (req->complete) return;
        pe->pending = req;
    } else {
        pe->pending_last->internal = req;
    }
    pe->pending_last = req;
    set_blocked(t, req->peer, 1);
}

/* ---- receiving ---------------------------------------------------------------------------- */

static char *rec_payload(rec_t *r) { return (char *)(r + 1); }

static pipa_desc_t rec_desc(const rec_t *r)
{
    pipa_desc_t d = {.dtype = (pipa_dtype)r->dtype, .ndim = r->ndim};
    for (int i = 0; i < r->ndim && i < PIPA_MAX_DIMS; i++) d.shape[i] = r->shape[i];
    return d;
}

/* Marks the record at position `at` done. The oldest record just moves my read position (no
 * write to the sender's line: the common, in-order case); others get the consumed flag. */
static void consume(pipa__shm_t *t, int src, uint64_t at, rec_t *r)
{
    pipa__peer_t *pe = &t->peers[src];
    if (at == pe->rd) pe->rd += r->rec_bytes;
    else atomic_store_explicit(&r->flags, REC_CONSUMED, memory_order_relaxed);
}

/* The sender's jump (start_over_if_empty): read after head, which published it. */
static void follow_jump(pipa__shm_t *t, int src, uint64_t head)
{
    pipa__peer_t *pe = &t->peers[src];
    if (pe->rd == head) return;
    chan_t *ch = seg_chan(t->base, t->world, src, t->rank);
    if (pe->rd == atomic_load_explicit(&ch->skip_from, memory_order_relaxed))
        pe->rd = atomic_load_explicit(&ch->skip_to, memory_order_relaxed);
}

/* Advances my read position over the consumed records at the oldest end and hands that space
 * back to the sender (waking it if it waits for space). */
static void skip_consumed(pipa__shm_t *t, int src, uint64_t head)
{
    pipa__peer_t *pe = &t->peers[src];
    char *ring = seg_ring(t->base, t->world, t->ring, src, t->rank);
    follow_jump(t, src, head);
    while (pe->rd < head) {
        rec_t *r = (rec_t *)(ring + pe->rd % t->ring);
        if (!(atomic_load_explicit(&r->flags, memory_order_relaxed) & REC_CONSUMED)) break;
        pe->rd += r->rec_bytes;
    }
    if (pe->rd == pe->rd_published) return;
    pe->rd_published = pe->rd;
    chan_t *ch = seg_chan(t->base, t->world, src, t->rank);
    atomic_store_explicit(&ch->tail, pe->rd, memory_order_release);
    if (atomic_load(&ch->sender_blocked)) bell_ring(seg_rank(t->base, src));
}

/* Copies the fragment in r into req if it is the next piece of req's message. */
static pipa_status take_record(pipa__shm_t *t, pipa_req_t *req, uint64_t at, rec_t *r)
{
    PIPA_ASSERT(req->match == PIPA_MATCH_ACCEPTED && r->msg_bytes == req->bytes);
    uint64_t n = r->rec_bytes - sizeof(rec_t);
    if (n > req->bytes - r->frag_off) n = req->bytes - r->frag_off;
    if (n) memcpy((char *)req->buf + r->frag_off, rec_payload(r), n);
    req->done_bytes += n;
    consume(t, req->peer, at, r);
    if (req->done_bytes == req->bytes) req->complete = 1;
    return PIPA_OK;
}

/* Moves every unconsumed record from src into the unexpected list (except those of skip_tag
 * when skip is set, and continuations of a message a receive has already begun), so that a
 * sender blocked on a full ring can go on. */
static pipa_status stash(pipa__shm_t *t, int src, uint64_t head, int skip, uint64_t skip_tag)
{
    pipa__peer_t *pe = &t->peers[src];
    char *ring = seg_ring(t->base, t->world, t->ring, src, t->rank);
    for (uint64_t pos = pe->rd; pos < head;) {
        uint64_t at = pos;
        rec_t *r = (rec_t *)(ring + pos % t->ring);
        pos += r->rec_bytes;
        if (atomic_load_explicit(&r->flags, memory_order_acquire) & REC_CONSUMED) continue;
        if ((skip && r->tag == skip_tag) || !pipa__unexpected_wants(pe, r->tag, r->frag_off))
            continue;
        pipa_desc_t d = rec_desc(r);
        PIPA_TRY(pipa__unexpected_add(pe, r->tag, &d, r->msg_bytes, r->frag_off, rec_payload(r),
                                      r->rec_bytes - sizeof(rec_t)));
        consume(t, src, at, r);
    }
    skip_consumed(t, src, head);
    return PIPA_OK;
}

/* Called on every poll of every wait. A sender never waits on me, whatever I wait for myself
 * (another peer's message, space in a ring, the end of a send): sends never block, as the plan
 * checker assumes, and no cycle of waiting ranks can form through a full ring. Only rings whose
 * sender waits are emptied: a message copied out here costs a second copy when it is received,
 * and the check costs one load of a line that changes only when that sender blocks. The peer
 * skip_peer is left to poll_recv, which takes the message it waits for in place. */
static pipa_status drain(pipa__shm_t *t, int skip_peer)
{
    for (int src = 0; src < t->world; src++) {
        chan_t *ch = seg_chan(t->base, t->world, src, t->rank);
        if (src == skip_peer || !atomic_load(&ch->sender_blocked)) continue;
        uint64_t head = atomic_load_explicit(&ch->head, memory_order_acquire);
        skip_consumed(t, src, head); /* follows a jump before reading records */
        PIPA_TRY(stash(t, src, head, 0, 0));
    }
    return PIPA_OK;
}

/* The header of req's message is here. One identical to what req expects is accepted at once:
 * a round trip through the communicator costs a hand-off about a tenth of its latency (0.5 us),
 * and "identical" needs no judgement. Any other is reported (PIPA_MATCH_HEADER, returns 0) for
 * the communicator to judge and name, its payload untouched. */
static int header_found(pipa_req_t *req, pipa_desc_t got)
{
    req->got = got;
    req->match = pipa_desc_equal(&got, &req->desc) ? PIPA_MATCH_ACCEPTED : PIPA_MATCH_HEADER;
    return req->match == PIPA_MATCH_ACCEPTED;
}

/* Looks for req's message: first its header (header_found), then every piece that has arrived. */
static pipa_status poll_recv(pipa__shm_t *t, pipa_req_t *req)
{
    pipa__peer_t *pe = &t->peers[req->peer];
    PIPA_ASSERT(req->match != PIPA_MATCH_HEADER);
    if (req->match == PIPA_MATCH_NONE || req->internal) {
        PIPA_TRY(pipa__unexpected_take(pe, req));
        if (req->match == PIPA_MATCH_HEADER || req->complete) return PIPA_OK;
    }
    chan_t *ch = seg_chan(t->base, t->world, req->peer, t->rank);
    uint64_t head = atomic_load_explicit(&ch->head, memory_order_acquire);
    char *ring = seg_ring(t->base, t->world, t->ring, req->peer, t->rank);
    skip_consumed(t, req->peer, head);
    for (uint64_t pos = pe->rd; pos < head && !req->complete;) {
        uint64_t at = pos;
        rec_t *r = (rec_t *)(ring + pos % t->ring);
        pos += r->rec_bytes;
        if (atomic_load_explicit(&r->flags, memory_order_acquire) & REC_CONSUMED) continue;
        if (r->tag != req->tag || r->frag_off != req->done_bytes) continue;
        if (req->match == PIPA_MATCH_NONE && !header_found(req, rec_desc(r))) return PIPA_OK;
        PIPA_TRY(take_record(t, req, at, r));
    }
    skip_consumed(t, req->peer, head);
    if (!req->complete && atomic_load(&ch->sender_blocked))
        PIPA_TRY(stash(t, req->peer, head, 1, req->tag));
    return PIPA_OK;
}

/* ---- the transport's table ---------------------------------------------------------------- */

static pipa_status shm_progress(void *state, pipa_req_t *req)
{
    pipa__shm_t *t = state;
    int recv = req && req->kind == PIPA_REQ_RECV && !req->complete;
    push_pending(t);
    if (recv) PIPA_TRY(poll_recv(t, req));
    return drain(t, recv ? req->peer : -1);
}

/* Only a header header_found reported comes here (the communicator accepted it after all). */
static pipa_status shm_accept(void *state, pipa_req_t *req) { return poll_recv(state, req); }

static pipa_req_t *shm_oldest_send(void *state) { return pipa__shm_pending_any(state); }
static void shm_cancel(void *state, pipa_req_t *req) { pipa__shm_cancel(state, req); }
static pipa_status shm_detach(void *state, pipa_req_t *req) { return pipa__shm_detach(state, req); }

const pipa_transport_ops_t pipa__transport_shm = {
    .name = "shm",
    .join = shm_join,
    .leave = shm_leave,
    .post_send = shm_post_send,
    .post_recv = NULL, /* receives match in place, in the sender's ring, when polled */
    .progress = shm_progress,
    .accept = shm_accept,
    .oldest_send = shm_oldest_send,
    .peer_gone = shm_peer_gone,
    .wait_change = shm_wait_change,
    .busy_wait = shm_busy_wait,
    .cancel = shm_cancel,
    .detach = shm_detach,
    .launch = shm_launch,
    .launch_rank_env = shm_launch_rank_env,
    .launch_rank_ended = shm_launch_rank_ended,
    .launch_end = shm_launch_end,
};
