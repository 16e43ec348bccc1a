/* plan_gen.c: the schedule generators (GPipe, 1F1B, interleaved 1F1B, ZB-H1, ZB-V, looped BFS,
 * forward-only) and their analytic bubble fractions. A generator writes only the compute actions and STEP, in each rank's order;
 * pipa_plan_insert_comms adds the sends and receives, and pipa_plan_check proves the result.
 * Leaves out any cost-driven search (ZB-H2, schedules tuned to measured costs): these are fixed
 * orders, ZB-V's found once on a unit clock.
 *
 * M < P (fewer microbatches than ranks) needs no special case in any of them: every count below
 * is capped by the microbatches left, so a rank simply does fewer warmup forwards (1F1B with
 * M = 1 is F 0 then B 0 on every rank; GPipe the same; ZB-H1 F 0, I 0, W 0; interleaved puts all
 * of its M * V forwards in warmup when they are fewer than its warmup count). */
#include "plan/plan.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* GPipe (Huang et al. 2019): every forward, then every backward, both in microbatch order.
 * Peak live activations: M on every rank. */
static pipa_status gen_gpipe(pipa_plan_t *p)
{
    for (int r = 0; r < p->P; r++) {
        for (int m = 0; m < p->M; m++) PIPA_TRY(pipa_plan_append(p, r, PIPA_ACT_F, m, 0));
        for (int m = 0; m < p->M; m++) PIPA_TRY(pipa_plan_append(p, r, PIPA_ACT_B, m, 0));
    }
    return PIPA_OK;
}

/* 1F1B (PipeDream-flush, Megatron's non-interleaved schedule): rank r runs min(P - r - 1, M)
 * warmup forwards, then pairs "forward of the next microbatch, backward of the oldest", then the
 * remaining backwards. At most min(P - r, M) activations are live on rank r. */
static pipa_status gen_1f1b(pipa_plan_t *p)
{
    for (int r = 0; r < p->P; r++) {
        int M = p->M, warm = p->P - r - 1 < M ? p->P - r - 1 : M;
        int f = 0, b = 0;
        while (f < warm) PIPA_TRY(pipa_plan_append(p, r, PIPA_ACT_F, f++, 0));
        while (f < M) {
            PIPA_TRY(pipa_plan_append(p, r, PIPA_ACT_F, f++, 0));
            PIPA_TRY(pipa_plan_append(p, r, PIPA_ACT_B, b++, 0));
        }
        while (b < M) PIPA_TRY(pipa_plan_append(p, r, PIPA_ACT_B, b++, 0));
    }
    return PIPA_OK;
}

/* ZB-H1 (Qi et al., "Zero Bubble Pipeline Parallelism", ICLR 2024, the "handcrafted 1" schedule):
 * the backward is split into I (input gradient, on the critical path between ranks) and W (weight
 * gradient, needed by nobody but the optimizer). Rank r runs
 *   min(P - r - 1, M) warmup forwards                           (as 1F1B)
 *   r pairs F, I with the W held back                           (the W's rank r defers)
 *   triples F, I, W while forwards remain                       (W of the oldest held microbatch)
 *   pairs I, W for the remaining backwards, then the held W's.
 * In 1F1B rank r sits idle for about 2r B-halves at the end while the backward chain walks back to
 * rank 0; here the I chain walks back twice as fast and the r W's held back fill the end instead.
 * W's leave in microbatch order (a queue), so gradients accumulate as in every other schedule.
 * Memory: counting a microbatch live until its W, rank r holds at most min(P, M) (warmup
 * P - r - 1, plus r held, plus the one in flight) - more than 1F1B on ranks r > 0, but never more
 * than 1F1B's peak, which is rank 0's P: the paper's "same peak memory as 1F1B" is this maximum. */
static pipa_status gen_zb1(pipa_plan_t *p)
{
    for (int r = 0; r < p->P; r++) {
        int M = p->M, warm = p->P - r - 1 < M ? p->P - r - 1 : M;
        int f = 0, i = 0, w = 0;
        while (f < warm) PIPA_TRY(pipa_plan_append(p, r, PIPA_ACT_F, f++, 0));
        for (int k = 0; k < r && f < M; k++) {
            PIPA_TRY(pipa_plan_append(p, r, PIPA_ACT_F, f++, 0));
            PIPA_TRY(pipa_plan_append(p, r, PIPA_ACT_I, i++, 0));
        }
        while (f < M) {
            PIPA_TRY(pipa_plan_append(p, r, PIPA_ACT_F, f++, 0));
            PIPA_TRY(pipa_plan_append(p, r, PIPA_ACT_I, i++, 0));
            PIPA_TRY(pipa_plan_append(p, r, PIPA_ACT_W, w++, 0));
        }
        while (i < M) {
            PIPA_TRY(pipa_plan_append(p, r, PIPA_ACT_I, i++, 0));
            PIPA_TRY(pipa_plan_append(p, r, PIPA_ACT_W, w++, 0));
        }
        while (w < M) PIPA_TRY(pipa_plan_append(p, r, PIPA_ACT_W, w++, 0));
    }
    return PIPA_OK;
}

