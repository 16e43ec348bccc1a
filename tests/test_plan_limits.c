/* test_plan_limits: one set of plan limits (P, M, V and P*M*V) refused before any work by the
 * generators and init, and the plan reader bounding its work by the file it reads: a tiny file
 * whose header claims a huge plan, a header over a shorter plan, endless lines, NUL bytes, overlong
 * lines and lone carriage returns are refused with messages naming line and limit. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "check.h"
#include "plan/plan.h"

/* ---- bounds: one set of limits, and work bounded by the input --------------------------- */

#ifndef __has_feature
#define __has_feature(x) 0   /* gcc: __SANITIZE_ADDRESS__ says it */
#endif
#if defined(__SANITIZE_ADDRESS__) || __has_feature(address_sanitizer)
#define UNDER_ASAN 1
#else
#define UNDER_ASAN 0
#endif

/* Bounds the address space where no sanitizer needs terabytes of it, so that a regression fails
 * with "out of memory" at once instead of swapping the machine. Returns the old limit. */
static struct rlimit limit_memory(rlim_t bytes)
{
    struct rlimit old = {RLIM_INFINITY, RLIM_INFINITY};
    getrlimit(RLIMIT_AS, &old);
#if !UNDER_ASAN
    struct rlimit lim = {bytes, old.rlim_max};
    if (old.rlim_cur == RLIM_INFINITY || old.rlim_cur > bytes) setrlimit(RLIMIT_AS, &lim);
#else
    (void)bytes;
#endif
    return old;
}

/* Expects status st to be a failure whose message holds want1 and want2 (either may be NULL). */
static void expect_fail(pipa_status st, const char *what, const char *want1, const char *want2)
{
    CHECKF(st != PIPA_OK, "%s: accepted", what);
    if (st == PIPA_OK) return;
    const char *e = pipa_last_error();
    CHECKF(!want1 || strstr(e, want1), "%s: '%s' lacks '%s'", what, e, want1);
    CHECKF(!want2 || strstr(e, want2), "%s: '%s' lacks '%s'", what, e, want2);
}

static void test_limits(void)
{
    static const char *const opt[3] = {"--pp", "--microbatches", "--chunks"};
    char lim[32];
    CHECK(pipa_plan_check_size(4, 8, 2, opt) == PIPA_OK);
    /* Inclusive: the largest P, and P*M*V exactly at the limit. */
    CHECK(pipa_plan_check_size(PIPA_PLAN_MAX_P, PIPA_PLAN_MAX_PMV / PIPA_PLAN_MAX_P, 1, opt) == PIPA_OK);
    CHECK(pipa_plan_check_size(1, 1, PIPA_PLAN_MAX_V, opt) == PIPA_OK);
    snprintf(lim, sizeof lim, "%d", PIPA_PLAN_MAX_P);
    expect_fail(pipa_plan_check_size(PIPA_PLAN_MAX_P + 1, 1, 1, opt), "P over", "--pp 1025", lim);
    expect_fail(pipa_plan_check_size(0, 1, 1, opt), "P zero", "--pp 0", lim);
    snprintf(lim, sizeof lim, "%d", PIPA_PLAN_MAX_M);
    expect_fail(pipa_plan_check_size(1, PIPA_PLAN_MAX_M + 1, 1, opt), "M over", "--microbatches", lim);
    expect_fail(pipa_plan_check_size(1, 0, 1, opt), "M zero", "--microbatches 0", NULL);
    snprintf(lim, sizeof lim, "%d", PIPA_PLAN_MAX_V);
    expect_fail(pipa_plan_check_size(2, 1, 4096, opt), "V over", "--chunks 4096", lim);
    snprintf(lim, sizeof lim, "%d", PIPA_PLAN_MAX_PMV);
    expect_fail(pipa_plan_check_size(256, 4096, 64, opt), "P*M*V over",
                "--pp x --microbatches x --chunks = 256 x 4096 x 64", lim);
    expect_fail(pipa_plan_check_size(PIPA_PLAN_MAX_P, PIPA_PLAN_MAX_PMV / PIPA_PLAN_MAX_P + 1, 1, opt),
                "P*M*V one over", lim, NULL);

    /* The generators and init refuse before any work: the P=256 M=4096 V=4096 needed
     * ~200 GB; under a 1 GiB address space a regression fails here instead of swapping. */
    struct rlimit old = limit_memory((rlim_t)1 << 30);
    pipa_plan_t p;
    double t0 = pipa_now();
    expect_fail(pipa_plan_generate(&p, PIPA_SCHED_INTERLEAVED, 256, 4096, 4096), "interleaved V=4096",
                "V = 4096", "1 to 64 chunks");
    expect_fail(pipa_plan_generate(&p, PIPA_SCHED_INTERLEAVED, 256, 4096, 16), "interleaved P*M*V",
                "P x M x V = 256 x 4096 x 16", NULL);
    expect_fail(pipa_plan_generate(&p, PIPA_SCHED_GPIPE, 16, PIPA_PLAN_MAX_M, 1), "gpipe P*M*V",
                "P x M x V", NULL);
    expect_fail(pipa_plan_generate(&p, PIPA_SCHED_ZBV, 1024, 4097, 2), "zbv P*M*V",
                "P x M x V = 1024 x 4097 x 2", NULL);
    expect_fail(pipa_plan_init(&p, PIPA_PLAN_MAX_P + 1, 1, 1), "init P", "plan: P = 1025", NULL);
    CHECKF(pipa_now() - t0 < 1.0, "refusals took %.2f s", pipa_now() - t0);
    setrlimit(RLIMIT_AS, &old);
}

