/* hash.h: the one hash pipa uses, FNV-1a 64, for checksums people and files compare: a shard's
 * checksum, a corpus's identity, a weight tensor's fingerprint. Not cryptographic: it detects
 * damage and mix-ups, not tampering. Left out: hash tables (pipa has none). */
#ifndef PIPA_HASH_H
#define PIPA_HASH_H

#include <stddef.h>
#include <stdint.h>

/* Start value of an FNV-1a 64 hash (the FNV offset basis). */
#define PIPA_HASH_INIT 0xcbf29ce484222325ull

/* FNV-1a 64 of n bytes at p, continuing from h (PIPA_HASH_INIT for a new hash), so a hash can
 * be taken piece by piece: hashing "ab" equals hashing "a" then "b". */
uint64_t pipa_hash_fnv1a(uint64_t h, const void *p, size_t n);

#endif
