/* tensors.c: the tensor table (see tensors.h): names, shapes, init rules and the layout of a
 * stage's parameters, laid out with the one carve allocator (arena.h), and the views that point
 * the layers' and ends' fields at it. */
#include "model/tensors.h"

#include <stdlib.h>
#include <string.h>

#include "base/arena.h"
#include "model/backend.h"

/* ---- names and rules ---------------------------------------------------------------------- */

/* A layer's tensors in memory order. The index is also the tensor id of the random stream, so
 * reordering this table changes every weight: append, never reorder. */
enum { N_LAYER_TENSORS = 9 };
static const char *const layer_suffix[N_LAYER_TENSORS] = {
    "input_layernorm.weight", "self_attn.q_proj.weight", "self_attn.k_proj.weight",
    "self_attn.v_proj.weight", "self_attn.o_proj.weight", "post_attention_layernorm.weight",
    "mlp.gate_proj.weight", "mlp.up_proj.weight", "mlp.down_proj.weight"};

/* Stream ids at or above this are not layer tensors (see PIPA_STREAM_INPUT in rand.h). */
_Static_assert((int)N_LAYER_TENSORS <= (int)PIPA_STREAM_INPUT, "layer tensor ids collide");

void pipa_tensors_layer_name(char *buf, int layer, int which)
{
    PIPA_ASSERT(which >= 0 && which < N_LAYER_TENSORS);
    snprintf(buf, PIPA_TENSOR_NAME, "model.layers.%d.%s", layer, layer_suffix[which]);
}

static void set(pipa_tensor_t *t, const char *name, int64_t d0, int64_t d1, int fan_in,
                uint64_t a, uint64_t b)
{
    memset(t, 0, sizeof *t);
    snprintf(t->name, sizeof t->name, "%s", name);
    t->dtype = PIPA_F32;
    t->ndim = d1 ? 2 : 1;
    t->shape[0] = t->full[0] = d0;
    t->shape[1] = t->full[1] = d1;
    t->count = (size_t)d0 * (size_t)(d1 ? d1 : 1);
    t->fan_in = fan_in;
    t->stream_a = a;
    t->stream_b = b;
}

/* Layer i's tensors into t: norms (C), q and o (C, C), k and v (KC, C) (KC = NKV * HS: the
 * key/value heads), gate and up (I, C), down (C, I); fan-in C except down's I. */
static void layer_tensors(pipa_tensor_t *t, const pipa_model_config_t *cfg, int i)
{
    const int64_t C = cfg->C, I = cfg->I, KC = (int64_t)pipa_config_nkv(cfg) * (C / cfg->NH);
    const int64_t d0[N_LAYER_TENSORS] = {C, C, KC, KC, C, C, I, I, C};
    const int64_t d1[N_LAYER_TENSORS] = {0, C, C, C, C, 0, C, C, I};
    const int fan[N_LAYER_TENSORS] = {0, cfg->C, cfg->C, cfg->C, cfg->C, 0, cfg->C, cfg->C, cfg->I};
    char name[PIPA_TENSOR_NAME];
    for (int w = 0; w < N_LAYER_TENSORS; w++) {
        pipa_tensors_layer_name(name, i, w);
        set(&t[w], name, d0[w], d1[w], fan[w], (uint64_t)i, (uint64_t)w);
    }
}

/* ---- tensor-parallel slices -------------------------------------------------------------- */

/* How a tensor is split across a tensor group (tensors.h): whole, by rows, by columns. */
typedef enum { WHOLE, ROWS, COLS } split_t;
static const split_t layer_split[N_LAYER_TENSORS] = {WHOLE, ROWS, ROWS, ROWS, COLS,
                                                      WHOLE, ROWS, ROWS, COLS};

/* Narrows t to part `rank` of `size` along its split dimension (which size divides). */
static void slice(pipa_tensor_t *t, split_t how, int rank, int size)
{
    if (how == WHOLE || size == 1) return;
    int d = how == ROWS ? 0 : 1;
    t->shape[d] = t->full[d] / size;
    t->start[d] = t->shape[d] * rank;
    t->count = (size_t)t->shape[0] * (size_t)(t->ndim == 2 ? t->shape[1] : 1);
}

