/* spm_model.c: reading a SentencePiece tokenizer.model (see spm.h): the protobuf ModelProto
 * (sentencepiece_model.proto), checked the way SentencePiece checks it when it loads one, and
 * the lookup of pieces by text. Encoding is in spm_encode.c, decoding in spm_decode.c.
 * Field numbers used (sentencepiece_model.proto):
 *   ModelProto      1 pieces (repeated SentencePiece), 2 trainer_spec, 3 normalizer_spec,
 *                   5 denormalizer_spec (a NormalizerSpec)
 *   SentencePiece   1 piece (string), 2 score (float), 3 type (enum, default NORMAL)
 *   TrainerSpec     3 model_type (default UNIGRAM), 24 treat_whitespace_as_suffix,
 *                   35 byte_fallback, 40 unk_id (0), 41 bos_id (1), 42 eos_id (2), 43 pad_id (-1),
 *                   44 unk_surface (" \u2047 ")
 *   NormalizerSpec  1 name, 2 precompiled_charsmap, 3 add_dummy_prefix (true),
 *                   4 remove_extra_whitespaces (true), 5 escape_whitespaces (true),
 *                   6 normalization_rule_tsv
 * Every other field is skipped. The work is bounded by the file's size: the pieces' bytes are
 * copied into one buffer of at most that size, and the arrays grow with the pieces found. */
#include "io/spm_internal.h"

#include <errno.h>
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "base/hash.h"
#include "io/pb.h"

/* What the file says besides the pieces, with sentencepiece_model.proto's defaults. */
typedef struct {
    int64_t model_type, unk_id, bos_id, eos_id, pad_id;
    int byte_fallback, ws_suffix;
    int dummy_prefix, extra_ws, escape_ws;
    const uint8_t *unk_surface;
    size_t unk_surface_len;
    pipa_pb_field_t name, charsmap, rules;           /* the normalizer's */
    size_t denorm_rules;                              /* the denormalizer's rule bytes */
    int32_t cap;                                      /* pieces allocated */
    size_t text_used;
} settings_t;

/* ---- the pieces ------------------------------------------------------------------------------ */

static pipa_status grow(pipa_spm_t *spm, settings_t *st)
{
    int32_t n = spm->info.n_pieces;
    if (n < st->cap) return PIPA_OK;
    int32_t cap = st->cap ? 2 * st->cap : 1024;
    void *p[4] = {realloc(spm->off, cap * sizeof *spm->off), NULL, NULL, NULL};
    if (p[0]) spm->off = p[0];
    if (p[0] && (p[1] = realloc(spm->len, cap * sizeof *spm->len))) spm->len = p[1];
    if (p[1] && (p[2] = realloc(spm->score, cap * sizeof *spm->score))) spm->score = p[2];
    if (p[2] && (p[3] = realloc(spm->type, cap * sizeof *spm->type))) spm->type = p[3];
    if (!p[3]) return pipa__fail(PIPA_ERR_NOMEM, "tokenizer: no memory for %d pieces", (int)cap);
    st->cap = cap;
    return PIPA_OK;
}

static pipa_status read_piece(pipa_spm_t *spm, settings_t *st, pipa_pb_reader_t r)
{
    PIPA_TRY(grow(spm, st));
    int32_t id = spm->info.n_pieces;
    spm->off[id] = (uint32_t)st->text_used;
    spm->len[id] = 0;
    spm->score[id] = 0.0f;
    spm->type[id] = PIPA_SPM_NORMAL;
    pipa_pb_field_t f;
    int more;
    for (;;) {
        PIPA_TRY(pipa_pb_next(&r, &f, &more));
        if (!more) break;
        if (f.number == 1) {
            PIPA_TRY(pipa_pb_want(&r, &f, PIPA_PB_LEN, "SentencePiece.piece"));
            memcpy(spm->text + st->text_used, f.data, f.len);  // pieces' bytes <= the file's
            spm->off[id] = (uint32_t)st->text_used;
            spm->len[id] = (uint32_t)f.len;
            st->text_used += f.len;
        } else if (f.number == 2) {
            PIPA_TRY(pipa_pb_want(&r, &f, PIPA_PB_FIXED32, "SentencePiece.score"));
            spm->score[id] = pipa_pb_float(&f);
            if (!isfinite(spm->score[id]))
                return pipa__fail(PIPA_ERR_FORMAT, "%s: byte %zu: piece %d has a score that is "
                                  "not a finite number", r.name, f.at, (int)id);
        } else if (f.number == 3) {
            PIPA_TRY(pipa_pb_want(&r, &f, PIPA_PB_VARINT, "SentencePiece.type"));
            if (f.value < PIPA_SPM_NORMAL || f.value > PIPA_SPM_BYTE)
                return pipa__fail(PIPA_ERR_FORMAT, "%s: byte %zu: piece %d has type %llu, not one "
                                  "of NORMAL (1) to BYTE (6)", r.name, f.at, (int)id,
                                  (unsigned long long)f.value);
            spm->type[id] = (uint8_t)f.value;
        }
    }
    spm->info.n_pieces++;
    return PIPA_OK;
}

