/* train_driver: trains a tiny model for a few steps through the runtime and prints, on rank 0,
 * every step's loss as exact bits and a hash of every parameter tensor, so tests/test_train.sh
 * can compare layouts and schedules with `cmp`.
 *   pipa-run -n P train_driver SCHEDULE M V STEPS [OPT [TRACE]]
 * With TRACE, rank 0 writes the last step's measured timeline and a simulated one (costs: the
 * measured mean of each action kind) as a Chrome trace file and an SVG picture (TRACE.svg).
 * Also checks the measured peak of live activations against the plan's bound:
 *   gpipe: M on rank 0; 1f1b: at most P. */
#include <stdlib.h>
#include <string.h>

#include "batch.h"
#include "check.h"
#include "io/data.h"
#include "runtime/runtime.h"
#include "plan/split.h"
#include "runtime/timeline_gather.h"
#include "runtime/trace.h"

enum { B = 2, T = 8 };
static int L = 8; /* TRAIN_DRIVER_LAYERS changes it (7 gives uneven splits and chunks) */
/* TRAIN_DRIVER_HEADS, TRAIN_DRIVER_KV_HEADS (grouped-query attention: NKV of the NH heads) and
 * TRAIN_DRIVER_TIED (1: tied embeddings) change the attention and the head. */
static int NH = 2, NKV = 0, TIED = 0;

static void batch(void *ctx, int mb, int32_t *tokens, int32_t *targets)
{
    test_batch_fill(*(const int64_t *)ctx, mb, B * T, tokens, targets);
}

static pipa_status setup(pipa_comm_t *comm, pipa_plan_t *plan, pipa_runtime_t *tr, int argc, char **argv)
{
    pipa_sched sched;
    PIPA_TRY(pipa_sched_parse(argv[1], &sched));
    int P = pipa_comm_size(comm), M = atoi(argv[2]), V = atoi(argv[3]);
    PIPA_TRY(pipa_plan_generate(plan, sched, P, M, V));
    pipa_plan_report_t rep;
    PIPA_TRY(pipa_plan_check(plan, &rep));
    pipa_layout_t lay;
    PIPA_TRY(pipa_layout_init(&lay, P, pipa_comm_rank(comm), 1, P, 1));
    int counts[64];
    PIPA_TRY(pipa_split_even(L, P * V, counts));
    pipa_train_config_t cfg = {
        .model = {.L = L, .C = 16, .NH = NH, .I = 24, .eps = 1e-5f, .rope_theta = 10000.0f, .seed = 5,
                  .NKV = NKV, .tie_embeddings = TIED},
        .vocab = 23, .B = B, .T = T, .opt = pipa_opt_defaults()};
    cfg.opt.lr = 1e-2f;
    if (argc > 5) PIPA_TRY(pipa_opt_parse(argv[5], &cfg.opt.kind));
    return pipa_runtime_init(tr, comm, &lay, &cfg, plan, counts);
}

/* Rank 0 writes the last step's measured timeline beside the simulated one: TRACE (Chrome)
 * and TRACE.svg. */
static void write_trace(pipa_runtime_t *tr, const char *path)
{
    pipa_timeline_t measured = {0};
    CHECK(pipa_timeline_gather(&tr->group, tr->plan, tr->t_start, tr->t_end, &measured) == PIPA_OK);
    if (tr->rank != 0) return;
    char svg[4096];
    snprintf(svg, sizeof svg, "%s.svg", path);
    pipa_plan_sim_t sim;
    CHECKF(pipa_trace_compare(tr->plan, &measured, path, svg, &sim) == PIPA_OK, "%s",
           pipa_last_error());
    pipa_timeline_free(&measured, tr->plan);
}

static void print_hashes(pipa_runtime_t *tr)
{
    char text[4096];
    int n = 0;
    for (int l = 0; l < L; l++) {
        uint64_t h = pipa_runtime_layer_hash(tr, l);
        if (h) n += snprintf(text + n, sizeof text - n, "layer %d %016llx\n", l, (unsigned long long)h);
    }
    for (int w = 0; w < 2; w++) {
        uint64_t h = pipa_runtime_ends_hash(tr, w);
        if (h) n += snprintf(text + n, sizeof text - n, "%s %016llx\n", w ? "head" : "embed",
                             (unsigned long long)h);
    }
    CHECK(pipa_print_ordered(&tr->group, text) == PIPA_OK);
}

int main(int argc, char **argv)
{
    if (argc < 5) {
        fprintf(stderr, "usage: train_driver SCHEDULE M V STEPS [adamw|sgd]\n");
        return 2;
    }
    pipa_comm_t *comm;
    pipa_plan_t plan;
    pipa_runtime_t tr;
    if (getenv("TRAIN_DRIVER_LAYERS")) L = atoi(getenv("TRAIN_DRIVER_LAYERS"));
    if (getenv("TRAIN_DRIVER_HEADS")) NH = atoi(getenv("TRAIN_DRIVER_HEADS"));
    if (getenv("TRAIN_DRIVER_KV_HEADS")) NKV = atoi(getenv("TRAIN_DRIVER_KV_HEADS"));
    if (getenv("TRAIN_DRIVER_TIED")) TIED = atoi(getenv("TRAIN_DRIVER_TIED"));
    if (pipa_comm_init(&comm) != PIPA_OK || setup(comm, &plan, &tr, argc, argv) != PIPA_OK) {
        fprintf(stderr, "train_driver: %s\n", pipa_last_error());
        return 1;
    }
    int M = atoi(argv[2]), P = pipa_comm_size(comm);
    int64_t steps = atoi(argv[4]);
    pipa_step_stats_t st;
    for (int64_t s = 0; s < steps; s++) {
        pipa_status rc = pipa_runtime_step(&tr, batch, &s, &st);
        CHECKF(rc == PIPA_OK, "step %lld: %s", (long long)s, pipa_last_error());
        if (rc != PIPA_OK) break;
        if (pipa_comm_rank(comm) == 0) printf("step %lld loss %a\n", (long long)s, st.loss);
        fprintf(stderr, "rank %d step %lld loss %.6f peak live %d\n", tr.rank, (long long)s,
                st.loss, st.peak_live);
        if (!strcmp(argv[1], "gpipe") && tr.rank == 0) CHECK(st.peak_live == M);
        if (!strcmp(argv[1], "1f1b")) CHECKF(st.peak_live <= P, "1f1b peak %d > P", st.peak_live);
    }
    if (argc > 6) write_trace(&tr, argv[6]);
    print_hashes(&tr);
    pipa_runtime_free(&tr);
    pipa_plan_free(&plan);
    pipa_comm_free(comm);
    return check_failures ? 1 : 0;
}