static pipa_status check_tp(const pipa_model_config_t *cfg, int vocab, int ends, int rank, int size)
{
    if (size < 1 || rank < 0 || rank >= size)
        return pipa__fail(PIPA_ERR_ARG, "tensor table: tensor rank %d is not inside a group of %d",
                          rank, size);
    PIPA_TRY(pipa_config_check_tp(cfg, size));
    if (ends && vocab % size != 0)
        return pipa__fail(PIPA_ERR_ARG, "tensor parallel: the vocabulary (%d) is not divisible by "
                          "tp %d", vocab, size);
    return PIPA_OK;
}

/* ---- the table ---------------------------------------------------------------------------- */

static pipa_status check_ranges(const pipa_model_config_t *cfg, int vocab,
                                const pipa_layer_range_t *r, int n, int ends)
{
    PIPA_TRY(pipa_config_check(cfg));
    if (ends && vocab < 1)
        return pipa__fail(PIPA_ERR_ARG, "tensor table: vocab must be positive, not %d", vocab);
    for (int i = 0; i < n; i++) {
        if (r[i].first < 0 || r[i].count < 0 || r[i].first > cfg->L - r[i].count)
            return pipa__fail(PIPA_ERR_ARG, "layers [%d, %d) are not inside the model's %d layers",
                              r[i].first, r[i].first + r[i].count, cfg->L);
        for (int j = 0; j < i; j++)
            if (r[i].count && r[j].count && r[i].first < r[j].first + r[j].count &&
                r[j].first < r[i].first + r[i].count)
                return pipa__fail(PIPA_ERR_ARG, "layer ranges %d and %d overlap", j, i);
    }
    return PIPA_OK;
}

/* Lays out the n_groups groups (group[k] tensors from tensor start[k] on): packed inside a
 * group, each group on a multiple of 16 elements; sets every offset and tab->total. */
static pipa_status lay_out(pipa_tensors_t *tab, const int *start, int n_groups)
{
    pipa_piece_t *p = calloc((size_t)tab->n + (size_t)n_groups + 1, sizeof *p);
    size_t *off = calloc((size_t)tab->n + (size_t)n_groups + 1, sizeof *off);
    if (!p || !off) {
        free(p), free(off);
        return pipa__fail(PIPA_ERR_NOMEM, "tensor table: out of memory");
    }
    pipa_piece_t *groups = p + tab->n;
    size_t *goff = off + tab->n;
    for (int i = 0; i < tab->n; i++) p[i] = (pipa_piece_t){tab->t[i].name, tab->t[i].count};
    for (int k = 0; k < n_groups; k++)
        groups[k] = (pipa_piece_t){"group", pipa_arena_layout(p + start[k], start[k + 1] - start[k],
                                                              1, off + start[k])};
    tab->total = pipa_arena_layout(groups, n_groups, 16, goff);
    for (int k = 0; k < n_groups; k++)
        for (int i = start[k]; i < start[k + 1]; i++) tab->t[i].offset = goff[k] + off[i];
    free(p), free(off);
    return PIPA_OK;
}

pipa_status pipa_tensors_build(pipa_tensors_t *tab, const pipa_model_config_t *cfg, int vocab,
                               const pipa_layer_range_t *ranges, int n_ranges, int has_embedding,
                               int has_head)
{
    return pipa_tensors_build_tp(tab, cfg, vocab, ranges, n_ranges, has_embedding, has_head, 0, 1);
}