/* ---- the settings ---------------------------------------------------------------------------- */

/* A varint field that must be a varint: its value into *v. */
static pipa_status varint(const pipa_pb_reader_t *r, const pipa_pb_field_t *f, const char *what,
                          int64_t *v)
{
    PIPA_TRY(pipa_pb_want(r, f, PIPA_PB_VARINT, what));
    *v = (int64_t)f->value;  // int32 fields store negative values sign-extended to 64 bits
    return PIPA_OK;
}

static pipa_status read_trainer(settings_t *st, pipa_pb_reader_t r)
{
    pipa_pb_field_t f;
    int more;
    int64_t v;
    for (;;) {
        PIPA_TRY(pipa_pb_next(&r, &f, &more));
        if (!more) break;
        switch (f.number) {
        case 3: PIPA_TRY(varint(&r, &f, "TrainerSpec.model_type", &st->model_type)); break;
        case 24: PIPA_TRY(varint(&r, &f, "TrainerSpec.treat_whitespace_as_suffix", &v));
            st->ws_suffix = v != 0; break;
        case 35: PIPA_TRY(varint(&r, &f, "TrainerSpec.byte_fallback", &v));
            st->byte_fallback = v != 0; break;
        case 40: PIPA_TRY(varint(&r, &f, "TrainerSpec.unk_id", &st->unk_id)); break;
        case 41: PIPA_TRY(varint(&r, &f, "TrainerSpec.bos_id", &st->bos_id)); break;
        case 42: PIPA_TRY(varint(&r, &f, "TrainerSpec.eos_id", &st->eos_id)); break;
        case 43: PIPA_TRY(varint(&r, &f, "TrainerSpec.pad_id", &st->pad_id)); break;
        case 44: PIPA_TRY(pipa_pb_want(&r, &f, PIPA_PB_LEN, "TrainerSpec.unk_surface"));
            st->unk_surface = f.data;
            st->unk_surface_len = f.len;
            break;
        default: break;
        }
    }
    return PIPA_OK;
}

static pipa_status read_normalizer(settings_t *st, pipa_pb_reader_t r, int denormalizer)
{
    pipa_pb_field_t f;
    int more;
    int64_t v;
    for (;;) {
        PIPA_TRY(pipa_pb_next(&r, &f, &more));
        if (!more) break;
        if (f.number == 1 || f.number == 2 || f.number == 6) {
            PIPA_TRY(pipa_pb_want(&r, &f, PIPA_PB_LEN, f.number == 1 ? "NormalizerSpec.name"
                                  : f.number == 2 ? "NormalizerSpec.precompiled_charsmap"
                                  : "NormalizerSpec.normalization_rule_tsv"));
            if (denormalizer && f.number != 1) st->denorm_rules += f.len;
            else if (!denormalizer) *(f.number == 1 ? &st->name : f.number == 2 ? &st->charsmap
                                      : &st->rules) = f;
        } else if (f.number >= 3 && f.number <= 5 && !denormalizer) {
            PIPA_TRY(varint(&r, &f, "NormalizerSpec's flags (fields 3 to 5)", &v));
            *(f.number == 3 ? &st->dummy_prefix : f.number == 4 ? &st->extra_ws : &st->escape_ws)
                = v != 0;
        }
    }
    return PIPA_OK;
}

