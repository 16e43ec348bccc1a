/* test_tp_ref: the tensor-parallel layers and the vocabulary-parallel ends against PyTorch, in
 * tensor groups of R = 2 and R = 4 simulated by R threads (tp_group.h); R = 1 first, as the
 * baseline of the same harness.
 *  1. grads.bin's two blocks (tests/ref/gen_grad_ref.py: C 16, NH 4, I 40, torch's own weights):
 *     each rank's tensor table (pipa_tensors_build_tp) is filled with its slices of the
 *     reference's whole tensors; forward, then backward of the loss sum(out * r).
 *  2. tp.bin's whole model (tests/ref/gen_tp_ref.py: C 16, NH 4, I 32, V 32, pipa's seeded
 *     weights rebuilt in Python, since grads.bin's vocabulary of 11 does not split): first, each
 *     rank's slices from pipa_tensors_build_tp's initialisation equal the same slices of the
 *     reference's tensors, bit for bit. Then tokens -> vocabulary-parallel embedding -> the layers
 *     -> final norm and vocabulary-parallel LM head -> mean cross-entropy, and back.
 * Compared on every rank: the layers' output and input gradient (and in 2 the embedding's output,
 * bit for bit, the loss and the head's input gradient), each the same bits on every rank; every
 * gradient of the rank's slices against the same slice of PyTorch's whole gradient, the norms'
 * whole and the same bits as rank 0's; the number of the group's reductions.
 *  3. Hugging Face's Llama (tests/ref/gen_llama_ref.py: C 32, NH 4 query heads on NKV 2
 *     key/value heads, I 48, V 61, rope_theta 50000, the file's weights loaded into the table by
 *     their Hugging Face names), untied and tied: the whole model at R = 1, through the
 *     one-process passes the runtime runs at tp 1 and through the vocabulary-parallel ones with a
 *     group of 1, checking also the logits; then the layers alone (input emb, output gradient
 *     dhidden from the file: V 61 splits by nothing) at R = 1 and 2 (a rank holds one key/value
 *     head and its two query heads). Tables that cannot be cut are refused: V 61 by 2, NKV 2 by 4.
 * Tolerance: test_backward's 1e-5, relative to the reference tensor's largest magnitude (the
 * Llama cases: 1e-4, the task's bound; their largest error is printed).
 *   usage: test_tp_ref [grads.bin [tp.bin [llama_untied.bin [llama_tied.bin]]]]
 *   (defaults tests/ref/..., from the repo root) */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "model/backend.h"
#include "model/blas.h"
#include "model/ends.h"
#include "model/layer.h"
#include "model/tensors.h"
#include "ref_load.h"
#include "tp_group.h"

/* test_backward's: float32 rounding stays below 1e-6 here, a wrong term shows as 1e-2. */
#define TOL 1e-5

enum { MAX_R = 4, WIDTH = 70 };

/* ---- a reference case ----------------------------------------------------------------------- */

/* What a case runs and where its file keeps each value. A layer tensor's name in the file is
 * PREFIX + "<layer>.<leaf>" (leaf: gen_ref.py's LAYER_TENSORS), an end's PREFIX + leaf. */
typedef struct {
    const char *title;
    const ref_file_t *f;
    pipa_model_config_t cfg;
    int B, T, V;                     /* V 0: the layers only (case 1) */
    int seeded;                      /* the weights are pipa's own init (case 2), else the file's */
    int plain;                       /* R 1 through the one-process passes, no hook (case 3) */
    double tol;                      /* relative tolerance */
    const char *w_layer, *w_end;     /* prefixes of the weights */
    const char *g_layer, *g_end;     /* prefixes of the gradients */
    const char *out, *dx;            /* the layers' output, their input gradient */
    const float *x, *dy;             /* case 1: the layers' input and output gradient */
    int32_t tokens[64], targets[64]; /* case 2 */
} case_t;