pipa_status pipa_tensors_build_tp(pipa_tensors_t *tab, const pipa_model_config_t *cfg, int vocab,
                                  const pipa_layer_range_t *ranges, int n_ranges,
                                  int has_embedding, int has_head, int tp_rank, int tp_size)
{
    memset(tab, 0, sizeof *tab);
    PIPA_TRY(check_ranges(cfg, vocab, ranges, n_ranges, has_embedding || has_head));
    PIPA_TRY(check_tp(cfg, vocab, has_embedding || has_head, tp_rank, tp_size));
    int n = (has_embedding ? 1 : 0) + (has_head ? 2 : 0);
    for (int r = 0; r < n_ranges; r++) n += N_LAYER_TENSORS * ranges[r].count;
    int *start = calloc((size_t)n_ranges + 3, sizeof *start);
    tab->t = calloc((size_t)n + 1, sizeof *tab->t);
    if (!start || !tab->t) {
        free(start);
        pipa_tensors_free(tab);
        return pipa__fail(PIPA_ERR_NOMEM, "tensor table: out of memory for %d tensors", n);
    }
    tab->cfg = *cfg;
    tab->vocab = vocab;
    tab->tp_rank = tp_rank;
    tab->tp_size = tp_size;
    tab->has_embedding = has_embedding;
    tab->has_head = has_head;
    const int tied = cfg->tie_embeddings != 0;
    const int64_t V = vocab, C = cfg->C;
    const uint64_t L = (uint64_t)cfg->L;
    int k = 0;  // groups: embedding, the ranges, head (the ends' streams: ends.h)
    if (has_embedding) {
        set(&tab->t[tab->n], "model.embed_tokens.weight", V, C, 1, 0, PIPA_STREAM_EMBED);
        slice(&tab->t[tab->n++], ROWS, tp_rank, tp_size);
    }
    for (int r = 0; r < n_ranges; r++) {
        start[++k] = tab->n;
        for (int l = 0; l < ranges[r].count; l++, tab->n += N_LAYER_TENSORS) {
            layer_tensors(&tab->t[tab->n], cfg, ranges[r].first + l);
            for (int w = 0; w < N_LAYER_TENSORS; w++)
                slice(&tab->t[tab->n + w], layer_split[w], tp_rank, tp_size);
        }
    }
    start[++k] = tab->n;
    if (has_head) {
        set(&tab->t[tab->n++], "model.norm.weight", C, 0, 0, L, 0);
        if (!tied) set(&tab->t[tab->n], "lm_head.weight", V, C, cfg->C, L, 1);
        else if (!has_embedding)  // tied, the embedding elsewhere: a copy of it (tensors.h)
            set(&tab->t[tab->n], "model.embed_tokens.weight", V, C, 1, 0, PIPA_STREAM_EMBED);
        if (!tied || !has_embedding) slice(&tab->t[tab->n++], ROWS, tp_rank, tp_size);
    }
    start[++k] = tab->n;
    pipa_status s = lay_out(tab, start, k);
    free(start);
    if (s != PIPA_OK) pipa_tensors_free(tab);
    return s;
}

void pipa_tensors_free(pipa_tensors_t *tab)
{
    free(tab->t);
    memset(tab, 0, sizeof *tab);
}

const pipa_tensor_t *pipa_tensors_find(const pipa_tensors_t *tab, const char *name)
{
    for (int i = 0; i < tab->n; i++)
        if (strcmp(tab->t[i].name, name) == 0) return &tab->t[i];
    return NULL;
}

/* p = t's values: row r of the slice is elements [(start0 + r) full1 + start1, + shape1) of the
 * full tensor's stream (full1 1 for a vector), so a slice holds exactly the one-process values. */
static void init_slice(float *p, const pipa_tensor_t *t, uint64_t seed)
{
    size_t cols = t->ndim == 2 ? (size_t)t->shape[1] : 1;
    size_t full_cols = t->ndim == 2 ? (size_t)t->full[1] : 1;
    if (cols == full_cols) {  // whole rows: one run of the stream
        pipa__init_tensor_at(p, t->count, (size_t)t->start[0] * full_cols, t->fan_in, seed,
                             t->stream_a, t->stream_b);
        return;
    }
    for (size_t r = 0; r < (size_t)t->shape[0]; r++)
        pipa__init_tensor_at(p + r * cols, cols, ((size_t)t->start[0] + r) * full_cols +
                             (size_t)t->start[1], t->fan_in, seed, t->stream_a, t->stream_b);
}

pipa_status pipa_tensors_alloc(const pipa_tensors_t *tab, float **out, int init, const char *what)
{
    void *buf;
    PIPA_TRY(pipa_backend_alloc(&buf, tab->total, 1, what));
    *out = buf;
    for (int i = 0; init && i < tab->n; i++) init_slice(*out + tab->t[i].offset, &tab->t[i],
                                                       tab->cfg.seed);
    return PIPA_OK;
}

/* ---- views -------------------------------------------------------------------------------- */

