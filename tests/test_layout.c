/* Proves the rank layout: for every world 1..16 and every dp x pp x tp factorization, each rank
 * gets a unique (d, p, t) with tp fastest, prev/next walk the pipeline, and the pp / tp / dp
 * groups partition the world. Then the derivation rules and every error case. */
#include <string.h>
#include "check.h"
#include "plan/layout.h"

#define MAXW 16

/* Checks that the groups of one kind (every rank's list) partition the world: each rank's list
 * contains it at its group rank, and all ranks of a list report the same list. */
static void check_partition(const pipa_layout_t *ls, int world, int kind)
{
    int owner[MAXW];  /* lowest rank of the group a rank was first seen in */
    for (int r = 0; r < world; r++) owner[r] = -1;
    for (int r = 0; r < world; r++) {
        const pipa_layout_t *l = &ls[r];
        int g[MAXW], n, me;
        if (kind == 0) n = pipa_layout_pp_group_ranks(l, g), me = pipa_layout_pp_rank(l);
        else if (kind == 1) n = pipa_layout_tp_group_ranks(l, g), me = pipa_layout_tp_rank(l);
        else n = pipa_layout_dp_group_ranks(l, g), me = pipa_layout_dp_rank(l);
        int size = kind == 0 ? l->pp : kind == 1 ? l->tp : l->dp;
        CHECKF(n == size, "world %d rank %d kind %d: %d ranks, size %d", world, r, kind, n, size);
        CHECKF(g[me] == r, "world %d rank %d kind %d: not at own index %d", world, r, kind, me);
        for (int i = 0; i < n; i++) {
            CHECK(g[i] >= 0 && g[i] < world);
            if (g[i] < 0 || g[i] >= world) continue;
            /* Every member must list the same group: compare with the member's own list. */
            int h[MAXW];
            const pipa_layout_t *m = &ls[g[i]];
            int hn = kind == 0 ? pipa_layout_pp_group_ranks(m, h)
                     : kind == 1 ? pipa_layout_tp_group_ranks(m, h)
                                 : pipa_layout_dp_group_ranks(m, h);
            CHECK(hn == n && memcmp(g, h, (size_t)n * sizeof *g) == 0);
            if (owner[g[i]] == -1) owner[g[i]] = g[0];
            CHECKF(owner[g[i]] == g[0], "world %d kind %d: rank %d in two groups", world, kind,
                   g[i]);
            /* Group members differ only in the group's own coordinate. */
            if (kind != 0) CHECK(m->p == l->p);
            if (kind != 1) CHECK(m->t == l->t);
            if (kind != 2) CHECK(m->d == l->d);
        }
    }
    for (int r = 0; r < world; r++)
        CHECKF(owner[r] != -1, "world %d kind %d: rank %d in no group", world, kind, r);
}

static void check_factorization(int world, int dp, int pp, int tp)
{
    pipa_layout_t ls[MAXW];
    int seen[MAXW][MAXW][MAXW];
    memset(seen, 0, sizeof seen);
    for (int r = 0; r < world; r++) {
        pipa_layout_t *l = &ls[r];
        pipa_status s = pipa_layout_init(l, world, r, dp, pp, tp);
        CHECKF(s == PIPA_OK, "world %d rank %d dp %d pp %d tp %d: %s", world, r, dp, pp, tp,
               pipa_last_error());
        if (s != PIPA_OK) return;
        CHECK(l->world == world && l->rank == r);
        CHECK(pipa_layout_dp_size(l) == dp && pipa_layout_pp_size(l) == pp &&
              pipa_layout_tp_size(l) == tp);
        int d = pipa_layout_dp_rank(l), p = pipa_layout_pp_rank(l), t = pipa_layout_tp_rank(l);
        CHECK(d >= 0 && d < dp && p >= 0 && p < pp && t >= 0 && t < tp);
        /* Megatron order, tp fastest, then pp, then dp. */
        CHECKF(r == (d * pp + p) * tp + t, "world %d rank %d -> (%d,%d,%d)", world, r, d, p, t);
        CHECK(t == r % tp);
        CHECK(pipa_layout_rank_of(l, d, p, t) == r);
        CHECK(!seen[d][p][t]);
        seen[d][p][t] = 1;

        CHECK(pipa_layout_is_first(l) == (p == 0));
        CHECK(pipa_layout_is_last(l) == (p == pp - 1));
        int prev = pipa_layout_prev(l), next = pipa_layout_next(l);
        CHECK(p == 0 ? prev == -1 : prev == r - tp);
        CHECK(p == pp - 1 ? next == -1 : next == r + tp);
    }
    /* prev/next are each other's inverse and stay within d and t. */
    for (int r = 0; r < world; r++) {
        int next = pipa_layout_next(&ls[r]), prev = pipa_layout_prev(&ls[r]);
        if (next >= 0) {
            CHECK(pipa_layout_prev(&ls[next]) == r);
            CHECK(ls[next].d == ls[r].d && ls[next].t == ls[r].t && ls[next].p == ls[r].p + 1);
        }
        if (prev >= 0) CHECK(pipa_layout_next(&ls[prev]) == r);
    }
    /* Walking next from a first stage visits the whole pp group in stage order. */
    for (int r = 0; r < world; r++) {
        if (!pipa_layout_is_first(&ls[r])) continue;
        int g[MAXW], n = pipa_layout_pp_group_ranks(&ls[r], g), i = 0;
        for (int x = r; x != -1; x = pipa_layout_next(&ls[x]), i++) CHECK(i < n && g[i] == x);
        CHECK(i == pp);
    }
    for (int kind = 0; kind < 3; kind++) check_partition(ls, world, kind);
}

