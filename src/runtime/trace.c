/* trace.c: timelines and their Chrome trace form (see trace.h). */
#include "runtime/trace.h"

#include <stdlib.h>
#include <string.h>

#include "base/json.h"

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

double pipa_trace_step_span(const double *enter, const double *end, int P, size_t stride)
{
    const char *e = (const char *)enter, *d = (const char *)end;
    double start = *enter, stop = *end;
    for (int r = 1; r < P; r++) {
        double x = *(const double *)(e + (size_t)r * stride);
        double y = *(const double *)(d + (size_t)r * stride);
        if (x > start) start = x;
        if (y > stop) stop = y;
    }
    return stop - start;
}

static int first_event;

/* Each event is one line: a one-line JSON object from json.h, after the separator. */
static void event_begin(pipa_json_t *j)
{
    pipa_json_init_line(j);
    pipa_json_begin_object(j, NULL);
}

static void event_end(FILE *f, pipa_json_t *j)
{
    pipa_json_end_object(j);
    const char *text = pipa_json_text(j);
    fputs(first_event ? "\n" : ",\n", f);
    first_event = 0;
    fputs(text ? text : "{}", f);  // out of memory: an empty event keeps the file valid
    pipa_json_free(j);
}

void pipa_trace_begin(FILE *f)
{
    fputs("{\"displayTimeUnit\": \"ms\", \"traceEvents\": [", f);
    first_event = 1;
}

/* A metadata event naming a process (tid < 0) or one of its threads. */
static void name_event(FILE *f, int pid, int tid, const char *name)
{
    pipa_json_t j;
    event_begin(&j);
    pipa_json_str(&j, "ph", "M");
    pipa_json_str(&j, "name", tid < 0 ? "process_name" : "thread_name");
    pipa_json_int(&j, "pid", pid);
    if (tid >= 0) pipa_json_int(&j, "tid", tid);
    pipa_json_begin_object(&j, "args");
    pipa_json_str(&j, "name", name);
    pipa_json_end_object(&j);
    event_end(f, &j);
}

static void names(FILE *f, int pid, const char *label, int P)
{
    name_event(f, pid, -1, label);
    for (int r = 0; r < P; r++) {
        char rank[32];
        snprintf(rank, sizeof rank, "rank %d", r);
        name_event(f, pid, r, rank);
    }
}

/* One action as a complete ("X") event: times in microseconds. */
static void action_event(FILE *f, const pipa_action_t *a, int pid, int r, double ts, double dur)
{
    pipa_json_t j;
    char name[64];
    if (a->kind == PIPA_ACT_STEP) snprintf(name, sizeof name, "STEP");
    else snprintf(name, sizeof name, "%s %d.%d", pipa_act_name(a->kind), a->mb, a->chunk);
    event_begin(&j);
    pipa_json_str(&j, "ph", "X");
    pipa_json_str(&j, "name", name);
    pipa_json_str(&j, "cat", pipa_act_name(a->kind));
    pipa_json_int(&j, "pid", pid);
    pipa_json_int(&j, "tid", r);
    pipa_json_num_fixed(&j, "ts", ts, 3);
    pipa_json_num_fixed(&j, "dur", dur > 0 ? dur : 0, 3);
    pipa_json_begin_object(&j, "args");
    pipa_json_int(&j, "microbatch", a->mb);
    pipa_json_int(&j, "chunk", a->chunk);
    pipa_json_end_object(&j);
    event_end(f, &j);
}

void pipa_trace_timeline(FILE *f, const pipa_plan_t *p, const pipa_timeline_t *t, int pid,
                         const char *label)
{
    names(f, pid, label, p->P);
    for (int r = 0; r < p->P; r++)
        for (int i = 0; i < p->len[r]; i++)
            action_event(f, &p->act[r][i], pid, r, t->start[r][i] * 1e6,
                         (t->end[r][i] - t->start[r][i]) * 1e6);
}

