/* ckpt.c: checkpoint shards (see ckpt.h).
 * File layout, little-endian: "PIPACKPT", u32 version, u32 meta count, then per meta a 32-byte
 * name and an i64 value; i64 step; u32 tensor count, then per tensor a 32-byte name, u64 count
 * and count float32 values; finally a u64 FNV-1a checksum of everything before it. */
#include "ckpt.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define CKPT_MAGIC "PIPACKPT"
#define CKPT_VERSION 1u

void pipa_ckpt_meta_add(pipa_ckpt_meta_t *m, const char *name, int64_t value)
{
    PIPA_ASSERT(m->n < PIPA_CKPT_META);
    m->name[m->n] = name;
    m->value[m->n++] = value;
}

void pipa_ckpt_path(char *buf, size_t len, const char *dir, int stage)
{
    snprintf(buf, len, "%s/stage-%03d.ckpt", dir, stage);
}

/* ---- writing ------------------------------------------------------------------------------ */

typedef struct {
    FILE *f;
    uint64_t hash;
    int failed;
} writer_t;

static void fnv(uint64_t *h, const void *p, size_t n)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++) *h = (*h ^ b[i]) * 0x100000001b3ull;
}

static void put(writer_t *w, const void *p, size_t n)
{
    fnv(&w->hash, p, n);
    if (fwrite(p, 1, n, w->f) != n) w->failed = 1;
}

static void put_name(writer_t *w, const char *name)
{
    char buf[PIPA_CKPT_NAME] = {0};
    strncpy(buf, name, sizeof buf - 1);
    put(w, buf, sizeof buf);
}

static void write_body(writer_t *w, const pipa_ckpt_meta_t *meta, const pipa_ckpt_tensor_t *t,
                       int n, int64_t step)
{
    uint32_t version = CKPT_VERSION, nm = (uint32_t)meta->n, nt = (uint32_t)n;
    put(w, CKPT_MAGIC, 8);
    put(w, &version, 4);
    put(w, &nm, 4);
    for (int i = 0; i < meta->n; i++) {
        put_name(w, meta->name[i]);
        put(w, &meta->value[i], 8);
    }
    put(w, &step, 8);
    put(w, &nt, 4);
    for (int i = 0; i < n; i++) {
        uint64_t count = t[i].count;
        put_name(w, t[i].name);
        put(w, &count, 8);
        put(w, t[i].data, count * sizeof(float));
    }
    uint64_t h = w->hash;
    put(w, &h, 8);
}

static pipa_status sync_dir(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY);
    if (fd < 0) return pipa__fail(PIPA_ERR_IO, "opening %s: %s", dir, strerror(errno));
    int rc = fsync(fd);
    close(fd);
    return rc == 0 ? PIPA_OK : pipa__fail(PIPA_ERR_IO, "syncing %s: %s", dir, strerror(errno));
}

pipa_status pipa_ckpt_save(const char *dir, int stage, const pipa_ckpt_meta_t *meta,
                           const pipa_ckpt_tensor_t *t, int n, int64_t step)
{
    if (mkdir(dir, 0755) != 0 && errno != EEXIST)
        return pipa__fail(PIPA_ERR_IO, "cannot create checkpoint directory %s: %s", dir,
                          strerror(errno));
    char path[4096], tmp[4200];
    pipa_ckpt_path(path, sizeof path, dir, stage);
    snprintf(tmp, sizeof tmp, "%s.tmp.%d", path, (int)getpid());
    writer_t w = {.f = fopen(tmp, "wb"), .hash = 0xcbf29ce484222325ull};
    if (!w.f) return pipa__fail(PIPA_ERR_IO, "cannot write %s: %s", tmp, strerror(errno));
    write_body(&w, meta, t, n, step);
    if (fflush(w.f) != 0 || fsync(fileno(w.f)) != 0) w.failed = 1;
    if (fclose(w.f) != 0) w.failed = 1;
    if (w.failed) {
        unlink(tmp);
        return pipa__fail(PIPA_ERR_IO, "writing %s failed (disk full?)", tmp);
    }
    if (rename(tmp, path) != 0) {
        unlink(tmp);
        return pipa__fail(PIPA_ERR_IO, "renaming %s to %s: %s", tmp, path, strerror(errno));
    }
    return sync_dir(dir);
}

/* ---- reading ------------------------------------------------------------------------------ */

