/* spm_unigram.c: the segmentation of SentencePiece's UNIGRAM model (see spm.h): the Viterbi
 * best path over the normalized text, where a piece scores its log probability, a user-defined
 * piece length * max_score - 0.1 (so it is always taken), and a character no piece of its own
 * length covers becomes <unk> at min_score - 10. It follows unigram_model.cc's EncodeOptimized
 * step for step, arithmetic included: a candidate path's score is a double, compared with and
 * stored as the float best score of the position it ends at; ties keep the first candidate
 * (the one that starts earliest, then the shortest). The pieces starting at a position are
 * found by hashing its prefixes incrementally, up to the longest piece: O(m x longest) lookups.
 * Left out: sampling and n-best. */
#include "io/spm_internal.h"

#include <stdlib.h>

#include "base/hash.h"

typedef struct {
    int32_t id, starts_at;  // the best path ending here: its last piece; -1 before any
    float score;
} best_t;

/* One candidate: piece id over [from, to) on top of the best path to from, its score summed in
 * double (a piece's, as unigram_model.cc's `auto score` is a double) or in float (<unk>'s). */
static void offer(best_t *best, int32_t from, size_t to, int32_t id, double score, int in_float)
{
    double candidate = in_float ? (double)((float)score + best[from].score)
                                : score + (double)best[from].score;
    if (best[to].starts_at == -1 || candidate > (double)best[to].score) {
        best[to].score = (float)candidate;
        best[to].starts_at = from;
        best[to].id = id;
    }
}

/* Every piece that starts at byte i; returns whether one is exactly the character there. */
static int offer_pieces(const pipa_spm_t *spm, const char *s, size_t m, size_t i, size_t mblen,
                        best_t *best)
{
    int single = 0;
    uint64_t h = PIPA_HASH_INIT;
    for (size_t k = 1; k <= spm->max_len && i + k <= m; k++) {
        h = pipa_hash_fnv1a(h, s + i + k - 1, 1);
        int32_t id = pipa__spm_find_hash(spm, PIPA__SPM_MERGEABLE, s + i, k, h);
        if (id < 0 || spm->type[id] == PIPA_SPM_UNUSED) continue;
        // length * max_score_ is a float product, then - 0.1 makes it a double
        double score = spm->type[id] == PIPA_SPM_USER_DEFINED
                     ? (double)((float)k * spm->max_score) - 0.1 : (double)spm->score[id];
        offer(best, (int32_t)i, i + k, id, score, 0);
        single |= k == mblen;
    }
    return single;
}

pipa_status pipa__spm_viterbi(const pipa_spm_t *spm, const char *s, size_t m, int32_t *start,
                              int32_t *id, size_t *n)
{
    static const uint8_t lead[16] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 3, 4};
    *n = 0;
    best_t *best = malloc((m + 1) * sizeof *best);
    if (!best) return pipa__fail(PIPA_ERR_NOMEM, "tokenizer: no memory for a text of %zu bytes", m);
    for (size_t i = 0; i <= m; i++) best[i] = (best_t){-1, -1, 0.0f};
    const float unk_score = spm->min_score - 10.0f;  // kUnkPenalty
    for (size_t i = 0; i < m;) {
        size_t mblen = lead[(uint8_t)s[i] >> 4];
        if (mblen > m - i) mblen = m - i;
        if (!offer_pieces(spm, s, m, i, mblen, best))
            offer(best, (int32_t)i, i + mblen, spm->info.unk_id, unk_score, 1);
        i += mblen;
    }
    size_t count = 0;
    for (size_t end = m; end > 0; end = (size_t)best[end].starts_at) count++;
    *n = count;
    for (size_t end = m; end > 0; end = (size_t)best[end].starts_at) {
        count--;
        start[count] = best[end].starts_at;
        id[count] = best[end].id;
    }
    free(best);
    return PIPA_OK;
}
