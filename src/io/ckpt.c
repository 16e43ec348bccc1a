/* ckpt.c: checkpoint shards (see ckpt.h); the sets of shards are in ckpt_set.c.
 * File layout, little-endian: "PIPACKPT", u32 version, u32 setting count, then per setting a
 * 32-byte name and u32 kind: 0 an i64 value follows, 1 a u32 length and that many text bytes;
 * i64 step; u32 tensor count, then per tensor a u32 name length and the name (no terminator),
 * u32 dtype (0: float32, msg.h's PIPA_F32), u32 ndim, ndim i64 dimensions and their product of float32 values;
 * finally a u64 FNV-1a checksum of everything before it, and nothing after it.
 * Version 3 stores tensors by name (global names, tensors.h) in any order; version 2 stored
 * fixed 32-byte names ("chunk0.weights") in a fixed order and is refused.
 * The reader trusts no count in the file: each must equal what the caller expects before any
 * work proportional to it (each tensor read must be a distinct expected one), so a crafted file
 * costs at most the expected shard's size. */
#include "io/ckpt.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/hash.h"

#define CKPT_MAGIC "PIPACKPT"
#define CKPT_VERSION 3u

enum { KIND_NUMBER = 0, KIND_TEXT = 1 };

void pipa_ckpt_meta_add(pipa_ckpt_meta_t *m, const char *name, int64_t value)
{
    PIPA_ASSERT(m->n < PIPA_CKPT_META);
    m->name[m->n] = name;
    m->text[m->n] = NULL;
    m->value[m->n++] = value;
}

void pipa_ckpt_meta_text(pipa_ckpt_meta_t *m, const char *name, const char *text)
{
    PIPA_ASSERT(m->n < PIPA_CKPT_META && text);
    m->name[m->n] = name;
    m->text[m->n] = text;
    m->value[m->n++] = 0;
}

void pipa_ckpt_path(char *buf, size_t len, const char *dir, int stage)
{
    snprintf(buf, len, "%s/stage-%03d.ckpt", dir, stage);
}

/* A text setting as recorded: cut to PIPA_CKPT_TEXT - 1 bytes, so writer and reader agree. */
static uint32_t text_len(const char *text)
{
    size_t n = strlen(text);
    return (uint32_t)(n < PIPA_CKPT_TEXT ? n : PIPA_CKPT_TEXT - 1);
}

/* ---- writing ------------------------------------------------------------------------------ */

typedef struct {
    FILE *f;
    uint64_t hash;
    int failed;
} writer_t;

static void put(writer_t *w, const void *p, size_t n)
{
    w->hash = pipa_hash_fnv1a(w->hash, p, n);
    if (fwrite(p, 1, n, w->f) != n) w->failed = 1;
}

static void put_name(writer_t *w, const char *name)
{
    char buf[PIPA_CKPT_NAME] = {0};
    strncpy(buf, name, sizeof buf - 1);
    put(w, buf, sizeof buf);
}

static void put_meta(writer_t *w, const pipa_ckpt_meta_t *meta)
{
    uint32_t nm = (uint32_t)meta->n;
    put(w, &nm, 4);
    for (int i = 0; i < meta->n; i++) {
        uint32_t kind = meta->text[i] ? KIND_TEXT : KIND_NUMBER;
        put_name(w, meta->name[i]);
        put(w, &kind, 4);
        if (kind == KIND_NUMBER) {
            put(w, &meta->value[i], 8);
            continue;
        }
        uint32_t len = text_len(meta->text[i]);
        put(w, &len, 4);
        put(w, meta->text[i], len);
    }
}

/* The shape a tensor is recorded with: ndim 0 is one dimension of count. */
static int shape_of(const pipa_ckpt_tensor_t *t, int64_t *dims)
{
    if (t->ndim == 0) {
        dims[0] = (int64_t)t->count;
        return 1;
    }
    PIPA_ASSERT(t->ndim <= PIPA_CKPT_DIMS);
    int64_t prod = 1;
    for (int d = 0; d < t->ndim; d++) prod *= dims[d] = t->shape[d];
    PIPA_ASSERT(prod == (int64_t)t->count);
    return t->ndim;
}

