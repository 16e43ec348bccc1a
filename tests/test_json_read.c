/* test_json_read: the JSON reader (base/json_read.h) against values written out by hand: every
 * kind of value, escapes (\uXXXX with surrogate pairs into UTF-8 bytes spelled here), numbers
 * and whether they are integral, lookups; malformed documents refused with the right line and
 * column; the depth limit at exactly 64; duplicate keys; a document pipa's own writer (json.h)
 * wrote reads back to the same values. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "base/json.h"
#include "base/json_read.h"

static const char DOC[] =
    "{\n"
    "  \"int\": 42, \"neg\": -7, \"frac\": 2.5, \"exp\": -1.5e3, \"big\": 9007199254740993,\n"
    "  \"zero\": -0, \"small\": 1e-300,\n"
    "  \"t\": true, \"f\": false, \"n\": null,\n"
    "  \"s\": \"a\\\"b\\\\c\\/d\\b\\f\\n\\r\\t\\u00e9\\u20ac\\ud83d\\ude00\",\n"
    "  \"nul\": \"x\\u0000y\",\n"
    "  \"arr\": [1, [2, []], {}, \"\"],\n"
    "  \"obj\": {\"inner\": {\"deep\": [true]}}\n"
    "}\n";

static void test_values(void)
{
    pipa_json_doc_t d;
    pipa_status s = pipa_json_parse(&d, DOC, strlen(DOC), "doc");
    CHECKF(s == PIPA_OK, "%s", pipa_last_error());
    if (s != PIPA_OK) return;
    const pipa_json_value_t *r = &d.root, *v;
    CHECK(r->kind == PIPA_JSON_OBJECT && r->len == 14);
    CHECK((v = pipa_json_get(r, "int")) && v->kind == PIPA_JSON_NUMBER && v->number == 42 &&
          v->integral && v->line == 2 && v->col == 10);
    CHECK((v = pipa_json_get(r, "neg")) && v->number == -7 && v->integral);
    CHECK((v = pipa_json_get(r, "frac")) && v->number == 2.5 && !v->integral);
    CHECK((v = pipa_json_get(r, "exp")) && v->number == -1500 && v->integral);
    CHECK((v = pipa_json_get(r, "big")) && !v->integral);  // above 2^53: not exact
    CHECK((v = pipa_json_get(r, "zero")) && v->number == 0 && signbit(v->number) && v->integral);
    CHECK((v = pipa_json_get(r, "small")) && v->number == 1e-300 && !v->integral);
    CHECK((v = pipa_json_get(r, "t")) && v->kind == PIPA_JSON_BOOL && v->boolean == 1);
    CHECK((v = pipa_json_get(r, "f")) && v->kind == PIPA_JSON_BOOL && v->boolean == 0);
    CHECK((v = pipa_json_get(r, "n")) && v->kind == PIPA_JSON_NULL && v->line == 4);
    static const char want_s[] = "a\"b\\c/d\b\f\n\r\t\xC3\xA9\xE2\x82\xAC\xF0\x9F\x98\x80";
    CHECK((v = pipa_json_get(r, "s")) && v->kind == PIPA_JSON_STRING &&
          v->len == sizeof want_s - 1 && memcmp(v->str, want_s, v->len) == 0 && v->str[v->len] == 0);
    CHECK((v = pipa_json_get(r, "nul")) && v->len == 3 && memcmp(v->str, "x\0y", 3) == 0);
    v = pipa_json_get(r, "arr");
    CHECK(v && v->kind == PIPA_JSON_ARRAY && v->len == 4);
    if (v && v->len == 4) {
        CHECK(v->items[0].number == 1 && v->items[1].kind == PIPA_JSON_ARRAY &&
              v->items[1].len == 2 && v->items[1].items[1].len == 0);
        CHECK(v->items[2].kind == PIPA_JSON_OBJECT && v->items[2].len == 0);
        CHECK(v->items[3].kind == PIPA_JSON_STRING && v->items[3].len == 0);
    }
    v = pipa_json_get(pipa_json_get(pipa_json_get(r, "obj"), "inner"), "deep");
    CHECK(v && v->len == 1 && v->items[0].boolean == 1);
    CHECK(pipa_json_get(r, "absent") == NULL && pipa_json_get(pipa_json_get(r, "int"), "x") == NULL);
    pipa_json_doc_free(&d);
}

/* Each bad document: the message must hold "what:LINE:COL:" and a word of the reason. */
static void test_errors(void)
{
    static const struct { const char *text, *where, *why; } bad[] = {
        {"", "t:1:1:", "end of input"},
        {"{\"a\": 1,}", "t:1:9:", "key"},
        {"[1, 2", "t:1:6:", "',' or ']'"},
        {"{\"a\" 1}", "t:1:6:", "':'"},
        {"{\n  \"a\": tru\n}", "t:2:8:", "expected a value"},
        {"[01]", "t:1:3:", "',' or ']'"},
        {"[1.]", "t:1:2:", "after '.'"},
        {"[1e]", "t:1:2:", "exponent"},
        {"[-]", "t:1:2:", "bad number"},
        {"[1e999]", "t:1:2:", "out of range"},
        {"\"abc", "t:1:1:", "unterminated"},
        {"\"a\nb\"", "t:1:3:", "control character"},
        {"\"\\x\"", "t:1:2:", "bad escape"},
        {"\"\\u12g4\"", "t:1:2:", "\\u"},
        {"\"\\udc00\"", "t:1:2:", "lone low surrogate"},
        {"\"\\ud800x\"", "t:1:2:", "low half"},
        {"[1] 2", "t:1:5:", "after the value"},
        {"[NaN]", "t:1:2:", "expected a value"},
        {"{\"k\": 1,\n \"j\": 2,\n \"k\": 3}", "t:3:7:", "duplicate key \"k\""},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        pipa_json_doc_t d;
        pipa_status s = pipa_json_parse(&d, bad[i].text, strlen(bad[i].text), "t");
        const char *m = pipa_last_error();
        CHECKF(s == PIPA_ERR_FORMAT && strstr(m, bad[i].where) && strstr(m, bad[i].why),
               "case %zu (%s): status %d, message %s; want %s ... %s", i, bad[i].text, s, m,
               bad[i].where, bad[i].why);
        CHECK(d.root.kind == PIPA_JSON_NULL && d.root.items == NULL);
        pipa_json_doc_free(&d);
    }
    /* Not NUL-terminated: the reader stops at len. */
    pipa_json_doc_t d;
    CHECK(pipa_json_parse(&d, "[1, 2]garbage", 6, "t") == PIPA_OK && d.root.len == 2);
    pipa_json_doc_free(&d);
    CHECK(pipa_json_parse(&d, "[1, 2]garbage", 5, "t") == PIPA_ERR_FORMAT);
}

