/* test_plan: every generator at every small (P, M, V) yields a plan the checker accepts, with the
 * peak memory each schedule promises; the simulator reproduces the analytic bubbles; the text form
 * round-trips; and hand-broken plans are rejected with a message naming rank, step and action. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "plan_costs.h"
#include "plan/plan.h"

static const pipa_sched scheds[] = {PIPA_SCHED_GPIPE, PIPA_SCHED_1F1B, PIPA_SCHED_INTERLEAVED,
                                    PIPA_SCHED_ZB1};

static int imin(int a, int b) { return a < b ? a : b; }

static int max_peak(const pipa_plan_report_t *rep, int P)
{
    int m = 0;
    for (int r = 0; r < P; r++)
        if (rep->peak_live[r] > m) m = rep->peak_live[r];
    return m;
}

/* ---- generators ------------------------------------------------------------------------- */

/* Every training schedule of the registry (a new one is held to this at once). */
static void test_generate_all(void)
{
    for (int si = 0; si < pipa_sched_count(); si++) {
        pipa_sched s = (pipa_sched)si;
        if (!pipa_sched_info(s)->training) continue;  // forward-only: test_forward_only
        for (int P = 1; P <= 6; P++)
            for (int M = 1; M <= 12; M++)
                for (int V = 1; V <= 3; V++) {
                    pipa_chunks_rule rule = pipa_sched_info(s)->chunks;
                    int want_ok = rule == PIPA_CHUNKS_TWO    ? (V == 2 && P >= 2)
                                  : rule == PIPA_CHUNKS_MANY ? (V >= 2 && P >= 2)
                                                             : V == 1;
                    pipa_plan_t p;
                    pipa_status st = pipa_plan_generate(&p, s, P, M, V);
                    if (!want_ok) {
                        CHECKF(st != PIPA_OK, "%s P=%d M=%d V=%d should be refused", pipa_sched_name(s),
                               P, M, V);
                        if (st == PIPA_OK) pipa_plan_free(&p);
                        else
                            CHECKF(strstr(pipa_last_error(), V == 1 || !pipa_sched_interleaves(s) ||
                                                                     rule == PIPA_CHUNKS_TWO
                                                                 ? "V ="
                                                                 : "P >= 2"),
                                   "unclear refusal: %s", pipa_last_error());
                        continue;
                    }
                    CHECKF(st == PIPA_OK, "%s P=%d M=%d V=%d: %s", pipa_sched_name(s), P, M, V,
                           pipa_last_error());
                    if (st != PIPA_OK) continue;
                    pipa_plan_report_t rep;
                    st = pipa_plan_check(&p, &rep);
                    CHECKF(st == PIPA_OK, "%s P=%d M=%d V=%d rejected: %s", pipa_sched_name(s), P, M, V,
                           pipa_last_error());
                    for (int r = 0; st == PIPA_OK && r < P; r++) {
                        int pk = rep.peak_live[r];
                        if (s == PIPA_SCHED_GPIPE) CHECKF(pk == M, "gpipe P=%d M=%d rank %d peak %d", P, M, r, pk);
                        if (s == PIPA_SCHED_1F1B)
                            CHECKF(pk == imin(P - r, M) && pk <= P, "1f1b P=%d M=%d rank %d peak %d", P,
                                   M, r, pk);
                        if (s == PIPA_SCHED_ZB1)
                            CHECKF(pk <= imin(P, M), "zb1 P=%d M=%d rank %d peak %d", P, M, r, pk);
                        if (s == PIPA_SCHED_INTERLEAVED) CHECK(pk <= M * V);
                        if (s == PIPA_SCHED_BFS) CHECKF(pk == M * V, "bfs rank %d peak %d", r, pk);
                        if (s == PIPA_SCHED_ZBV)   /* 2P half-stage chunks: 1F1B's P stages */
                            CHECKF(pk <= 2 * P, "zbv P=%d M=%d rank %d peak %d", P, M, r, pk);
                    }
                    /* ZB-H1 keeps 1F1B's peak (rank 0's min(P, M)), only spread over more ranks. */
                    if (st == PIPA_OK && s == PIPA_SCHED_ZB1) CHECK(max_peak(&rep, P) == imin(P, M));
                    if (st == PIPA_OK && s == PIPA_SCHED_1F1B) CHECK(rep.peak_live[0] == imin(P, M));
                    /* Every rank ends with STEP. */
                    for (int r = 0; r < P; r++)
                        CHECK(p.len[r] > 0 && p.act[r][p.len[r] - 1].kind == PIPA_ACT_STEP);
                    pipa_plan_free(&p);
                }
    }
    /* Wider sweep of the one schedule with a nontrivial general order. */
    for (int P = 2; P <= 8; P++)
        for (int M = 1; M <= 40; M++)
            for (int V = 2; V <= 4; V++) {
                pipa_plan_t p;
                pipa_status st = pipa_plan_generate(&p, PIPA_SCHED_INTERLEAVED, P, M, V);
                CHECKF(st == PIPA_OK, "interleaved P=%d M=%d V=%d: %s", P, M, V, pipa_last_error());
                if (st != PIPA_OK) continue;
                st = pipa_plan_check(&p, NULL);
                CHECKF(st == PIPA_OK, "interleaved P=%d M=%d V=%d rejected: %s", P, M, V, pipa_last_error());
                pipa_plan_free(&p);
            }
    pipa_plan_t p;
    CHECK(pipa_plan_generate(&p, PIPA_SCHED_1F1B, 0, 4, 1) != PIPA_OK);
    CHECK(pipa_plan_generate(&p, PIPA_SCHED_1F1B, 2, 0, 1) != PIPA_OK);
    CHECK(pipa_plan_generate(&p, PIPA_SCHED_1F1B, PIPA_PLAN_MAX_P + 1, 4, 1) != PIPA_OK);
}

