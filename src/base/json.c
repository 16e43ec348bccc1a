/* json.c: the tiny JSON writer of json.h. Strings are escaped as RFC 8259 requires (quote,
 * backslash, control characters); bytes >= 0x80 pass through, so UTF-8 stays UTF-8. */
#include "base/json.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void pipa_json_init(pipa_json_t *j) { memset(j, 0, sizeof *j); }

void pipa_json_init_line(pipa_json_t *j)
{
    pipa_json_init(j);
    j->line = 1;
}

void pipa_json_free(pipa_json_t *j)
{
    free(j->buf);
    memset(j, 0, sizeof *j);
}

static void put(pipa_json_t *j, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(pipa_json_t *j, const char *fmt, ...)
{
    if (j->failed) return;
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        size_t room = j->cap - j->len;
        int n = vsnprintf(j->buf ? j->buf + j->len : NULL, j->buf ? room : 0, fmt, ap);
        va_end(ap);
        if (n < 0) { j->failed = 1; return; }
        if (j->buf && (size_t)n < room) { j->len += (size_t)n; return; }
        size_t cap = j->cap ? j->cap * 2 : 1024;
        while (cap < j->len + (size_t)n + 1) cap *= 2;
        char *b = realloc(j->buf, cap);
        if (!b) { j->failed = 1; return; }
        j->buf = b;
        j->cap = cap;
    }
}

static void put_string(pipa_json_t *j, const char *s)
{
    put(j, "\"");
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\') put(j, "\\%c", *p);
        else if (*p == '\n') put(j, "\\n");
        else if (*p == '\t') put(j, "\\t");
        else if (*p < 0x20) put(j, "\\u%04x", *p);
        else put(j, "%c", *p);
    }
    put(j, "\"");
}

/* Comma, newline and indentation before a member, then its key when inside an object. A key
 * inside an array or a missing key inside an object is misuse: the document would be invalid. */
static void member(pipa_json_t *j, const char *key)
{
    int in_object = j->depth > 0 && j->kind[j->depth - 1] == '{';
    if ((key != NULL) != in_object) j->failed = 1;
    if (j->depth == 0) {
        if (j->len > 0) j->failed = 1;  /* one top-level value only */
    } else {
        if (j->line) put(j, "%s", j->count[j->depth - 1] ? ", " : "");
        else put(j, "%s\n%*s", j->count[j->depth - 1] ? "," : "", 2 * j->depth, "");
        j->count[j->depth - 1]++;
    }
    if (key) {
        put_string(j, key);
        put(j, ": ");
    }
}

static void open_(pipa_json_t *j, const char *key, char kind)
{
    member(j, key);
    if (j->depth == PIPA_JSON_MAX_DEPTH) { j->failed = 1; return; }
    put(j, "%c", kind);
    j->kind[j->depth] = kind;
    j->count[j->depth] = 0;
    j->depth++;
}

static void close_(pipa_json_t *j, char kind)
{
    if (j->depth == 0 || j->kind[j->depth - 1] != kind) { j->failed = 1; return; }
    j->depth--;
    if (j->count[j->depth] && !j->line) put(j, "\n%*s", 2 * j->depth, "");
    put(j, "%c", kind == '{' ? '}' : ']');
}

void pipa_json_begin_object(pipa_json_t *j, const char *key) { open_(j, key, '{'); }
void pipa_json_end_object(pipa_json_t *j) { close_(j, '{'); }
void pipa_json_begin_array(pipa_json_t *j, const char *key) { open_(j, key, '['); }
void pipa_json_end_array(pipa_json_t *j) { close_(j, '['); }

void pipa_json_str(pipa_json_t *j, const char *key, const char *value)
{
    member(j, key);
    if (value) put_string(j, value);
    else put(j, "null");
}

void pipa_json_int(pipa_json_t *j, const char *key, int64_t value)
{
    member(j, key);
    put(j, "%lld", (long long)value);
}

void pipa_json_num(pipa_json_t *j, const char *key, double value)
{
    member(j, key);
    if (isfinite(value)) put(j, "%.17g", value);
    else put(j, "null");
}

void pipa_json_num_short(pipa_json_t *j, const char *key, double value)
{
    member(j, key);
    if (!isfinite(value)) put(j, "null");
    else if (value > -1e15 && value < 1e15 && value == (double)(long long)value)
        put(j, "%lld", (long long)value);
    else put(j, "%.6g", value);
}

void pipa_json_num_fixed(pipa_json_t *j, const char *key, double value, int decimals)
{
    member(j, key);
    if (isfinite(value)) put(j, "%.*f", decimals, value);
    else put(j, "null");
}

void pipa_json_bool(pipa_json_t *j, const char *key, int value)
{
    member(j, key);
    put(j, value ? "true" : "false");
}

void pipa_json_null(pipa_json_t *j, const char *key)
{
    member(j, key);
    put(j, "null");
}

void pipa_json_int_array(pipa_json_t *j, const char *key, const int64_t *v, int n)
{
    member(j, key);
    put(j, "[");
    for (int i = 0; i < n; i++) put(j, "%s%lld", i ? ", " : "", (long long)v[i]);
    put(j, "]");
}

const char *pipa_json_text(const pipa_json_t *j)
{
    return j->failed || j->depth != 0 || j->len == 0 ? NULL : j->buf;
}

pipa_status pipa_json_write(const pipa_json_t *j, const char *path)
{
    if (j->failed) return pipa__fail(PIPA_ERR_STATE, "JSON for %s is incomplete (out of memory or "
                                                     "a writer misuse)", path);
    if (j->depth != 0 || j->len == 0)
        return pipa__fail(PIPA_ERR_STATE, "JSON for %s has %d unclosed values", path, j->depth);
    FILE *f = fopen(path, "w");
    if (!f) return pipa__fail(PIPA_ERR_IO, "cannot write %s: %s", path, strerror(errno));
    int ok = fwrite(j->buf, 1, j->len, f) == j->len && fputc('\n', f) != EOF;
    if (fclose(f) != 0) ok = 0;
    if (!ok) return pipa__fail(PIPA_ERR_IO, "writing %s failed: %s", path, strerror(errno));
    return PIPA_OK;
}
