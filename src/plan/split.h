/* split.h: how L layers are divided over P pipeline stages, as contiguous ranges.
 *
 * A split is an array counts[P] of layers per stage (all >= 1, summing to L); stage s owns layers
 * first(s) .. first(s) + counts[s] - 1. Stages are numbered from 0. Pure arithmetic and parsing. */
#ifndef PIPA_SPLIT_H
#define PIPA_SPLIT_H

#include <stddef.h>

#include "base/status.h"

/* As even as possible; the first L % P stages get one layer more (10 on 4 -> 3,3,2,2).
 * counts must hold P entries. Fails (PIPA_ERR_ARG) when L < 1, P < 1 or P > L. */
pipa_status pipa_split_even(int L, int P, int *counts);

/* Parses a user's split such as "3,3,2,2" (spaces around entries allowed) into counts[P].
 * Fails (PIPA_ERR_ARG) naming the problem: L or P < 1, not exactly P entries, an empty or
 * non-integer entry, a stage with no layers, or entries not summing to L. On failure the contents
 * of counts are unspecified. */
pipa_status pipa_split_parse(const char *text, int L, int P, int *counts);

/* Index of the first layer of `stage` (the sum of the counts before it). */
void pipa_split_first(const int *counts, int stage, int *first);

/* "3,3,2,2" into buf (12 bytes per stage always suffice; a shorter buf gets a truncated, still
 * terminated string). Returns buf. */
char *pipa_split_format(const int *counts, int P, char *buf, size_t len);

#endif
