/* test_plan_sched: chunk placement and the two schedules that use it most, ZB-V and looped BFS.
 *  - placement: round-robin is c*P + r, the V shape puts rank r at r and 2P-1-r (V = 2), and each
 *    placement's rank-of-stage inverts its stage-of-rank (closed forms, not the code's tables);
 *  - ZB-V: every (P, M) generates a plan the checker accepts, never more live activations than
 *    1F1B's peak (2P half-stage chunks = P stages); with F = I = W and M >= 2P its simulated
 *    bubble is never below the closed form (P-1)/(6M+P-1) (no idle time but the ramp of rank
 *    P-1), equals it for P = 2, 3, 4, 8, is within P/4 time units of it otherwise, and beats
 *    ZB-H1 and 1F1B;
 *  - looped BFS: every (P, M, V) checks; GPipe's memory (M V per rank); simulated bubble equal to
 *    1 - V M / (V max(M, P) + min(M, P) - 1), (P-1)/(VM+P-1) for M >= P, with F = 1, B = 2;
 *  - the V placement survives the text form (header "place=v") and the copy of the plan read
 *    back simulates the same. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "plan_costs.h"
#include "plan/plan.h"

static void test_placement(void)
{
    for (int P = 1; P <= 8; P++)
        for (int V = 1; V <= 4; V++)
            for (int r = 0; r < P; r++)
                for (int c = 0; c < V; c++) {
                    int loop = pipa_place_vstage(PIPA_PLACE_LOOP, P, r, c);
                    int v = pipa_place_vstage(PIPA_PLACE_V, P, r, c);
                    CHECK(loop == c * P + r);
                    CHECK(v == (c % 2 ? c * P + P - 1 - r : c * P + r));
                    if (V == 2 && c == 1) CHECKF(v == 2 * P - 1 - r, "P=%d rank %d: %d", P, r, v);
                    CHECK(pipa_place_rank(PIPA_PLACE_LOOP, P, loop) == r);
                    CHECK(pipa_place_rank(PIPA_PLACE_V, P, v) == r);
                }
    /* The last virtual stage of a V = 2 plan sits on rank 0, beside the first. */
    CHECK(pipa_place_rank(PIPA_PLACE_V, 5, 9) == 0 && pipa_place_rank(PIPA_PLACE_LOOP, 5, 9) == 4);
    CHECK(!strcmp(pipa_place_name(PIPA_PLACE_V), "v") && !strcmp(pipa_place_name(PIPA_PLACE_LOOP), "loop"));
}

/* Generates, checks and simulates; -1 bubble on any failure (reported). */
static double run(pipa_sched s, int P, int M, int V, pipa_plan_report_t *rep)
{
    pipa_plan_t p;
    pipa_plan_sim_t sim;
    pipa_plan_costs_t c = unit_costs(V);
    pipa_status st = pipa_plan_generate(&p, s, P, M, V);
    CHECKF(st == PIPA_OK, "%s P=%d M=%d V=%d: %s", pipa_sched_name(s), P, M, V, pipa_last_error());
    if (st != PIPA_OK) return -1.0;
    st = pipa_plan_check_simulate(&p, rep, &c, &sim, NULL, NULL);
    CHECKF(st == PIPA_OK, "%s P=%d M=%d V=%d rejected: %s", pipa_sched_name(s), P, M, V,
           pipa_last_error());
    pipa_plan_free(&p);
    return st == PIPA_OK ? sim.bubble : -1.0;
}

