/* test_pipeline: the pipelined forward equals the one-process forward bit for bit.
 *   pipa-run -n P test_pipeline [SPLIT]
 * For M = 1..8 microbatches, the last stage compares its outputs with pipa_forward_unpipelined
 * using memcmp (==, not a tolerance), and every stage checks its transfer counts. SPLIT is an
 * explicit layer split such as "4,2,1"; without it the 7 layers are spread evenly (uneven for
 * P = 2, 3, 4). */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "pipeline.h"
#include "split.h"

enum { L = 7, B = 2, T = 6 };

static const pipa_model_config_t cfg = {
    .L = L, .C = 32, .NH = 4, .I = 48, .eps = 1e-5f, .rope_theta = 10000.0f, .seed = 1234};

static void run_m(pipa_stage_t *st, int M)
{
    size_t n = (size_t)M * B * T * cfg.C;
    float *in = calloc(n, sizeof(float)), *out = calloc(n, sizeof(float));
    float *ref = calloc(n, sizeof(float));
    pipa_pipeline_inputs(&cfg, M, B, T, in);
    pipa_fwd_stats_t stats;
    pipa_status s = pipa_pipeline_forward(st, M, in, out, &stats);
    CHECKF(s == PIPA_OK, "M=%d: %s", M, pipa_last_error());
    CHECK(stats.recvs == (st->prev >= 0 ? M : 0));
    CHECK(stats.sends == (st->next >= 0 ? M : 0));
    CHECK(stats.bytes_sent == stats.sends * (int64_t)(B * T * cfg.C * sizeof(float)));
    CHECK(stats.busy_s > 0 && stats.busy_s <= stats.wall_s);
    if (st->next < 0) {
        CHECK(pipa_forward_unpipelined(&cfg, M, B, T, in, ref) == PIPA_OK);
        CHECKF(memcmp(out, ref, n * sizeof(float)) == 0, "P=%d M=%d: pipelined output differs",
               st->n_stages, M);
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
    pipa_stage_t st;
    CHECKF(pipa_stage_init(&st, comm, &lay, &cfg, counts, B, T) == PIPA_OK, "%s", pipa_last_error());
    CHECK(st.layers.count == counts[st.stage]);
    for (int M = 1; M <= 8 && !check_failures; M++) run_m(&st, M);
    pipa_stage_free(&st);
    pipa_comm_free(comm);
    char name[64];
    snprintf(name, sizeof name, "test_pipeline P=%d stage %d", P, lay.p);
    return check_done(name);
}
