/* comm.h: point-to-point messaging between ranks, and collectives on groups of ranks.
 *
 * A message is matched by (source, tag) and carries a header: dtype and shape (pipa_desc_t).
 * A receive states what it expects; a message with another dtype or shape is an error that names
 * both ranks, the tag and both shapes, and its payload is never copied into the receive buffer.
 * Every wait has a deadline (pipa_comm_set_timeout, or PIPA_TIMEOUT seconds in the environment,
 * default 300 s); a peer that died is noticed within about a second.
 *
 * The transport is shared memory between the processes of one run (see shm.c): ranks started by
 * pipa-run find the run's segment through the environment; a program started alone is a world of
 * one rank. Tags below 2^32 are the caller's; collectives use their own tag space. */
#ifndef PIPA_COMM_H
#define PIPA_COMM_H

#include <stddef.h>
#include <stdint.h>

#include "status.h"

typedef enum { PIPA_F32 = 0, PIPA_F16, PIPA_BF16, PIPA_I32, PIPA_I64, PIPA_U8, PIPA_F64 } pipa_dtype;
size_t pipa_dtype_size(pipa_dtype t);
const char *pipa_dtype_name(pipa_dtype t);

#define PIPA_MAX_DIMS 4
typedef struct {
    pipa_dtype dtype;
    int ndim;                      /* 0..PIPA_MAX_DIMS; 0 is a scalar */
    int64_t shape[PIPA_MAX_DIMS];
} pipa_desc_t;

pipa_desc_t pipa_desc(pipa_dtype t, int ndim, const int64_t *shape);
pipa_desc_t pipa_desc_1d(pipa_dtype t, int64_t n);
size_t pipa_desc_bytes(const pipa_desc_t *d);
/* "f32[2,10,128]" into buf (at least 96 bytes). Returns buf. */
char *pipa_desc_str(const pipa_desc_t *d, char *buf, size_t len);

typedef struct pipa_comm pipa_comm_t;

/* Joins the run this process belongs to (from RANK, WORLD_SIZE and the launcher's segment), or
 * makes a world of one when the program was started without pipa-run. */
pipa_status pipa_comm_init(pipa_comm_t **out);
void pipa_comm_free(pipa_comm_t *c);
int pipa_comm_rank(const pipa_comm_t *c);
int pipa_comm_size(const pipa_comm_t *c);
const char *pipa_comm_transport_name(const pipa_comm_t *c);
void pipa_comm_set_timeout(pipa_comm_t *c, double seconds);
double pipa_comm_timeout(const pipa_comm_t *c);

/* A request, owned by the caller; it must stay in place until the operation completed. */
typedef struct {
    int kind;                 /* internal: 0 none, 1 send, 2 recv */
    int peer;
    uint64_t tag;
    pipa_desc_t desc;
    void *buf;                /* recv: destination; send: source */
    size_t bytes;
    size_t done_bytes;        /* bytes moved so far */
    int matched;              /* recv: header matched */
    int complete;
    void *internal;
} pipa_req_t;

/* Non-blocking send: buf must stay valid and unchanged until the request completes. Small
 * messages complete at once (copied into shared memory). */
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
 * polls, messages from peers that wait for ring space are taken in (kept until received), so
 * a send never waits on a rank that is itself waiting: sends never block. */
pipa_status pipa_wait(pipa_comm_t *c, pipa_req_t *req);
/* Blocks until every send this rank posted or detached has left (is in its receiver's ring, which
 * outlives this process): call it before a process may end with sends under way. */
pipa_status pipa_flush(pipa_comm_t *c);
pipa_status pipa_send(pipa_comm_t *c, int dst, uint64_t tag, const pipa_desc_t *d, const void *buf);
pipa_status pipa_recv(pipa_comm_t *c, int src, uint64_t tag, const pipa_desc_t *d, void *buf);

/* ---- groups and collectives ------------------------------------------------------------ */
#define PIPA_MAX_RANKS 256
typedef struct {
    pipa_comm_t *comm;
    int id;                   /* distinguishes the tag spaces of groups */
    int size;
    int me;                   /* my index in ranks[], or -1 if not a member */
    int ranks[PIPA_MAX_RANKS];
    uint32_t seq;             /* collective call counter */
} pipa_group_t;

/* Group of the given world ranks (in group order). id must be the same on all members and
 * differ between groups that are used at the same time. */
pipa_status pipa_group_init(pipa_group_t *g, pipa_comm_t *c, int id, const int *ranks, int n);
void pipa_group_world(pipa_group_t *g, pipa_comm_t *c);

pipa_status pipa_barrier(pipa_group_t *g);
/* buf of d on every member; root is a group index. */
pipa_status pipa_bcast(pipa_group_t *g, int root, const pipa_desc_t *d, void *buf);
/* Each member sends bytes from sendbuf; root receives size*bytes into recvbuf in group order. */
pipa_status pipa_gather(pipa_group_t *g, int root, const void *sendbuf, size_t bytes, void *recvbuf);
/* Sum of f32 or f64 arrays, summed in group order (rank 0 first) so every rank and run gets
 * identical bits. In place. */
pipa_status pipa_allreduce_sum_f32(pipa_group_t *g, float *buf, size_t n);
pipa_status pipa_allreduce_sum_f64(pipa_group_t *g, double *buf, size_t n);
/* Every member brings its status (with its message in pipa_last_error when it failed); every
 * member gets the same verdict: PIPA_OK when all succeeded, else the first failing member's
 * status and message, and *who its world rank. When the agreement itself fails (a peer died),
 * *who is -1 and the message is this member's own view. Lets every rank stop together, with the
 * real cause, whichever rank failed. */
pipa_status pipa_agree(pipa_group_t *g, pipa_status mine, int *who);
/* Every member's text, printed by the member at root in group order (one block per member). */
pipa_status pipa_print_ordered(pipa_group_t *g, const char *text);

#endif