static void put_tensor(writer_t *w, const pipa_ckpt_tensor_t *t)
{
    int64_t dims[PIPA_CKPT_DIMS];
    uint32_t len = (uint32_t)strlen(t->name), dtype = 0, ndim = (uint32_t)shape_of(t, dims);
    PIPA_ASSERT(len >= 1 && len < PIPA_CKPT_TENSOR_NAME);
    put(w, &len, 4);
    put(w, t->name, len);
    put(w, &dtype, 4);
    put(w, &ndim, 4);
    put(w, dims, ndim * sizeof *dims);
    put(w, t->data, t->count * sizeof(float));
}

static void write_body(writer_t *w, const pipa_ckpt_meta_t *meta, const pipa_ckpt_tensor_t *t,
                       int n, int64_t step)
{
    uint32_t version = CKPT_VERSION, nt = (uint32_t)n;
    put(w, CKPT_MAGIC, 8);
    put(w, &version, 4);
    put_meta(w, meta);
    put(w, &step, 8);
    put(w, &nt, 4);
    for (int i = 0; i < n; i++) put_tensor(w, &t[i]);
    uint64_t h = w->hash;
    put(w, &h, 8);
}

pipa_status pipa_ckpt_save(const char *dir, int stage, const pipa_ckpt_meta_t *meta,
                           const pipa_ckpt_tensor_t *t, int n, int64_t step)
{
    char path[4096];
    pipa_ckpt_path(path, sizeof path, dir, stage);
    /* Exclusive and never through a link: a file already there is not ours to overwrite. */
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
    if (fd < 0) return pipa__fail(PIPA_ERR_IO, "cannot create %s: %s", path, strerror(errno));
    writer_t w = {.f = fdopen(fd, "wb"), .hash = PIPA_HASH_INIT};
    if (!w.f) {
        close(fd);
        unlink(path);
        return pipa__fail(PIPA_ERR_NOMEM, "out of memory writing %s", path);
    }
    write_body(&w, meta, t, n, step);
    if (fflush(w.f) != 0 || fsync(fd) != 0) w.failed = 1;
    if (fclose(w.f) != 0) w.failed = 1;
    if (w.failed) {
        unlink(path);
        return pipa__fail(PIPA_ERR_IO, "writing %s failed (disk full?)", path);
    }
    return PIPA_OK;
}

/* ---- reading ------------------------------------------------------------------------------ */

typedef struct {
    FILE *f;
    uint64_t hash;
    const char *path;
} reader_t;

static pipa_status get(reader_t *r, void *p, size_t n, const char *field)
{
    if (fread(p, 1, n, r->f) != n)
        return pipa__fail(PIPA_ERR_FORMAT, "%s is truncated in field '%s' (not a complete "
                          "checkpoint)", r->path, field);
    r->hash = pipa_hash_fnv1a(r->hash, p, n);
    return PIPA_OK;
}

static pipa_status get_name(reader_t *r, char *buf, const char *field)
{
    PIPA_TRY(get(r, buf, PIPA_CKPT_NAME, field));
    buf[PIPA_CKPT_NAME - 1] = 0;
    return PIPA_OK;
}

/* One setting; its name was read already and matches meta->name[i]. */
static pipa_status read_setting(reader_t *r, const pipa_ckpt_meta_t *meta, int i)
{
    uint32_t kind, want = meta->text[i] ? KIND_TEXT : KIND_NUMBER;
    PIPA_TRY(get(r, &kind, 4, meta->name[i]));
    if (kind != want)
        return pipa__fail(PIPA_ERR_FORMAT, "%s: setting '%s' is a %s, expected a %s", r->path,
                          meta->name[i], kind == KIND_TEXT ? "text" : "number",
                          want == KIND_TEXT ? "text" : "number");
    if (kind == KIND_NUMBER) {
        int64_t v;
        PIPA_TRY(get(r, &v, 8, meta->name[i]));
        if (v != meta->value[i])
            return pipa__fail(PIPA_ERR_ARG,
                              "checkpoint %s was saved with %s = %lld, this run has %lld", r->path,
                              meta->name[i], (long long)v, (long long)meta->value[i]);
        return PIPA_OK;
    }
    uint32_t len, mine = text_len(meta->text[i]);
    char text[PIPA_CKPT_TEXT];
    PIPA_TRY(get(r, &len, 4, meta->name[i]));
    if (len >= PIPA_CKPT_TEXT)
        return pipa__fail(PIPA_ERR_FORMAT, "%s: setting '%s' claims %u bytes, at most %d", r->path,
                          meta->name[i], len, PIPA_CKPT_TEXT - 1);
    PIPA_TRY(get(r, text, len, meta->name[i]));
    text[len] = 0;
    if (len != mine || memcmp(text, meta->text[i], len) != 0)
        return pipa__fail(PIPA_ERR_ARG, "checkpoint %s was saved with %s '%s', this run has '%.*s'",
                          r->path, meta->name[i], text, (int)mine, meta->text[i]);
    return PIPA_OK;
}

