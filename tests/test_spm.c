/* test_spm: pipa's SentencePiece tokenizer (src/io/spm*.c) against SentencePiece itself:
 * tests/ref/spm/ref.txt, written by tests/ref/gen_spm_ref.py with python3-sentencepiece, holds
 * for three tiny models (two BPE, one UNIGRAM) every piece (text, score, kind), the encoding of many texts (with and
 * without BOS) and the decoding of those ids and of hand-picked ones. Every id and every byte of
 * text must be equal.   usage: test_spm [REF_DIR]   (default tests/ref/spm) */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "io/spm.h"

enum { MAX_IDS = 4096 };

/* Hex (or "-" for empty) into out; returns the length. */
static size_t unhex(const char *h, char *out)
{
    size_t n = 0;
    if (strcmp(h, "-") == 0) return 0;
    for (; h[0] && h[1]; h += 2) {
        unsigned b;
        sscanf(h, "%2x", &b);
        out[n++] = (char)b;
    }
    return n;
}

/* "1,2,3" (or "-") into ids; returns the count. */
static size_t parse_ids(const char *s, int32_t *ids)
{
    size_t n = 0;
    if (strcmp(s, "-") == 0) return 0;
    for (char *end; *s && n < MAX_IDS; s = *end ? end + 1 : end) ids[n++] = (int32_t)strtol(s, &end, 10);
    return n;
}

static char kind_of(pipa_spm_type t)
{
    return t == PIPA_SPM_UNKNOWN ? 'u' : t == PIPA_SPM_CONTROL ? 'c' : t == PIPA_SPM_UNUSED ? 'x'
         : t == PIPA_SPM_BYTE ? 'b' : 'n';
}

static void check_piece(const pipa_spm_t *spm, char **f, const char *model)
{
    static char want[4096];
    int32_t id = (int32_t)atoi(f[1]);
    size_t n = unhex(f[2], want), len;
    CHECKF(id >= 0 && id < pipa_spm_info(spm).n_pieces, "%s: piece %d", model, (int)id);
    if (id < 0 || id >= pipa_spm_info(spm).n_pieces) return;
    const char *got = pipa_spm_piece(spm, id, &len);
    CHECKF(len == n && memcmp(got, want, n) == 0, "%s: piece %d text", model, (int)id);
    float score = (float)strtod(f[3], NULL);
    CHECKF(pipa_spm_score(spm, id) == score && signbit(pipa_spm_score(spm, id)) == signbit(score),
           "%s: piece %d score %a, SentencePiece %a", model, (int)id, pipa_spm_score(spm, id), score);
    CHECKF(kind_of(pipa_spm_type_of(spm, id)) == f[4][0], "%s: piece %d kind %c, SentencePiece %s",
           model, (int)id, kind_of(pipa_spm_type_of(spm, id)), f[4]);
}

static void show_ids(const char *what, const int32_t *ids, size_t n)
{
    fprintf(stderr, "  %s:", what);
    for (size_t i = 0; i < n; i++) fprintf(stderr, " %d", (int)ids[i]);
    fprintf(stderr, "\n");
}

/* decode(ids) must be the hex text `want`. */
static int check_decode(const pipa_spm_t *spm, const int32_t *ids, size_t n, const char *want_hex,
                        const char *model, int line)
{
    static char want[16384];
    size_t wn = unhex(want_hex, want), len = 0;
    char *text = NULL;
    pipa_status s = pipa_spm_decode(spm, ids, n, &text, &len);
    int ok = s == PIPA_OK && len == wn && memcmp(text, want, wn) == 0 && text[len] == '\0';
    CHECKF(ok, "%s: ref.txt line %d: decode differs from SentencePiece (%s; %zu bytes, want %zu)",
           model, line, s == PIPA_OK ? "ok" : pipa_last_error(), len, wn);
    free(text);
    return ok;
}

