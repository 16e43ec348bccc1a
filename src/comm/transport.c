/* transport.c: the table of transports by name (see transport.h for how to add one). */
#include "comm/transport.h"

#include <string.h>

#include "base/env.h"

/* The registered transports, default first: one X(name) each, defined in src/comm/transport_NAME.c
 * or the transport's own files as `const pipa_transport_ops_t pipa__transport_NAME`. */
#ifdef PIPA_MPI /* the Makefile's: built where mpicc was found (MPI=auto) or asked (MPI=1) */
#define PIPA_TRANSPORTS(X) X(shm) X(mpi)
#else
#define PIPA_TRANSPORTS(X) X(shm)
#endif

#define DECLARE(name) extern const pipa_transport_ops_t pipa__transport_##name;
#define ENTRY(name) &pipa__transport_##name,
PIPA_TRANSPORTS(DECLARE)
static const pipa_transport_ops_t *const transports[] = {PIPA_TRANSPORTS(ENTRY)};

const pipa_transport_ops_t *pipa__transport_find(const char *name)
{
    for (size_t i = 0; i < sizeof transports / sizeof *transports; i++)
        if (strcmp(transports[i]->name, name) == 0) return transports[i];
    return NULL;
}

const pipa_transport_ops_t *pipa__transport_default(void) { return transports[0]; }

/* No PIPA_TRANSPORT: a program an MPI launcher started (env.h) runs over MPI, any other the
 * default. Started by mpirun on several ranks in a build without MPI is refused here, by name,
 * rather than later by shm's "start it with pipa-run". */
static pipa_status by_launcher(const pipa_transport_ops_t **out)
{
    int rank, world;
    const char *from;
    *out = pipa__transport_default();
    PIPA_TRY(pipa_env_mpi_launcher(&rank, &world, &from));
    if (rank < 0) return PIPA_OK;
    const pipa_transport_ops_t *mpi = pipa__transport_find("mpi");
    if (mpi) *out = mpi;
    else if (world > 1)
        return pipa__fail(PIPA_ERR_ARG, "started by an MPI launcher (%s=%d), but this build has no "
                          "mpi transport: build with MPI (make MPI=1; needs libopenmpi-dev) or "
                          "start the program with pipa-run", from, world);
    return PIPA_OK;
}

pipa_status pipa__transport_from_env(const pipa_transport_ops_t **out)
{
    enum { N = sizeof transports / sizeof *transports };
    const char *names[N];
    for (int i = 0; i < N; i++) names[i] = transports[i]->name;
    int i;
    PIPA_TRY(pipa_env_transport(names, N, &i));
    if (i < 0) return by_launcher(out);
    *out = transports[i];
    return PIPA_OK;
}
