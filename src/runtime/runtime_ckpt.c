/* runtime_ckpt.c: a runtime's checkpoint shard (src/io/ckpt.c) holding every tensor of its table
 * (tensors.h) under its global name and, with AdamW, its moments as NAME.exp_avg and
 * NAME.exp_avg_sq (PyTorch's names for them). The shard records the model
 * shape, the pipeline layout, this rank's layers and the caller's extra settings (pipa-train:
 * the corpus), so a checkpoint from another model, split or corpus is refused with a message
 * naming what differs. With tensor parallelism (tp > 1) each (stage, tensor rank) writes its own
 * shard, numbered stage * tp + tensor rank, of its slices (the table's shapes), and records the
 * tensor-parallel size, so a resume at another tp is refused naming it (a run without tensor
 * parallelism writes what it always wrote). Saving a whole set atomically (begin, every rank's shard, commit) is the
 * caller's collective: see ckpt.h. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io/ckpt.h"
#include "runtime/runtime.h"
#include "runtime/runtime_tied.h"

static int64_t nano(float f) { return llround((double)f * 1e9); }

static pipa_ckpt_meta_t runtime_meta(const pipa_runtime_t *tr, const pipa_ckpt_meta_t *extra)
{
    const pipa_model_config_t *m = &tr->cfg.model;
    pipa_ckpt_meta_t meta = {0};
    pipa_ckpt_meta_add(&meta, "layers", m->L);
    pipa_ckpt_meta_add(&meta, "hidden", m->C);
    pipa_ckpt_meta_add(&meta, "heads", m->NH);
    pipa_ckpt_meta_add(&meta, "intermediate", m->I);
    pipa_ckpt_meta_add(&meta, "vocab", tr->cfg.vocab);
    pipa_ckpt_meta_add(&meta, "pipeline stages", tr->P);
    pipa_ckpt_meta_add(&meta, "chunks per stage", tr->V);
    pipa_ckpt_meta_add(&meta, "optimizer", tr->cfg.opt.kind);
    pipa_ckpt_meta_add(&meta, "seed", (int64_t)(m->seed & 0x7fffffffffffffffull));
    /* The batch and the optimizer's settings shape the run too: resuming with others would
     * silently continue a different run. (Float settings are recorded in units of 1e-9.) */
    pipa_ckpt_meta_add(&meta, "microbatches", tr->M);
    pipa_ckpt_meta_add(&meta, "sequences per microbatch", tr->cfg.B);
    pipa_ckpt_meta_add(&meta, "tokens per sequence", tr->cfg.T);
    pipa_ckpt_meta_add(&meta, "learning rate x 1e9", nano(tr->cfg.opt.lr));
    pipa_ckpt_meta_add(&meta, "weight decay x 1e9", nano(tr->cfg.opt.weight_decay));
    static const char *first[PIPA_MAX_CHUNKS] = {
        "chunk 0 first layer", "chunk 1 first layer", "chunk 2 first layer", "chunk 3 first layer",
        "chunk 4 first layer", "chunk 5 first layer", "chunk 6 first layer", "chunk 7 first layer"};
    static const char *count[PIPA_MAX_CHUNKS] = {
        "chunk 0 layer count", "chunk 1 layer count", "chunk 2 layer count", "chunk 3 layer count",
        "chunk 4 layer count", "chunk 5 layer count", "chunk 6 layer count", "chunk 7 layer count"};
    for (int c = 0; c < tr->V; c++) {
        pipa_ckpt_meta_add(&meta, first[c], tr->chunk[c].first);
        pipa_ckpt_meta_add(&meta, count[c], tr->chunk[c].count);
    }
    for (int i = 0; extra && i < extra->n; i++) {
        if (extra->text[i]) pipa_ckpt_meta_text(&meta, extra->name[i], extra->text[i]);
        else pipa_ckpt_meta_add(&meta, extra->name[i], extra->value[i]);
    }
    /* Last, where a run without it (or one with it) finds the difference named. */
    if (tr->tp > 1) pipa_ckpt_meta_add(&meta, "tensor-parallel size", tr->tp);
    return meta;
}

