/* hf_config.c: config.json of a Hugging Face Llama model (hf_config.h): read through json_read.h,
 * written through json.h. */
#include "io/hf_config.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/json.h"
#include "base/json_read.h"

#define CONFIG_MAX_BYTES (16u << 20)  /* config.json files are a few KB */

/* ---- reading ------------------------------------------------------------------------------ */

/* An integer field in [lo, hi]; absent: *out = dflt, or an error when dflt < lo (required). */
static pipa_status get_int(const pipa_json_value_t *root, const char *what, const char *key,
                           int lo, int hi, int dflt, int *out)
{
    const pipa_json_value_t *v = pipa_json_get(root, key);
    if (!v || (v->kind == PIPA_JSON_NULL && dflt >= lo)) {
        if (dflt < lo) return pipa__fail(PIPA_ERR_FORMAT, "%s: \"%s\" is missing", what, key);
        *out = dflt;
        return PIPA_OK;
    }
    if (v->kind != PIPA_JSON_NUMBER || !v->integral)
        return pipa__fail(PIPA_ERR_FORMAT, "%s:%d:%d: \"%s\" must be an integer", what, v->line,
                          v->col, key);
    if (v->number < lo || v->number > hi)
        return pipa__fail(PIPA_ERR_FORMAT, "%s:%d:%d: \"%s\" is %.17g, outside [%d, %d]", what,
                          v->line, v->col, key, v->number, lo, hi);
    *out = (int)v->number;
    return PIPA_OK;
}

/* A positive number field; absent: dflt, or an error when dflt <= 0 (required). */
static pipa_status get_pos(const pipa_json_value_t *root, const char *what, const char *key,
                           double dflt, float *out)
{
    const pipa_json_value_t *v = pipa_json_get(root, key);
    if (!v) {
        if (dflt <= 0) return pipa__fail(PIPA_ERR_FORMAT, "%s: \"%s\" is missing", what, key);
        *out = (float)dflt;
        return PIPA_OK;
    }
    if (v->kind != PIPA_JSON_NUMBER || !(v->number > 0) || !isfinite((float)v->number))
        return pipa__fail(PIPA_ERR_FORMAT, "%s:%d:%d: \"%s\" must be a positive number", what,
                          v->line, v->col, key);
    *out = (float)v->number;
    return PIPA_OK;
}

static pipa_status get_bool(const pipa_json_value_t *root, const char *what, const char *key,
                            int *out)
{
    const pipa_json_value_t *v = pipa_json_get(root, key);
    if (!v || v->kind == PIPA_JSON_NULL) return *out = 0, PIPA_OK;
    if (v->kind != PIPA_JSON_BOOL)
        return pipa__fail(PIPA_ERR_FORMAT, "%s:%d:%d: \"%s\" must be true or false", what, v->line,
                          v->col, key);
    *out = v->boolean;
    return PIPA_OK;
}

/* The model must be one pipa runs exactly as transformers does (hf_config.h). */
static pipa_status check_family(const pipa_json_value_t *root, const char *what)
{
    const pipa_json_value_t *a = pipa_json_get(root, "architectures");
    const pipa_json_value_t *mt = pipa_json_get(root, "model_type");
    if (a) {
        if (a->kind != PIPA_JSON_ARRAY || a->len != 1 || a->items[0].kind != PIPA_JSON_STRING ||
            strcmp(a->items[0].str, "LlamaForCausalLM") != 0)
            return pipa__fail(PIPA_ERR_FORMAT, "%s:%d:%d: \"architectures\" must be "
                              "[\"LlamaForCausalLM\"]: pipa runs Llama models only", what,
                              a->line, a->col);
    } else if (!mt || mt->kind != PIPA_JSON_STRING || strcmp(mt->str, "llama") != 0) {
        return pipa__fail(PIPA_ERR_FORMAT, "%s: neither \"architectures\" "
                          "[\"LlamaForCausalLM\"] nor \"model_type\" \"llama\": pipa runs Llama "
                          "models only", what);
    }
    const pipa_json_value_t *act = pipa_json_get(root, "hidden_act");
    if (act && (act->kind != PIPA_JSON_STRING || strcmp(act->str, "silu") != 0))
        return pipa__fail(PIPA_ERR_FORMAT, "%s:%d:%d: \"hidden_act\" must be \"silu\" (the only "
                          "MLP activation pipa has)", what, act->line, act->col);
    const pipa_json_value_t *rs = pipa_json_get(root, "rope_scaling");
    if (rs && rs->kind != PIPA_JSON_NULL)
        return pipa__fail(PIPA_ERR_FORMAT, "%s:%d:%d: \"rope_scaling\" is set: scaled rotary "
                          "embeddings are not supported", what, rs->line, rs->col);
    static const char *bias[] = {"attention_bias", "mlp_bias"};
    for (int i = 0; i < 2; i++) {
        int on = 0;
        PIPA_TRY(get_bool(root, what, bias[i], &on));
        if (on) return pipa__fail(PIPA_ERR_FORMAT, "%s: \"%s\" is true: pipa's projections have "
                                  "no bias", what, bias[i]);
    }
    return PIPA_OK;
}