/* 1F1B with M = 1 on 4 ranks is F then B then STEP on each rank, with the comms around them. */
static void test_small_m(void)
{
    pipa_plan_t p;
    CHECK(pipa_plan_generate(&p, PIPA_SCHED_1F1B, 4, 1, 1) == PIPA_OK);
    CHECK(p.len[0] == 5 && p.len[1] == 7 && p.len[3] == 5);
    CHECK(p.act[1][0].kind == PIPA_ACT_RECV_F && p.act[1][1].kind == PIPA_ACT_F &&
          p.act[1][2].kind == PIPA_ACT_SEND_F && p.act[1][3].kind == PIPA_ACT_RECV_B &&
          p.act[1][4].kind == PIPA_ACT_B && p.act[1][5].kind == PIPA_ACT_SEND_B &&
          p.act[1][6].kind == PIPA_ACT_STEP);
    CHECK(pipa_plan_check(&p, NULL) == PIPA_OK);
    pipa_plan_free(&p);
}

/* ---- simulator -------------------------------------------------------------------------- */

static void gen_ok(pipa_plan_t *p, pipa_sched s, int P, int M, int V)
{
    pipa_status st = pipa_plan_generate(p, s, P, M, V);
    PIPA_ASSERT(st == PIPA_OK);
}

static double sim_bubble(pipa_sched s, int P, int M, int V, double *makespan)
{
    pipa_plan_t p;
    pipa_plan_sim_t out;
    pipa_plan_costs_t c = unit_costs(V);
    if (pipa_plan_generate(&p, s, P, M, V) != PIPA_OK) return -1.0;
    pipa_status st = pipa_plan_simulate(&p, &c, &out);
    pipa_plan_free(&p);
    if (st != PIPA_OK) return -1.0;
    if (makespan) *makespan = out.makespan;
    return out.bubble;
}

