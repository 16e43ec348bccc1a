/* plan.h: schedules as data. A plan is one ordered list of actions per rank; generators make
 * them for GPipe, 1F1B, interleaved 1F1B and ZB-H1; the checker proves a plan before launch; the
 * simulator runs the checker's model of execution with a clock. One runtime loop (runtime.c)
 * executes any checked plan: there is no per-schedule runtime code.
 *
 * Model chunks: with V chunks per rank the model is cut into P*V virtual stages. Which virtual
 * stage chunk c of rank r holds is the plan's placement (pipa_place, one field of the plan, used
 * by the checker, the simulator, the runtime and the split alike): round-robin, c*P + r
 * (Megatron's), or the V shape of ZB-V, where odd chunks run back up the ranks (c*P + P-1-r), so
 * with V = 2 rank r holds r and 2P-1-r and the last virtual stage sits on rank 0 beside the
 * first. V = 1 is the plain pipeline under either. Microbatch m of chunk c flows forward from
 * virtual stage vs to vs+1, backward from vs+1 to vs.
 *
 * Semantics the checker assumes and the runtime provides: SEND_* never blocks (the message is
 * buffered); RECV_* blocks until the matching SEND_* ran.
 *
 * The chunk of a communication action is the chunk of the local computation it serves: on rank r,
 * RECV_F m c feeds F m c (its SEND_F is SEND_F m c' on the rank of virtual stage vs(r, c) - 1),
 * SEND_F m c ships F m c's output to vs(r, c) + 1, RECV_B m c feeds B/I m c from vs(r, c) + 1,
 * SEND_B m c ships B/I m c's input gradient to vs(r, c) - 1. So a SEND_F m c of virtual stage vs
 * matches the RECV_F m c'' of virtual stage vs + 1, and a SEND_B of vs the RECV_B of vs - 1. */
#ifndef PIPA_PLAN_H
#define PIPA_PLAN_H

#include <stdint.h>
#include <stdio.h>

#include "base/status.h"

typedef enum {
    PIPA_ACT_F = 0,   /* forward of (microbatch, chunk) */
    PIPA_ACT_B,       /* full backward: input gradient and weight gradient */
    PIPA_ACT_I,       /* input gradient only (zero-bubble split) */
    PIPA_ACT_W,       /* weight gradient only; after its I */
    PIPA_ACT_SEND_F,  /* send the forward output to the next virtual stage */
    PIPA_ACT_RECV_F,  /* receive the forward input from the previous virtual stage */
    PIPA_ACT_SEND_B,  /* send the input gradient to the previous virtual stage */
    PIPA_ACT_RECV_B,  /* receive the output gradient from the next virtual stage */
    PIPA_ACT_STEP,    /* optimizer step (microbatch and chunk -1) */
    PIPA_ACT_COUNT
} pipa_act_kind;

/* 8 bytes: plans at the limits below hold tens of millions of actions. Set fields by name
 * ({.kind = , .mb = , .chunk = }); pipa_plan_insert refuses a kind or chunk these types cannot
 * hold, so nothing out of range is silently wrapped into range. */
typedef struct {
    int16_t kind;   /* pipa_act_kind */
    int16_t chunk;  /* 0..V-1, -1 for STEP */
    int32_t mb;     /* microbatch 0..M-1, -1 for STEP */
} pipa_action_t;

/* FORWARD: forward-only (inference): every (microbatch, chunk) one F, in microbatch order, no
 * backward and no STEP; any V >= 1. */
typedef enum {
    PIPA_SCHED_GPIPE = 0, PIPA_SCHED_1F1B, PIPA_SCHED_INTERLEAVED, PIPA_SCHED_ZB1, PIPA_SCHED_FORWARD,
    PIPA_SCHED_ZBV, PIPA_SCHED_BFS
} pipa_sched;

/* Where chunk c of rank r sits among the P*V virtual stages (see the top of this file). */
typedef enum {
    PIPA_PLACE_LOOP = 0,  /* round-robin: c*P + r */
    PIPA_PLACE_V          /* V shape: even c as round-robin, odd c at c*P + P-1-r */
} pipa_place;

