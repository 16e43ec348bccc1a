/* test_transport: the communicator over a transport that is not shm, brought by this file alone:
 * a loopback transport for a world of one ("loop", about 100 lines here). It shows the seam is
 * complete: the header check and its named error, deadlines, liveness, flush, detach, the wait
 * loop's sleep and the collectives all work above a transport that does none of them itself.
 * Also: the registered table (shm, the default, with every function) and that a world started
 * without pipa-run reports the shm transport by its table's name. Run alone (no pipa-run). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "check.h"
#include "comm/comm.h"
#include "comm/transport.h"

/* ---- the loop transport: what a rank sends to itself, kept in arrival order ------------------ */

typedef struct msg {
    struct msg *next;
    uint64_t tag;
    pipa_desc_t desc;
    size_t bytes;
    char data[];
} msg_t;

typedef struct {
    pipa_req_t *pending[16];  /* posted sends not moved yet, oldest first */
    int npending;
    int hold;                 /* while set, progress moves no send (a peer that takes nothing) */
    msg_t *arrived;
    int recvs_posted;
    int naps;                 /* wait_change calls: the generic wait loop sleeps through us */
    const char *gone;         /* what peer_gone answers */
} loop_t;

static loop_t *live; /* the joined loop, for the checks to steer (the comm's state is opaque) */

static pipa_status loop_join(int rank, int world, void **state)
{
    if (rank > 0 || world != 1) return pipa__fail(PIPA_ERR_ARG, "loop: a world of one only");
    *state = live = calloc(1, sizeof(loop_t));
    return *state ? PIPA_OK : pipa__fail(PIPA_ERR_NOMEM, "out of memory");
}

static void loop_leave(void *state)
{
    loop_t *l = state;
    while (l && l->arrived) {
        msg_t *m = l->arrived;
        l->arrived = m->next;
        free(m);
    }
    free(l);
}

static void loop_post_send(void *state, pipa_req_t *req)
{
    loop_t *l = state;
    PIPA_ASSERT(l->npending < 16);
    l->pending[l->npending++] = req;
}

static void deliver(loop_t *l, pipa_req_t *req)
{
    msg_t *m = malloc(sizeof *m + req->bytes + 1), **end = &l->arrived;
    PIPA_ASSERT(m);
    m->next = NULL;
    m->tag = req->tag;
    m->desc = req->desc;
    m->bytes = req->bytes;
    memcpy(m->data, req->buf, req->bytes);
    while (*end) end = &(*end)->next;
    *end = m;
    req->done_bytes = req->bytes;
    req->complete = 1;
    if (req->kind == PIPA_REQ_SEND_DETACHED) free(req);
}

/* Header first, payload once accepted, as transport.h asks. */
static void poll_recv(loop_t *l, pipa_req_t *req)
{
    msg_t **link = &l->arrived;
    if (req->match == PIPA_MATCH_NONE) {
        while (*link && (*link)->tag != req->tag) link = &(*link)->next;
        if (!*link) return;
        req->got = (*link)->desc;
        req->match = PIPA_MATCH_HEADER;
        req->internal = *link;
        return;
    }
    while (*link != req->internal) link = &(*link)->next;
    msg_t *m = *link;
    memcpy(req->buf, m->data, m->bytes);
    req->done_bytes = m->bytes;
    req->complete = 1;
    *link = m->next;
    free(m);
}

static pipa_status loop_post_recv(void *state, pipa_req_t *req)
{
    ((loop_t *)state)->recvs_posted += req->kind == PIPA_REQ_RECV;
    return PIPA_OK;
}

static pipa_status loop_progress(void *state, pipa_req_t *req)
{
    loop_t *l = state;
    for (int i = 0; !l->hold && i < l->npending; i++) deliver(l, l->pending[i]);
    if (!l->hold) l->npending = 0;
    if (req && req->kind == PIPA_REQ_RECV && !req->complete) poll_recv(l, req);
    return PIPA_OK;
}

static pipa_status loop_accept(void *state, pipa_req_t *req)
{
    poll_recv(state, req);
    return PIPA_OK;
}

static pipa_req_t *loop_oldest_send(void *state)
{
    loop_t *l = state;
    return l->npending ? l->pending[0] : NULL;
}

static const char *loop_peer_gone(void *state, int peer)
{
    (void)peer;
    return ((loop_t *)state)->gone;
}

static void loop_wait_change(void *state, double seconds, int (*still_blocked)(void *), void *arg)
{
    loop_t *l = state;
    l->naps++;
    if (still_blocked(arg)) {
        struct timespec ts = {0, (long)(seconds * 1e9 / 10)};
        nanosleep(&ts, NULL);
    }
}

