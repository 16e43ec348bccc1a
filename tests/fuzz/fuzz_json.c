/* fuzz_json: libFuzzer target for the JSON reader (pipa_json_parse) and, over the same bytes,
 * the config.json reader (pipa_hf_config_parse): any bytes must be accepted or refused without
 * a crash, a sanitizer report or work beyond the input's size. An accepted document is walked
 * whole (every string's length checked against its terminator's place); an accepted config must
 * hold sizes that fit together. Seeds: tests/fuzz/corpus/fuzz_json/ (a Llama config.json, a
 * grouped-query one, a shard index, escapes). Built and run by tests/fuzz/run.sh. */
#include <string.h>

#include "base/json_read.h"
#include "io/hf_config.h"

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size);

static size_t walk(const pipa_json_value_t *v, int depth)
{
    if (depth > PIPA_JSON_READ_DEPTH + 1) __builtin_trap();
    if (v->kind == PIPA_JSON_STRING && (v->str[v->len] != 0 || strlen(v->str) > v->len))
        __builtin_trap();
    size_t n = 1;
    if (v->kind == PIPA_JSON_ARRAY || v->kind == PIPA_JSON_OBJECT)
        for (size_t i = 0; i < v->len; i++) {
            if (v->kind == PIPA_JSON_OBJECT && !pipa_json_get(v, v->keys[i])) __builtin_trap();
            n += walk(&v->items[i], depth + 1);
        }
    return n;
}

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
    pipa_json_doc_t d;
    if (pipa_json_parse(&d, (const char *)data, size, "fuzz") == PIPA_OK &&
        walk(&d.root, 0) > size)  // each value is at least one byte of the input
        __builtin_trap();
    pipa_json_doc_free(&d);
    pipa_hf_config_t c;
    if (pipa_hf_config_parse(&c, (const char *)data, size, "fuzz") == PIPA_OK) {
        const pipa_model_config_t *m = &c.cfg;
        if (m->C % m->NH || (m->C / m->NH) % 2 || m->NH % m->NKV || m->L < 1 || c.vocab < 1)
            __builtin_trap();
    }
    return 0;
}
