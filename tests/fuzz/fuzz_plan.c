/* fuzz_plan: libFuzzer target for the plan text reader and the checker (tests/fuzz/run.sh builds
 * and runs it). Any bytes go to pipa_plan_read; a plan it accepts goes to pipa_plan_check and,
 * when the checker proves it, to the simulator, which must then agree (it runs the same engine
 * with a clock); and every accepted plan must round-trip through its text form. Crashes, leaks,
 * undefined behaviour, timeouts and memory beyond what the input's size justifies are the bugs
 * this finds: the reader bounds its work by the input, whatever the header claims. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "plan/plan.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The fuzzer's own verdict: a broken property, not a user error. */
static void fail(const char *what)
{
    fprintf(stderr, "fuzz_plan: %s: %s\n", what, pipa_last_error());
    abort();
}

static int same_plan(const pipa_plan_t *a, const pipa_plan_t *b)
{
    if (a->P != b->P || a->M != b->M || a->V != b->V) return 0;
    for (int r = 0; r < a->P; r++) {
        if (a->len[r] != b->len[r]) return 0;
        if (a->len[r] && memcmp(a->act[r], b->act[r], (size_t)a->len[r] * sizeof *a->act[r]))
            return 0;
    }
    return 1;
}

/* Written and read back, an accepted plan is the same plan. */
static void check_roundtrip(const pipa_plan_t *p)
{
    char *text = NULL;
    size_t n = 0;
    FILE *f = open_memstream(&text, &n);
    if (!f) return;
    pipa_status st = pipa_plan_write(p, f);
    fclose(f);
    if (st != PIPA_OK) fail("write");
    pipa_plan_t q;
    f = fmemopen(text, n, "r");
    if (!f) fail("fmemopen");
    st = pipa_plan_read(&q, f, "roundtrip");
    fclose(f);
    free(text);
    if (st != PIPA_OK) fail("a written plan does not read back");
    if (!same_plan(p, &q)) fail("a written plan reads back different");
    pipa_plan_free(&q);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0) return 0;   /* fmemopen takes no empty buffer; "no header" is tested elsewhere */
    FILE *f = fmemopen((void *)data, size, "r");
    if (!f) return 0;
    pipa_plan_t p;
    pipa_status st = pipa_plan_read(&p, f, "fuzz");
    fclose(f);
    if (st != PIPA_OK) return 0;
    pipa_plan_report_t rep;
    if (pipa_plan_check(&p, &rep) == PIPA_OK) {
        pipa_plan_costs_t c = {{0}};
        c.cost[PIPA_ACT_F] = 1, c.cost[PIPA_ACT_B] = 2, c.cost[PIPA_ACT_I] = 1;
        c.cost[PIPA_ACT_W] = 1, c.cost[PIPA_ACT_SEND_F] = 0.5, c.cost[PIPA_ACT_SEND_B] = 0.5;
        pipa_plan_sim_t sim;
        if (pipa_plan_simulate(&p, &c, &sim) != PIPA_OK) fail("the checker passed a plan the simulator refuses");
        if (!(sim.makespan > 0.0) || sim.bubble < -1e-9 || sim.bubble >= 1.0) fail("simulated figures out of range");
    }
    check_roundtrip(&p);
    pipa_plan_free(&p);
    return 0;
}