/* Forward-only (inference): each rank runs the forward of every (microbatch, chunk) in
 * microbatch order, then chunk order. Every dependency runs from (m, vs) to (m, vs + 1), and every
 * rank walks (m, c) in the same lexicographic order, so no rank ever waits on a later step of
 * another: the plan cannot deadlock. No backward, no STEP: nothing is saved. */
static pipa_status gen_forward(pipa_plan_t *p)
{
    for (int r = 0; r < p->P; r++)
        for (int m = 0; m < p->M; m++)
            for (int c = 0; c < p->V; c++) PIPA_TRY(pipa_plan_append(p, r, PIPA_ACT_F, m, c));
    return PIPA_OK;
}

/* Interleaved 1F1B (Narayanan et al. 2021, Megatron-LM's virtual pipeline). Every rank walks the
 * same table of (microbatch, chunk) pairs: microbatches in groups of P, and within a group all of
 * chunk 0, then all of chunk 1, ... (Megatron's order). The k-th forward is table[k]; the k-th
 * backward is table[k] with the chunk mirrored (V - 1 - chunk), since gradients enter at the
 * last chunk. Rank r runs w = (P - r - 1) * 2 + (V - 1) * S warmup forwards (capped at M * V),
 * S the size of the largest group (P when M % P == 0, as in Megatron), then pairs "forward k + w,
 * backward k", then the remaining backwards.
 *
 * Megatron asks for M % P == 0. We do not, but a short last group (Megatron-core's newer table)
 * is not the way: the checker finds it deadlocks (e.g. P = 4, M = 5, V = 3). Rank 0's forward of
 * (m, c + 1) needs rank P - 1's forward of (m, c), which sits `gap` table places earlier (the
 * group size); rank P - 1 runs backwards that need rank 0's backwards, and rank 0 runs 2(P - 1)
 * more warmup forwards than rank P - 1. The wait closes a cycle unless the forward gap plus the
 * backward gap is at least 2(P - 1), which groups of P satisfy and a last group of g < P - 1 does
 * not. So the M % P leftover microbatches join the last group instead (groups of P .. 2P - 1, as
 * Megatron's microbatch_group_size_per_vp_stage >= P allows); the price is (V - 1)(M % P) more
 * warmup forwards, so more live activations, on every rank. M < P is one group of M: rank 0's
 * warmup 2(P - 1) + (V - 1)M then covers all M * V forwards, so no wait of rank 0 can close a
 * cycle. The checker
 * proves every (P, M, V) this produces; tests cover P 2..8, M 1..40, V 2..4.
 * P = 1 is rejected: with one rank there is nothing to interleave (V chunks on one rank would
 * only send messages to itself); use 1f1b. */
static pipa_status gen_interleaved(pipa_plan_t *p)
{
    int P = p->P, M = p->M, V = p->V, total = M * V;
    int *tab_mb = malloc((size_t)total * sizeof *tab_mb);
    int *tab_c = malloc((size_t)total * sizeof *tab_c);
    pipa_status s = PIPA_OK;
    if (!tab_mb || !tab_c) s = pipa__fail(PIPA_ERR_NOMEM, "plan: out of memory (M * V = %d)", total);
    int n = 0;
    int groups = M / P > 1 ? M / P : 1;
    for (int g = 0; s == PIPA_OK && g < groups; g++) {
        int g0 = g * P, g1 = g == groups - 1 ? M : g0 + P;
        for (int c = 0; c < V; c++)
            for (int m = g0; m < g1; m++) {
                tab_mb[n] = m;
                tab_c[n] = c;
                n++;
            }
    }
    /* The backward of table[k] is the forward (V - 1 - 2c) * S places later, S its group's size:
     * the warmup must cover the largest group. */
    int big = M - (groups - 1) * P;
    for (int r = 0; s == PIPA_OK && r < P; r++) {
        long long w = (long long)(P - r - 1) * 2 + (long long)(V - 1) * big;
        int warm = w < total ? (int)w : total, f = 0, b = 0;
        while (s == PIPA_OK && f < warm) {
            s = pipa_plan_append(p, r, PIPA_ACT_F, tab_mb[f], tab_c[f]);
            f++;
        }
        while (s == PIPA_OK && f < total) {
            s = pipa_plan_append(p, r, PIPA_ACT_F, tab_mb[f], tab_c[f]);
            f++;
            if (s == PIPA_OK) s = pipa_plan_append(p, r, PIPA_ACT_B, tab_mb[b], V - 1 - tab_c[b]);
            b++;
        }
        while (s == PIPA_OK && b < total) {
            s = pipa_plan_append(p, r, PIPA_ACT_B, tab_mb[b], V - 1 - tab_c[b]);
            b++;
        }
    }
    free(tab_mb);
    free(tab_c);
    return s;
}

