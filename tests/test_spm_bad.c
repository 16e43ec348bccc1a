/* test_spm_bad: the tokenizer reader (src/io/pb.c, src/io/spm_model.c) on models built here
 * byte by byte: a small valid one whose encodings are worked out by hand (merge order by score,
 * ties to the leftmost, unknown runs), then broken ones, each refused with a message that names
 * what is wrong and where: truncations, wrong wire types, overlong varints, groups, ids out of
 * range, unsupported model types and normalizers, duplicate, empty and ill-typed pieces. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "io/spm.h"

typedef struct {
    uint8_t b[4096];
    size_t n;
} buf_t;

static void varint(buf_t *o, uint64_t v)
{
    for (; v >= 0x80; v >>= 7) o->b[o->n++] = (uint8_t)(v | 0x80);
    o->b[o->n++] = (uint8_t)v;
}

static void tag(buf_t *o, unsigned field, int wire) { varint(o, (uint64_t)field << 3 | (unsigned)wire); }

static void bytes(buf_t *o, unsigned field, const void *p, size_t n)
{
    tag(o, field, 2);
    varint(o, n);
    memcpy(o->b + o->n, p, n);
    o->n += n;
}

static void fixed32(buf_t *o, unsigned field, float x)
{
    tag(o, field, 5);
    memcpy(o->b + o->n, &x, 4);  // little-endian machines only, as pipa is
    o->n += 4;
}

static void num(buf_t *o, unsigned field, int64_t v) { tag(o, field, 0); varint(o, (uint64_t)v); }

/* A piece message: text, score, type (0: leave the type out, i.e. NORMAL). */
static void piece(buf_t *o, const char *text, float score, int type)
{
    buf_t p = {.n = 0};
    bytes(&p, 1, text, strlen(text));
    fixed32(&p, 2, score);
    if (type) num(&p, 3, type);
    bytes(o, 1, p.b, p.n);
}

#define SP "\xe2\x96\x81"

/* The valid model: <unk> <s> </s>, then ▁ a b (scores -10), ab (-1), ▁a (-2), bb (-1). */
static void pieces(buf_t *o)
{
    piece(o, "<unk>", 0, 2);
    piece(o, "<s>", 0, 3);
    piece(o, "</s>", 0, 3);
    piece(o, SP, -10, 0);
    piece(o, "a", -10, 1);
    piece(o, "b", -10, 1);
    piece(o, "ab", -1, 1);
    piece(o, SP "a", -2, 1);
    piece(o, "bb", -1, 1);
}

static void trainer(buf_t *o, int model_type, int64_t bos, int byte_fallback)
{
    buf_t t = {.n = 0};
    num(&t, 3, model_type);
    num(&t, 41, bos);
    if (bos < 0) num(&t, 42, -1);  // small models: no </s> either
    num(&t, 43, -1);  // pad_id -1: ten bytes, sign-extended
    if (byte_fallback) num(&t, 35, 1);
    bytes(o, 2, t.b, t.n);
}

static void normalizer(buf_t *o, const char *name, const char *charsmap)
{
    buf_t m = {.n = 0};
    bytes(&m, 1, name, strlen(name));
    if (charsmap) bytes(&m, 2, charsmap, strlen(charsmap));
    num(&m, 4, 0);  // remove_extra_whitespaces off, as Llama
    bytes(o, 3, m.b, m.n);
}

static buf_t valid(void)
{
    buf_t o = {.n = 0};
    pieces(&o);
    trainer(&o, 2, 1, 0);
    normalizer(&o, "identity", NULL);
    return o;
}

/* The model in o must be refused with a message holding every one of the words. */
/* Reads the n bytes at p from a heap copy of exactly that size, so that AddressSanitizer sees a
 * read past the end. */