static pipa_status read_header(reader_t *r, const pipa_ckpt_meta_t *meta)
{
    char magic[8];
    uint32_t version, nm;
    PIPA_TRY(get(r, magic, 8, "magic"));
    if (memcmp(magic, CKPT_MAGIC, 8) != 0)
        return pipa__fail(PIPA_ERR_FORMAT, "%s is not a pipa checkpoint", r->path);
    PIPA_TRY(get(r, &version, 4, "version"));
    if (version != CKPT_VERSION)
        return pipa__fail(PIPA_ERR_FORMAT, "%s has format version %u, this build reads %u",
                          r->path, version, CKPT_VERSION);
    PIPA_TRY(get(r, &nm, 4, "setting count"));
    /* Settings are written in the same order, one more or one fewer only when a setting is
     * recorded by some runs alone (pipa-train's replica count): the common ones are compared
     * first, so a differing value is named; then the setting one side lacks. */
    for (int i = 0; i < meta->n; i++) {
        char name[PIPA_CKPT_NAME];
        if ((uint32_t)i == nm)
            return pipa__fail(PIPA_ERR_ARG, "checkpoint %s lacks setting '%s' that this run records "
                              "(saved by another layout or version)", r->path, meta->name[i]);
        PIPA_TRY(get_name(r, name, "setting name"));
        if (strcmp(name, meta->name[i]) != 0)
            return pipa__fail(PIPA_ERR_FORMAT, "%s: setting %d is '%s', expected '%s'", r->path,
                              i, name, meta->name[i]);
        PIPA_TRY(read_setting(r, meta, i));
    }
    if (nm != (uint32_t)meta->n) {
        char name[PIPA_CKPT_NAME];
        PIPA_TRY(get_name(r, name, "setting name"));
        return pipa__fail(PIPA_ERR_ARG, "checkpoint %s records setting '%s' that this run does not "
                          "(saved by another layout or version)", r->path, name);
    }
    return PIPA_OK;
}

/* "(d0, d1, ...)" into buf. */
static const char *shape_str(char *buf, size_t len, const int64_t *dims, int ndim)
{
    size_t at = (size_t)snprintf(buf, len, "(");
    for (int d = 0; d < ndim && at < len; d++)
        at += (size_t)snprintf(buf + at, len - at, "%s%lld", d ? ", " : "", (long long)dims[d]);
    if (at < len) snprintf(buf + at, len - at, ")");
    return buf;
}

/* A tensor's name; *k = the expected tensor of that name (tried first at hint, the order the
 * writer uses), which must not have been read yet. */
static pipa_status read_tensor_name(reader_t *r, const pipa_ckpt_tensor_t *t, int n, char *seen,
                                    uint32_t hint, int *k)
{
    char name[PIPA_CKPT_TENSOR_NAME];
    uint32_t len;
    PIPA_TRY(get(r, &len, 4, "tensor name"));
    if (len == 0 || len >= PIPA_CKPT_TENSOR_NAME)
        return pipa__fail(PIPA_ERR_FORMAT, "%s: tensor %u's name claims %u bytes, 1 to %d",
                          r->path, hint, len, PIPA_CKPT_TENSOR_NAME - 1);
    PIPA_TRY(get(r, name, len, "tensor name"));
    name[len] = 0;
    *k = -1;
    if (hint < (uint32_t)n && strlen(name) == len && strcmp(name, t[hint].name) == 0) *k = (int)hint;
    for (int i = 0; *k < 0 && i < n && strlen(name) == len; i++)
        if (strcmp(name, t[i].name) == 0) *k = i;
    if (*k < 0)
        return pipa__fail(PIPA_ERR_FORMAT, "%s: tensor '%.*s' is not one this run has (unknown "
                          "name)", r->path, (int)strlen(name), name);
    if (seen[*k])
        return pipa__fail(PIPA_ERR_FORMAT, "%s: tensor '%s' appears twice", r->path, name);
    seen[*k] = 1;
    return PIPA_OK;
}

