/* shm_unexpected.c: messages copied out of a ring before they were asked for.
 *
 * The receiver normally matches messages in place in the sender's ring. When the ring fills with
 * messages nobody has asked for yet while the receiver waits for another tag or another peer,
 * they are copied here so the sender can go on: arrival order never matters, and nothing
 * deadlocks on it. Memory: at most the messages sent and not yet received, which a checked plan
 * bounds. */
#include <stdlib.h>
#include <string.h>

#include "comm/shm_internal.h"

int pipa__unexpected_wants(const pipa__peer_t *pe, uint64_t tag, size_t frag_off)
{
    if (frag_off == 0) return 1;
    for (const pipa__unexpected_t *u = pe->unexpected; u; u = u->next)
        if (u->tag == tag && u->have == frag_off && u->have < u->bytes) return 1;
    return 0;
}

/* Adds a fragment: it continues the newest unfinished entry of its tag, or starts a new one. */
pipa_status pipa__unexpected_add(pipa__peer_t *pe, uint64_t tag, const pipa_desc_t *d,
                                 size_t msg_bytes, size_t frag_off, const void *data, size_t n)
{
    pipa__unexpected_t **link = &pe->unexpected, *u = NULL;
    for (; *link; link = &(*link)->next)
        if ((*link)->tag == tag && (*link)->have == frag_off && (*link)->have < (*link)->bytes)
            u = *link;
    if (!u) {
        PIPA_ASSERT(frag_off == 0);
        u = calloc(1, sizeof *u);
        if (!u) return pipa__fail(PIPA_ERR_NOMEM, "out of memory for an unexpected message");
        u->data = malloc(msg_bytes ? msg_bytes : 1);
        if (!u->data) {
            free(u);
            return pipa__fail(PIPA_ERR_NOMEM, "out of memory for an unexpected message");
        }
        u->tag = tag;
        u->desc = *d;
        u->bytes = msg_bytes;
        *link = u; /* appended: entries stay in arrival order */
    }
    if (n > u->bytes - u->have) n = u->bytes - u->have;
    memcpy(u->data + u->have, data, n);
    u->have += n;
    return PIPA_OK;
}

/* The header is reported first and the payload copied only once accepted (transport.h), so a
 * message the communicator refuses stays in the list, untouched. */
pipa_status pipa__unexpected_take(pipa__peer_t *pe, pipa_req_t *req)
{
    pipa__unexpected_t **link = &pe->unexpected;
    if (req->match == PIPA_MATCH_NONE) {
        while (*link && (*link)->tag != req->tag) link = &(*link)->next;
        if (!*link) return PIPA_OK;
        req->got = (*link)->desc;
        req->match = PIPA_MATCH_HEADER;
        req->internal = *link;
        return PIPA_OK;
    }
    PIPA_ASSERT(req->match == PIPA_MATCH_ACCEPTED && req->internal);
    while (*link != req->internal) link = &(*link)->next;
    pipa__unexpected_t *u = *link;
    PIPA_ASSERT(u->bytes == req->bytes);
    if (u->have) memcpy(req->buf, u->data, u->have);
    req->done_bytes = u->have;
    req->complete = u->have == req->bytes;
    req->internal = NULL;
    *link = u->next;
    free(u->data);
    free(u);
    return PIPA_OK;
}

void pipa__unexpected_clear(pipa__peer_t *pe)
{
    while (pe->unexpected) {
        pipa__unexpected_t *u = pe->unexpected;
        pe->unexpected = u->next;
        free(u->data);
        free(u);
    }
}
