/* spm_encode.c: text -> ids with a SentencePiece BPE model (see spm.h), step by step as
 * SentencePiece 0.1.x does it: normalizer.cc (Normalize), bpe_model.cc (Encode) and
 * sentencepiece_processor.cc (the byte fallback and the merging of unknown runs).
 * The merge loop keeps the candidate pairs in a heap (highest score first, then the leftmost),
 * so a text of n bytes costs O(n log n) lookups; a candidate whose symbols changed since it was
 * pushed is dropped when it comes up (symbols only grow, so an unchanged total size means
 * unchanged symbols). Left out: sampling (BPE-dropout), n-best, offsets. */
#include "io/spm_internal.h"

#include <stdlib.h>
#include <string.h>

#define SPACE "\xe2\x96\x81"  // U+2581, what escaped spaces become
#define REPLACEMENT "\xef\xbf\xbd"  // U+FFFD, what a malformed UTF-8 byte becomes
#define MAX_TEXT (1u << 28)   // bytes of text one call takes: symbol indices stay int32

/* ---- normalization --------------------------------------------------------------------------- */

/* The longest user-defined piece at s (n bytes left), or 0. */
static size_t user_prefix(const pipa_spm_t *spm, const char *s, size_t n)
{
    for (size_t k = n < spm->max_user_len ? n : spm->max_user_len; k > 0; k--) {
        int32_t id = pipa__spm_find(spm, PIPA__SPM_MERGEABLE, s, k);
        if (id >= 0 && spm->type[id] == PIPA_SPM_USER_DEFINED) return k;
    }
    return 0;
}

/* The normalizer's unit at s: a user-defined piece, a UTF-8 character, or one malformed byte
 * (which becomes U+FFFD). Sets *out and *out_len to its normalized bytes; returns bytes consumed. */
static size_t unit(const pipa_spm_t *spm, const char *s, size_t n, const char **out,
                   size_t *out_len)
{
    size_t k = user_prefix(spm, s, n);
    if (!k) k = pipa__spm_utf8_len((const unsigned char *)s, n);
    *out = k ? s : REPLACEMENT;
    *out_len = k ? k : 3;
    return k ? k : 1;
}

static void put_space(const pipa_spm_t *spm, char *out, size_t *m)
{
    if (spm->info.escape_whitespaces) {
        memcpy(out + *m, SPACE, 3);
        *m += 3;
    } else {
        out[(*m)++] = ' ';
    }
}

/* Normalizes len bytes of text into out (room for 3 * len + 3 bytes); returns its length. */
static size_t normalize(const pipa_spm_t *spm, const char *text, size_t len, char *out)
{
    int extra = spm->info.remove_extra_whitespaces;
    size_t i = 0, m = 0, ul;
    const char *u;
    while (extra && i < len) {  // leading spaces
        size_t k = unit(spm, text + i, len - i, &u, &ul);
        if (ul != 1 || *u != ' ') break;
        i += k;
    }
    if (i == len) return 0;
    if (spm->info.add_dummy_prefix) put_space(spm, out, &m);
    int prev_space = extra;
    while (i < len) {
        i += unit(spm, text + i, len - i, &u, &ul);
        while (prev_space && ul > 0 && *u == ' ') u++, ul--;
        for (size_t j = 0; j < ul; j++) {
            if (u[j] == ' ' && spm->info.escape_whitespaces) put_space(spm, out, &m);
            else out[m++] = u[j];
        }
        if (ul > 0) prev_space = u[ul - 1] == ' ';
        if (!extra) prev_space = 0;
    }
    const char *sp = spm->info.escape_whitespaces ? SPACE : " ";
    size_t sl = spm->info.escape_whitespaces ? 3 : 1;
    while (extra && m >= sl && memcmp(out + m - sl, sp, sl) == 0) m -= sl;  // trailing spaces
    return m;
}

/* ---- BPE ------------------------------------------------------------------------------------- */

typedef struct {
    int32_t start, len, prev, next;  // bytes [start, start + len) of the normalized text
    int frozen;                      // a user-defined piece: never merged
} symbol_t;

typedef struct {
    float score;
    int32_t left, right;  // symbol indices
    int32_t size;         // bytes of the merged piece when pushed
} pair_t;

