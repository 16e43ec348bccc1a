/* launch.c: the launcher's side of a run, through the transport's table (see launch.h). */
#include "comm/launch.h"

#include <stdlib.h>

#include "base/env.h"
#include "comm/transport.h"

struct pipa_launch {
    const pipa_transport_ops_t *ops;
    void *run;  /* what ops->launch prepared */
};

pipa_status pipa_launch_env_check(void)
{
    const pipa_transport_ops_t *ops;
    PIPA_TRY(pipa_env_check());
    return pipa__transport_from_env(&ops);
}

pipa_status pipa_launch_begin(int world, pipa_launch_t **out)
{
    const pipa_transport_ops_t *ops;
    *out = NULL;
    PIPA_TRY(pipa__transport_from_env(&ops));
    pipa_launch_t *l = calloc(1, sizeof *l);
    if (!l) return pipa__fail(PIPA_ERR_NOMEM, "out of memory");
    l->ops = ops;
    pipa_status s = ops->launch(world, &l->run);
    if (s != PIPA_OK) {
        pipa_launch_end(l);
        return s;
    }
    *out = l;
    return PIPA_OK;
}

const char *pipa_launch_transport_name(const pipa_launch_t *l) { return l->ops->name; }

void pipa_launch_set_rank_env(const pipa_launch_t *l, int rank)
{
    l->ops->launch_rank_env(l->run, rank);
}

void pipa_launch_rank_ended(pipa_launch_t *l, int rank, int failed)
{
    l->ops->launch_rank_ended(l->run, rank, failed);
}

void pipa_launch_end(pipa_launch_t *l)
{
    if (!l) return;
    l->ops->launch_end(l->run);
    free(l);
}