/* Looped breadth-first (Lamy-Poirier, "Breadth-First Pipeline Parallelism", MLSys 2023): V
 * chunks per rank, placed round-robin as interleaved; every microbatch's forward of chunk 0, then
 * of chunk 1, ..., then the backwards chunk by chunk in reverse, microbatches in order. Every
 * rank walks (chunk, microbatch) in the same order and every dependency runs from a pair that
 * order puts no later, so no rank ever waits on a later step of another: it cannot deadlock.
 * GPipe's memory (M * V chunk activations live), interleaved's bubble when M >= P, and at
 * most one message each way per (microbatch, chunk) boundary, as every schedule here. */
static pipa_status gen_bfs(pipa_plan_t *p)
{
    for (int r = 0; r < p->P; r++) {
        for (int c = 0; c < p->V; c++)
            for (int m = 0; m < p->M; m++) PIPA_TRY(pipa_plan_append(p, r, PIPA_ACT_F, m, c));
        for (int c = p->V - 1; c >= 0; c--)
            for (int m = 0; m < p->M; m++) PIPA_TRY(pipa_plan_append(p, r, PIPA_ACT_B, m, c));
    }
    return PIPA_OK;
}

/* ZB-V (Qi et al., "Pipeline Parallelism with Controllable Memory", NeurIPS 2024, and "Zero
 * Bubble Pipeline Parallelism", ICLR 2024, section 6): two chunks per rank in the V shape (rank
 * r holds virtual stages r and 2P-1-r), the backward split into I and W as ZB-H1. Like the
 * authors' own generator (zbv_greedy in their repository) the order is found by list scheduling
 * on a clock where F, I and W each take one unit: at every tick each rank runs the first ready
 * action of
 *   I   (input gradients are the critical path; the oldest microbatch first),
 *   F   (chunk 1 before chunk 0: it takes a microbatch towards its backward), only while fewer
 *        than 2P (microbatch, chunk) activations are live on the rank,
 *   W   (the oldest held back; they fill what would be bubble and free activations),
 * and idles when none is ready. Live counts until W (W reads the saved inputs). 2P chunk
 * activations are P stages' worth: 1F1B's peak on rank 0, the paper's memory for ZB-V.
 * Everything runs per chunk in microbatch order, so gradients sum as in every other schedule.
 * The clock only orders the lists: the checker then proves the plan like any other. */
typedef struct {
    int P, M, t;       /* ranks, microbatches, the current tick */
    int *f_at, *i_at;  /* (2P * M) tick at which F / I of (virtual stage, microbatch) ran, or -1 */
} zbv_clock_t;

static int zbv_ran(const zbv_clock_t *z, const int *at, int vs, int m)
{
    int t = at[(size_t)vs * z->M + m];
    return t >= 0 && t < z->t;  /* finished by now: each action takes one tick */
}

/* The microbatch of the action rank r runs at tick z->t, or -1; its kind in *kind, chunk in *c.
 * q: the rank's next F, I and W microbatch of chunks 0 and 1, then its live activations. */