static pipa_status read_model(pipa_spm_t *spm, settings_t *st, pipa_pb_reader_t r)
{
    pipa_pb_field_t f;
    int more;
    static const char *names[] = {"", "ModelProto.pieces", "ModelProto.trainer_spec",
                                  "ModelProto.normalizer_spec", "", "ModelProto.denormalizer_spec"};
    for (;;) {
        PIPA_TRY(pipa_pb_next(&r, &f, &more));
        if (!more) return PIPA_OK;
        if (f.number > 5 || f.number == 4) continue;
        PIPA_TRY(pipa_pb_want(&r, &f, PIPA_PB_LEN, names[f.number]));
        if (f.number == 1) PIPA_TRY(read_piece(spm, st, pipa_pb_nested(&r, &f, "SentencePiece")));
        if (f.number == 2) PIPA_TRY(read_trainer(st, pipa_pb_nested(&r, &f, "TrainerSpec")));
        if (f.number == 3 || f.number == 5)
            PIPA_TRY(read_normalizer(st, pipa_pb_nested(&r, &f, "NormalizerSpec"), f.number == 5));
    }
}

/* ---- checks ---------------------------------------------------------------------------------- */

static pipa_status check_settings(const settings_t *st, const char *name)
{
    static const char *types[] = {"", "UNIGRAM", "BPE", "WORD", "CHAR"};
    if (st->model_type != PIPA__SPM_BPE && st->model_type != PIPA__SPM_UNIGRAM)
        return pipa__fail(PIPA_ERR_FORMAT, "%s: model type %s (%lld) is not supported: pipa "
                          "implements SentencePiece's BPE (2), the type of Llama 2 and TinyLlama, "
                          "and UNIGRAM (1)",
                          name, st->model_type >= 1 && st->model_type <= 4
                          ? types[st->model_type] : "unknown", (long long)st->model_type);
    if (st->charsmap.len || st->rules.len || st->denorm_rules)
        return pipa__fail(PIPA_ERR_FORMAT, "%s: the normalizer '%.*s' has %s rules (%zu bytes), "
                          "which pipa does not implement: only rule-free normalization such as "
                          "'identity' (Llama 2, TinyLlama) is supported", name,
                          (int)(st->name.len > 64 ? 64 : st->name.len), (const char *)st->name.data,
                          st->charsmap.len ? "precompiled_charsmap" : st->rules.len
                          ? "normalization_rule_tsv" : "denormalizer",
                          st->charsmap.len + st->rules.len + st->denorm_rules);
    if (st->ws_suffix)
        return pipa__fail(PIPA_ERR_FORMAT, "%s: treat_whitespace_as_suffix is set, which pipa "
                          "does not implement", name);
    return PIPA_OK;
}

/* "<0x41>" -> 0x41, as SentencePiece writes byte pieces (upper-case hex); -1 if not one. */
int pipa__spm_byte_of(const char *s, size_t n)
{
    static const char hex[] = "0123456789ABCDEF";
    if (n != 6 || memcmp(s, "<0x", 3) != 0 || s[5] != '>' || !s[3] || !s[4]) return -1;
    const char *hi = strchr(hex, s[3]), *lo = strchr(hex, s[4]);
    return hi && lo ? (int)((hi - hex) * 16 + (lo - hex)) : -1;
}

static int reserved(uint8_t type)
{
    return type == PIPA_SPM_UNKNOWN || type == PIPA_SPM_CONTROL || type == PIPA_SPM_BYTE;
}

