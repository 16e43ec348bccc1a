/* test_tp: tensor-parallel slices and layers, one process, R = 1, 2, 4 (C 64, NH 4, I 128, L 2).
 *  - The R tables of pipa_tensors_build_tp partition every tensor of the one-process table: each
 *    element of a split tensor is held by exactly one rank, a norm by every rank, and every
 *    slice's initial values are the one-process tensor's same elements bit for bit.
 *  - A tensor group simulated with R threads (the hook: every rank's buffer summed in rank order,
 *    the sum written back to each) gives the one-process layer forward's output, and after the
 *    backward its input gradient and every weight gradient (each slice against the same slice of
 *    the whole gradient; the norms' gradients whole on every rank), within 1e-5 of the tensor's
 *    largest magnitude; with R = 1 exactly the plain pass's bits; 2 reductions per layer each way.
 *    R 2 runs on the whole layer's scratch and activations, R 4 on ones made for its slices.
 *  - The ends split by vocabulary (same group, with a max hook too): the embedding gives the
 *    one-process bits; the loss, the input gradient of the head and the gradients of lm_head's and
 *    the embedding's rows and the final norm are within 1e-5 of the one-process ends'; 4 calls.
 *  - A group size that does not divide the heads, the intermediate size or the vocabulary is
 *    refused, naming which. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "model/blas.h"
#include "model/ends.h"
#include "model/layer.h"
#include "model/tensors.h"
#include "tp_group.h"

static const pipa_model_config_t CFG = {.L = 2, .C = 64, .NH = 4, .I = 128, .eps = 1e-5f,
                                        .rope_theta = 10000.0f, .seed = 11};
enum { VOCAB = 256, B = 2, T = 8, MAX_R = 4 };
static const double TOL = 1e-5;

/* ---- slices of the table ------------------------------------------------------------------ */

/* Element (r, c) of a (rows, cols) tensor t (cols 1 for a vector), flat. */
static size_t flat(const pipa_tensor_t *t, size_t r, size_t c)
{
    return r * (size_t)(t->ndim == 2 ? t->full[1] : 1) + c;
}

/* Checks rank `rank`'s slice s (values sv) against the whole tensor w (values wv): same name,
 * shape inside it, values the same elements bit for bit; counts each element it holds in seen. */
static void check_slice(const pipa_tensor_t *s, const float *sv, const pipa_tensor_t *w,
                        const float *wv, int *seen)
{
    CHECKF(s->full[0] == w->shape[0] && s->full[1] == w->shape[1], "%s: full shape", s->name);
    size_t cols = s->ndim == 2 ? (size_t)s->shape[1] : 1, bad = 0;
    for (size_t r = 0; r < (size_t)s->shape[0]; r++)
        for (size_t c = 0; c < cols; c++) {
            size_t i = flat(w, (size_t)s->start[0] + r, (size_t)s->start[1] + c);
            bad += memcmp(&sv[r * cols + c], &wv[i], sizeof(float)) != 0;
            seen[i]++;
        }
    CHECKF(bad == 0, "%s: %zu values differ from the one-process tensor's", s->name, bad);
}

static int is_norm(const pipa_tensor_t *t) { return t->ndim == 1; }