/* The file's name of table tensor hf (Hugging Face name) with prefixes layer / end. */
static void ref_name(char *buf, size_t len, const char *hf, const char *layer, const char *end)
/* (layer NULL: the file names every tensor end + its Hugging Face name, case 3) */
{
    static const char *const leaf[9] = {"attn_norm", "wq", "wk", "wv", "wo", "mlp_norm",
                                        "w_gate", "w_up", "w_down"};
    static const char *const ends[3][2] = {{"model.embed_tokens.weight", "wte"},
                                           {"model.norm.weight", "final_norm"},
                                           {"lm_head.weight", "lm_head"}};
    int l;
    snprintf(buf, len, "(no reference name for %s)", hf);
    if (!layer) {  // case 3: the file's names are the Hugging Face ones, behind the prefix end
        snprintf(buf, len, "%s%s", end, hf);
        return;
    }
    if (sscanf(hf, "model.layers.%d.", &l) == 1)
        for (int w = 0; w < 9; w++) {
            char n[PIPA_TENSOR_NAME];
            pipa_tensors_layer_name(n, l, w);
            if (strcmp(n, hf) == 0) snprintf(buf, len, "%s%d.%s", layer, l, leaf[w]);
        }
    for (int i = 0; i < 3; i++)
        if (strcmp(hf, ends[i][0]) == 0) snprintf(buf, len, "%s%s", end, ends[i][1]);
}

/* out (s->count) = the elements of the whole tensor w that slice s holds. */
static void cut(const pipa_tensor_t *s, const float *w, float *out)
{
    const int two = s->ndim == 2;
    const size_t cols = two ? (size_t)s->shape[1] : 1, row = two ? (size_t)s->full[1] : 1;
    const size_t c0 = two ? (size_t)s->start[1] : 0;
    for (size_t r = 0; r < (size_t)s->shape[0]; r++)
        for (size_t c = 0; c < cols; c++)
            out[r * cols + c] = w[((size_t)s->start[0] + r) * row + c0 + c];
}

/* out = slice s of the file's whole tensor `name`; 0, or -1 (the test fails) when it is missing
 * or not the size of s's whole tensor. */
static int ref_slice(const ref_file_t *f, const char *name, const pipa_tensor_t *s, float *out)
{
    const size_t whole = (size_t)s->full[0] * (s->ndim == 2 ? (size_t)s->full[1] : 1);
    const ref_tensor_t *t = ref_get(f, name, whole);
    CHECKF(t != NULL, "reference %s: missing, or not %zu values", name, whole);
    if (!t) return -1;
    cut(s, t->data, out);
    return 0;
}

/* Case 1 from grads.bin: config [B, T, C, NH, I, V, eps, theta]; 0 or -1. */
static int case_blocks(case_t *k, const ref_file_t *f)
{
    const ref_tensor_t *c = ref_get(f, "config", 8), *x = ref_get(f, "block.x", 0);
    const ref_tensor_t *r = ref_get(f, "block.r", 0);
    CHECK(c && x && r);
    if (!c || !x || !r) return -1;
    *k = (case_t){.title = "grads.bin: two blocks", .f = f, .B = (int)c->data[0],
                  .T = (int)c->data[1], .w_layer = "layer", .w_end = "", .g_layer = "block.d",
                  .g_end = "", .out = "block.out", .dx = "block.dx", .x = x->data, .dy = r->data,
                  .tol = TOL};
    k->cfg = (pipa_model_config_t){.L = 2, .C = (int)c->data[2], .NH = (int)c->data[3],
                                   .I = (int)c->data[4], .eps = c->data[6],
                                   .rope_theta = c->data[7], .seed = 1};
    CHECK(x->n == (size_t)k->B * k->T * k->cfg.C && r->n == x->n);
    return x->n == r->n && x->n == (size_t)k->B * k->T * k->cfg.C ? 0 : -1;
}

