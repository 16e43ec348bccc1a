/* blas.h: the BLAS library under the CPU backend's matrix products (blas.c): its thread count and
 * its name, which tools print in their headers. */
#ifndef PIPA_BLAS_H
#define PIPA_BLAS_H

/* Sets the BLAS library's thread count (1 per rank by default) and reports its name. */
void pipa_blas_init(int threads);
const char *pipa_blas_name(void);
int pipa_blas_threads(void);

/* The kernels OpenBLAS chose. OpenBLAS picks them by CPU model when the library loads, and a model
 * newer than the library falls back to old SSE3 kernels ("Prescott"): Debian 12's OpenBLAS 0.3.21
 * does so on Emerald Rapids, whose AVX-512 kernels run sgemm about 5x faster. So every pipa program
 * calls pipa_blas_choose_core first thing in main: when OpenBLAS chose kernels without AVX2 on a
 * CPU that has AVX2 (Haswell kernels) or AVX-512 (SkylakeX kernels), and OPENBLAS_CORETYPE is
 * unset, it sets OPENBLAS_CORETYPE and re-executes the program (the only moment OpenBLAS reads the
 * variable), once. A user's OPENBLAS_CORETYPE is always kept. Ranks that pipa-run starts inherit
 * the variable, so all ranks run the same kernels and give the same bits. It returns only when no
 * change is needed or the re-execution failed (then the program goes on with the library's
 * choice). BLIS builds: nothing to do.
 * It also sets the thread count (pipa_blas_init(0): PIPA_BLAS_THREADS, else 1), so that no pipa
 * program runs with the library's default of one thread per CPU it may use: that default changes
 * sgemm's bits with the CPUs a process is bound to (mpirun binds, pipa-run does not), and
 * oversubscribes a machine running several ranks. A later pipa_blas_init(n) overrides it. */
void pipa_blas_choose_core(char **argv);
/* What pipa_blas_choose_core decides, as a pure function (tested): the OPENBLAS_CORETYPE to set, or
 * NULL. core: the library's choice (openblas_get_corename); avx2, avx512: the CPU's features (avx2
 * meaning AVX2 and FMA; avx512 meaning AVX-512 F, CD, BW, DQ and VL); user_set: whether
 * OPENBLAS_CORETYPE is already set. */
const char *pipa__blas_better_core(const char *core, int avx2, int avx512, int user_set);
/* "" or, when pipa_blas_choose_core switched the kernels, a note for run headers naming what
 * OpenBLAS had chosen, e.g. " (pipa set OPENBLAS_CORETYPE=SkylakeX: OpenBLAS chose Prescott)". */
const char *pipa_blas_core_note(void);
/* What run headers print: name, the note above and the thread count, e.g. "OpenBLAS 0.3.21 ...
 * Haswell MAX_THREADS=64, 1 thread per rank". A static buffer, valid until the next call. */
const char *pipa_blas_summary(void);

#endif