pipa_status pipa_trace_end(FILE *f)
{
    fputs("\n]}\n", f);
    if (fflush(f) != 0 || ferror(f)) return pipa__fail(PIPA_ERR_IO, "writing the trace failed");
    return PIPA_OK;
}

/* ---- SVG: the same timelines as a picture ---------------------------------------------------- */

static const char *kind_color(int kind)
{
    switch (kind) {
    case PIPA_ACT_F: return "#4e79a7";
    case PIPA_ACT_B: return "#59a14f";
    case PIPA_ACT_I: return "#f28e2b";
    case PIPA_ACT_W: return "#b07aa1";
    case PIPA_ACT_STEP: return "#555555";
    case PIPA_ACT_RECV_F: case PIPA_ACT_RECV_B: return "#e3e3e3";
    default: return "#c8c8c8";
    }
}

static double timeline_end(const pipa_plan_t *p, const pipa_timeline_t *t)
{
    double end = 0;
    for (int r = 0; r < p->P; r++)
        for (int i = 0; i < p->len[r]; i++)
            if (t->end[r][i] > end) end = t->end[r][i];
    return end;
}

enum { SVG_W = 1100, SVG_LEFT = 110, SVG_ROW = 22, SVG_GAP = 34 };

static void svg_row(FILE *f, const pipa_plan_t *p, const pipa_timeline_t *t, int r, double y,
                    double scale)
{
    fprintf(f, "<text x=\"8\" y=\"%.0f\" font-size=\"12\">rank %d</text>\n", y + 15, r);
    for (int i = 0; i < p->len[r]; i++) {
        const pipa_action_t *a = &p->act[r][i];
        double x = SVG_LEFT + t->start[r][i] * scale, w = (t->end[r][i] - t->start[r][i]) * scale;
        int compute = pipa_act_is_busy(a->kind);
        double h = compute ? SVG_ROW - 4 : 6, yy = compute ? y + 2 : y + SVG_ROW - 8;
        /* later chunks of an interleaved plan are drawn paler */
        fprintf(f, "<rect x=\"%.2f\" y=\"%.1f\" width=\"%.2f\" height=\"%.0f\" fill=\"%s\" "
                   "fill-opacity=\"%.2f\"><title>%s %d.%d</title></rect>\n",
                x, yy, w > 0.5 ? w : 0.5, h, kind_color(a->kind), a->chunk > 0 ? 0.6 : 1.0,
                pipa_act_name(a->kind), a->mb, a->chunk);
        if (compute && a->kind != PIPA_ACT_STEP && w > 14)
            fprintf(f, "<text x=\"%.2f\" y=\"%.1f\" font-size=\"10\" fill=\"white\" "
                       "text-anchor=\"middle\">%d</text>\n", x + w / 2, y + 15, a->mb);
    }
}

static void svg_legend(FILE *f, double y)
{
    static const int kinds[] = {PIPA_ACT_F, PIPA_ACT_B, PIPA_ACT_I, PIPA_ACT_W, PIPA_ACT_STEP,
                                PIPA_ACT_RECV_F};
    static const char *names[] = {"F forward", "B backward", "I input grad", "W weight grad",
                                  "STEP optimizer", "waiting to receive"};
    for (int k = 0; k < 6; k++) {
        double x = SVG_LEFT + k * 150;
        fprintf(f, "<rect x=\"%.0f\" y=\"%.0f\" width=\"14\" height=\"14\" fill=\"%s\"/>"
                   "<text x=\"%.0f\" y=\"%.0f\" font-size=\"12\">%s</text>\n",
                x, y, kind_color(kinds[k]), x + 18, y + 12, names[k]);
    }
}

static int unit_s = 1; /* times in seconds (measured) or abstract units (simulated by pipa-sim) */

void pipa_trace_svg_units(int seconds) { unit_s = seconds; }

