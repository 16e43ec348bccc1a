/* test_optim: pipa's AdamW and SGD against torch.optim on the same parameters and gradients
 * (tests/ref/optim.bin, written by tests/ref/gen_optim_ref.py), five steps, every parameter. */
#include <math.h>

#include "check.h"
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

int main(void)
{
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