static pipa_status read_exact(const uint8_t *p, size_t n, const char *name, pipa_spm_t **spm)
{
    uint8_t *copy = malloc(n ? n : 1);
    if (!copy) return PIPA_ERR_NOMEM;
    memcpy(copy, p, n);
    pipa_status s = pipa_spm_read(copy, n, name, spm);
    free(copy);
    return s;
}

static void refused(const buf_t *o, const char *what, const char *w1, const char *w2)
{
    pipa_spm_t *spm = NULL;
    pipa_status s = read_exact(o->b, o->n, "bad.model", &spm);
    const char *msg = pipa_last_error();
    CHECKF(s != PIPA_OK && spm == NULL, "%s: accepted", what);
    if (s == PIPA_OK) {
        pipa_spm_free(spm);
        return;
    }
    CHECKF(strstr(msg, "bad.model") && strstr(msg, w1) && (!w2 || strstr(msg, w2)),
           "%s: message '%s' lacks '%s'%s%s", what, msg, w1, w2 ? " or " : "", w2 ? w2 : "");
    printf("  refused %-28s %s\n", what, msg);
}

static void encodes(const pipa_spm_t *spm, const char *text, int bos, const int32_t *want, size_t wn)
{
    int32_t *ids = NULL;
    size_t n = 0;
    pipa_status s = pipa_spm_encode(spm, text, strlen(text), bos, &ids, &n);
    int ok = s == PIPA_OK && n == wn && (n == 0 || memcmp(ids, want, n * sizeof *ids) == 0);
    CHECKF(ok, "encoding '%s': %s, %zu ids (%d %d %d ...), want %zu", text,
           s == PIPA_OK ? "ok" : pipa_last_error(), n, n > 0 ? (int)ids[0] : -9,
           n > 1 ? (int)ids[1] : -9, n > 2 ? (int)ids[2] : -9, wn);
    free(ids);
}

static void test_valid(void)
{
    buf_t o = valid();
    num(&o, 99, 12345);            // unknown fields of every wire type are skipped
    bytes(&o, 4, "\x0a\x00", 2);   // self_test_data
    tag(&o, 77, 1);
    memset(o.b + o.n, 7, 8), o.n += 8;
    pipa_spm_t *spm = NULL;
    pipa_status s = read_exact(o.b, o.n, "good.model", &spm);
    CHECKF(s == PIPA_OK, "the valid model: %s", pipa_last_error());
    if (s != PIPA_OK) return;
    pipa_spm_info_t in = pipa_spm_info(spm);
    CHECK(in.n_pieces == 9 && in.unk_id == 0 && in.bos_id == 1 && in.eos_id == 2 && in.pad_id == -1);
    CHECK(in.add_dummy_prefix && !in.remove_extra_whitespaces && !in.byte_fallback);
    encodes(spm, "ab", 0, (int32_t[]){3, 6}, 2);         // ab (-1) before ▁a (-2)
    encodes(spm, "bbb", 0, (int32_t[]){3, 8, 5}, 3);     // two bb (-1): the leftmost first
    encodes(spm, "a", 1, (int32_t[]){1, 7}, 2);
    encodes(spm, "cc", 0, (int32_t[]){3, 0}, 2);         // a run of unknown characters: one <unk>
    encodes(spm, "c a\xff", 0, (int32_t[]){3, 0, 7, 0}, 4);
    encodes(spm, "", 0, NULL, 0);
    char *text = NULL;
    size_t len = 0;
    s = pipa_spm_decode(spm, (int32_t[]){1, 3, 6, 9}, 4, &text, &len);
    CHECKF(s != PIPA_OK && strstr(pipa_last_error(), "id 9 (index 3 of 4)"), "id 9: %s", pipa_last_error());
    s = pipa_spm_decode(spm, (int32_t[]){1, 7, 3, 6, 0}, 5, &text, &len);
    CHECKF(s == PIPA_OK && strcmp(text, "a ab \xe2\x81\x87 ") == 0, "decode: '%s'", text ? text : "");
    free(text);
    pipa_spm_free(spm);
}