typedef struct {
    const pipa_spm_t *spm;
    const char *s;        // the normalized text
    symbol_t *sym;
    pair_t *heap;         // (3 * symbols): the first pairs plus two per merge at most
    size_t nheap;
    int32_t *split;       // (n_pieces) where an UNUSED piece was last built from, or NULL
    int32_t *ids;         // (normalized bytes + 1) the output
    size_t n;
    int prev_unk;
    pipa_status status;
} work_t;

/* Does pair a come before pair b: the higher score, then the leftmost. */
static int before(const pair_t *a, const pair_t *b)
{
    return a->score > b->score || (a->score == b->score && a->left < b->left);
}

static void heap_push(work_t *w, pair_t p)
{
    size_t i = w->nheap++;
    for (; i > 0 && before(&p, &w->heap[(i - 1) / 2]); i = (i - 1) / 2) w->heap[i] = w->heap[(i - 1) / 2];
    w->heap[i] = p;
}

static pair_t heap_pop(work_t *w)
{
    pair_t top = w->heap[0], last = w->heap[--w->nheap];
    size_t i = 0, n = w->nheap;
    for (size_t c; (c = 2 * i + 1) < n; i = c) {
        if (c + 1 < n && before(&w->heap[c + 1], &w->heap[c])) c++;
        if (!before(&w->heap[c], &last)) break;
        w->heap[i] = w->heap[c];
    }
    if (n) w->heap[i] = last;
    return top;
}

/* Pushes the pair (left, right) if their joined text is a piece BPE may build. */
static void add_pair(work_t *w, int32_t left, int32_t right)
{
    if (left < 0 || right < 0 || w->sym[left].frozen || w->sym[right].frozen) return;
    int32_t size = w->sym[left].len + w->sym[right].len;
    int32_t id = pipa__spm_find(w->spm, PIPA__SPM_MERGEABLE, w->s + w->sym[left].start, (size_t)size);
    if (id < 0) return;
    heap_push(w, (pair_t){w->spm->score[id], left, right, size});
    if (w->spm->type[id] != PIPA_SPM_UNUSED) return;
    // SentencePiece splits an UNUSED piece back into the two it was last offered as (rev_merge)
    if (!w->split && !(w->split = calloc((size_t)w->spm->info.n_pieces, sizeof(int32_t)))) {
        w->status = pipa__fail(PIPA_ERR_NOMEM, "tokenizer: no memory");
        return;
    }
    w->split[id] = w->sym[left].len;
}

/* Cuts the normalized text (m bytes) into symbols: user-defined pieces whole, else characters
 * by their lead byte (the text is well-formed UTF-8 after normalization). Returns the count. */
static int32_t cut(work_t *w, size_t m)
{
    static const uint8_t lead[16] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 3, 4};
    int32_t n = 0;
    for (size_t i = 0; i < m; n++) {
        size_t k = user_prefix(w->spm, w->s + i, m - i);
        int frozen = k > 0;
        if (!k) k = lead[(uint8_t)w->s[i] >> 4];
        if (k > m - i) k = m - i;
        w->sym[n] = (symbol_t){(int32_t)i, (int32_t)k, n - 1, n + 1, frozen};
        i += k;
    }
    if (n > 0) w->sym[n - 1].next = -1;
    return n;
}

static void merge_all(work_t *w, int32_t nsym)
{
    for (int32_t i = 1; i < nsym; i++) add_pair(w, i - 1, i);
    while (w->nheap > 0) {
        pair_t p = heap_pop(w);
        symbol_t *l = &w->sym[p.left], *r = &w->sym[p.right];
        if (l->len == 0 || r->len == 0 || l->len + r->len != p.size) continue;  // out of date
        l->len += r->len;
        l->next = r->next;
        if (r->next >= 0) w->sym[r->next].prev = p.left;
        r->len = 0;
        add_pair(w, l->prev, p.left);
        add_pair(w, p.left, l->next);
    }
}

/* ---- ids ------------------------------------------------------------------------------------- */

/* One final piece (n bytes at s, id or -1) as sentencepiece_processor.cc turns it into ids: an
 * unknown one becomes its bytes' <0xXX> pieces with byte fallback, else <unk>, once for a run. */