/* The limits of every plan, generated or read: one set, checked (pipa_plan_check_size) before
 * any work or memory proportional to P, M or V, by the text reader, the generators, the checker
 * and the tools (pipa-sim, pipa-train). PIPA_PLAN_MAX_PMV bounds memory and time: a plan, its
 * check and its simulation take about PIPA_PLAN_BYTES_PER_TRIPLE bytes per (rank, microbatch,
 * chunk) triple at their peak (measured with pipa-sim, BENCHMARKS.md), and time linear in it:
 * P = 1024 x M = 8192 1F1B about 2.4 CPU seconds and 800 MiB. A drawn timeline (--svg, --trace) adds
 * 16 bytes per action, about 6 actions per triple. */
#define PIPA_PLAN_MAX_P 1024         /* ranks (sizes the per-rank report arrays) */
#define PIPA_PLAN_MAX_M (1 << 20)    /* microbatches */
#define PIPA_PLAN_MAX_V 64           /* chunks per rank */
#define PIPA_PLAN_BYTES_PER_TRIPLE 105  /* peak RSS / triple, measured (bench/sim_scale.sh) */
#define PIPA_PLAN_MAX_PMV (1 << 23)  /* P * M * V: (microbatch, chunk) pairs over all ranks */

typedef struct {
    int P, M, V;              /* ranks (pipeline stages), microbatches, chunks per rank */
    int place;                /* pipa_place: which virtual stage each (rank, chunk) holds */
    int *len;                 /* (P) actions per rank */
    pipa_action_t **act;      /* (P) arrays of len[r] actions */
    int *cap;                 /* (P) allocated capacity */
} pipa_plan_t;

const char *pipa_act_name(int kind);                 /* "F", "SEND_F", ... */
/* Whether time in an action of this kind is busy time: F, B, I, W and STEP (the optimizer works
 * too), not sends and receives. The one definition of "busy" behind every bubble, measured
 * (runtime) or simulated (pipa_plan_simulate): bubble = 1 - sum(busy) / (P * span). */
int pipa_act_is_busy(int kind);
/* ---- schedules: the registry (plan_gen.c) ---------------------------------------------------
 * A schedule is a generator of compute actions plus what it promises. How to add one (say ZB-V):
 *   1. a value in pipa_sched (before PIPA_SCHED_FORWARD's row is fine: the enum indexes the table);
 *   2. a generator in plan_gen.c writing each rank's F/B (or F/I/W) actions in order, nothing
 *      else: STEP and the sends and receives are added for it, and the checker proves the plan;
 *   3. one row in plan_gen.c's table: name, its V rule, training or not, generator, bubble formula.
 * The runtime, the simulator, pipa-sim, pipa-train and the timelines then take it by name. */
typedef enum {
    PIPA_CHUNKS_ONE = 0,  /* V = 1 only */
    PIPA_CHUNKS_MANY,     /* V >= 2 and P >= 2 (interleaved) */
    PIPA_CHUNKS_ANY,      /* any V >= 1 */
    PIPA_CHUNKS_TWO       /* V = 2 and P >= 2 (ZB-V) */
} pipa_chunks_rule;

typedef struct {
    pipa_sched id;
    const char *name;            /* "1f1b": what --schedule takes */
    const char *alias[2];        /* other accepted spellings, or NULL */
    pipa_chunks_rule chunks;
    pipa_place place;            /* where its chunks sit */
    int training;                /* 1: has backward actions and ends with STEP */
    pipa_status (*generate)(pipa_plan_t *p);  /* compute actions of every rank of p (P, M, V set) */
    double (*bubble)(int P, int M, int V);    /* analytic bubble fraction, unit costs */
    const char *summary;         /* one line for help texts */
} pipa_sched_info_t;

int pipa_sched_count(void);                        /* schedules registered: ids 0..count-1 */
const pipa_sched_info_t *pipa_sched_info(pipa_sched s);  /* NULL if not registered */
/* 1 if s runs several chunks per rank (needs V >= 2): the tools' default and check of --chunks. */
int pipa_sched_interleaves(pipa_sched s);
/* The V that schedule s runs with when the user asked for V (--chunks, or its default): 1 for
 * the one-chunk schedules, 2 for ZB-V, V for the others. */
