/* transport_mpi.h: what the MPI transport's files share (transport_mpi.c: joining, leaving and
 * the table; transport_mpi_send.c: sending; transport_mpi_recv.c: receiving). Included by those
 * three only: the only pipa files that include mpi.h.
 *
 * The wire: every pipa message is one MPI message on HDR_TAG carrying its header (the full 64-bit
 * tag, dtype, byte count, then only the ndim dimensions it has), with the payload inline when it
 * is small (INLINE_MAX: one message, one copy on each side), else followed by messages on
 * DATA_TAG with the payload, sent straight from the caller's buffer and received straight into
 * the receive's (in pieces of at most CHUNK bytes: MPI counts are int). Matching is ours, by
 * (source, full tag), as in shm: MPI's int tags never have to hold pipa's 64-bit ones. */
#ifndef PIPA_TRANSPORT_MPI_H
#define PIPA_TRANSPORT_MPI_H

#include <mpi.h>
#include <stddef.h>

#include "comm/transport.h"

#define HDR_TAG 1
#define DATA_TAG 2
#define INLINE_MAX 4096             /* payloads up to this travel inside their header's message */
#define CHUNK ((size_t)1 << 30)     /* the largest piece of a payload in one MPI message */
/* Header messages are received into SLOTS buffers whose receives are always posted (persistent,
 * from any source): a header lands straight in one, where MPI_Improbe + MPI_Mrecv made MPI park
 * it in its unexpected queue first and copy it out after (two more passes through MPI's
 * matching per message: most of pipa's small-message cost over raw MPI). More headers in
 * flight than slots wait in MPI's own queue, in order, until a slot is posted again. */
#define SLOTS 32
#define FREE_MAX 64                 /* records kept for reuse, sends and receives each */

/* What travels first, for every message: the fixed part, then shape[0..ndim). */
typedef struct {
    uint64_t tag;
    uint64_t bytes;
    int32_t dtype, ndim;
    int64_t shape[PIPA_MAX_DIMS];
} wire_hdr_t;

#define HDR_FIXED offsetof(wire_hdr_t, shape)
#define SLOT_BYTES (sizeof(wire_hdr_t) + INLINE_MAX) /* the largest header message */

/* A send under way: its header (and inline payload) lives here until MPI is done with it. */
typedef struct out {
    struct out *next;
    pipa_req_t *req;      /* the caller's; &own once the caller has it back (inline, cancelled) */
    pipa_req_t own;       /* what oldest_send reports for a send the caller no longer holds */
    int nreq, cap;        /* requests in use; cap: room for an inline send (reusable) or not */
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
    int nreq, cap;        /* payload pieces still arriving; room for cap (1: reusable) */
    MPI_Request *r;       /* (nreq) the payload's pieces */
} in_t;

typedef struct {
    MPI_Comm comm;        /* pipa's own duplicate of MPI_COMM_WORLD */
    int rank, world;
    double timeout;       /* how long detach may wait for MPI to take a send */
    int busy;             /* this rank has a core of its own: waits never pause (busy_wait) */
    out_t *outs;          /* sends under way, in posting order */
    in_t *posted;         /* receives waiting for their message, in posting order */
    in_t *ins;            /* the unexpected list, in arrival order */
    out_t *free_outs;     /* inline send records for reuse (no malloc per small send) */
    in_t *free_ins;       /* one-piece receive records for reuse */
    int n_free_outs, n_free_ins;
    MPI_Request slot_req[SLOTS]; /* the header receives, posted in ring order from slot_head */
    char *slots;          /* (SLOTS, SLOT_BYTES) their buffers */
    int slot_head;        /* the slot whose receive was posted first: headers land in order */
    int slots_on;         /* slot_req were created (leave cancels and frees them) */
    pipa_status send_err; /* a send MPI refused (post_send cannot fail): reported by progress */
    char send_why[256];
} mpi_t;

pipa_status pipa__mpi_fail(int rc, const char *call, int rank);

#define MPI_TRY(t, call)                                                                       \
    do {                                                                                       \
        int rc_ = (call);                                                                      \
        if (rc_ != MPI_SUCCESS) return pipa__mpi_fail(rc_, #call, (t)->rank);                 \
    } while (0)

static inline int pipa__mpi_pieces(size_t bytes) { return (int)((bytes + CHUNK - 1) / CHUNK); }
static inline size_t pipa__mpi_hdr_size(int ndim) { return HDR_FIXED + (size_t)ndim * 8; }

/* transport_mpi_send.c */
void pipa__mpi_post_send(void *state, pipa_req_t *req);
pipa_status pipa__mpi_sends_test(mpi_t *t);
pipa_req_t *pipa__mpi_oldest_send(void *state);
void pipa__mpi_cancel(void *state, pipa_req_t *req);
pipa_status pipa__mpi_detach(void *state, pipa_req_t *req);
void pipa__mpi_sends_free(mpi_t *t);

/* transport_mpi_recv.c */
pipa_status pipa__mpi_slots_start(mpi_t *t);
pipa_status pipa__mpi_post_recv(void *state, pipa_req_t *req);
/* Takes in the headers that have arrived, in order, from any source; stops early once `until`
 * (a receive, or NULL) has found its message. */
pipa_status pipa__mpi_drain(mpi_t *t, const pipa_req_t *until);
void pipa__mpi_recv_match(mpi_t *t, pipa_req_t *req);
pipa_status pipa__mpi_payload_poll(mpi_t *t, pipa_req_t *req);
void pipa__mpi_recvs_free(mpi_t *t);

/* transport_mpi.c: every poll's work: a refused send reported, sends completed, headers in. */
pipa_status pipa__mpi_progress_all(mpi_t *t, const pipa_req_t *until);

#endif