/* Case 2 from tp.bin: config [L, C, NH, I, V, B, T, seed, eps, theta]; 0 or -1. */
static int case_model(case_t *k, const ref_file_t *f)
{
    const ref_tensor_t *c = ref_get(f, "config", 10), *tok = ref_get(f, "tokens", 0);
    const ref_tensor_t *tgt = ref_get(f, "targets", 0);
    CHECK(c && tok && tgt);
    if (!c || !tok || !tgt) return -1;
    *k = (case_t){.title = "tp.bin: the whole model", .f = f, .V = (int)c->data[4],
                  .B = (int)c->data[5], .T = (int)c->data[6], .seeded = 1,
                  .w_layer = "init.layer", .w_end = "init.", .g_layer = "d.layer", .g_end = "d.",
                  .out = "hidden", .dx = "demb", .tol = TOL};
    k->cfg = (pipa_model_config_t){.L = (int)c->data[0], .C = (int)c->data[1],
                                   .NH = (int)c->data[2], .I = (int)c->data[3],
                                   .eps = c->data[8], .rope_theta = c->data[9],
                                   .seed = (uint64_t)c->data[7]};
    const size_t N = (size_t)k->B * k->T;
    CHECK(N <= 64 && tok->n == N && tgt->n == N);
    if (N > 64 || tok->n != N || tgt->n != N) return -1;
    for (size_t i = 0; i < N; i++)
        k->tokens[i] = (int32_t)tok->data[i], k->targets[i] = (int32_t)tgt->data[i];
    return 0;
}

/* ---- a rank of the group -------------------------------------------------------------------- */

typedef struct {
    tp_peer_t peer;
    const case_t *k;
    pipa_tensors_t tab;
    float *w, *g;           /* weights and gradients, laid out by tab */
    pipa_layers_t ls, gl;   /* views of w and g */
    pipa_ends_t e, ge;      /* views of w and g (case 2) */
    pipa_acts_t acts;
    pipa_scratch_t s;
    pipa_head_acts_t h;
    float *x, *dx;          /* (B, T, C): the pass's buffer forward, then backward */
    float *emb, *hidden;    /* (B, T, C): the layers' input and output */
    float *dhidden;         /* (B, T, C): the gradient of the layers' output */
    float *stats;           /* (3 B T): the head's scratch */
    double loss_sum;
    pipa_status st;
} rank_t;

static float *floats(size_t n)
{
    float *p = calloc(n, sizeof *p);
    PIPA_ASSERT(p != NULL);
    return p;
}

static void rank_init(rank_t *r, const case_t *k, tp_group_t *g, int t)
{
    const pipa_model_config_t *cfg = &k->cfg;
    const pipa_layer_range_t all = {0, cfg->L};
    const int R = g->R, ends = k->V > 0;
    const size_t act = (size_t)k->B * k->T * cfg->C;
    memset(r, 0, sizeof *r);
    r->peer = (tp_peer_t){g, t, 0};
    r->k = k;
    CHECK(pipa_tensors_build_tp(&r->tab, cfg, k->V, &all, 1, ends, ends, t, R) == PIPA_OK);
    CHECK(pipa_tensors_alloc(&r->tab, &r->w, k->seeded, "weights") == PIPA_OK);
    CHECK(pipa_tensors_alloc(&r->tab, &r->g, 0, "gradients") == PIPA_OK);
    CHECK(pipa_tensors_view_layers(&r->tab, r->w, 0, cfg->L, &r->ls) == PIPA_OK);
    CHECK(pipa_tensors_view_layers(&r->tab, r->g, 0, cfg->L, &r->gl) == PIPA_OK);
    if (ends) {
        pipa_tensors_view_ends(&r->tab, r->w, &r->e);
        pipa_tensors_view_ends(&r->tab, r->g, &r->ge);
        CHECK(pipa_head_acts_init(&r->h, cfg, k->V / R, k->B, k->T) == PIPA_OK);
    }
    CHECK(pipa_acts_init_tp(&r->acts, cfg, R, cfg->L, k->B, k->T) == PIPA_OK);
    CHECK(pipa_scratch_init_tp(&r->s, cfg, R, k->B, k->T) == PIPA_OK);
    r->x = floats(act), r->dx = floats(act), r->emb = floats(act), r->hidden = floats(act);
    r->dhidden = floats(act), r->stats = floats(3 * (size_t)k->B * k->T);
}

