/* hf_model.c: loading a Hugging Face model folder into a stage's tensor table (hf_model.h). The
 * index is read whole at open (it is small); safetensors files are mapped only when a tensor of
 * the stage lives in them. The export is hf_export.c. */
#include "io/hf_model.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define INDEX_NAME "model.safetensors.index.json"
#define SINGLE_NAME "model.safetensors"
#define INDEX_MAX_BYTES (100u << 20)
#define EXTRAS_LISTED 16  /* unused tensors named in one message; the rest are counted */

/* ---- which names the model uses ----------------------------------------------------------- */

/* Tensors some checkpoints carry that no model computation reads, ignored rather than refused:
 * - model.layers.{i}.self_attn.rotary_emb.inv_freq: older transformers saved RoPE's inverse
 *   frequencies as a buffer; pipa computes them from rope_theta, as transformers now does.
 * - lm_head.weight of a tied model: transformers overwrites it with the embedding (tie_weights),
 *   so its stored values are never used. */
static int is_harmless(const pipa_hf_config_t *c, const char *name)
{
    size_t n = strlen(name);
    const char *inv = ".self_attn.rotary_emb.inv_freq";
    if (n > strlen(inv) && strcmp(name + n - strlen(inv), inv) == 0) return 1;
    return c->cfg.tie_embeddings && strcmp(name, "lm_head.weight") == 0;
}

int pipa_hf_model_index(const pipa_hf_config_t *c, const char *name)
{
    int L = c->cfg.L;
    if (strcmp(name, "model.embed_tokens.weight") == 0) return 0;
    if (strcmp(name, "model.norm.weight") == 0) return 1 + 9 * L;
    if (strcmp(name, "lm_head.weight") == 0) return c->cfg.tie_embeddings ? -1 : 2 + 9 * L;
    int layer = -1, at = 0;
    if (sscanf(name, "model.layers.%d.%n", &layer, &at) != 1 || at == 0 || layer < 0 || layer >= L)
        return -1;
    char buf[PIPA_TENSOR_NAME];
    for (int w = 0; w < 9; w++) {
        pipa_tensors_layer_name(buf, layer, w);
        if (strcmp(buf, name) == 0) return 1 + 9 * layer + w;
    }
    return -1;
}

/* Names (n of them, from names[i] or keys) the model neither uses nor may ignore: an error
 * listing them, naming where they are. */
static pipa_status check_extras(const pipa_hf_config_t *c, char *const *names, size_t n,
                                const char *where)
{
    char list[2048] = "";
    size_t len = 0, bad = 0;
    for (size_t i = 0; i < n; i++) {
        if (strcmp(names[i], "__metadata__") == 0 || pipa_hf_model_index(c, names[i]) >= 0 ||
            is_harmless(c, names[i]))
            continue;
        if (bad++ < EXTRAS_LISTED && len < sizeof list)
            len += (size_t)snprintf(list + len, sizeof list - len, "%s%s", bad > 1 ? ", " : "",
                                    names[i]);
    }
    if (bad == 0) return PIPA_OK;
    return pipa__fail(PIPA_ERR_FORMAT, "%s: %zu tensor(s) that no part of the model uses (%d "
                      "layers): %s%s", where, bad, c->cfg.L, list,
                      bad > EXTRAS_LISTED ? ", ..." : "");
}

/* ---- open and close ----------------------------------------------------------------------- */

/* A file name from the index: a plain name inside the folder, nothing that climbs out of it. */
static int plain_name(const char *s)
{
    return s[0] && s[0] != '.' && !strchr(s, '/') && !strchr(s, '\\') && strlen(s) < 1024;
}

static pipa_status add_file(pipa_hf_model_t *m, const char *name)
{
    for (int i = 0; i < m->n_files; i++)
        if (strcmp(m->files[i], name) == 0) return PIPA_OK;
    char **files = realloc(m->files, (size_t)(m->n_files + 1) * sizeof *files);
    if (files) m->files = files;
    char *copy = files ? strdup(name) : NULL;
    if (!copy) return pipa__fail(PIPA_ERR_NOMEM, "%s: out of memory", m->dir);
    m->files[m->n_files++] = copy;
    return PIPA_OK;
}

static pipa_status read_index(pipa_hf_model_t *m, const char *path)
{
    PIPA_TRY(pipa_json_parse_file(&m->index, path, INDEX_MAX_BYTES));
    const pipa_json_value_t *wm = pipa_json_get(&m->index.root, "weight_map");
    if (!wm || wm->kind != PIPA_JSON_OBJECT)
        return pipa__fail(PIPA_ERR_FORMAT, "%s: no \"weight_map\" object", path);
    for (size_t i = 0; i < wm->len; i++) {
        const pipa_json_value_t *f = &wm->items[i];
        if (f->kind != PIPA_JSON_STRING || !plain_name(f->str) || strlen(f->str) != f->len)
            return pipa__fail(PIPA_ERR_FORMAT, "%s:%d:%d: tensor %s: the file must be a plain "
                              "file name in the folder", path, f->line, f->col, wm->keys[i]);
        PIPA_TRY(add_file(m, f->str));
    }
    m->weight_map = wm;
    return check_extras(&m->config, wm->keys, wm->len, path);
}