/* Reads text as a plan named "bounds"; frees the plan if it was accepted. */
static pipa_status read_text(const char *text, size_t n)
{
    FILE *f = fmemopen((void *)text, n, "r");
    PIPA_ASSERT(f);
    pipa_plan_t p;
    pipa_status st = pipa_plan_read(&p, f, "bounds");
    fclose(f);
    if (st == PIPA_OK) pipa_plan_free(&p);
    return st;
}

static void test_read_bounds(void)
{
    /* The file: before, 4.2 GB and 17 s in the checker. */
    const char *b40 = "# pipa plan P=8 M=16777216 V=1\nrank 0: STEP\n";
    expect_fail(read_text(b40, strlen(b40)), "M=16777216", "bounds:1: plan: M = 16777216", "1048576");
    /* Within the limits, but no file this small can hold such a plan: refused by the reader,
     * before the checker would allocate for 256 * 4096 (microbatch, chunk) pairs. */
    const char *big = "# pipa plan P=256 M=4096 V=1\nrank 0: F 0 0\nrank 0: STEP\n";
    expect_fail(read_text(big, strlen(big)), "P=256 M=4096 with one F",
                "bounds: rank 0 has 1 compute actions", "needs at least 8192");
    /* A complete plan whose header claims one microbatch more. */
    pipa_plan_t p;
    PIPA_ASSERT(pipa_plan_generate(&p, PIPA_SCHED_1F1B, 2, 4, 1) == PIPA_OK);
    char *text = NULL;
    size_t n = 0;
    FILE *f = open_memstream(&text, &n);
    CHECK(f && pipa_plan_write(&p, f) == PIPA_OK);
    fclose(f);
    pipa_plan_free(&p);
    CHECK(read_text(text, n) == PIPA_OK);
    char *m = strstr(text, "M=4");
    PIPA_ASSERT(m);
    m[2] = '5';
    expect_fail(read_text(text, n), "header M=5 over an M=4 plan", "rank 0 has 8 compute actions",
                "needs at least 10");
    free(text);

    /* More lines than a complete plan can hold: refused at the first one too many, so an
     * endless input cannot grow the plan past what its header allows (7*M*V + 1 per rank). */
    char many[4096] = "# pipa plan P=1 M=1 V=1\n";
    for (int k = 0; k < 100; k++) strcat(many, "rank 0: W 0 0\n");
    expect_fail(read_text(many, strlen(many)), "endless W", "bounds:10: rank 0 has more than 8 actions",
                NULL);

    /* Text form only: a NUL byte, an overlong line; CRLF and a missing final newline are fine. */
    const char nul[] = "# pipa plan P=1 M=1 V=1\nrank 0: F 0 0\0junk\nrank 0: B 0 0\nrank 0: STEP\n";
    expect_fail(read_text(nul, sizeof nul - 1), "NUL", "bounds:2: NUL byte", NULL);
    char longl[700];
    snprintf(longl, sizeof longl, "# pipa plan P=1 M=1 V=1\n# %0600d\n", 0);
    expect_fail(read_text(longl, strlen(longl)), "long line", "bounds:2: line longer than 510", NULL);
    const char *crlf = "# pipa plan P=1 M=1 V=1\r\nrank 0: F 0 0\r\nrank 0: B 0 0\r\nrank 0: STEP";
    CHECKF(read_text(crlf, strlen(crlf)) == PIPA_OK, "CRLF: %s", pipa_last_error());
    const char *cr = "# pipa plan P=1 M=1 V=1\nrank 0: F 0 0\rrank 0: B 0 0\nrank 0: STEP\n";
    expect_fail(read_text(cr, strlen(cr)), "lone CR", "bounds:2: unexpected text", NULL);
}

int main(void)
{
    test_limits();
    test_read_bounds();
    return check_done("test_plan_limits");
}
