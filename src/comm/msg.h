/* msg.h: what a message is: its description (dtype and shape, the header every message carries)
 * and the request that moves one. Shared by the communicator (comm.h) and the transports under it
 * (transport.h), so that a transport needs nothing from the communicator.
 *
 * Left out: matching, deadlines and the header check (comm.c); moving bytes (the transports). */
#ifndef PIPA_MSG_H
#define PIPA_MSG_H

#include <stddef.h>
#include <stdint.h>

#include "base/dtype.h"
#include "base/status.h"

#define PIPA_MAX_RANKS 256

#define PIPA_MAX_DIMS 4
typedef struct {
    pipa_dtype dtype;
    int ndim;                      /* 0..PIPA_MAX_DIMS; 0 is a scalar */
    int64_t shape[PIPA_MAX_DIMS];
} pipa_desc_t;

pipa_desc_t pipa_desc(pipa_dtype t, int ndim, const int64_t *shape);
pipa_desc_t pipa_desc_1d(pipa_dtype t, int64_t n);
size_t pipa_desc_bytes(const pipa_desc_t *d);
/* 1 if a and b have the same dtype and shape. */
int pipa_desc_equal(const pipa_desc_t *a, const pipa_desc_t *b);
/* "f32[2,10,128]" into buf (at least 96 bytes). Returns buf. */
char *pipa_desc_str(const pipa_desc_t *d, char *buf, size_t len);

/* What a request is. NONE (0) is an empty request, or one its owner is done with. A detached
 * send (pipa_detach) is a copy the transport owns: it sends from its own buffer and frees both
 * once the last byte is out. */
typedef enum {
    PIPA_REQ_NONE = 0,
    PIPA_REQ_SEND,
    PIPA_REQ_RECV,
    PIPA_REQ_SEND_DETACHED,
} pipa_req_kind_t;

/* How far a receive has matched: its header comes first (the transport fills `got` and stops),
 * the communicator checks it against `desc` and accepts it; only then does the payload move. */
typedef enum {
    PIPA_MATCH_NONE = 0,   /* nothing with the tag has arrived yet */
    PIPA_MATCH_HEADER,     /* got holds the sender's header, not yet checked */
    PIPA_MATCH_ACCEPTED,   /* the header is what the receive expects: payload may be copied */
} pipa_match_t;

/* A request, owned by the caller; it must stay in place until the operation completed. */
typedef struct {
    pipa_req_kind_t kind;
    int peer;
    uint64_t tag;
    pipa_desc_t desc;         /* send: what is sent; recv: what is expected */
    void *buf;                /* recv: destination; send: source */
    size_t bytes;
    size_t done_bytes;        /* bytes moved so far */
    pipa_match_t match;       /* recv */
    pipa_desc_t got;          /* recv: the header that arrived (match >= HEADER) */
    int complete;
    void *internal;           /* the transport's */
} pipa_req_t;

#endif
