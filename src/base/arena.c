/* arena.c: the carve allocator (see arena.h). */
#include "base/arena.h"

#include "base/status.h"

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

void pipa_arena_point(float *base, const size_t *offsets, float **const *fields, int n)
{
    for (int i = 0; i < n; i++) *fields[i] = base + offsets[i];
}
