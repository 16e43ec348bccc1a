/* transport.h: the table of functions a transport fills in, under the communicator.
 *
 * A transport moves the bytes of point-to-point messages between the ranks of one run, and knows
 * nothing of what is above it: the communicator (comm.c) does the matching rules, the header check
 * and its named error, deadlines and their messages, the wait loop and liveness messages;
 * collectives (coll.c) and the runtime use only the communicator. A transport includes msg.h and
 * this header, nothing else of pipa's messaging.
 *
 * How to add a transport (say "mpi"):
 *   1. Write src/comm/transport_mpi.c defining
 *      `const pipa_transport_ops_t pipa__transport_mpi = {...}` with every function below
 *      (contracts next to each; post_recv may be NULL), the launcher's four included. Messages are matched by (peer, tag); arrival order must not
 *      matter; sends must never block (a send that cannot leave now is queued and pushed on by
 *      later calls); a receive moves the payload only of a message whose header is identical to
 *      the one expected, or that the communicator accepted once reported (PIPA_MATCH_HEADER):
 *      judging a header and naming a mismatch are the communicator's.
 *   2. Add X(mpi) to PIPA_TRANSPORTS in transport.c: that is the registration line.
 * Nothing else changes: not comm.c, not coll.c, not the runtime, not pipa-run. The run header's
 * "transport" field is the table's name; PIPA_TRANSPORT=mpi selects it (default: the first
 * registered), in the ranks and in pipa-run, which prepares a run through the table's launch
 * functions (launch.h) and never names a transport. */
#ifndef PIPA_TRANSPORT_H
#define PIPA_TRANSPORT_H

#include "comm/msg.h"

typedef struct pipa_transport_ops {
    const char *name;      /* "shm": printed in run headers */

    /* Joins the run as `rank` of `world` and returns the transport's state in *state. rank -1 (and
     * world 1): started without a launcher, a world of one on its own. On failure *state may be
     * set; leave is called on it. */
    pipa_status (*join)(int rank, int world, void **state);
    /* Lets go of everything (sends still queued are dropped: pipa_flush first); state may be
     * NULL. */
    void (*leave)(void *state);

    /* Starts a send (kind PIPA_REQ_SEND, fields set). Never blocks: what does not leave now is
     * queued, oldest first per destination, and moved on by every later progress call. Sets
     * req->complete once every byte has left (the caller may reuse the buffer). */
    void (*post_send)(void *state, pipa_req_t *req);
    /* Announces a receive (kind PIPA_REQ_RECV, fields set; match NONE): a transport that must post
     * receives ahead (MPI) does it here. NULL when there is nothing to announce (shm matches in
     * place when polled): the communicator then makes no call, which on the latency path
     * matters (transport.h's one optional entry). */
    pipa_status (*post_recv)(void *state, pipa_req_t *req);
    /* One poll, never blocking: moves queued sends on; if req is an unfinished receive, looks for
     * its message: while nothing matched, for its header: sets req->got, and then either accepts
     * it (only a header identical to req->desc, pipa_desc_equal: match = PIPA_MATCH_ACCEPTED, and
     * goes on) or reports it (match = PIPA_MATCH_HEADER, returns, the payload untouched) for the
     * communicator to judge; once accepted, copies what has arrived, setting complete at the end.
     * A transport may report every header (simplest); accepting identical ones in place saves a
     * round trip on every message. Also takes in what senders blocked on this rank wait
     * to hand over (all peers but req's), so no rank ever waits on a rank that is waiting: every
     * wait calls this. req may be NULL (a flush) or a send. */
    pipa_status (*progress)(void *state, pipa_req_t *req);
    /* The communicator accepted the header progress just reported (req->match is now
     * PIPA_MATCH_ACCEPTED; no other call came between): copies what has arrived of the payload,
     * setting complete at the end. (A header it refuses is left where it is, untouched.) */
    pipa_status (*accept)(void *state, pipa_req_t *req);
    /* The oldest send still under way to the lowest peer that has one; NULL when all have left. */
    pipa_req_t *(*oldest_send)(void *state);

    /* NULL while `peer` may still send; else how it went ("failed", "exited", "died"). */
    const char *(*peer_gone)(void *state, int peer);
    /* Blocks until something may have changed (a message, ring space, a peer's end) or `seconds`
     * pass. still_blocked(arg) is re-checked once the transport is ready to be woken, so a change
     * between the caller's last poll and the sleep is never lost. */
    void (*wait_change)(void *state, double seconds, int (*still_blocked)(void *), void *arg);
    /* Optional (NULL: no). Nonzero when this rank has a core of its own (the launcher says the
     * machine is not oversubscribed): a wait then polls without giving its core away, as MPI's
     * own waits do; else it yields the core after a short spin, so that ranks sharing a core can
     * run. Asked once, at join. */
    int (*busy_wait)(void *state);

    /* Takes a send whose wait failed out of the queue: nothing touches req or its buffer after. */
    void (*cancel)(void *state, pipa_req_t *req);
    /* Takes over an unfinished send: copies what has not left and sends from the copy; req and
     * its buffer are the caller's again at once. A cancelled send is left alone. */
    pipa_status (*detach)(void *state, pipa_req_t *req);

    /* The launcher's side (pipa-run through launch.h), in the launcher's process. */
    /* Before any rank starts: prepares what the `world` ranks of a run will join (shm: the run's
     * segment) and returns it in *run. On failure *run may be set; launch_end is called on it. */
    pipa_status (*launch)(int world, void **run);
    /* In rank `rank`'s own process, just before it starts the program: sets the environment the
     * rank needs to join (shm: PIPA_SHM_FD). */
    void (*launch_rank_env)(void *run, int rank);
    /* Rank `rank` ended (failed: a non-zero exit or a signal): tells its peers at once (shm:
     * marks its entry and rings every bell), so none waits for it until a deadline. */
    void (*launch_rank_ended)(void *run, int rank, int failed);
    /* Every rank has ended: lets go of what launch prepared; run may be NULL. */
    void (*launch_end)(void *run);
} pipa_transport_ops_t;

/* No flush function: pipa_flush is progress until oldest_send is NULL, in the communicator's wait
 * loop (deadline and liveness included). */

/* The registered transport of that name, or NULL. */
const pipa_transport_ops_t *pipa__transport_find(const char *name);
/* The transport a run uses when none is named: the first registered. */
const pipa_transport_ops_t *pipa__transport_default(void);
/* The transport PIPA_TRANSPORT names; a name not registered is refused, naming those built
 * (env.h). Unset: "mpi" in a program an MPI launcher started (mpirun, srun; env.h's
 * pipa_env_mpi_launcher), refused by name when MPI is not built and the launcher started several
 * ranks; else the default. */
pipa_status pipa__transport_from_env(const pipa_transport_ops_t **out);

#endif