static void test_simulate(void)
{
    for (int P = 1; P <= 6; P++)
        for (int M = 1; M <= 12; M++) {
            double want = pipa_plan_bubble_theory(PIPA_SCHED_1F1B, P, M, 1), ms;
            double got = sim_bubble(PIPA_SCHED_1F1B, P, M, 1, &ms);
            CHECKF(fabs(got - want) < 1e-9, "1f1b P=%d M=%d bubble %.12f, theory %.12f", P, M, got, want);
            CHECKF(fabs(ms - 3.0 * (M + P - 1)) < 1e-9, "1f1b P=%d M=%d makespan %g", P, M, ms);
            got = sim_bubble(PIPA_SCHED_GPIPE, P, M, 1, NULL);
            CHECKF(fabs(got - want) < 1e-9, "gpipe P=%d M=%d bubble %.12f, theory %.12f", P, M, got, want);
            /* ZB-H1 reaches the paper's (P-1)(F+I-W) idle per rank once there are W's to defer. */
            got = sim_bubble(PIPA_SCHED_ZB1, P, M, 1, &ms);
            want = pipa_plan_bubble_theory(PIPA_SCHED_ZB1, P, M, 1);
            if (M >= P)
                CHECKF(fabs(got - want) < 1e-9, "zb1 P=%d M=%d bubble %.12f, theory %.12f", P, M, got,
                       want);
            CHECKF(ms <= 3.0 * (M + P - 1) + 1e-9, "zb1 P=%d M=%d makespan %g above 1f1b's", P, M, ms);
            /* Interleaved: Narayanan's (P-1)/(VM+P-1) exactly when M % P == 0 (Megatron's case),
             * no worse than it for other M >= P, and never worse than 1F1B. */
            for (int V = 2; P > 1 && V <= 3; V++) {
                got = sim_bubble(PIPA_SCHED_INTERLEAVED, P, M, V, NULL);
                want = pipa_plan_bubble_theory(PIPA_SCHED_INTERLEAVED, P, M, V);
                if (M % P == 0)
                    CHECKF(fabs(got - want) < 1e-9, "interleaved P=%d M=%d V=%d bubble %.12f, theory %.12f",
                           P, M, V, got, want);
                if (M >= P) CHECKF(got <= want + 1e-9, "interleaved P=%d M=%d V=%d bubble %g > %g", P, M, V, got, want);
                CHECKF(got >= 0.0 && got <= pipa_plan_bubble_theory(PIPA_SCHED_1F1B, P, M, 1) + 1e-9,
                       "interleaved P=%d M=%d V=%d bubble %g", P, M, V, got);
            }
        }

    double ms1, msz, msi;
    printf("# P=4 M=8, F=1 B=2 I=W=1 (interleaved: per chunk / V), comms free\n");
    printf("# %-12s %10s %10s %10s\n", "schedule", "makespan", "bubble", "theory");
    for (int si = 0; si < 4; si++) {
        int V = scheds[si] == PIPA_SCHED_INTERLEAVED ? 2 : 1;
        double ms, b = sim_bubble(scheds[si], 4, 8, V, &ms);
        printf("  %-12s %10.3f %10.4f %10.4f\n", pipa_sched_name(scheds[si]), ms, b,
               pipa_plan_bubble_theory(scheds[si], 4, 8, V));
    }
    printf("# peak live activations per rank, P=4 M=8\n");
    for (int si = 0; si < 4; si++) {
        int V = scheds[si] == PIPA_SCHED_INTERLEAVED ? 2 : 1;
        pipa_plan_t p;
        pipa_plan_report_t rep;
        gen_ok(&p, scheds[si], 4, 8, V);
        CHECK(pipa_plan_check(&p, &rep) == PIPA_OK);
        printf("  %-12s %d %d %d %d\n", pipa_sched_name(scheds[si]), rep.peak_live[0],
               rep.peak_live[1], rep.peak_live[2], rep.peak_live[3]);
        pipa_plan_free(&p);
    }
    double b1 = sim_bubble(PIPA_SCHED_1F1B, 4, 8, 1, &ms1);
    double bz = sim_bubble(PIPA_SCHED_ZB1, 4, 8, 1, &msz);
    double bi = sim_bubble(PIPA_SCHED_INTERLEAVED, 4, 8, 2, &msi);
    CHECKF(msz < ms1, "zb1 makespan %g not below 1f1b's %g", msz, ms1);
    CHECKF(bz < b1, "zb1 bubble %g not below 1f1b's %g", bz, b1);
    CHECKF(bi < b1 && bi >= 0.0, "interleaved V=2 bubble %g not below 1f1b's %g", bi, b1);
    CHECKF(msi < ms1, "interleaved makespan %g not below 1f1b's %g", msi, ms1);

    /* Timeline: ends follow starts; a RECV ends no earlier than its SEND started plus its cost. */
    pipa_plan_t p;
    CHECK(pipa_plan_generate(&p, PIPA_SCHED_1F1B, 3, 4, 1) == PIPA_OK);
    pipa_plan_costs_t c = unit_costs(1);
    c.cost[PIPA_ACT_SEND_F] = c.cost[PIPA_ACT_SEND_B] = 0.25;
    double *t0[3], *t1[3];
    for (int r = 0; r < 3; r++) {
        t0[r] = calloc((size_t)p.len[r], sizeof(double));
        t1[r] = calloc((size_t)p.len[r], sizeof(double));
    }
    pipa_plan_sim_t out;
    CHECK(pipa_plan_simulate_timeline(&p, &c, &out, t0, t1) == PIPA_OK);
    int rf = pipa_plan_find(&p, 1, PIPA_ACT_RECV_F, 0, 0), sf = pipa_plan_find(&p, 0, PIPA_ACT_SEND_F, 0, 0);
    CHECK(rf >= 0 && sf >= 0 && t1[1][rf] >= t0[0][sf] + 0.25 - 1e-12);
    for (int r = 0; r < 3; r++)
        for (int i = 0; i < p.len[r]; i++) {
            CHECK(t1[r][i] >= t0[r][i]);
            if (i) CHECK(t0[r][i] == t1[r][i - 1]);
        }
    CHECK(out.makespan > 3.0 * (4 + 3 - 1));  /* comms now cost something */
    c.cost[PIPA_ACT_F] = -1.0;
    CHECK(pipa_plan_simulate(&p, &c, &out) != PIPA_OK);
    for (int r = 0; r < 3; r++) {
        free(t0[r]);
        free(t1[r]);
    }
    pipa_plan_free(&p);
}

