/* comm.h: point-to-point messaging between ranks, and collectives on groups of ranks.
 *
 * A message is matched by (source, tag) and carries a header: dtype and shape (pipa_desc_t).
 * A receive states what it expects; a message with another dtype or shape is an error that names
 * both ranks, the tag and both shapes, and its payload is never copied into the receive buffer.
 * Every wait has a deadline (pipa_comm_set_timeout, or PIPA_TIMEOUT seconds in the environment,
 * default 300 s); a peer that died is noticed within about a second.
 *
 * Messages (pipa_desc_t, pipa_req_t) are described in msg.h. The bytes move through a transport
 * (transport.h: a table of functions; today shared memory between the processes of one run, see
 * shm.c): ranks started by pipa-run find the run through the environment; a program started alone
 * is a world of one rank. Tags below 2^32 are the caller's; collectives use their own tag space. */
#ifndef PIPA_COMM_H
#define PIPA_COMM_H

#include <stddef.h>
#include <stdint.h>

#include "comm/msg.h"
#include "base/status.h"

typedef struct pipa_comm pipa_comm_t;

/* Joins the run this process belongs to (from RANK, WORLD_SIZE and the launcher's segment), or
 * makes a world of one when the program was started without pipa-run. */
pipa_status pipa_comm_init(pipa_comm_t **out);
/* The same over the given transport (transport.h) rather than the default: for tests and tools
 * that bring their own. */
struct pipa_transport_ops;
pipa_status pipa__comm_init_on(const struct pipa_transport_ops *ops, pipa_comm_t **out);
void pipa_comm_free(pipa_comm_t *c);
int pipa_comm_rank(const pipa_comm_t *c);
int pipa_comm_size(const pipa_comm_t *c);
const char *pipa_comm_transport_name(const pipa_comm_t *c);
void pipa_comm_set_timeout(pipa_comm_t *c, double seconds);
double pipa_comm_timeout(const pipa_comm_t *c);
/* Payload bytes of every send this rank has posted so far (point-to-point and collectives alike;
 * message headers not counted): the difference around a piece of work is what it sent. */
uint64_t pipa_comm_bytes_sent(const pipa_comm_t *c);

/* Non-blocking send: buf must stay valid and unchanged until the request completes. Small
 * messages complete at once (copied into the transport). */
pipa_status pipa_isend(pipa_comm_t *c, int dst, uint64_t tag, const pipa_desc_t *d, const void *buf,
                       pipa_req_t *req);
/* Non-blocking receive into buf, which must hold pipa_desc_bytes(d) bytes. */
pipa_status pipa_irecv(pipa_comm_t *c, int src, uint64_t tag, const pipa_desc_t *d, void *buf,
                       pipa_req_t *req);
/* Makes progress; *done = 1 once the request completed. */
pipa_status pipa_test(pipa_comm_t *c, pipa_req_t *req, int *done);
/* Frees a send's buffer for reuse at once, without waiting: what has not left yet is copied into
 * storage the communicator owns and sent from there (freed once sent). req is done with after
 * (a completed or empty request is just marked done). */
pipa_status pipa_detach(pipa_comm_t *c, pipa_req_t *req);
/* Blocks until the request completes, the deadline passes, or the peer dies. While any wait
 * polls, messages from peers that wait for space (shm: in their ring to this rank) are taken in
 * (kept until received), so a send never waits on a rank that is itself waiting: sends never
 * block. */
pipa_status pipa_wait(pipa_comm_t *c, pipa_req_t *req);
/* Blocks until every send this rank posted or detached has left (shm: is in its receiver's ring,
 * which outlives this process): call it before a process may end with sends under way. */
pipa_status pipa_flush(pipa_comm_t *c);
pipa_status pipa_send(pipa_comm_t *c, int dst, uint64_t tag, const pipa_desc_t *d, const void *buf);
pipa_status pipa_recv(pipa_comm_t *c, int src, uint64_t tag, const pipa_desc_t *d, void *buf);

/* ---- groups and collectives ------------------------------------------------------------ */
typedef struct {
    pipa_comm_t *comm;
    int id;                   /* distinguishes the tag spaces of groups */
    int size;
    int me;                   /* my index in ranks[], or -1 if not a member */
    int ranks[PIPA_MAX_RANKS];
    uint32_t seq;             /* collective call counter */
    char name[16];            /* "data", "tensor", ...: errors say "in the data group (ranks
                               * 0, 2): ..."; empty: "#<id>" */
} pipa_group_t;

