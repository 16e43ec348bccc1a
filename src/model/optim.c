/* optim.c: SGD and AdamW steps (see optim.h): the configuration, the state and the per-step
 * coefficients; the element loops are the backend's (backend.h), the state from its allocator. */
#include "model/optim.h"

#include <math.h>
#include <string.h>

#include "model/backend.h"

pipa_opt_config_t pipa_opt_defaults(void)
{
    return (pipa_opt_config_t){.kind = PIPA_OPT_ADAMW, .lr = 1e-3f, .beta1 = 0.9f, .beta2 = 0.999f,
                               .eps = 1e-8f, .weight_decay = 0.01f};
}

pipa_status pipa_opt_parse(const char *name, pipa_opt_kind *out)
{
    if (!strcmp(name, "adamw")) *out = PIPA_OPT_ADAMW;
    else if (!strcmp(name, "sgd")) *out = PIPA_OPT_SGD;
    else return pipa__fail(PIPA_ERR_ARG, "unknown optimizer '%s' (adamw or sgd)", name);
    return PIPA_OK;
}

pipa_status pipa_optim_init(pipa_optim_t *o, const pipa_opt_config_t *cfg, size_t n)
{
    memset(o, 0, sizeof *o);
    o->cfg = *cfg;
    o->n = n;
    if (cfg->kind != PIPA_OPT_ADAMW) return PIPA_OK;
    void *state;  // one more than the moments: never NULL, even for n = 0
    pipa_status s = pipa_backend_alloc(&state, 2 * n + 1, 1, "optimizer state");
    o->state = state;
    return s;
}

void pipa_optim_free(pipa_optim_t *o)
{
    pipa_backend_free(o->state);
    o->state = NULL;
}

/* The bias corrections are computed in double once per step, as PyTorch computes them in
 * Python floats, then applied in float. */
static void adamw_step(pipa_optim_t *o, float *p, const float *g)
{
    const pipa_opt_config_t *c = &o->cfg;
    double bc1 = 1.0 - pow(c->beta1, (double)o->t);
    double bc2 = 1.0 - pow(c->beta2, (double)o->t);
    const pipa_adamw_coef_t k = {.beta1 = c->beta1, .beta2 = c->beta2, .eps = c->eps,
                                 .step = (float)(c->lr / bc1), .bc2_sqrt = (float)sqrt(bc2),
                                 .decay = 1.0f - c->lr * c->weight_decay};
    pipa_backend()->optim.adamw(p, g, o->state, o->state + o->n, o->n, &k);
}

void pipa_optim_step(pipa_optim_t *o, float *params, const float *grads)
{
    o->t++;
    if (o->cfg.kind == PIPA_OPT_SGD) pipa_backend()->optim.sgd(params, grads, o->n, o->cfg.lr);
    else adamw_step(o, params, grads);
}
