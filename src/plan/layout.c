/* layout.c: rank <-> (d, p, t) arithmetic for the dp x pp x tp world, tp fastest.
 * Leaves out building communicators for the groups; that is comm.h's job. */
#include "plan/layout.h"

#include <stdio.h>

/* Divides world by the product of the two known sizes, naming the missing one on failure. */
static pipa_status derive(int world, int a, int b, const char *what, const char *known, int *out)
{
    long long prod = (long long)a * b;
    if (world % prod != 0)
        return pipa__fail(PIPA_ERR_ARG, "cannot derive %s: world %d is not divisible by %s = %lld",
                          what, world, known, prod);
    *out = (int)(world / prod);
    return PIPA_OK;
}

pipa_status pipa_layout_init(pipa_layout_t *l, int world, int rank, int dp, int pp, int tp)
{
    if (world < 1) return pipa__fail(PIPA_ERR_ARG, "world size %d must be at least 1", world);
    if (dp < 0 || pp < 0 || tp < 0)
        return pipa__fail(PIPA_ERR_ARG, "negative group size (dp %d, pp %d, tp %d)", dp, pp, tp);
    /* Sizes above world can never fit; rejecting them early keeps dp * pp * tp from overflowing. */
    if (dp > world || pp > world || tp > world)
        return pipa__fail(PIPA_ERR_ARG, "group size larger than world %d (dp %d, pp %d, tp %d)",
                          world, dp, pp, tp);
    if (pp == 0) {
        if (dp == 0) dp = 1;
        if (tp == 0) tp = 1;
        PIPA_TRY(derive(world, dp, tp, "pp", "dp * tp", &pp));
    } else if (dp == 0) {
        if (tp == 0) tp = 1;
        PIPA_TRY(derive(world, pp, tp, "dp", "pp * tp", &dp));
    } else if (tp == 0) {
        PIPA_TRY(derive(world, dp, pp, "tp", "dp * pp", &tp));
    }
    if ((long long)dp * pp * tp != world)
        return pipa__fail(PIPA_ERR_ARG, "dp %d x pp %d x tp %d = %lld ranks, but the world has %d",
                          dp, pp, tp, (long long)dp * pp * tp, world);
    if (rank < 0 || rank >= world)
        return pipa__fail(PIPA_ERR_ARG, "rank %d is outside the world of %d ranks", rank, world);

    l->world = world;
    l->rank = rank;
    l->dp = dp;
    l->pp = pp;
    l->tp = tp;
    l->t = rank % tp;
    l->p = (rank / tp) % pp;
    l->d = rank / (tp * pp);
    return PIPA_OK;
}

int pipa_layout_rank_of(const pipa_layout_t *l, int d, int p, int t)
{
    PIPA_ASSERT(d >= 0 && d < l->dp && p >= 0 && p < l->pp && t >= 0 && t < l->tp);
    return (d * l->pp + p) * l->tp + t;
}

int pipa_layout_pp_rank(const pipa_layout_t *l) { return l->p; }
int pipa_layout_pp_size(const pipa_layout_t *l) { return l->pp; }
int pipa_layout_tp_rank(const pipa_layout_t *l) { return l->t; }
int pipa_layout_tp_size(const pipa_layout_t *l) { return l->tp; }
int pipa_layout_dp_rank(const pipa_layout_t *l) { return l->d; }
int pipa_layout_dp_size(const pipa_layout_t *l) { return l->dp; }

int pipa_layout_prev(const pipa_layout_t *l)
{
    return l->p == 0 ? -1 : pipa_layout_rank_of(l, l->d, l->p - 1, l->t);
}

int pipa_layout_next(const pipa_layout_t *l)
{
    return l->p == l->pp - 1 ? -1 : pipa_layout_rank_of(l, l->d, l->p + 1, l->t);
}

int pipa_layout_is_first(const pipa_layout_t *l) { return l->p == 0; }
int pipa_layout_is_last(const pipa_layout_t *l) { return l->p == l->pp - 1; }

int pipa_layout_pp_group_ranks(const pipa_layout_t *l, int *ranks)
{
    for (int p = 0; p < l->pp; p++) ranks[p] = pipa_layout_rank_of(l, l->d, p, l->t);
    return l->pp;
}

int pipa_layout_tp_group_ranks(const pipa_layout_t *l, int *ranks)
{
    for (int t = 0; t < l->tp; t++) ranks[t] = pipa_layout_rank_of(l, l->d, l->p, t);
    return l->tp;
}

int pipa_layout_dp_group_ranks(const pipa_layout_t *l, int *ranks)
{
    for (int d = 0; d < l->dp; d++) ranks[d] = pipa_layout_rank_of(l, d, l->p, l->t);
    return l->dp;
}

char *pipa_layout_describe(const pipa_layout_t *l, char *buf, size_t len)
{
    if (len > 0) snprintf(buf, len, "dp %d x pp %d x tp %d", l->dp, l->pp, l->tp);
    return buf;
}