/* Group of the given world ranks (in group order). id must be the same on all members and
 * differ between groups that are used at the same time. */
pipa_status pipa_group_init(pipa_group_t *g, pipa_comm_t *c, int id, const int *ranks, int n);
void pipa_group_world(pipa_group_t *g, pipa_comm_t *c);  /* named "world" */
/* Names the group in every error of its collectives (at most 15 characters kept). */
void pipa_group_set_name(pipa_group_t *g, const char *name);
/* Internal: s, with the last error prefixed by the group's name and members (once). */
pipa_status pipa__coll_named(const pipa_group_t *g, pipa_status s);

pipa_status pipa_barrier(pipa_group_t *g);
/* buf of d on every member; root is a group index. */
pipa_status pipa_bcast(pipa_group_t *g, int root, const pipa_desc_t *d, void *buf);
/* Each member sends bytes from sendbuf; root receives size*bytes into recvbuf in group order. */
pipa_status pipa_gather(pipa_group_t *g, int root, const void *sendbuf, size_t bytes, void *recvbuf);
/* Every member receives size*bytes into recvbuf: member i's bytes at recvbuf + i*bytes (its own
 * copied from sendbuf, which may be that very place). Each member sends its bytes straight to
 * every other (all receives posted first): one message latency, size-1 sends per member. */
pipa_status pipa_allgather(pipa_group_t *g, const void *sendbuf, size_t bytes, void *recvbuf);

/* ---- all-reduce (allreduce.c) ---------------------------------------------------------------
 * The sum of every member's f32 or f64 array, in place, with a fixed order of additions per
 * algorithm, so every member and every run gets identical bits (a+b == b+a to the bit; only the
 * grouping matters, and it is fixed):
 *   DIRECT  member 0 adds the arrays in group order, ((a0 + a1) + a2) + ... + a[n-1], and
 *           broadcasts the sum. Two message latencies; member 0 moves (n-1) arrays.
 *   RING    the array is cut into n chunks (pipa_allreduce_ring_chunk); a reduce-scatter round
 *           the ring of members in group order (i sends to i+1) leaves chunk k summed at member k
 *           as (((a[k+1] + a[k+2]) + ...) + a[k+n-1]) + a[k] (indices mod n), and an all-gather
 *           copies each owner's chunk to all. Each member sends 2(n-1)/n of the array.
 *   AUTO    DIRECT up to PIPA_ALLREDUCE_RING_MIN_BYTES (n * element size), RING above: by byte
 *           count only, so every member picks the same. (For n <= 2 both orders give the same
 *           bits.)
 * A member that does not call makes the others fail with the deadline error (comm.h's timeout).
 * Every member must pass the same algorithm, dtype and count. */
typedef enum {
    PIPA_ALLREDUCE_AUTO = 0,
    PIPA_ALLREDUCE_DIRECT,
    PIPA_ALLREDUCE_RING,
} pipa_allreduce_algo_t;
/* The crossover, measured with pipa-bench allreduce (BENCHMARKS.md, "allreduce"): on the 2-core
 * development machine ring overtook direct at ~4 KiB with 2 ranks and ~128 KiB with 4 ranks
 * (oversubscribed); 64 KiB lies between, costing at most ~1.5x against the better one either way.
 * Byte count only: every member must make the same choice. */
#define PIPA_ALLREDUCE_RING_MIN_BYTES ((size_t)64 * 1024)
pipa_status pipa_allreduce_sum(pipa_group_t *g, pipa_allreduce_algo_t algo, pipa_dtype t,
                               void *buf, size_t n);
/* AUTO's choice for an array of that many bytes: DIRECT or RING. */
pipa_allreduce_algo_t pipa_allreduce_pick(size_t bytes);
const char *pipa_allreduce_algo_name(pipa_allreduce_algo_t a);
/* RING's chunk k of an array of n elements over `members`: the first n % members chunks hold
 * n / members + 1 elements, the rest n / members, in order. */
