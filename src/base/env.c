/* env.c: pipa's settings from environment variables (see env.h). */
#include "base/env.h"

#include <stdlib.h>
#include <string.h>

#include "base/cli.h"

/* The value of `name`, or NULL when it is unset or empty (both mean "use the default"). */
static const char *env_value(const char *name)
{
    const char *v = getenv(name);
    return v && *v ? v : NULL;
}

/* Rewords cli.c's "NAME needs ..., got 'V'" to say it came from the environment. */
static pipa_status refuse(pipa_status s)
{
    return pipa__fail(s, "bad environment variable: %s", pipa_last_error());
}

pipa_status pipa_env_int(const char *name, int fallback, int lo, int hi, int *out)
{
    const char *v = env_value(name);
    if (!v) {
        *out = fallback;
        return PIPA_OK;
    }
    pipa_status s = pipa_cli_int(name, v, lo, hi, out);
    return s == PIPA_OK ? s : refuse(s);
}

pipa_status pipa_env_number(const char *name, double fallback, double lo, double hi, double *out)
{
    const char *v = env_value(name);
    float f;
    if (!v) {
        *out = fallback;
        return PIPA_OK;
    }
    pipa_status s = pipa_cli_float(name, v, lo, hi, &f);
    if (s != PIPA_OK) return refuse(s);
    *out = f;
    return PIPA_OK;
}

/* The index of v in choices, or -1 after writing them into list as "a, b, c" (for the refusal). */
static int choice_index(const char *v, const char *const *choices, int n, char *list, size_t size)
{
    list[0] = '\0';
    for (int i = 0; i < n; i++) {
        if (!strcmp(v, choices[i])) return i;
        if (strlen(list) + strlen(choices[i]) + 3 < size) {
            if (i) strcat(list, ", ");
            strcat(list, choices[i]);
        }
    }
    return -1;
}

pipa_status pipa_env_choice(const char *name, const char *const *choices, int n, int fallback,
                            int *out)
{
    const char *v = env_value(name);
    char list[256];
    int i = v ? choice_index(v, choices, n, list, sizeof list) : fallback;
    if (!v || i >= 0) {  // unset: the fallback, whatever it is
        *out = i;
        return PIPA_OK;
    }
    return pipa__fail(PIPA_ERR_ARG, "bad environment variable: %s needs one of %s, got '%s'", name,
                      list, v);
}

/* ---- the settings -------------------------------------------------------------------------- */

pipa_status pipa_env_timeout(double *seconds)
{
    /* Above zero: a zero deadline would fail every receive. A million seconds is 11 days. */
    return pipa_env_number("PIPA_TIMEOUT", 300.0, 1e-3, 1e6, seconds);
}

pipa_status pipa_env_log_level(int *level)
{
    static const char *const names[] = {"error", "warn", "info", "debug"}; /* = pipa_log_level */
    return pipa_env_choice("PIPA_LOG", names, 4, PIPA_LOG_WARN, level);
}

pipa_status pipa_env_blas_threads(int *n) { return pipa_env_int("PIPA_BLAS_THREADS", 0, 1, 4096, n); }

pipa_status pipa_env_shm_ring_mb(int *mb) { return pipa_env_int("PIPA_SHM_RING_MB", 16, 1, 4096, mb); }

pipa_status pipa_env_shm_frag_kb(int *kb)
{
    return pipa_env_int("PIPA_SHM_FRAG_KB", 128, 1, 1 << 20, kb);
}

pipa_status pipa_env_transport(const char *const *built, int n, int *index)
{
    const char *v = env_value("PIPA_TRANSPORT");
    char list[256];
    int i = v ? choice_index(v, built, n, list, sizeof list) : -1;
    if (!v || i >= 0) {
        *index = i;
        return PIPA_OK;
    }
    return pipa__fail(PIPA_ERR_ARG, "bad environment variable: PIPA_TRANSPORT=%s: no such "
                      "transport in this build (built: %s)", v, list);
}

/* One launcher's pair of variables: both set and 0 <= rank < world, or neither. */
static pipa_status launcher_pair(const char *rank_var, const char *world_var, int *rank, int *world)
{
    int r, w;
    PIPA_TRY(pipa_env_int(rank_var, -1, 0, 1 << 30, &r));
    PIPA_TRY(pipa_env_int(world_var, -1, 1, 1 << 30, &w));
    if (r == -1 && w == -1) return PIPA_OK;
    if (r == -1 || w == -1 || r >= w)
        return pipa__fail(PIPA_ERR_ARG, "bad environment from the MPI launcher: %s=%s and %s=%s",
                          rank_var, getenv(rank_var) ? getenv(rank_var) : "(unset)", world_var,
                          getenv(world_var) ? getenv(world_var) : "(unset)");
    *rank = r;
    *world = w;
    return PIPA_OK;
}

pipa_status pipa_env_mpi_launcher(int *rank, int *world, const char **from)
{
    static const char *const vars[][2] = {
        {"OMPI_COMM_WORLD_RANK", "OMPI_COMM_WORLD_SIZE"}, /* Open MPI's mpirun */
        {"PMI_RANK", "PMI_SIZE"},                         /* MPICH's (Hydra) */
        {"SLURM_PROCID", "SLURM_STEP_NUM_TASKS"},         /* Slurm's srun */
    };
    *rank = -1;
    *world = 1;
    *from = NULL;
    if (env_value("RANK") || env_value("WORLD_SIZE")) return PIPA_OK; /* pipa-run's rank */
    for (size_t i = 0; i < sizeof vars / sizeof *vars; i++) {
        PIPA_TRY(launcher_pair(vars[i][0], vars[i][1], rank, world));
        if (*rank < 0) continue;
        if (i == 2 && *world == 1) { /* srun of one task: a plain program, not an MPI job */
            *rank = -1;
            continue;
        }
        *from = vars[i][1];
        return PIPA_OK;
    }
    return PIPA_OK;
}

pipa_status pipa_env_check(void)
{
    double d;
    int i;
    PIPA_TRY(pipa_env_timeout(&d));
    PIPA_TRY(pipa_env_log_level(&i));
    PIPA_TRY(pipa_env_blas_threads(&i));
    PIPA_TRY(pipa_env_shm_ring_mb(&i));
    return pipa_env_shm_frag_kb(&i);
}