static void test_partition(int R)
{
    pipa_tensors_t whole, part[MAX_R];
    const pipa_layer_range_t all = {0, CFG.L};
    float *wv = NULL, *pv[MAX_R] = {0};
    CHECK(pipa_tensors_build(&whole, &CFG, VOCAB, &all, 1, 1, 1) == PIPA_OK);
    CHECK(pipa_tensors_alloc(&whole, &wv, 1, "whole") == PIPA_OK);
    for (int t = 0; t < R; t++) {
        CHECK(pipa_tensors_build_tp(&part[t], &CFG, VOCAB, &all, 1, 1, 1, t, R) == PIPA_OK);
        CHECK(pipa_tensors_alloc(&part[t], &pv[t], 1, "slice") == PIPA_OK);
        CHECK(part[t].n == whole.n && part[t].tp_rank == t && part[t].tp_size == R);
    }
    for (int i = 0; i < whole.n; i++) {
        const pipa_tensor_t *w = &whole.t[i];
        int *seen = calloc(w->count, sizeof *seen);
        for (int t = 0; t < R; t++) {
            const pipa_tensor_t *s = pipa_tensors_find(&part[t], w->name);
            CHECKF(s != NULL, "rank %d of %d has no %s", t, R, w->name);
            if (s) check_slice(s, pv[t] + s->offset, w, wv + w->offset, seen);
        }
        size_t wrong = 0;  // a split tensor's elements once, a norm's on every rank
        for (size_t e = 0; e < w->count; e++) wrong += seen[e] != (is_norm(w) ? R : 1);
        CHECKF(wrong == 0, "R %d: %s: %zu elements not held the right number of times", R,
               w->name, wrong);
        free(seen);
    }
    if (R == 1) CHECK(part[0].total == whole.total &&
                      memcmp(pv[0], wv, whole.total * sizeof *wv) == 0);
    for (int t = 0; t < R; t++) free(pv[t]), pipa_tensors_free(&part[t]);
    free(wv);
    pipa_tensors_free(&whole);
}

/* build_tp refuses cfg with group size R, and its message names `what`. */
static void expect_refused(const pipa_model_config_t *cfg, int vocab, int rank, int R,
                           const char *what)
{
    pipa_tensors_t tab;
    const pipa_layer_range_t all = {0, cfg->L};
    CHECKF(pipa_tensors_build_tp(&tab, cfg, vocab, &all, 1, 1, 1, rank, R) == PIPA_ERR_ARG,
           "%s", what);
    CHECKF(strstr(pipa_last_error(), what) != NULL, "message '%s' does not name %s",
           pipa_last_error(), what);
}

/* The printed table of rank 1 of 4 names each slice's place in its tensor. */
static void test_print(void)
{
    pipa_tensors_t tab;
    const pipa_layer_range_t one = {1, 1};
    CHECK(pipa_tensors_build_tp(&tab, &CFG, VOCAB, &one, 1, 1, 1, 1, 4) == PIPA_OK);
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    pipa_tensors_print(&tab, f);
    fclose(f);
    const char *want[] = {
        "model.layers.1.self_attn.q_proj.weight", "(16, 64)", "slice [16:32, 0:64] of (64, 64)",
        "model.layers.1.self_attn.o_proj.weight", "(64, 16)", "slice [0:64, 16:32] of (64, 64)",
        "model.layers.1.mlp.down_proj.weight", "(64, 32)", "slice [0:64, 32:64] of (64, 128)",
        "lm_head.weight", "(64, 64)", "slice [64:128, 0:64] of (256, 64)"};
    for (size_t i = 0; i < sizeof want / sizeof *want; i += 3) {
        const char *line = strstr(text, want[i]), *end = line ? strchr(line, '\n') : NULL;
        CHECKF(line && end, "no %s in\n%s", want[i], text);
        if (!line || !end) continue;
        const char *shape = strstr(line, want[i + 1]), *where = strstr(line, want[i + 2]);
        CHECKF(shape && shape < end && where && where < end, "%.*s: want %s %s",
               (int)(end - line), line, want[i + 1], want[i + 2]);
    }
    const char *norm = strstr(text, "model.layers.1.input_layernorm.weight");
    const char *norm_end = norm ? strchr(norm, '\n') : NULL;
    const char *sl = norm ? strstr(norm, "slice") : NULL;
    CHECK(norm_end && (!sl || sl > norm_end));  // a norm is whole: no slice on its line
    free(text);
    pipa_tensors_free(&tab);
}

static void test_refused(void)
{
    pipa_model_config_t c = CFG;
    expect_refused(&c, VOCAB, 0, 3, "NH (heads, 4)");
    c.NH = 8, c.I = 100;
    expect_refused(&c, VOCAB, 0, 8, "I (intermediate size, 100)");
    expect_refused(&CFG, 250, 1, 4, "vocabulary (250)");
    expect_refused(&CFG, VOCAB, 4, 4, "tensor rank 4");
}

/* ---- the layers in a tensor group simulated by threads (tp_group.h) ----------------------- */

/* A rank of a layer group. */
typedef struct {
    tp_peer_t p;
    pipa_layers_t w, grad;
    pipa_acts_t acts;
    pipa_scratch_t s;
    float *x, *dx;
    const float *x0, *dy;
    pipa_status st;
} member_t;