static void test_all_factorizations(void)
{
    int count = 0;
    for (int world = 1; world <= MAXW; world++)
        for (int dp = 1; dp <= world; dp++)
            for (int pp = 1; pp <= world; pp++) {
                if (world % (dp * pp)) continue;
                check_factorization(world, dp, pp, world / (dp * pp));
                count++;
            }
    CHECKF(count == 110, "%d factorizations", count);  /* sum over W <= 16 of d3(W) */
}

static void test_example(void)
{
    /* world 8 = dp 2 x pp 2 x tp 2: rank 5 is d 1, p 0, t 1. */
    pipa_layout_t l;
    CHECK(pipa_layout_init(&l, 8, 5, 2, 2, 2) == PIPA_OK);
    CHECK(l.d == 1 && l.p == 0 && l.t == 1);
    CHECK(pipa_layout_prev(&l) == -1 && pipa_layout_next(&l) == 7);
    int g[8];
    CHECK(pipa_layout_pp_group_ranks(&l, g) == 2 && g[0] == 5 && g[1] == 7);
    CHECK(pipa_layout_tp_group_ranks(&l, g) == 2 && g[0] == 4 && g[1] == 5);
    CHECK(pipa_layout_dp_group_ranks(&l, g) == 2 && g[0] == 1 && g[1] == 5);
    char buf[48];
    CHECK(strcmp(pipa_layout_describe(&l, buf, sizeof buf), "dp 2 x pp 2 x tp 2") == 0);
    char small[6];
    CHECK(strcmp(pipa_layout_describe(&l, small, sizeof small), "dp 2 ") == 0);
}

static void test_derive(void)
{
    pipa_layout_t l;
    char buf[48];
    CHECK(pipa_layout_init(&l, 4, 0, 0, 0, 0) == PIPA_OK);
    CHECK(strcmp(pipa_layout_describe(&l, buf, sizeof buf), "dp 1 x pp 4 x tp 1") == 0);
    CHECK(pipa_layout_init(&l, 12, 0, 2, 0, 0) == PIPA_OK && l.dp == 2 && l.pp == 6 && l.tp == 1);
    CHECK(pipa_layout_init(&l, 12, 0, 0, 0, 3) == PIPA_OK && l.dp == 1 && l.pp == 4 && l.tp == 3);
    CHECK(pipa_layout_init(&l, 12, 0, 2, 0, 3) == PIPA_OK && l.pp == 2);
    CHECK(pipa_layout_init(&l, 12, 0, 0, 3, 2) == PIPA_OK && l.dp == 2);
    CHECK(pipa_layout_init(&l, 12, 0, 0, 3, 0) == PIPA_OK && l.dp == 4 && l.tp == 1);
    CHECK(pipa_layout_init(&l, 12, 0, 3, 2, 0) == PIPA_OK && l.tp == 2);
    CHECK(pipa_layout_init(&l, 1, 0, 0, 0, 0) == PIPA_OK && l.dp == 1 && l.pp == 1 && l.tp == 1);
    CHECK(pipa_layout_is_first(&l) && pipa_layout_is_last(&l));
    CHECK(pipa_layout_prev(&l) == -1 && pipa_layout_next(&l) == -1);
}

/* One error case: fails with PIPA_ERR_ARG, leaves l untouched, message contains `want`. */
static void check_error(int world, int rank, int dp, int pp, int tp, const char *want)
{
    pipa_layout_t l;
    memset(&l, 0x5a, sizeof l);
    pipa_layout_t before = l;
    pipa_status s = pipa_layout_init(&l, world, rank, dp, pp, tp);
    CHECKF(s == PIPA_ERR_ARG, "world %d rank %d dp %d pp %d tp %d: status %d", world, rank, dp,
           pp, tp, s);
    CHECKF(strstr(pipa_last_error(), want), "message '%s' lacks '%s'", pipa_last_error(), want);
    CHECK(memcmp(&l, &before, sizeof l) == 0);
}

static void test_errors(void)
{
    check_error(4, 0, 1, 3, 1, "dp 1 x pp 3 x tp 1 = 3 ranks, but the world has 4");
    check_error(4, 0, 2, 2, 2, "= 8 ranks, but the world has 4");
    check_error(6, 0, 4, 0, 0, "cannot derive pp: world 6 is not divisible by dp * tp = 4");
    check_error(6, 0, 0, 4, 0, "cannot derive dp");
    check_error(6, 0, 1, 4, 0, "cannot derive tp");
    check_error(4, 0, -1, 4, 1, "negative");
    check_error(4, 0, 1, -4, 1, "negative");
    check_error(4, 0, 1, 4, -1, "negative");
    check_error(4, 4, 1, 4, 1, "rank 4 is outside the world of 4 ranks");
    check_error(4, -1, 1, 4, 1, "rank -1 is outside");
    check_error(0, 0, 0, 0, 0, "world size 0");
    check_error(-3, 0, 0, 0, 0, "world size -3");
    check_error(4, 0, 1 << 20, 1 << 20, 1, "larger than world");
    check_error(4, 0, 8, 0, 0, "larger than world");
}

int main(void)
{
    test_all_factorizations();
    test_example();
    test_derive();
    test_errors();
    return check_done("test_layout");
}