static void rank_free(rank_t *r)
{
    pipa_layers_free(&r->ls), pipa_layers_free(&r->gl);
    if (r->k->V) pipa_ends_free(&r->e), pipa_ends_free(&r->ge), pipa_head_acts_free(&r->h);
    pipa_acts_free(&r->acts), pipa_scratch_free(&r->s), pipa_tensors_free(&r->tab);
    free(r->w), free(r->g), free(r->x), free(r->dx), free(r->emb), free(r->hidden);
    free(r->dhidden), free(r->stats);
}

/* The rank's weights: case 1 loads its slices of the file's; case 2 proves that its own seeded
 * ones are the same slices of the file's, bit for bit. */
static void rank_weights(rank_t *r)
{
    const case_t *k = r->k;
    float *want = floats(r->tab.total);
    for (int i = 0; i < r->tab.n; i++) {
        const pipa_tensor_t *s = &r->tab.t[i];
        char name[96];
        ref_name(name, sizeof name, s->name, k->w_layer, k->w_end);
        if (ref_slice(k->f, name, s, want)) continue;
        if (!k->seeded) {
            memcpy(r->w + s->offset, want, s->count * sizeof *want);
            continue;
        }
        size_t bad = 0;
        for (size_t j = 0; j < s->count; j++)
            bad += memcmp(&r->w[s->offset + j], &want[j], sizeof *want) != 0;
        CHECKF(bad == 0, "R %d rank %d: %s: %zu of %zu initial values are not the bits of %s's "
               "slice", r->peer.g->R, r->peer.rank, s->name, bad, s->count, name);
    }
    free(want);
}

/* The forward of the case through the rank's slices; the layers' input and output kept. */
static pipa_status rank_forward(rank_t *r, const pipa_tp_hook_t *hook)
{
    const case_t *k = r->k;
    const int B = k->B, T = k->T;
    const size_t bytes = (size_t)B * T * k->cfg.C * sizeof(float);
    if (k->plain) hook = NULL;  // the one-process passes (R 1)
    if (k->V && k->plain) PIPA_TRY(pipa_ends_embed_forward(&r->e, k->tokens, r->x, B, T));
    else if (k->V) PIPA_TRY(pipa_ends_embed_forward_tp(&r->e, k->tokens, r->x, B, T, hook));
    else memcpy(r->x, k->x, bytes);
    memcpy(r->emb, r->x, bytes);
    PIPA_TRY(pipa_layers_forward_tp(&r->ls, r->x, B, T, &r->acts, &r->s, hook));
    memcpy(r->hidden, r->x, bytes);
    if (!k->V) return PIPA_OK;
    if (k->plain)
        return pipa_ends_head_forward(&r->e, r->x, k->targets, B, T, &r->h, &r->loss_sum);
    return pipa_ends_head_forward_tp(&r->e, r->x, k->targets, B, T, &r->h, r->stats,
                                     &r->loss_sum, hook);
}

/* The backward, in a pipeline's order: every input gradient, then the weight gradients. */
static pipa_status rank_backward(rank_t *r, const pipa_tp_hook_t *hook)
{
    const case_t *k = r->k;
    const int B = k->B, T = k->T;
    const size_t bytes = (size_t)B * T * k->cfg.C * sizeof(float);
    if (k->plain) hook = NULL;
    if (k->V && k->plain) pipa_ends_head_backward_input(&r->e, &r->h, 1.0f / (B * T), r->dx, B, T);
    else if (k->V) PIPA_TRY(pipa_ends_head_backward_input_tp(&r->e, &r->h, 1.0f / (B * T), r->dx,
                                                             B, T, hook));
    else memcpy(r->dx, k->dy, bytes);
    memcpy(r->dhidden, r->dx, bytes);
    PIPA_TRY(pipa_layers_backward_input_tp(&r->ls, &r->acts, r->dx, B, T, &r->s, hook));
    if (k->V && k->plain) pipa_ends_embed_backward_weight(&r->ge, k->tokens, r->dx, B, T);
    else if (k->V) pipa_ends_embed_backward_weight_tp(&r->ge, k->tokens, r->dx, B, T);
    pipa_layers_backward_weight(&r->ls, &r->acts, &r->gl, B, T);
    if (k->V) pipa_ends_head_backward_weight(&r->ge, &r->h, B, T);
    return PIPA_OK;
}

