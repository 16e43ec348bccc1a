/* arena.h: the one carve allocator. A table of named pieces (counts of 4-byte elements) is laid
 * out in one allocation, each piece starting at a multiple of `align` elements; the caller points
 * its fields at base + offsets[i]. Weights, gradients, activations, scratch and the model's ends
 * are all carved this way, so "one allocation carved by a size table" is written once.
 *
 * The allocation itself is the backend's (pipa_backend_alloc, backend.h): 64-byte aligned, so with
 * align 16 every piece starts on a cache line. Left out: other element sizes. */
#ifndef PIPA_ARENA_H
#define PIPA_ARENA_H

#include <stddef.h>

typedef struct {
    const char *name;   /* for messages: what the piece holds */
    size_t count;       /* 4-byte elements (float or int32) */
} pipa_piece_t;

/* Writes offsets[i] (elements from the start) of each of the n pieces, each rounded up to a
 * multiple of align (>= 1) elements; returns the elements of the whole table, also a multiple of
 * align. */
size_t pipa_arena_layout(const pipa_piece_t *pieces, int n, size_t align, size_t *offsets);

/* fields[i] = base + offsets[i] for the n pieces: the carving of a float table. */
void pipa_arena_point(float *base, const size_t *offsets, float **const *fields, int n);

#endif