void pipa_allreduce_ring_chunk(size_t n, int members, int k, size_t *start, size_t *len);
/* The element-wise maximum, in place, by the same algorithms (AUTO by bytes). A maximum does not
 * depend on the order of its operands, so the result is the same on every member, for every
 * algorithm and run; a NaN anywhere gives NaN. (Of +0 and -0 either may be kept.) */
pipa_status pipa_allreduce_max(pipa_group_t *g, pipa_dtype t, void *buf, size_t n);
/* pipa_allreduce_sum with AUTO. */
pipa_status pipa_allreduce_sum_f32(pipa_group_t *g, float *buf, size_t n);
pipa_status pipa_allreduce_sum_f64(pipa_group_t *g, double *buf, size_t n);

/* ---- non-blocking all-reduce (allreduce_nb.c) -------------------------------------------------
 * The sum of every member's f32 or f64 array, in place, in group order, ((a0 + a1) + a2) + ...:
 * the bits of pipa_allreduce_sum's DIRECT for every group size (and of every algorithm with two
 * members), in two halves, so that the caller computes while it travels:
 *   start     posts this member's array to every other member and returns at once; buf must
 *             stay valid and unchanged until the wait returned (it is being sent)
 *   progress  pushes the sends on (a send larger than the transport takes at once moves only
 *             while its sender calls into the communicator): call it now and then while busy
 *   wait      receives the others' arrays, adds them in group order and leaves the sum in buf
 * Each member sends and receives (n-1) arrays: meant for the small groups of data parallelism.
 * Several may be outstanding on one group at once: every member must start them in the same
 * order with the same dtype and count, and may wait for them in any order. A member that does
 * not start makes the others' wait fail with the deadline error, naming the group; after a
 * failed start or wait, r holds nothing (sends under way go on from the communicator's copies). */
typedef struct {
    pipa_group_t *g;
    pipa_dtype t;
    void *buf;
    size_t n;
    uint64_t tag;
    pipa_req_t *sends;  /* (g->size) mine to each other member; NULL when nothing is outstanding */
} pipa_allreduce_req_t;
pipa_status pipa_allreduce_start(pipa_group_t *g, pipa_dtype t, void *buf, size_t n,
                                 pipa_allreduce_req_t *r);
pipa_status pipa_allreduce_progress(pipa_allreduce_req_t *r);
pipa_status pipa_allreduce_wait(pipa_allreduce_req_t *r);
/* Gives up an outstanding one (after some other error): its sends go on from the communicator's
 * copies, so buf is the caller's again at once; r holds nothing after. */
void pipa_allreduce_drop(pipa_allreduce_req_t *r);

/* Every member brings its status (with its message in pipa_last_error when it failed); every
 * member gets the same verdict: PIPA_OK when all succeeded, else the first failing member's
 * status and message, and *who its world rank. When the agreement itself fails (a peer died),
 * *who is -1 and the message is this member's own view. Lets every rank stop together, with the
 * real cause, whichever rank failed. */
pipa_status pipa_agree(pipa_group_t *g, pipa_status mine, int *who);
/* Every member's text, printed by the member at root in group order (one block per member). */
pipa_status pipa_print_ordered(pipa_group_t *g, const char *text);

/* Internal to the collectives (coll.c, allreduce.c): reserves `count` consecutive tags of the
 * group's tag space for one call (the same on every member) and returns the first; PIPA_OK if
 * this rank is a member and root a member index, else the error. */
uint64_t pipa__coll_tags(pipa_group_t *g, uint64_t count);
pipa_status pipa__coll_check_member(pipa_group_t *g, int root);
/* After a collective's failure (or, s PIPA_OK, when it is given up): detaches the sends among
 * req[0..n) (they go on from the communicator's copies: their buffers are the caller's again)
 * and returns s with the error message it had. */
pipa_status pipa__coll_drop_sends(pipa_comm_t *c, pipa_req_t *req, size_t n, pipa_status s);
/* Internal to the all-reduces (allreduce.c, allreduce_nb.c): dst[i] += src[i] for f32 or f64;
 * PIPA_OK if t is f32 or f64, n not too large and this rank a member, else the error. */
void pipa__allreduce_add(pipa_dtype t, void *dst, const void *src, size_t n);
pipa_status pipa__allreduce_check(pipa_group_t *g, pipa_dtype t, size_t n);

#endif