/* Dtype, shape and values of expected tensor t. */
static pipa_status read_tensor_body(reader_t *r, const pipa_ckpt_tensor_t *t)
{
    int64_t want[PIPA_CKPT_DIMS], got[PIPA_CKPT_DIMS];
    uint32_t dtype, ndim, want_ndim = (uint32_t)shape_of(t, want);
    PIPA_TRY(get(r, &dtype, 4, t->name));
    if (dtype != 0)
        return pipa__fail(PIPA_ERR_FORMAT, "%s: tensor '%s' has dtype %u, expected 0 (float32)",
                          r->path, t->name, dtype);
    PIPA_TRY(get(r, &ndim, 4, t->name));
    if (ndim > PIPA_CKPT_DIMS)
        return pipa__fail(PIPA_ERR_FORMAT, "%s: tensor '%s' claims %u dimensions, at most %d",
                          r->path, t->name, ndim, PIPA_CKPT_DIMS);
    PIPA_TRY(get(r, got, ndim * sizeof *got, t->name));
    if (ndim != want_ndim || memcmp(got, want, ndim * sizeof *got) != 0) {
        char a[128], b[128];
        return pipa__fail(PIPA_ERR_FORMAT, "%s: tensor '%s' has shape %s, expected %s", r->path,
                          t->name, shape_str(a, sizeof a, got, (int)ndim),
                          shape_str(b, sizeof b, want, (int)want_ndim));
    }
    return get(r, t->data, t->count * sizeof(float), t->name);
}

/* Each expected tensor exactly once, in any order, and nothing else. */
static pipa_status read_tensors(reader_t *r, const pipa_ckpt_tensor_t *t, int n)
{
    uint32_t nt;
    PIPA_TRY(get(r, &nt, 4, "tensor count"));
    char *seen = calloc((size_t)n + 1, 1);
    if (!seen) return pipa__fail(PIPA_ERR_NOMEM, "%s: out of memory", r->path);
    pipa_status s = PIPA_OK;
    /* Every tensor read is a distinct expected one: at most n + 1 rounds whatever nt says. */
    for (uint32_t i = 0; s == PIPA_OK && i < nt; i++) {
        int k = -1;
        s = read_tensor_name(r, t, n, seen, i, &k);
        if (s == PIPA_OK) s = read_tensor_body(r, &t[k]);
    }
    for (int k = 0; s == PIPA_OK && k < n; k++)
        if (!seen[k])
            s = pipa__fail(PIPA_ERR_FORMAT, "%s: tensor '%s' is missing", r->path, t[k].name);
    free(seen);
    return s;
}

static pipa_status read_step(reader_t *r, int64_t max_step, int64_t *step)
{
    PIPA_TRY(get(r, step, 8, "step"));
    if (*step < 0 || *step > max_step)
        return pipa__fail(PIPA_ERR_FORMAT, "%s: field 'step' is %lld, outside 0..%lld (the steps "
                          "this run allows)", r->path, (long long)*step, (long long)max_step);
    return PIPA_OK;
}

pipa_status pipa_ckpt_read(FILE *f, const char *path, const pipa_ckpt_meta_t *meta,
                           const pipa_ckpt_tensor_t *t, int n, int64_t max_step, int64_t *step)
{
    reader_t r = {.f = f, .hash = PIPA_HASH_INIT, .path = path};
    PIPA_TRY(read_header(&r, meta));
    PIPA_TRY(read_step(&r, max_step, step));
    PIPA_TRY(read_tensors(&r, t, n));
    uint64_t want = r.hash, got;
    PIPA_TRY(get(&r, &got, 8, "checksum"));
    if (got != want)
        return pipa__fail(PIPA_ERR_FORMAT, "%s: field 'checksum' does not match (corrupt)", path);
    if (fgetc(f) != EOF)
        return pipa__fail(PIPA_ERR_FORMAT, "%s: bytes after the end (after field 'checksum' at "
                          "byte %ld)", path, ftell(f) - 1);
    return PIPA_OK;
}

pipa_status pipa_ckpt_load(const char *path, const pipa_ckpt_meta_t *meta,
                           const pipa_ckpt_tensor_t *t, int n, int64_t max_step, int64_t *step)
{
    FILE *f = fopen(path, "rbe");
    if (!f) return pipa__fail(PIPA_ERR_IO, "cannot open checkpoint %s: %s", path, strerror(errno));
    pipa_status s = pipa_ckpt_read(f, path, meta, t, n, max_step, step);
    fclose(f);
    return s;
}
