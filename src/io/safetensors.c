/* safetensors.c: reading safetensors files (safetensors.h): the header's checks, mmap, and the
 * conversion of a tensor's slice to f32. The writer is safetensors_write.c.
 * The header is parsed whole (json_read.h) and checked before any data is touched; its size is
 * capped at 100 MB, so the reader's work is bounded by the file's real size and that cap. */
#include "io/safetensors.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- element conversions ------------------------------------------------------------------ */

static float f32_of_bits(uint32_t u)
{
    float x;
    memcpy(&x, &u, 4);
    return x;
}

float pipa_st_bf16_to_f32(uint16_t h) { return f32_of_bits((uint32_t)h << 16); }

/* IEEE half: 1 sign, 5 exponent (bias 15), 10 fraction bits. Subnormals (exponent 0) are
 * fraction * 2^-24, normalised here into an f32 exponent; exponent 31 is infinity or NaN (the
 * payload kept in the top fraction bits). */
float pipa_st_f16_to_f32(uint16_t h)
{
    uint32_t sign = (uint32_t)(h >> 15) << 31, e = (h >> 10) & 0x1F, m = h & 0x3FF;
    if (e == 0x1F) return f32_of_bits(sign | 0x7F800000u | (m << 13));
    if (e == 0) {
        if (m == 0) return f32_of_bits(sign);
        e = 127 - 15 + 1;
        while (!(m & 0x400)) {  // shift the leading 1 into the implicit position
            m <<= 1;
            e--;
        }
        return f32_of_bits(sign | (e << 23) | ((m & 0x3FF) << 13));
    }
    return f32_of_bits(sign | ((e + 127 - 15) << 23) | (m << 13));
}

uint16_t pipa_st_f32_to_bf16(float x)
{
    uint32_t u;
    memcpy(&u, &x, 4);
    if ((u & 0x7FFFFFFFu) > 0x7F800000u) return (uint16_t)((u >> 16) | 0x40);  // quiet NaN
    u += 0x7FFFu + ((u >> 16) & 1);  // round to nearest, ties to even
    return (uint16_t)(u >> 16);
}

/* ---- the header --------------------------------------------------------------------------- */

static pipa_status parse_dtype(const pipa_st_file_t *f, const char *name, const char *s,
                               pipa_dtype *out)
{
    static const struct { const char *name; pipa_dtype t; } known[] = {
        {"F32", PIPA_F32}, {"BF16", PIPA_BF16}, {"F16", PIPA_F16}};
    for (size_t i = 0; i < sizeof known / sizeof known[0]; i++)
        if (strcmp(s, known[i].name) == 0) return *out = known[i].t, PIPA_OK;
    return pipa__fail(PIPA_ERR_FORMAT, "%s: tensor %s: dtype \"%s\" is not supported (F32, BF16 "
                      "and F16 are)", f->path, name, s);
}

/* A JSON array of n_max or fewer non-negative integers into v; its length. */
static pipa_status int_array(const pipa_st_file_t *f, const char *name, const char *field,
                             const pipa_json_value_t *a, int n_max, uint64_t *v, int *n)
{
    if (!a || a->kind != PIPA_JSON_ARRAY || a->len > (size_t)n_max)
        return pipa__fail(PIPA_ERR_FORMAT, "%s: tensor %s: \"%s\" is %s, not an array of at most "
                          "%d integers", f->path, name, field,
                          a ? pipa_json_kind_name(a->kind) : "missing", n_max);
    for (size_t i = 0; i < a->len; i++) {
        const pipa_json_value_t *x = &a->items[i];
        if (x->kind != PIPA_JSON_NUMBER || !x->integral || x->number < 0)
            return pipa__fail(PIPA_ERR_FORMAT, "%s: tensor %s: \"%s\"[%zu] is not a non-negative "
                              "integer", f->path, name, field, i);
        v[i] = (uint64_t)x->number;
    }
    *n = (int)a->len;
    return PIPA_OK;
}