static int zbv_pick(const zbv_clock_t *z, const int q[7], int r, int *kind, int *c)
{
    const int *nf = q, *ni = q + 2, *nw = q + 4, live = q[6];
    int P = z->P, M = z->M, last = 2 * P - 1, best = -1;
    for (int k = 0; k < 2; k++) {   /* I: the oldest microbatch whose output gradient is here */
        int vs = pipa_place_vstage(PIPA_PLACE_V, P, r, k), m = ni[k];
        if (m < M && zbv_ran(z, z->f_at, vs, m) && (vs == last || zbv_ran(z, z->i_at, vs + 1, m)) &&
            (best < 0 || m < best))
            best = m, *kind = PIPA_ACT_I, *c = k;
    }
    if (best >= 0) return best;
    for (int k = 1; k >= 0 && live < 2 * P; k--) {
        int vs = pipa_place_vstage(PIPA_PLACE_V, P, r, k), m = nf[k];
        if (m < M && (vs == 0 || zbv_ran(z, z->f_at, vs - 1, m)))
            return *kind = PIPA_ACT_F, *c = k, m;
    }
    for (int k = 0; k < 2; k++) {
        int vs = pipa_place_vstage(PIPA_PLACE_V, P, r, k), m = nw[k];
        if (m < ni[k] && zbv_ran(z, z->i_at, vs, m) && (best < 0 || m < best))
            best = m, *kind = PIPA_ACT_W, *c = k;
    }
    return best;
}

/* One tick: every rank runs what zbv_pick gives it. Returns how many ran. */
static pipa_status zbv_tick(pipa_plan_t *p, zbv_clock_t *z, int (*q)[7], int *ran)
{
    *ran = 0;
    for (int r = 0; r < p->P; r++) {
        int kind = 0, c = 0, m = zbv_pick(z, q[r], r, &kind, &c);
        if (m < 0) continue;
        int vs = pipa_vstage(p, r, c);
        size_t key = (size_t)vs * z->M + m;
        if (kind == PIPA_ACT_F) z->f_at[key] = z->t, q[r][c]++, q[r][6]++;
        if (kind == PIPA_ACT_I) z->i_at[key] = z->t, q[r][2 + c]++;
        if (kind == PIPA_ACT_W) q[r][4 + c]++, q[r][6]--;
        PIPA_TRY(pipa_plan_append(p, r, kind, m, c));
        (*ran)++;
    }
    return PIPA_OK;
}

static pipa_status gen_zbv(pipa_plan_t *p)
{
    int P = p->P, M = p->M;
    size_t n = (size_t)2 * P * M;
    zbv_clock_t z = {P, M, 0, malloc(n * sizeof(int)), malloc(n * sizeof(int))};
    int (*q)[7] = calloc((size_t)P, sizeof *q);  /* per rank: nf[2], ni[2], nw[2], live */
    pipa_status s = PIPA_OK;
    if (!z.f_at || !z.i_at || !q) s = pipa__fail(PIPA_ERR_NOMEM, "zbv: out of memory (P*M = %d)", P * M);
    for (size_t k = 0; s == PIPA_OK && k < n; k++) z.f_at[k] = z.i_at[k] = -1;
    long long left = 6LL * P * M;   /* F, I and W of 2 chunks per microbatch on every rank */
    for (; s == PIPA_OK && left > 0; z.t++) {
        int ran;
        s = zbv_tick(p, &z, q, &ran);
        left -= ran;
        /* Nothing ran: nothing new can be ready at the next tick either. Never seen (the
         * reserve of 2P activations leaves room for chunk 1's flow); kept as an error, not a hang. */
        if (s == PIPA_OK && ran == 0)
            s = pipa__fail(PIPA_ERR_ARG, "zbv: P=%d M=%d: stuck at tick %d", P, M, z.t);
    }
    free(z.f_at);
    free(z.i_at);
    free(q);
    return s;
}

