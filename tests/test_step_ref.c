/* test_step_ref: one whole optimizer step of the runtime against PyTorch.
 *   pipa-run -n P test_step_ref tests/ref/step.bin SCHEDULE [V]
 * tests/ref/gen_step_ref.py builds pipa's initial weights independently, runs the step's M
 * microbatches through autograd (mean loss over every token of the step) and one step of
 * torch.optim.AdamW and torch.optim.SGD. Here every rank first proves it starts from the same
 * weights (bit for bit), then runs the plan of SCHEDULE on P ranks once per optimizer and
 * compares, for the tensors it holds: the loss, and each parameter's change (new - initial,
 * relative to the largest change of that tensor, so the test sees the step, not the weights).
 * SGD's change is lr * gradient: a gradient scaled wrongly (1/(B*T) instead of 1/(M*B*T)) fails
 * by a factor M. AdamW's first step is nearly lr * sign(gradient), nearly blind to such a
 * scale, but it checks the optimizer itself (moments, bias correction, decoupled weight decay).
 * tests/ref/step_gqa_tied.bin (its "gqa_tied" = [NKV, tied]) is the same step with grouped-query
 * attention and tied embeddings: the embedding's step carries the sum of both uses' gradients,
 * and at P > 1 the last stage's copy of it ("wte" too) must take the same step. */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "ref_load.h"
#include "runtime/runtime.h"
#include "plan/split.h"

/* Agreement with float64 autograd rounded once: float32 forward and backward through two layers
 * and the head, and one float32 update, stay far inside these; a wrong scale is off by M - 1. */
#define TOL_LOSS 1e-5
#define TOL_STEP 1e-4

static ref_file_t ref;
static const ref_tensor_t *tokens_ref, *targets_ref;
static int cfg_M, cfg_B, cfg_T;
static int cfg_NKV, cfg_tied;  /* step_gqa_tied.bin's; 0 and 0 for step.bin */

static void batch(void *ctx, int mb, int32_t *tokens, int32_t *targets)
{
    (void)ctx;
    size_t n = (size_t)cfg_B * cfg_T, at = (size_t)mb * n;
    for (size_t i = 0; i < n; i++) {
        if (tokens) tokens[i] = (int32_t)tokens_ref->data[at + i];
        if (targets) targets[i] = (int32_t)targets_ref->data[at + i];
    }
}

/* One parameter tensor this rank holds: its name in the file, where it lives, its size. */
typedef struct {
    char name[48];
    float *p;
    size_t n;
    float *init;  /* (n) copy taken before the step */
} param_t;

enum { MAX_PARAMS = 9 * 8 + 3 };

/* Lists the tensors of my chunks and ends (pipa_layer_t's order, gen_ref.py's names). */
static int list_params(pipa_runtime_t *tr, param_t *out)
{
    static const char *const names[9] = {"attn_norm", "wq", "wk", "wv", "wo", "mlp_norm",
                                         "w_gate", "w_up", "w_down"};
    const pipa_model_config_t *m = &tr->cfg.model;
    size_t C = (size_t)m->C, I = (size_t)m->I, VC = (size_t)tr->cfg.vocab * C;
    size_t KC = (size_t)pipa_config_nkv(m) * (C / (size_t)m->NH);
    const size_t sizes[9] = {C, C * C, KC * C, KC * C, C * C, C, I * C, I * C, C * I};
    int n = 0;
    for (int c = 0; c < tr->V; c++)
        for (int l = 0; l < tr->chunk[c].count; l++) {
            pipa_layer_t *w = &tr->chunk[c].w.layers[l];
            float *ptr[9] = {w->attn_norm, w->wq, w->wk, w->wv, w->wo, w->mlp_norm, w->w_gate,
                             w->w_up, w->w_down};
            for (int t = 0; t < 9 && n < MAX_PARAMS; t++, n++) {
                snprintf(out[n].name, sizeof out[n].name, "layer%d.%s", tr->chunk[c].first + l, names[t]);
                out[n].p = ptr[t];
                out[n].n = sizes[t];
            }
        }
    pipa_ends_t *e = &tr->ends;
    if (tr->has_ends && e->has_embedding) out[n++] = (param_t){"wte", e->wte, VC, NULL};
    if (tr->has_ends && e->has_head) {
        out[n++] = (param_t){"final_norm", e->final_norm, C, NULL};
        /* Tied: the head's matrix is wte, on a head-only stage its copy, which must step too. */
        if (!m->tie_embeddings) out[n++] = (param_t){"lm_head", e->lm_head, VC, NULL};
        else if (!e->has_embedding) out[n++] = (param_t){"wte", e->lm_head, VC, NULL};
    }
    return n;
}

