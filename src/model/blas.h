/* blas.h: the BLAS library under the CPU backend's matrix products (blas.c): its thread count and
 * its name, which tools print in their headers. */
#ifndef PIPA_BLAS_H
#define PIPA_BLAS_H

/* Sets the BLAS library's thread count (1 per rank by default) and reports its name. */
void pipa_blas_init(int threads);
const char *pipa_blas_name(void);
int pipa_blas_threads(void);

#endif