/* The same pieces as a UNIGRAM model: the best sum of scores, ties to the path whose last piece
 * starts earliest; an unknown character scores the lowest NORMAL score - 10. */
static void test_unigram(void)
{
    buf_t o = {.n = 0};
    pieces(&o);
    trainer(&o, 1, 1, 0);
    normalizer(&o, "identity", NULL);
    pipa_spm_t *spm = NULL;
    if (read_exact(o.b, o.n, "unigram.model", &spm) != PIPA_OK) {
        CHECKF(0, "the unigram model: %s", pipa_last_error());
        return;
    }
    encodes(spm, "ab", 0, (int32_t[]){3, 6}, 2);      // ▁ ab (-11) over ▁a b (-12)
    encodes(spm, "bbb", 0, (int32_t[]){3, 5, 8}, 3);  // ▁ b bb and ▁ bb b tie at -21
    encodes(spm, "cc", 1, (int32_t[]){1, 3, 0}, 3);   // two unknown characters, one <unk>
    encodes(spm, "ca", 0, (int32_t[]){3, 0, 4}, 3);
    pipa_spm_free(spm);
    // <unk> against a piece: with a (+5) and ca (-14), ▁ <unk> a scores -10 + (-14 - 10) + 5 = -29,
    // below ▁ ca (-24); a penalty of 1 instead of 10 would make it -20 and win
    o.n = 0;
    piece(&o, "<unk>", 0, 2);
    piece(&o, "<s>", 0, 3);
    piece(&o, "</s>", 0, 3);
    piece(&o, SP, -10, 0);
    piece(&o, "a", 5, 0);
    piece(&o, "ca", -14, 0);
    piece(&o, "zz", 0, 4);  // user-defined: scores 2 x max_score (5) - 0.1 = 9.9, not its own 0
    piece(&o, "z", 4, 0);
    trainer(&o, 1, 1, 0);
    if (read_exact(o.b, o.n, "unigram2.model", &spm) != PIPA_OK) {
        CHECKF(0, "the second unigram model: %s", pipa_last_error());
        return;
    }
    encodes(spm, "ca", 0, (int32_t[]){3, 5}, 2);
    encodes(spm, "cca", 0, (int32_t[]){3, 0, 5}, 3);
    encodes(spm, "zz", 0, (int32_t[]){3, 6}, 2);     // ▁ zz: -10 + 9.9 over ▁ z z: -10 + 8
    pipa_spm_free(spm);
}

static void test_truncated(void)
{
    buf_t o = valid(), p = {.n = 0};
    pieces(&p);  // the model's first p.n bytes: the pieces, each a 1-byte tag and a 1-byte length
    char what[64], boundary[sizeof p.b] = {0};
    for (size_t at = 0; at < p.n; at += 2 + p.b[at + 1]) boundary[at] = 1;
    for (size_t cut = 1; cut < o.n; cut++) {
        snprintf(what, sizeof what, "cut at byte %zu", cut);
        pipa_spm_t *spm = NULL;
        pipa_status s = read_exact(o.b, cut, "bad.model", &spm);
        pipa_spm_free(spm);
        // a cut inside a piece is never valid; one between pieces is a UNIGRAM model (the default)
        if (cut < p.n && !boundary[cut])
            CHECKF(s != PIPA_OK && strstr(pipa_last_error(), "bad.model"), "%s accepted", what);
    }
    o.n -= 3;  // inside the normalizer spec
    refused(&o, "the last 3 bytes cut", "needs", "bytes but only");
    buf_t v = {.n = 0};
    tag(&v, 1, 0);
    memset(v.b + v.n, 0xff, 11), v.n += 11;
    refused(&v, "an overlong varint", "byte 1", "overlong varint");
    v.n = 0;
    tag(&v, 1, 0);
    v.b[v.n++] = 0x80;
    refused(&v, "a varint cut", "byte 1", "truncated");
}