static void *member_run(void *arg)
{
    member_t *m = arg;
    const size_t act = (size_t)B * T * CFG.C;
    const pipa_tp_hook_t hook = {.allreduce = tp_group_sum, .ctx = &m->p};
    memcpy(m->x, m->x0, act * sizeof *m->x);
    memcpy(m->dx, m->dy, act * sizeof *m->dx);
    m->st = pipa_layers_forward_tp(&m->w, m->x, B, T, &m->acts, &m->s, &hook);
    CHECKF(m->p.calls == 2 * CFG.L, "rank %d: %d reductions in the forward", m->p.rank, m->p.calls);
    if (m->st == PIPA_OK) m->st = pipa_layers_backward_input_tp(&m->w, &m->acts, m->dx, B, T,
                                                                &m->s, &hook);
    CHECKF(m->p.calls == 4 * CFG.L, "rank %d: %d reductions in all", m->p.rank, m->p.calls);
    if (m->st == PIPA_OK) pipa_layers_backward_weight(&m->w, &m->acts, &m->grad, B, T);
    return NULL;
}

/* ---- against the one-process layers ------------------------------------------------------- */

/* max |got - want| over n, relative to max |want|. */
static double rel_err(const float *got, const float *want, size_t n)
{
    double d = 0, m = 0;
    for (size_t i = 0; i < n; i++) {
        d = fmax(d, fabs((double)got[i] - want[i]));
        m = fmax(m, fabs((double)want[i]));
    }
    return m > 0 ? d / m : d;
}

/* Every tensor of rank m's gradient against the same slice of the whole gradient (wg, laid out by
 * whole); the norms' also against rank 0's (norm0), bit for bit. */
static void check_grads(const member_t *m, const pipa_tensors_t *whole, const float *wg,
                        const float *base0, int R)
{
    pipa_tensors_t tab;
    const pipa_layer_range_t all = {0, CFG.L};
    CHECK(pipa_tensors_build_tp(&tab, &CFG, 0, &all, 1, 0, 0, m->p.rank, R) == PIPA_OK);
    const float *mine = m->grad.alloc;
    for (int i = 0; i < tab.n; i++) {
        const pipa_tensor_t *s = &tab.t[i], *w = pipa_tensors_find(whole, s->name);
        size_t cols = s->ndim == 2 ? (size_t)s->shape[1] : 1;
        float *want = malloc(s->count * sizeof *want);
        for (size_t r = 0; r < (size_t)s->shape[0]; r++)
            for (size_t c = 0; c < cols; c++)
                want[r * cols + c] = wg[w->offset + flat(w, (size_t)s->start[0] + r,
                                                         (size_t)s->start[1] + c)];
        double e = rel_err(mine + s->offset, want, s->count);
        CHECKF(e <= TOL, "R %d rank %d: gradient of %s off by %g", R, m->p.rank, s->name, e);
        if (R == 1) CHECKF(memcmp(mine + s->offset, want, s->count * sizeof *want) == 0,
                           "R 1: gradient of %s not the plain pass's bits", s->name);
        if (is_norm(s))
            CHECKF(memcmp(mine + s->offset, base0 + s->offset, s->count * sizeof *want) == 0,
                   "R %d: rank %d's gradient of %s differs from rank 0's", R, m->p.rank, s->name);
        free(want);
    }
    pipa_tensors_free(&tab);
}

/* The one-process pass: out (forward of x0), dx (backward of dy) and the gradients in g. */
static void plain_pass(const float *x0, const float *dy, float *out, float *dx, pipa_layers_t *g)
{
    pipa_layers_t w;
    pipa_acts_t a;
    pipa_scratch_t s;
    const size_t act = (size_t)B * T * CFG.C;
    CHECK(pipa_layers_build(&w, &CFG, 0, CFG.L) == PIPA_OK);
    CHECK(pipa_layers_alloc_zero(g, &CFG, 0, CFG.L) == PIPA_OK);
    CHECK(pipa_acts_init(&a, &CFG, CFG.L, B, T) == PIPA_OK);
    CHECK(pipa_scratch_init(&s, &CFG, B, T) == PIPA_OK);
    memcpy(out, x0, act * sizeof *out);
    memcpy(dx, dy, act * sizeof *dx);
    pipa_layers_forward(&w, out, B, T, &a, &s);
    pipa_layers_backward(&w, &a, dx, g, B, T, &s);
    pipa_scratch_free(&s);
    pipa_acts_free(&a);
    pipa_layers_free(&w);
}

