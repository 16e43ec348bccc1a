/* transport_mpi.c: the MPI transport: point-to-point messages between the ranks an MPI launcher
 * (mpirun, srun) started, on one machine or many. Open MPI or MPICH do the networking. This file
 * joins and leaves and holds the transport's table; the wire and what the files share are in
 * transport_mpi.h, sends in transport_mpi_send.c, receives and their matching in
 * transport_mpi_recv.c.
 *
 * Failures: MPI calls on pipa's communicator return errors (MPI_ERRORS_RETURN), which become
 * statuses naming the call. A rank that dies ends the whole job: the launcher (mpirun) kills the
 * others when one exits without MPI_Finalize, so peer_gone has nothing to say. A rank that fails
 * must not hang in MPI_Finalize waiting for peers that wait for it: the process's exit handler
 * (on_exit, which sees the exit status) calls MPI_Finalize after a zero exit and MPI_Abort after
 * any other, which ends every rank at once with the launcher's message and a non-zero exit.
 *
 * Left out: MPI's own collectives (pipa's fixed-order ones run over this, so every rank and run
 * gets the same bits on both transports); thread safety (one thread per rank). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "base/env.h"
#include "comm/transport_mpi.h"

/* ---- MPI errors --------------------------------------------------------------------------- */

pipa_status pipa__mpi_fail(int rc, const char *call, int rank)
{
    char msg[MPI_MAX_ERROR_STRING];
    int len = 0;
    if (MPI_Error_string(rc, msg, &len) != MPI_SUCCESS) snprintf(msg, sizeof msg, "error %d", rc);
    return pipa__fail(PIPA_ERR_IO, "rank %d: %s failed: %s", rank, call, msg);
}

/* ---- joining and leaving ------------------------------------------------------------------ */

/* After the program's exit: MPI_Finalize after a zero status; after any other MPI_Abort, which
 * ends every rank (a failed rank in MPI_Finalize would wait for peers that wait for it). */
static void at_exit(int status, void *arg)
{
    int done = 0;
    (void)arg;
    MPI_Finalized(&done);
    if (done) return;
    if (status != 0) {
        fprintf(stderr, "pipa: rank exits with status %d: ending the MPI job\n", status);
        MPI_Abort(MPI_COMM_WORLD, status);
    }
    MPI_Finalize();
}

/* MPI is started once per process (MPI_Init may not run twice), by the first join. */
static pipa_status mpi_start(void)
{
    int ready = 0, provided;
    MPI_Initialized(&ready);
    if (ready) return PIPA_OK;
    int rc = MPI_Init_thread(NULL, NULL, MPI_THREAD_FUNNELED, &provided);
    if (rc != MPI_SUCCESS) return pipa__mpi_fail(rc, "MPI_Init_thread", -1);
    if (on_exit(at_exit, NULL) != 0)
        return pipa__fail(PIPA_ERR_STATE, "cannot register the MPI exit handler (on_exit)");
    return PIPA_OK;
}

/* Whether this rank has a core of its own: no more ranks on this machine (MPI's shared-memory
 * split) than cores online, and Open MPI's launcher did not say it oversubscribed. */
static pipa_status cores_own(mpi_t *t)
{
    MPI_Comm local;
    int n = 0;
    MPI_TRY(t, MPI_Comm_split_type(t->comm, MPI_COMM_TYPE_SHARED, 0, MPI_INFO_NULL, &local));
    MPI_Comm_size(local, &n);
    MPI_Comm_free(&local);
    const char *over = getenv("OMPI_MCA_mpi_oversubscribe");
    t->busy = n <= sysconf(_SC_NPROCESSORS_ONLN) && !(over && strcmp(over, "1") == 0);
    return PIPA_OK;
}

static pipa_status mpi_join(int rank, int world, void **state)
{
    mpi_t *t = calloc(1, sizeof *t);
    if (!t) return pipa__fail(PIPA_ERR_NOMEM, "out of memory");
    *state = t;
    t->comm = MPI_COMM_NULL;
    PIPA_TRY(pipa_env_timeout(&t->timeout));
    PIPA_TRY(mpi_start());
    int r, w;
    MPI_Comm_rank(MPI_COMM_WORLD, &r);
    MPI_Comm_size(MPI_COMM_WORLD, &w);
    t->rank = r;
    t->world = w;
    /* rank -1: no launcher said; then MPI must see a world of one too (a singleton). */
    if (rank < 0 ? w != 1 : (r != rank || w != world))
        return pipa__fail(PIPA_ERR_ARG, "MPI says rank %d of %d, but the environment says rank %d "
                          "of %d", r, w, rank < 0 ? 0 : rank, world);
    MPI_TRY(t, MPI_Comm_dup(MPI_COMM_WORLD, &t->comm));
    MPI_TRY(t, MPI_Comm_set_errhandler(t->comm, MPI_ERRORS_RETURN));
    PIPA_TRY(cores_own(t));
    return pipa__mpi_slots_start(t);
}

