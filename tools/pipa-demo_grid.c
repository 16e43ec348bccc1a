/* pipa-demo_grid.c: pipa-demo --grid: the dp x pp x tp layout as Megatron's parallel_state
 * hands it out. Every rank builds its three group handles (runtime/grid.h) and sums its world
 * rank in each (one all-reduce per group, all groups at once: their ids keep them apart); rank 0
 * prints every rank's line in rank order. Runs no model; demo 6 prints its layout's grid
 * through the same function before running it. */
#include <stdio.h>

#include "pipa-demo.h"
#include "runtime/grid.h"

/* My line: coordinates, group ranks from the handles, and the three sums. */
static pipa_status grid_line(demo_ctx_t *ctx, const pipa_layout_t *l, char *line, size_t len)
{
    pipa_grid_t g;
    PIPA_TRY(pipa_grid_init(&g, ctx->comm, l));
    pipa_group_t *groups[3] = {&g.pp, &g.dp, &g.tp};
    double sum[3];
    for (int k = 0; k < 3; k++) {
        sum[k] = ctx->rank;
        PIPA_TRY(pipa_allreduce_sum_f64(groups[k], &sum[k], 1));
    }
    char desc[1024];
    snprintf(line, len, "%s  sums pp %.0f dp %.0f tp %.0f\n", pipa_grid_describe(&g, desc, sizeof desc),
             sum[0], sum[1], sum[2]);
    return PIPA_OK;
}

int demo_grid(demo_ctx_t *ctx) { return demo_grid_show(ctx, &ctx->lay); }

int demo_grid_show(demo_ctx_t *ctx, const pipa_layout_t *l)
{
    char line[1200], what[48];
    if (ctx->rank == 0) {
        printf("grid       %s on %d ranks, tp fastest, then dp, then pp (Megatron's order):\n"
               "           rank = (d * pp + p) * tp + t; each line: (pp, dp, tp) coordinates, the\n"
               "           world ranks of its pipeline, data and tensor groups, its neighbour\n"
               "           stages, and the sum of the world ranks in each group (one all-reduce\n"
               "           per group through its handle)\n", pipa_layout_describe(l, what, sizeof what),
               l->world);
        fflush(stdout);
    }
    pipa_status s = grid_line(ctx, l, line, sizeof line);
    if (s == PIPA_OK) s = pipa_print_ordered(&ctx->world, line);
    if (s != PIPA_OK) {
        fprintf(stderr, "pipa-demo: rank %d: grid: %s\n", ctx->rank, pipa_last_error());
        return -1;
    }
    return 0;
}
