/* test_reorder: a plan the checker accepts never deadlocks, and its order never changes the bits.
 *   pipa-run -n P test_reorder SEEDS B [SCHEDULE]   shuffled generated plans (below); SEEDS is
 *                                                   a count (seeds 1..SEEDS) or FIRST-LAST
 *   pipa-run -n P test_reorder FILE.plan B          a hand-written plan (tests/plans) must run like
 *                                                   the generated plan of its P, M, V
 *   pipa-run -n 3 test_reorder drain -              the transport underneath: a rank waiting for
 *                                                   one peer takes in what another cannot finish
 *                                                   sending
 *   pipa-run -n 2 test_reorder flush -              a detached send outlives its buffer, and
 *                                                   pipa_flush its sender's last wait
 * B is the microbatch size (sequences of 8 tokens; an activation message is B * 512 bytes).
 * For gpipe, 1f1b and zb1 (V = 1) and interleaved (V = 2), the generated plan is shuffled SEEDS
 * times: a random topological order of the whole run (every action after the actions of its own
 * (microbatch, chunk) that came before it, weight gradients of a chunk in microbatch order, every
 * receive after its send), cut back into one list per rank. So each rank's independent actions
 * land in a random order: sends far ahead of their receives, receives late, many messages
 * outstanding. Every shuffled plan goes through the checker, and only the accepted ones run (all
 * of them should be accepted: the order came from an execution where sends never block).
 * Each runs 2 steps through the real runtime and must give the losses (exact bits) and parameter
 * hashes of the unshuffled plan. Run it with a small ring (PIPA_SHM_RING_MB=1) and a microbatch
 * B big enough that the outstanding activations, or single messages, exceed the ring; a short
 * PIPA_TIMEOUT turns a deadlock into a failure naming the stuck receive. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "batch.h"
#include "check.h"
#include "runtime/runtime.h"
#include "plan/split.h"

enum { T = 8, STEPS = 2 };
static int B;

static void batch(void *ctx, int mb, int32_t *tokens, int32_t *targets)
{
    test_batch_fill(*(const int64_t *)ctx, mb, B * T, tokens, targets);
}

/* ---- the shuffle ---------------------------------------------------------------------------- */

