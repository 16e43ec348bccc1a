/* ref_load.h: reads the PyTorch reference files written by tests/ref/gen_ref.py (tests only).
 *
 * Format (little-endian): 8-byte magic "PIPAREF1", u32 tensor count; then per tensor a u32 name
 * length and that many ASCII bytes, a u32 ndim and ndim u32 dims, and prod(dims) float32 values,
 * row-major. Values are decoded byte by byte, so the host's byte order does not matter.
 * Errors are printed to stderr and reported by the return value; the caller fails its test. */
#ifndef PIPA_TEST_REF_LOAD_H
#define PIPA_TEST_REF_LOAD_H

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"

#define REF_MAX_NAME 64
#define REF_MAX_DIMS 8

typedef struct {
    char name[REF_MAX_NAME];
    int ndim;
    int dims[REF_MAX_DIMS];
    size_t n;     /* prod(dims) */
    float *data;  /* (n) */
} ref_tensor_t;

typedef struct {
    int count;
    ref_tensor_t *t;  /* (count) */
} ref_file_t;

/* Reads a little-endian u32; 0 on success. */
static inline int ref__u32(FILE *f, uint32_t *v)
{
    unsigned char b[4];
    if (fread(b, 1, 4, f) != 4) return -1;
    *v = (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
    return 0;
}

/* Reads one tensor's header and values into t; 0 on success. */
static inline int ref__tensor(FILE *f, ref_tensor_t *t)
{
    uint32_t len, ndim, d;
    if (ref__u32(f, &len) || len == 0 || len >= REF_MAX_NAME) return -1;
    if (fread(t->name, 1, len, f) != len) return -1;
    t->name[len] = '\0';
    if (ref__u32(f, &ndim) || ndim > REF_MAX_DIMS) return -1;
    t->ndim = (int)ndim;
    t->n = 1;
    for (uint32_t i = 0; i < ndim; i++) {
        if (ref__u32(f, &d) || d == 0 || d > (1u << 24)) return -1;
        t->dims[i] = (int)d;
        t->n *= d;
    }
    if (t->n > ((size_t)1 << 26)) return -1;  // the files are kilobytes; this is corruption
    t->data = malloc(t->n * sizeof(float));
    if (!t->data) return -1;
    for (size_t i = 0; i < t->n; i++) {
        uint32_t bits;
        if (ref__u32(f, &bits)) return -1;
        memcpy(&t->data[i], &bits, sizeof bits);
    }
    return 0;
}

static inline void ref_free(ref_file_t *rf)
{
    for (int i = 0; i < rf->count; i++) free(rf->t[i].data);
    free(rf->t);
    rf->t = NULL;
    rf->count = 0;
}

/* Loads every tensor of path into rf; 0 on success, -1 (with a message on stderr) otherwise. */
static inline int ref_load(ref_file_t *rf, const char *path)
{
    memset(rf, 0, sizeof *rf);
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "ref_load: cannot open %s (run from the repository root?)\n", path);
        return -1;
    }
    char magic[8];
    uint32_t count;
    int bad = fread(magic, 1, 8, f) != 8 || memcmp(magic, "PIPAREF1", 8) != 0 ||
              ref__u32(f, &count) || count > 10000;
    if (!bad) {
        rf->t = calloc(count, sizeof *rf->t);
        bad = rf->t == NULL;
    }
    for (uint32_t i = 0; !bad && i < count; i++) {
        rf->count = (int)i + 1;  // so ref_free frees a partly read tensor too
        bad = ref__tensor(f, &rf->t[i]);
    }
    fclose(f);
    if (bad) {
        fprintf(stderr, "ref_load: %s is truncated or not a PIPAREF1 file\n", path);
        ref_free(rf);
        return -1;
    }
    return 0;
}

/* The tensor called name, with n values unless n is 0, or NULL (with a message on stderr). */
static inline const ref_tensor_t *ref_get(const ref_file_t *rf, const char *name, size_t n)
{
    for (int i = 0; i < rf->count; i++) {
        if (strcmp(rf->t[i].name, name) != 0) continue;
        if (n == 0 || rf->t[i].n == n) return &rf->t[i];
        fprintf(stderr, "ref_get: %s has %zu values, expected %zu\n", name, rf->t[i].n, n);
        return NULL;
    }
    fprintf(stderr, "ref_get: no tensor %s\n", name);
    return NULL;
}

/* max |got - want| / max |want| over n values: the tests' measure of agreement with a
 * reference. A NaN anywhere in got makes it NaN (it must not hide as "no difference"). */
static inline double ref_rel_err(const float *got, const float *want, size_t n)
{
    double diff = 0.0, scale = 1e-30;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)got[i] - want[i]);
        diff = d > diff || isnan(d) ? d : diff;
        scale = fmax(scale, fabs((double)want[i]));
    }
    return diff / scale;
}

/* var = the tensor `name` of the test's reference file (a static ref_file_t called ref); a
 * missing one fails the test and returns from the calling function. */
#define REF_GET(var, name)                                                                     \
    const ref_tensor_t *var = ref_get(&ref, name, 0);                                          \
    CHECKF(var != NULL, "reference tensor %s missing", name);                                  \
    if (!var) return

/* Prints what (padded to width) and its ref_rel_err; fails the test when it exceeds tol. */
static inline void ref_expect_close(const char *what, const float *got, const float *want,
                                    size_t n, double tol, int width)
{
    double e = ref_rel_err(got, want, n);
    printf("%-*s rel err %.2e\n", width, what, e);
    CHECKF(e <= tol, "%s: relative error %.3g > %.0e", what, e, tol);
}

#endif
