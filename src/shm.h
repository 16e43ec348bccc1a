/* shm.h: the launcher's side of the shared-memory transport.
 *
 * pipa-run creates one anonymous memory file (memfd) per run, before it starts the ranks; the
 * ranks inherit its descriptor (PIPA_SHM_FD). Nothing is ever named in /dev/shm, so nothing can
 * be left there, however the run ends. The launcher also records in the segment when a rank
 * exited, so waiting peers notice at once. */
#ifndef PIPA_SHM_H
#define PIPA_SHM_H

#include "status.h"

typedef struct pipa_shm_run pipa_shm_run_t;

/* Creates and maps the run's segment for `world` ranks; *fd is inheritable (no close-on-exec). */
pipa_status pipa_shm_run_create(int world, pipa_shm_run_t **out, int *fd);
/* Records that a rank ended (failed = exit code non-zero or signal). */
void pipa_shm_run_mark_exited(pipa_shm_run_t *r, int rank, int failed);
void pipa_shm_run_free(pipa_shm_run_t *r);

#endif
