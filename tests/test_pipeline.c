/* test_pipeline: a forward-only plan run by the runtime equals the one-process forward bit for
 * bit, and saves nothing.
 *   pipa-run -n P test_pipeline [SPLIT]
 * For M = 1..8 microbatches (one runtime, its plan switched by pipa_runtime_set_plan), the last
 * stage compares its outputs with pipa_model_forward using memcmp (==, not a tolerance), and every
 * stage checks its transfer counts and that no activation was saved for a backward. SPLIT is an
 * explicit layer split such as "4,2,1"; without it the 7 layers are spread evenly (uneven for
 * P = 2, 3, 4). */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "plan/plan.h"
#include "runtime/runtime.h"
#include "plan/split.h"

enum { L = 7, B = 2, T = 6 };

static const pipa_model_config_t cfg = {
    .L = L, .C = 32, .NH = 4, .I = 48, .eps = 1e-5f, .rope_theta = 10000.0f, .seed = 1234};

static void run_m(pipa_runtime_t *tr, int M)
{
    size_t n = (size_t)M * B * T * cfg.C;
    float *in = calloc(n, sizeof(float)), *out = calloc(n, sizeof(float));
    float *ref = calloc(n, sizeof(float));
    pipa_model_inputs(in, &cfg, M, B, T);
    pipa_step_stats_t stats;
    pipa_status s = pipa_runtime_forward(tr, in, out, &stats);
    CHECKF(s == PIPA_OK, "M=%d: %s", M, pipa_last_error());
    const pipa_chunk_t *ch = &tr->chunk[0];
    CHECK(stats.recvs == (ch->prev >= 0 ? M : 0));
    CHECK(stats.sends == (ch->next >= 0 ? M : 0));
    CHECK(stats.bytes_sent == stats.sends * (int64_t)(B * T * cfg.C * sizeof(float)));
    CHECK(stats.recv_desc.ndim == (ch->prev >= 0 ? 3 : 0));
    CHECK(stats.busy_s > 0 && stats.busy_s <= stats.wall_s);
    /* Inference: nothing saved for a backward, no gradients, no optimizer state. */
    CHECKF(stats.slot_bytes == 0, "M=%d: %zu bytes of activations saved", M, stats.slot_bytes);
    CHECK(stats.peak_live == 1 && ch->g.params == NULL && tr->slots[0].dx == NULL);
    if (ch->next < 0) {
        CHECK(pipa_model_forward(&cfg, M, B, T, in, ref) == PIPA_OK);
        CHECKF(memcmp(out, ref, n * sizeof(float)) == 0, "P=%d M=%d: pipelined output differs",
               tr->P, M);
        CHECKF(memcmp(out, in, n * sizeof(float)) != 0, "the layers did nothing");
    }
    free(in);
    free(out);
    free(ref);
}

int main(int argc, char **argv)
{
    pipa_comm_t *comm;
    if (pipa_comm_init(&comm) != PIPA_OK) {
        fprintf(stderr, "%s\n", pipa_last_error());
        return 1;
    }
    int P = pipa_comm_size(comm), counts[L];
    pipa_layout_t lay;
    CHECK(pipa_layout_init(&lay, P, pipa_comm_rank(comm), 1, P, 1) == PIPA_OK);
    pipa_status s = argc > 1 ? pipa_split_parse(argv[1], L, P, counts) : pipa_split_even(L, P, counts);
    CHECKF(s == PIPA_OK, "%s", pipa_last_error());
    pipa_plan_t plans[8];
    for (int M = 1; M <= 8; M++) {
        CHECK(pipa_plan_generate(&plans[M - 1], PIPA_SCHED_FORWARD, P, M, 1) == PIPA_OK);
        CHECKF(pipa_plan_check(&plans[M - 1], NULL) == PIPA_OK, "%s", pipa_last_error());
    }
    pipa_train_config_t tc = {.model = cfg, .vocab = 0, .B = B, .T = T};
    pipa_runtime_t tr;
    CHECKF(pipa_runtime_init(&tr, comm, &lay, &tc, &plans[0], counts) == PIPA_OK, "%s",
           pipa_last_error());
    CHECK(tr.forward_only && tr.chunk[0].count == counts[tr.rank]);
    for (int M = 1; M <= 8 && !check_failures; M++) {
        CHECKF(pipa_runtime_set_plan(&tr, &plans[M - 1]) == PIPA_OK, "%s", pipa_last_error());
        run_m(&tr, M);
    }
    pipa_runtime_free(&tr);
    for (int M = 1; M <= 8; M++) pipa_plan_free(&plans[M - 1]);
    pipa_comm_free(comm);
    char name[64];
    snprintf(name, sizeof name, "test_pipeline P=%d stage %d", P, lay.p);
    return check_done(name);
}