static void member_init(member_t *m, tp_group_t *g, int rank, const float *x0, const float *dy)
{
    const size_t act = (size_t)B * T * CFG.C;
    memset(m, 0, sizeof *m);
    m->p.g = g, m->p.rank = rank, m->x0 = x0, m->dy = dy;
    CHECK(pipa_layers_build_tp(&m->w, &CFG, 0, CFG.L, rank, g->R) == PIPA_OK);
    CHECK(pipa_layers_alloc_zero_tp(&m->grad, &CFG, 0, CFG.L, rank, g->R) == PIPA_OK);
    CHECK(m->w.n_params == pipa_layer_param_count_tp(&CFG, g->R) * CFG.L);
    /* R 2 on the whole layer's buffers (a prefix of each), R 4 on its slices' own. */
    const int own = g->R == 4 ? g->R : 1;
    CHECK(pipa_acts_init_tp(&m->acts, &CFG, own, CFG.L, B, T) == PIPA_OK);
    CHECK(pipa_scratch_init_tp(&m->s, &CFG, own, B, T) == PIPA_OK);
    m->x = malloc(act * sizeof *m->x);
    m->dx = malloc(act * sizeof *m->dx);
}

static void member_free(member_t *m)
{
    pipa_layers_free(&m->w);
    pipa_layers_free(&m->grad);
    pipa_acts_free(&m->acts);
    pipa_scratch_free(&m->s);
    free(m->x), free(m->dx);
}

/* Each rank's output and input gradient against the plain pass's (R 1: its very bits). */
static void check_outputs(const member_t *m, const float *out, const float *dx, int R)
{
    const size_t act = (size_t)B * T * CFG.C;
    double eo = rel_err(m->x, out, act), ed = rel_err(m->dx, dx, act);
    CHECKF(m->st == PIPA_OK, "R %d rank %d: %s", R, m->p.rank, pipa_last_error());
    CHECKF(eo <= TOL, "R %d rank %d: output off by %g", R, m->p.rank, eo);
    CHECKF(ed <= TOL, "R %d rank %d: input gradient off by %g", R, m->p.rank, ed);
    if (R == 1) CHECK(memcmp(m->x, out, act * sizeof *out) == 0 &&
                      memcmp(m->dx, dx, act * sizeof *dx) == 0);
}

static void test_group(int R)
{
    const size_t act = (size_t)B * T * CFG.C;
    /* A slice's saved activations: everything but the (B, T, C) pieces shrinks by R. */
    const size_t full = pipa_acts_bytes(&CFG, 1, B, T);
    const size_t mine = pipa_acts_bytes_tp(&CFG, R, 1, B, T);
    CHECKF(R == 1 ? mine == full : mine < full, "R %d: acts %zu bytes, whole %zu", R, mine, full);
    float *x0 = malloc(act * sizeof *x0), *dy = malloc(act * sizeof *dy);
    float *out = malloc(act * sizeof *out), *dx = malloc(act * sizeof *dx);
    pipa_model_input(x0, &CFG, 0, B, T);
    pipa_model_input(dy, &CFG, 1, B, T);  // any gradient: another microbatch's input
    pipa_layers_t g;
    plain_pass(x0, dy, out, dx, &g);
    tp_group_t grp;
    tp_group_init(&grp, R, act);
    member_t m[MAX_R];
    pthread_t th[MAX_R];
    for (int t = 0; t < R; t++) member_init(&m[t], &grp, t, x0, dy);
    for (int t = 0; t < R; t++) CHECK(pthread_create(&th[t], NULL, member_run, &m[t]) == 0);
    for (int t = 0; t < R; t++) pthread_join(th[t], NULL);
    pipa_tensors_t whole;
    const pipa_layer_range_t all = {0, CFG.L};
    CHECK(pipa_tensors_build(&whole, &CFG, 0, &all, 1, 0, 0) == PIPA_OK);
    for (int t = 0; t < R; t++) {
        check_outputs(&m[t], out, dx, R);
        check_grads(&m[t], &whole, g.alloc, m[0].grad.alloc, R);
    }
    pipa_tensors_free(&whole);
    for (int t = 0; t < R; t++) member_free(&m[t]);
    tp_group_free(&grp);
    pipa_layers_free(&g);
    free(x0), free(dy), free(out), free(dx);
}

