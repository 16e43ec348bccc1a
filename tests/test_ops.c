/* test_ops.c: proves that every forward op of every registered backend (backend.h, "fast") and
 * every reference (pipa_ref_*) matches PyTorch's float64 answer (tests/ref/ops.bin, from
 * tests/ref/gen_ref.py) to a relative error of 1e-5, and that one and two whole blocks run through
 * pipa_layers_forward on each backend do too. Then it checks each backend against the references
 * on larger shapes the file lacks (odd sizes, strides, long sequences, extreme activations).
 *   usage: test_ops [path/to/ops.bin]     (default tests/ref/ops.bin, from the repo root)
 * Relative error: max|got - want| / max(max|want|, 1e-30), over the whole tensor. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/backend.h"
#include "model/blas.h"
#include "check.h"
#include "model/layer.h"
#include "model/model.h"
#include "model/ops_ref.h"
#include "ref_load.h"

#define TOL 1e-5

static ref_file_t ref;
static const pipa_backend_t *be;  /* the backend under test */

static void expect_close(const char *what, const float *got, const float *want, size_t n)
{
    ref_expect_close(what, got, want, n, TOL, 34);
}

static float *copy_of(const float *src, size_t n)
{
    float *p = malloc(n * sizeof *p);
    PIPA_ASSERT(p != NULL);
    memcpy(p, src, n * sizeof *p);
    return p;
}

static float *zeros(size_t n)
{
    float *p = calloc(n, sizeof *p);
    PIPA_ASSERT(p != NULL);
    return p;
}

/* Random values in [-scale, scale) from pipa's counter-based stream (test-only stream ids). */
static float *random_of(size_t n, uint64_t stream, float scale)
{
    float *p = malloc(n * sizeof *p);
    PIPA_ASSERT(p != NULL);
    for (size_t i = 0; i < n; i++) p[i] = scale * pipa_rand_uniform(77, 9000, stream, i);
    return p;
}

/* ---- each op against PyTorch ---------------------------------------------------------------- */

static float ref_eps(void)
{
    const ref_tensor_t *c = ref_get(&ref, "config", 7);
    return c ? c->data[5] : 1e-5f;
}

/* prefix "rmsnorm": rows of mean square ~1; "rmsnorm_small": rows of RMS 1e-4 .. 3e-3, where
 * epsilon is most of the mean square, so a wrong epsilon fails by orders of magnitude. */
static void test_rmsnorm_on(const char *prefix)
{
    char nx[48], nw[48], nout[48], what[64];
    snprintf(nx, sizeof nx, "%s.x", prefix);
    snprintf(nw, sizeof nw, "%s.w", prefix);
    snprintf(nout, sizeof nout, "%s.out", prefix);
    REF_GET(x, nx);
    REF_GET(w, nw);
    REF_GET(want, nout);
    int N = x->dims[0], C = x->dims[1];  // x (N, C)
    float *out = zeros(x->n);
    be->norm.fwd(out, x->data, w->data, N, C, ref_eps());
    snprintf(what, sizeof what, "%s fast vs torch", prefix);
    expect_close(what, out, want->data, want->n);
    pipa_ref_rmsnorm(out, x->data, w->data, N, C, ref_eps());
    snprintf(what, sizeof what, "%s ref vs torch", prefix);
    expect_close(what, out, want->data, want->n);
    free(out);
}

static void test_rmsnorm(void)
{
    test_rmsnorm_on("rmsnorm");
    test_rmsnorm_on("rmsnorm_small");
}

static void test_linear(void)
{
    REF_GET(x, "linear.x");
    REF_GET(w, "linear.w");
    REF_GET(want, "linear.out");
    int N = x->dims[0], IC = x->dims[1], OC = w->dims[0];  // x (N, IC), w (OC, IC)
    float *out = zeros(want->n);
    be->linear.fwd(out, x->data, w->data, N, IC, OC);
    expect_close("linear fast vs torch", out, want->data, want->n);
    pipa_ref_linear(out, x->data, w->data, N, IC, OC);
    expect_close("linear ref vs torch", out, want->data, want->n);
    free(out);
}

