/* grid.c: a rank's pipeline, tensor and data groups from its layout (grid.h). Leaves out any
 * communication: groups are lists of ranks with an id until a collective runs on them. */
#include "runtime/grid.h"

#include <stdio.h>

/* Ids below 2^22 (comm.h); at most PIPA_MAX_RANKS = 256 per coordinate, so 4096 apart is room
 * enough, and the three kinds' ranges (1.., 2^20.., 2^21..) never meet. */
#define GRID_TP_BASE (1 << 20)
#define GRID_DP_BASE (1 << 21)
#define GRID_ENDS_BASE (3 << 20)

int pipa_grid_pp_id(const pipa_layout_t *l) { return 1 + l->d * 4096 + l->t; }
int pipa_grid_tp_id(const pipa_layout_t *l) { return GRID_TP_BASE + l->d * 4096 + l->p; }
int pipa_grid_dp_id(const pipa_layout_t *l) { return GRID_DP_BASE + l->p * 4096 + l->t; }
int pipa_grid_ends_id(const pipa_layout_t *l) { return GRID_ENDS_BASE + l->d * 4096 + l->t; }

pipa_status pipa_grid_layout(pipa_layout_t *l, int world, int rank, int dp, int pp, int tp)
{
    if (pp && !dp && !tp && pp != world)  /* the tools' message from before dp and tp */
        return pipa__fail(PIPA_ERR_ARG, "--pp %d but %d ranks: the pipeline must use every rank "
                          "(start %d ranks, e.g. pipa-run -n %d)", pp, world, pp, pp);
    dp = dp ? dp : 1;
    tp = tp ? tp : 1;
    int want = pp ? pp * dp * tp : 0;
    if (pp && (long long)pp * dp * tp != world)
        return pipa__fail(PIPA_ERR_ARG, "--pp %d x --dp %d x --tp %d = %lld ranks, but the world has "
                          "%d: the layout must use every rank (start %d ranks, e.g. pipa-run -n %d)",
                          pp, dp, tp, (long long)pp * dp * tp, world, want, want);
    if (!pp && world % (dp * tp))
        return pipa__fail(PIPA_ERR_ARG, "--dp %d x --tp %d = %d does not divide the world of %d ranks "
                          "(the pipeline stages are the rest)", dp, tp, dp * tp, world);
    return pipa_layout_init(l, world, rank, dp, pp, tp);
}

pipa_status pipa_grid_check(const pipa_layout_t *l, const pipa_model_config_t *m, int V, int M)
{
    if (m->NH % l->tp)
        return pipa__fail(PIPA_ERR_ARG, "--tp %d: the %d attention heads (--heads) do not divide "
                          "among %d tensor ranks", l->tp, m->NH, l->tp);
    if (pipa_config_nkv(m) % l->tp)
        return pipa__fail(PIPA_ERR_ARG, "--tp %d: the %d key/value heads (--kv-heads) do not "
                          "divide among %d tensor ranks (a rank holds whole key/value heads and "
                          "the query heads that use them)", l->tp, pipa_config_nkv(m), l->tp);
    if (m->I % l->tp)
        return pipa__fail(PIPA_ERR_ARG, "--tp %d: the intermediate size %d (--intermediate) does "
                          "not divide among %d tensor ranks", l->tp, m->I, l->tp);
    if (M && M < l->dp)
        return pipa__fail(PIPA_ERR_ARG, "--microbatches %d: fewer microbatches than the --dp %d "
                          "replicas (each replica needs one at least)", M, l->dp);
    if (M && M % l->dp)
        return pipa__fail(PIPA_ERR_ARG, "--microbatches %d do not divide among the --dp %d replicas "
                          "(each runs the same number)", M, l->dp);
    if ((long long)l->pp * V > m->L)
        return pipa__fail(PIPA_ERR_ARG, "%d layers cannot fill %lld virtual stages (--pp %d x %d "
                          "chunk%s): give --layers %lld or more, or fewer stages", m->L,
                          (long long)l->pp * V, l->pp, V, V == 1 ? "" : "s", (long long)l->pp * V);
    return PIPA_OK;
}

pipa_status pipa_grid_init(pipa_grid_t *g, pipa_comm_t *c, const pipa_layout_t *l)
{
    int ranks[PIPA_MAX_RANKS];
    g->lay = *l;
    int n = pipa_layout_pp_group_ranks(l, ranks);
    PIPA_TRY(pipa_group_init(&g->pp, c, pipa_grid_pp_id(l), ranks, n));
    n = pipa_layout_tp_group_ranks(l, ranks);
    PIPA_TRY(pipa_group_init(&g->tp, c, pipa_grid_tp_id(l), ranks, n));
    n = pipa_layout_dp_group_ranks(l, ranks);
    PIPA_TRY(pipa_group_init(&g->dp, c, pipa_grid_dp_id(l), ranks, n));
    pipa_group_set_name(&g->pp, "pipeline");
    pipa_group_set_name(&g->tp, "tensor");
    pipa_group_set_name(&g->dp, "data");
    return PIPA_OK;
}

/* " [a b c]" of n ranks appended at buf + *at. */
static void put_ranks(char *buf, size_t len, size_t *at, const char *name, const int *r, int n)
{
    for (int i = -1; i <= n && *at < len; i++) {
        int k = i < 0 ? snprintf(buf + *at, len - *at, "  %s [", name)
              : i == n ? snprintf(buf + *at, len - *at, "]")
              : snprintf(buf + *at, len - *at, i ? " %d" : "%d", r[i]);
        *at += k > 0 ? (size_t)k : 0;
    }
}

char *pipa_grid_describe(const pipa_grid_t *g, char *buf, size_t len)
{
    const pipa_layout_t *l = &g->lay;
    if (len == 0) return buf;
    int k = snprintf(buf, len, "rank %3d  (pp %d, dp %d, tp %d)", l->rank, l->p, l->d, l->t);
    size_t at = k > 0 ? (size_t)k : 0;
    put_ranks(buf, len, &at, "pp", g->pp.ranks, g->pp.size);
    put_ranks(buf, len, &at, "dp", g->dp.ranks, g->dp.size);
    put_ranks(buf, len, &at, "tp", g->tp.ranks, g->tp.size);
    if (at < len)
        snprintf(buf + at, len - at, "  prev %d next %d%s%s", pipa_layout_prev(l),
                 pipa_layout_next(l), pipa_layout_is_first(l) ? "  first" : "",
                 pipa_layout_is_last(l) ? "  last" : "");
    return buf;
}