/* ---- the registry ---------------------------------------------------------------------------
 * Bubble fractions, bubble = idle / (P * makespan), with comms free and costs F = 1, B = 2:
 *  - GPipe and 1F1B: every rank idles (P - 1)(F + B) of a makespan (M + P - 1)(F + B), so
 *    (P - 1) / (M + P - 1); the B = 2F ratio cancels out.
 *  - Interleaved: Narayanan et al. (2021) show the bubble time shrinks by V, (P - 1)(F + B) / V,
 *    against M(F + B) of work: (P - 1) / (V M + P - 1). Approximate: the warmup and cooldown of
 *    real plans do not divide evenly, so the simulator's figure is close, not equal.
 *  - ZB-H1: Qi et al. (2024) give ZB-H1's bubble time as (P - 1)(T_F + T_I - T_W) per rank,
 *    against 1F1B's (P - 1)(T_F + T_I + T_W) (T_I is the paper's T_B, the input-gradient part):
 *    the I chain between ranks costs T_I per rank instead of T_I + T_W, and the deferred W's
 *    fill the rest. With F = I = W = 1 that is P - 1 units of idle per rank (one third of
 *    1F1B's 3(P - 1)) against 3M of work: (P - 1) / (3M + P - 1). It holds when M >= P (with
 *    fewer microbatches there are not enough W's to defer).
 *  - ZB-V: Qi et al. (2024) give ZB-V no bubble when T_F = T_B = T_W: each rank's work runs
 *    back to back from its first action to its last. Here all ranks share one clock (the
 *    optimizer step is not decoupled from the others), so rank P - 1 still waits P - 1 chunk
 *    forwards for its first input: P - 1 idle units of 6M (two chunks of F, I, W at a half
 *    stage's cost each), (P - 1) / (6M + P - 1), the least any plan can reach. The greedy order
 *    held to 1F1B's memory reaches it exactly for P = 2, 3, 4, 8 when M >= 2P and comes within
 *    P/4 time units (P/2 chunk actions) of it otherwise (measured for P 2..16, M 2P..6P; given 4 more live chunk
 *    activations than 2P it reaches it at every one of those P: memory, not the order, is the
 *    limit). Fewer microbatches than 2P leave too little work to fill the ramp.
 *  - Looped BFS: Lamy-Poirier (2023) gives the looped breadth-first bubble (P - 1)/(V M + P - 1),
 *    interleaved's, for M >= P: every rank streams its V M forwards, then its backwards, without
 *    a gap but the ramp. With M < P rank 0 waits for each loop round the ranks: the makespan is
 *    V max(M, P) + min(M, P) - 1 chunk F + B units, so 1 - V M / (V max(M, P) + min(M, P) - 1),
 *    which is the same formula when M >= P.
 *  - Forward-only: each rank idles P - 1 forwards of a makespan M + P - 1 forwards (V = 1),
 *    so (P - 1) / (M + P - 1), GPipe's; with V chunks (P - 1) / (V M + P - 1), exact only when
 *    every chunk costs the same. */
static double bubble_fill(int P, int M, int V) { return (double)(P - 1) / ((double)V * M + P - 1); }
static double bubble_zb1(int P, int M, int V) { (void)V; return (double)(P - 1) / (3.0 * M + P - 1); }
static double bubble_zbv(int P, int M, int V) { (void)V; return (double)(P - 1) / (6.0 * M + P - 1); }
static double bubble_bfs(int P, int M, int V)
{
    int hi = M > P ? M : P, lo = M < P ? M : P;
    return 1.0 - (double)V * M / ((double)V * hi + lo - 1);
}

/* Every schedule, in pipa_sched order (the enum indexes this table). */
static const pipa_sched_info_t scheds[] = {
    {PIPA_SCHED_GPIPE, "gpipe", {NULL}, PIPA_CHUNKS_ONE, PIPA_PLACE_LOOP, 1, gen_gpipe, bubble_fill,
     "all forwards, then all backwards: M activations live"},
    {PIPA_SCHED_1F1B, "1f1b", {NULL}, PIPA_CHUNKS_ONE, PIPA_PLACE_LOOP, 1, gen_1f1b, bubble_fill,
     "one forward, one backward: at most P activations live"},
    {PIPA_SCHED_INTERLEAVED, "interleaved", {NULL}, PIPA_CHUNKS_MANY, PIPA_PLACE_LOOP, 1,
     gen_interleaved, bubble_fill,
     "V chunks per rank: the bubble shrinks by V, for V times the messages"},
    {PIPA_SCHED_ZB1, "zb1", {"zbh1", "zb-h1"}, PIPA_CHUNKS_ONE, PIPA_PLACE_LOOP, 1, gen_zb1, bubble_zb1,
     "ZB-H1: backward split into I and W, deferred W's fill the bubble"},
    {PIPA_SCHED_FORWARD, "forward", {NULL}, PIPA_CHUNKS_ANY, PIPA_PLACE_LOOP, 0, gen_forward,
     bubble_fill, "forward only (inference): no backward, no optimizer step"},
    {PIPA_SCHED_ZBV, "zbv", {"zb-v", NULL}, PIPA_CHUNKS_TWO, PIPA_PLACE_V, 1, gen_zbv, bubble_zbv,
     "ZB-V: 2 chunks per rank in a V, I and W split: no bubble but the ramp"},
    {PIPA_SCHED_BFS, "bfs", {"looped-bfs", NULL}, PIPA_CHUNKS_MANY, PIPA_PLACE_LOOP, 1, gen_bfs,
     bubble_bfs, "looped breadth-first: all forwards of a chunk, then the next; M V live"},
};
enum { N_SCHEDS = sizeof scheds / sizeof *scheds };

