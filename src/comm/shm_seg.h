/* shm_seg.h: the layout of the shared-memory transport's segment, one per run: a header, an entry
 * per rank (pid, state, doorbell), one channel per ordered pair (src, dst) with its ring, and the
 * 64-byte header of every record in a ring. Included by shm.c only; what the rest of shm shares
 * is in shm_internal.h. */
#ifndef PIPA_SHM_SEG_H
#define PIPA_SHM_SEG_H

#include <limits.h>
#include <linux/futex.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/syscall.h>
#include <unistd.h>

#define SEG_MAGIC 0x70697061736d3031ull /* "pipasm01" */
#define LINE 64

enum { RANK_EMPTY = 0, RANK_JOINED, RANK_EXITED, RANK_FAILED };
enum { REC_CONSUMED = 1u, REC_PAD = 2u };

typedef struct {
    _Alignas(LINE) _Atomic int32_t pid;
    _Atomic int32_t state;
    _Atomic uint32_t bell;     /* bumped by anyone who may have unblocked this rank */
    _Atomic int32_t sleeping;  /* 1 while this rank sleeps on bell */
} rank_entry_t;

typedef struct {
    _Alignas(LINE) _Atomic uint64_t head; /* bytes published by the sender (monotonic) */
    _Atomic uint64_t skip_from, skip_to;  /* the sender jumped from one to the other (below) */
    _Alignas(LINE) _Atomic uint64_t tail; /* bytes the receiver is done with: reusable */
    _Alignas(LINE) _Atomic int32_t sender_blocked; /* the sender waits for space */
} chan_t;

typedef struct {               /* 64 bytes, at the start of every record */
    _Atomic uint32_t flags;
    uint32_t dtype;
    uint64_t tag;
    uint64_t rec_bytes;        /* header + payload, rounded up to 64 */
    uint64_t msg_bytes;        /* payload bytes of the whole message */
    uint64_t frag_off;         /* where this record's payload sits in the message */
    int32_t ndim;
    int32_t shape[5];          /* int32 is plenty for one dimension of one message */
} rec_t;
_Static_assert(sizeof(rec_t) == 64, "record header must be one line");

typedef struct {
    uint64_t magic;
    int32_t world;
    int32_t pad;
    uint64_t ring_bytes;       /* data capacity of each channel */
    uint64_t total_bytes;
} seg_header_t;


/* ---- segment geometry ------------------------------------------------------------------ */

/* Messages travel in fragments of at most PIPA_SHM_FRAG_KB, so that the receiver copies one out
 * while the sender copies the next one in; at most an eighth of the ring. */
static inline uint64_t frag_bytes(int kb, uint64_t ring)
{
    uint64_t f = (uint64_t)kb << 10;
    return f > ring / 8 ? ring / 8 : f;
}

static inline size_t off_ranks(void) { return LINE; }
static inline size_t off_chans(int world) { return off_ranks() + (size_t)world * sizeof(rank_entry_t); }
static inline size_t off_rings(int world)
{
    size_t o = off_chans(world) + (size_t)world * world * sizeof(chan_t);
    return (o + 4095) & ~(size_t)4095;
}
static inline size_t seg_bytes(int world, uint64_t ring)
{
    return off_rings(world) + (size_t)world * world * ring;
}

static inline rank_entry_t *seg_rank(void *base, int r) { return (rank_entry_t *)((char *)base + off_ranks()) + r; }
static inline chan_t *seg_chan(void *base, int world, int src, int dst)
{
    return (chan_t *)((char *)base + off_chans(world)) + (size_t)src * world + dst;
}
static inline char *seg_ring(void *base, int world, uint64_t ring, int src, int dst)
{
    return (char *)base + off_rings(world) + ((size_t)src * world + dst) * ring;
}

/* ---- futex doorbells -------------------------------------------------------------------- */

static inline void bell_ring(rank_entry_t *s)
{
    atomic_fetch_add(&s->bell, 1);
    if (atomic_load(&s->sleeping))
        syscall(SYS_futex, &s->bell, FUTEX_WAKE, INT_MAX, NULL, NULL, 0);
}

#endif