static void *rank_run(void *arg)
{
    rank_t *r = arg;
    const pipa_tp_hook_t hook = tp_group_hook(&r->peer);
    r->st = rank_forward(r, &hook);
    if (r->st == PIPA_OK) r->st = rank_backward(r, &hook);
    return NULL;
}

/* ---- the comparisons ------------------------------------------------------------------------ */

static double max_err;  /* the largest relative error of the cases run since it was zeroed */

/* ref_expect_close at the case's tolerance, keeping the largest error in max_err. */
static void expect_close(const case_t *k, const char *what, const float *got, const float *want,
                         size_t n)
{
    double e = ref_rel_err(got, want, n);
    max_err = e > max_err || isnan(e) ? e : max_err;
    ref_expect_close(what, got, want, n, k->tol, WIDTH);
}

/* Case 3, R 1: the logits, lm_head (or, tied, the embedding) times the head's saved normed
 * input, against the file's. */
static void check_logits(const rank_t *r)
{
    const case_t *k = r->k;
    const size_t N = (size_t)k->B * k->T;
    if (k->w_layer) return;  // cases 1 and 2 keep no logits
    const ref_tensor_t *want = ref_get(k->f, "logits", N * (size_t)k->V);
    CHECK(want != NULL);
    if (!want) return;
    float *got = floats(want->n);
    pipa_backend()->linear.fwd(got, r->h.xn, r->e.lm_head, (int)N, k->cfg.C, k->V);
    expect_close(k, "R 1: logits", got, want->data, want->n);
    free(got);
}

/* Rank r's whole (B, T, C) values and loss against the file's, and the same bits as rank 0's. */
static void check_values(const rank_t *r, const rank_t *r0)
{
    const case_t *k = r->k;
    const int R = r->peer.g->R, t = r->peer.rank, N = k->B * k->T;
    const size_t act = (size_t)N * k->cfg.C;
    const struct { const char *what, *ref; const float *got, *got0; int exact, all; } v[] = {
        {"embedding output", "emb", r->emb, r0->emb, 1, 0},
        {"layers' output", k->out, r->hidden, r0->hidden, 0, 1},
        {"head's input gradient", "dhidden", r->dhidden, r0->dhidden, 0, 0},
        {"layers' input gradient", k->dx, r->dx, r0->dx, 0, 1}};
    char what[128];
    CHECKF(r->st == PIPA_OK, "R %d rank %d: %s", R, t, pipa_last_error());
    for (size_t i = 0; i < sizeof v / sizeof *v; i++) {
        if (!v[i].all && !k->V) continue;  // the ends' values: case 2 only
        const ref_tensor_t *want = ref_get(k->f, v[i].ref, act);
        CHECKF(want != NULL, "reference %s missing", v[i].ref);
        if (!want) continue;
        snprintf(what, sizeof what, "R %d rank %d: %s (%s)", R, t, v[i].what, v[i].ref);
        if (v[i].exact) ref_expect_close(what, v[i].got, want->data, act, 0.0, WIDTH);
        else expect_close(k, what, v[i].got, want->data, act);
        CHECKF(memcmp(v[i].got, v[i].got0, act * sizeof(float)) == 0,
               "R %d: rank %d's %s is not rank 0's bits", R, t, v[i].what);
    }
    if (!k->V) return;
    const ref_tensor_t *loss = ref_get(k->f, "loss", 1);
    CHECK(loss != NULL);
    float mean = (float)(r->loss_sum / N);
    snprintf(what, sizeof what, "R %d rank %d: loss (mean cross-entropy)", R, t);
    if (loss) expect_close(k, what, &mean, loss->data, 1);
    if (R == 1) check_logits(r);
    CHECKF(r->loss_sum == r0->loss_sum, "R %d: rank %d's loss is not rank 0's", R, t);
}