/* One tensor's entry: dtype, shape, offsets, and the byte size they imply. */
static pipa_status parse_tensor(const pipa_st_file_t *f, const char *name,
                                const pipa_json_value_t *e, pipa_st_tensor_t *t)
{
    if (e->kind != PIPA_JSON_OBJECT)
        return pipa__fail(PIPA_ERR_FORMAT, "%s: tensor %s: entry is %s, not an object", f->path,
                          name, pipa_json_kind_name(e->kind));
    const pipa_json_value_t *d = pipa_json_get(e, "dtype");
    if (!d || d->kind != PIPA_JSON_STRING)
        return pipa__fail(PIPA_ERR_FORMAT, "%s: tensor %s: no \"dtype\" string", f->path, name);
    t->name = name;
    uint64_t shape[PIPA_ST_DIMS], off[2];
    int n_off;
    PIPA_TRY(parse_dtype(f, name, d->str, &t->dtype));
    PIPA_TRY(int_array(f, name, "shape", pipa_json_get(e, "shape"), PIPA_ST_DIMS, shape, &t->ndim));
    PIPA_TRY(int_array(f, name, "data_offsets", pipa_json_get(e, "data_offsets"), 2, off, &n_off));
    if (n_off != 2)
        return pipa__fail(PIPA_ERR_FORMAT, "%s: tensor %s: \"data_offsets\" needs [begin, end]",
                          f->path, name);
    uint64_t bytes = pipa_dtype_size(t->dtype);
    for (int i = 0; i < t->ndim; i++) {
        t->shape[i] = (int64_t)shape[i];
        if (shape[i] && bytes > UINT64_MAX / 2 / shape[i])  // shape entries are < 2^53 each
            return pipa__fail(PIPA_ERR_FORMAT, "%s: tensor %s: shape too large", f->path, name);
        bytes *= shape[i];
    }
    t->begin = off[0];
    t->end = off[1];
    if (t->begin > t->end)
        return pipa__fail(PIPA_ERR_FORMAT, "%s: tensor %s: data_offsets begin %llu > end %llu",
                          f->path, name, (unsigned long long)t->begin, (unsigned long long)t->end);
    if (t->end > f->data_size)
        return pipa__fail(PIPA_ERR_FORMAT, "%s: tensor %s: data_offsets [%llu, %llu) outside the "
                          "data (%llu bytes)", f->path, name, (unsigned long long)t->begin,
                          (unsigned long long)t->end, (unsigned long long)f->data_size);
    if (t->end - t->begin != bytes)
        return pipa__fail(PIPA_ERR_FORMAT, "%s: tensor %s: %llu bytes, but its shape and dtype "
                          "make %llu", f->path, name, (unsigned long long)(t->end - t->begin),
                          (unsigned long long)bytes);
    return PIPA_OK;
}

static pipa_status check_metadata(const pipa_st_file_t *f, const pipa_json_value_t *m)
{
    if (m->kind != PIPA_JSON_OBJECT)
        return pipa__fail(PIPA_ERR_FORMAT, "%s: \"__metadata__\" is %s, not an object", f->path,
                          pipa_json_kind_name(m->kind));
    for (size_t i = 0; i < m->len; i++)
        if (m->items[i].kind != PIPA_JSON_STRING)
            return pipa__fail(PIPA_ERR_FORMAT, "%s: \"__metadata__\" entry \"%s\" is %s, not a "
                              "string", f->path, m->keys[i], pipa_json_kind_name(m->items[i].kind));
    return PIPA_OK;
}

static int cmp_begin(const void *a, const void *b)
{
    const pipa_st_tensor_t *x = *(const pipa_st_tensor_t *const *)a;
    const pipa_st_tensor_t *y = *(const pipa_st_tensor_t *const *)b;
    return x->begin < y->begin ? -1 : x->begin > y->begin ? 1 : (x->end > y->end) - (x->end < y->end);
}

/* Two tensors sharing bytes: sorted by begin, each must end before the next begins (empty
 * tensors share nothing). */
static pipa_status check_overlap(const pipa_st_file_t *f)
{
    if (f->n < 2) return PIPA_OK;
    const pipa_st_tensor_t **s = malloc((size_t)f->n * sizeof *s);
    if (!s) return pipa__fail(PIPA_ERR_NOMEM, "%s: out of memory", f->path);
    for (int i = 0; i < f->n; i++) s[i] = &f->t[i];
    qsort(s, (size_t)f->n, sizeof *s, cmp_begin);
    pipa_status st = PIPA_OK;
    const pipa_st_tensor_t *last = NULL;  // the non-empty tensor reaching furthest so far
    for (int i = 0; i < f->n && st == PIPA_OK; i++) {
        if (s[i]->begin == s[i]->end) continue;
        if (last && s[i]->begin < last->end)
            st = pipa__fail(PIPA_ERR_FORMAT, "%s: tensors %s [%llu, %llu) and %s [%llu, %llu) "
                            "overlap", f->path, last->name, (unsigned long long)last->begin,
                            (unsigned long long)last->end, s[i]->name,
                            (unsigned long long)s[i]->begin, (unsigned long long)s[i]->end);
        if (!last || s[i]->end > last->end) last = s[i];
    }
    free(s);
    return st;
}

static pipa_status parse_entries(pipa_st_file_t *f)
{
    const pipa_json_value_t *h = &f->header.root;
    if (h->kind != PIPA_JSON_OBJECT)
        return pipa__fail(PIPA_ERR_FORMAT, "%s: the header is %s, not an object", f->path,
                          pipa_json_kind_name(h->kind));
    f->t = calloc(h->len ? h->len : 1, sizeof *f->t);
    if (!f->t) return pipa__fail(PIPA_ERR_NOMEM, "%s: out of memory", f->path);
    for (size_t i = 0; i < h->len; i++) {
        if (strcmp(h->keys[i], "__metadata__") == 0) {
            PIPA_TRY(check_metadata(f, &h->items[i]));
            f->metadata = &h->items[i];
            continue;
        }
        PIPA_TRY(parse_tensor(f, h->keys[i], &h->items[i], &f->t[f->n]));
        f->n++;
    }
    return check_overlap(f);
}

