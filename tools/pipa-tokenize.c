/* pipa-tokenize: a SentencePiece tokenizer.model (Llama 2 / TinyLlama family) at the command
 * line, through pipa's own reader (src/io/spm.h): text in, ids out (comma-separated, the form of
 * pipa-generate's --prompt-ids), and back.
 *
 *   pipa-tokenize --model DIR/tokenizer.model "Hello world"        -> 1,15043,3186
 *   pipa-tokenize --model DIR/tokenizer.model --decode 1,15043,3186  -> Hello world
 *   echo "Hello" | pipa-tokenize --model FILE --pieces --no-bos      one "id piece" a line */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/cli.h"
#include "io/spm.h"

typedef struct {
    const char *model, *decode, *text;
    int bos, pieces, info;
} tok_opts_t;

static void usage(FILE *f)
{
    fprintf(f, "usage: pipa-tokenize --model FILE [options] [TEXT]\n"
          "Encodes TEXT (or standard input, all of it, when no TEXT is given) into token ids with a\n"
          "SentencePiece BPE tokenizer.model, or decodes ids back into text.\n"
          "  --model FILE        the tokenizer.model (required)\n"
          "  --no-bos            leave out the BOS id (<s>) that starts the ids by default\n"
          "  --pieces            print one 'id piece' a line instead of the comma-separated ids\n"
          "  --decode IDS        decode comma-separated ids (e.g. 1,15043,3186) into text;\n"
          "                      --decode - reads them from standard input\n"
          "  --info              print the vocabulary size, special ids and normalizer settings\n"
          "  --help              this text\n");
}

static pipa_status parse(int argc, char **argv, tok_opts_t *o)
{
    for (int i = 1; i < argc; i++) {
        const char *v = NULL;
        int r = 0;
        if (!strcmp(argv[i], "--no-bos")) o->bos = 0, r = 2;
        else if (!strcmp(argv[i], "--pieces")) o->pieces = 1, r = 2;
        else if (!strcmp(argv[i], "--info")) o->info = 1, r = 2;
        if (r == 0 && (r = pipa_cli_take(argc, argv, &i, "--model", &v)) == 1) o->model = v;
        if (r == 0 && (r = pipa_cli_take(argc, argv, &i, "--decode", &v)) == 1) o->decode = v;
        if (r < 0) return pipa_status_set_error(PIPA_ERR_ARG, "%s needs a value", argv[i]);
        if (r == 0 && argv[i][0] == '-' && argv[i][1] == '-')
            return pipa_status_set_error(PIPA_ERR_ARG, "unknown option '%s' (try --help)", argv[i]);
        if (r == 0 && o->text) return pipa_status_set_error(PIPA_ERR_ARG, "one TEXT only (quote it)");
        if (r == 0) o->text = argv[i];
    }
    if (!o->model) return pipa_status_set_error(PIPA_ERR_ARG, "--model FILE is required (try --help)");
    if (o->decode && (o->text || o->pieces))
        return pipa_status_set_error(PIPA_ERR_ARG, "--decode takes ids, not %s", o->text ? "TEXT" : "--pieces");
    return PIPA_OK;
}

/* "1,17,42" -> ids (malloc'd). */
static pipa_status parse_ids(const char *s, int32_t **ids, size_t *n)
{
    size_t cap = 1;
    for (const char *p = s; *p; p++) cap += *p == ',';
    *ids = malloc(cap * sizeof **ids);
    *n = 0;
    if (!*ids) return pipa_status_set_error(PIPA_ERR_NOMEM, "no memory for %zu ids", cap);
    for (const char *p = s;; p++) {
        char *end;
        long v = strtol(p, &end, 10);
        if (end == p || v < 0 || v > INT32_MAX || (*end && *end != ','))
            return pipa_status_set_error(PIPA_ERR_ARG, "--decode needs comma-separated ids, got '%s'", s);
        (*ids)[(*n)++] = (int32_t)v;
        if (!*(p = end)) return PIPA_OK;
    }
}