/* Every gradient of rank r's slices against the same slice of the file's whole gradient; the
 * norms' (whole on every rank) also the same bits as rank 0's. */
static void check_grads(const rank_t *r, const rank_t *r0)
{
    const case_t *k = r->k;
    const int R = r->peer.g->R, t = r->peer.rank;
    float *want = floats(r->tab.total);
    for (int i = 0; i < r->tab.n; i++) {
        const pipa_tensor_t *s = &r->tab.t[i];
        char name[96], what[160];
        ref_name(name, sizeof name, s->name, k->g_layer, k->g_end);
        if (ref_slice(k->f, name, s, want)) continue;
        snprintf(what, sizeof what, "R %d rank %d: gradient of %s", R, t, s->name);
        expect_close(k, what, r->g + s->offset, want, s->count);
        if (s->ndim != 1) continue;
        const pipa_tensor_t *s0 = pipa_tensors_find(&r0->tab, s->name);
        CHECKF(s0 && memcmp(r->g + s->offset, r0->g + s0->offset, s->count * sizeof *want) == 0,
               "R %d: rank %d's gradient of %s is not rank 0's bits", R, t, s->name);
    }
    free(want);
}

/* The case in a group of R. */
static void run_case(const case_t *k, int R)
{
    const size_t act = (size_t)k->B * k->T * k->cfg.C;
    /* The group's reductions per rank: 2 per layer each way; the ends' embedding 1, head 3. */
    const int calls = k->plain ? 0 : 4 * k->cfg.L + (k->V ? 4 : 0);
    printf("# %s, R %d%s%s\n", k->title, R, k->plain ? ", the one-process passes" : "",
           k->V ? "" : ", the layers alone");
    tp_group_t grp;
    tp_group_init(&grp, R, act);
    rank_t r[MAX_R];
    pthread_t th[MAX_R];
    for (int t = 0; t < R; t++) rank_init(&r[t], k, &grp, t), rank_weights(&r[t]);
    for (int t = 0; t < R; t++) CHECK(pthread_create(&th[t], NULL, rank_run, &r[t]) == 0);
    for (int t = 0; t < R; t++) pthread_join(th[t], NULL);
    for (int t = 0; t < R; t++) {
        CHECKF(r[t].peer.calls == calls, "R %d rank %d: %d reductions, not %d", R, t,
               r[t].peer.calls, calls);
        check_values(&r[t], &r[0]);
        check_grads(&r[t], &r[0]);
    }
    for (int t = 0; t < R; t++) rank_free(&r[t]);
    tp_group_free(&grp);
}

/* Case 3 from a gen_llama_ref.py file: config [L, C, NH, NKV, I, V, B, T, eps, theta, tied];
 * layers_only: V 0, the layers between the file's emb and dhidden. 0 or -1. */