pipa_status pipa_hf_model_open(pipa_hf_model_t *m, const char *dir)
{
    memset(m, 0, sizeof *m);
    snprintf(m->dir, sizeof m->dir, "%s", dir);
    char path[4200];
    snprintf(path, sizeof path, "%s/config.json", dir);
    PIPA_TRY(pipa_hf_config_read(&m->config, path));
    snprintf(path, sizeof path, "%s/" INDEX_NAME, dir);
    if (access(path, F_OK) == 0) PIPA_TRY(read_index(m, path));
    else PIPA_TRY(add_file(m, SINGLE_NAME));
    m->st = calloc((size_t)m->n_files, sizeof *m->st);
    if (!m->st) return pipa__fail(PIPA_ERR_NOMEM, "%s: out of memory", dir);
    return PIPA_OK;
}

void pipa_hf_model_close(pipa_hf_model_t *m)
{
    for (int i = 0; i < m->n_files; i++) {
        if (m->st) pipa_st_close(&m->st[i]);
        free(m->files[i]);
    }
    free(m->st);
    free(m->files);
    pipa_json_doc_free(&m->index);
    memset(m, 0, sizeof *m);
}

/* ---- loading ------------------------------------------------------------------------------ */

/* File i, opened (mapped and checked) on first use. */
static pipa_status open_file(pipa_hf_model_t *m, int i, const pipa_st_file_t **out)
{
    pipa_st_file_t *f = &m->st[i];
    if (!f->map) {
        char path[4200];
        snprintf(path, sizeof path, "%s/%s", m->dir, m->files[i]);
        pipa_status s = pipa_st_open(f, path);
        if (s == PIPA_OK && !f->map)
            s = pipa__fail(PIPA_ERR_FORMAT, "%s: empty file", path);  // mmap of 0 bytes
        if (s != PIPA_OK) {
            pipa_st_close(f);
            return s;
        }
        m->n_opened++;
        char **names = malloc((size_t)(f->n ? f->n : 1) * sizeof *names);
        if (!names) return pipa__fail(PIPA_ERR_NOMEM, "%s: out of memory", path);
        for (int k = 0; k < f->n; k++) names[k] = (char *)f->t[k].name;
        s = check_extras(&m->config, names, (size_t)f->n, path);
        free(names);
        PIPA_TRY(s);
    }
    *out = f;
    return PIPA_OK;
}

/* Which file holds the tensor called name (the index's say, or the single file). */
static pipa_status file_of(const pipa_hf_model_t *m, const char *name, int *i)
{
    *i = 0;
    if (!m->weight_map) return PIPA_OK;
    const pipa_json_value_t *f = pipa_json_get(m->weight_map, name);
    if (!f)
        return pipa__fail(PIPA_ERR_FORMAT, "%s/" INDEX_NAME ": tensor %s is missing from its "
                          "weight_map", m->dir, name);
    for (*i = 0; *i < m->n_files; ++*i)
        if (strcmp(m->files[*i], f->str) == 0) return PIPA_OK;
    PIPA_ASSERT(0);  // every weight_map file was added at open
}

static void shape_text(char *buf, size_t len, const int64_t *shape, int ndim)
{
    size_t at = (size_t)snprintf(buf, len, "(");
    for (int d = 0; d < ndim && at < len; d++)
        at += (size_t)snprintf(buf + at, len - at, "%s%lld", d ? ", " : "", (long long)shape[d]);
    if (at < len) snprintf(buf + at, len - at, ")");
}

static pipa_status load_one(pipa_hf_model_t *m, const pipa_tensor_t *t, float *dst)
{
    int i;
    const pipa_st_file_t *f;
    PIPA_TRY(file_of(m, t->name, &i));
    PIPA_TRY(open_file(m, i, &f));
    const pipa_st_tensor_t *st = pipa_st_find(f, t->name);
    if (!st)
        return pipa__fail(PIPA_ERR_FORMAT, "%s: tensor %s is missing (the model needs it%s)",
                          f->path, t->name, m->weight_map ? "; the index puts it here" : "");
    int same = st->ndim == t->ndim;
    for (int d = 0; d < t->ndim && same; d++) same = st->shape[d] == t->full[d];
    if (!same) {
        char has[128], want[128];
        shape_text(has, sizeof has, st->shape, st->ndim);
        shape_text(want, sizeof want, t->full, t->ndim);
        return pipa__fail(PIPA_ERR_FORMAT, "%s: tensor %s has shape %s; the model (config.json) "
                          "needs %s", f->path, t->name, has, want);
    }
    return pipa_st_read(f, st, t->start, t->shape, dst);
}

pipa_status pipa_hf_model_load(pipa_hf_model_t *m, const pipa_tensors_t *tab, float *base)
{
    for (int k = 0; k < tab->n; k++) PIPA_TRY(load_one(m, &tab->t[k], base + tab->t[k].offset));
    return PIPA_OK;
}