static pipa_status check_piece(pipa_spm_t *spm, int32_t id, const char *name, int32_t *unk)
{
    const char *s = spm->text + spm->off[id];
    if (spm->len[id] == 0) return pipa__fail(PIPA_ERR_FORMAT, "%s: piece %d is empty", name, (int)id);
    if (spm->type[id] == PIPA_SPM_UNKNOWN) {
        if (*unk >= 0) return pipa__fail(PIPA_ERR_FORMAT, "%s: pieces %d and %d are both of type "
                                         "UNKNOWN; a model has one", name, (int)*unk, (int)id);
        *unk = id;
    }
    if (spm->type[id] == PIPA_SPM_USER_DEFINED && spm->len[id] > spm->max_user_len)
        spm->max_user_len = spm->len[id];
    if (!reserved(spm->type[id]) && spm->len[id] > spm->max_len) spm->max_len = spm->len[id];
    if (spm->type[id] == PIPA_SPM_NORMAL) {
        if (spm->score[id] < spm->min_score) spm->min_score = spm->score[id];
        if (spm->score[id] > spm->max_score) spm->max_score = spm->score[id];
    }
    if (spm->type[id] != PIPA_SPM_BYTE) return PIPA_OK;
    int b = pipa__spm_byte_of(s, spm->len[id]);
    if (!spm->info.byte_fallback)
        return pipa__fail(PIPA_ERR_FORMAT, "%s: piece %d is of type BYTE but the model's "
                          "byte_fallback is off", name, (int)id);
    if (b < 0) return pipa__fail(PIPA_ERR_FORMAT, "%s: piece %d is of type BYTE but is not "
                                 "written <0xXX>", name, (int)id);
    spm->byte_id[b] = id;  // a second <0xXX> of the same byte is refused as a duplicate
    return PIPA_OK;
}

static pipa_status check_id(int64_t id, int32_t n, const char *what, const char *name,
                            int32_t *out)
{
    if (id < -1 || id >= n)
        return pipa__fail(PIPA_ERR_FORMAT, "%s: trainer_spec %s %lld is out of range: the model "
                          "has %d pieces (ids 0 to %d, or -1 for none)", name, what,
                          (long long)id, (int)n, (int)n - 1);
    *out = (int32_t)id;
    return PIPA_OK;
}

/* ---- lookup by text -------------------------------------------------------------------------- */

int32_t pipa__spm_find(const pipa_spm_t *spm, int which, const char *s, size_t n)
{
    return pipa__spm_find_hash(spm, which, s, n, pipa_hash_fnv1a(PIPA_HASH_INIT, s, n));
}

int32_t pipa__spm_find_hash(const pipa_spm_t *spm, int which, const char *s, size_t n, uint64_t hash)
{
    const int32_t *t = spm->table[which];
    for (uint32_t h = (uint32_t)hash;; h++) {
        int32_t id = t[h & spm->mask];
        if (id < 0) return -1;
        if (spm->len[id] == n && memcmp(spm->text + spm->off[id], s, n) == 0) return id;
    }
}

int32_t pipa__spm_id(const pipa_spm_t *spm, const char *s, size_t n)
{
    int32_t id = pipa__spm_find(spm, PIPA__SPM_RESERVED, s, n);
    return id >= 0 ? id : pipa__spm_find(spm, PIPA__SPM_MERGEABLE, s, n);
}

/* Both tables, sized to at most half full; a text twice in one table is refused (SentencePiece:
 * "piece is already defined"). */
static pipa_status build_tables(pipa_spm_t *spm, const char *name)
{
    uint32_t cap = 16;
    while (cap < 2u * (uint32_t)spm->info.n_pieces) cap *= 2;
    spm->mask = cap - 1;
    for (int w = 0; w < 2; w++) {
        if (!(spm->table[w] = malloc(cap * sizeof(int32_t))))
            return pipa__fail(PIPA_ERR_NOMEM, "%s: no memory for the piece table", name);
        memset(spm->table[w], 0xff, cap * sizeof(int32_t));
    }
    for (int32_t id = 0; id < spm->info.n_pieces; id++) {
        const char *s = spm->text + spm->off[id];
        int w = reserved(spm->type[id]) ? PIPA__SPM_RESERVED : PIPA__SPM_MERGEABLE;
        int32_t old = pipa__spm_find(spm, w, s, spm->len[id]);
        if (old >= 0)
            return pipa__fail(PIPA_ERR_FORMAT, "%s: pieces %d and %d are the same text '%.*s'",
                              name, (int)old, (int)id, (int)(spm->len[id] > 64 ? 64 : spm->len[id]), s);
        uint32_t h = (uint32_t)pipa_hash_fnv1a(PIPA_HASH_INIT, s, spm->len[id]);
        while (spm->table[w][h & spm->mask] >= 0) h++;
        spm->table[w][h & spm->mask] = id;
    }
    return PIPA_OK;
}