static void test_rope(void)
{
    REF_GET(x, "rope.x");
    REF_GET(want, "rope.out");
    REF_GET(cfg, "config");
    int B = x->dims[0], T = x->dims[1], NH = x->dims[2], HS = x->dims[3];  // (B, T, NH, HS)
    float *y = copy_of(x->data, x->n);
    be->rope.fwd(y, B, T, NH, HS, cfg->data[6]);
    expect_close("rope fast vs torch", y, want->data, want->n);
    memcpy(y, x->data, x->n * sizeof *y);
    pipa_ref_rope(y, B, T, NH, HS, cfg->data[6]);
    expect_close("rope ref vs torch", y, want->data, want->n);
    free(y);
}

static void test_attention(void)
{
    REF_GET(q, "attn.q");
    REF_GET(k, "attn.k");
    REF_GET(v, "attn.v");
    REF_GET(want, "attn.out");
    int B = q->dims[0], T = q->dims[1], NH = q->dims[2], HS = q->dims[3];  // (B, T, NH, HS)
    float *out = zeros(q->n), *att = zeros((size_t)B * NH * T * T);
    be->attention.fwd(out, att, q->data, k->data, v->data, B, T, NH, NH, HS);
    expect_close("attention fast vs torch", out, want->data, want->n);
    pipa_ref_attention(out, q->data, k->data, v->data, B, T, NH, NH, HS);
    expect_close("attention ref vs torch", out, want->data, want->n);
    free(out);
    free(att);
}

static void test_swiglu(void)
{
    REF_GET(gate, "swiglu.gate");
    REF_GET(up, "swiglu.up");
    REF_GET(want, "swiglu.out");
    float *out = zeros(gate->n);
    be->elem.swiglu(out, gate->data, up->data, gate->n);
    expect_close("swiglu fast vs torch", out, want->data, want->n);
    pipa_ref_swiglu(out, gate->data, up->data, gate->n);
    expect_close("swiglu ref vs torch", out, want->data, want->n);
    float *g = copy_of(gate->data, gate->n);  // the model writes the result over gate
    be->elem.swiglu(g, g, up->data, gate->n);
    expect_close("swiglu fast in place vs torch", g, want->data, want->n);
    free(g);
    free(out);
}

static void test_add(void)
{
    REF_GET(a, "linear.x");
    REF_GET(b, "rmsnorm.x");
    CHECK(a->n == b->n);
    if (a->n != b->n) return;
    float *x = copy_of(a->data, a->n);
    be->elem.add(x, b->data, a->n);
    int same = 1;  // one rounding per element: the float sum itself, bit for bit
    for (size_t i = 0; i < a->n; i++) same &= x[i] == a->data[i] + b->data[i];
    CHECK(same);
    free(x);
}

/* ---- whole blocks against PyTorch ----------------------------------------------------------- */

/* Copies the file's weights of layer l into the carved tensors of dst. */
static void load_layer(pipa_layer_t *dst, int l, const pipa_model_config_t *cfg)
{
    size_t C = (size_t)cfg->C, I = (size_t)cfg->I;
    const char *names[9] = {"attn_norm", "wq", "wk", "wv", "wo", "mlp_norm", "w_gate", "w_up",
                            "w_down"};
    float *fields[9] = {dst->attn_norm, dst->wq, dst->wk, dst->wv, dst->wo, dst->mlp_norm,
                        dst->w_gate, dst->w_up, dst->w_down};
    size_t sizes[9] = {C, C * C, C * C, C * C, C * C, C, I * C, I * C, C * I};
    for (int i = 0; i < 9; i++) {
        char name[64];
        snprintf(name, sizeof name, "layer%d.%s", l, names[i]);
        const ref_tensor_t *t = ref_get(&ref, name, sizes[i]);
        CHECKF(t != NULL, "reference tensor %s missing or misshapen", name);
        if (t) memcpy(fields[i], t->data, sizes[i] * sizeof(float));
    }
}

