/* runtime_ckpt.c: a trainer's checkpoint shard (src/ckpt.c) holding its chunks' weights and
 * optimizer moments and, where it has them, the model's ends. The shard records the model
 * shape, the pipeline layout, this rank's layers and the caller's extra settings (pipa-train:
 * the corpus), so a checkpoint from another model, split or corpus is refused with a message
 * naming what differs. Saving a whole set atomically (begin, every rank's shard, commit) is the
 * caller's collective: see ckpt.h. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "ckpt.h"
#include "runtime.h"

#define MAX_T (3 * (PIPA_MAX_CHUNKS + 1))

static int64_t nano(float f) { return llround((double)f * 1e9); }

static pipa_ckpt_meta_t trainer_meta(const pipa_trainer_t *tr, const pipa_ckpt_meta_t *extra)
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
    return meta;
}

static void add(pipa_ckpt_tensor_t *t, int *n, const char *name, float *data, size_t count)
{
    if (!data || !count) return;
    t[*n].name = name;
    t[*n].data = data;
    t[*n].count = count;
    (*n)++;
}

/* Every float array of my part that a resumed run needs, in a fixed order. */
static int trainer_tensors(pipa_trainer_t *tr, pipa_ckpt_tensor_t *t, char names[][PIPA_CKPT_NAME])
{
    int n = 0;
    for (int c = 0; c < tr->V; c++) {
        pipa_chunk_t *ch = &tr->chunk[c];
        snprintf(names[n], PIPA_CKPT_NAME, "chunk%d.weights", c);
        add(t, &n, names[n], ch->w.params, ch->w.n_params);
        snprintf(names[n], PIPA_CKPT_NAME, "chunk%d.moments", c);
        add(t, &n, names[n], ch->opt.state, ch->opt.state ? 2 * ch->opt.n : 0);
    }
    if (tr->has_ends) {
        add(t, &n, "ends.weights", tr->ends.params, tr->ends.n_params);
        add(t, &n, "ends.moments", tr->ends_opt.state, tr->ends_opt.state ? 2 * tr->ends_opt.n : 0);
    }
    return n;
}

pipa_status pipa_trainer_save(pipa_trainer_t *tr, const char *dir, const pipa_ckpt_meta_t *extra)
{
    pipa_ckpt_tensor_t t[MAX_T];
    char names[MAX_T][PIPA_CKPT_NAME];
    int n = trainer_tensors(tr, t, names);
    pipa_ckpt_meta_t meta = trainer_meta(tr, extra);
    return pipa_ckpt_save(dir, tr->rank, &meta, t, n, tr->steps);
}

static void set_steps(pipa_trainer_t *tr, int64_t steps)
{
    tr->steps = steps;
    for (int c = 0; c < tr->V; c++) tr->chunk[c].opt.t = steps;
    if (tr->has_ends) tr->ends_opt.t = steps;
}

pipa_status pipa_trainer_load(pipa_trainer_t *tr, const char *dir, const pipa_ckpt_meta_t *extra,
                              int64_t step)
{
    pipa_ckpt_tensor_t t[MAX_T];
    char names[MAX_T][PIPA_CKPT_NAME];
    int n = trainer_tensors(tr, t, names);
    pipa_ckpt_meta_t meta = trainer_meta(tr, extra);
    char path[4096];
    int64_t got = 0;
    pipa_ckpt_path(path, sizeof path, dir, tr->rank);
    PIPA_TRY(pipa_ckpt_load(path, &meta, t, n, step, &got));
    if (got != step)
        return pipa__fail(PIPA_ERR_FORMAT, "%s: field 'step' is %lld, but its set is of step %lld",
                          path, (long long)got, (long long)step);
    set_steps(tr, got);
    return PIPA_OK;
}
