/* optim.h: the optimizer step on one flat array of parameters (a stage's one allocation).
 *
 * SGD: p -= lr * g.  AdamW (Loshchilov & Hutter; PyTorch's torch.optim.AdamW):
 *   p *= 1 - lr * wd;  m = b1 m + (1 - b1) g;  v = b2 v + (1 - b2) g^2;
 *   p -= lr * (m / (1 - b1^t)) / (sqrt(v / (1 - b2^t)) + eps)
 * Element by element, in index order: the same bits on every rank layout. Weight decay applies
 * to every parameter (norm weights included), which keeps the step one loop over one array. */
#ifndef PIPA_OPTIM_H
#define PIPA_OPTIM_H

#include <stddef.h>
#include <stdint.h>

#include "base/status.h"

typedef enum { PIPA_OPT_SGD = 0, PIPA_OPT_ADAMW } pipa_opt_kind;

typedef struct {
    pipa_opt_kind kind;
    float lr;
    float beta1, beta2, eps;   /* AdamW: 0.9, 0.999, 1e-8 */
    float weight_decay;        /* AdamW: 0.01 (PyTorch's default) */
} pipa_opt_config_t;

/* Defaults: AdamW, lr 1e-3, PyTorch's betas, eps and weight decay. */
pipa_opt_config_t pipa_opt_defaults(void);
pipa_status pipa_opt_parse(const char *name, pipa_opt_kind *out); /* "adamw" | "sgd" */

typedef struct {
    pipa_opt_config_t cfg;
    size_t n;
    int64_t t;          /* steps taken */
    float *state;       /* AdamW: (2, n) first then second moments, one allocation; SGD: NULL */
} pipa_optim_t;

pipa_status pipa_optim_init(pipa_optim_t *o, const pipa_opt_config_t *cfg, size_t n);
void pipa_optim_free(pipa_optim_t *o);
/* One step over params (n) with gradients grads (n). */
void pipa_optim_step(pipa_optim_t *o, float *params, const float *grads);

#endif