static void test_blocks(void)
{
    REF_GET(c, "config");
    REF_GET(x0, "block.x");
    REF_GET(want1, "block1.out");
    REF_GET(want2, "block2.out");
    int B = (int)c->data[0], T = (int)c->data[1];
    pipa_model_config_t cfg = {.L = 2, .C = (int)c->data[2], .NH = (int)c->data[3],
                         .I = (int)c->data[4], .eps = c->data[5], .rope_theta = c->data[6],
                         .seed = 1};
    pipa_layers_t ls;
    pipa_scratch_t s;
    CHECK(pipa_layers_build(&ls, &cfg, 0, 2) == PIPA_OK);
    CHECK(pipa_scratch_init(&s, &cfg, B, T) == PIPA_OK);
    for (int l = 0; l < 2; l++) load_layer(&ls.layers[l], l, &cfg);

    /* Views of one layer each: the same weights, ranges of one. */
    pipa_layers_t first = ls, second = ls;
    first.count = 1;
    second.first = 1, second.count = 1, second.layers = ls.layers + 1;

    float *x = copy_of(x0->data, x0->n);  // (B, T, C)
    pipa_layers_forward(&first, x, B, T, NULL, &s);
    expect_close("block (1 layer) vs torch", x, want1->data, want1->n);
    pipa_layers_forward(&second, x, B, T, NULL, &s);
    expect_close("block (2 layers, 1+1) vs torch", x, want2->data, want2->n);

    float *y = copy_of(x0->data, x0->n);
    pipa_layers_forward(&ls, y, B, T, NULL, &s);
    expect_close("block (2 layers at once) vs torch", y, want2->data, want2->n);
    CHECK(memcmp(x, y, x0->n * sizeof *x) == 0);  // pieces and range agree to the bit
    free(x);
    free(y);
    pipa_scratch_free(&s);
    pipa_layers_free(&ls);
}

/* ---- fast against reference on shapes the file lacks ---------------------------------------- */

static void test_fast_vs_ref_linear_rmsnorm(void)
{
    const int N = 37, IC = 50, OC = 29, C = 1000;
    float *x = random_of((size_t)N * IC, 1, 1.0f), *w = random_of((size_t)OC * IC, 2, 0.2f);
    float *a = zeros((size_t)N * OC), *b = zeros((size_t)N * OC);
    be->linear.fwd(a, x, w, N, IC, OC);
    pipa_ref_linear(b, x, w, N, IC, OC);
    expect_close("linear fast vs ref (37x50 -> 29)", a, b, (size_t)N * OC);
    free(x), free(w), free(a), free(b);

    float *xr = random_of((size_t)13 * C, 3, 50.0f), *wr = random_of(C, 4, 1.0f);
    float *ar = zeros((size_t)13 * C), *br = zeros((size_t)13 * C);
    be->norm.fwd(ar, xr, wr, 13, C, 1e-5f);
    pipa_ref_rmsnorm(br, xr, wr, 13, C, 1e-5f);
    expect_close("rmsnorm fast vs ref (C 1000)", ar, br, (size_t)13 * C);
    free(xr), free(wr), free(ar), free(br);
}

static void test_fast_vs_ref_rope_attention(void)
{
    const int B = 2, T = 512, NH = 3, HS = 64;  // long sequence: angles up to 511 radians
    size_t n = (size_t)B * T * NH * HS;
    float *a = random_of(n, 5, 1.0f), *b = copy_of(a, n);
    be->rope.fwd(a, B, T, NH, HS, 10000.0f);
    pipa_ref_rope(b, B, T, NH, HS, 10000.0f);
    expect_close("rope fast vs ref (T 512, HS 64)", a, b, n);
    free(a), free(b);

    const int AB = 2, AT = 64, ANH = 4, AHS = 16;
    size_t an = (size_t)AB * AT * ANH * AHS;
    float *q = random_of(an, 6, 2.0f), *k = random_of(an, 7, 2.0f), *v = random_of(an, 8, 1.0f);
    float *o1 = zeros(an), *o2 = zeros(an), *att = zeros((size_t)AB * ANH * AT * AT);
    be->attention.fwd(o1, att, q, k, v, AB, AT, ANH, ANH, AHS);
    pipa_ref_attention(o2, q, k, v, AB, AT, ANH, ANH, AHS);
    expect_close("attention fast vs ref (T 64, HS 16)", o1, o2, an);
    /* Grouped-query: 4 query heads on 2 key/value heads (the first half of k and v). */
    be->attention.fwd(o1, att, q, k, v, AB, AT, ANH, 2, AHS);
    pipa_ref_attention(o2, q, k, v, AB, AT, ANH, 2, AHS);
    expect_close("attention fast vs ref (T 64, HS 16, 2 key/value heads)", o1, o2, an);
    free(q), free(k), free(v), free(o1), free(o2), free(att);
}

