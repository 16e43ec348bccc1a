/* hf_model.h: a Hugging Face model folder, loaded into a stage's tensor table and exported from
 * tables.
 *
 * A folder: config.json (hf_config.h) and either model.safetensors or shards named by
 * model.safetensors.index.json ({"weight_map": {tensor name: file name}}). Loading fills a
 * stage's table (tensors.h, from pipa_tensors_build or pipa_tensors_build_tp): each table tensor
 * is looked up by its global name, its full shape checked, and only its slice converted to f32
 * into the table's allocation; only the files holding the stage's tensors are opened (mapped).
 * Errors name the file and tensor: a missing tensor (and the file it should be in), a wrong
 * shape, a tensor the model does not use (all of them listed; see is_harmless in hf_model.c for
 * those ignored), besides the file checks of safetensors.h and hf_config.h.
 *
 * How a tool loads its stage:
 *
 *   pipa_hf_model_t m;
 *   PIPA_TRY(pipa_hf_model_open(&m, dir));          // config.json and the index; no tensor yet
 *   pipa_tensors_t tab;                             // the stage's table, from m.config
 *   pipa_tensors_build_tp(&tab, &m.config.cfg, m.config.vocab, ranges, n, has_emb, has_head,
 *                         tp_rank, tp_size);
 *   float *w;  pipa_tensors_alloc(&tab, &w, 0, "weights");
 *   pipa_status s = pipa_hf_model_load(&m, &tab, w);
 *   pipa_hf_model_close(&m);                        // unmaps; w holds the weights
 *
 * Export (hf_export.c): config.json + model.safetensors from the tables of every stage and
 * tensor rank, in one process. Left out: writing shards, F16 output. */
#ifndef PIPA_HF_MODEL_H
#define PIPA_HF_MODEL_H

#include "base/json_read.h"
#include "io/hf_config.h"
#include "io/safetensors.h"
#include "model/tensors.h"

typedef struct {
    char dir[4096];
    pipa_hf_config_t config;     /* from config.json */
    pipa_json_doc_t index;       /* model.safetensors.index.json; empty for a single file */
    const pipa_json_value_t *weight_map;  /* its "weight_map", or NULL for a single file */
    int n_files;                 /* model.safetensors alone, or the index's distinct files */
    char **files;                /* (n_files) names inside dir */
    pipa_st_file_t *st;          /* (n_files); st[i].map != NULL once file i is opened */
    int n_opened;                /* files opened so far (a stage opens only its own) */
} pipa_hf_model_t;

/* Reads dir/config.json and, if there, dir/model.safetensors.index.json (checking that every
 * name in its weight_map is one the model uses, and that its file names stay inside dir).
 * Opens no safetensors file. Errors: PIPA_ERR_IO, PIPA_ERR_FORMAT, PIPA_ERR_NOMEM. Close with
 * pipa_hf_model_close, also after a failure. */
pipa_status pipa_hf_model_open(pipa_hf_model_t *m, const char *dir);
/* Fills every tensor of tab (its slices) in base, an allocation laid out by tab, opening the
 * files that hold them; each file opened is checked for tensors the model does not use. base's
 * padding is not touched. Errors: PIPA_ERR_FORMAT (missing, extra or misshapen tensors, a bad
 * file), PIPA_ERR_IO, PIPA_ERR_NOMEM. */
pipa_status pipa_hf_model_load(pipa_hf_model_t *m, const pipa_tensors_t *tab, float *base);
void pipa_hf_model_close(pipa_hf_model_t *m);

/* Writes dir/config.json (from c; torch_dtype after dtype) and dir/model.safetensors (dtype
 * PIPA_F32 or PIPA_BF16) from n_tabs tables and their allocations bases[i]: every tensor of the
 * model (c's sizes; lm_head unless tied) must be held whole by the tables together, by one
 * table or as tensor-parallel slices spread over several. dir is created if missing; each file
 * is replaced atomically. Tensors are written in the model's order (pipa_hf_model_index), so
 * every layout of one model writes the same bytes.
 * Errors: PIPA_ERR_ARG (a tensor missing or not fully covered, full shapes that disagree),
 * PIPA_ERR_IO, PIPA_ERR_NOMEM. */
pipa_status pipa_hf_model_export(const char *dir, const pipa_hf_config_t *c,
                                 const pipa_tensors_t *tabs, float *const *bases, int n_tabs,
                                 pipa_dtype dtype);

/* The place of the tensor called name in the model c describes, in Hugging Face's order
 * (model.embed_tokens 0; layer l's tensors 1 + 9 l + [0, 9) in tensors.h's order; model.norm
 * 1 + 9 L; lm_head 2 + 9 L unless tied), or -1 if the model does not use it: what the loader
 * and the export check names against, and the order the export writes. */
int pipa_hf_model_index(const pipa_hf_config_t *c, const char *name);

#endif
