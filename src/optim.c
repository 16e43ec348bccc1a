/* optim.c: SGD and AdamW steps (see optim.h). */
#include "optim.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

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
    o->state = calloc(2 * n + 1, sizeof(float));
    if (!o->state) return pipa__fail(PIPA_ERR_NOMEM, "out of memory for optimizer state");
    return PIPA_OK;
}

void pipa_optim_free(pipa_optim_t *o)
{
    free(o->state);
    o->state = NULL;
}

static void sgd_step(const pipa_optim_t *o, float *p, const float *g)
{
    for (size_t i = 0; i < o->n; i++) p[i] -= o->cfg.lr * g[i];
}

/* The bias corrections are computed in double once per step, as PyTorch computes them in
 * Python floats, then applied in float. */
static void adamw_step(pipa_optim_t *o, float *p, const float *g)
{
    const pipa_opt_config_t *c = &o->cfg;
    float *m = o->state, *v = o->state + o->n;
    double bc1 = 1.0 - pow(c->beta1, (double)o->t);
    double bc2 = 1.0 - pow(c->beta2, (double)o->t);
    float step = (float)(c->lr / bc1);
    float bc2_sqrt = (float)sqrt(bc2);
    float decay = 1.0f - c->lr * c->weight_decay;
    for (size_t i = 0; i < o->n; i++) {
        p[i] *= decay;
        m[i] = c->beta1 * m[i] + (1.0f - c->beta1) * g[i];
        v[i] = c->beta2 * v[i] + (1.0f - c->beta2) * g[i] * g[i];
        float denom = sqrtf(v[i]) / bc2_sqrt + c->eps;
        p[i] -= step * (m[i] / denom);
    }
}

void pipa_optim_step(pipa_optim_t *o, float *params, const float *grads)
{
    o->t++;
    if (o->cfg.kind == PIPA_OPT_SGD) sgd_step(o, params, grads);
    else adamw_step(o, params, grads);
}
