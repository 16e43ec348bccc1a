/* arena.c: the carve allocator (see arena.h). */
#include "arena.h"

#include <stdlib.h>
#include <string.h>

size_t pipa_arena_layout(const pipa_piece_t *pieces, int n, size_t align, size_t *offsets)
{
    PIPA_ASSERT(align >= 1);
    size_t at = 0;
    for (int i = 0; i < n; i++) {
        offsets[i] = at;
        at += (pieces[i].count + align - 1) / align * align;
    }
    return at;
}

pipa_status pipa_arena_alloc(void **out, size_t elems, int zero, const char *what)
{
    *out = NULL;
    if (elems == 0) return PIPA_OK;
    size_t bytes = (elems * 4 + 63) / 64 * 64;  // aligned_alloc wants a multiple of the alignment
    *out = aligned_alloc(64, bytes);
    if (!*out) return pipa__fail(PIPA_ERR_NOMEM, "%s: cannot allocate %zu bytes", what, bytes);
    if (zero) memset(*out, 0, bytes);
    return PIPA_OK;
}

void pipa_arena_point(float *base, const size_t *offsets, float **const *fields, int n)
{
    for (int i = 0; i < n; i++) *fields[i] = base + offsets[i];
}
