/* backend.c: the table of op backends by name, the current one, and the one allocator of the
 * model's buffers (see backend.h for how to add a backend). */
#include "model/backend.h"

#include <stdatomic.h>
#include <string.h>

/* The registered backends, default first: one X(name) each, defined in src/model/backend_NAME.c as
 * `const pipa_backend_t pipa__backend_NAME`. */
#define PIPA_BACKENDS(X) X(cpu)

#define DECLARE(name) extern const pipa_backend_t pipa__backend_##name;
#define ENTRY(name) &pipa__backend_##name,
PIPA_BACKENDS(DECLARE)
static const pipa_backend_t *const backends[] = {PIPA_BACKENDS(ENTRY)};

/* NULL until a backend is used: the default (an array element is no constant initialiser). */
static const pipa_backend_t *current;
/* Blocks allocated and not yet freed: a switch with any live would free them with the wrong
 * backend. Atomic only so that a stray thread cannot tear it; allocation is not hot. */
static atomic_long live;

const pipa_backend_t *pipa_backend(void) { return current ? current : backends[0]; }

pipa_status pipa_backend_use(const pipa_backend_t *b)
{
    PIPA_ASSERT(b != NULL);
    long n = atomic_load(&live);
    if (n != 0 && b != pipa_backend())
        return pipa__fail(PIPA_ERR_STATE, "backend %s: %ld buffer(s) of backend %s still live",
                          b->name, n, pipa_backend()->name);
    current = b;
    return PIPA_OK;
}

int pipa_backend_count(void) { return (int)(sizeof backends / sizeof *backends); }

const pipa_backend_t *pipa_backend_at(int i)
{
    PIPA_ASSERT(i >= 0 && i < pipa_backend_count());
    return backends[i];
}

const pipa_backend_t *pipa_backend_find(const char *name)
{
    for (int i = 0; i < pipa_backend_count(); i++)
        if (strcmp(backends[i]->name, name) == 0) return backends[i];
    return NULL;
}

pipa_status pipa_backend_alloc(void **out, size_t elems, int zero, const char *what)
{
    *out = NULL;
    if (elems == 0) return PIPA_OK;
    const pipa_backend_t *b = pipa_backend();
    *out = b->mem.alloc(elems, zero);
    if (!*out)
        return pipa__fail(PIPA_ERR_NOMEM, "%s: cannot allocate %zu bytes on %s", what, elems * 4,
                          b->name);
    atomic_fetch_add(&live, 1);
    return PIPA_OK;
}

void pipa_backend_free(void *p)
{
    if (!p) return;
    atomic_fetch_sub(&live, 1);
    pipa_backend()->mem.free(p);
}