/* ---- text form -------------------------------------------------------------------------- */

static int same_plan(const pipa_plan_t *a, const pipa_plan_t *b)
{
    if (a->P != b->P || a->M != b->M || a->V != b->V) return 0;
    for (int r = 0; r < a->P; r++) {
        if (a->len[r] != b->len[r]) return 0;
        for (int i = 0; i < a->len[r]; i++)
            if (a->act[r][i].kind != b->act[r][i].kind || a->act[r][i].mb != b->act[r][i].mb ||
                a->act[r][i].chunk != b->act[r][i].chunk)
                return 0;
    }
    return 1;
}

static void test_text(void)
{
    for (int si = 0; si < 4; si++) {
        int V = scheds[si] == PIPA_SCHED_INTERLEAVED ? 3 : 1;
        pipa_plan_t p, q;
        CHECK(pipa_plan_generate(&p, scheds[si], 3, 5, V) == PIPA_OK);
        FILE *f = tmpfile();
        CHECK(f && pipa_plan_write(&p, f) == PIPA_OK);
        rewind(f);
        pipa_status st = pipa_plan_read(&q, f, "roundtrip");
        CHECKF(st == PIPA_OK, "%s", pipa_last_error());
        if (st == PIPA_OK) {
            CHECKF(same_plan(&p, &q), "%s does not round-trip", pipa_sched_name(scheds[si]));
            CHECK(pipa_plan_check(&q, NULL) == PIPA_OK);
            pipa_plan_free(&q);
        }
        fclose(f);
        pipa_plan_free(&p);
    }

    /* A hand-written plan, with comments, blank lines and ranks interleaved. */
    const char *good = "# my schedule\n# pipa plan P=2 M=1 V=1\n\n"
                       "rank 0: F 0 0\nrank 1: RECV_F 0 0\nrank 0: SEND_F 0 0\n"
                       "rank 1: F 0 0\nrank 1: B 0 0\n  rank 1: SEND_B 0 0\n# done\nrank 1: STEP\n"
                       "rank 0: RECV_B 0 0\nrank 0: B 0 0\nrank 0: STEP\n";
    pipa_plan_t p;
    FILE *f = tmpfile();
    fputs(good, f);
    rewind(f);
    CHECKF(pipa_plan_read(&p, f, "good") == PIPA_OK, "%s", pipa_last_error());
    fclose(f);
    CHECK(p.P == 2 && p.len[0] == 5 && p.len[1] == 5);
    CHECKF(pipa_plan_check(&p, NULL) == PIPA_OK, "%s", pipa_last_error());
    pipa_plan_free(&p);

    struct { const char *text, *want; } bad[] = {
        {"# pipa plan P=2 M=1 V=1\nrank 2: F 0 0\n", "bad:2: rank 2 out of range"},
        {"# pipa plan P=2 M=1 V=1\nrank -1: F 0 0\n", "bad:2: rank -1 out of range"},
        {"# pipa plan P=2 M=1 V=1\nrank 0: X 0 0\n", "bad:2: unknown action kind 'X'"},
        {"# pipa plan P=2 M=1 V=1\nrank 0: f 0 0\n", "bad:2: unknown action kind 'f'"},
        {"# pipa plan P=2 M=1 V=1\n\nrank 0: F 0\n", "bad:3: F needs a microbatch and a chunk"},
        {"# pipa plan P=2 M=1 V=1\nrank 0 F 0 0\n", "bad:2: expected 'rank R:'"},
        {"# pipa plan P=2 M=1 V=1\nrank 0: F 0 0 7\n", "bad:2: unexpected text"},
        {"# pipa plan P=2 M=1 V=1\nrank 0: STEP 1\n", "bad:2: unexpected text"},
        {"# pipa plan P=2 M=1 V=1\nrank 0: F 1 0\n", "bad:2: microbatch 1 out of range"},
        {"# pipa plan P=2 M=1 V=1\nrank 0: F 0 1\n", "bad:2: chunk 1 out of range"},
        {"# pipa plan P=2 M=1 V=1\nrnk 0: F 0 0\n", "bad:2: expected 'rank R: KIND MB CHUNK'"},
        {"rank 0: F 0 0\n", "bad:1: action before the"},
        {"# pipa plan P=2 M=1\n", "bad:1: malformed header"},
        {"# pipa plan P=0 M=1 V=1\n", "bad:1: plan: P = 0"},
        {"# pipa plan P=1 M=1 V=1\n# pipa plan P=1 M=1 V=1\n", "bad:2: second"},
        {"# just a comment\n", "bad: no '# pipa plan"},
    };
    for (size_t k = 0; k < sizeof bad / sizeof *bad; k++) {
        f = tmpfile();
        fputs(bad[k].text, f);
        rewind(f);
        pipa_status st = pipa_plan_read(&p, f, "bad");
        fclose(f);
        CHECKF(st != PIPA_OK, "accepted: %s", bad[k].text);
        if (st == PIPA_OK) pipa_plan_free(&p);
        else CHECKF(strstr(pipa_last_error(), bad[k].want), "'%s' lacks '%s'", pipa_last_error(), bad[k].want);
    }
}