static int check_encode(const pipa_spm_t *spm, char **f, const char *model, int line)
{
    static char text[16384];
    static int32_t want[MAX_IDS];
    size_t tn = unhex(f[1], text), wn = parse_ids(f[3], want), n = 0;
    int32_t *ids = NULL;
    pipa_status s = pipa_spm_encode(spm, text, tn, atoi(f[2]), &ids, &n);
    int ok = s == PIPA_OK && n == wn && (n == 0 || memcmp(ids, want, n * sizeof *ids) == 0);
    CHECKF(ok, "%s: ref.txt line %d: encoding of '%.*s' (bos %s) differs from SentencePiece%s%s",
           model, line, (int)tn, text, f[2], s == PIPA_OK ? "" : ": ", s == PIPA_OK ? "" : pipa_last_error());
    if (!ok && s == PIPA_OK) show_ids("pipa", ids, n), show_ids("SentencePiece", want, wn);
    if (s == PIPA_OK) ok &= check_decode(spm, ids, n, f[4], model, line);
    free(ids);
    return ok;
}

static void check_model(const pipa_spm_t *spm, char **f)
{
    pipa_spm_info_t in = pipa_spm_info(spm);
    CHECKF(in.n_pieces == atoi(f[2]) && in.bos_id == atoi(f[3]) && in.eos_id == atoi(f[4]) &&
           in.unk_id == atoi(f[5]) && in.pad_id == atoi(f[6]),
           "%s: pieces %d bos %d eos %d unk %d pad %d; SentencePiece: %s %s %s %s %s", f[1],
           (int)in.n_pieces, (int)in.bos_id, (int)in.eos_id, (int)in.unk_id, (int)in.pad_id, f[2],
           f[3], f[4], f[5], f[6]);
}

/* Splits line into at most 8 space-separated fields; returns the count. */
static int split(char *line, char **f)
{
    int n = 0;
    for (char *t = strtok(line, " \n"); t && n < 8; t = strtok(NULL, " \n")) f[n++] = t;
    return n;
}

int main(int argc, char **argv)
{
    const char *dir = argc > 1 ? argv[1] : "tests/ref/spm";
    char path[4096], *line = NULL, *f[8], model[256] = "";
    size_t cap = 0;
    int lineno = 0, pieces = 0, encs = 0, decs = 0, models = 0, bad = 0;
    static int32_t ids[MAX_IDS];
    snprintf(path, sizeof path, "%s/ref.txt", dir);
    FILE *in = fopen(path, "r");
    if (!in) {
        fprintf(stderr, "test_spm: cannot open %s\n", path);
        return 1;
    }
    pipa_spm_t *spm = NULL;
    while (getline(&line, &cap, in) > 0) {
        lineno++;
        int n = split(line, f);
        if (n == 7 && strcmp(f[0], "model") == 0) {
            pipa_spm_free(spm);
            snprintf(path, sizeof path, "%s/%s", dir, f[1]);
            snprintf(model, sizeof model, "%s", f[1]);
            pipa_status s = pipa_spm_load(path, &spm);
            CHECKF(s == PIPA_OK, "%s: %s", path, pipa_last_error());
            if (s != PIPA_OK) break;
            check_model(spm, f), models++;
        } else if (spm && n == 5 && strcmp(f[0], "piece") == 0) {
            check_piece(spm, f, model), pieces++;
        } else if (spm && n == 5 && strcmp(f[0], "enc") == 0) {
            bad += !check_encode(spm, f, model, lineno), encs++;
        } else if (spm && n == 3 && strcmp(f[0], "dec") == 0) {
            bad += !check_decode(spm, ids, parse_ids(f[1], ids), f[2], model, lineno), decs++;
        } else {
            CHECKF(0, "%s line %d: not a record test_spm knows", path, lineno);
        }
    }
    fclose(in);
    free(line);
    pipa_spm_free(spm);
    printf("test_spm: %d models, %d pieces, %d encodings, %d decodings against SentencePiece; "
           "%d differ\n", models, pieces, encs, decs, bad);
    CHECK(models == 3 && encs > 300 && decs > 60);
    return check_done("test_spm");
}
