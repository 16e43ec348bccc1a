/* test_plan_mutate: the checker against every single mistake a plan can hold. Thirteen generated
 * plans (gpipe, 1f1b, zb1, interleaved, zbv in its V placement, bfs; P = 1..4; every action kind
 * among them) are mutated one action
 * at a time: deleted, duplicated, moved before what it needs, moved after what needs it (for a
 * send or receive, across ranks: a receive moved before the send its sender waits for, a send
 * moved after the receive that waits for it, both deadlocks). Every mutant must be refused with
 * a message naming the rank and an action of the mutated microbatch and chunk. A checker that
 * ignores a missing or doubled RECV_B, say, would let a run train on stale gradients. */
#include <stdio.h>
#include <string.h>

#include "check.h"
#include "plan/plan.h"

static int imin(int a, int b) { return a < b ? a : b; }

static void gen(pipa_plan_t *p, pipa_sched s, int P, int M, int V)
{
    pipa_status st = pipa_plan_generate(p, s, P, M, V);
    PIPA_ASSERT(st == PIPA_OK);
}

/* A copy of p (the mutants below are made from copies). */
static void clone_plan(pipa_plan_t *q, const pipa_plan_t *p)
{
    PIPA_ASSERT(pipa_plan_init(q, p->P, p->M, p->V) == PIPA_OK);
    q->place = p->place;
    for (int r = 0; r < p->P; r++)
        for (int i = 0; i < p->len[r]; i++)
            PIPA_ASSERT(pipa_plan_append(q, r, p->act[r][i].kind, p->act[r][i].mb,
                                         p->act[r][i].chunk) == PIPA_OK);
}

/* Step of (kind, mb, chunk) on rank r, -1 if absent (kind -1: B or I, whichever is there). */
static int find_any(const pipa_plan_t *p, int r, int kind, int mb, int chunk)
{
    if (kind >= 0) return pipa_plan_find(p, r, kind, mb, chunk);
    int i = pipa_plan_find(p, r, PIPA_ACT_B, mb, chunk);
    return i >= 0 ? i : pipa_plan_find(p, r, PIPA_ACT_I, mb, chunk);
}

/* The nearer of two steps, ignoring absent ones (-1). */
static int nearer(int a, int b) { return a < 0 ? b : b < 0 ? a : imin(a, b); }

/* What action i of rank r must come after: a step on the same rank before which moving it makes
 * the plan wrong (a direct dependency, or for a RECV_B its own SEND_F, which its sender needs
 * first: a deadlock), or -1. */
static int dependency_of(const pipa_plan_t *p, int r, int i)
{
    const pipa_action_t *a = &p->act[r][i];
    switch (a->kind) {
    case PIPA_ACT_F: return pipa_plan_find(p, r, PIPA_ACT_RECV_F, a->mb, a->chunk);
    case PIPA_ACT_B:
    case PIPA_ACT_I: {
        int rb = pipa_plan_find(p, r, PIPA_ACT_RECV_B, a->mb, a->chunk);
        return rb >= 0 ? rb : pipa_plan_find(p, r, PIPA_ACT_F, a->mb, a->chunk);
    }
    case PIPA_ACT_W: return pipa_plan_find(p, r, PIPA_ACT_I, a->mb, a->chunk);
    case PIPA_ACT_SEND_F: return pipa_plan_find(p, r, PIPA_ACT_F, a->mb, a->chunk);
    case PIPA_ACT_SEND_B: return find_any(p, r, -1, a->mb, a->chunk);
    case PIPA_ACT_RECV_B: return pipa_plan_find(p, r, PIPA_ACT_SEND_F, a->mb, a->chunk);
    case PIPA_ACT_STEP: return i > 0 ? i - 1 : -1;
    }
    return -1;  /* RECV_F: what it waits for is on another rank */
}

/* What must come after action i of rank r: a step on the same rank after which moving it makes
 * the plan wrong (a direct consumer, or for a send a receive that waits, through other ranks,
 * for this very message: a deadlock), or -1. STEP stands in where nothing closer exists. */
static int consumer_of(const pipa_plan_t *p, int r, int i)
{
    const pipa_action_t *a = &p->act[r][i];
    int step = p->len[r] - 1, m = a->mb, c = a->chunk;
    switch (a->kind) {
    case PIPA_ACT_F: return nearer(pipa_plan_find(p, r, PIPA_ACT_SEND_F, m, c), find_any(p, r, -1, m, c));
    case PIPA_ACT_B: return nearer(pipa_plan_find(p, r, PIPA_ACT_SEND_B, m, c), step);
    case PIPA_ACT_I:
        return nearer(pipa_plan_find(p, r, PIPA_ACT_SEND_B, m, c), pipa_plan_find(p, r, PIPA_ACT_W, m, c));
    case PIPA_ACT_W: return step;
    case PIPA_ACT_RECV_F: return pipa_plan_find(p, r, PIPA_ACT_F, m, c);
    case PIPA_ACT_RECV_B: return find_any(p, r, -1, m, c);
    case PIPA_ACT_SEND_F: return pipa_plan_find(p, r, PIPA_ACT_RECV_B, m, c);
    case PIPA_ACT_SEND_B:
        /* With chunks, this gradient comes back to my chunk c - 1 after a lap of the ranks. */
        return nearer(c > 0 && p->P > 1 ? pipa_plan_find(p, r, PIPA_ACT_RECV_B, m, c - 1) : -1, step);
    }
    return -1;  /* STEP: last already */
}

/* Whether msg names an action of (mb, chunk) of any kind, or STEP for a STEP. The checker reports
 * where the plan first goes wrong, which for a deleted F is its B ("backward before its
 * forward"), so the kind may differ from the mutated action's; the microbatch and chunk may not. */