/* The file's tensor PREFIX.NAME with n values (a missing one fails the test). */
static const float *ref_of(const char *prefix, const char *name, size_t n)
{
    char full[REF_MAX_NAME];
    snprintf(full, sizeof full, "%s.%s", prefix, name);
    const ref_tensor_t *t = ref_get(&ref, full, n);
    CHECKF(t != NULL, "reference has no %s of %zu values", full, n);
    return t ? t->data : NULL;
}

static pipa_status build(pipa_runtime_t *tr, pipa_plan_t *plan, pipa_comm_t *comm, pipa_sched s,
                         int V, pipa_opt_kind opt)
{
    const float *c = ref_get(&ref, "config", 14)->data;
    int P = pipa_comm_size(comm), L = (int)c[0];
    PIPA_TRY(pipa_plan_generate(plan, s, P, cfg_M, V));
    PIPA_TRY(pipa_plan_check(plan, NULL));
    pipa_layout_t lay;
    PIPA_TRY(pipa_layout_init(&lay, P, pipa_comm_rank(comm), 1, P, 1));
    int counts[PIPA_PLAN_MAX_P * PIPA_MAX_CHUNKS];
    PIPA_TRY(pipa_split_even(L, P * V, counts));
    pipa_train_config_t cfg = {
        .model = {.L = L, .C = (int)c[1], .NH = (int)c[2], .I = (int)c[3], .eps = c[9],
                  .rope_theta = c[10], .seed = (uint64_t)c[8], .NKV = cfg_NKV,
                  .tie_embeddings = cfg_tied},
        .vocab = (int)c[4], .B = cfg_B, .T = cfg_T, .opt = pipa_opt_defaults()};
    cfg.opt.kind = opt;
    cfg.opt.lr = opt == PIPA_OPT_ADAMW ? c[11] : c[13];
    cfg.opt.weight_decay = c[12];
    return pipa_runtime_init(tr, comm, &lay, &cfg, plan, counts);
}

/* max |(got - init) - (want - ref_init)| / max |want - ref_init|, over n values. */
static double step_err(const param_t *p, const float *want, const float *ref_init)
{
    float *dg = malloc(p->n * sizeof *dg), *dw = malloc(p->n * sizeof *dw);
    for (size_t i = 0; i < p->n; i++) {
        dg[i] = (float)((double)p->p[i] - p->init[i]);
        dw[i] = (float)((double)want[i] - ref_init[i]);
    }
    double e = ref_rel_err(dg, dw, p->n);
    free(dg);
    free(dw);
    return e;
}