typedef struct {
    FILE *f;
    uint64_t hash;
    const char *path;
} reader_t;

static pipa_status get(reader_t *r, void *p, size_t n)
{
    if (fread(p, 1, n, r->f) != n)
        return pipa__fail(PIPA_ERR_FORMAT, "%s is truncated (not a complete checkpoint)", r->path);
    fnv(&r->hash, p, n);
    return PIPA_OK;
}

static pipa_status get_name(reader_t *r, char *buf)
{
    PIPA_TRY(get(r, buf, PIPA_CKPT_NAME));
    buf[PIPA_CKPT_NAME - 1] = 0;
    return PIPA_OK;
}

static pipa_status read_header(reader_t *r, const pipa_ckpt_meta_t *meta)
{
    char magic[8];
    uint32_t version, nm;
    PIPA_TRY(get(r, magic, 8));
    if (memcmp(magic, CKPT_MAGIC, 8) != 0)
        return pipa__fail(PIPA_ERR_FORMAT, "%s is not a pipa checkpoint", r->path);
    PIPA_TRY(get(r, &version, 4));
    if (version != CKPT_VERSION)
        return pipa__fail(PIPA_ERR_FORMAT, "%s has format version %u, this build reads %u",
                          r->path, version, CKPT_VERSION);
    PIPA_TRY(get(r, &nm, 4));
    if ((int)nm != meta->n)
        return pipa__fail(PIPA_ERR_FORMAT, "%s records %u settings, this run %d", r->path, nm,
                          meta->n);
    for (int i = 0; i < meta->n; i++) {
        char name[PIPA_CKPT_NAME];
        int64_t v;
        PIPA_TRY(get_name(r, name));
        PIPA_TRY(get(r, &v, 8));
        if (strcmp(name, meta->name[i]) != 0)
            return pipa__fail(PIPA_ERR_FORMAT, "%s: setting %d is '%s', expected '%s'", r->path,
                              i, name, meta->name[i]);
        if (v != meta->value[i])
            return pipa__fail(PIPA_ERR_ARG,
                              "checkpoint %s was saved with %s = %lld, this run has %lld", r->path,
                              name, (long long)v, (long long)meta->value[i]);
    }
    return PIPA_OK;
}

static pipa_status read_tensors(reader_t *r, const pipa_ckpt_tensor_t *t, int n)
{
    uint32_t nt;
    PIPA_TRY(get(r, &nt, 4));
    if ((int)nt != n)
        return pipa__fail(PIPA_ERR_FORMAT, "%s holds %u tensors, expected %d", r->path, nt, n);
    for (int i = 0; i < n; i++) {
        char name[PIPA_CKPT_NAME];
        uint64_t count;
        PIPA_TRY(get_name(r, name));
        PIPA_TRY(get(r, &count, 8));
        if (strcmp(name, t[i].name) != 0 || count != t[i].count)
            return pipa__fail(PIPA_ERR_FORMAT, "%s: tensor %d is %s (%llu values), expected %s "
                              "(%zu values)", r->path, i, name, (unsigned long long)count,
                              t[i].name, t[i].count);
        PIPA_TRY(get(r, t[i].data, count * sizeof(float)));
    }
    return PIPA_OK;
}

static pipa_status read_all(reader_t *r, const pipa_ckpt_meta_t *meta, const pipa_ckpt_tensor_t *t,
                            int n, int64_t *step)
{
    PIPA_TRY(read_header(r, meta));
    PIPA_TRY(get(r, step, 8));
    PIPA_TRY(read_tensors(r, t, n));
    uint64_t want = r->hash, got;
    PIPA_TRY(get(r, &got, 8));
    if (got != want) return pipa__fail(PIPA_ERR_FORMAT, "%s: checksum mismatch (corrupt)", r->path);
    return PIPA_OK;
}

pipa_status pipa_ckpt_load(const char *dir, int stage, const pipa_ckpt_meta_t *meta,
                           const pipa_ckpt_tensor_t *t, int n, int64_t *step)
{
    char path[4096];
    pipa_ckpt_path(path, sizeof path, dir, stage);
    reader_t r = {.f = fopen(path, "rb"), .hash = 0xcbf29ce484222325ull, .path = path};
    if (!r.f) return pipa__fail(PIPA_ERR_IO, "cannot open checkpoint %s: %s", path, strerror(errno));
    pipa_status s = read_all(&r, meta, t, n, step);
    fclose(r.f);
    return s;
}
