/* plan_check.c: the plan checker and the simulator. Both are one engine: a static pass over each
 * rank's list (ranges, one F and one backward per (microbatch, chunk), order of dependencies,
 * weight gradients in microbatch order, sends and receives in place, STEP last), then an
 * execution of all ranks with the runtime's semantics (SEND never blocks, RECV waits for its
 * SEND). Without costs the execution only proves termination; with costs it keeps a clock per
 * rank, which gives the simulator's makespan, busy time and timeline.
 * Leaves out costs that vary per microbatch or per rank, and comm contention: each message costs
 * its SEND's time and no more. */
#include "plan/plan.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Per (virtual stage, microbatch) bookkeeping of the static pass: the step at which each kind of
 * action ran on the owning rank, -1 if not (yet). Index vs * M + mb. */
typedef struct {
    int f, b, i, w, send_f, recv_f, send_b, recv_b;
} seen_t;

typedef struct {
    const pipa_plan_t *p;
    int forward_only; /* pipa_plan_forward_only: one F each, no backward, no STEP, nothing live */
    seen_t *seen;     /* (P*V*M) */
    int *last_wgrad;  /* (V) per chunk of the rank being scanned: latest microbatch whose weight
                       * gradient ran */
} checker_t;

static void act_str(const pipa_action_t *a, char *buf, size_t n)
{
    if (a->kind == PIPA_ACT_STEP && a->mb == -1 && a->chunk == -1)
        snprintf(buf, n, "STEP");
    else
        snprintf(buf, n, "%s %d %d", pipa_act_name(a->kind), a->mb, a->chunk);
}

/* Fails with "rank R step S (ACTION): why". */
__attribute__((format(printf, 4, 5)))
static pipa_status bad(int rank, int step, const pipa_action_t *a, const char *fmt, ...)
{
    char what[64], why[512];
    if (a)
        act_str(a, what, sizeof what);
    else
        snprintf(what, sizeof what, "end of list");
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, sizeof why, fmt, ap);
    va_end(ap);
    return pipa__fail(PIPA_ERR_ARG, "rank %d step %d (%s): %s", rank, step, what, why);
}

/* ---- the static pass -------------------------------------------------------------------- */

int pipa_plan_forward_only(const pipa_plan_t *p)
{
    for (int r = 0; r < p->P; r++)
        for (int i = 0; i < p->len[r]; i++) {
            int k = p->act[r][i].kind;
            if (k != PIPA_ACT_F && k != PIPA_ACT_SEND_F && k != PIPA_ACT_RECV_F) return 0;
        }
    return 1;
}

