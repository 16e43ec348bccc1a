/* coll.c: groups of ranks and the collectives on them, written once over point-to-point.
 *
 * Every collective here goes through the group's root in group order, whatever the timing.
 * Linear algorithms: pipa's groups are small (the stages of one pipeline); trees can come later.
 * The all-reduce, with its two algorithms and their fixed orders, is in allreduce.c. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "comm/comm.h"

#define COLL_TAG_BIT (1ull << 63)

static uint64_t coll_tag(pipa_group_t *g) { return COLL_TAG_BIT | ((uint64_t)g->id << 40) | g->seq; }

uint64_t pipa__coll_tags(pipa_group_t *g, uint64_t count)
{
    uint64_t first = coll_tag(g);
    g->seq += (uint32_t)count;
    return first;
}

pipa_status pipa_group_init(pipa_group_t *g, pipa_comm_t *c, int id, const int *ranks, int n)
{
    if (n < 1 || n > PIPA_MAX_RANKS) return pipa__fail(PIPA_ERR_ARG, "group of %d ranks", n);
    if (id < 0 || id >= (1 << 22)) return pipa__fail(PIPA_ERR_ARG, "group id %d out of range", id);
    memset(g, 0, sizeof *g);
    g->comm = c;
    g->id = id;
    g->size = n;
    g->me = -1;
    for (int i = 0; i < n; i++) {
        if (ranks[i] < 0 || ranks[i] >= pipa_comm_size(c))
            return pipa__fail(PIPA_ERR_ARG, "group member %d is not a rank", ranks[i]);
        g->ranks[i] = ranks[i];
        if (ranks[i] == pipa_comm_rank(c)) g->me = i;
    }
    return PIPA_OK;
}

void pipa_group_world(pipa_group_t *g, pipa_comm_t *c)
{
    int n = pipa_comm_size(c), ranks[PIPA_MAX_RANKS];
    for (int i = 0; i < n; i++) ranks[i] = i;
    pipa_status s = pipa_group_init(g, c, 0, ranks, n);
    PIPA_ASSERT(s == PIPA_OK);
    pipa_group_set_name(g, "world");
}

pipa_status pipa__coll_check_member(pipa_group_t *g, int root)
{
    if (g->me < 0)
        return pipa__fail(PIPA_ERR_STATE, "rank %d called a collective of a group it is not in",
                          pipa_comm_rank(g->comm));
    if (root < 0 || root >= g->size)
        return pipa__fail(PIPA_ERR_ARG, "collective root %d not in a group of %d", root, g->size);
    return PIPA_OK;
}

/* One step of a collective: root receives from / sends to every other member, in group order. */
void pipa_group_set_name(pipa_group_t *g, const char *name)
{
    snprintf(g->name, sizeof g->name, "%s", name);
}

/* "0, 2, 4" (the first 8 members, then how many in all) into buf. */
static void member_list(const pipa_group_t *g, char *buf, size_t len)
{
    size_t used = 0;
    buf[0] = 0;
    for (int i = 0; i < g->size && i < 8 && used < len; i++)
        used += (size_t)snprintf(buf + used, len - used, "%s%d", i ? ", " : "", g->ranks[i]);
    if (g->size > 8 && used < len) snprintf(buf + used, len - used, ", ... (%d ranks)", g->size);
}

/* A collective's failure names its group once (the first collective to see it: a barrier's
 * gather does not name it twice): "in the data group (ranks 0, 2): <what went wrong>". */
pipa_status pipa__coll_named(const pipa_group_t *g, pipa_status s)
{
    if (s == PIPA_OK || strstr(pipa_last_error(), " group (ranks ")) return s;
    char what[1024], who[96], id[24];
    snprintf(what, sizeof what, "%s", pipa_last_error());
    member_list(g, who, sizeof who);
    snprintf(id, sizeof id, "%d", g->id);
    return pipa__fail(s, "in the %s%s group (ranks %s): %s", g->name[0] ? g->name : "#",
                      g->name[0] ? "" : id, who, what);
}

