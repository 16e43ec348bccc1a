/* split.c: dividing L layers over P stages (even split, or a user's "3,3,2,2").
 * Leaves out cost-based balancing (e.g. giving the embedding or LM-head stage fewer layers):
 * a user who wants that writes the split by hand. */
#include "plan/split.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>

static pipa_status check_sizes(int L, int P)
{
    if (L < 1) return pipa__fail(PIPA_ERR_ARG, "the model must have at least 1 layer, not %d", L);
    if (P < 1) return pipa__fail(PIPA_ERR_ARG, "there must be at least 1 stage, not %d", P);
    return PIPA_OK;
}

pipa_status pipa_split_even(int L, int P, int *counts)
{
    PIPA_TRY(check_sizes(L, P));
    if (P > L) return pipa__fail(PIPA_ERR_ARG, "more stages (%d) than layers (%d)", P, L);
    for (int s = 0; s < P; s++) counts[s] = L / P + (s < L % P ? 1 : 0);
    return PIPA_OK;
}

/* Reads the entry of `stage` at *cur (plain decimal, optional spaces around, a leading '-'
 * accepted so "-1" gets the clearer "no layers" message) and leaves *cur past its comma.
 * strtol alone would also take "+3" and "3abc"; those are rejected here. */
static pipa_status parse_entry(const char *text, int stage, const char **cur, long *value)
{
    const char *c = *cur;
    while (*c == ' ' || *c == '\t') c++;
    if (*c == ',' || *c == '\0')
        return pipa__fail(PIPA_ERR_ARG, "split '%s': entry for stage %d is empty", text, stage);
    const char *start = c;
    if (*c == '-') c++;
    int digits = 0;
    while (isdigit((unsigned char)*c)) c++, digits++;
    const char *end = c;
    while (*c == ' ' || *c == '\t') c++;
    if (!digits || (*c != ',' && *c != '\0')) {
        while (*c && *c != ',') c++;
        return pipa__fail(PIPA_ERR_ARG, "split '%s': entry '%.*s' for stage %d is not an integer",
                          text, (int)(c - start), start, stage);
    }
    errno = 0;
    long v = strtol(start, NULL, 10);
    if (errno == ERANGE || v > INT_MAX || v < INT_MIN)
        return pipa__fail(PIPA_ERR_ARG, "split '%s': entry %.*s for stage %d is too large", text,
                          (int)(end - start), start, stage);
    *value = v;
    *cur = *c == ',' ? c + 1 : c;
    return PIPA_OK;
}

pipa_status pipa_split_parse(const char *text, int L, int P, int *counts)
{
    PIPA_TRY(check_sizes(L, P));
    if (!text) return pipa__fail(PIPA_ERR_ARG, "no split given");

    int entries = 1;
    for (const char *c = text; *c; c++) entries += *c == ',';
    if (entries != P)
        return pipa__fail(PIPA_ERR_ARG, "split '%s' has %d entr%s but there %s %d stage%s", text,
                          entries, entries == 1 ? "y" : "ies", P == 1 ? "is" : "are", P,
                          P == 1 ? "" : "s");

    long long sum = 0;
    const char *cur = text;
    for (int s = 0; s < P; s++) {
        long v = 0;
        PIPA_TRY(parse_entry(text, s, &cur, &v));
        if (v <= 0)
            return pipa__fail(PIPA_ERR_ARG, "split '%s': stage %d has no layers (%ld)", text, s,
                              v);
        counts[s] = (int)v;
        sum += v;
    }
    if (sum != L)
        return pipa__fail(PIPA_ERR_ARG, "split %s sums to %lld but the model has %d layer%s", text,
                          sum, L, L == 1 ? "" : "s");
    return PIPA_OK;
}

void pipa_split_first(const int *counts, int stage, int *first)
{
    int f = 0;
    for (int s = 0; s < stage; s++) f += counts[s];
    *first = f;
}

char *pipa_split_format(const int *counts, int P, char *buf, size_t len)
{
    if (len == 0) return buf;
    buf[0] = '\0';
    size_t used = 0;
    for (int s = 0; s < P && used < len; s++) {
        int n = snprintf(buf + used, len - used, s ? ",%d" : "%d", counts[s]);
        if (n < 0) break;
        used += (size_t)n;
    }
    return buf;
}