/* Scans rank r's list in order; fills the records of its virtual stages and its peak live count. */
static pipa_status scan_rank(checker_t *ck, int r, int *peak)
{
    const pipa_plan_t *p = ck->p;
    int M = p->M, V = p->V, P = p->P, last = P * V - 1, n = p->len[r];
    int live = 0, has_step = 0;
    int *last_wgrad = ck->last_wgrad;
    for (int c = 0; c < V; c++) last_wgrad[c] = -1;
    *peak = 0;
    for (int i = 0; i < n; i++) {
        const pipa_action_t *a = &p->act[r][i];
        if (a->kind < 0 || a->kind >= PIPA_ACT_COUNT)
            return bad(r, i, a, "unknown action kind %d", a->kind);
        if (a->kind == PIPA_ACT_STEP) {
            if (a->mb != -1 || a->chunk != -1)
                return bad(r, i, a, "STEP takes no microbatch or chunk (both -1)");
            if (i != n - 1) {
                char next[64];  /* named: it is what a mistaken move put after STEP */
                act_str(&p->act[r][i + 1], next, sizeof next);
                return bad(r, i, a, "STEP is not the last action (%d more follow, first %s at "
                           "step %d)", n - 1 - i, next, i + 1);
            }
            has_step = 1;
            continue;
        }
        if (a->mb < 0 || a->mb >= M)
            return bad(r, i, a, "microbatch %d out of range 0..%d", a->mb, M - 1);
        if (a->chunk < 0 || a->chunk >= V)
            return bad(r, i, a, "chunk %d out of range 0..%d", a->chunk, V - 1);
        int vs = pipa_vstage(p, r, a->chunk);
        seen_t *s = &ck->seen[(size_t)vs * M + a->mb];
        switch (a->kind) {
        case PIPA_ACT_F:
            if (s->f >= 0) return bad(r, i, a, "second forward (first at step %d)", s->f);
            if (vs > 0 && s->recv_f < 0)
                return bad(r, i, a, "forward input never received: no RECV_F %d %d before it (the "
                           "SEND_F of virtual stage %d has no receive)", a->mb, a->chunk, vs - 1);
            s->f = i;
            if (!ck->forward_only && ++live > *peak) *peak = live;  // inference saves nothing
            break;
        case PIPA_ACT_B:
        case PIPA_ACT_I: {
            const char *what = a->kind == PIPA_ACT_B ? "backward" : "input gradient";
            if (s->b >= 0) return bad(r, i, a, "second backward (B at step %d)", s->b);
            if (s->i >= 0) return bad(r, i, a, "second backward (I at step %d)", s->i);
            if (a->kind == PIPA_ACT_B && s->w >= 0)
                return bad(r, i, a, "B together with a W (step %d): use B, or I then W", s->w);
            if (s->f < 0) return bad(r, i, a, "%s before its forward", what);
            if (vs < last && s->recv_b < 0)
                return bad(r, i, a, "output gradient never received: no RECV_B %d %d before it",
                           a->mb, a->chunk);
            if (a->kind == PIPA_ACT_B) {
                if (a->mb < last_wgrad[a->chunk])
                    return bad(r, i, a, "weight gradient of microbatch %d after microbatch %d's: "
                               "weight gradients of a chunk must run in microbatch order", a->mb,
                               last_wgrad[a->chunk]);
                last_wgrad[a->chunk] = a->mb;
                s->b = i;
                live--;   /* a full backward frees the activations */
            } else {
                s->i = i;
            }
            break;
        }
        case PIPA_ACT_W:
            if (s->w >= 0) return bad(r, i, a, "second W (first at step %d)", s->w);
            if (s->b >= 0) return bad(r, i, a, "W together with a B (step %d): use B, or I then W", s->b);
            if (s->i < 0) return bad(r, i, a, "weight gradient before its input gradient (no I before it)");
            if (a->mb < last_wgrad[a->chunk])
                return bad(r, i, a, "weight gradient of microbatch %d after microbatch %d's: weight "
                           "gradients of a chunk must run in microbatch order", a->mb,
                           last_wgrad[a->chunk]);
            last_wgrad[a->chunk] = a->mb;
            s->w = i;
            live--;   /* split: live until W, not I, since W still reads the saved inputs */
            break;
        case PIPA_ACT_RECV_F:
            if (vs == 0) return bad(r, i, a, "RECV_F at the first virtual stage (nothing sends to it)");
            if (s->recv_f >= 0) return bad(r, i, a, "second RECV_F (first at step %d)", s->recv_f);
            if (s->f >= 0) return bad(r, i, a, "RECV_F after its forward (step %d)", s->f);
            s->recv_f = i;
            break;
        case PIPA_ACT_SEND_F:
            if (vs == last) return bad(r, i, a, "SEND_F at the last virtual stage (no next stage)");
            if (s->send_f >= 0) return bad(r, i, a, "second SEND_F (first at step %d)", s->send_f);
            if (s->f < 0) return bad(r, i, a, "SEND_F before its forward ran");
            s->send_f = i;
            break;
        case PIPA_ACT_RECV_B:
            if (vs == last) return bad(r, i, a, "RECV_B at the last virtual stage (nothing sends to it)");
            if (s->recv_b >= 0) return bad(r, i, a, "second RECV_B (first at step %d)", s->recv_b);
            if (s->b >= 0 || s->i >= 0)
                return bad(r, i, a, "RECV_B after its backward (step %d)", s->b >= 0 ? s->b : s->i);
            s->recv_b = i;
            break;
        case PIPA_ACT_SEND_B:
            if (vs == 0) return bad(r, i, a, "SEND_B at the first virtual stage (no previous stage)");
            if (s->send_b >= 0) return bad(r, i, a, "second SEND_B (first at step %d)", s->send_b);
            if (s->b < 0 && s->i < 0) return bad(r, i, a, "SEND_B before its backward ran");
            s->send_b = i;
            break;
        }
    }
    /* Whatever the list never did. */
    for (int c = 0; c < V; c++)
        for (int m = 0; m < M; m++) {
            int vs = pipa_vstage(p, r, c);
            const seen_t *s = &ck->seen[(size_t)vs * M + m];
            pipa_action_t f = {.kind = PIPA_ACT_F, .chunk = (int16_t)c, .mb = m};
            if (s->f < 0) return bad(r, n, NULL, "F %d %d missing (microbatch %d chunk %d never runs "
                                     "forward)", m, c, m, c);
            if (ck->forward_only) {
                if (vs < last && s->send_f < 0)
                    return bad(r, s->f, &f, "forward output never sent (no SEND_F %d %d after it)",
                               m, c);
                continue;
            }
            if (s->b < 0 && s->i < 0)
                return bad(r, s->f, &f, "no backward (B or I then W) for this forward");
            if (s->i >= 0 && s->w < 0) {
                pipa_action_t ia = {.kind = PIPA_ACT_I, .chunk = (int16_t)c, .mb = m};
                return bad(r, s->i, &ia, "no W after this input gradient");
            }
            if (vs < last && s->send_f < 0)
                return bad(r, s->f, &f, "forward output never sent (no SEND_F %d %d after it)", m, c);
            if (vs > 0 && s->send_b < 0) {
                pipa_action_t ba = {.kind = s->b >= 0 ? PIPA_ACT_B : PIPA_ACT_I, .chunk = (int16_t)c, .mb = m};
                return bad(r, s->b >= 0 ? s->b : s->i, &ba,
                           "input gradient never sent (no SEND_B %d %d after it)", m, c);
            }
        }
    if (!has_step && !ck->forward_only)
        return bad(r, n, NULL, "STEP missing (each rank ends with exactly one STEP)");
    return PIPA_OK;
}