pipa_status pipa_trace_svg(FILE *f, const pipa_plan_t *const *plans, const pipa_timeline_t *const *t,
                           const char *const *labels, int n)
{
    double end = 1e-12, height = 40;
    for (int k = 0; k < n; k++) {
        double e = timeline_end(plans[k], t[k]);
        if (e > end) end = e;
        height += plans[k]->P * SVG_ROW + SVG_GAP;
    }
    double scale = (SVG_W - SVG_LEFT - 10) / end;
    fprintf(f, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%.0f\" "
               "font-family=\"sans-serif\">\n<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n",
            SVG_W, height);
    double y = 0;
    for (int k = 0; k < n; k++) {
        const pipa_plan_t *p = plans[k];
        fprintf(f, "<text x=\"8\" y=\"%.0f\" font-size=\"13\" font-weight=\"bold\">%s "
                   "(%s %.4g)</text>\n", y + 20, labels[k], unit_s ? "ms:" : "time units:",
                timeline_end(p, t[k]) * (unit_s ? 1e3 : 1));
        y += SVG_GAP - 6;
        for (int r = 0; r < p->P; r++, y += SVG_ROW) svg_row(f, p, t[k], r, y, scale);
        y += 6;
    }
    svg_legend(f, y + 8);
    fputs("</svg>\n", f);
    if (fflush(f) != 0 || ferror(f)) return pipa__fail(PIPA_ERR_IO, "writing the SVG failed");
    return PIPA_OK;
}

/* ---- measured beside simulated ---------------------------------------------------------- */

/* Mean duration of each compute kind over every rank of a measured timeline: the costs that
 * make the simulator's clock comparable to the run (communication left at 0: shared memory). */
static pipa_plan_costs_t measured_costs(const pipa_plan_t *p, const pipa_timeline_t *t)
{
    pipa_plan_costs_t c = {{0}};
    int n[PIPA_ACT_COUNT] = {0};
    for (int r = 0; r < p->P; r++)
        for (int i = 0; i < p->len[r]; i++) {
            int k = p->act[r][i].kind;
            if (!pipa_act_is_busy(k)) continue;
            c.cost[k] += t->end[r][i] - t->start[r][i];
            n[k]++;
        }
    for (int k = 0; k < PIPA_ACT_COUNT; k++)
        if (n[k]) c.cost[k] /= n[k];
    return c;
}

static pipa_status write_json(const char *path, const pipa_plan_t *p, const pipa_timeline_t *m,
                              const pipa_timeline_t *s)
{
    FILE *f = fopen(path, "w");
    if (!f) return pipa__fail(PIPA_ERR_IO, "cannot write trace %s", path);
    pipa_trace_begin(f);
    pipa_trace_timeline(f, p, m, 0, "measured");
    pipa_trace_timeline(f, p, s, 1, "simulated from measured mean costs");
    pipa_status st = pipa_trace_end(f);
    fclose(f);
    return st;
}

static pipa_status write_svg(const char *path, const pipa_plan_t *p, const pipa_timeline_t *m,
                             const pipa_timeline_t *s)
{
    FILE *f = fopen(path, "w");
    if (!f) return pipa__fail(PIPA_ERR_IO, "cannot write timeline %s", path);
    const pipa_plan_t *plans[2] = {p, p};
    const pipa_timeline_t *t[2] = {m, s};
    const char *labels[2] = {"measured", "simulated from measured mean costs"};
    pipa_trace_svg_units(1);
    pipa_status st = pipa_trace_svg(f, plans, t, labels, 2);
    fclose(f);
    return st;
}

pipa_status pipa_trace_compare(const pipa_plan_t *p, const pipa_timeline_t *measured,
                               const char *json_path, const char *svg_path, pipa_plan_sim_t *sim)
{
    pipa_timeline_t s = {0};
    pipa_plan_costs_t c = measured_costs(p, measured);
    PIPA_TRY(pipa_timeline_alloc(&s, p));
    pipa_status st = pipa_plan_simulate_timeline(p, &c, sim, s.start, s.end);
    if (st == PIPA_OK && json_path) st = write_json(json_path, p, measured, &s);
    if (st == PIPA_OK && svg_path) st = write_svg(svg_path, p, measured, &s);
    pipa_timeline_free(&s, p);
    return st;
}