/* ---- the ends split by vocabulary ------------------------------------------------------- */

/* What a rank of the ends' group computes, and the one-process answers (in the plain one). */
typedef struct {
    tp_peer_t p;
    pipa_ends_t e, grad;
    pipa_head_acts_t h;
    float *emb, *dx, *stats;
    double loss;
    const int32_t *tokens, *targets;
    const float *x_in, *dy;
    pipa_status st;
} vmember_t;

enum { N_TOK = B * T };

static void vmember_init(vmember_t *m, tp_group_t *g, int rank, int R)
{
    const size_t act = (size_t)N_TOK * CFG.C;
    CHECK(pipa_ends_build_tp(&m->e, &CFG, VOCAB, 1, 1, rank, R) == PIPA_OK);
    CHECK(pipa_ends_alloc_zero_tp(&m->grad, &CFG, VOCAB, 1, 1, rank, R) == PIPA_OK);
    CHECK(m->e.V == VOCAB / R && m->e.v0 == rank * VOCAB / R && m->e.tp_size == R);
    CHECK(pipa_head_acts_init(&m->h, &CFG, VOCAB / R, B, T) == PIPA_OK);
    m->p = (tp_peer_t){g, rank, 0};
    m->emb = malloc(act * sizeof *m->emb);
    m->dx = malloc(act * sizeof *m->dx);
    m->stats = malloc(3 * N_TOK * sizeof *m->stats);
}

static void vmember_free(vmember_t *m)
{
    pipa_ends_free(&m->e);
    pipa_ends_free(&m->grad);
    pipa_head_acts_free(&m->h);
    free(m->emb), free(m->dx), free(m->stats);
}

static void *vmember_run(void *arg)
{
    vmember_t *m = arg;
    const pipa_tp_hook_t hook = tp_group_hook(&m->p);
    m->st = pipa_ends_embed_forward_tp(&m->e, m->tokens, m->emb, B, T, &hook);
    if (m->st == PIPA_OK)
        m->st = pipa_ends_head_forward_tp(&m->e, m->x_in, m->targets, B, T, &m->h, m->stats,
                                          &m->loss, &hook);
    if (m->st == PIPA_OK)
        m->st = pipa_ends_head_backward_input_tp(&m->e, &m->h, 1.0f / N_TOK, m->dx, B, T, &hook);
    CHECKF(m->p.calls == 4, "rank %d: %d reductions, not 4", m->p.rank, m->p.calls);
    if (m->st != PIPA_OK) return NULL;
    pipa_ends_head_backward_weight(&m->grad, &m->h, B, T);
    pipa_ends_embed_backward_weight_tp(&m->grad, m->tokens, m->dy, B, T);
    return NULL;
}

/* The same through the one-process ends into ref (its e, grad, emb, dx, loss). */
static void vplain(vmember_t *ref)
{
    CHECK(pipa_ends_build(&ref->e, &CFG, VOCAB, 1, 1) == PIPA_OK);
    CHECK(pipa_ends_alloc_zero(&ref->grad, &CFG, VOCAB, 1, 1) == PIPA_OK);
    CHECK(pipa_head_acts_init(&ref->h, &CFG, VOCAB, B, T) == PIPA_OK);
    CHECK(pipa_ends_embed_forward(&ref->e, ref->tokens, ref->emb, B, T) == PIPA_OK);
    CHECK(pipa_ends_head_forward(&ref->e, ref->x_in, ref->targets, B, T, &ref->h, &ref->loss) ==
          PIPA_OK);
    pipa_ends_head_backward_input(&ref->e, &ref->h, 1.0f / N_TOK, ref->dx, B, T);
    pipa_ends_head_backward_weight(&ref->grad, &ref->h, B, T);
    pipa_ends_embed_backward_weight(&ref->grad, ref->tokens, ref->dy, B, T);
}