static int case_llama(case_t *k, const ref_file_t *f, const char *title, int layers_only)
{
    const ref_tensor_t *c = ref_get(f, "config", 11), *tok = ref_get(f, "tokens", 0);
    const ref_tensor_t *tgt = ref_get(f, "targets", 0), *x = ref_get(f, "emb", 0);
    const ref_tensor_t *dy = ref_get(f, "dhidden", 0);
    CHECK(c && tok && tgt && x && dy);
    if (!c || !tok || !tgt || !x || !dy) return -1;
    *k = (case_t){.title = title, .f = f, .V = layers_only ? 0 : (int)c->data[5],
                  .B = (int)c->data[6], .T = (int)c->data[7], .w_end = "w.", .g_end = "d.",
                  .out = "hidden", .dx = "demb", .x = x->data, .dy = dy->data, .tol = 1e-4};
    k->cfg = (pipa_model_config_t){.L = (int)c->data[0], .C = (int)c->data[1],
                                   .NH = (int)c->data[2], .NKV = (int)c->data[3],
                                   .I = (int)c->data[4], .eps = c->data[8],
                                   .rope_theta = c->data[9], .tie_embeddings = (int)c->data[10],
                                   .seed = 1};
    const size_t N = (size_t)k->B * k->T;
    CHECK(N <= 64 && tok->n == N && tgt->n == N && x->n == N * (size_t)k->cfg.C && dy->n == x->n);
    if (N > 64 || tok->n != N || tgt->n != N || x->n != N * (size_t)k->cfg.C || dy->n != x->n)
        return -1;
    for (size_t i = 0; i < N; i++)
        k->tokens[i] = (int32_t)tok->data[i], k->targets[i] = (int32_t)tgt->data[i];
    return 0;
}

/* The tables a tensor group cannot cut are refused, naming what does not divide. */
static void check_refused(const pipa_model_config_t *cfg, int V, int R, const char *names)
{
    pipa_tensors_t tab;
    const pipa_layer_range_t all = {0, cfg->L};
    pipa_status s = pipa_tensors_build_tp(&tab, cfg, V, &all, 1, V > 0, V > 0, 0, R);
    CHECKF(s == PIPA_ERR_ARG && strstr(pipa_last_error(), names),
           "a table of V %d, NKV %d cut by %d: status %d, '%s' (should name %s)", V, cfg->NKV, R,
           (int)s, pipa_last_error(), names);
    if (s == PIPA_OK) pipa_tensors_free(&tab);
    printf("# refused: %s\n", pipa_last_error());
}

/* The Llama file path (untied or tied): the whole model at R 1 both ways, the layers at R 1, 2. */
static void run_llama(const char *path, const char *title)
{
    ref_file_t f;
    CHECK(ref_load(&f, path) == 0);
    case_t whole, layers;
    max_err = 0.0;
    if (f.count && case_llama(&whole, &f, title, 0) == 0 &&
        case_llama(&layers, &f, title, 1) == 0) {
        whole.plain = 1;
        run_case(&whole, 1);
        whole.plain = 0;
        run_case(&whole, 1);
        for (int R = 1; R <= 2; R *= 2) run_case(&layers, R);
        check_refused(&whole.cfg, whole.V, 2, "vocabulary");
        check_refused(&whole.cfg, 0, 4, "NKV");
        printf("# %s: largest relative error %.2e (bound %.0e)\n", title, max_err, whole.tol);
    }
    ref_free(&f);
}

int main(int argc, char **argv)
{
    const char *grads = argc > 1 ? argv[1] : "tests/ref/grads.bin";
    const char *tp = argc > 2 ? argv[2] : "tests/ref/tp.bin";
    const char *untied = argc > 3 ? argv[3] : "tests/ref/llama_untied.bin";
    const char *tied = argc > 4 ? argv[4] : "tests/ref/llama_tied.bin";
    pipa_blas_init(1);  // R ranks in R threads: one BLAS thread each, as ranks have
    printf("# %s; references %s, %s, %s, %s\n", pipa_blas_name(), grads, tp, untied, tied);
    ref_file_t fg, ft;
    CHECK(ref_load(&fg, grads) == 0);
    CHECK(ref_load(&ft, tp) == 0);
    case_t blocks, model;
    if (fg.count && case_blocks(&blocks, &fg) == 0)
        for (int R = 1; R <= MAX_R; R *= 2) run_case(&blocks, R);
    if (ft.count && case_model(&model, &ft) == 0)
        for (int R = 1; R <= MAX_R; R *= 2) run_case(&model, R);
    ref_free(&fg), ref_free(&ft);
    run_llama(untied, "llama_untied.bin: GQA 4/2, V 61, untied");
    run_llama(tied, "llama_tied.bin: GQA 4/2, V 61, tied");
    return check_done("test_tp_ref");
}