int pipa_sched_chunks(pipa_sched s, int V);
const char *pipa_sched_name(pipa_sched s);  /* "gpipe", "1f1b", "interleaved", "zb1", "forward" */
pipa_status pipa_sched_parse(const char *name, pipa_sched *out);

/* Checks P, M and V against the limits above. The message calls each value by names[0..2]
 * (what the caller's user typed, e.g. {"--pp", "--microbatches", "--chunks"}) and gives the
 * limit: "--chunks 4096: at most 64 chunks per rank". */
pipa_status pipa_plan_check_size(int P, int M, int V, const char *const names[3]);

/* An empty plan (no actions) for P ranks, M microbatches, V chunks, within the limits above.
 * pipa_plan_free releases it and leaves it zeroed (freeing twice is harmless). */
pipa_status pipa_plan_init(pipa_plan_t *p, int P, int M, int V);
void pipa_plan_free(pipa_plan_t *p);
/* Appends one action to rank's list; inserts one at step `at` (0..len[rank]); removes step `at`.
 * Append and insert check only the rank and the kind: the checker judges the rest. */
pipa_status pipa_plan_append(pipa_plan_t *p, int rank, int kind, int mb, int chunk);
pipa_status pipa_plan_insert(pipa_plan_t *p, int rank, int at, int kind, int mb, int chunk);
void pipa_plan_remove(pipa_plan_t *p, int rank, int at);
/* Room for n actions on every rank (the lists grow as needed anyway; this spares the regrowth). */
pipa_status pipa_plan_reserve(pipa_plan_t *p, int n);
/* Step index of the first (kind, mb, chunk) on rank, or -1. */
int pipa_plan_find(const pipa_plan_t *p, int rank, int kind, int mb, int chunk);

/* 1 if the plan is forward-only (inference): no B, I, W, SEND_B, RECV_B or STEP anywhere. The
 * checker then asks every (microbatch, chunk) for one F and nothing saved for a backward. */
int pipa_plan_forward_only(const pipa_plan_t *p);

/* Message tags of the point-to-point messages a plan's SEND and RECV actions exchange: direction
 * (PIPA_DIR_FWD, PIPA_DIR_BWD), microbatch and the receiving virtual stage. Arrival order never
 * matters: a receive names the one message it wants. */
enum { PIPA_DIR_FWD = 1, PIPA_DIR_BWD = 2 };
static inline uint64_t pipa_tag(int dir, int microbatch, int vs)
{
    return ((uint64_t)dir << 40) | ((uint64_t)vs << 24) | (uint64_t)microbatch;
}

/* Virtual stage helpers: vs of (rank, chunk) under a placement, and the rank and chunk that
 * hold virtual stage vs. The one definition of placement: nothing else computes c*P + r. */
static inline int pipa_place_vstage(int place, int P, int rank, int chunk)
{
    return chunk * P + (place == PIPA_PLACE_V && (chunk & 1) ? P - 1 - rank : rank);
}
static inline int pipa_place_rank(int place, int P, int vs)
{
    int chunk = vs / P, r = vs % P;
    return place == PIPA_PLACE_V && (chunk & 1) ? P - 1 - r : r;
}
static inline int pipa_vstage(const pipa_plan_t *p, int rank, int chunk)
{
    return pipa_place_vstage(p->place, p->P, rank, chunk);
}
static inline int pipa_vstage_rank(const pipa_plan_t *p, int vs) { return pipa_place_rank(p->place, p->P, vs); }
static inline int pipa_vstage_chunk(const pipa_plan_t *p, int vs) { return vs / p->P; }
const char *pipa_place_name(int place);  /* "loop", "v" */

/* Initialises p and fills it with the compute actions of a schedule (F, B or I+W, then STEP;
 * forward: F only), then inserts the sends and receives. V must be 1 except for interleaved
 * (V >= 2 there, and P >= 2) and forward (any V >= 1). Every M >= 1 and P >= 1 gets a correct plan or an error, never a plan that hangs.
 * On failure p is left freed. See plan_gen.c for what each schedule does when M < P. */
pipa_status pipa_plan_generate(pipa_plan_t *p, pipa_sched s, int P, int M, int V);
/* The shared pass: drops any SEND/RECV already there, then inserts RECV_F just before F, SEND_F
 * just after F, RECV_B just before B/I, SEND_B just after B/I wherever the neighbouring virtual
 * stage exists. Generators call it; custom plans may too (or place their own). */
