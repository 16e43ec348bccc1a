/* blas.c: the BLAS library behind pipa's matrix products (OpenBLAS or BLIS, chosen at build
 * time by the Makefile's BLAS=): its thread count and its name. Nothing else in pipa mentions a
 * BLAS library by name; ops.c only calls standard CBLAS.
 *
 * Ranks are processes, often several per machine, so each rank's BLAS gets 1 thread unless told
 * otherwise: a library that starts one thread per core in every rank oversubscribes the machine. */
#include "model/blas.h"

#include <pthread.h>
#include <stdio.h>

#include "base/env.h"

#if defined(PIPA_BLAS_OPENBLAS)
#include <cblas.h>
#elif defined(PIPA_BLAS_BLIS)
#include <blis.h>
#else
#error "define PIPA_BLAS_OPENBLAS or PIPA_BLAS_BLIS (the Makefile's BLAS= does)"
#endif

/* Threads from PIPA_BLAS_THREADS, or 0 when it is unset. A bad value counts as unset here (this
 * cannot fail); pipa_env_check, from pipa_comm_init, is where it is refused. */
static int threads_from_env(void)
{
    int n;
    return pipa_env_blas_threads(&n) == PIPA_OK ? n : 0;
}

/* threads > 0 is used as given (an explicit option wins); otherwise PIPA_BLAS_THREADS, else 1.
 * Call once at start-up, before any op; until then the library keeps its own default. */
void pipa_blas_init(int threads)
{
    if (threads < 1) threads = threads_from_env();
    if (threads < 1) threads = 1;
#if defined(PIPA_BLAS_OPENBLAS)
    openblas_set_num_threads(threads);
#else
    bli_thread_set_num_threads((dim_t)threads);
#endif
}

#if defined(PIPA_BLAS_BLIS)
/* Filled once: a static buffer keeps the "never free it" contract of openblas_get_config. */
static char blis_name[64];
static pthread_once_t blis_name_once = PTHREAD_ONCE_INIT;
static void blis_name_fill(void)
{
    snprintf(blis_name, sizeof blis_name, "BLIS %s", bli_info_get_version_str());
}
#endif

/* Name and build of the library, e.g. "OpenBLAS 0.3.21 ... Haswell MAX_THREADS=64". */
const char *pipa_blas_name(void)
{
#if defined(PIPA_BLAS_OPENBLAS)
    return openblas_get_config();
#else
    pthread_once(&blis_name_once, blis_name_fill);
    return blis_name;
#endif
}

/* Threads the library will use for the next call. */
int pipa_blas_threads(void)
{
#if defined(PIPA_BLAS_OPENBLAS)
    return openblas_get_num_threads();
#else
    return (int)bli_thread_get_num_threads();
#endif
}
