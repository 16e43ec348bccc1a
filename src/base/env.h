/* env.h: pipa's settings from environment variables, read one way. An unset or empty variable
 * means its default; any other value must be valid, or it is refused with a message naming the
 * variable, the value and what is accepted: a typo never silently becomes a default (a run that
 * waits 300 s because PIPA_TIMEOUT=3s was ignored). Numbers are read by cli.c's parsers, so an
 * option and a variable accept the same text.
 *
 * Each variable pipa reads has its getter here, with its range and default in one place; the
 * module that uses the value calls the getter. pipa_env_check tries them all, so a program (or
 * pipa-run, before it starts a rank) can refuse a bad setting before any work.
 * Left out: RANK / WORLD_SIZE / PIPA_SHM_FD, whose ranges depend on each other (comm.c and shm.c
 * read them with pipa_env_int); the MPI launchers' variables are read here only to find rank and
 * world (pipa_env_mpi_launcher), never refused by pipa_env_check: they are not pipa's. */
#ifndef PIPA_ENV_H
#define PIPA_ENV_H

#include "base/status.h"

/* An integer in [lo, hi] from variable `name`, or `fallback` when unset or empty. */
pipa_status pipa_env_int(const char *name, int fallback, int lo, int hi, int *out);
/* A finite number in [lo, hi], or `fallback` when unset or empty. */
pipa_status pipa_env_number(const char *name, double fallback, double lo, double hi, double *out);
/* The index of the value in `choices` (n names), or `fallback` when unset or empty. */
pipa_status pipa_env_choice(const char *name, const char *const *choices, int n, int fallback,
                            int *out);

/* The settings. Each stores its value (the default when unset) or fails as above. */
pipa_status pipa_env_timeout(double *seconds);  /* PIPA_TIMEOUT: receive deadline, default 300 */
pipa_status pipa_env_log_level(int *level);     /* PIPA_LOG: error|warn|info|debug -> 0..3 */
pipa_status pipa_env_blas_threads(int *n);      /* PIPA_BLAS_THREADS: 1..4096; 0 when unset */
pipa_status pipa_env_shm_ring_mb(int *mb);      /* PIPA_SHM_RING_MB: 1..4096, default 16 */
pipa_status pipa_env_shm_frag_kb(int *kb);      /* PIPA_SHM_FRAG_KB: 1..1048576, default 128 */

/* PIPA_TRANSPORT: the index of its value among the `n` transports built (`built`, the registry's
 * names in transport.c, which calls this), or -1 when unset or empty (transport.c then chooses).
 * Any other name is refused, naming the transports built. pipa_env_check cannot know the
 * registry (it lives above this file): launch.h's pipa_launch_env_check checks everything. */
pipa_status pipa_env_transport(const char *const *built, int n, int *index);

/* The rank and world size an MPI launcher gave this process, or *rank = -1 (and *world = 1) when
 * none did: Open MPI's mpirun (OMPI_COMM_WORLD_RANK, _SIZE), MPICH's (PMI_RANK, PMI_SIZE), Slurm's
 * srun (SLURM_PROCID, SLURM_STEP_NUM_TASKS; a step of one task is not taken for an MPI job, since
 * srun starts plain programs, pipa-run among them, too). RANK or WORLD_SIZE set (pipa-run's ranks)
 * wins: then none. *from is the variable that said so ("OMPI_COMM_WORLD_SIZE"), for messages. */
pipa_status pipa_env_mpi_launcher(int *rank, int *world, const char **from);

/* Tries every setting above but PIPA_TRANSPORT; the first bad one fails. */
pipa_status pipa_env_check(void);

#endif
