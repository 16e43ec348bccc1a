/* trace.h: timelines as Chrome trace files (chrome://tracing, Perfetto: "Trace Event Format").
 *
 * A timeline is, for every rank of a plan, the start and end time of each of its actions:
 * the runtime measures one, the simulator computes one, and both are written the same way, as
 * separate processes of one file, so measured and simulated runs lie side by side. */
#ifndef PIPA_TRACE_H
#define PIPA_TRACE_H

#include <stddef.h>
#include <stdio.h>

#include "plan/plan.h"

/* start[r][i], end[r][i]: seconds, for action i of rank r (arrays of p->len[r]). */
typedef struct {
    double **start, **end;
} pipa_timeline_t;

pipa_status pipa_timeline_alloc(pipa_timeline_t *t, const pipa_plan_t *p);
void pipa_timeline_free(pipa_timeline_t *t, const pipa_plan_t *p);

/* The time one step took over P ranks: from the last rank entering the step's start barrier to
 * the last rank done, on the machine-wide clock (max end - max enter); the largest per-rank wall
 * time would miss what a rank that left the barrier late still needed. enter and end point at
 * rank 0's figures in an array of per-rank records `stride` bytes apart (the record's size, or
 * sizeof(double) for plain arrays), so each tool keeps its own gathered record. */
double pipa_trace_step_span(const double *enter, const double *end, int P, size_t stride);

/* Collecting a measured timeline from the ranks is a collective: pipa_timeline_gather
 * (timeline_gather.h). */

/* File layout: pipa_trace_begin, any number of pipa_trace_timeline, pipa_trace_end. Each
 * timeline is one process (pid, named label) with one thread per rank; communication actions
 * are drawn too, so waiting shows as RECV bars. */
void pipa_trace_begin(FILE *f);
void pipa_trace_timeline(FILE *f, const pipa_plan_t *p, const pipa_timeline_t *t, int pid,
                         const char *label);
pipa_status pipa_trace_end(FILE *f);

/* The timelines t[k] of plans[k] drawn as an SVG picture, one band of P rows each, on one time
 * scale, with labels[k] as each band's title. Times are seconds (printed as ms), or abstract
 * cost units after pipa_trace_svg_units(0). */
pipa_status pipa_trace_svg(FILE *f, const pipa_plan_t *const *plans, const pipa_timeline_t *const *t,
                           const char *const *labels, int n);
void pipa_trace_svg_units(int seconds);

/* A measured timeline beside the simulated one for the same plan, simulated with the measured
 * mean cost of each compute kind: written as a Chrome trace (json_path) and/or an SVG picture
 * (svg_path); either may be NULL. *sim gets the simulation's makespan and bubble. */
pipa_status pipa_trace_compare(const pipa_plan_t *p, const pipa_timeline_t *measured,
                               const char *json_path, const char *svg_path, pipa_plan_sim_t *sim);

#endif