/* ---- broken plans ----------------------------------------------------------------------- */

/* Expects the checker to reject p with a message containing every non-NULL want; frees p. */
static void expect_reject(pipa_plan_t *p, const char *what, const char *want1, const char *want2)
{
    pipa_status st = pipa_plan_check(p, NULL);
    CHECKF(st != PIPA_OK, "%s: accepted", what);
    if (st != PIPA_OK) {
        CHECKF(!want1 || strstr(pipa_last_error(), want1), "%s: '%s' lacks '%s'", what, pipa_last_error(), want1);
        CHECKF(!want2 || strstr(pipa_last_error(), want2), "%s: '%s' lacks '%s'", what, pipa_last_error(), want2);
    }
    pipa_plan_free(p);
}

#define gen gen_ok

static int find(const pipa_plan_t *p, int r, int kind, int mb, int chunk)
{
    int i = pipa_plan_find(p, r, kind, mb, chunk);
    PIPA_ASSERT(i >= 0);
    return i;
}

static void test_broken(void)
{
    pipa_plan_t p;
    char w[160];

    /* Missing F (with its receive): the backward then comes before any forward. */
    gen(&p, PIPA_SCHED_1F1B, 2, 4, 1);
    pipa_plan_remove(&p, 1, find(&p, 1, PIPA_ACT_F, 2, 0));
    pipa_plan_remove(&p, 1, find(&p, 1, PIPA_ACT_RECV_F, 2, 0));
    snprintf(w, sizeof w, "rank 1 step %d (B 2 0): backward before its forward", find(&p, 1, PIPA_ACT_B, 2, 0));
    expect_reject(&p, "missing F", w, NULL);

    /* Missing F and its backward altogether. */
    gen(&p, PIPA_SCHED_GPIPE, 1, 3, 1);
    pipa_plan_remove(&p, 0, find(&p, 0, PIPA_ACT_F, 1, 0));
    pipa_plan_remove(&p, 0, find(&p, 0, PIPA_ACT_B, 1, 0));
    expect_reject(&p, "missing F and B", "rank 0 step 5 (end of list): F 1 0 missing", NULL);

    /* Duplicated B. */
    gen(&p, PIPA_SCHED_GPIPE, 2, 3, 1);
    int at = find(&p, 0, PIPA_ACT_B, 1, 0) + 1;
    pipa_plan_insert(&p, 0, at, PIPA_ACT_B, 1, 0);
    snprintf(w, sizeof w, "rank 0 step %d (B 1 0): second backward", at);
    expect_reject(&p, "duplicated B", w, NULL);

    /* B before F: P = 1 1F1B is F0 B0 F1 B1 STEP; move B1 in front of F1. */
    gen(&p, PIPA_SCHED_1F1B, 1, 2, 1);
    p.act[0][2] = (pipa_action_t){.kind = PIPA_ACT_B, .mb = 1, .chunk = 0};
    p.act[0][3] = (pipa_action_t){.kind = PIPA_ACT_F, .mb = 1, .chunk = 0};
    expect_reject(&p, "B before F", "rank 0 step 2 (B 1 0): backward before its forward", NULL);

    /* W before I. */
    gen(&p, PIPA_SCHED_ZB1, 1, 2, 1);
    int i1 = find(&p, 0, PIPA_ACT_I, 1, 0), w1 = find(&p, 0, PIPA_ACT_W, 1, 0);
    p.act[0][i1].kind = PIPA_ACT_W;
    p.act[0][w1].kind = PIPA_ACT_I;
    snprintf(w, sizeof w, "rank 0 step %d (W 1 0): weight gradient before its input gradient", i1);
    expect_reject(&p, "W before I", w, NULL);

    /* W order swapped between microbatches (rank 1 of ZB-H1 defers W's, so both I's come first). */
    gen(&p, PIPA_SCHED_ZB1, 2, 4, 1);
    int wa = find(&p, 1, PIPA_ACT_W, 0, 0), wb = find(&p, 1, PIPA_ACT_W, 1, 0);
    p.act[1][wa].mb = 1;
    p.act[1][wb].mb = 0;
    snprintf(w, sizeof w, "rank 1 step %d (W 0 0): weight gradient of microbatch 0 after microbatch 1's", wb);
    expect_reject(&p, "W order", w, NULL);

    /* B order swapped (gradient accumulation order would differ from other schedules). */
    gen(&p, PIPA_SCHED_GPIPE, 1, 3, 1);
    p.act[0][3].mb = 1;
    p.act[0][4].mb = 0;
    expect_reject(&p, "B order", "rank 0 step 4 (B 0 0): weight gradient of microbatch 0 after", NULL);

    /* SEND without RECV: rank 1 never receives microbatch 1's input. */
    gen(&p, PIPA_SCHED_1F1B, 2, 2, 1);
    pipa_plan_remove(&p, 1, find(&p, 1, PIPA_ACT_RECV_F, 1, 0));
    snprintf(w, sizeof w, "rank 1 step %d (F 1 0): forward input never received", find(&p, 1, PIPA_ACT_F, 1, 0));
    expect_reject(&p, "SEND without RECV", w, "no RECV_F 1 0 before it");

    /* RECV without SEND: rank 0 never sends microbatch 0's output. */
    gen(&p, PIPA_SCHED_1F1B, 2, 2, 1);
    pipa_plan_remove(&p, 0, find(&p, 0, PIPA_ACT_SEND_F, 0, 0));
    snprintf(w, sizeof w, "rank 0 step %d (F 0 0): forward output never sent", find(&p, 0, PIPA_ACT_F, 0, 0));
    expect_reject(&p, "RECV without SEND", w, NULL);

    /* A send to a stage that does not exist. */
    gen(&p, PIPA_SCHED_1F1B, 2, 2, 1);
    pipa_plan_insert(&p, 1, 0, PIPA_ACT_SEND_F, 0, 0);
    expect_reject(&p, "SEND at the end", "rank 1 step 0 (SEND_F 0 0): SEND_F at the last virtual stage", NULL);

    /* Deadlock: both ranks receive first. Rank 0 waits for the gradient of microbatch 0 before
     * running its forward; rank 1 waits for that forward. */
    gen(&p, PIPA_SCHED_1F1B, 2, 2, 1);
    pipa_plan_remove(&p, 0, find(&p, 0, PIPA_ACT_RECV_B, 0, 0));
    pipa_plan_insert(&p, 0, 0, PIPA_ACT_RECV_B, 0, 0);
    snprintf(w, sizeof w, "rank 0 step 0 (RECV_B 0 0) waits for rank 1 step %d (SEND_B 0 0)",
             find(&p, 1, PIPA_ACT_SEND_B, 0, 0));
    expect_reject(&p, "deadlock", w, "rank 1 step 0 (RECV_F 0 0) waits for rank 0 step 2 (SEND_F 0 0)");

    /* A longer cycle through three ranks: rank 0 wants microbatch 1's gradient before it sends
     * microbatch 1 forward. */
    gen(&p, PIPA_SCHED_GPIPE, 3, 2, 1);
    pipa_plan_remove(&p, 0, find(&p, 0, PIPA_ACT_RECV_B, 1, 0));
    pipa_plan_insert(&p, 0, find(&p, 0, PIPA_ACT_F, 1, 0), PIPA_ACT_RECV_B, 1, 0);
    expect_reject(&p, "deadlock 3", "deadlock, 3 rank(s) stuck", "rank 0 step 2 (RECV_B 1 0) waits for rank 1");

    /* STEP missing. */
    gen(&p, PIPA_SCHED_1F1B, 2, 2, 1);
    pipa_plan_remove(&p, 1, p.len[1] - 1);
    snprintf(w, sizeof w, "rank 1 step %d (end of list): STEP missing", p.len[1]);
    expect_reject(&p, "STEP missing", w, NULL);

    /* STEP not last. */
    gen(&p, PIPA_SCHED_1F1B, 2, 2, 1);
    pipa_plan_remove(&p, 0, p.len[0] - 1);
    pipa_plan_insert(&p, 0, 1, PIPA_ACT_STEP, -1, -1);
    expect_reject(&p, "STEP not last", "rank 0 step 1 (STEP): STEP is not the last action", NULL);

    /* Action on a chunk the plan does not have. */
    gen(&p, PIPA_SCHED_1F1B, 2, 2, 1);
    at = find(&p, 0, PIPA_ACT_F, 1, 0);
    p.act[0][at].chunk = 1;
    snprintf(w, sizeof w, "rank 0 step %d (F 1 1): chunk 1 out of range 0..0", at);
    expect_reject(&p, "wrong chunk", w, NULL);

    /* Action on the wrong (existing) chunk of an interleaved plan. */
    gen(&p, PIPA_SCHED_INTERLEAVED, 2, 2, 2);
    at = find(&p, 0, PIPA_ACT_B, 0, 0);
    p.act[0][at].chunk = 1;
    snprintf(w, sizeof w, "rank 0 step %d (B 0 1): second backward", at);
    expect_reject(&p, "wrong chunk interleaved", w, NULL);

    /* Microbatch out of range. */
    gen(&p, PIPA_SCHED_1F1B, 1, 2, 1);
    p.act[0][0].mb = 2;
    expect_reject(&p, "mb range", "rank 0 step 0 (F 2 0): microbatch 2 out of range 0..1", NULL);

    /* B mixed with W. */
    gen(&p, PIPA_SCHED_ZB1, 1, 2, 1);
    at = find(&p, 0, PIPA_ACT_I, 0, 0);
    p.act[0][at].kind = PIPA_ACT_B;
    snprintf(w, sizeof w, "rank 0 step %d (W 0 0): W together with a B", find(&p, 0, PIPA_ACT_W, 0, 0));
    expect_reject(&p, "B with W", w, NULL);

    /* I without its W. */
    gen(&p, PIPA_SCHED_ZB1, 1, 2, 1);
    pipa_plan_remove(&p, 0, find(&p, 0, PIPA_ACT_W, 1, 0));
    snprintf(w, sizeof w, "rank 0 step %d (I 1 0): no W after this input gradient", find(&p, 0, PIPA_ACT_I, 1, 0));
    expect_reject(&p, "I without W", w, NULL);

    /* Forward without any backward. */
    gen(&p, PIPA_SCHED_GPIPE, 1, 2, 1);
    pipa_plan_remove(&p, 0, find(&p, 0, PIPA_ACT_B, 1, 0));
    expect_reject(&p, "no backward", "rank 0 step 1 (F 1 0): no backward", NULL);

    /* Unknown kind, built by hand. */
    pipa_plan_init(&p, 1, 1, 1);
    pipa_plan_append(&p, 0, PIPA_ACT_F, 0, 0);
    p.act[0][0].kind = 42;
    expect_reject(&p, "unknown kind", "rank 0 step 0 (? 0 0): unknown action kind 42", NULL);
}