/* ---- execution -------------------------------------------------------------------------- */

/* The rank that a SEND of (vs, mb) by rank r wakes: the holder of vs + 1 (SEND_F) or vs - 1
 * (SEND_B), if it is parked on exactly that message's RECV; else -1. */
static int parked_on(const pipa_plan_t *p, const int *pc, const char *parked, int f, int vs, int mb)
{
    int to = f ? vs + 1 : vs - 1, rr = pipa_vstage_rank(p, to);
    if (!parked[rr]) return -1;
    const pipa_action_t *w = &p->act[rr][pc[rr]];
    int kind = f ? PIPA_ACT_RECV_F : PIPA_ACT_RECV_B;
    return w->kind == kind && w->mb == mb && pipa_vstage(p, rr, w->chunk) == to ? rr : -1;
}

/* Runs every rank to its end or until all that remain wait on a receive. c == NULL: no clock.
 * Each rank runs until it blocks on a RECV and parks there; the SEND it waits for wakes it. Each
 * action runs once: linear in the plan's size. At the limits this is bound by memory latency
 * (ranks take turns every few actions, each with its own place in the big arrays), so the
 * per-message state is the one send time per direction, and each rank's next action line is
 * fetched ahead while the other ranks run. */
static pipa_status execute(const checker_t *ck, const pipa_plan_costs_t *c, pipa_plan_sim_t *out,
                           double **start, double **end)
{
    const pipa_plan_t *p = ck->p;
    int P = p->P, M = p->M;
    size_t nkey = (size_t)P * p->V * M;
    /* sent_f[k]: time the SEND_F of key k = vs * M + mb (vs the sender) started; -1 not yet. */
    double *sent_f = malloc(nkey * sizeof *sent_f), *sent_b = malloc(nkey * sizeof *sent_b);
    int *pc = calloc((size_t)P, sizeof *pc), *stack = malloc((size_t)P * sizeof *stack);
    char *parked = calloc((size_t)P, 1);
    double *t = calloc((size_t)P, sizeof *t);
    pipa_status st = PIPA_OK;
    if (!sent_f || !sent_b || !pc || !stack || !parked || !t) {
        st = pipa__fail(PIPA_ERR_NOMEM, "plan check: out of memory");
        goto done;
    }
    for (size_t k = 0; k < nkey; k++) sent_f[k] = sent_b[k] = -1.0;
    if (out) memset(out, 0, sizeof *out);
    int top = 0;
    for (int r = P - 1; r >= 0; r--) stack[top++] = r;
    while (top > 0) {
        int r = stack[--top];
        parked[r] = 0;
        while (pc[r] < p->len[r]) {
            const pipa_action_t *a = &p->act[r][pc[r]];
            double t0 = t[r], t1 = t0 + (c ? c->cost[a->kind] : 0.0);
            size_t key = 0;
            int vs = 0;
            if (a->kind != PIPA_ACT_STEP) vs = pipa_vstage(p, r, a->chunk), key = (size_t)vs * M + a->mb;
            if (a->kind == PIPA_ACT_RECV_F || a->kind == PIPA_ACT_RECV_B) {
                int f = a->kind == PIPA_ACT_RECV_F;
                size_t from = f ? key - M : key + M;   /* sender's stage vs -+ 1, same mb */
                double sent = f ? sent_f[from] : sent_b[from];
                if (sent < 0) {
                    parked[r] = 1;
                    __builtin_prefetch(a + 8);  /* the line after: read when it wakes */
                    break;
                }
                double avail = sent + (c ? c->cost[f ? PIPA_ACT_SEND_F : PIPA_ACT_SEND_B] : 0.0);
                if (avail > t1) t1 = avail;
            } else if (a->kind == PIPA_ACT_SEND_F || a->kind == PIPA_ACT_SEND_B) {
                int f = a->kind == PIPA_ACT_SEND_F;
                (f ? sent_f : sent_b)[key] = t0;
                int w = parked_on(p, pc, parked, f, vs, a->mb);
                if (w >= 0) {
                    stack[top++] = w;
                    parked[w] = 0;
                }
            }
            if (start && start[r]) start[r][pc[r]] = t0;
            if (end && end[r]) end[r][pc[r]] = t1;
            if (out && pipa_act_is_busy(a->kind)) out->busy[r] += t1 - t0;
            t[r] = t1;
            pc[r]++;
        }
    }
    /* Anyone not at the end waits on a receive whose send never ran: a deadlock. */
    char msg[1024];
    int len = 0, stuck = 0;
    for (int r = 0; r < P; r++) {
        if (pc[r] >= p->len[r]) continue;
        const pipa_action_t *a = &p->act[r][pc[r]];
        int f = a->kind == PIPA_ACT_RECV_F;
        int vs = pipa_vstage(p, r, a->chunk), from = f ? vs - 1 : vs + 1;
        int sr = pipa_vstage_rank(p, from);
        const seen_t *s = &ck->seen[(size_t)from * M + a->mb];
        int ss = f ? s->send_f : s->send_b;
        char what[64], sw[64], bw[64];
        act_str(a, what, sizeof what);
        act_str(&p->act[sr][ss], sw, sizeof sw);
        act_str(&p->act[sr][pc[sr]], bw, sizeof bw);
        if (len < (int)sizeof msg - 1)
            len += snprintf(msg + len, sizeof msg - (size_t)len,
                            "%srank %d step %d (%s) waits for rank %d step %d (%s), which rank %d "
                            "never reaches (stuck at step %d (%s))", stuck ? "; " : "", r, pc[r],
                            what, sr, ss, sw, sr, pc[sr], bw);
        stuck++;
    }
    if (stuck) {
        st = pipa__fail(PIPA_ERR_ARG, "deadlock, %d rank(s) stuck: %s", stuck, msg);
        goto done;
    }
    if (out) {
        double busy = 0.0;
        for (int r = 0; r < P; r++) {
            if (t[r] > out->makespan) out->makespan = t[r];
            busy += out->busy[r];
        }
        out->bubble = out->makespan > 0.0 ? 1.0 - busy / (P * out->makespan) : 0.0;
    }
done:
    free(sent_f);
    free(sent_b);
    free(pc);
    free(stack);
    free(parked);
    free(t);
    return st;
}

