/* json_read.h: a small JSON reader: a whole document parsed into a tree of values, for files
 * pipa reads from outside (Hugging Face config.json, safetensors headers and shard indexes; cost
 * files later). The writer is json.h.
 *
 * Strict RFC 8259 grammar: objects, arrays, strings (escapes incl. \uXXXX and surrogate pairs,
 * written out as UTF-8), numbers (kept as double, with whether the value is a whole number a
 * double holds exactly), true, false, null. Every error carries "what:line:column". The work and
 * memory are bounded by the input's size (each value is at least one byte of it) and nesting by
 * PIPA_JSON_READ_DEPTH. Duplicate keys in one object are refused (a safetensors header with two
 * tensors of one name must not silently keep the last). Left out: comments, trailing commas,
 * NaN/Infinity, numbers written with more than 63 characters, checking that raw bytes >= 0x80
 * are valid UTF-8 (they are copied as they are). */
#ifndef PIPA_JSON_READ_H
#define PIPA_JSON_READ_H

#include <stddef.h>
#include <stdint.h>

#include "base/status.h"

#define PIPA_JSON_READ_DEPTH 64

typedef enum {
    PIPA_JSON_NULL = 0, PIPA_JSON_BOOL, PIPA_JSON_NUMBER, PIPA_JSON_STRING, PIPA_JSON_ARRAY,
    PIPA_JSON_OBJECT
} pipa_json_kind;

typedef struct pipa_json_value {
    pipa_json_kind kind;
    int line, col;          /* where the value starts (1-based), for callers' messages */
    int boolean;            /* BOOL: 0 or 1 */
    double number;          /* NUMBER */
    int integral;           /* NUMBER: a whole number below 2^53 in size (so exact as written) */
    char *str;              /* STRING: NUL-terminated UTF-8 (may hold a NUL from \u0000) */
    size_t len;             /* STRING: bytes; ARRAY and OBJECT: members */
    struct pipa_json_value *items;  /* ARRAY, OBJECT: (len) members in document order */
    char **keys;            /* OBJECT: (len) keys, NUL-terminated */
} pipa_json_value_t;

typedef struct {
    pipa_json_value_t root;
} pipa_json_doc_t;

/* Parses text[0, len) (no terminator needed) as one JSON value with only white space around it.
 * what names the input in messages ("model/config.json:3:17: expected ':'"). On failure doc is
 * left empty (safe to free). Errors: PIPA_ERR_FORMAT, PIPA_ERR_NOMEM. */
pipa_status pipa_json_parse(pipa_json_doc_t *doc, const char *text, size_t len, const char *what);
/* Reads a whole file (at most max_bytes) and parses it; what in messages is the path. */
pipa_status pipa_json_parse_file(pipa_json_doc_t *doc, const char *path, size_t max_bytes);
void pipa_json_doc_free(pipa_json_doc_t *doc);

/* The member called key of an object, or NULL (absent, or v is not an object). */
const pipa_json_value_t *pipa_json_get(const pipa_json_value_t *v, const char *key);
/* "null", "boolean", "number", "string", "array", "object". */
const char *pipa_json_kind_name(pipa_json_kind k);

#endif
