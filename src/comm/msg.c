/* msg.c: message descriptions: shapes, their byte counts and printed form. */
#include "comm/msg.h"

#include <stdio.h>

pipa_desc_t pipa_desc(pipa_dtype t, int ndim, const int64_t *shape)
{
    pipa_desc_t d = {.dtype = t, .ndim = ndim};
    PIPA_ASSERT(ndim >= 0 && ndim <= PIPA_MAX_DIMS);
    for (int i = 0; i < ndim; i++) d.shape[i] = shape[i];
    return d;
}

pipa_desc_t pipa_desc_1d(pipa_dtype t, int64_t n) { return pipa_desc(t, 1, &n); }

size_t pipa_desc_bytes(const pipa_desc_t *d)
{
    size_t n = pipa_dtype_size(d->dtype);
    for (int i = 0; i < d->ndim; i++) n *= (size_t)d->shape[i];
    return n;
}

int pipa_desc_equal(const pipa_desc_t *a, const pipa_desc_t *b)
{
    int same = a->dtype == b->dtype && a->ndim == b->ndim;
    for (int i = 0; same && i < a->ndim; i++) same = a->shape[i] == b->shape[i];
    return same;
}

char *pipa_desc_str(const pipa_desc_t *d, char *buf, size_t len)
{
    int n = snprintf(buf, len, "%s[", pipa_dtype_name(d->dtype));
    for (int i = 0; i < d->ndim && n > 0 && (size_t)n < len; i++)
        n += snprintf(buf + n, len - n, i ? ",%lld" : "%lld", (long long)d->shape[i]);
    if (n > 0 && (size_t)n < len) snprintf(buf + n, len - n, "]");
    return buf;
}
