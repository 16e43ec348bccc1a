/* json_read.c: the JSON reader (json_read.h): recursive descent over the bytes, a tree of
 * malloc'd values. Newlines can only occur in white space (strings refuse raw control bytes), so
 * line and column are kept while skipping white space. */
#include "base/json_read.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

typedef struct {
    const char *s;
    size_t len, pos;
    int line;
    size_t line_start;
    const char *what;
    int depth;
} parser_t;

static int col_of(const parser_t *p) { return (int)(p->pos - p->line_start) + 1; }

static pipa_status fail_at(const parser_t *p, const char *why)
{
    return pipa__fail(PIPA_ERR_FORMAT, "%s:%d:%d: %s", p->what, p->line, col_of(p), why);
}

/* The error at byte `at` (the start of what is wrong) rather than where the reader stopped. */
static pipa_status fail_back(parser_t *p, size_t at, const char *why)
{
    p->pos = at;
    return fail_at(p, why);
}

static void skip_ws(parser_t *p)
{
    while (p->pos < p->len) {
        char c = p->s[p->pos];
        if (c == '\n') {
            p->line++;
            p->line_start = p->pos + 1;
        } else if (c != ' ' && c != '\t' && c != '\r') {
            return;
        }
        p->pos++;
    }
}

static int peek(const parser_t *p) { return p->pos < p->len ? (unsigned char)p->s[p->pos] : -1; }

static void value_free(pipa_json_value_t *v)
{
    if (v->kind == PIPA_JSON_ARRAY || v->kind == PIPA_JSON_OBJECT) {
        for (size_t i = 0; i < v->len; i++) {
            value_free(&v->items[i]);
            if (v->keys) free(v->keys[i]);
        }
        free(v->items);
        free(v->keys);
    }
    if (v->kind == PIPA_JSON_STRING) free(v->str);
    memset(v, 0, sizeof *v);
}

static pipa_status parse_value(parser_t *p, pipa_json_value_t *v);

/* ---- strings ------------------------------------------------------------------------------ */

static int hex4(const char *s)
{
    int v = 0;
    for (int i = 0; i < 4; i++) {
        char c = s[i];
        int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10
                : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
        if (d < 0) return -1;
        v = v * 16 + d;
    }
    return v;
}

