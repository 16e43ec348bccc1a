/* check.h: the tiny assertion kit of pipa's C tests. A failed CHECK prints where and why and
 * makes the test exit non-zero (after the remaining checks ran, so one run shows all failures). */
#ifndef PIPA_TEST_CHECK_H
#define PIPA_TEST_CHECK_H
#include <stdio.h>
#include <stdlib.h>

static int check_failures = 0;

#define CHECK(cond)                                                                            \
    do {                                                                                       \
        if (!(cond)) {                                                                         \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond);           \
            check_failures++;                                                                  \
        }                                                                                      \
    } while (0)

#define CHECKF(cond, ...)                                                                      \
    do {                                                                                       \
        if (!(cond)) {                                                                         \
            fprintf(stderr, "%s:%d: CHECK failed: %s: ", __FILE__, __LINE__, #cond);           \
            fprintf(stderr, __VA_ARGS__);                                                      \
            fputc('\n', stderr);                                                               \
            check_failures++;                                                                  \
        }                                                                                      \
    } while (0)

/* Call at the end of main: prints a verdict, returns the exit code. */
static inline int check_done(const char *name)
{
    if (check_failures) fprintf(stderr, "%s: %d check(s) failed\n", name, check_failures);
    else printf("%s: ok\n", name);
    return check_failures ? 1 : 0;
}
#endif