/* ---- reading --------------------------------------------------------------------------------- */

static pipa_status finish(pipa_spm_t *spm, const settings_t *st, const char *name)
{
    pipa_spm_info_t *in = &spm->info;
    PIPA_TRY(check_settings(st, name));
    if (in->n_pieces == 0) return pipa__fail(PIPA_ERR_FORMAT, "%s: the model has no pieces", name);
    in->byte_fallback = st->byte_fallback;
    in->add_dummy_prefix = st->dummy_prefix;
    in->remove_extra_whitespaces = st->extra_ws;
    in->escape_whitespaces = st->escape_ws;
    for (int b = 0; b < 256; b++) spm->byte_id[b] = -1;
    int32_t unk = -1, ignored;
    spm->model_type = (int)st->model_type;
    spm->min_score = FLT_MAX;  // unigram_model.cc's starting values and their fallbacks to 0
    spm->max_score = FLT_MIN;
    for (int32_t id = 0; id < in->n_pieces; id++) PIPA_TRY(check_piece(spm, id, name, &unk));
    if (spm->min_score == FLT_MAX) spm->min_score = 0.0f;
    if (spm->max_score == FLT_MIN) spm->max_score = 0.0f;
    if (unk < 0) return pipa__fail(PIPA_ERR_FORMAT, "%s: no piece is of type UNKNOWN", name);
    for (int b = 0; b < 256 && in->byte_fallback; b++)
        if (spm->byte_id[b] < 0)
            return pipa__fail(PIPA_ERR_FORMAT, "%s: byte_fallback is on but the byte piece "
                              "<0x%02X> is missing", name, b);
    in->unk_id = unk;
    PIPA_TRY(check_id(st->unk_id, in->n_pieces, "unk_id", name, &ignored));
    PIPA_TRY(check_id(st->bos_id, in->n_pieces, "bos_id", name, &in->bos_id));
    PIPA_TRY(check_id(st->eos_id, in->n_pieces, "eos_id", name, &in->eos_id));
    PIPA_TRY(check_id(st->pad_id, in->n_pieces, "pad_id", name, &in->pad_id));
    static const char unk_default[] = " \xe2\x81\x87 ";  // " U+2047 ", SentencePiece's default
    const void *surface = st->unk_surface ? (const void *)st->unk_surface : unk_default;
    spm->unk_surface_len = st->unk_surface ? st->unk_surface_len : sizeof unk_default - 1;
    if (!(spm->unk_surface = malloc(spm->unk_surface_len + 1)))
        return pipa__fail(PIPA_ERR_NOMEM, "%s: no memory", name);
    memcpy(spm->unk_surface, surface, spm->unk_surface_len);
    return build_tables(spm, name);
}

pipa_status pipa_spm_read(const void *data, size_t size, const char *name, pipa_spm_t **out)
{
    *out = NULL;
    if (size > PIPA_SPM_MAX_BYTES)
        return pipa__fail(PIPA_ERR_FORMAT, "%s: %zu bytes, more than a tokenizer model may have "
                          "(%u)", name, size, PIPA_SPM_MAX_BYTES);
    pipa_spm_t *spm = calloc(1, sizeof *spm);
    if (spm) spm->text = malloc(size + 1);  // every piece's bytes are some of the file's
    if (!spm || !spm->text) {
        pipa_spm_free(spm);
        return pipa__fail(PIPA_ERR_NOMEM, "%s: no memory for the tokenizer", name);
    }
    settings_t st = {.model_type = 1, .unk_id = 0, .bos_id = 1, .eos_id = 2, .pad_id = -1,
                     .dummy_prefix = 1, .extra_ws = 1, .escape_ws = 1};
    pipa_status s = read_model(spm, &st, pipa_pb_open(data, size, name, "ModelProto"));
    if (s == PIPA_OK) s = finish(spm, &st, name);
    if (s != PIPA_OK) {
        pipa_spm_free(spm);
        return s;
    }
    *out = spm;
    return PIPA_OK;
}

