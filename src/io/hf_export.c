/* hf_export.c: writing a Hugging Face model folder from tensor tables (hf_model.h): each global
 * tensor is assembled whole from the tables' slices into one scratch buffer, then streamed into
 * model.safetensors, so the memory beyond the tables is one tensor. */
#include "io/hf_model.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* A distinct tensor of the tables: its first appearance, and its place in the model. */
typedef struct {
    const pipa_tensor_t *first;
    int index;  /* pipa_hf_model_index */
} entry_t;

static int cmp_index(const void *a, const void *b)
{
    return ((const entry_t *)a)->index - ((const entry_t *)b)->index;
}

/* The distinct names of the tables into e (room for every tensor of every table), sorted in the
 * model's order; their count. Quadratic in the count, which is small (9 per layer). */
static int collect(const pipa_hf_config_t *c, const pipa_tensors_t *tabs, int n_tabs, entry_t *e)
{
    int n = 0;
    for (int k = 0; k < n_tabs; k++)
        for (int i = 0; i < tabs[k].n; i++) {
            const pipa_tensor_t *t = &tabs[k].t[i];
            int j = 0;
            while (j < n && strcmp(e[j].first->name, t->name) != 0) j++;
            if (j == n) e[n++] = (entry_t){t, pipa_hf_model_index(c, t->name)};
        }
    qsort(e, (size_t)n, sizeof *e, cmp_index);
    return n;
}

/* Every tensor the model needs is among the n collected, and nothing else is. */
static pipa_status check_complete(const pipa_hf_config_t *c, const entry_t *e, int n)
{
    int needed = 2 + 9 * c->cfg.L + !c->cfg.tie_embeddings;  // embed, norm, layers, lm_head
    for (int j = 0; j < n; j++)
        if (e[j].index < 0)
            return pipa__fail(PIPA_ERR_ARG, "export: tensor %s is not part of the model that "
                              "config describes (%d layers)", e[j].first->name, c->cfg.L);
    if (n != needed)
        return pipa__fail(PIPA_ERR_ARG, "export: the tables hold %d of the model's %d tensors",
                          n, needed);
    return PIPA_OK;
}

/* The tensor called t->name assembled whole into buf from every table's slice of it. */
static pipa_status assemble(const pipa_tensors_t *tabs, float *const *bases, int n_tabs,
                            const pipa_tensor_t *t, float *buf)
{
    size_t full = (size_t)t->full[0] * (size_t)(t->ndim == 2 ? t->full[1] : 1), covered = 0;
    size_t cols = t->ndim == 2 ? (size_t)t->full[1] : 1;
    for (int k = 0; k < n_tabs; k++) {
        const pipa_tensor_t *s = pipa_tensors_find(&tabs[k], t->name);
        if (!s) continue;
        if (s->ndim != t->ndim || s->full[0] != t->full[0] || (t->ndim == 2 && s->full[1] != t->full[1]))
            return pipa__fail(PIPA_ERR_ARG, "export: tensor %s: tables disagree on its full shape",
                              t->name);
        /* A replicated piece (the norms on every tensor rank) counts once: pieces of one tensor
         * either are the same slice or do not overlap (tensors.h's split). */
        int seen = 0;
        for (int q = 0; q < k && !seen; q++) {
            const pipa_tensor_t *o = pipa_tensors_find(&tabs[q], t->name);
            seen = o && o->start[0] == s->start[0] && o->start[1] == s->start[1];
        }
        if (!seen) covered += s->count;
        size_t rows = (size_t)s->shape[0], nc = t->ndim == 2 ? (size_t)s->shape[1] : 1;
        if (t->ndim == 1) rows = 1, nc = (size_t)s->shape[0];
        size_t r0 = t->ndim == 2 ? (size_t)s->start[0] : 0;
        size_t c0 = t->ndim == 2 ? (size_t)s->start[1] : (size_t)s->start[0];
        size_t row_len = t->ndim == 2 ? cols : full;
        for (size_t r = 0; r < rows; r++)
            memcpy(buf + (r0 + r) * row_len + c0, bases[k] + s->offset + r * nc, nc * sizeof *buf);
    }
    if (covered != full)
        return pipa__fail(PIPA_ERR_ARG, "export: tensor %s: the tables hold %zu of its %zu "
                          "elements", t->name, covered, full);
    return PIPA_OK;
}

static pipa_status write_tensors(const char *path, const pipa_tensors_t *tabs, float *const *bases,
                                 int n_tabs, const entry_t *e, pipa_st_out_t *out, int n)
{
    size_t most = 0;
    for (int j = 0; j < n; j++) {
        const pipa_tensor_t *t = e[j].first;
        size_t full = (size_t)t->full[0] * (size_t)(t->ndim == 2 ? t->full[1] : 1);
        if (full > most) most = full;
    }
    float *buf = malloc((most ? most : 1) * sizeof *buf);
    if (!buf) return pipa__fail(PIPA_ERR_NOMEM, "export: out of memory for %zu floats", most);
    static const char *const keys[] = {"format"}, *const values[] = {"pt"};  // transformers wants it
    pipa_st_writer_t w;
    pipa_status s = pipa_st_write_begin(&w, path, out, n, keys, values, 1);
    for (int j = 0; j < n && s == PIPA_OK; j++) {
        s = assemble(tabs, bases, n_tabs, e[j].first, buf);
        if (s == PIPA_OK) s = pipa_st_write_tensor(&w, buf);
    }
    if (s == PIPA_OK) s = pipa_st_write_end(&w);
    else pipa_st_write_abort(&w);
    free(buf);
    return s;
}

pipa_status pipa_hf_model_export(const char *dir, const pipa_hf_config_t *c,
                                 const pipa_tensors_t *tabs, float *const *bases, int n_tabs,
                                 pipa_dtype dtype)
{
    if (dtype != PIPA_F32 && dtype != PIPA_BF16)
        return pipa__fail(PIPA_ERR_ARG, "export: dtype %s (f32 or bf16)", pipa_dtype_name(dtype));
    int total = 0;
    for (int k = 0; k < n_tabs; k++) total += tabs[k].n;
    entry_t *e = calloc((size_t)(total ? total : 1), sizeof *e);
    pipa_st_out_t *out = calloc((size_t)(total ? total : 1), sizeof *out);
    pipa_status s = e && out ? PIPA_OK : pipa__fail(PIPA_ERR_NOMEM, "export: out of memory");
    int n = s == PIPA_OK ? collect(c, tabs, n_tabs, e) : 0;
    if (s == PIPA_OK) s = check_complete(c, e, n);
    for (int j = 0; j < n; j++) {
        const pipa_tensor_t *t = e[j].first;
        out[j] = (pipa_st_out_t){.name = t->name, .dtype = dtype, .ndim = t->ndim,
                                 .shape = {t->full[0], t->full[1]}};
    }
    if (s == PIPA_OK && mkdir(dir, 0755) != 0 && errno != EEXIST)
        s = pipa__fail(PIPA_ERR_IO, "export: cannot create %s: %s", dir, strerror(errno));
    char path[4200];
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    if (s == PIPA_OK) s = write_tensors(path, tabs, bases, n_tabs, e, out, n);
    snprintf(path, sizeof path, "%s/config.json", dir);
    if (s == PIPA_OK)
        s = pipa_hf_config_write(c, path, dtype == PIPA_F32 ? "float32" : "bfloat16");
    free(e);
    free(out);
    return s;
}