static int pending_index(loop_t *l, pipa_req_t *req)
{
    for (int i = 0; i < l->npending; i++)
        if (l->pending[i] == req) return i;
    return -1;
}

static void loop_cancel(void *state, pipa_req_t *req)
{
    loop_t *l = state;
    int i = pending_index(l, req);
    if (i < 0) return;
    memmove(l->pending + i, l->pending + i + 1, (size_t)(l->npending - i - 1) * sizeof(void *));
    l->npending--;
}

static pipa_status loop_detach(void *state, pipa_req_t *req)
{
    loop_t *l = state;
    int i = pending_index(l, req);
    if (i < 0) return PIPA_OK;
    pipa_req_t *own = malloc(sizeof *own + req->bytes + 1);
    if (!own) return pipa__fail(PIPA_ERR_NOMEM, "out of memory");
    *own = *req;
    own->kind = PIPA_REQ_SEND_DETACHED;
    own->buf = own + 1;
    memcpy(own->buf, req->buf, req->bytes);
    l->pending[i] = own;
    return PIPA_OK;
}

static const pipa_transport_ops_t loop_ops = {
    .name = "loop", .join = loop_join, .leave = loop_leave, .post_send = loop_post_send,
    .post_recv = loop_post_recv, .progress = loop_progress, .accept = loop_accept,
    .oldest_send = loop_oldest_send, .peer_gone = loop_peer_gone, .wait_change = loop_wait_change,
    .cancel = loop_cancel, .detach = loop_detach,
};

/* ---- the checks ----------------------------------------------------------------------------- */

static void check_table(void)
{
    const pipa_transport_ops_t *t = pipa__transport_default();
    CHECK(t && strcmp(t->name, "shm") == 0);
    CHECK(pipa__transport_find("shm") == t);
    CHECK(pipa__transport_find("loop") == NULL);
    /* shm has nothing to announce for a receive: no entry, so no call on the latency path */
    CHECK(t->post_recv == NULL);
    CHECK(t->join && t->leave && t->post_send && t->progress && t->accept &&
          t->oldest_send && t->peer_gone && t->wait_change && t->cancel && t->detach &&
          t->launch && t->launch_rank_env && t->launch_rank_ended && t->launch_end);
    pipa_comm_t *c;
    CHECKF(pipa_comm_init(&c) == PIPA_OK, "%s", pipa_last_error());
    CHECK(strcmp(pipa_comm_transport_name(c), "shm") == 0);
    pipa_comm_free(c);
}

static const int64_t shape23[2] = {2, 3}, shape32[2] = {3, 2};

/* Tags matched whatever the order; bytes intact. */
static void check_messages(pipa_comm_t *c)
{
    pipa_desc_t d = pipa_desc(PIPA_F32, 2, shape23);
    float a[6] = {1, 2, 3, 4, 5, 6}, b[6] = {7, 8, 9, 10, 11, 12}, got[6];
    pipa_req_t s1, s2;
    CHECK(pipa_isend(c, 0, 1, &d, a, &s1) == PIPA_OK && pipa_isend(c, 0, 2, &d, b, &s2) == PIPA_OK);
    CHECKF(pipa_recv(c, 0, 2, &d, got) == PIPA_OK, "%s", pipa_last_error());
    CHECK(memcmp(got, b, sizeof b) == 0);
    CHECKF(pipa_recv(c, 0, 1, &d, got) == PIPA_OK, "%s", pipa_last_error());
    CHECK(memcmp(got, a, sizeof a) == 0);
    CHECK(pipa_wait(c, &s1) == PIPA_OK && pipa_wait(c, &s2) == PIPA_OK);
    CHECK(live->recvs_posted == 2);
}

/* The loop transport checks no header: the communicator does, names both sides, and the payload
 * of the refused message never reaches the buffer. */
static void check_mismatch(pipa_comm_t *c)
{
    pipa_desc_t sent = pipa_desc(PIPA_F32, 2, shape23), want = pipa_desc(PIPA_F32, 2, shape32);
    float a[6] = {1, 2, 3, 4, 5, 6}, got[6] = {0};
    CHECK(pipa_send(c, 0, 9, &sent, a) == PIPA_OK);
    CHECK(pipa_recv(c, 0, 9, &want, got) == PIPA_ERR_MISMATCH);
    CHECKF(strcmp(pipa_last_error(),
                  "rank 0 expected f32[3,2] from rank 0 with tag 9, but rank 0 sent f32[2,3]") == 0,
           "%s", pipa_last_error());
    for (int i = 0; i < 6; i++) CHECK(got[i] == 0);
    pipa_req_t r; /* a refused request polled again stays refused, with the same message */
    int done = 0;
    CHECK(pipa_irecv(c, 0, 9, &want, got, &r) == PIPA_OK);
    CHECK(pipa_test(c, &r, &done) == PIPA_ERR_MISMATCH && pipa_test(c, &r, &done) ==
          PIPA_ERR_MISMATCH && !done && strstr(pipa_last_error(), "sent f32[2,3]"));
    CHECK(pipa_recv(c, 0, 9, &sent, got) == PIPA_OK && got[5] == 6); /* still there, unharmed */
}