/* base + the offset of the tensor called name; NULL if the table has none. */
static float *at(const pipa_tensors_t *tab, float *base, const char *name)
{
    const pipa_tensor_t *t = pipa_tensors_find(tab, name);
    return t ? base + t->offset : NULL;
}

pipa_status pipa_tensors_view_layers(const pipa_tensors_t *tab, float *base, int first, int count,
                                     pipa_layers_t *ls)
{
    memset(ls, 0, sizeof *ls);
    ls->cfg = tab->cfg;
    ls->first = first;
    ls->count = count;
    ls->tp_rank = tab->tp_rank;
    ls->tp_size = tab->tp_size;
    ls->n_params = pipa_layer_param_count_tp(&tab->cfg, tab->tp_size) * (size_t)count;
    if (count == 0) return PIPA_OK;
    ls->layers = calloc((size_t)count, sizeof *ls->layers);
    if (!ls->layers) return pipa__fail(PIPA_ERR_NOMEM, "layers [%d, %d): out of memory", first,
                                       first + count);
    for (int l = 0; l < count; l++) {
        pipa_layer_t *y = &ls->layers[l];
        float **const fields[N_LAYER_TENSORS] = {&y->attn_norm, &y->wq, &y->wk, &y->wv, &y->wo,
                                                 &y->mlp_norm, &y->w_gate, &y->w_up, &y->w_down};
        for (int w = 0; w < N_LAYER_TENSORS; w++) {
            char name[PIPA_TENSOR_NAME];
            pipa_tensors_layer_name(name, first + l, w);
            if (!(*fields[w] = at(tab, base, name))) {
                pipa_layers_free(ls);
                return pipa__fail(PIPA_ERR_ARG, "the tensor table has no %s", name);
            }
        }
    }
    /* A range is one packed vector (tensors.h): the optimizer-free readers (hashes) see it whole. */
    ls->params = ls->layers[0].attn_norm;
    PIPA_ASSERT(ls->layers[count - 1].w_down + (size_t)tab->cfg.C * tab->cfg.I / tab->tp_size ==
                ls->params + ls->n_params);
    return PIPA_OK;
}

void pipa_tensors_view_ends(const pipa_tensors_t *tab, float *base, pipa_ends_t *e)
{
    memset(e, 0, sizeof *e);
    e->cfg = tab->cfg;
    e->V = tab->vocab / tab->tp_size;  // the rows it holds (the whole vocabulary without tp)
    e->v0 = e->V * tab->tp_rank;
    e->tp_size = tab->tp_size;
    float *wte = at(tab, base, "model.embed_tokens.weight");
    e->has_embedding = tab->has_embedding && wte != NULL;
    e->has_head = tab->has_head;
    e->wte = e->has_embedding ? wte : NULL;
    e->final_norm = at(tab, base, "model.norm.weight");
    e->lm_head = !e->has_head               ? NULL
                 : tab->cfg.tie_embeddings ? wte  // tied: the embedding or its copy
                                           : at(tab, base, "lm_head.weight");
    e->n_params = pipa_ends_param_count(&tab->cfg, e->V, e->has_embedding, e->has_head);
}

void pipa_tensors_print(const pipa_tensors_t *tab, FILE *f)
{
    for (int i = 0; i < tab->n; i++) {
        const pipa_tensor_t *t = &tab->t[i];
        char shape[64];
        if (t->ndim == 1) snprintf(shape, sizeof shape, "(%lld)", (long long)t->shape[0]);
        else snprintf(shape, sizeof shape, "(%lld, %lld)", (long long)t->shape[0],
                      (long long)t->shape[1]);
        fprintf(f, "%-52s f32 %-14s offset %-10zu count %zu", t->name, shape, t->offset, t->count);
        if (t->full[0] != t->shape[0] || t->full[1] != t->shape[1])
            fprintf(f, " slice [%lld:%lld, %lld:%lld] of (%lld, %lld)", (long long)t->start[0],
                    (long long)(t->start[0] + t->shape[0]), (long long)t->start[1],
                    (long long)(t->start[1] + t->shape[1]), (long long)t->full[0],
                    (long long)t->full[1]);
        fputc('\n', f);
    }
}
