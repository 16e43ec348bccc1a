/* json.h: a tiny JSON writer into a growing memory buffer, for tools that report figures.
 *
 * Values are written in order: open an object or array, add members, close it. Inside an object
 * every call takes a key; inside an array (or at the top level) the key must be NULL. Numbers are
 * written with 17 significant digits so a double reads back to the same bits; NaN and infinities,
 * which JSON cannot hold, become null. Two layouts: one member per line (pipa_json_init, for
 * documents people read), or the whole value on one line (pipa_json_init_line: JSON Lines rows,
 * trace events). Left out: reading JSON. A failed allocation or misuse sets an error flag that
 * pipa_json_write and pipa_json_text report. */
#ifndef PIPA_JSON_H
#define PIPA_JSON_H

#include <stddef.h>
#include <stdint.h>

#include "base/status.h"

#define PIPA_JSON_MAX_DEPTH 32

typedef struct {
    char *buf;                           /* the text so far, NUL-terminated once anything is in */
    size_t len, cap;
    int depth;                           /* open objects and arrays */
    int count[PIPA_JSON_MAX_DEPTH];      /* members written at each depth (for the commas) */
    char kind[PIPA_JSON_MAX_DEPTH];      /* '{' or '[' at each depth */
    int failed;                          /* out of memory, or a key used where none belongs */
    int line;                            /* 1: everything on one line, members after ", " */
} pipa_json_t;

void pipa_json_init(pipa_json_t *j);
void pipa_json_init_line(pipa_json_t *j);
void pipa_json_free(pipa_json_t *j);

void pipa_json_begin_object(pipa_json_t *j, const char *key);
void pipa_json_end_object(pipa_json_t *j);
void pipa_json_begin_array(pipa_json_t *j, const char *key);
void pipa_json_end_array(pipa_json_t *j);

void pipa_json_str(pipa_json_t *j, const char *key, const char *value);  /* NULL writes null */
void pipa_json_int(pipa_json_t *j, const char *key, int64_t value);
void pipa_json_num(pipa_json_t *j, const char *key, double value);
void pipa_json_bool(pipa_json_t *j, const char *key, int value);
void pipa_json_null(pipa_json_t *j, const char *key);
/* Numbers for tables people read: integral values (below 1e15 in size) without a fraction, the
 * rest with 6 significant digits. */
void pipa_json_num_short(pipa_json_t *j, const char *key, double value);
/* A number with a fixed count of decimals ("%.3f"): trace timestamps in microseconds. */
void pipa_json_num_fixed(pipa_json_t *j, const char *key, double value, int decimals);
/* An array of n integers, on one line: "shape": [2, 10, 128] */
void pipa_json_int_array(pipa_json_t *j, const char *key, const int64_t *v, int n);

/* The document's text (no final newline), or NULL when it is incomplete or failed. Valid until
 * the next call on j. */
const char *pipa_json_text(const pipa_json_t *j);

/* Writes the document (every object and array closed) to path, with a final newline. */
pipa_status pipa_json_write(const pipa_json_t *j, const char *path);

#endif