int pipa_sched_count(void) { return N_SCHEDS; }

const pipa_sched_info_t *pipa_sched_info(pipa_sched s)
{
    if ((int)s < 0 || (int)s >= N_SCHEDS) return NULL;
    return &scheds[s];
}

int pipa_sched_interleaves(pipa_sched s)
{
    const pipa_sched_info_t *d = pipa_sched_info(s);
    return d && (d->chunks == PIPA_CHUNKS_MANY || d->chunks == PIPA_CHUNKS_TWO);
}

int pipa_sched_chunks(pipa_sched s, int V)
{
    const pipa_sched_info_t *d = pipa_sched_info(s);
    if (!d || d->chunks == PIPA_CHUNKS_ONE) return 1;
    return d->chunks == PIPA_CHUNKS_TWO ? 2 : V;
}

const char *pipa_sched_name(pipa_sched s)
{
    const pipa_sched_info_t *d = pipa_sched_info(s);
    return d ? d->name : "?";
}

pipa_status pipa_sched_parse(const char *name, pipa_sched *out)
{
    char list[128] = "";
    for (int i = 0; i < N_SCHEDS; i++) {
        const pipa_sched_info_t *d = &scheds[i];
        int alias = (d->alias[0] && !strcmp(name, d->alias[0])) ||
                    (d->alias[1] && !strcmp(name, d->alias[1]));
        if (!strcmp(name, d->name) || alias) {
            *out = d->id;
            return PIPA_OK;
        }
        snprintf(list + strlen(list), sizeof list - strlen(list), "%s%s", i ? ", " : "", d->name);
    }
    return pipa__fail(PIPA_ERR_ARG, "unknown schedule '%s' (%s)", name, list);
}

/* V's rule of schedule d, or an error naming it. */
static pipa_status check_chunks(const pipa_sched_info_t *d, int P, int V)
{
    if (d->chunks == PIPA_CHUNKS_MANY) {
        if (V < 2)
            return pipa__fail(PIPA_ERR_ARG, "%s: V = %d chunks per rank, needs V >= 2 "
                              "(V = 1 is plain %s)", d->name, V,
                              d->id == PIPA_SCHED_BFS ? "gpipe" : "1f1b");
        if (P < 2)
            return pipa__fail(PIPA_ERR_ARG, "%s: P = %d, needs P >= 2 ranks (with one "
                              "rank there is nothing to interleave; use 1f1b)", d->name, P);
    } else if (d->chunks == PIPA_CHUNKS_TWO && (V != 2 || P < 2)) {
        return pipa__fail(PIPA_ERR_ARG, "%s: V = %d, P = %d: runs exactly V = 2 chunks per rank "
                          "(its V shape) on P >= 2 ranks", d->name, V, P);
    } else if (d->chunks == PIPA_CHUNKS_ONE && V != 1) {
        return pipa__fail(PIPA_ERR_ARG, "%s: V = %d, but only interleaved, bfs, zbv and forward "
                          "take V > 1 chunks per rank", d->name, V);
    }
    return PIPA_OK;
}

pipa_status pipa_plan_generate(pipa_plan_t *p, pipa_sched s, int P, int M, int V)
{
    const pipa_sched_info_t *d = pipa_sched_info(s);
    if (!d) return pipa__fail(PIPA_ERR_ARG, "unknown schedule %d", (int)s);
    PIPA_TRY(check_chunks(d, P, V));
    PIPA_TRY(pipa_plan_init(p, P, M, V));
    p->place = d->place;
    /* Room for an F and a B per (microbatch, chunk) and the STEP up front: no list regrows
     * (split schedules grow once more, for their W's). */
    pipa_status st = pipa_plan_reserve(p, 2 * M * V + 1);
    if (st == PIPA_OK) st = d->generate(p);
    for (int r = 0; st == PIPA_OK && d->training && r < P; r++)
        st = pipa_plan_append(p, r, PIPA_ACT_STEP, -1, -1);
    if (st == PIPA_OK) st = pipa_plan_insert_comms(p);
    if (st != PIPA_OK) pipa_plan_free(p);
    return st;
}

double pipa_plan_bubble_theory(pipa_sched s, int P, int M, int V)
{
    const pipa_sched_info_t *d = pipa_sched_info(s);
    if (!d || P < 1 || M < 1 || V < 1) return 0.0;
    return d->bubble(P, M, V);
}
