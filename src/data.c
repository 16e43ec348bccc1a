/* data.c: the byte-level corpus (see data.h). */
#include "data.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model.h"

pipa_status pipa_corpus_load(pipa_corpus_t *c, const char *path, int T, uint64_t seed)
{
    memset(c, 0, sizeof *c);
    FILE *f = fopen(path, "rb");
    if (!f) return pipa__fail(PIPA_ERR_IO, "cannot open corpus %s: %s", path, strerror(errno));
    size_t cap = 1 << 16;
    c->bytes = malloc(cap);
    for (size_t got; c->bytes && (got = fread(c->bytes + c->n, 1, cap - c->n, f)) > 0;) {
        c->n += got;
        if (c->n == cap) c->bytes = realloc(c->bytes, cap *= 2);
    }
    int err = ferror(f);
    fclose(f);
    if (!c->bytes) return pipa__fail(PIPA_ERR_NOMEM, "out of memory reading %s", path);
    if (err) {
        pipa_corpus_free(c);
        return pipa__fail(PIPA_ERR_IO, "reading corpus %s failed", path);
    }
    if (c->n < (size_t)T + 2) {
        size_t n = c->n;
        pipa_corpus_free(c);
        return pipa__fail(PIPA_ERR_ARG, "corpus %s has %zu bytes; sequences of %d need at least %d",
                          path, n, T, T + 2);
    }
    c->seed = seed;
    return PIPA_OK;
}

void pipa_corpus_free(pipa_corpus_t *c)
{
    free(c->bytes);
    memset(c, 0, sizeof *c);
}

/* The random stream of the corpus is keyed apart from the weights' (a = step, b = 1 << 20). */
void pipa_corpus_batch(const pipa_corpus_t *c, int64_t step, int mb, int B, int T, int32_t *tokens,
                       int32_t *targets)
{
    size_t span = c->n - (size_t)T - 1;
    for (int b = 0; b < B; b++) {
        float u = pipa_rand_uniform(c->seed, (uint64_t)step, (1u << 20) + (uint64_t)mb,
                                    (uint64_t)b); /* [-1, 1) */
        size_t start = (size_t)((u + 1.0f) * 0.5f * (float)span);
        if (start >= span) start = span - 1;
        for (int t = 0; t < T; t++) {
            if (tokens) tokens[b * T + t] = c->bytes[start + t];
            if (targets) targets[b * T + t] = c->bytes[start + t + 1];
        }
    }
}