static void emit(work_t *w, const char *s, size_t n, int32_t id)
{
    const pipa_spm_t *spm = w->spm;
    int unk = id < 0 || spm->type[id] == PIPA_SPM_UNKNOWN;
    if (unk && spm->info.byte_fallback) {
        for (size_t i = 0; i < n; i++) w->ids[w->n++] = spm->byte_id[(uint8_t)s[i]];
    } else if (!(unk && w->prev_unk)) {
        w->ids[w->n++] = unk ? spm->info.unk_id : id;
    }
    w->prev_unk = unk;
}

/* A final symbol, an UNUSED piece split back into the pieces it was built from (bpe_model.cc's
 * resegment), with an explicit stack: its depth is bounded by the symbol's length. */
static void emit_symbol(work_t *w, int32_t start, int32_t len, int32_t *stack)
{
    size_t top = 0;
    stack[top++] = start;
    stack[top++] = len;
    while (top > 0) {
        int32_t l = stack[--top], s = stack[--top];
        int32_t id = pipa__spm_id(w->spm, w->s + s, (size_t)l);
        int32_t k = id >= 0 && w->split && w->spm->type[id] == PIPA_SPM_UNUSED ? w->split[id] : 0;
        if (k <= 0 || k >= l) {
            emit(w, w->s + s, (size_t)l, id);
            continue;
        }
        stack[top++] = s + k;  // the right part after the left one
        stack[top++] = l - k;
        stack[top++] = s;
        stack[top++] = k;
    }
}

static void bpe(work_t *w, size_t m, int32_t *stack)
{
    int32_t nsym = cut(w, m);
    merge_all(w, nsym);
    for (int32_t i = nsym > 0 ? 0 : -1; i >= 0 && w->status == PIPA_OK; i = w->sym[i].next)
        emit_symbol(w, w->sym[i].start, w->sym[i].len, stack);
}

/* The unigram model's pieces; start and id: room for m + 1 entries each (the stack). */
static pipa_status unigram(work_t *w, size_t m, int32_t *stack)
{
    int32_t *start = stack, *id = stack + m + 1;
    size_t n = 0;
    PIPA_TRY(pipa__spm_viterbi(w->spm, w->s, m, start, id, &n));
    for (size_t i = 0; i < n; i++) {
        size_t end = i + 1 < n ? (size_t)start[i + 1] : m;
        emit(w, w->s + start[i], end - (size_t)start[i], id[i]);
    }
    return PIPA_OK;
}

pipa_status pipa_spm_encode(const pipa_spm_t *spm, const char *text, size_t len, int add_bos,
                            int32_t **ids, size_t *n)
{
    *ids = NULL;
    *n = 0;
    if (len > MAX_TEXT)
        return pipa__fail(PIPA_ERR_ARG, "tokenizer: a text of %zu bytes is more than one call "
                          "takes (%u)", len, MAX_TEXT);
    if (add_bos && spm->info.bos_id < 0)
        return pipa__fail(PIPA_ERR_ARG, "tokenizer: BOS asked for, but the model has no BOS piece");
    work_t w = {.spm = spm, .status = PIPA_OK};
    char *s = malloc(3 * len + 4);  // a byte normalizes into at most 3, plus the dummy prefix
    size_t m = s ? normalize(spm, text, len, s) : 0;
    w.sym = malloc(m * sizeof *w.sym + 1);
    w.heap = malloc(3 * m * sizeof *w.heap + 1);
    w.ids = malloc((m + 1) * sizeof *w.ids);
    int32_t *stack = malloc(2 * (m + 1) * sizeof *stack);
    if (s && w.sym && w.heap && w.ids && stack) {
        w.s = s;
        if (add_bos) w.ids[w.n++] = spm->info.bos_id;
        if (spm->model_type == PIPA__SPM_UNIGRAM) w.status = unigram(&w, m, stack);
        else bpe(&w, m, stack);
    } else {
        w.status = pipa__fail(PIPA_ERR_NOMEM, "tokenizer: no memory for a text of %zu bytes", len);
    }
    free(s), free(w.sym), free(w.heap), free(w.split), free(stack);
    if (w.status != PIPA_OK) {
        free(w.ids);
        return w.status;
    }
    *ids = w.ids;
    *n = w.n;
    return PIPA_OK;
}