/* The comm pass is idempotent: rerunning it on a generated plan changes nothing. */
static void test_insert_comms(void)
{
    pipa_plan_t p, q;
    gen(&p, PIPA_SCHED_INTERLEAVED, 3, 5, 2);
    gen(&q, PIPA_SCHED_INTERLEAVED, 3, 5, 2);
    CHECK(pipa_plan_insert_comms(&q) == PIPA_OK);
    CHECK(same_plan(&p, &q));
    pipa_plan_free(&p);
    pipa_plan_free(&q);
    pipa_plan_free(&q);  /* freeing twice is harmless */
}

/* ---- forward-only plans ------------------------------------------------------------------ */

/* Schedule "forward": every (microbatch, chunk) one F on its rank, no backward, no STEP; the
 * checker accepts it with nothing live (inference saves nothing), the simulator gives GPipe's
 * fill and drain, the text form round-trips, and what a forward-only plan must not hold or lack
 * is rejected. */
static void test_forward_only(void)
{
    for (int P = 1; P <= 4; P++)
        for (int M = 1; M <= 6; M++)
            for (int V = 1; V <= 3; V++) {
                pipa_plan_t p;
                pipa_plan_report_t rep;
                CHECKF(pipa_plan_generate(&p, PIPA_SCHED_FORWARD, P, M, V) == PIPA_OK, "%s",
                       pipa_last_error());
                CHECK(pipa_plan_forward_only(&p));
                CHECKF(pipa_plan_check(&p, &rep) == PIPA_OK, "forward P=%d M=%d V=%d: %s", P, M,
                       V, pipa_last_error());
                CHECK(max_peak(&rep, P) == 0);
                for (int r = 0; r < P; r++) {
                    int f = 0;
                    for (int i = 0; i < p.len[r]; i++) f += p.act[r][i].kind == PIPA_ACT_F;
                    CHECK(f == M * V && pipa_plan_find(&p, r, PIPA_ACT_STEP, -1, -1) < 0);
                }
                pipa_plan_costs_t c = {{0}};
                c.cost[PIPA_ACT_F] = 1.0;
                pipa_plan_sim_t sim;
                CHECKF(pipa_plan_simulate(&p, &c, &sim) == PIPA_OK, "%s", pipa_last_error());
                if (V == 1) {
                    CHECK(fabs(sim.makespan - (M + P - 1)) < 1e-9);
                    CHECK(fabs(sim.bubble - pipa_plan_bubble_theory(PIPA_SCHED_FORWARD, P, M, 1)) <
                          1e-9);
                }
                pipa_plan_free(&p);
            }
    pipa_plan_t p, q;
    gen_ok(&p, PIPA_SCHED_FORWARD, 3, 4, 2);
    FILE *f = tmpfile();
    CHECK(f && pipa_plan_write(&p, f) == PIPA_OK);
    rewind(f);
    CHECKF(pipa_plan_read(&q, f, "forward") == PIPA_OK, "%s", pipa_last_error());
    fclose(f);
    CHECK(same_plan(&p, &q) && pipa_plan_check(&q, NULL) == PIPA_OK);
    pipa_plan_free(&q);
    pipa_plan_free(&p);
    gen_ok(&p, PIPA_SCHED_FORWARD, 2, 3, 1);
    pipa_plan_remove(&p, 1, find(&p, 1, PIPA_ACT_F, 2, 0));
    expect_reject(&p, "forward without one F", "F 2 0 missing", NULL);
    gen_ok(&p, PIPA_SCHED_FORWARD, 2, 3, 1);
    pipa_plan_remove(&p, 0, find(&p, 0, PIPA_ACT_SEND_F, 1, 0));
    expect_reject(&p, "forward without a send", "rank 0", "never sent");
    gen_ok(&p, PIPA_SCHED_FORWARD, 2, 3, 1);
    CHECK(pipa_plan_append(&p, 0, PIPA_ACT_STEP, -1, -1) == PIPA_OK);
    CHECK(!pipa_plan_forward_only(&p));
    expect_reject(&p, "forward with a STEP", "no backward", NULL);
}