/* The rotary tables: the thread's kept table (T * HS/2 <= 4096 floats: here T 100, grown from
 * T 3, after other head sizes and thetas reset it) and the per-block tables of a long sequence
 * (T 200: 6400) give the same bits at the same positions; the backward undoes the forward. */
static void test_fast_rope_tables(void)
{
    const int NH = 2, HS = 64, TL = 200, TS = 100;
    size_t nl = (size_t)TL * NH * HS, ns = (size_t)TS * NH * HS;  // B 1: token-major
    float *a = random_of(nl, 10, 1.0f), *b = copy_of(a, ns), *c = copy_of(a, 3 * NH * HS);
    float *d = random_of(64, 11, 1.0f), *orig = copy_of(a, ns);
    be->rope.fwd(a, 1, TL, NH, HS, 10000.0f);      // per-block tables
    be->rope.fwd(d, 1, 2, 1, 32, 10000.0f);        // another head size: the kept table restarts
    be->rope.fwd(c, 1, 3, NH, HS, 500000.0f);      // another theta: restarts again
    be->rope.fwd(c, 1, 3, NH, HS, 10000.0f);       // HS 64, theta 1e4: positions 0..2
    be->rope.fwd(b, 1, TS, NH, HS, 10000.0f);      // grown to positions 0..99
    CHECKF(memcmp(a, b, ns * sizeof *a) == 0, "rope: kept table and block tables differ");
    float *e = copy_of(b, ns);
    be->rope.bwd(e, 1, TS, NH, HS, 10000.0f);
    expect_close("rope backward undoes the forward", e, orig, ns);
    free(a), free(b), free(c), free(d), free(e), free(orig);
}

static void test_fast_vs_ref_swiglu_tails(void)
{
    /* Far tails: expf(-g) overflows to inf for g < -88, and silu must still be -0, not NaN. */
    float gate[8] = {-200.0f, -100.0f, -88.0f, -1.0f, 0.0f, 1.0f, 88.0f, 200.0f};
    float up[8] = {1, 2, 3, 4, 5, 6, 7, 8}, a[8], b[8];
    be->elem.swiglu(a, gate, up, 8);
    pipa_ref_swiglu(b, gate, up, 8);
    expect_close("swiglu fast vs ref (tails)", a, b, 8);
    for (int i = 0; i < 8; i++) CHECKF(isfinite(a[i]), "swiglu(%g) is %g", gate[i], a[i]);
}

int main(int argc, char **argv)
{
    const char *path = argc > 1 ? argv[1] : "tests/ref/ops.bin";
    pipa_blas_init(0);
    printf("# %s, %d thread(s); reference %s\n", pipa_blas_name(), pipa_blas_threads(), path);
    CHECK(ref_load(&ref, path) == 0);
    for (int i = 0; i < pipa_backend_count(); i++) {
        be = pipa_backend_at(i);
        printf("# backend %s\n", be->name);
        CHECK(pipa_backend_use(be) == PIPA_OK);  // the blocks' buffers and ops
        if (ref.count > 0) {
            test_rmsnorm();
            test_linear();
            test_rope();
            test_attention();
            test_swiglu();
            test_add();
            test_blocks();
        }
        test_fast_vs_ref_linear_rmsnorm();
        test_fast_vs_ref_rope_attention();
        test_fast_vs_ref_swiglu_tails();
        test_fast_rope_tables();
    }
    CHECK(pipa_backend_count() >= 1 && pipa_backend_find("cpu") == pipa_backend_at(0));
    ref_free(&ref);
    return check_done("test_ops");
}
