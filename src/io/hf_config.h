/* hf_config.h: a Hugging Face config.json of a Llama model, read into pipa's model configuration
 * and written back for an export.
 *
 * Read: hidden_size (C), num_hidden_layers (L), num_attention_heads (NH), num_key_value_heads
 * (NKV; default NH), intermediate_size (I), rms_norm_eps (eps), rope_theta (default 10000),
 * vocab_size, tie_word_embeddings (default false), max_position_embeddings. A missing field, one
 * of the wrong type, a non-integer or non-positive size, or sizes that do not fit together (C %
 * NH, odd head size, NH % NKV, head_dim other than C / NH) is refused naming the file and field.
 * So is any model pipa would run wrong: "architectures" other than ["LlamaForCausalLM"] (or,
 * without it, "model_type" other than "llama"), "hidden_act" other than silu, "rope_scaling" set,
 * "attention_bias" or "mlp_bias" true. Other fields (torch_dtype, token ids...) are ignored. */
#ifndef PIPA_HF_CONFIG_H
#define PIPA_HF_CONFIG_H

#include <stddef.h>

#include "base/status.h"
#include "model/model.h"

typedef struct {
    pipa_model_config_t cfg;  /* seed 0: the weights come from the checkpoint */
    int vocab;                /* vocab_size */
    int max_positions;        /* max_position_embeddings */
} pipa_hf_config_t;

/* Reads path (a config.json). Errors: PIPA_ERR_IO, PIPA_ERR_FORMAT (the text, or a field, named
 * with the path), PIPA_ERR_NOMEM. */
pipa_status pipa_hf_config_read(pipa_hf_config_t *out, const char *path);
/* The same from text[0, len); what names it in messages. */
pipa_status pipa_hf_config_parse(pipa_hf_config_t *out, const char *text, size_t len,
                                 const char *what);
/* Writes c as a config.json that transformers' LlamaForCausalLM loads; torch_dtype names the
 * weights' dtype ("float32", "bfloat16"). Errors: PIPA_ERR_IO, PIPA_ERR_STATE. */
pipa_status pipa_hf_config_write(const pipa_hf_config_t *c, const char *path,
                                 const char *torch_dtype);

#endif
