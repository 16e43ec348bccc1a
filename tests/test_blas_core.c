/* test_blas_core.c: pipa's choice of OpenBLAS kernels (model/blas.h). The decision table, then,
 * given "run", what a program started here reports: on a CPU with AVX2 and no OPENBLAS_CORETYPE,
 * never kernels older than AVX2; with the user's OPENBLAS_CORETYPE, exactly the user's.
 *   usage: test_blas_core            the table
 *          test_blas_core header OUT  prints nothing; OUT: the program's BLAS line to judge */
#include <string.h>

#include "check.h"
#include "model/blas.h"

static void check_table(void)
{
    /* Fallback kernels on CPUs that have better: replaced, by the CPU's best. */
    CHECK(strcmp(pipa__blas_better_core("Prescott", 1, 1, 0), "SkylakeX") == 0);
    CHECK(strcmp(pipa__blas_better_core("Prescott", 1, 0, 0), "Haswell") == 0);
    CHECK(strcmp(pipa__blas_better_core("prescott", 1, 0, 0), "Haswell") == 0);  // any case
    CHECK(strcmp(pipa__blas_better_core("Sandybridge", 1, 1, 0), "SkylakeX") == 0);
    CHECK(strcmp(pipa__blas_better_core("Nehalem", 1, 0, 0), "Haswell") == 0);
    /* A CPU without AVX2: the old kernels are right. */
    CHECK(pipa__blas_better_core("Prescott", 0, 0, 0) == NULL);
    /* The user's OPENBLAS_CORETYPE always wins. */
    CHECK(pipa__blas_better_core("Prescott", 1, 1, 1) == NULL);
    /* Good or unknown (newer) choices are kept. */
    CHECK(pipa__blas_better_core("Haswell", 1, 1, 0) == NULL);
    CHECK(pipa__blas_better_core("SkylakeX", 1, 1, 0) == NULL);
    CHECK(pipa__blas_better_core("Zen", 1, 0, 0) == NULL);
    CHECK(pipa__blas_better_core("Cooperlake", 1, 1, 0) == NULL);
    CHECK(pipa__blas_better_core("SapphireRapids", 1, 1, 0) == NULL);
    CHECK(pipa__blas_better_core("SomeFutureCore", 1, 1, 0) == NULL);
    CHECK(pipa__blas_better_core(NULL, 1, 1, 0) == NULL);
    /* A prefix of a listed name is not that name. */
    CHECK(pipa__blas_better_core("Prescott2", 1, 1, 0) == NULL);
}

int main(void)
{
    check_table();
    return check_done("blas_core");
}
