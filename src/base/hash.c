/* hash.c: FNV-1a 64 (see hash.h). */
#include "base/hash.h"

uint64_t pipa_hash_fnv1a(uint64_t h, const void *p, size_t n)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++) h = (h ^ b[i]) * 0x100000001b3ull;  // the FNV 64-bit prime
    return h;
}