pipa_status pipa_st_parse(pipa_st_file_t *f, const unsigned char *bytes, size_t size,
                          const char *what)
{
    memset(f, 0, sizeof *f);
    snprintf(f->path, sizeof f->path, "%s", what);
    if (size < 8)
        return pipa__fail(PIPA_ERR_FORMAT, "%s: %zu bytes, too short for a safetensors file "
                          "(8-byte header length)", f->path, size);
    uint64_t n = 0;
    for (int i = 7; i >= 0; i--) n = n << 8 | bytes[i];  // little-endian on any host
    if (n > PIPA_ST_MAX_HEADER)
        return pipa__fail(PIPA_ERR_FORMAT, "%s: header length %llu is over the 100 MB limit",
                          f->path, (unsigned long long)n);
    if (n > size - 8)
        return pipa__fail(PIPA_ERR_FORMAT, "%s: header length %llu goes beyond the file (%zu "
                          "bytes)", f->path, (unsigned long long)n, size);
    char what_h[4200];
    snprintf(what_h, sizeof what_h, "%s: header", f->path);
    PIPA_TRY(pipa_json_parse(&f->header, (const char *)bytes + 8, (size_t)n, what_h));
    f->data = bytes + 8 + n;
    f->data_size = size - 8 - n;
    return parse_entries(f);
}

pipa_status pipa_st_open(pipa_st_file_t *f, const char *path)
{
    memset(f, 0, sizeof *f);
    snprintf(f->path, sizeof f->path, "%s", path);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return pipa__fail(PIPA_ERR_IO, "cannot open %s: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return pipa__fail(PIPA_ERR_IO, "%s is not a regular file", path);
    }
    size_t size = (size_t)st.st_size;
    void *map = size ? mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0) : NULL;
    close(fd);  // the mapping stays valid without the descriptor
    if (map == MAP_FAILED) return pipa__fail(PIPA_ERR_IO, "cannot map %s: %s", path, strerror(errno));
    static const unsigned char empty[1];
    pipa_status s = pipa_st_parse(f, map ? map : empty, size, path);
    f->map = map;
    f->map_size = size;
    return s;
}

void pipa_st_close(pipa_st_file_t *f)
{
    pipa_json_doc_free(&f->header);
    free(f->t);
    if (f->map) munmap(f->map, f->map_size);
    memset(f, 0, sizeof *f);
}

const pipa_st_tensor_t *pipa_st_find(const pipa_st_file_t *f, const char *name)
{
    for (int i = 0; i < f->n; i++)
        if (strcmp(f->t[i].name, name) == 0) return &f->t[i];
    return NULL;
}

/* ---- reading ------------------------------------------------------------------------------ */

/* n elements of dtype from src (any alignment: a header's length is arbitrary) to f32. */
static void convert(pipa_dtype dt, const unsigned char *src, size_t n, float *dst)
{
    if (dt == PIPA_F32) {
        memcpy(dst, src, n * 4);
        return;
    }
    for (size_t i = 0; i < n; i++) {
        uint16_t h = (uint16_t)(src[2 * i] | src[2 * i + 1] << 8);
        dst[i] = dt == PIPA_BF16 ? pipa_st_bf16_to_f32(h) : pipa_st_f16_to_f32(h);
    }
}

pipa_status pipa_st_read(const pipa_st_file_t *f, const pipa_st_tensor_t *t, const int64_t *start,
                         const int64_t *shape, float *dst)
{
    if (t->ndim < 1 || t->ndim > 2)
        return pipa__fail(PIPA_ERR_ARG, "%s: tensor %s: %d dimensions; only 1 or 2 are read",
                          f->path, t->name, t->ndim);
    int64_t rows = t->shape[0], cols = t->ndim == 2 ? t->shape[1] : 1;
    int64_t r0 = start[0], nr = shape[0], c0 = t->ndim == 2 ? start[1] : 0;
    int64_t nc = t->ndim == 2 ? shape[1] : 1;
    if (r0 < 0 || nr < 0 || r0 + nr > rows || c0 < 0 || nc < 0 || c0 + nc > cols)
        return pipa__fail(PIPA_ERR_ARG, "%s: tensor %s: slice [%lld:%lld, %lld:%lld] outside its "
                          "shape (%lld, %lld)", f->path, t->name, (long long)r0,
                          (long long)(r0 + nr), (long long)c0, (long long)(c0 + nc),
                          (long long)rows, (long long)cols);
    size_t es = pipa_dtype_size(t->dtype);
    const unsigned char *base = f->data + t->begin;
    for (int64_t r = 0; r < nr; r++)
        convert(t->dtype, base + ((size_t)(r0 + r) * (size_t)cols + (size_t)c0) * es, (size_t)nc,
                dst + (size_t)r * (size_t)nc);
    return PIPA_OK;
}