/* The registry: each row at its id, names and spellings parse back to it, unknown names are
 * refused listing every schedule, the V rule and training flag drive generation. */
static void test_registry(void)
{
    const char *expect[] = {"gpipe", "1f1b", "interleaved", "zb1", "forward", "zbv", "bfs"};
    CHECK(pipa_sched_count() == 7);
    for (int k = 0; k < pipa_sched_count(); k++) {
        const pipa_sched_info_t *d = pipa_sched_info((pipa_sched)k);
        pipa_sched back = (pipa_sched)-1;
        CHECK(d && (int)d->id == k && !strcmp(d->name, expect[k]) && d->generate && d->bubble);
        CHECK(pipa_sched_parse(d->name, &back) == PIPA_OK && back == d->id);
        for (int a = 0; a < 2 && d->alias[a]; a++)
            CHECK(pipa_sched_parse(d->alias[a], &back) == PIPA_OK && back == d->id);
        CHECK(d->training == (k != PIPA_SCHED_FORWARD));
        CHECK(pipa_sched_interleaves(d->id) ==
              (k == PIPA_SCHED_INTERLEAVED || k == PIPA_SCHED_ZBV || k == PIPA_SCHED_BFS));
    }
    CHECK(pipa_sched_info((pipa_sched)7) == NULL && pipa_sched_info((pipa_sched)-1) == NULL);
    pipa_sched z;
    CHECK(pipa_sched_parse("zb-h1", &z) == PIPA_OK && z == PIPA_SCHED_ZB1);
    CHECK(pipa_sched_parse("zbh1", &z) == PIPA_OK && z == PIPA_SCHED_ZB1);
    CHECK(pipa_sched_parse("1F1B", &z) != PIPA_OK &&
          strstr(pipa_last_error(), "(gpipe, 1f1b, interleaved, zb1, forward, zbv, bfs)"));
    /* Training plans end with STEP on every rank; forward-only ones have none. */
    pipa_plan_t p;
    CHECK(pipa_plan_generate(&p, PIPA_SCHED_GPIPE, 2, 3, 1) == PIPA_OK);
    CHECK(p.act[1][p.len[1] - 1].kind == PIPA_ACT_STEP);
    pipa_plan_free(&p);
    CHECK(pipa_plan_generate(&p, PIPA_SCHED_FORWARD, 2, 3, 2) == PIPA_OK);
    for (int r = 0; r < 2; r++)
        for (int i = 0; i < p.len[r]; i++) CHECK(p.act[r][i].kind != PIPA_ACT_STEP);
    pipa_plan_free(&p);
    CHECK(pipa_plan_generate(&p, PIPA_SCHED_1F1B, 2, 3, 2) != PIPA_OK);
    CHECK(pipa_plan_generate(&p, PIPA_SCHED_INTERLEAVED, 2, 3, 1) != PIPA_OK);
}

int main(void)
{
    test_generate_all();
    test_small_m();
    test_simulate();
    test_text();
    test_broken();
    test_insert_comms();
    test_forward_only();
    test_registry();
    return check_done("test_plan");
}
