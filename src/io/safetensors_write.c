/* safetensors_write.c: writing safetensors files (safetensors.h): the header through json.h,
 * tensors packed in the order given, F32 or BF16 (rounded to nearest even). Written to
 * path.tmp.PID, synced and renamed, so a reader never sees half a file. */
#include "io/safetensors.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/json.h"

static pipa_status check_out(const char *path, const pipa_st_out_t *t, uint64_t *bytes)
{
    if (!t->name || !t->name[0] || strcmp(t->name, "__metadata__") == 0)
        return pipa__fail(PIPA_ERR_ARG, "%s: tensor name \"%s\" cannot be written", path,
                          t->name ? t->name : "(null)");
    if (t->dtype != PIPA_F32 && t->dtype != PIPA_BF16)
        return pipa__fail(PIPA_ERR_ARG, "%s: tensor %s: dtype %s cannot be written (f32, bf16)",
                          path, t->name, pipa_dtype_name(t->dtype));
    if (t->ndim < 0 || t->ndim > PIPA_ST_DIMS)
        return pipa__fail(PIPA_ERR_ARG, "%s: tensor %s: %d dimensions", path, t->name, t->ndim);
    *bytes = pipa_dtype_size(t->dtype);
    for (int d = 0; d < t->ndim; d++) {
        if (t->shape[d] < 0)
            return pipa__fail(PIPA_ERR_ARG, "%s: tensor %s: negative dimension", path, t->name);
        *bytes *= (uint64_t)t->shape[d];
    }
    return PIPA_OK;
}

/* The header's JSON text into j; tensors packed in order from offset 0. */
static pipa_status header(pipa_json_t *j, const char *path, const pipa_st_out_t *t, int n,
                          const char *const *keys, const char *const *values, int n_meta)
{
    pipa_json_init_line(j);
    pipa_json_begin_object(j, NULL);
    if (n_meta > 0) {
        pipa_json_begin_object(j, "__metadata__");
        for (int i = 0; i < n_meta; i++) pipa_json_str(j, keys[i], values[i]);
        pipa_json_end_object(j);
    }
    uint64_t at = 0;
    for (int i = 0; i < n; i++) {
        uint64_t bytes = 0;
        PIPA_TRY(check_out(path, &t[i], &bytes));
        int64_t off[2] = {(int64_t)at, (int64_t)(at + bytes)};
        pipa_json_begin_object(j, t[i].name);
        pipa_json_str(j, "dtype", t[i].dtype == PIPA_F32 ? "F32" : "BF16");
        pipa_json_int_array(j, "shape", t[i].shape, t[i].ndim);
        pipa_json_int_array(j, "data_offsets", off, 2);
        pipa_json_end_object(j);
        at += bytes;
    }
    pipa_json_end_object(j);
    if (!pipa_json_text(j))
        return pipa__fail(PIPA_ERR_NOMEM, "%s: the header could not be built", path);
    return PIPA_OK;
}

static pipa_status write_header(pipa_st_writer_t *w, const pipa_json_t *j)
{
    const char *text = pipa_json_text(j);
    size_t len = strlen(text), padded = (len + 7) / 8 * 8;  // data 8-byte aligned, as HF does
    unsigned char n8[8];
    for (int i = 0; i < 8; i++) n8[i] = (unsigned char)((uint64_t)padded >> (8 * i));
    FILE *fp = w->fp;
    int ok = fwrite(n8, 1, 8, fp) == 8 && fwrite(text, 1, len, fp) == len;
    for (size_t i = len; i < padded && ok; i++) ok = fputc(' ', fp) != EOF;
    if (!ok) return pipa__fail(PIPA_ERR_IO, "writing %s failed: %s", w->tmp, strerror(errno));
    return PIPA_OK;
}

pipa_status pipa_st_write_begin(pipa_st_writer_t *w, const char *path, const pipa_st_out_t *t,
                                int n, const char *const *meta_keys,
                                const char *const *meta_values, int n_meta)
{
    memset(w, 0, sizeof *w);
    snprintf(w->path, sizeof w->path, "%s", path);
    snprintf(w->tmp, sizeof w->tmp, "%s.tmp.%ld", path, (long)getpid());
    w->t = t;
    w->n = n;
    pipa_json_t j;
    pipa_status s = header(&j, path, t, n, meta_keys, meta_values, n_meta);
    if (s == PIPA_OK) {
        w->fp = fopen(w->tmp, "wb");
        s = w->fp ? write_header(w, &j)
                  : pipa__fail(PIPA_ERR_IO, "cannot create %s: %s", w->tmp, strerror(errno));
    }
    pipa_json_free(&j);
    if (s != PIPA_OK) pipa_st_write_abort(w);
    return s;
}

pipa_status pipa_st_write_tensor(pipa_st_writer_t *w, const float *data)
{
    if (!w->fp || w->next >= w->n)
        return pipa__fail(PIPA_ERR_STATE, "%s: more tensors written than the %d announced",
                          w->path, w->n);
    const pipa_st_out_t *t = &w->t[w->next++];
    size_t count = 1;
    for (int d = 0; d < t->ndim; d++) count *= (size_t)t->shape[d];
    int ok = 1;
    if (t->dtype == PIPA_F32) {
        ok = fwrite(data, 4, count, w->fp) == count;  // little-endian host (safetensors.h)
    } else {
        for (size_t i = 0; i < count && ok; i++) {
            uint16_t h = pipa_st_f32_to_bf16(data[i]);
            unsigned char b[2] = {(unsigned char)h, (unsigned char)(h >> 8)};
            ok = fwrite(b, 1, 2, w->fp) == 2;
        }
    }
    if (!ok) {
        w->failed = 1;
        return pipa__fail(PIPA_ERR_IO, "writing %s failed: %s", w->tmp, strerror(errno));
    }
    return PIPA_OK;
}

pipa_status pipa_st_write_end(pipa_st_writer_t *w)
{
    if (!w->fp) return pipa__fail(PIPA_ERR_STATE, "%s: not being written", w->path);
    if (w->next != w->n) {
        pipa_st_write_abort(w);
        return pipa__fail(PIPA_ERR_STATE, "%s: %d of %d tensors written", w->path, w->next, w->n);
    }
    FILE *fp = w->fp;
    int ok = !w->failed && fflush(fp) == 0 && fsync(fileno(fp)) == 0;
    ok = fclose(fp) == 0 && ok;
    w->fp = NULL;
    if (!ok || rename(w->tmp, w->path) != 0) {
        pipa_status s = pipa__fail(PIPA_ERR_IO, "writing %s failed: %s", w->path, strerror(errno));
        unlink(w->tmp);
        return s;
    }
    return PIPA_OK;
}

void pipa_st_write_abort(pipa_st_writer_t *w)
{
    if (!w->fp) return;
    fclose(w->fp);
    w->fp = NULL;
    unlink(w->tmp);
}

pipa_status pipa_st_write(const char *path, const pipa_st_out_t *t, int n,
                          const char *const *meta_keys, const char *const *meta_values,
                          int n_meta)
{
    pipa_st_writer_t w;
    PIPA_TRY(pipa_st_write_begin(&w, path, t, n, meta_keys, meta_values, n_meta));
    for (int i = 0; i < n; i++) {
        pipa_status s = pipa_st_write_tensor(&w, t[i].data);
        if (s != PIPA_OK) {
            pipa_st_write_abort(&w);
            return s;
        }
    }
    return pipa_st_write_end(&w);
}