static pipa_status read_all(FILE *f, char **text, size_t *len)
{
    size_t cap = 1 << 16;
    *text = malloc(cap);
    *len = 0;
    for (size_t got; *text && (got = fread(*text + *len, 1, cap - *len, f)) > 0;) {
        *len += got;
        if (*len == cap && !(*text = realloc(*text, cap *= 2)))
            return pipa_status_set_error(PIPA_ERR_NOMEM, "no memory for the text");
    }
    if (!*text) return pipa_status_set_error(PIPA_ERR_NOMEM, "no memory for the text");
    return ferror(f) ? pipa_status_set_error(PIPA_ERR_IO, "reading standard input failed") : PIPA_OK;
}

static void print_info(const pipa_spm_t *spm, const char *path)
{
    pipa_spm_info_t in = pipa_spm_info(spm);
    printf("# %s: SentencePiece BPE, %d pieces\n", path, (int)in.n_pieces);
    printf("unk %d  bos %d  eos %d  pad %d  byte_fallback %d\n", (int)in.unk_id, (int)in.bos_id,
           (int)in.eos_id, (int)in.pad_id, in.byte_fallback);
    printf("add_dummy_prefix %d  remove_extra_whitespaces %d  escape_whitespaces %d\n",
           in.add_dummy_prefix, in.remove_extra_whitespaces, in.escape_whitespaces);
}

static pipa_status encode(const pipa_spm_t *spm, const tok_opts_t *o)
{
    char *text = NULL;
    size_t len = 0, n = 0;
    int32_t *ids = NULL;
    pipa_status s = o->text ? PIPA_OK : read_all(stdin, &text, &len);
    if (s == PIPA_OK) s = pipa_spm_encode(spm, o->text ? o->text : text,
                                          o->text ? strlen(o->text) : len, o->bos, &ids, &n);
    for (size_t i = 0; s == PIPA_OK && i < n; i++) {
        size_t plen;
        const char *p = pipa_spm_piece(spm, ids[i], &plen);
        if (o->pieces) printf("%d %.*s\n", (int)ids[i], (int)plen, p);
        else printf("%s%d", i ? "," : "", (int)ids[i]);
    }
    if (s == PIPA_OK && !o->pieces) printf("\n");
    free(text);
    free(ids);
    return s;
}

static pipa_status decode(const pipa_spm_t *spm, const char *list)
{
    int32_t *ids = NULL;
    size_t n = 0, len = 0;
    char *text = NULL, *in = NULL;
    pipa_status s = PIPA_OK;
    if (!strcmp(list, "-") && (s = read_all(stdin, &in, &len)) == PIPA_OK) {
        while (len > 0 && (in[len - 1] == '\n' || in[len - 1] == ' ')) len--;  // what encode printed
        in[len] = '\0';  // read_all leaves a byte free
        list = in;
    }
    if (s == PIPA_OK) s = parse_ids(list, &ids, &n);
    if (s == PIPA_OK) s = pipa_spm_decode(spm, ids, n, &text, &len);
    if (s == PIPA_OK) fwrite(text, 1, len, stdout), printf("\n");
    free(ids);
    free(text);
    free(in);
    return s;
}

int main(int argc, char **argv)
{
    pipa_cli_check_stdout_at_exit("pipa-tokenize");
    for (int i = 1; i < argc; i++)
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) return usage(stdout), 0;
    tok_opts_t o = {.bos = 1};
    pipa_spm_t *spm = NULL;
    pipa_status s = parse(argc, argv, &o);
    if (s == PIPA_OK) s = pipa_spm_load(o.model, &spm);
    if (s == PIPA_OK && o.info) print_info(spm, o.model);
    else if (s == PIPA_OK && o.decode) s = decode(spm, o.decode);
    else if (s == PIPA_OK) s = encode(spm, &o);
    pipa_spm_free(spm);
    if (s != PIPA_OK) {
        fprintf(stderr, "pipa-tokenize: %s\n", pipa_last_error());
        return 1;
    }
    return 0;
}