pipa_status pipa_spm_load(const char *path, pipa_spm_t **out)
{
    *out = NULL;
    FILE *f = fopen(path, "rb");
    if (!f) return pipa__fail(PIPA_ERR_IO, "cannot open tokenizer %s: %s", path, strerror(errno));
    struct stat sb;
    pipa_status s = PIPA_OK;
    uint8_t *buf = NULL;
    if (fstat(fileno(f), &sb) != 0 || !S_ISREG(sb.st_mode))
        s = pipa__fail(PIPA_ERR_IO, "tokenizer %s is not a regular file", path);
    else if ((uint64_t)sb.st_size > PIPA_SPM_MAX_BYTES)
        s = pipa__fail(PIPA_ERR_FORMAT, "tokenizer %s has %lld bytes, more than a tokenizer "
                       "model may have (%u)", path, (long long)sb.st_size, PIPA_SPM_MAX_BYTES);
    else if (!(buf = malloc((size_t)sb.st_size + 1)))
        s = pipa__fail(PIPA_ERR_NOMEM, "no memory to read tokenizer %s", path);
    else if (fread(buf, 1, (size_t)sb.st_size, f) != (size_t)sb.st_size)
        s = pipa__fail(PIPA_ERR_IO, "cannot read tokenizer %s: %s", path,
                       ferror(f) ? strerror(errno) : "shorter than its size");
    fclose(f);
    if (s == PIPA_OK) s = pipa_spm_read(buf, (size_t)sb.st_size, path, out);
    free(buf);
    return s;
}

void pipa_spm_free(pipa_spm_t *spm)
{
    if (!spm) return;
    free(spm->text);
    free(spm->off);
    free(spm->len);
    free(spm->score);
    free(spm->type);
    free(spm->table[0]);
    free(spm->table[1]);
    free(spm->unk_surface);
    free(spm);
}

pipa_spm_info_t pipa_spm_info(const pipa_spm_t *spm) { return spm->info; }

const char *pipa_spm_piece(const pipa_spm_t *spm, int32_t id, size_t *len)
{
    PIPA_ASSERT(id >= 0 && id < spm->info.n_pieces);
    *len = spm->len[id];
    return spm->text + spm->off[id];
}

float pipa_spm_score(const pipa_spm_t *spm, int32_t id)
{
    PIPA_ASSERT(id >= 0 && id < spm->info.n_pieces);
    return spm->score[id];
}

pipa_spm_type pipa_spm_type_of(const pipa_spm_t *spm, int32_t id)
{
    PIPA_ASSERT(id >= 0 && id < spm->info.n_pieces);
    return (pipa_spm_type)spm->type[id];
}

/* SentencePiece's DecodeUTF8 + IsValidDecodeUTF8 (util.h), on bytes. */
size_t pipa__spm_utf8_len(const unsigned char *s, size_t n)
{
    uint32_t c;
    if (s[0] < 0x80) return 1;
    if (n >= 2 && (s[0] & 0xe0) == 0xc0 && (s[1] & 0xc0) == 0x80) {
        c = (uint32_t)(s[0] & 0x1f) << 6 | (s[1] & 0x3f);
        return c >= 0x80 ? 2 : 0;
    }
    if (n >= 3 && (s[0] & 0xf0) == 0xe0 && (s[1] & 0xc0) == 0x80 && (s[2] & 0xc0) == 0x80) {
        c = (uint32_t)(s[0] & 0x0f) << 12 | (uint32_t)(s[1] & 0x3f) << 6 | (s[2] & 0x3f);
        return c >= 0x800 && (c < 0xd800 || c >= 0xe000) ? 3 : 0;
    }
    if (n >= 4 && (s[0] & 0xf8) == 0xf0 && (s[1] & 0xc0) == 0x80 && (s[2] & 0xc0) == 0x80 &&
        (s[3] & 0xc0) == 0x80) {
        c = (uint32_t)(s[0] & 0x07) << 18 | (uint32_t)(s[1] & 0x3f) << 12 |
            (uint32_t)(s[2] & 0x3f) << 6 | (s[3] & 0x3f);
        return c >= 0x10000 && c <= 0x10ffff ? 4 : 0;
    }
    return 0;
}