static pipa_status bcast(pipa_group_t *g, int root, const pipa_desc_t *d, void *buf)
{
    PIPA_TRY(pipa__coll_check_member(g, root));
    uint64_t tag = coll_tag(g);
    g->seq++;
    if (g->me != root) return pipa_recv(g->comm, g->ranks[root], tag, d, buf);
    for (int i = 0; i < g->size; i++)
        if (i != root) PIPA_TRY(pipa_send(g->comm, g->ranks[i], tag, d, buf));
    return PIPA_OK;
}

pipa_status pipa_bcast(pipa_group_t *g, int root, const pipa_desc_t *d, void *buf)
{
    return pipa__coll_named(g, bcast(g, root, d, buf));
}

static pipa_status gather(pipa_group_t *g, int root, const void *sendbuf, size_t bytes,
                          void *recvbuf)
{
    PIPA_TRY(pipa__coll_check_member(g, root));
    uint64_t tag = coll_tag(g);
    g->seq++;
    pipa_desc_t d = pipa_desc_1d(PIPA_U8, (int64_t)bytes);
    if (g->me != root) return pipa_send(g->comm, g->ranks[root], tag, &d, sendbuf);
    for (int i = 0; i < g->size; i++) {
        char *dst = (char *)recvbuf + (size_t)i * bytes;
        if (i == root) memcpy(dst, sendbuf, bytes);
        else PIPA_TRY(pipa_recv(g->comm, g->ranks[i], tag, &d, dst));
    }
    return PIPA_OK;
}

pipa_status pipa_gather(pipa_group_t *g, int root, const void *sendbuf, size_t bytes, void *recvbuf)
{
    return pipa__coll_named(g, gather(g, root, sendbuf, bytes, recvbuf));
}

pipa_status pipa__coll_drop_sends(pipa_comm_t *c, pipa_req_t *req, size_t n, pipa_status s)
{
    char why[1024];
    snprintf(why, sizeof why, "%s", pipa_last_error());
    for (size_t i = 0; i < n; i++)
        if (req[i].kind == PIPA_REQ_SEND) (void)pipa_detach(c, &req[i]);
    return s == PIPA_OK ? s : pipa__fail(s, "%s", why);
}

/* Every receive posted, then every send, then one wait for all: the members' messages cross. */
static pipa_status allgather(pipa_group_t *g, const void *sendbuf, size_t bytes, void *recvbuf)
{
    PIPA_TRY(pipa__coll_check_member(g, 0));
    uint64_t tag = coll_tag(g);
    g->seq++;
    char *mine = (char *)recvbuf + (size_t)g->me * bytes;
    if (mine != (const char *)sendbuf) memmove(mine, sendbuf, bytes);
    if (g->size == 1) return PIPA_OK;
    pipa_desc_t d = pipa_desc_1d(PIPA_U8, (int64_t)bytes);
    pipa_req_t *req = calloc(2 * (size_t)g->size, sizeof *req);
    if (!req) return pipa__fail(PIPA_ERR_NOMEM, "out of memory in all-gather");
    int n = 0;
    pipa_status s = PIPA_OK;
    for (int i = 0; i < g->size && s == PIPA_OK; i++)
        if (i != g->me)
            s = pipa_irecv(g->comm, g->ranks[i], tag, &d, (char *)recvbuf + (size_t)i * bytes,
                           &req[n++]);
    for (int i = 0; i < g->size && s == PIPA_OK; i++)
        if (i != g->me) s = pipa_isend(g->comm, g->ranks[i], tag, &d, mine, &req[n++]);
    for (int i = 0; i < n && s == PIPA_OK; i++) s = pipa_wait(g->comm, &req[i]);
    if (s != PIPA_OK) s = pipa__coll_drop_sends(g->comm, req, (size_t)n, s);
    free(req);
    return s;
}