/* Static pass over every rank, then the execution; the shared body of check and simulate. */
static pipa_status run(const pipa_plan_t *p, pipa_plan_report_t *rep, const pipa_plan_costs_t *c,
                       pipa_plan_sim_t *out, double **start, double **end)
{
    static const char *const names[3] = {"P", "M", "V"};
    if (!p || !p->len || !p->act || pipa_plan_check_size(p->P, p->M, p->V, names) != PIPA_OK)
        return pipa__fail(PIPA_ERR_ARG, "plan check: not an initialised plan");
    if (c)
        for (int k = 0; k < PIPA_ACT_COUNT; k++)
            if (!(c->cost[k] >= 0.0) || isinf(c->cost[k]))
                return pipa__fail(PIPA_ERR_ARG, "plan simulate: cost of %s is %g, must be finite "
                                  "and >= 0", pipa_act_name(k), c->cost[k]);
    size_t n = (size_t)p->P * p->V * p->M;
    checker_t ck = {p, pipa_plan_forward_only(p), malloc(n * sizeof(seen_t)),
                    malloc((size_t)p->V * sizeof(int))};
    if (!ck.seen || !ck.last_wgrad) {
        free(ck.seen);
        free(ck.last_wgrad);
        return pipa__fail(PIPA_ERR_NOMEM, "plan check: out of memory");
    }
    for (size_t k = 0; k < n; k++)
        ck.seen[k] = (seen_t){-1, -1, -1, -1, -1, -1, -1, -1};
    pipa_status st = PIPA_OK;
    pipa_plan_report_t local;
    if (!rep) rep = &local;
    memset(rep, 0, sizeof *rep);
    for (int r = 0; st == PIPA_OK && r < p->P; r++) st = scan_rank(&ck, r, &rep->peak_live[r]);
    if (st == PIPA_OK) st = execute(&ck, c, out, start, end);
    free(ck.seen);
    free(ck.last_wgrad);
    return st;
}

pipa_status pipa_plan_check(const pipa_plan_t *p, pipa_plan_report_t *rep)
{
    return run(p, rep, NULL, NULL, NULL, NULL);
}

pipa_status pipa_plan_simulate_timeline(const pipa_plan_t *p, const pipa_plan_costs_t *c,
                                        pipa_plan_sim_t *out, double **start, double **end)
{
    if (!c || !out) return pipa__fail(PIPA_ERR_ARG, "plan simulate: costs and output are required");
    return run(p, NULL, c, out, start, end);
}

pipa_status pipa_plan_check_simulate(const pipa_plan_t *p, pipa_plan_report_t *rep,
                                     const pipa_plan_costs_t *c, pipa_plan_sim_t *out,
                                     double **start, double **end)
{
    if (!c || !out) return pipa__fail(PIPA_ERR_ARG, "plan simulate: costs and output are required");
    return run(p, rep, c, out, start, end);
}

pipa_status pipa_plan_simulate(const pipa_plan_t *p, const pipa_plan_costs_t *c, pipa_plan_sim_t *out)
{
    return pipa_plan_simulate_timeline(p, c, out, NULL, NULL);
}
