/* shm_internal.h: shared between the files of the shared-memory transport (shm.c, shm_queue.c,
 * shm_unexpected.c). Nothing outside them includes it: the communicator reaches shm only through
 * its table of functions (pipa__transport_shm, transport.h). */
#ifndef PIPA_SHM_INTERNAL_H
#define PIPA_SHM_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "comm/transport.h"

/* A message that arrived before anyone asked for it, copied out of the ring because its sender
 * needed the space. */
typedef struct pipa__unexpected {
    struct pipa__unexpected *next;
    uint64_t tag;
    pipa_desc_t desc;
    size_t bytes, have;
    char *data;
} pipa__unexpected_t;

/* My private state for one peer. */
typedef struct {
    uint64_t head, tail;          /* as sender to the peer: published / reclaimed bytes */
    uint64_t skip_from, skip_to;  /* my last jump back to the ring's start */
    pipa_req_t *pending, *pending_last; /* sends waiting for ring space, chained by ->internal */
    int blocked;                  /* what I last told the peer's channel: I wait for space */
    uint64_t rd;                  /* as receiver from the peer: oldest unconsumed record */
    uint64_t rd_published;        /* what I last told the sender it may reuse */
    pipa__unexpected_t *unexpected;
} pipa__peer_t;

typedef struct {
    void *base;
    size_t bytes;
    uint64_t ring, frag;
    int world, rank;
    pipa__peer_t *peers;          /* (world) */
} pipa__shm_t;

/* shm_queue.c: the sends waiting for ring space */
/* Takes a send whose wait failed out of the queue: nothing touches req or its buffer after. */
void pipa__shm_cancel(pipa__shm_t *t, pipa_req_t *req);
/* Takes over a send that has not completed: copies what is left of its message, sends from the
 * copy, and lets go of req and its buffer. */
pipa_status pipa__shm_detach(pipa__shm_t *t, pipa_req_t *req);
/* The oldest send under way to the lowest peer that has one, or NULL when every send has left. */
pipa_req_t *pipa__shm_pending_any(const pipa__shm_t *t);
/* Frees the owned copies still queued (the process leaves). */
void pipa__shm_queue_clear(pipa__peer_t *pe);

/* shm_unexpected.c */
/* 1 if the fragment at frag_off of tag starts a message or continues one in the list (else it
 * belongs to a receive under way and must stay in the ring). */
int pipa__unexpected_wants(const pipa__peer_t *pe, uint64_t tag, size_t frag_off);
pipa_status pipa__unexpected_add(pipa__peer_t *pe, uint64_t tag, const pipa_desc_t *d,
                                 size_t msg_bytes, size_t frag_off, const void *data, size_t n);
/* For a receive that has matched nothing yet: if a message with its tag is in the list (the
 * oldest one), reports its header (req->got, PIPA_MATCH_HEADER; req->internal remembers the
 * entry). Once the communicator accepted it: copies what has arrived of it into req. */
pipa_status pipa__unexpected_take(pipa__peer_t *pe, pipa_req_t *req);
void pipa__unexpected_clear(pipa__peer_t *pe);

#endif