/* Same initial weights as the reference, one step, the loss and every change compared. */
static void one_run(pipa_comm_t *comm, pipa_sched s, int V, pipa_opt_kind opt)
{
    const char *oname = opt == PIPA_OPT_ADAMW ? "adamw" : "sgd";
    pipa_runtime_t tr;
    pipa_plan_t plan;
    pipa_status st = build(&tr, &plan, comm, s, V, opt);
    CHECKF(st == PIPA_OK, "%s", pipa_last_error());
    if (st != PIPA_OK) return;
    param_t ps[MAX_PARAMS];
    int n = list_params(&tr, ps);
    CHECK(n > 0);
    for (int k = 0; k < n; k++) {
        const float *want = ref_of("init", ps[k].name, ps[k].n);
        ps[k].init = malloc(ps[k].n * sizeof(float));
        memcpy(ps[k].init, ps[k].p, ps[k].n * sizeof(float));
        CHECKF(want && memcmp(want, ps[k].p, ps[k].n * sizeof(float)) == 0,
               "rank %d: initial %s differs from the reference's (seeded init)", tr.rank, ps[k].name);
    }
    pipa_step_stats_t stats;
    st = pipa_runtime_step(&tr, batch, NULL, &stats);
    CHECKF(st == PIPA_OK, "%s", pipa_last_error());
    double want_loss = ref_get(&ref, "loss", 1)->data[0];
    double loss_err = fabs(stats.loss - want_loss) / want_loss, worst = 0.0;
    CHECKF(loss_err < TOL_LOSS, "%s %s rank %d: loss %.9g, torch %.9g", pipa_sched_name(s), oname,
           tr.rank, stats.loss, want_loss);
    for (int k = 0; k < n && st == PIPA_OK; k++) {
        const float *want = ref_of(oname, ps[k].name, ps[k].n), *init = ref_of("init", ps[k].name, ps[k].n);
        double e = want && init ? step_err(&ps[k], want, init) : 1.0;
        CHECKF(e < TOL_STEP, "%s V=%d %s rank %d: %s step differs from torch by %.3g (relative)",
               pipa_sched_name(s), V, oname, tr.rank, ps[k].name, e);
        if (e > worst || isnan(e)) worst = e;
    }
    printf("rank %d %-11s V=%d %-5s: loss error %.2g, %d tensors, worst step error %.2g\n", tr.rank,
           pipa_sched_name(s), V, oname, loss_err, n, worst);
    for (int k = 0; k < n; k++) free(ps[k].init);
    pipa_runtime_free(&tr);
    pipa_plan_free(&plan);
}

int main(int argc, char **argv)
{
    pipa_sched s;
    if (argc < 3 || pipa_sched_parse(argv[2], &s) != PIPA_OK) {
        fprintf(stderr, "usage: test_step_ref REF.bin SCHEDULE [V]\n");
        return 2;
    }
    int V = argc > 3 ? atoi(argv[3]) : 1;
    pipa_comm_t *comm;
    if (ref_load(&ref, argv[1]) != 0) return 1;
    const ref_tensor_t *c = ref_get(&ref, "config", 14);
    if (!c || pipa_comm_init(&comm) != PIPA_OK) {
        fprintf(stderr, "test_step_ref: %s\n", c ? pipa_last_error() : "bad reference");
        return 1;
    }
    cfg_M = (int)c->data[5], cfg_B = (int)c->data[6], cfg_T = (int)c->data[7];
    for (int i = 0; i < ref.count; i++)  // the optional [NKV, tied] of step_gqa_tied.bin
        if (strcmp(ref.t[i].name, "gqa_tied") == 0 && ref.t[i].n == 2)
            cfg_NKV = (int)ref.t[i].data[0], cfg_tied = (int)ref.t[i].data[1];
    size_t ntok = (size_t)cfg_M * cfg_B * cfg_T;
    tokens_ref = ref_get(&ref, "tokens", ntok);
    targets_ref = ref_get(&ref, "targets", ntok);
    CHECK(tokens_ref && targets_ref);
    if (tokens_ref && targets_ref) {
        one_run(comm, s, V, PIPA_OPT_SGD);
        one_run(comm, s, V, PIPA_OPT_ADAMW);
    }
    pipa_comm_free(comm);
    ref_free(&ref);
    char name[64];
    snprintf(name, sizeof name, "test_step_ref %s", argv[2]);
    return check_done(name);
}
