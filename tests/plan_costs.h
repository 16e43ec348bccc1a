/* plan_costs.h: the plan tests' cost model: F = 1, B = 2 (I = W = 1) per stage, communication
 * free; a chunk of V per rank holds 1/V of a stage's layers, so each of its actions costs 1/V. */
#ifndef PIPA_TEST_PLAN_COSTS_H
#define PIPA_TEST_PLAN_COSTS_H

#include "plan/plan.h"

static inline pipa_plan_costs_t unit_costs(int V)
{
    pipa_plan_costs_t c = {{0}};
    c.cost[PIPA_ACT_F] = 1.0 / V;
    c.cost[PIPA_ACT_B] = 2.0 / V;
    c.cost[PIPA_ACT_I] = 1.0 / V;
    c.cost[PIPA_ACT_W] = 1.0 / V;
    return c;
}

#endif
