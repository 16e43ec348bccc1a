/* grid.h: the collective groups of a rank in the dp x pp x tp world, what Megatron's
 * parallel_state hands out: the pipeline, tensor and data groups of my layout (plan/layout.h
 * has the coordinates, group ranks, first/last stage and previous/next stage rank).
 *
 * The layout is plan-level arithmetic and groups are comm-level, so the function that joins them
 * sits here. Every group gets its own id (comm.h: the tag space of its collectives), different
 * from every other group of the world, so collectives on a rank's three groups, and on other
 * ranks' groups, never mix even when they run at the same time. */
#ifndef PIPA_GRID_H
#define PIPA_GRID_H

#include "comm/comm.h"
#include "model/model.h"
#include "plan/layout.h"

typedef struct {
    pipa_layout_t lay;
    pipa_group_t pp;  /* my pipeline: same (d, t), stage order */
    pipa_group_t tp;  /* my tensor group: same (d, p), neighbouring ranks */
    pipa_group_t dp;  /* my data group: same (p, t), replica order */
} pipa_grid_t;

/* The group ids: one range per kind, one id per group (not per member). Pipeline ids are the
 * ones the runtime used before grids existed. */
int pipa_grid_pp_id(const pipa_layout_t *l);
int pipa_grid_tp_id(const pipa_layout_t *l);
int pipa_grid_dp_id(const pipa_layout_t *l);
/* The first and last stage of my pipeline (tied embeddings' two copies, runtime_tied.c). */
int pipa_grid_ends_id(const pipa_layout_t *l);

/* The layout of a tool's --dp, --pp, --tp (0: not given): dp and tp default to 1, pp to the rest
 * of the world. Fails (PIPA_ERR_ARG) naming the options when their product is not the world. */
pipa_status pipa_grid_layout(pipa_layout_t *l, int world, int rank, int dp, int pp, int tp);

/* Whether the layout fits the model and the batch, before anything runs: the attention heads
 * and the intermediate size divide by tp, the pp * V virtual stages have a layer each, and the
 * M microbatches of a step (the global count; 0: not checked) divide among the dp replicas, at
 * least one each. The error names the options. */
pipa_status pipa_grid_check(const pipa_layout_t *l, const pipa_model_config_t *m, int V, int M);

/* Builds my three groups on c (no communication): of world ranks, so the layout may be of the
 * first ranks of c's world only (a rank outside it is a member of none). */
pipa_status pipa_grid_init(pipa_grid_t *g, pipa_comm_t *c, const pipa_layout_t *l);

/* One line for my grid: "rank   5  (pp 1, dp 0, tp 1)  pp [1 5]  dp [5]  tp [4 5]  prev 1
 * next -1  last", the groups' ranks as the handles hold them. Returns buf (truncated to len). */
char *pipa_grid_describe(const pipa_grid_t *g, char *buf, size_t len);

#endif
