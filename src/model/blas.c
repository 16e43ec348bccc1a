/* blas.c: the BLAS library behind pipa's matrix products (OpenBLAS or BLIS, chosen at build
 * time by the Makefile's BLAS=): its thread count and its name. Nothing else in pipa mentions a
 * BLAS library by name; ops.c only calls standard CBLAS.
 *
 * Ranks are processes, often several per machine, so each rank's BLAS gets 1 thread unless told
 * otherwise: a library that starts one thread per core in every rank oversubscribes the machine. */
#include "model/blas.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

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

/* ---- kernel choice (OpenBLAS) ----------------------------------------------------------------- */

/* OpenBLAS cores older than AVX2 (its names, lower case): a CPU with AVX2 given one of these has
 * fallen back. Only these are overridden, so a core unknown to this list (a newer one) is kept. */
static const char *const pre_avx2_cores[] = {
    "prescott", "core2", "penryn", "dunnington", "nehalem", "sandybridge", "atom", "katmai",
    "coppermine", "northwood", "banias", "athlon", "opteron", "opteron_sse3", "barcelona",
    "bobcat", "bulldozer", "piledriver", "steamroller", "nano", "unknown", "generic",
};

static int is_pre_avx2(const char *core)
{
    char low[32];
    size_t n = 0;
    for (; core[n] && n + 1 < sizeof low; n++)
        low[n] = (char)((core[n] >= 'A' && core[n] <= 'Z') ? core[n] - 'A' + 'a' : core[n]);
    low[n] = '\0';
    for (size_t i = 0; i < sizeof pre_avx2_cores / sizeof *pre_avx2_cores; i++)
        if (strcmp(low, pre_avx2_cores[i]) == 0) return 1;
    return 0;
}

const char *pipa__blas_better_core(const char *core, int avx2, int avx512, int user_set)
{
    if (user_set || core == NULL || !is_pre_avx2(core)) return NULL;
    if (avx512) return "SkylakeX";
    if (avx2) return "Haswell";
    return NULL;
}

/* Set in the environment of the re-executed program: what OpenBLAS had chosen, for the note. */
#define CORE_FROM_VAR "PIPA_BLAS_CORE_FROM"

static char core_note[128];

const char *pipa_blas_core_note(void)
{
    const char *from = getenv(CORE_FROM_VAR);
    const char *now = getenv("OPENBLAS_CORETYPE");
    if (from == NULL || now == NULL) return "";
    snprintf(core_note, sizeof core_note, " (pipa set OPENBLAS_CORETYPE=%.24s: OpenBLAS chose %.24s)",
             now, from);
    return core_note;
}

const char *pipa_blas_summary(void)
{
    static char line[512];
    int n = pipa_blas_threads();
    snprintf(line, sizeof line, "%.380s%s, %d thread%s per rank", pipa_blas_name(),
             pipa_blas_core_note(), n, n == 1 ? "" : "s");
    return line;
}

#if defined(PIPA_BLAS_OPENBLAS) && defined(__x86_64__)
static int cpu_avx2(void)
{
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
}

static int cpu_avx512(void)
{
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512cd") &&
           __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512dq") &&
           __builtin_cpu_supports("avx512vl");
}

void pipa_blas_choose_core(char **argv)
{
    pipa_blas_init(0);  // before any product; the re-executed program sets it again
    const char *core = openblas_get_corename();
    const char *better = pipa__blas_better_core(core, cpu_avx2(), cpu_avx512(),
                                                getenv("OPENBLAS_CORETYPE") != NULL);
    if (better == NULL || argv == NULL || argv[0] == NULL) return;
    char from[32];
    snprintf(from, sizeof from, "%s", core);
    if (setenv("OPENBLAS_CORETYPE", better, 1) != 0 || setenv(CORE_FROM_VAR, from, 1) != 0) return;
    fflush(NULL);  // nothing buffered may be printed twice
    execv("/proc/self/exe", argv);
    /* Still here: the program goes on with OpenBLAS's own choice, and says so. */
    fprintf(stderr, "%s: note: could not re-run with OPENBLAS_CORETYPE=%s (%s); OpenBLAS's %s "
            "kernels stay\n", argv[0], better, strerror(errno), from);
    unsetenv("OPENBLAS_CORETYPE");
    unsetenv(CORE_FROM_VAR);
}
#else
void pipa_blas_choose_core(char **argv)
{
    (void)argv;  // BLIS chooses its kernels by CPU features, not by model
    pipa_blas_init(0);
}
#endif
