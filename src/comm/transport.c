/* transport.c: the table of transports by name (see transport.h for how to add one). */
#include "comm/transport.h"

#include <string.h>

#include "base/env.h"

/* The registered transports, default first: one X(name) each, defined in src/comm/transport_NAME.c
 * or the transport's own files as `const pipa_transport_ops_t pipa__transport_NAME`. */
#define PIPA_TRANSPORTS(X) X(shm)

#define DECLARE(name) extern const pipa_transport_ops_t pipa__transport_##name;
#define ENTRY(name) &pipa__transport_##name,
PIPA_TRANSPORTS(DECLARE)
static const pipa_transport_ops_t *const transports[] = {PIPA_TRANSPORTS(ENTRY)};

const pipa_transport_ops_t *pipa__transport_find(const char *name)
{
    for (size_t i = 0; i < sizeof transports / sizeof *transports; i++)
        if (strcmp(transports[i]->name, name) == 0) return transports[i];
    return NULL;
}

const pipa_transport_ops_t *pipa__transport_default(void) { return transports[0]; }

pipa_status pipa__transport_from_env(const pipa_transport_ops_t **out)
{
    enum { N = sizeof transports / sizeof *transports };
    const char *names[N];
    for (int i = 0; i < N; i++) names[i] = transports[i]->name;
    int i;
    PIPA_TRY(pipa_env_transport(names, N, &i));
    *out = transports[i];
    return PIPA_OK;
}