static void test_zbv(void)
{
    int exact = 0, cases = 0;
    for (int P = 2; P <= 12; P++)
        for (int M = 1; M <= 6 * P; M++) {
            pipa_plan_report_t rep;
            double got = run(PIPA_SCHED_ZBV, P, M, 2, &rep);
            for (int r = 0; r < P; r++)
                CHECKF(rep.peak_live[r] <= 2 * P, "zbv P=%d M=%d rank %d: %d live > 2P", P, M, r,
                       rep.peak_live[r]);
            if (M < 2 * P) continue;
            /* The closed form (only the ramp idles): makespan 3M + (P-1)/2 at half-stage costs. */
            double want = (double)(P - 1) / (6.0 * M + P - 1), ideal = 3.0 * M + (P - 1) / 2.0;
            double ms = 3.0 * M / (1.0 - got);   /* the busy time is 3M whatever the order */
            CHECKF(got >= want - 1e-9, "zbv P=%d M=%d bubble %.9f below the ramp's %.9f", P, M, got, want);
            CHECKF(ms <= ideal + P / 4.0 + 1e-9, "zbv P=%d M=%d makespan %g, ramp-only %g", P, M, ms, ideal);
            if (P <= 4 || P == 8)
                CHECKF(fabs(got - want) < 1e-9, "zbv P=%d M=%d bubble %.9f, closed form %.9f", P, M,
                       got, want);
            CHECKF(fabs(pipa_plan_bubble_theory(PIPA_SCHED_ZBV, P, M, 2) - want) < 1e-12,
                   "zbv theory P=%d M=%d", P, M);
            exact += fabs(got - want) < 1e-9;
            cases++;
            double zb1 = run(PIPA_SCHED_ZB1, P, M, 1, NULL), f1b = run(PIPA_SCHED_1F1B, P, M, 1, NULL);
            CHECKF(got < zb1 && zb1 < f1b, "P=%d M=%d: zbv %g, zb1 %g, 1f1b %g", P, M, got, zb1, f1b);
        }
    printf("zbv: %d of %d (P, M >= 2P) at the closed form (P-1)/(6M+P-1), the rest within P/4\n",
           exact, cases);
}

static void test_bfs(void)
{
    for (int P = 2; P <= 8; P++)
        for (int M = 1; M <= 20; M++)
            for (int V = 2; V <= 4; V++) {
                pipa_plan_report_t rep;
                double got = run(PIPA_SCHED_BFS, P, M, V, &rep);
                int hi = M > P ? M : P, lo = M < P ? M : P;
                double want = 1.0 - (double)V * M / ((double)V * hi + lo - 1);
                if (M >= P) CHECK(fabs(want - (double)(P - 1) / ((double)V * M + P - 1)) < 1e-12);
                CHECKF(fabs(got - want) < 1e-9, "bfs P=%d M=%d V=%d bubble %.9f, closed form %.9f", P,
                       M, V, got, want);
                CHECKF(fabs(pipa_plan_bubble_theory(PIPA_SCHED_BFS, P, M, V) - want) < 1e-12,
                       "bfs theory P=%d M=%d V=%d", P, M, V);
                for (int r = 0; r < P; r++) CHECK(rep.peak_live[r] == M * V);
            }
}

/* A ZB-V plan written and read back: "place=v" in its header, the same actions, the same
 * simulation; the same actions under round-robin placement are another (here refused) plan. */
static void test_text(void)
{
    pipa_plan_t p, q;
    CHECK(pipa_plan_generate(&p, PIPA_SCHED_ZBV, 3, 6, 2) == PIPA_OK);
    char *buf = NULL;
    size_t n = 0;
    FILE *f = open_memstream(&buf, &n);
    CHECK(pipa_plan_write(&p, f) == PIPA_OK);
    fclose(f);
    CHECK(!strncmp(buf, "# pipa plan P=3 M=6 V=2 place=v\n", 32));
    f = fmemopen(buf, n, "r");
    CHECK(pipa_plan_read(&q, f, "zbv.plan") == PIPA_OK);
    fclose(f);
    CHECK(q.place == PIPA_PLACE_V);
    for (int r = 0; r < 3; r++) {
        CHECK(q.len[r] == p.len[r]);
        for (int i = 0; i < p.len[r] && i < q.len[r]; i++)
            CHECK(!memcmp(&p.act[r][i], &q.act[r][i], sizeof p.act[r][i]));
    }
    pipa_plan_costs_t c = unit_costs(2);
    pipa_plan_sim_t a, b;
    CHECK(pipa_plan_simulate(&p, &c, &a) == PIPA_OK && pipa_plan_simulate(&q, &c, &b) == PIPA_OK);
    CHECK(a.makespan == b.makespan && a.bubble == b.bubble);
    q.place = PIPA_PLACE_LOOP;
    CHECK(pipa_plan_check(&q, NULL) != PIPA_OK);
    pipa_plan_free(&q);
    /* A header with an unknown placement is refused, naming the line. */
    static const char bad[] = "# pipa plan P=2 M=1 V=2 place=w\n";
    f = fmemopen((void *)bad, sizeof bad - 1, "r");
    CHECK(pipa_plan_read(&q, f, "bad.plan") != PIPA_OK && strstr(pipa_last_error(), "bad.plan:1"));
    fclose(f);
    free(buf);
    pipa_plan_free(&p);
}

int main(void)
{
    test_placement();
    test_zbv();
    test_bfs();
    test_text();
    return check_done("test_plan_sched");
}