/* Deadlines and liveness are the communicator's, with the transport's sleep in its wait loop. */
static void check_waits(pipa_comm_t *c)
{
    pipa_desc_t d = pipa_desc_1d(PIPA_U8, 4);
    char buf[4] = "abc";
    pipa_comm_set_timeout(c, 0.3);
    int naps = live->naps;
    double t0 = pipa_now();
    CHECK(pipa_recv(c, 0, 99, &d, buf) == PIPA_ERR_TIMEOUT);
    CHECKF(strstr(pipa_last_error(), "rank 0: deadline of 0.3 s passed receiving from rank 0 "
                                     "(tag 99, 0 of 4 bytes moved)") != NULL, "%s",
           pipa_last_error());
    CHECK(pipa_now() - t0 >= 0.3 && live->naps > naps);
    pipa_comm_set_timeout(c, 5); /* the death is noticed long before */
    live->gone = "died";
    t0 = pipa_now();
    CHECK(pipa_recv(c, 0, 5, &d, buf) == PIPA_ERR_PEER);
    CHECKF(strcmp(pipa_last_error(), "rank 0: peer rank 0 died while rank 0 waited for a message "
                                     "from it (tag 5)") == 0, "%s", pipa_last_error());
    CHECK(pipa_now() - t0 < 1.0);
    live->gone = NULL;
}

/* A send the peer does not take: detach frees its buffer at once, flush waits (or times out
 * naming the send), a failed wait cancels it. */
static void check_sends(pipa_comm_t *c)
{
    pipa_desc_t d = pipa_desc_1d(PIPA_U8, 4);
    char buf[4] = "abc", got[4];
    pipa_req_t s;
    live->hold = 1;
    CHECK(pipa_isend(c, 0, 3, &d, buf, &s) == PIPA_OK);
    CHECK(pipa_detach(c, &s) == PIPA_OK && s.kind == PIPA_REQ_NONE);
    memcpy(buf, "xyz", 4);
    pipa_comm_set_timeout(c, 0.2);
    CHECK(pipa_flush(c) == PIPA_ERR_TIMEOUT);
    CHECKF(strstr(pipa_last_error(), "passed sending to rank 0 (tag 3") != NULL, "%s",
           pipa_last_error());
    CHECK(pipa_isend(c, 0, 4, &d, buf, &s) == PIPA_OK);
    CHECK(pipa_wait(c, &s) == PIPA_ERR_TIMEOUT && live->npending == 1); /* cancelled */
    live->hold = 0;
    pipa_comm_set_timeout(c, 2);
    CHECK(pipa_flush(c) == PIPA_OK && live->npending == 0);
    CHECK(pipa_recv(c, 0, 3, &d, got) == PIPA_OK && strcmp(got, "abc") == 0);
}

/* Collectives know only the communicator. */
static void check_collectives(pipa_comm_t *c)
{
    pipa_group_t g;
    pipa_group_world(&g, c);
    double v[2] = {1.5, -2};
    CHECK(pipa_barrier(&g) == PIPA_OK);
    CHECK(pipa_allreduce_sum_f64(&g, v, 2) == PIPA_OK && v[0] == 1.5 && v[1] == -2);
    int who = 7;
    CHECK(pipa_agree(&g, PIPA_OK, &who) == PIPA_OK);
}

int main(void)
{
    check_table();
    pipa_comm_t *c;
    CHECKF(pipa__comm_init_on(&loop_ops, &c) == PIPA_OK, "%s", pipa_last_error());
    if (check_failures) return check_done("test_transport");
    CHECK(strcmp(pipa_comm_transport_name(c), "loop") == 0);
    CHECK(pipa_comm_rank(c) == 0 && pipa_comm_size(c) == 1);
    pipa_comm_set_timeout(c, 2); /* a message that should be there and is not: fail soon */
    check_messages(c);
    check_mismatch(c);
    check_waits(c);
    check_sends(c);
    check_collectives(c);
    pipa_comm_free(c);
    return check_done("test_transport");
}
