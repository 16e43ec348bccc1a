/* launch.h: the launcher's side of a run (pipa-run), through the transport PIPA_TRANSPORT names.
 *
 * Before the first rank starts, the run's transport prepares what the ranks will join (shm: one
 * anonymous memory file); each rank's process gets, just before it starts the program, the
 * environment it needs to join; when a rank ends, its peers are told at once. The launcher names
 * no transport: each brings its own launch functions in its table (transport.h).
 * Left out: RANK, WORLD_SIZE and the like, the same whatever the transport (pipa-run sets them). */
#ifndef PIPA_LAUNCH_H
#define PIPA_LAUNCH_H

#include "base/status.h"

typedef struct pipa_launch pipa_launch_t;

/* Every pipa setting in the environment (env.h's pipa_env_check) and PIPA_TRANSPORT against the
 * transports built: what a program that joins no run (pipa-run, pipa-sim) checks before any
 * work. (pipa_comm_init checks the same in every rank.) */
pipa_status pipa_launch_env_check(void);
/* Prepares a run of `world` ranks over the transport PIPA_TRANSPORT names. */
pipa_status pipa_launch_begin(int world, pipa_launch_t **out);
/* The run's transport ("shm"). */
const char *pipa_launch_transport_name(const pipa_launch_t *l);
/* In rank `rank`'s own process, before it starts the program: sets what it needs to join. */
void pipa_launch_set_rank_env(const pipa_launch_t *l, int rank);
/* Rank `rank` ended (failed: a non-zero exit or a signal): its peers are told at once. */
void pipa_launch_rank_ended(pipa_launch_t *l, int rank, int failed);
/* Every rank has ended: lets go of the run (l may be NULL). */
void pipa_launch_end(pipa_launch_t *l);

#endif