static size_t put_utf8(char *out, unsigned cp)
{
    if (cp < 0x80) { out[0] = (char)cp; return 1; }
    if (cp < 0x800) {
        out[0] = (char)(0xC0 | (cp >> 6));
        out[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (char)(0xE0 | (cp >> 12));
        out[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        out[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    out[0] = (char)(0xF0 | (cp >> 18));
    out[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    out[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
    out[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

/* A \u escape at p->pos (just after the 'u'), a surrogate pair taken whole; the code point. */
static pipa_status unicode_escape(parser_t *p, unsigned *cp)
{
    size_t at = p->pos - 2;  // the backslash
    if (p->len - p->pos < 4 || hex4(p->s + p->pos) < 0) return fail_back(p, at, "bad \\u escape");
    unsigned hi = (unsigned)hex4(p->s + p->pos);
    p->pos += 4;
    if (hi >= 0xDC00 && hi <= 0xDFFF) return fail_back(p, at, "lone low surrogate in \\u escape");
    if (hi < 0xD800 || hi > 0xDBFF) {
        *cp = hi;
        return PIPA_OK;
    }
    if (p->len - p->pos < 6 || p->s[p->pos] != '\\' || p->s[p->pos + 1] != 'u')
        return fail_back(p, at, "high surrogate without its low half");
    int lo = hex4(p->s + p->pos + 2);
    if (lo < 0xDC00 || lo > 0xDFFF) return fail_back(p, at, "high surrogate without its low half");
    p->pos += 6;
    *cp = 0x10000 + ((hi - 0xD800) << 10) + ((unsigned)lo - 0xDC00);
    return PIPA_OK;
}

static pipa_status escape(parser_t *p, char *out, size_t *n)
{
    if (p->pos >= p->len) return fail_at(p, "unterminated string");
    char c = p->s[p->pos++];
    const char *from = "\"\\/bfnrt", *to = "\"\\/\b\f\n\r\t";
    const char *k = c ? strchr(from, c) : NULL;
    if (k) {
        out[(*n)++] = to[k - from];
        return PIPA_OK;
    }
    if (c != 'u') return fail_back(p, p->pos - 2, "bad escape in string");
    unsigned cp = 0;
    PIPA_TRY(unicode_escape(p, &cp));
    *n += put_utf8(out + *n, cp);
    return PIPA_OK;
}

/* A string at p->pos (its opening quote); *out malloc'd. The decoded text is never longer than
 * its source (an escape of 6 or 12 bytes gives at most 3 or 4), so one buffer of the source's
 * length suffices. */
static pipa_status parse_string(parser_t *p, char **out, size_t *out_len)
{
    size_t start = ++p->pos, end = start;
    while (end < p->len && p->s[end] != '"') end += p->s[end] == '\\' ? 2 : 1;
    if (end >= p->len) return fail_back(p, start - 1, "unterminated string");
    char *buf = malloc(end - start + 1);
    if (!buf) return pipa__fail(PIPA_ERR_NOMEM, "%s: out of memory", p->what);
    size_t n = 0;
    while (p->s[p->pos] != '"') {
        unsigned char c = (unsigned char)p->s[p->pos];
        pipa_status s = PIPA_OK;
        if (c < 0x20) s = fail_at(p, "control character in string");
        else if (c == '\\') p->pos++, s = escape(p, buf, &n);
        else buf[n++] = (char)c, p->pos++;
        if (s != PIPA_OK) {
            free(buf);
            return s;
        }
    }
    p->pos++;
    buf[n] = 0;
    *out = buf;
    *out_len = n;
    return PIPA_OK;
}

/* ---- numbers and words -------------------------------------------------------------------- */

static size_t digits(const parser_t *p, size_t i)
{
    while (i < p->len && p->s[i] >= '0' && p->s[i] <= '9') i++;
    return i;
}

static pipa_status parse_number(parser_t *p, pipa_json_value_t *v)
{
    size_t i = p->pos, d;
    if (i < p->len && p->s[i] == '-') i++;
    if (i < p->len && p->s[i] == '0') i++;
    else if ((d = digits(p, i)) > i) i = d;
    else return fail_at(p, "bad number");
    if (i < p->len && p->s[i] == '.') {
        if ((d = digits(p, i + 1)) == i + 1) return fail_at(p, "bad number: no digit after '.'");
        i = d;
    }
    if (i < p->len && (p->s[i] == 'e' || p->s[i] == 'E')) {
        i++;
        if (i < p->len && (p->s[i] == '+' || p->s[i] == '-')) i++;
        if ((d = digits(p, i)) == i) return fail_at(p, "bad number: no digit in the exponent");
        i = d;
    }
    char buf[64];
    if (i - p->pos >= sizeof buf) return fail_at(p, "number longer than 63 characters");
    memcpy(buf, p->s + p->pos, i - p->pos);
    buf[i - p->pos] = 0;
    v->kind = PIPA_JSON_NUMBER;
    v->number = strtod(buf, NULL);  // the grammar above is a subset of strtod's
    if (!isfinite(v->number)) return fail_at(p, "number out of range");
    v->integral = v->number == floor(v->number) && fabs(v->number) < 9007199254740992.0;
    p->pos = i;
    return PIPA_OK;
}

static pipa_status parse_word(parser_t *p, pipa_json_value_t *v)
{
    static const char *words[] = {"null", "false", "true"};
    for (int w = 0; w < 3; w++) {
        size_t n = strlen(words[w]);
        if (p->len - p->pos >= n && memcmp(p->s + p->pos, words[w], n) == 0) {
            v->kind = w == 0 ? PIPA_JSON_NULL : PIPA_JSON_BOOL;
            v->boolean = w == 2;
            p->pos += n;
            return PIPA_OK;
        }
    }
    return fail_at(p, "expected a value");
}

/* ---- arrays and objects ------------------------------------------------------------------- */

/* Room for one more member of v (doubling). */
static pipa_status grow(parser_t *p, pipa_json_value_t *v, size_t *cap)
{
    if (v->len < *cap) return PIPA_OK;
    size_t nc = *cap ? 2 * *cap : 4;
    pipa_json_value_t *items = realloc(v->items, nc * sizeof *items);
    if (items) v->items = items;
    char **keys = NULL;
    if (items && v->kind == PIPA_JSON_OBJECT) {
        keys = realloc(v->keys, nc * sizeof *keys);
        if (keys) v->keys = keys;
    }
    if (!items || (v->kind == PIPA_JSON_OBJECT && !keys))
        return pipa__fail(PIPA_ERR_NOMEM, "%s: out of memory", p->what);
    *cap = nc;
    return PIPA_OK;
}

static int cmp_key(const void *a, const void *b)
{
    return strcmp(**(char *const *const *)a, **(char *const *const *)b);
}

/* Duplicate keys, found by sorting pointers to them: n log n, not n^2, for big headers. */
static pipa_status check_duplicates(parser_t *p, const pipa_json_value_t *v)
{
    if (v->len < 2) return PIPA_OK;
    char ***sorted = malloc(v->len * sizeof *sorted);
    if (!sorted) return pipa__fail(PIPA_ERR_NOMEM, "%s: out of memory", p->what);
    for (size_t i = 0; i < v->len; i++) sorted[i] = &v->keys[i];
    qsort(sorted, v->len, sizeof *sorted, cmp_key);
    pipa_status s = PIPA_OK;
    for (size_t i = 1; i < v->len && s == PIPA_OK; i++) {
        if (strcmp(*sorted[i], *sorted[i - 1]) != 0) continue;
        size_t a = (size_t)(sorted[i] - v->keys), b = (size_t)(sorted[i - 1] - v->keys);
        const pipa_json_value_t *dup = &v->items[a > b ? a : b];  // the second one
        s = pipa__fail(PIPA_ERR_FORMAT, "%s:%d:%d: duplicate key \"%s\" in the object at %d:%d",
                       p->what, dup->line, dup->col, *sorted[i], v->line, v->col);
    }
    free(sorted);
    return s;
}

/* The members of an array or object, p->pos just after its opening bracket. */
static pipa_status parse_members(parser_t *p, pipa_json_value_t *v, char close)
{
    size_t cap = 0;
    skip_ws(p);
    if (peek(p) == close) {
        p->pos++;
        return PIPA_OK;
    }
    for (;;) {
        PIPA_TRY(grow(p, v, &cap));
        pipa_json_value_t *m = &v->items[v->len];
        memset(m, 0, sizeof *m);
        if (close == '}') {
            skip_ws(p);
            if (peek(p) != '"') return fail_at(p, "expected a key (a string)");
            size_t kl;
            PIPA_TRY(parse_string(p, &v->keys[v->len], &kl));
            v->len++;  // the key is owned from here; its value starts out null
            skip_ws(p);
            if (peek(p) != ':') return fail_at(p, "expected ':' after the key");
            p->pos++;
        } else {
            v->len++;
        }
        PIPA_TRY(parse_value(p, m));
        skip_ws(p);
        int c = peek(p);
        p->pos += c >= 0;
        if (c == close) return close == '}' ? check_duplicates(p, v) : PIPA_OK;
        if (c != ',') {
            p->pos -= c >= 0;  // point at what came instead
            return fail_at(p, close == '}' ? "expected ',' or '}'" : "expected ',' or ']'");
        }
    }
}

static pipa_status parse_value(parser_t *p, pipa_json_value_t *v)
{
    skip_ws(p);
    v->line = p->line;
    v->col = col_of(p);
    int c = peek(p);
    if (c == '"') {
        v->kind = PIPA_JSON_STRING;
        return parse_string(p, &v->str, &v->len);
    }
    if (c == '{' || c == '[') {
        if (p->depth >= PIPA_JSON_READ_DEPTH) return fail_at(p, "nested deeper than 64 levels");
        v->kind = c == '{' ? PIPA_JSON_OBJECT : PIPA_JSON_ARRAY;
        p->pos++;
        p->depth++;
        pipa_status s = parse_members(p, v, c == '{' ? '}' : ']');
        p->depth--;
        return s;
    }
    if (c == '-' || (c >= '0' && c <= '9')) return parse_number(p, v);
    if (c < 0) return fail_at(p, "unexpected end of input");
    return parse_word(p, v);
}

/* ---- the document ------------------------------------------------------------------------- */

pipa_status pipa_json_parse(pipa_json_doc_t *doc, const char *text, size_t len, const char *what)
{
    memset(doc, 0, sizeof *doc);
    parser_t p = {.s = text, .len = len, .line = 1, .what = what ? what : "JSON"};
    pipa_status s = parse_value(&p, &doc->root);
    if (s == PIPA_OK) {
        skip_ws(&p);
        if (p.pos < p.len) s = fail_at(&p, "unexpected text after the value");
    }
    if (s != PIPA_OK) value_free(&doc->root);
    return s;
}

pipa_status pipa_json_parse_file(pipa_json_doc_t *doc, const char *path, size_t max_bytes)
{
    memset(doc, 0, sizeof *doc);
    FILE *f = fopen(path, "rb");
    if (!f) return pipa__fail(PIPA_ERR_IO, "cannot open %s: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode)) {
        fclose(f);
        return pipa__fail(PIPA_ERR_IO, "%s is not a regular file", path);
    }
    if ((unsigned long long)st.st_size > max_bytes) {
        fclose(f);
        return pipa__fail(PIPA_ERR_FORMAT, "%s: %lld bytes, more than the %zu allowed", path,
                          (long long)st.st_size, max_bytes);
    }
    size_t n = (size_t)st.st_size;
    char *buf = malloc(n ? n : 1);
    int ok = buf && fread(buf, 1, n, f) == n;
    fclose(f);
    pipa_status s = ok ? pipa_json_parse(doc, buf, n, path)
                       : pipa__fail(buf ? PIPA_ERR_IO : PIPA_ERR_NOMEM, "cannot read %s", path);
    free(buf);
    return s;
}

void pipa_json_doc_free(pipa_json_doc_t *doc) { value_free(&doc->root); }

const pipa_json_value_t *pipa_json_get(const pipa_json_value_t *v, const char *key)
{
    if (!v || v->kind != PIPA_JSON_OBJECT) return NULL;
    for (size_t i = 0; i < v->len; i++)
        if (strcmp(v->keys[i], key) == 0) return &v->items[i];
    return NULL;
}

const char *pipa_json_kind_name(pipa_json_kind k)
{
    static const char *names[] = {"null", "boolean", "number", "string", "array", "object"};
    return k >= PIPA_JSON_NULL && k <= PIPA_JSON_OBJECT ? names[k] : "?";
}