/* What is still under way is dropped (sends: left to MPI; pipa_flush first, as every program
 * does, and there are none). */
static void mpi_leave(void *state)
{
    mpi_t *t = state;
    if (!t) return;
    pipa__mpi_recvs_free(t);
    pipa__mpi_sends_free(t);
    if (t->comm != MPI_COMM_NULL) MPI_Comm_free(&t->comm);
    free(t);
}

/* ---- the transport's table ---------------------------------------------------------------- */

pipa_status pipa__mpi_progress_all(mpi_t *t, const pipa_req_t *until)
{
    if (t->send_err) return pipa__fail(t->send_err, "%s", t->send_why);
    if (t->outs) PIPA_TRY(pipa__mpi_sends_test(t));
    return pipa__mpi_drain(t, until);
}

/* A wait on a send that is complete already (every inline one) returns at once: the poll would
 * only cost a pass through MPI's progress, and the next wait that waits makes it. */
static pipa_status mpi_progress(void *state, pipa_req_t *req)
{
    mpi_t *t = state;
    if (req && req->kind == PIPA_REQ_SEND && req->complete) return PIPA_OK;
    pipa_req_t *r = req && req->kind == PIPA_REQ_RECV && !req->complete ? req : NULL;
    if (!r || r->match == PIPA_MATCH_NONE) PIPA_TRY(pipa__mpi_progress_all(t, r));
    else if (t->outs) PIPA_TRY(pipa__mpi_sends_test(t));
    if (r && r->match == PIPA_MATCH_NONE) pipa__mpi_recv_match(t, r);
    if (r && r->match == PIPA_MATCH_ACCEPTED) PIPA_TRY(pipa__mpi_payload_poll(t, r));
    return PIPA_OK;
}

/* The communicator accepted the header progress reported (req->internal is its message). */
static pipa_status mpi_accept(void *state, pipa_req_t *req)
{
    in_t *in = req->internal;
    PIPA_ASSERT(in && !in->claimed);
    in->claimed = req;
    return pipa__mpi_payload_poll(state, req);
}

/* The launcher ends the job when a rank dies (see the top): nothing to report here. */
static const char *mpi_peer_gone(void *state, int peer)
{
    (void)state;
    (void)peer;
    return NULL;
}

static int mpi_busy_wait(void *state) { return ((mpi_t *)state)->busy; }

/* MPI has no "sleep until something arrives" with a time limit: poll until the caller is no
 * longer blocked or `seconds` pass; without a pause where the rank has a core of its own (as
 * MPI's own waits do), else napping 50 us between polls (a wait lasts this long only after 2 ms
 * of spinning and yielding: the nap costs that wait at most 2.5%). */
static void mpi_wait_change(void *state, double seconds, int (*still_blocked)(void *), void *arg)
{
    mpi_t *t = state;
    double end = pipa_now() + seconds;
    while (still_blocked(arg) && pipa_now() < end) {
        if (t->busy) continue;
        struct timespec nap = {0, 50000};
        nanosleep(&nap, NULL);
    }
}

/* The launcher's side: MPI's ranks are started by mpirun or srun, never by pipa-run. */
static pipa_status mpi_launch(int world, void **run)
{
    (void)world;
    *run = NULL;
    return pipa__fail(PIPA_ERR_ARG, "PIPA_TRANSPORT=mpi: pipa-run starts shm runs only; start an "
                      "MPI run with mpirun -n N PROGRAM (or srun), without pipa-run");
}

static void mpi_launch_rank_env(void *run, int rank)
{
    (void)run;
    (void)rank;
}

static void mpi_launch_rank_ended(void *run, int rank, int failed)
{
    (void)run;
    (void)rank;
    (void)failed;
}

static void mpi_launch_end(void *run) { (void)run; }

const pipa_transport_ops_t pipa__transport_mpi = {
    .name = "mpi",
    .join = mpi_join,
    .leave = mpi_leave,
    .post_send = pipa__mpi_post_send,
    .post_recv = pipa__mpi_post_recv,
    .progress = mpi_progress,
    .accept = mpi_accept,
    .oldest_send = pipa__mpi_oldest_send,
    .peer_gone = mpi_peer_gone,
    .wait_change = mpi_wait_change,
    .busy_wait = mpi_busy_wait,
    .cancel = pipa__mpi_cancel,
    .detach = pipa__mpi_detach,
    .launch = mpi_launch,
    .launch_rank_env = mpi_launch_rank_env,
    .launch_rank_ended = mpi_launch_rank_ended,
    .launch_end = mpi_launch_end,
};
