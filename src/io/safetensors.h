/* safetensors.h: Hugging Face's safetensors files, read through mmap and written atomically.
 *
 * Format: u64 little-endian N, then N bytes of JSON header
 *   {"NAME": {"dtype": "F32", "shape": [d0, d1], "data_offsets": [begin, end]}, ...,
 *    "__metadata__": {"key": "text", ...}}
 * then the data section; [begin, end) are byte offsets into it. Every check a reader owes
 * outside input is made before any tensor is touched, and each message names the file and the
 * tensor: header length beyond the file or over 100 MB, a header that is not that JSON, an
 * unknown dtype (only F32, BF16 and F16 are read), offsets outside the data, begin > end,
 * overlapping tensors, a byte size other than product(shape) * dtype size, duplicate names.
 * Reading converts to f32 exactly (BF16 and F16 are subsets of f32; F16 subnormals, infinities
 * and NaN included) and reads a rectangle of a 2-D tensor straight into its destination, so a
 * rank converts only its own tensor-parallel slice. Left out: other dtypes, big-endian hosts,
 * refusing holes between tensors (the reference implementation does; no harm comes of them). */
#ifndef PIPA_SAFETENSORS_H
#define PIPA_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>

#include "base/dtype.h"
#include "base/json_read.h"
#include "base/status.h"

#define PIPA_ST_DIMS 8
#define PIPA_ST_MAX_HEADER (100u * 1000u * 1000u)  /* bytes: the reference implementation's cap */

typedef struct {
    const char *name;       /* points into the parsed header */
    pipa_dtype dtype;       /* PIPA_F32, PIPA_BF16 or PIPA_F16 */
    int ndim;
    int64_t shape[PIPA_ST_DIMS];
    uint64_t begin, end;    /* bytes of the data section */
} pipa_st_tensor_t;

typedef struct {
    char path[4096];              /* for messages */
    void *map;                    /* the whole file (pipa_st_open), or NULL */
    size_t map_size;
    const unsigned char *data;    /* the data section */
    uint64_t data_size;
    pipa_json_doc_t header;
    const pipa_json_value_t *metadata;  /* "__metadata__" (an object of strings), or NULL */
    int n;
    pipa_st_tensor_t *t;          /* (n) in header order */
} pipa_st_file_t;

/* Maps path read-only and checks its header (above). Errors: PIPA_ERR_IO (open, mmap),
 * PIPA_ERR_FORMAT, PIPA_ERR_NOMEM. Close with pipa_st_close (also after a failure). */
pipa_status pipa_st_open(pipa_st_file_t *f, const char *path);
/* The same checks over a file's bytes in memory (bytes must outlive f; f->map stays NULL); what
 * names it in messages. The fuzz target's entry. */
pipa_status pipa_st_parse(pipa_st_file_t *f, const unsigned char *bytes, size_t size,
                          const char *what);
void pipa_st_close(pipa_st_file_t *f);

/* The tensor called name, or NULL. */
const pipa_st_tensor_t *pipa_st_find(const pipa_st_file_t *f, const char *name);
/* Converts to f32 a slice of a tensor of 1 or 2 dimensions into dst (packed, shape[1] per row):
 * elements [start[0], start[0] + shape[0]) of a 1-D tensor, rows [start[0], start[0] + shape[0])
 * and columns [start[1], start[1] + shape[1]) of a 2-D one. Errors: PIPA_ERR_ARG (more
 * dimensions, or the slice outside the tensor), naming the file and the tensor. */
pipa_status pipa_st_read(const pipa_st_file_t *f, const pipa_st_tensor_t *t, const int64_t *start,
                         const int64_t *shape, float *dst);

/* Element conversions (exact to f32; from f32 round to nearest even, NaN stays NaN). */
float pipa_st_bf16_to_f32(uint16_t h);
float pipa_st_f16_to_f32(uint16_t h);
uint16_t pipa_st_f32_to_bf16(float x);

/* ---- writing ---- */

/* A tensor to write: data (count = product(shape) f32 values) stored as dtype (PIPA_F32 or
 * PIPA_BF16). */
typedef struct {
    const char *name;
    pipa_dtype dtype;
    int ndim;
    int64_t shape[PIPA_ST_DIMS];
    const float *data;      /* pipa_st_write only; the streaming writer takes it per tensor */
} pipa_st_out_t;

/* A file being written: path.tmp.PID until pipa_st_write_end renames it over path. */
typedef struct {
    char path[4096], tmp[4200];
    void *fp;               /* FILE * */
    const pipa_st_out_t *t;
    int n, next, failed;
} pipa_st_writer_t;

/* Writes the header for the n tensors t (kept by pointer until the end) and the metadata
 * (n_meta key/value texts, may be 0). Then pipa_st_write_tensor once per tensor in order, then
 * pipa_st_write_end (fsync, rename: the file appears whole or not at all), or
 * pipa_st_write_abort (removes the temporary). Errors: PIPA_ERR_ARG (a dtype, name or shape
 * the format cannot hold), PIPA_ERR_IO, PIPA_ERR_STATE (tensors out of count). */
pipa_status pipa_st_write_begin(pipa_st_writer_t *w, const char *path, const pipa_st_out_t *t,
                                int n, const char *const *meta_keys,
                                const char *const *meta_values, int n_meta);
pipa_status pipa_st_write_tensor(pipa_st_writer_t *w, const float *data);
pipa_status pipa_st_write_end(pipa_st_writer_t *w);
void pipa_st_write_abort(pipa_st_writer_t *w);
/* All of it at once, each tensor's data from t[i].data. */
pipa_status pipa_st_write(const char *path, const pipa_st_out_t *t, int n,
                          const char *const *meta_keys, const char *const *meta_values,
                          int n_meta);

#endif
