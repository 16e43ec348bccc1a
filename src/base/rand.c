/* rand.c: counter-based random numbers (see rand.h). */
#include "base/rand.h"

/* splitmix64's finaliser: a bijection on 64 bits with good avalanche. */
static uint64_t mix64(uint64_t z)
{
    z += 0x9e3779b97f4a7c15ULL;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

float pipa_rand_uniform(uint64_t seed, uint64_t a, uint64_t b, uint64_t i)
{
    /* Chained, not xored together, so (a, b) = (1, 2) and (2, 1) are different streams. */
    uint64_t h = mix64(mix64(mix64(mix64(seed) ^ a) ^ b) ^ i);
    /* Top 24 bits: k / 2^24 is exact in float, and so is 2u - 1, giving [-1, 1) exactly. */
    float u = (float)(h >> 40) * (1.0f / 16777216.0f);
    return 2.0f * u - 1.0f;
}