static void test_wrong(void)
{
    buf_t o = {.n = 0}, p = {.n = 0};
    bytes(&p, 1, "x", 1);
    num(&p, 2, 5);  // a score as a varint
    bytes(&o, 1, p.b, p.n);
    refused(&o, "a score of wire type 0", "SentencePiece.score (field 2) has wire type 0",
            "expected 5 (fixed32)");
    o.n = 0;
    num(&o, 2, 1);  // trainer_spec as a varint
    refused(&o, "trainer_spec of wire type 0", "byte 0", "ModelProto.trainer_spec");
    o.n = 0;
    tag(&o, 3, 3);  // a group
    refused(&o, "a group", "wire type 3 (group)", NULL);
    o.n = 0;
    pieces(&o);
    trainer(&o, 2, 500, 0);
    refused(&o, "bos_id 500 of 9 pieces", "bos_id 500 is out of range", "9 pieces");
    o.n = 0;
    pieces(&o);
    trainer(&o, 4, 1, 0);
    refused(&o, "a CHAR model", "model type CHAR (4) is not supported", NULL);
    o.n = 0;
    pieces(&o);
    trainer(&o, 3, 1, 0);
    refused(&o, "a WORD model", "model type WORD (3)", NULL);
    o.n = 0;
    pieces(&o);
    trainer(&o, 2, 1, 0);
    normalizer(&o, "nmt_nfkc", "\x01\x02\x03\x04");
    refused(&o, "nmt_nfkc rules", "'nmt_nfkc'", "precompiled_charsmap");
}

static void test_pieces(void)
{
    buf_t o = {.n = 0};
    piece(&o, "<unk>", 0, 2);
    piece(&o, "a", 0, 1);
    piece(&o, "a", -1, 4);
    trainer(&o, 2, -1, 0);
    refused(&o, "a piece twice", "pieces 1 and 2 are the same text 'a'", NULL);
    o.n = 0;
    piece(&o, "a", 0, 1);
    trainer(&o, 2, -1, 0);
    refused(&o, "no <unk>", "no piece is of type UNKNOWN", NULL);
    o.n = 0;
    piece(&o, "<unk>", 0, 2);
    piece(&o, "<0x41>", 0, 6);
    trainer(&o, 2, -1, 0);
    refused(&o, "a byte piece, no fallback", "piece 1 is of type BYTE", "byte_fallback is off");
    o.n = 0;
    piece(&o, "<unk>", 0, 2);
    piece(&o, "<0x41>", 0, 6);
    trainer(&o, 2, -1, 1);
    refused(&o, "byte fallback, bytes missing", "<0x00> is missing", NULL);
    o.n = 0;
    piece(&o, "<unk>", 0, 2);
    piece(&o, "a", 0, 7);
    refused(&o, "type 7", "piece 1 has type 7", NULL);
    o.n = 0;
    piece(&o, "<unk>", 0, 2);
    piece(&o, "", 0, 1);
    trainer(&o, 2, -1, 0);
    refused(&o, "an empty piece", "piece 1 is empty", NULL);
    o.n = 0;
    piece(&o, "<unk>", 0, 2);
    trainer(&o, 2, -1, 0);
    pipa_spm_t *spm = NULL;
    if (pipa_spm_read(o.b, o.n, "one.model", &spm) != PIPA_OK) {
        CHECKF(0, "%s", pipa_last_error());
        return;
    }
    int32_t *ids = NULL;
    size_t n = 0;
    CHECK(pipa_spm_encode(spm, "a", 1, 1, &ids, &n) != PIPA_OK && strstr(pipa_last_error(), "no BOS"));
    pipa_spm_free(spm);
    CHECK(pipa_spm_load("no/such/tokenizer.model", &spm) == PIPA_ERR_IO &&
          strstr(pipa_last_error(), "no/such/tokenizer.model"));
}

int main(void)
{
    test_valid();
    test_unigram();
    test_truncated();
    test_wrong();
    test_pieces();
    return check_done("test_spm_bad");
}
