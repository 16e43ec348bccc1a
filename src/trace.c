/* trace.c: timelines and their Chrome trace form (see trace.h). */
#include "trace.h"

#include <stdlib.h>
#include <string.h>

static int timeline_fill(pipa_timeline_t *t, const pipa_plan_t *p)
{
    t->start = calloc((size_t)p->P, sizeof *t->start);
    t->end = calloc((size_t)p->P, sizeof *t->end);
    if (!t->start || !t->end) return 0;
    for (int r = 0; r < p->P; r++) {
        t->start[r] = calloc((size_t)p->len[r] + 1, sizeof(double));
        t->end[r] = calloc((size_t)p->len[r] + 1, sizeof(double));
        if (!t->start[r] || !t->end[r]) return 0;
    }
    return 1;
}

pipa_status pipa_timeline_alloc(pipa_timeline_t *t, const pipa_plan_t *p)
{
    if (timeline_fill(t, p)) return PIPA_OK;
    pipa_timeline_free(t, p);
    return pipa__fail(PIPA_ERR_NOMEM, "out of memory for a timeline");
}

void pipa_timeline_free(pipa_timeline_t *t, const pipa_plan_t *p)
{
    for (int r = 0; r < p->P; r++) {
        if (t->start) free(t->start[r]);
        if (t->end) free(t->end[r]);
    }
    free(t->start);
    free(t->end);
    t->start = t->end = NULL;
}

pipa_status pipa_timeline_gather(pipa_group_t *g, const pipa_plan_t *p, const double *my_start,
                                 const double *my_end, pipa_timeline_t *t)
{
    uint64_t tag = (1ull << 62) | 0x7ace;
    int me = g->me;
    pipa_desc_t d = pipa_desc_1d(PIPA_F64, p->len[me]);
    if (me != 0) {
        PIPA_TRY(pipa_send(g->comm, g->ranks[0], tag, &d, my_start));
        return pipa_send(g->comm, g->ranks[0], tag + 1, &d, my_end);
    }
    PIPA_TRY(pipa_timeline_alloc(t, p));
    memcpy(t->start[0], my_start, (size_t)p->len[0] * sizeof(double));
    memcpy(t->end[0], my_end, (size_t)p->len[0] * sizeof(double));
    for (int r = 1; r < p->P; r++) {
        pipa_desc_t dr = pipa_desc_1d(PIPA_F64, p->len[r]);
        PIPA_TRY(pipa_recv(g->comm, g->ranks[r], tag, &dr, t->start[r]));
        PIPA_TRY(pipa_recv(g->comm, g->ranks[r], tag + 1, &dr, t->end[r]));
    }
    return PIPA_OK;
}

static int first_event;

static void event_sep(FILE *f)
{
    fputs(first_event ? "\n" : ",\n", f);
    first_event = 0;
}

void pipa_trace_begin(FILE *f)
{
    fputs("{\"displayTimeUnit\": \"ms\", \"traceEvents\": [", f);
    first_event = 1;
}

static void names(FILE *f, int pid, const char *label, int P)
{
    event_sep(f);
    fprintf(f, "{\"ph\": \"M\", \"name\": \"process_name\", \"pid\": %d, \"args\": {\"name\": \"%s\"}}",
            pid, label);
    for (int r = 0; r < P; r++) {
        event_sep(f);
        fprintf(f, "{\"ph\": \"M\", \"name\": \"thread_name\", \"pid\": %d, \"tid\": %d, "
                   "\"args\": {\"name\": \"rank %d\"}}", pid, r, r);
    }
}

void pipa_trace_timeline(FILE *f, const pipa_plan_t *p, const pipa_timeline_t *t, int pid,
                         const char *label)
{
    names(f, pid, label, p->P);
    for (int r = 0; r < p->P; r++) {
        for (int i = 0; i < p->len[r]; i++) {
            const pipa_action_t *a = &p->act[r][i];
            double ts = t->start[r][i] * 1e6, dur = (t->end[r][i] - t->start[r][i]) * 1e6;
            event_sep(f);
            if (a->kind == PIPA_ACT_STEP)
                fprintf(f, "{\"ph\": \"X\", \"name\": \"STEP\", \"cat\": \"STEP\"");
            else
                fprintf(f, "{\"ph\": \"X\", \"name\": \"%s %d.%d\", \"cat\": \"%s\"",
                        pipa_act_name(a->kind), a->mb, a->chunk, pipa_act_name(a->kind));
            fprintf(f, ", \"pid\": %d, \"tid\": %d, \"ts\": %.3f, \"dur\": %.3f, "
                       "\"args\": {\"microbatch\": %d, \"chunk\": %d}}",
                    pid, r, ts, dur > 0 ? dur : 0, a->mb, a->chunk);
        }
    }
}

pipa_status pipa_trace_end(FILE *f)
{
    fputs("\n]}\n", f);
    if (fflush(f) != 0 || ferror(f)) return pipa__fail(PIPA_ERR_IO, "writing the trace failed");
    return PIPA_OK;
}