pipa_status pipa_plan_insert_comms(pipa_plan_t *p);

/* Checker report. */
typedef struct {
    int peak_live[PIPA_PLAN_MAX_P]; /* per rank: most (microbatch, chunk) activations held at
                                     * once; live from F until B, or until W when split (W still
                                     * reads the saved activations) */
} pipa_plan_report_t;

/* Proves the plan: each (microbatch, chunk) has exactly one F and one backward (B, or I then W)
 * on its owning rank (a forward-only plan: one F, no backward, no STEP; peak live 0, since
 * nothing is saved); F before its backward; weight gradients of each chunk in microbatch order
 * (so gradient sums are identical for every schedule); every SEND has its RECV; executing all
 * ranks with the semantics above terminates. On failure the message names rank, step, action,
 * e.g. "rank 1 step 7 (B 3 0): backward before its forward"; a deadlock names every stuck rank,
 * the receive it is stuck on and where the matching send sits. rep may be NULL. */
pipa_status pipa_plan_check(const pipa_plan_t *p, pipa_plan_report_t *rep);

/* Simulation: per-action costs in (seconds, by kind; communication costs may be 0), makespan and
 * per-rank busy time out. Uses the checker's execution model (it runs the checker first): each
 * rank runs its list in order, an action starts when the previous one ended; a SEND occupies
 * its rank for cost[SEND]; a RECV that starts at t ends at max(t + cost[RECV], the time its
 * SEND started + cost[SEND]). */
typedef struct {
    double cost[PIPA_ACT_COUNT];
} pipa_plan_costs_t;
typedef struct {
    double makespan;
    double busy[PIPA_PLAN_MAX_P];   /* per rank: time in F, B, I, W, STEP (pipa_act_is_busy) */
    double bubble;                  /* 1 - sum(busy) / (P * makespan) */
} pipa_plan_sim_t;
pipa_status pipa_plan_simulate(const pipa_plan_t *p, const pipa_plan_costs_t *c, pipa_plan_sim_t *out);
/* The same, also filling start[r][i] and end[r][i] for every step i of every rank r (arrays of
 * len[r] doubles owned by the caller; either may be NULL): the simulated timeline. */
pipa_status pipa_plan_simulate_timeline(const pipa_plan_t *p, const pipa_plan_costs_t *c,
                                        pipa_plan_sim_t *out, double **start, double **end);
/* pipa_plan_check and pipa_plan_simulate_timeline in one pass (the simulation runs the checker
 * anyway): the report, the simulation and the timeline (start, end may be NULL). What pipa-sim
 * uses, so that a plan at the limits is checked once, not twice. */
pipa_status pipa_plan_check_simulate(const pipa_plan_t *p, pipa_plan_report_t *rep,
                                     const pipa_plan_costs_t *c, pipa_plan_sim_t *out,
                                     double **start, double **end);

/* Text form: a header line "# pipa plan P=2 M=4 V=1", then "rank R: KIND MB CHUNK" per action
 * ("rank R: STEP" for STEP), rank by rank, in order. Comments (#) and blank lines are ignored
 * when reading; the header must come before the first action; lines of different ranks may be
 * mixed (each rank's lines keep their order). pipa_plan_read initialises p (freed on failure)
 * and rejects, naming `name` and the line: malformed lines, unknown kinds, numbers out of range,
 * NUL bytes, lines over 510 characters. Its work and memory are bounded by the file's real size,
 * whatever the header claims: it also rejects a header that cannot match the actions below it
 * (a rank with fewer than 2*M*V compute actions, the least a complete plan has, or more than
 * 7*M*V + 1 actions, the most), so that nothing proportional to the header's M and V is ever
 * allocated for a small file. It does not run the checker. */
pipa_status pipa_plan_write(const pipa_plan_t *p, FILE *f);
pipa_status pipa_plan_read(pipa_plan_t *p, FILE *f, const char *name);

/* Analytic bubble fraction of a schedule (B = 2F; I = W = F for zb1; comms free); the formulas
 * and where they come from are in plan_gen.c. */
double pipa_plan_bubble_theory(pipa_sched s, int P, int M, int V);

#endif