static uint64_t rng_next(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

/* Actions of the whole plan as one graph: node = base[r] + i for step i of rank r. */
typedef struct {
    const pipa_plan_t *p;
    int *base;      /* (P + 1) */
    int (*succ)[3]; /* (nodes) at most three successors each, -1 if none */
    int *indeg;     /* (nodes) */
} graph_t;

static void add_edge(graph_t *g, int from, int to)
{
    for (int k = 0; k < 3; k++)
        if (g->succ[from][k] < 0) {
            g->succ[from][k] = to;
            g->indeg[to]++;
            return;
        }
    PIPA_ASSERT(0); /* each action has one next of its own kind, one next weight gradient, one
                     * matching receive */
}

/* The send a receive on rank r waits for: its node, or -1. */
static int matching_send(const graph_t *g, int r, const pipa_action_t *a)
{
    const pipa_plan_t *p = g->p;
    int vs = pipa_vstage(p, r, a->chunk), from = a->kind == PIPA_ACT_RECV_F ? vs - 1 : vs + 1;
    int kind = a->kind == PIPA_ACT_RECV_F ? PIPA_ACT_SEND_F : PIPA_ACT_SEND_B;
    int fr = pipa_vstage_rank(p, from), i = pipa_plan_find(p, fr, kind, a->mb, pipa_vstage_chunk(p, from));
    return i < 0 ? -1 : g->base[fr] + i;
}

static int is_wgrad(int kind) { return kind == PIPA_ACT_B || kind == PIPA_ACT_W; }

/* Edges within rank r: each action after the previous one of its (mb, chunk), each weight
 * gradient after the previous one of its chunk, each receive after its send. STEP stays last. */
static void rank_edges(graph_t *g, int r)
{
    const pipa_plan_t *p = g->p;
    int n = p->len[r] - 1; /* without STEP */
    int *last_key = malloc((size_t)p->M * p->V * sizeof(int)), last_w[PIPA_MAX_CHUNKS];
    for (int k = 0; k < p->M * p->V; k++) last_key[k] = -1;
    for (int c = 0; c < p->V; c++) last_w[c] = -1;
    for (int i = 0; i < n; i++) {
        const pipa_action_t *a = &p->act[r][i];
        int node = g->base[r] + i, *key = &last_key[a->chunk * p->M + a->mb];
        if (*key >= 0) add_edge(g, *key, node);
        *key = node;
        if (is_wgrad(a->kind)) {
            if (last_w[a->chunk] >= 0) add_edge(g, last_w[a->chunk], node);
            last_w[a->chunk] = node;
        }
        if (a->kind == PIPA_ACT_RECV_F || a->kind == PIPA_ACT_RECV_B) {
            int from = matching_send(g, r, a);
            PIPA_ASSERT(from >= 0);
            add_edge(g, from, node);
        }
    }
    free(last_key);
}

static const pipa_action_t *node_action(const graph_t *g, int v, int *rank)
{
    int r = 0;
    while (v >= g->base[r + 1]) r++;
    *rank = r;
    return &g->p->act[r][v - g->base[r]];
}

static int is_recv(int kind) { return kind == PIPA_ACT_RECV_F || kind == PIPA_ACT_RECV_B; }
static int is_forward(int kind)
{
    return kind == PIPA_ACT_F || kind == PIPA_ACT_SEND_F || kind == PIPA_ACT_RECV_F;
}

/* How a shuffle picks among the ready actions: any at random; receives as late as they can be
 * (as many messages outstanding as possible); or a random rank's favourite, where ranks of one
 * parity go depth-first (oldest microbatch, backward first) and the others breadth-first
 * (forwards first, newest microbatch): neighbours then run ahead in opposite directions, the
 * orders that once hung the runtime (tests/plans/p3v2_release.plan). */
enum { PICK_ANY, PICK_LATE_RECVS, PICK_SIDES, PICK_MODES };

static int favour(const graph_t *g, int v, int flip)
{
    int r;
    const pipa_action_t *a = node_action(g, v, &r);
    if ((r + flip) & 1) return is_forward(a->kind) * 1000 + a->mb;
    return -4 * a->mb + !is_forward(a->kind);
}

static int pick(const graph_t *g, const int *ready, int n, int how, int flip, uint64_t *seed)
{
    int k = (int)(rng_next(seed) % (uint64_t)n), r0, r;
    if (how == PICK_LATE_RECVS)
        for (int tries = 0; tries < n; tries++, k = (k + 1) % n)
            if (!is_recv(node_action(g, ready[k], &r)->kind)) return k;
    if (how != PICK_SIDES) return k;
    node_action(g, ready[k], &r0);
    int best = k;
    for (int i = 0; i < n; i++) {
        node_action(g, ready[i], &r);
        if (r == r0 && favour(g, ready[i], flip) > favour(g, ready[best], flip)) best = i;
    }
    return best;
}

/* Kahn's algorithm, picking a random ready action each time; *out gets the shuffled plan. */
static void topo_shuffle(graph_t *g, uint64_t seed, int how, pipa_plan_t *out)
{
    const pipa_plan_t *p = g->p;
    int nodes = g->base[p->P], ready_n = 0, *ready = malloc((size_t)nodes * sizeof(int));
    for (int v = 0; v < nodes; v++)
        if (!g->indeg[v]) ready[ready_n++] = v;
    int flip = (int)(seed >> 40) & 1;
    CHECK(pipa_plan_init(out, p->P, p->M, p->V) == PIPA_OK);
    while (ready_n) {
        int k = pick(g, ready, ready_n, how, flip, &seed), v = ready[k], r;
        ready[k] = ready[--ready_n];
        const pipa_action_t *a = node_action(g, v, &r);
        CHECK(pipa_plan_append(out, r, a->kind, a->mb, a->chunk) == PIPA_OK);
        for (int s = 0; s < 3 && g->succ[v][s] >= 0; s++)
            if (--g->indeg[g->succ[v][s]] == 0) ready[ready_n++] = g->succ[v][s];
    }
    for (int r = 0; r < p->P; r++) {
        CHECK(out->len[r] == p->len[r] - 1); /* the graph has no cycle */
        CHECK(pipa_plan_append(out, r, PIPA_ACT_STEP, -1, -1) == PIPA_OK);
    }
    free(ready);
}

static void shuffle_plan(const pipa_plan_t *p, uint64_t seed, pipa_plan_t *out)
{
    graph_t g = {.p = p, .base = calloc((size_t)p->P + 1, sizeof(int))};
    for (int r = 0; r < p->P; r++) {
        CHECK(p->len[r] > 0 && p->act[r][p->len[r] - 1].kind == PIPA_ACT_STEP);
        g.base[r + 1] = g.base[r] + p->len[r] - 1;
    }
    g.succ = malloc((size_t)g.base[p->P] * sizeof *g.succ);
    g.indeg = calloc((size_t)g.base[p->P], sizeof(int));
    memset(g.succ, -1, (size_t)g.base[p->P] * sizeof *g.succ);
    for (int r = 0; r < p->P; r++) rank_edges(&g, r);
    topo_shuffle(&g, seed * 0x9e3779b97f4a7c15ull + 1, (int)(seed % PICK_MODES), out);
    free(g.base);
    free(g.succ);
    free(g.indeg);
}

/* ---- running a plan ------------------------------------------------------------------------- */

#define MAX_LAYERS 16
typedef struct {
    double loss[STEPS];
    uint64_t hash[MAX_LAYERS + 2]; /* layers I hold, then embedding and head (0 if not mine) */
} outcome_t;

static pipa_status run_plan(pipa_comm_t *comm, const pipa_plan_t *plan, outcome_t *o)
{
    int P = plan->P, L = P * plan->V, counts[64];
    pipa_layout_t lay;
    PIPA_TRY(pipa_layout_init(&lay, P, pipa_comm_rank(comm), 1, P, 1));
    PIPA_TRY(pipa_split_even(L, L, counts));
    pipa_train_config_t cfg = {
        .model = {.L = L, .C = 16, .NH = 2, .I = 24, .eps = 1e-5f, .rope_theta = 10000.0f, .seed = 5},
        .vocab = 23, .B = B, .T = T, .opt = pipa_opt_defaults()};
    pipa_runtime_t tr;
    PIPA_TRY(pipa_runtime_init(&tr, comm, &lay, &cfg, plan, counts));
    pipa_status s = PIPA_OK;
    pipa_step_stats_t st;
    for (int64_t step = 0; step < STEPS && s == PIPA_OK; step++) {
        s = pipa_runtime_step(&tr, batch, &step, &st);
        o->loss[step] = st.loss;
    }
    for (int l = 0; l < L; l++) o->hash[l] = pipa_runtime_layer_hash(&tr, l);
    for (int w = 0; w < 2; w++) o->hash[MAX_LAYERS + w] = pipa_runtime_ends_hash(&tr, w);
    pipa_runtime_free(&tr);
    return s;
}

static int same_order(const pipa_plan_t *a, const pipa_plan_t *b)
{
    for (int r = 0; r < a->P; r++)
        if (a->len[r] != b->len[r] || memcmp(a->act[r], b->act[r], a->len[r] * sizeof *a->act[r]))
            return 0;
    return 1;
}

/* Shuffles the plan of (sched, V) `seeds` times; every accepted one must give *want (the bits of
 * the unshuffled plan: run first unless *have_want; V = 1 schedules share it, as
 * tests/test_train.sh proves them bit-identical). Returns how many the checker accepted. */
static int try_schedule(pipa_comm_t *comm, pipa_sched sched, int V, int M, int first, int seeds,
                        outcome_t *want, int *have_want)
{
    int P = pipa_comm_size(comm), accepted = 0;
    pipa_plan_t plan;
    CHECK(pipa_plan_generate(&plan, sched, P, M, V) == PIPA_OK);
    if (!*have_want)
        CHECKF(run_plan(comm, &plan, want) == PIPA_OK, "%s: %s", pipa_sched_name(sched),
               pipa_last_error());
    *have_want = 1;
    for (int seed = first; seed < first + seeds && !check_failures; seed++) {
        pipa_plan_t shuffled;
        shuffle_plan(&plan, (uint64_t)seed, &shuffled);
        CHECKF(!same_order(&plan, &shuffled), "seed %d left the plan as it was", seed);
        if (pipa_plan_check(&shuffled, NULL) != PIPA_OK) {
            pipa_plan_free(&shuffled);
            continue;
        }
        accepted++;
        outcome_t got = {0};
        pipa_status s = run_plan(comm, &shuffled, &got);
        CHECKF(s == PIPA_OK, "P=%d %s V=%d seed %d: %s", P, pipa_sched_name(sched), V, seed,
               pipa_last_error());
        if (s != PIPA_OK && pipa_comm_rank(comm) == 0) pipa_plan_write(&shuffled, stderr);
        CHECKF(!memcmp(&got, want, sizeof got), "P=%d %s V=%d seed %d: losses %a %a, want %a %a, "
               "or parameters differ", P, pipa_sched_name(sched), V, seed, got.loss[0],
               got.loss[1], want->loss[0], want->loss[1]);
        pipa_plan_free(&shuffled);
    }
    pipa_plan_free(&plan);
    return accepted;
}

/* A hand-written plan must be accepted and run like the generated one of its P, M, V
 * (interleaved, or 1f1b for V = 1). */
static void try_file(pipa_comm_t *comm, const char *path)
{
    pipa_plan_t plan, gen;
    FILE *f = fopen(path, "r");
    CHECKF(f, "cannot open %s", path);
    if (!f) return;
    pipa_status s = pipa_plan_read(&plan, f, path);
    fclose(f);
    if (s == PIPA_OK && (s = pipa_plan_check(&plan, NULL)) != PIPA_OK) pipa_plan_free(&plan);
    CHECKF(s == PIPA_OK, "%s", pipa_last_error());
    if (s != PIPA_OK) return;
    CHECK(plan.P == pipa_comm_size(comm));
    pipa_sched sched = plan.V > 1 ? PIPA_SCHED_INTERLEAVED : PIPA_SCHED_1F1B;
    CHECK(pipa_plan_generate(&gen, sched, plan.P, plan.M, plan.V) == PIPA_OK);
    outcome_t want = {0}, got = {0};
    CHECKF(run_plan(comm, &gen, &want) == PIPA_OK, "%s", pipa_last_error());
    CHECKF(run_plan(comm, &plan, &got) == PIPA_OK, "%s: %s", path, pipa_last_error());
    CHECKF(!memcmp(&got, &want, sizeof got), "%s: losses %a %a, want %a %a, or parameters differ",
           path, got.loss[0], got.loss[1], want.loss[0], want.loss[1]);
    if (pipa_comm_rank(comm) == 0 && !check_failures)
        printf("%s: accepted and run like %s\n", path, pipa_sched_name(sched));
    pipa_plan_free(&gen);
    pipa_plan_free(&plan);
}

/* Under the plans, the transport's promise (3 ranks): a rank waiting for one peer still takes in
 * what another peer cannot finish sending. Rank 2 sends rank 0 more than a ring holds and waits
 * for that send before it lets rank 1 go on; rank 0 first waits for rank 1. */
static void try_drain(pipa_comm_t *comm)
{
    size_t n = 4u << 20;
    int rank = pipa_comm_rank(comm), token = 7;
    pipa_desc_t big = pipa_desc_1d(PIPA_U8, (int64_t)n), one = pipa_desc_1d(PIPA_I32, 1);
    uint8_t *buf = malloc(n);
    CHECK(pipa_comm_size(comm) == 3);
    if (rank == 2) {
        for (size_t i = 0; i < n; i++) buf[i] = (uint8_t)(i * 31 + 5);
        CHECKF(pipa_send(comm, 0, 1, &big, buf) == PIPA_OK, "%s", pipa_last_error());
        CHECKF(pipa_send(comm, 1, 2, &one, &token) == PIPA_OK, "%s", pipa_last_error());
    } else if (rank == 1) {
        CHECKF(pipa_recv(comm, 2, 2, &one, &token) == PIPA_OK, "%s", pipa_last_error());
        CHECKF(pipa_send(comm, 0, 3, &one, &token) == PIPA_OK, "%s", pipa_last_error());
    } else {
        CHECKF(pipa_recv(comm, 1, 3, &one, &token) == PIPA_OK, "%s", pipa_last_error());
        CHECKF(pipa_recv(comm, 2, 1, &big, buf) == PIPA_OK, "%s", pipa_last_error());
        size_t bad = 0;
        for (size_t i = 0; i < n; i++) bad += buf[i] != (uint8_t)(i * 31 + 5);
        CHECKF(bad == 0, "%zu bytes wrong", bad);
    }
    free(buf);
}

/* Sends that outlive their buffer and their sender's last wait (2 ranks): rank 0 posts more than
 * a ring holds, detaches the send and scribbles over its buffer, flushes and leaves at once;
 * rank 1 starts receiving only later and must get every byte. */
static void try_flush(pipa_comm_t *comm)
{
    size_t n = 4u << 20;
    pipa_desc_t d = pipa_desc_1d(PIPA_U8, (int64_t)n);
    uint8_t *buf = malloc(n);
    CHECK(pipa_comm_size(comm) == 2);
    if (pipa_comm_rank(comm) == 0) {
        pipa_req_t req;
        for (size_t i = 0; i < n; i++) buf[i] = (uint8_t)(i * 13 + 1);
        CHECK(pipa_isend(comm, 1, 5, &d, buf, &req) == PIPA_OK);
        CHECKF(pipa_detach(comm, &req) == PIPA_OK, "%s", pipa_last_error());
        memset(buf, 0xee, n);
        CHECKF(pipa_flush(comm) == PIPA_OK, "%s", pipa_last_error());
    } else {
        struct timespec nap = {0, 300 * 1000 * 1000};
        nanosleep(&nap, NULL);
        CHECKF(pipa_recv(comm, 0, 5, &d, buf) == PIPA_OK, "%s", pipa_last_error());
        size_t bad = 0;
        for (size_t i = 0; i < n; i++) bad += buf[i] != (uint8_t)(i * 13 + 1);
        CHECKF(bad == 0, "%zu bytes wrong", bad);
    }
    free(buf);
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: pipa-run -n P test_reorder SEEDS|FIRST-LAST B [SCHEDULE]\n"
                        "       pipa-run -n P test_reorder FILE.plan B\n"
                        "       pipa-run -n 3 test_reorder drain -\n"
                        "       pipa-run -n 2 test_reorder flush -\n");
        return 2;
    }
    char *end;
    int first = 1, seeds = (int)strtol(argv[1], &end, 10);
    if (*end == '-') { /* FIRST-LAST */
        first = seeds;
        seeds = (int)strtol(end + 1, &end, 10) - first + 1;
    }
    B = atoi(argv[2]);
    pipa_comm_t *comm;
    if (pipa_comm_init(&comm) != PIPA_OK) {
        fprintf(stderr, "test_reorder: %s\n", pipa_last_error());
        return 1;
    }
    if (!strcmp(argv[1], "drain") || !strcmp(argv[1], "flush")) {
        if (argv[1][0] == 'd') try_drain(comm);
        else try_flush(comm);
        pipa_comm_free(comm);
        return check_done("test_reorder");
    }
    if (*end) {
        try_file(comm, argv[1]);
        pipa_comm_free(comm);
        return check_done("test_reorder");
    }
    int P = pipa_comm_size(comm), M = 2 * P;
    struct { pipa_sched s; int V; } cases[] = {
        {PIPA_SCHED_GPIPE, 1}, {PIPA_SCHED_1F1B, 1}, {PIPA_SCHED_ZB1, 1}, {PIPA_SCHED_INTERLEAVED, 2}};
    outcome_t want[2];
    int have_want[2] = {0, 0};
    memset(want, 0, sizeof want); /* compared whole, with memcmp */
    for (size_t k = 0; k < sizeof cases / sizeof *cases && !check_failures; k++) {
        if ((cases[k].V > 1 && P < 2) || (argc > 3 && strcmp(argv[3], pipa_sched_name(cases[k].s))))
            continue;
        int v = cases[k].V - 1;
        int n = try_schedule(comm, cases[k].s, cases[k].V, M, first, seeds, &want[v], &have_want[v]);
        CHECKF(n == seeds, "P=%d %s: the checker accepted %d of %d shuffled plans", P,
               pipa_sched_name(cases[k].s), n, seeds);
        if (pipa_comm_rank(comm) == 0)
            printf("P=%d %-11s V=%d M=%d: %d shuffled plans accepted, run like the unshuffled\n",
                   P, pipa_sched_name(cases[k].s), cases[k].V, M, n);
    }
    pipa_comm_free(comm);
    return check_done("test_reorder");
}
