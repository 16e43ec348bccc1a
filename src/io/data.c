/* data.c: the byte-level corpus (see data.h). The corpus is read with a bound: the file's size
 * is checked before anything is allocated, and never more than that size + 1 bytes are read. */
#include "io/data.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/hash.h"
#include "base/rand.h"

/* Opens path, refusing anything but a regular file of at most PIPA_CORPUS_MAX_BYTES. O_NONBLOCK:
 * opening a FIFO without a writer would otherwise wait forever before it can be refused. */
static pipa_status open_regular(const char *path, int *fd, size_t *size)
{
    struct stat st;
    *fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (*fd < 0) return pipa__fail(PIPA_ERR_IO, "cannot open corpus %s: %s", path, strerror(errno));
    pipa_status s = PIPA_OK;
    if (fstat(*fd, &st) != 0)
        s = pipa__fail(PIPA_ERR_IO, "cannot read corpus %s: %s", path, strerror(errno));
    else if (!S_ISREG(st.st_mode))
        s = pipa__fail(PIPA_ERR_ARG, "corpus %s is not a regular file (a pipe, device or "
                       "directory): every rank reads the corpus itself, so save the text to a "
                       "file and give that", path);
    else if (st.st_size > (off_t)PIPA_CORPUS_MAX_BYTES)
        s = pipa__fail(PIPA_ERR_ARG, "corpus %s has %lld bytes, more than the limit of %u (1 GiB)",
                       path, (long long)st.st_size, PIPA_CORPUS_MAX_BYTES);
    if (s != PIPA_OK) {
        close(*fd);
        return s;
    }
    *size = (size_t)st.st_size;
    return PIPA_OK;
}

/* Reads until end of file or cap bytes. */
static pipa_status read_bytes(int fd, const char *path, uint8_t *buf, size_t cap, size_t *n)
{
    for (*n = 0; *n < cap;) {
        ssize_t got = read(fd, buf + *n, cap - *n);
        if (got < 0 && errno == EINTR) continue;
        if (got < 0) return pipa__fail(PIPA_ERR_IO, "reading corpus %s: %s", path, strerror(errno));
        if (got == 0) break;
        *n += (size_t)got;
    }
    return PIPA_OK;
}

static pipa_status load(pipa_corpus_t *c, int fd, const char *path, size_t size, int T)
{
    size_t cap = size + 1;  // one more than expected: a file that grew is seen, not cut short
    c->bytes = malloc(cap);
    if (!c->bytes) return pipa__fail(PIPA_ERR_NOMEM, "out of memory reading corpus %s", path);
    PIPA_TRY(read_bytes(fd, path, c->bytes, cap, &c->n));
    if (c->n == cap)
        return pipa__fail(PIPA_ERR_IO, "corpus %s grew while it was read (past %zu bytes)", path,
                          size);
    if (c->n < (size_t)T + 2)
        return pipa__fail(PIPA_ERR_ARG, "corpus %s has %zu bytes; sequences of %d need at least %d",
                          path, c->n, T, T + 2);
    return PIPA_OK;
}

pipa_status pipa_corpus_load(pipa_corpus_t *c, const char *path, int T, uint64_t seed)
{
    memset(c, 0, sizeof *c);
    int fd = -1;
    size_t size = 0;
    PIPA_TRY(open_regular(path, &fd, &size));
    pipa_status s = load(c, fd, path, size, T);
    close(fd);
    if (s != PIPA_OK) {
        pipa_corpus_free(c);
        return s;
    }
    c->seed = seed;
    c->path = path;
    snprintf(c->hash, sizeof c->hash, "fnv1a64:%016llx",
             (unsigned long long)pipa_hash_fnv1a(PIPA_HASH_INIT, c->bytes, c->n));
    return PIPA_OK;
}

void pipa_corpus_identity(const pipa_corpus_t *c, pipa_ckpt_meta_t *meta)
{
    pipa_ckpt_meta_text(meta, "corpus", c->path);
    pipa_ckpt_meta_add(meta, "corpus bytes", (int64_t)c->n);
    pipa_ckpt_meta_text(meta, "corpus hash", c->hash);
}

void pipa_corpus_free(pipa_corpus_t *c)
{
    free(c->bytes);
    memset(c, 0, sizeof *c);
}

/* The random stream of the corpus is keyed apart from the weights' (a = step, b from
 * PIPA_STREAM_CORPUS). */
void pipa_corpus_batch(const pipa_corpus_t *c, int64_t step, int mb, int B, int T, int32_t *tokens,
                       int32_t *targets)
{
    size_t span = c->n - (size_t)T - 1;
    for (int b = 0; b < B; b++) {
        uint64_t stream = (uint64_t)PIPA_STREAM_CORPUS + (uint64_t)mb;
        float u = pipa_rand_uniform(c->seed, (uint64_t)step, stream, (uint64_t)b); /* [-1, 1) */
        size_t start = (size_t)((u + 1.0f) * 0.5f * (float)span);
        if (start >= span) start = span - 1;
        for (int t = 0; t < T; t++) {
            if (tokens) tokens[b * T + t] = c->bytes[start + t];
            if (targets) targets[b * T + t] = c->bytes[start + t + 1];
        }
    }
}