static void test_depth(void)
{
    char text[2 * PIPA_JSON_READ_DEPTH + 8];
    for (int depth = PIPA_JSON_READ_DEPTH; depth <= PIPA_JSON_READ_DEPTH + 1; depth++) {
        int n = 0;
        for (int i = 0; i < depth; i++) text[n++] = '[';
        for (int i = 0; i < depth; i++) text[n++] = ']';
        pipa_json_doc_t d;
        pipa_status s = pipa_json_parse(&d, text, (size_t)n, "deep");
        if (depth == PIPA_JSON_READ_DEPTH) CHECKF(s == PIPA_OK, "%s", pipa_last_error());
        else CHECK(s == PIPA_ERR_FORMAT && strstr(pipa_last_error(), "deep:1:65:"));
        pipa_json_doc_free(&d);
    }
}

/* json.h writes, json_read.h reads the same numbers to the bit and the same strings. */
static void test_writer_round_trip(void)
{
    static const double nums[] = {0.1, -1e-5, 1.0 / 3.0, 6.02214076e23, 5e-324, 123456789012.0};
    pipa_json_t j;
    pipa_json_init(&j);
    pipa_json_begin_object(&j, NULL);
    pipa_json_begin_array(&j, "nums");
    for (size_t i = 0; i < sizeof nums / sizeof nums[0]; i++) pipa_json_num(&j, NULL, nums[i]);
    pipa_json_end_array(&j);
    pipa_json_str(&j, "text", "tab\there \"quoted\" \x01 \xC3\xA9");
    pipa_json_end_object(&j);
    const char *text = pipa_json_text(&j);
    pipa_json_doc_t d;
    CHECK(text && pipa_json_parse(&d, text, strlen(text), "written") == PIPA_OK);
    const pipa_json_value_t *a = pipa_json_get(&d.root, "nums"), *t = pipa_json_get(&d.root, "text");
    CHECK(a && a->len == sizeof nums / sizeof nums[0]);
    for (size_t i = 0; a && i < a->len; i++)
        CHECKF(a->items[i].number == nums[i], "%zu: %.17g, want %.17g", i, a->items[i].number, nums[i]);
    CHECK(t && strcmp(t->str, "tab\there \"quoted\" \x01 \xC3\xA9") == 0);
    pipa_json_doc_free(&d);
    pipa_json_free(&j);
}

int main(void)
{
    test_values();
    test_errors();
    test_depth();
    test_writer_round_trip();
    return check_done("test_json_read");
}
