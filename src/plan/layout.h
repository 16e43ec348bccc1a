/* layout.h: where a rank sits in the world of dp x pp x tp ranks.
 *
 * Ranks are ordered as Megatron orders them, tensor-parallel fastest:
 *     rank = (d * pp + p) * tp + t      d in [0, dp), p in [0, pp), t in [0, tp)
 * so the R ranks of a tensor-parallel group are neighbours (same machine), and the P stages of a
 * pipeline are tp apart. Pure arithmetic: no communication, no allocation; groups are built from
 * these ranks by the caller (comm.h). */
#ifndef PIPA_LAYOUT_H
#define PIPA_LAYOUT_H

#include <stddef.h>

#include "base/status.h"

typedef struct {
    int world, rank;  /* world size and this process's world rank */
    int dp, pp, tp;   /* group sizes; dp * pp * tp == world */
    int d, p, t;      /* this rank's coordinates; p is its pipeline stage */
} pipa_layout_t;

/* Fills l for `rank` of `world`. Any of dp, pp, tp may be 0, meaning "derive": if pp is 0 it is
 * world / (dp * tp), with dp and tp taken as 1 when also 0; otherwise a 0 dp (then tp) is derived
 * the same way from the other two. Fails (PIPA_ERR_ARG, l untouched) when a size is negative, the
 * world does not divide, dp * pp * tp != world, or rank is not in [0, world). */
pipa_status pipa_layout_init(pipa_layout_t *l, int world, int rank, int dp, int pp, int tp);

/* World rank of coordinates (d, p, t); each must be in range (asserted). */
int pipa_layout_rank_of(const pipa_layout_t *l, int d, int p, int t);

int pipa_layout_pp_rank(const pipa_layout_t *l);  /* my stage, 0..pp-1 */
int pipa_layout_pp_size(const pipa_layout_t *l);
int pipa_layout_tp_rank(const pipa_layout_t *l);
int pipa_layout_tp_size(const pipa_layout_t *l);
int pipa_layout_dp_rank(const pipa_layout_t *l);
int pipa_layout_dp_size(const pipa_layout_t *l);

/* World rank of the previous / next stage of my pipeline (same d and t), or -1 at the ends. */
int pipa_layout_prev(const pipa_layout_t *l);
int pipa_layout_next(const pipa_layout_t *l);
int pipa_layout_is_first(const pipa_layout_t *l);  /* 1 if I am stage 0 */
int pipa_layout_is_last(const pipa_layout_t *l);   /* 1 if I am stage pp-1 */

/* World ranks of the groups I belong to, in group-rank order (my own rank among them, at index
 * pp_rank / tp_rank / dp_rank). ranks must hold pp / tp / dp entries. Return the count. */
int pipa_layout_pp_group_ranks(const pipa_layout_t *l, int *ranks);
int pipa_layout_tp_group_ranks(const pipa_layout_t *l, int *ranks);
int pipa_layout_dp_group_ranks(const pipa_layout_t *l, int *ranks);

/* "dp 1 x pp 4 x tp 1" into buf (48 bytes always suffice; truncated if len is smaller).
 * Returns buf. */
char *pipa_layout_describe(const pipa_layout_t *l, char *buf, size_t len);

#endif