static int names_action(const char *msg, const pipa_action_t *a)
{
    if (a->kind == PIPA_ACT_STEP) return strstr(msg, "STEP") != NULL;
    for (int k = 0; k < PIPA_ACT_COUNT; k++) {
        char act[48];
        snprintf(act, sizeof act, "%s %d %d", pipa_act_name(k), a->mb, a->chunk);
        if (strstr(msg, act)) return 1;
    }
    return 0;
}

/* The checker refuses q with a message naming rank r and an action of a's microbatch and chunk. */
static void expect_named(pipa_plan_t *q, const char *what, int r, const pipa_action_t *a)
{
    char rk[32];
    snprintf(rk, sizeof rk, "rank %d step ", r);
    pipa_status st = pipa_plan_check(q, NULL);
    CHECKF(st != PIPA_OK, "%s: accepted", what);
    if (st != PIPA_OK)
        CHECKF(strstr(pipa_last_error(), rk) && names_action(pipa_last_error(), a),
               "%s: '%s' names no '%s' and action of microbatch %d chunk %d", what,
               pipa_last_error(), rk, a->mb, a->chunk);
    pipa_plan_free(q);
}

/* Action i of rank r of p moved to position `to` (before or after step `to`, as `where` says):
 * the checker refuses it by name. Returns 1, one mutant tried. */
static int expect_moved(const pipa_plan_t *p, const char *name, int r, int i, int to,
                        const char *where)
{
    pipa_action_t a = p->act[r][i];
    char what[256];
    snprintf(what, sizeof what, "%s: rank %d step %d (%s %d %d) moved %s step %d", name, r, i,
             pipa_act_name(a.kind), a.mb, a.chunk, where, to);
    pipa_plan_t q;
    clone_plan(&q, p);
    pipa_plan_remove(&q, r, i);
    PIPA_ASSERT(pipa_plan_insert(&q, r, to, a.kind, a.mb, a.chunk) == PIPA_OK);
    expect_named(&q, what, r, &a);
    return 1;
}

/* Every action of every rank of p deleted, duplicated, moved before what it needs and after
 * what needs it: each mutant is refused by name. Returns the number of mutants tried. */
static int mutate_all(const pipa_plan_t *p, const char *name)
{
    int tried = 0;
    for (int r = 0; r < p->P; r++)
        for (int i = 0; i < p->len[r]; i++) {
            pipa_action_t a = p->act[r][i];
            char what[256], act[48];
            pipa_plan_t q;
            if (a.kind == PIPA_ACT_STEP) snprintf(act, sizeof act, "STEP");
            else snprintf(act, sizeof act, "%s %d %d", pipa_act_name(a.kind), a.mb, a.chunk);
            snprintf(what, sizeof what, "%s: rank %d step %d (%s) deleted", name, r, i, act);
            clone_plan(&q, p);
            pipa_plan_remove(&q, r, i);
            expect_named(&q, what, r, &a);
            snprintf(what, sizeof what, "%s: rank %d step %d (%s) duplicated", name, r, i, act);
            clone_plan(&q, p);
            PIPA_ASSERT(pipa_plan_insert(&q, r, i + 1, a.kind, a.mb, a.chunk) == PIPA_OK);
            expect_named(&q, what, r, &a);
            tried += 2;
            int dep = dependency_of(p, r, i), use = consumer_of(p, r, i);
            if (dep >= 0 && dep < i) tried += expect_moved(p, name, r, i, dep, "before");
            if (use > i) tried += expect_moved(p, name, r, i, use, "after");
        }
    return tried;
}

static void test_mutations(void)
{
    static const struct { pipa_sched s; int P, M, V; } cfgs[] = {
        {PIPA_SCHED_GPIPE, 1, 3, 1}, {PIPA_SCHED_GPIPE, 3, 3, 1}, {PIPA_SCHED_1F1B, 2, 4, 1},
        {PIPA_SCHED_1F1B, 4, 5, 1}, {PIPA_SCHED_1F1B, 3, 2, 1},   {PIPA_SCHED_ZB1, 1, 3, 1},
        {PIPA_SCHED_ZB1, 3, 4, 1},  {PIPA_SCHED_INTERLEAVED, 2, 4, 2},
        {PIPA_SCHED_INTERLEAVED, 3, 3, 2}, {PIPA_SCHED_ZBV, 2, 4, 2}, {PIPA_SCHED_ZBV, 3, 7, 2},
        {PIPA_SCHED_BFS, 2, 3, 2}, {PIPA_SCHED_BFS, 3, 2, 3}};
    int tried = 0, moved_kinds[PIPA_ACT_COUNT] = {0};
    for (size_t k = 0; k < sizeof cfgs / sizeof *cfgs; k++) {
        pipa_plan_t p;
        char name[64];
        gen(&p, cfgs[k].s, cfgs[k].P, cfgs[k].M, cfgs[k].V);
        snprintf(name, sizeof name, "%s P=%d M=%d V=%d", pipa_sched_name(cfgs[k].s), cfgs[k].P,
                 cfgs[k].M, cfgs[k].V);
        tried += mutate_all(&p, name);
        for (int r = 0; r < p.P; r++)
            for (int i = 0; i < p.len[r]; i++) moved_kinds[p.act[r][i].kind]++;
        pipa_plan_free(&p);
    }
    /* Every kind of action was among the mutated ones. */
    for (int k = 0; k < PIPA_ACT_COUNT; k++) CHECKF(moved_kinds[k] > 0, "no %s mutated", pipa_act_name(k));
    printf("mutations: %d mutants checked\n", tried);
}

int main(void)
{
    test_mutations();
    return check_done("test_plan_mutate");
}
