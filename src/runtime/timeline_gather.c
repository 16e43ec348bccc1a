/* timeline_gather.c: measured timelines from every rank to one (see timeline_gather.h). */
#include "runtime/timeline_gather.h"

#include <string.h>

pipa_status pipa_timeline_gather(pipa_group_t *g, const pipa_plan_t *p, const double *my_start,
                                 const double *my_end, pipa_timeline_t *t)
{
    uint64_t tag = (1ull << 62) | 0x7ace;
    int me = g->me;
    pipa_desc_t d = pipa_desc_1d(PIPA_F64, p->len[me]);
    if (me != 0) {
        PIPA_TRY(pipa_send(g->comm, g->ranks[0], tag, &d, my_start));
        return pipa_send(g->comm, g->ranks[0], tag + 1, &d, my_end);
    }
    PIPA_TRY(pipa_timeline_alloc(t, p));
    memcpy(t->start[0], my_start, (size_t)p->len[0] * sizeof(double));
    memcpy(t->end[0], my_end, (size_t)p->len[0] * sizeof(double));
    for (int r = 1; r < p->P; r++) {
        pipa_desc_t dr = pipa_desc_1d(PIPA_F64, p->len[r]);
        PIPA_TRY(pipa_recv(g->comm, g->ranks[r], tag, &dr, t->start[r]));
        PIPA_TRY(pipa_recv(g->comm, g->ranks[r], tag + 1, &dr, t->end[r]));
    }
    return PIPA_OK;
}