pipa_status pipa_allgather(pipa_group_t *g, const void *sendbuf, size_t bytes, void *recvbuf)
{
    return pipa__coll_named(g, allgather(g, sendbuf, bytes, recvbuf));
}

pipa_status pipa_barrier(pipa_group_t *g)
{
    char none = 0;
    pipa_desc_t d = pipa_desc_1d(PIPA_U8, 0);
    pipa_status s = gather(g, 0, &none, 0, &none);
    if (s == PIPA_OK) s = bcast(g, 0, &d, &none);
    return pipa__coll_named(g, s);
}

/* Root prints its own text, then each member's, in group order, then flushes stdout. */
pipa_status pipa_print_ordered(pipa_group_t *g, const char *text)
{
    int64_t len = (int64_t)strlen(text);
    int64_t lens[PIPA_MAX_RANKS];
    PIPA_TRY(pipa_gather(g, 0, &len, sizeof len, lens));
    uint64_t tag = coll_tag(g);
    g->seq++;
    if (g->me != 0) {
        pipa_desc_t d = pipa_desc_1d(PIPA_U8, len);
        return pipa_send(g->comm, g->ranks[0], tag, &d, text);
    }
    fputs(text, stdout);
    for (int i = 1; i < g->size; i++) {
        pipa_desc_t d = pipa_desc_1d(PIPA_U8, lens[i]);
        char *buf = malloc((size_t)lens[i] + 1);
        if (!buf) return pipa__fail(PIPA_ERR_NOMEM, "out of memory printing rank reports");
        pipa_status s = pipa_recv(g->comm, g->ranks[i], tag, &d, buf);
        if (s == PIPA_OK) fwrite(buf, 1, (size_t)lens[i], stdout);
        free(buf);
        PIPA_TRY(s);
    }
    fflush(stdout);
    return PIPA_OK;
}

/* ---- agreement ---------------------------------------------------------------------------- */

/* What each member tells the root: its status and, on failure, its message. */
typedef struct {
    int32_t status;
    int32_t rank;
    char msg[480];
} agree_rec_t;

/* The first failing member's record, in group order, chosen at root (which receives the records
 * one at a time: no allocation that could fail on one rank only) and broadcast to all. */
static pipa_status agree_exchange(pipa_group_t *g, agree_rec_t *rec)
{
    PIPA_TRY(pipa__coll_check_member(g, 0));
    uint64_t tag = coll_tag(g);
    g->seq++;
    pipa_desc_t d = pipa_desc_1d(PIPA_U8, sizeof *rec);
    if (g->me != 0) PIPA_TRY(pipa_send(g->comm, g->ranks[0], tag, &d, rec));
    for (int i = 1; g->me == 0 && i < g->size; i++) {
        agree_rec_t other;
        PIPA_TRY(pipa_recv(g->comm, g->ranks[i], tag, &d, &other));
        if (rec->status == PIPA_OK && other.status != PIPA_OK) *rec = other;
    }
    return pipa_bcast(g, 0, &d, rec);
}

pipa_status pipa_agree(pipa_group_t *g, pipa_status mine, int *who)
{
    agree_rec_t rec = {.status = mine, .rank = pipa_comm_rank(g->comm)};
    if (mine != PIPA_OK) snprintf(rec.msg, sizeof rec.msg, "%s", pipa_last_error());
    *who = -1;
    pipa_status s = agree_exchange(g, &rec);
    if (s != PIPA_OK) {
        char why[256];
        snprintf(why, sizeof why, "%s", pipa_last_error());
        if (mine == PIPA_OK)
            return pipa__fail(s, "agreeing with the other ranks: %s", why);
        return pipa__fail(mine, "%s (then agreeing with the other ranks failed: %s)", rec.msg, why);
    }
    if (rec.status == PIPA_OK) return PIPA_OK;
    *who = rec.rank;
    return pipa__fail(rec.status, "%s", rec.msg);
}