/* Sizes that must fit together; each message names the fields. */
static pipa_status check_sizes(const pipa_json_value_t *root, const char *what,
                               const pipa_model_config_t *c)
{
    if (c->C % c->NH != 0)
        return pipa__fail(PIPA_ERR_FORMAT, "%s: \"hidden_size\" %d is not divisible by "
                          "\"num_attention_heads\" %d", what, c->C, c->NH);
    if ((c->C / c->NH) % 2 != 0)
        return pipa__fail(PIPA_ERR_FORMAT, "%s: head size \"hidden_size\" / "
                          "\"num_attention_heads\" = %d is odd (rotary embeddings need pairs)",
                          what, c->C / c->NH);
    if (c->NH % c->NKV != 0)
        return pipa__fail(PIPA_ERR_FORMAT, "%s: \"num_attention_heads\" %d is not divisible by "
                          "\"num_key_value_heads\" %d", what, c->NH, c->NKV);
    int hd = 0;
    PIPA_TRY(get_int(root, what, "head_dim", 1, 1 << 20, c->C / c->NH, &hd));
    if (hd != c->C / c->NH)
        return pipa__fail(PIPA_ERR_FORMAT, "%s: \"head_dim\" %d is not \"hidden_size\" / "
                          "\"num_attention_heads\" = %d", what, hd, c->C / c->NH);
    return PIPA_OK;
}

static pipa_status from_json(pipa_hf_config_t *out, const pipa_json_value_t *r, const char *what)
{
    memset(out, 0, sizeof *out);
    pipa_model_config_t *c = &out->cfg;
    const int big = 1 << 30;
    if (r->kind != PIPA_JSON_OBJECT)
        return pipa__fail(PIPA_ERR_FORMAT, "%s: not a JSON object", what);
    PIPA_TRY(check_family(r, what));
    PIPA_TRY(get_int(r, what, "hidden_size", 1, big, 0, &c->C));
    PIPA_TRY(get_int(r, what, "num_hidden_layers", 1, big, 0, &c->L));
    PIPA_TRY(get_int(r, what, "num_attention_heads", 1, big, 0, &c->NH));
    PIPA_TRY(get_int(r, what, "num_key_value_heads", 1, big, c->NH, &c->NKV));
    PIPA_TRY(get_int(r, what, "intermediate_size", 1, big, 0, &c->I));
    PIPA_TRY(get_int(r, what, "vocab_size", 1, big, 0, &out->vocab));
    PIPA_TRY(get_int(r, what, "max_position_embeddings", 1, big, 0, &out->max_positions));
    PIPA_TRY(get_pos(r, what, "rms_norm_eps", 0, &c->eps));
    PIPA_TRY(get_pos(r, what, "rope_theta", 10000.0, &c->rope_theta));
    PIPA_TRY(get_bool(r, what, "tie_word_embeddings", &c->tie_embeddings));
    return check_sizes(r, what, c);
}

pipa_status pipa_hf_config_parse(pipa_hf_config_t *out, const char *text, size_t len,
                                 const char *what)
{
    pipa_json_doc_t doc;
    PIPA_TRY(pipa_json_parse(&doc, text, len, what));
    pipa_status s = from_json(out, &doc.root, what);
    pipa_json_doc_free(&doc);
    return s;
}

pipa_status pipa_hf_config_read(pipa_hf_config_t *out, const char *path)
{
    pipa_json_doc_t doc;
    PIPA_TRY(pipa_json_parse_file(&doc, path, CONFIG_MAX_BYTES));
    pipa_status s = from_json(out, &doc.root, path);
    pipa_json_doc_free(&doc);
    return s;
}

/* ---- writing ------------------------------------------------------------------------------ */

/* x as the double of its shortest decimal that reads back to the same float, so 1e-5f is
 * written as 1e-05's double, not as 9.99999974737875e-06 (what Python and transformers read). */
static double short_float(float x)
{
    char buf[32];
    for (int digits = 1; digits <= 9; digits++) {
        snprintf(buf, sizeof buf, "%.*g", digits, (double)x);
        if (strtof(buf, NULL) == x) break;
    }
    return strtod(buf, NULL);
}

pipa_status pipa_hf_config_write(const pipa_hf_config_t *h, const char *path,
                                 const char *torch_dtype)
{
    const pipa_model_config_t *c = &h->cfg;
    pipa_json_t j;
    pipa_json_init(&j);
    pipa_json_begin_object(&j, NULL);
    pipa_json_begin_array(&j, "architectures");
    pipa_json_str(&j, NULL, "LlamaForCausalLM");
    pipa_json_end_array(&j);
    pipa_json_str(&j, "model_type", "llama");
    pipa_json_str(&j, "hidden_act", "silu");
    pipa_json_int(&j, "hidden_size", c->C);
    pipa_json_int(&j, "intermediate_size", c->I);
    pipa_json_int(&j, "num_hidden_layers", c->L);
    pipa_json_int(&j, "num_attention_heads", c->NH);
    pipa_json_int(&j, "num_key_value_heads", c->NKV ? c->NKV : c->NH);
    pipa_json_int(&j, "vocab_size", h->vocab);
    pipa_json_int(&j, "max_position_embeddings", h->max_positions);
    pipa_json_num(&j, "rms_norm_eps", short_float(c->eps));
    pipa_json_num(&j, "rope_theta", short_float(c->rope_theta));
    pipa_json_bool(&j, "tie_word_embeddings", c->tie_embeddings);
    pipa_json_bool(&j, "attention_bias", 0);
    pipa_json_bool(&j, "mlp_bias", 0);
    pipa_json_str(&j, "torch_dtype", torch_dtype);
    pipa_json_end_object(&j);
    char tmp[4200];
    snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid());
    pipa_status s = pipa_json_write(&j, tmp);  // then a rename: the file appears whole
    pipa_json_free(&j);
    if (s == PIPA_OK && rename(tmp, path) != 0) {
        s = pipa__fail(PIPA_ERR_IO, "cannot rename %s to %s", tmp, path);
        unlink(tmp);
    }
    return s;
}
