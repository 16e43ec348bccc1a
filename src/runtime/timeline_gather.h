/* timeline_gather.h: bringing every rank's measured timeline to one rank. A collective, so it
 * sits at the runtime's level (above comm), not in trace, which only formats events. */
#ifndef PIPA_TIMELINE_GATHER_H
#define PIPA_TIMELINE_GATHER_H

#include "comm/comm.h"
#include "runtime/trace.h"

/* Collects every rank's measured times (my_start, my_end: plan->len[my rank] each) at the group's
 * first member, into t (allocated there by this call; untouched elsewhere). */
pipa_status pipa_timeline_gather(pipa_group_t *g, const pipa_plan_t *p, const double *my_start,
                                 const double *my_end, pipa_timeline_t *t);

#endif