/* The shard's tensors: names and descriptions of my table's, one allocation (free() it). */
typedef struct {
    int n;
    pipa_ckpt_tensor_t *t;
    char (*names)[PIPA_CKPT_TENSOR_NAME];
} shard_tensors_t;

static void add(shard_tensors_t *st, const pipa_tensor_t *x, const char *suffix, float *base)
{
    pipa_ckpt_tensor_t *t = &st->t[st->n];
    snprintf(st->names[st->n], PIPA_CKPT_TENSOR_NAME, "%s%s", x->name, suffix);
    *t = (pipa_ckpt_tensor_t){.name = st->names[st->n], .data = base + x->offset,
                              .count = x->count, .ndim = x->ndim};
    for (int d = 0; d < x->ndim; d++) t->shape[d] = x->shape[d];
    st->n++;
}

/* Every tensor of my part that a resumed run needs: each weight, then its moments (AdamW). */
static pipa_status shard_tensors(pipa_runtime_t *tr, shard_tensors_t *st)
{
    const pipa_tensors_t *tab = &tr->tensors;
    size_t n = (size_t)tab->n * 3 + 1;
    st->n = 0;
    st->t = calloc(n, sizeof *st->t);
    st->names = calloc(n, sizeof *st->names);
    if (!st->t || !st->names) {
        free(st->t), free(st->names);
        return pipa__fail(PIPA_ERR_NOMEM, "checkpoint: out of memory for %d tensors", tab->n);
    }
    float *m = tr->opt.state, *v = m ? m + tr->opt.n : NULL;
    for (int i = 0; i < tab->n; i++) {
        if (pipa__runtime_tied_is_copy(tr, i)) continue;  // tied: saved once, by the first stage
        add(st, &tab->t[i], "", tr->params);
        if (m) add(st, &tab->t[i], ".exp_avg", m);
        if (m) add(st, &tab->t[i], ".exp_avg_sq", v);
    }
    return PIPA_OK;
}

static void shard_tensors_free(shard_tensors_t *st)
{
    free(st->t);
    free(st->names);
}

/* My shard's number in the set. */
static int shard_index(const pipa_runtime_t *tr) { return tr->rank * tr->tp + tr->t; }

pipa_status pipa_runtime_save(pipa_runtime_t *tr, const char *dir, const pipa_ckpt_meta_t *extra)
{
    shard_tensors_t st;
    PIPA_TRY(shard_tensors(tr, &st));
    pipa_ckpt_meta_t meta = runtime_meta(tr, extra);
    pipa_status s = pipa_ckpt_save(dir, shard_index(tr), &meta, st.t, st.n, tr->steps);
    shard_tensors_free(&st);
    return s;
}

static void set_steps(pipa_runtime_t *tr, int64_t steps)
{
    tr->steps = steps;
    tr->opt.t = steps;
}

pipa_status pipa_runtime_load(pipa_runtime_t *tr, const char *dir, const pipa_ckpt_meta_t *extra,
                              int64_t step)
{
    shard_tensors_t st;
    PIPA_TRY(shard_tensors(tr, &st));
    pipa_ckpt_meta_t meta = runtime_meta(tr, extra);
    char path[4096];
    int64_t got = 0;
    pipa_ckpt_path(path, sizeof path, dir, shard_index(tr));
    pipa_status s = pipa_ckpt_load(path, &meta, st.t, st.n, step, &got);
    shard_tensors_free(&st);
    PIPA_TRY(s);
    if (got != step)
        return pipa__fail(PIPA_ERR_FORMAT, "%s: field 'step' is %lld, but its set is of step %lld",
                          path, (long long)got, (long long)step);
    set_steps(tr, got);
    return pipa__runtime_tied_load(tr);  // tied: the last stage's copy from the first stage
}
