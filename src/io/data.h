/* data.h: a byte-level text corpus and the batches drawn from it.
 *
 * Tokens are bytes (vocabulary 256). Sequence b of microbatch mb of step s starts at a position
 * that depends only on (seed, s, mb, b), so every rank layout and schedule sees the same data,
 * and a resumed run draws what the uninterrupted run would have drawn. */
#ifndef PIPA_DATA_H
#define PIPA_DATA_H

#include <stddef.h>
#include <stdint.h>

#include "io/ckpt.h"
#include "base/status.h"

#define PIPA_DEFAULT_CORPUS "/usr/share/common-licenses/GPL-3"
#define PIPA_CORPUS_MAX_BYTES (1u << 30)  /* 1 GiB: held in memory by every rank */

typedef struct {
    uint8_t *bytes;
    size_t n;
    uint64_t seed;
    const char *path;         /* as given to pipa_corpus_load (not copied) */
    char hash[32];            /* "fnv1a64:" and 16 hex digits of the bytes' hash */
} pipa_corpus_t;

/* Reads a whole regular file of at most PIPA_CORPUS_MAX_BYTES; it must hold at least T + 2
 * bytes for sequences of T tokens. A pipe or a device is refused: every rank reads the corpus
 * on its own, and ranks reading one stream would each get a different part of it. */
pipa_status pipa_corpus_load(pipa_corpus_t *c, const char *path, int T, uint64_t seed);
/* Adds what identifies the corpus (path, bytes, hash) to a checkpoint's settings; c must
 * outlive meta. */
void pipa_corpus_identity(const pipa_corpus_t *c, pipa_ckpt_meta_t *meta);
void pipa_corpus_free(pipa_corpus_t *c);

/* tokens and targets (B, T): targets are the tokens shifted by one. Either may be NULL. */
void pipa_corpus_batch(const pipa_corpus_t *c, int64_t step, int mb, int B, int T, int32_t *tokens,
                       int32_t *targets);

#endif
