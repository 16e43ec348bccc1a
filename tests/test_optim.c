/* test_optim: pipa's AdamW and SGD against torch.optim on the same parameters and gradients
 * (tests/ref/optim.bin, written by tests/ref/gen_optim_ref.py), five steps, every parameter;
 * and the backend's element loops (vectorised) bit for bit against the one-element formula of
 * optim.h, written here as a plain loop, on every length and alignment of a short array. */
#include <math.h>
#include <string.h>

#include "base/rand.h"
#include "check.h"
#include "model/backend.h"
#include "model/optim.h"
#include "ref_load.h"

enum { N = 257, STEPS = 5 };

static void run(const ref_file_t *rf, pipa_opt_kind kind, const char *name)
{
    const ref_tensor_t *p0 = ref_get(rf, "p0", N), *g = ref_get(rf, "grads", N * STEPS);
    const ref_tensor_t *want = ref_get(rf, name, N * STEPS);
    CHECK(p0 && g && want);
    if (!p0 || !g || !want) return;
    pipa_opt_config_t cfg = pipa_opt_defaults();
    cfg.kind = kind;
    cfg.lr = 1e-2f;
    pipa_optim_t o;
    CHECK(pipa_optim_init(&o, &cfg, N) == PIPA_OK);
    float p[N];
    for (int i = 0; i < N; i++) p[i] = p0->data[i];
    for (int s = 0; s < STEPS; s++) {
        pipa_optim_step(&o, p, g->data + s * N);
        double e = ref_rel_err(p, want->data + s * N, N);
        CHECKF(e <= 1e-6, "%s step %d: relative error %.3g", name, s + 1, e);
        printf("%-6s step %d: max relative error vs torch %.2e\n", name, s + 1, e);
    }
    CHECKF(ref_rel_err(p, p0->data, N) > 1e-3, "%s: parameters did not move", name);
    pipa_optim_free(&o);
}

/* The one-element formulas, operation by operation as optim.h and backend.h state them. */
static void sgd_plain(float *p, const float *g, size_t n, float lr)
{
    for (size_t i = 0; i < n; i++) p[i] -= lr * g[i];
}

static void adamw_plain(float *p, const float *g, float *m, float *v, size_t n,
                        const pipa_adamw_coef_t *c)
{
    for (size_t i = 0; i < n; i++) {
        p[i] *= c->decay;
        m[i] = c->beta1 * m[i] + (1.0f - c->beta1) * g[i];
        v[i] = c->beta2 * v[i] + (1.0f - c->beta2) * g[i] * g[i];
        float denom = sqrtf(v[i]) / c->bc2_sqrt + c->eps;
        p[i] -= c->step * (m[i] / denom);
    }
}

enum { BN = 67, BSTEPS = 3 };

/* Values across the range, with zeros, subnormals and huge ones mixed in: element i of stream s. */
static float value(uint64_t s, size_t i)
{
    static const float scale[4] = {1.0f, 1e-2f, 1e-3f, 1e-6f};  /* p, g, m, v as in training */
    float u = pipa_rand_uniform(5, s, 0, i);
    switch ((i + 3 * s) % 11) {  /* the special values fall on other elements in each array */
    case 3: return 0.0f;
    case 5: return u * 1e-39f;   /* subnormal */
    case 7: return u * 1e30f;
    default: return u * scale[s & 3];
    }
}

/* Lengths 0..BN at start offsets 0..3 (every remainder and alignment the 4-wide loop meets),
 * three steps each: the backend's loops and the plain ones must give identical bits. */
static void check_bits(void)
{
    const pipa_backend_t *be = pipa_backend();
    float a[4][BN + 3], b[4][BN + 3];  /* p, g, m, v */
    int bad = 0;
    for (size_t off = 0; off < 4; off++) {
        for (size_t n = 0; n <= BN; n++) {
            for (int k = 0; k < 4; k++)
                for (size_t i = 0; i < BN + 3; i++) a[k][i] = b[k][i] = value((uint64_t)k, i);
            for (size_t i = 0; i < BN + 3; i++) a[3][i] = b[3][i] = fabsf(a[3][i]);
            for (int t = 1; t <= BSTEPS; t++) {
                pipa_adamw_coef_t c = {.beta1 = 0.9f, .beta2 = 0.999f, .eps = 1e-8f,
                                       .step = (float)(1e-3 / (1.0 - pow(0.9, t))),
                                       .bc2_sqrt = (float)sqrt(1.0 - pow(0.999, t)),
                                       .decay = 1.0f - 1e-3f * 0.01f};
                be->optim.adamw(a[0] + off, a[1] + off, a[2] + off, a[3] + off, n, &c);
                adamw_plain(b[0] + off, b[1] + off, b[2] + off, b[3] + off, n, &c);
                be->optim.sgd(a[1] + off, a[0] + off, n, 0.3f);
                sgd_plain(b[1] + off, b[0] + off, n, 0.3f);
            }
            bad += memcmp(a, b, sizeof a) != 0;
        }
    }
    CHECKF(bad == 0, "element loops differ from the one-element formulas in %d of %d cases", bad,
           4 * (BN + 1));
    printf("element loops == one-element formulas, bit for bit: %d lengths x 4 offsets\n", BN + 1);
}

int main(void)
{
    check_bits();
    ref_file_t rf;
    if (ref_load(&rf, "tests/ref/optim.bin") != 0) return 1;
    run(&rf, PIPA_OPT_ADAMW, "adamw");
    run(&rf, PIPA_OPT_SGD, "sgd");
    pipa_opt_kind k;
    CHECK(pipa_opt_parse("sgd", &k) == PIPA_OK && k == PIPA_OPT_SGD);
    CHECK(pipa_opt_parse("adam", &k) == PIPA_ERR_ARG);
    ref_free(&rf);
    return check_done("test_optim");
}