/* Rank m against the one-process ref: the embedding's bits, the loss, dx and every gradient
 * (the final norm's also the same bits as rank 0's). */
static void vcheck(const vmember_t *m, const vmember_t *ref, const vmember_t *m0, int R)
{
    const size_t act = (size_t)N_TOK * CFG.C, rows = (size_t)m->e.V * CFG.C;
    const size_t at = (size_t)m->e.v0 * CFG.C;
    CHECKF(m->st == PIPA_OK, "R %d rank %d: %s", R, m->p.rank, pipa_last_error());
    CHECKF(memcmp(m->emb, ref->emb, act * sizeof *m->emb) == 0, "R %d: embedding bits", R);
    double el = fabs(m->loss - ref->loss) / fabs(ref->loss);
    CHECKF(el <= TOL, "R %d rank %d: loss %.9g vs %.9g", R, m->p.rank, m->loss, ref->loss);
    const struct { const char *what; const float *got, *want; size_t n; } cmp[] = {
        {"dx", m->dx, ref->dx, act},
        {"lm_head gradient", m->grad.lm_head, ref->grad.lm_head + at, rows},
        {"embedding gradient", m->grad.wte, ref->grad.wte + at, rows},
        {"final norm gradient", m->grad.final_norm, ref->grad.final_norm, (size_t)CFG.C}};
    for (size_t i = 0; i < sizeof cmp / sizeof *cmp; i++) {
        double e = rel_err(cmp[i].got, cmp[i].want, cmp[i].n);
        CHECKF(e <= TOL, "R %d rank %d: %s off by %g", R, m->p.rank, cmp[i].what, e);
    }
    CHECKF(memcmp(m->grad.final_norm, m0->grad.final_norm, (size_t)CFG.C * sizeof(float)) == 0,
           "R %d: rank %d's final norm gradient differs from rank 0's", R, m->p.rank);
}

static void test_vocab_group(int R)
{
    const size_t act = (size_t)N_TOK * CFG.C;
    int32_t tokens[N_TOK], targets[N_TOK];
    for (int n = 0; n < N_TOK; n++) {
        tokens[n] = (n * 37 + 11) % VOCAB;
        targets[n] = (n * 53 + 5) % VOCAB;
    }
    float *x_in = malloc(act * sizeof *x_in), *dy = malloc(act * sizeof *dy);
    pipa_model_input(x_in, &CFG, 2, B, T);
    pipa_model_input(dy, &CFG, 3, B, T);
    vmember_t ref = {.tokens = tokens, .targets = targets, .x_in = x_in, .dy = dy};
    ref.emb = malloc(act * sizeof *ref.emb);
    ref.dx = malloc(act * sizeof *ref.dx);
    vplain(&ref);
    tp_group_t grp;
    tp_group_init(&grp, R, act);
    vmember_t m[MAX_R];
    pthread_t th[MAX_R];
    for (int t = 0; t < R; t++) {
        m[t] = (vmember_t){.tokens = tokens, .targets = targets, .x_in = x_in, .dy = dy};
        vmember_init(&m[t], &grp, t, R);
    }
    for (int t = 0; t < R; t++) CHECK(pthread_create(&th[t], NULL, vmember_run, &m[t]) == 0);
    for (int t = 0; t < R; t++) pthread_join(th[t], NULL);
    for (int t = 0; t < R; t++) vcheck(&m[t], &ref, &m[0], R);
    for (int t = 0; t < R; t++) vmember_free(&m[t]);
    vmember_free(&ref);
    tp_group_free(&grp);
    free(x_in), free(dy);
}

int main(void)
{
    pipa_blas_init(1);  // R ranks in R threads: one BLAS thread each, as ranks have
    for (int R = 1; R <= MAX_R; R *= 2) test_partition(R);
    test_refused();
    test_print();
    for (int R = 1; R <= MAX_R; R *= 2) test_group(R);
    for (int R = 1; R <= MAX_R; R *= 2) test_vocab_group(R);
    return check_done("test_tp");
}
