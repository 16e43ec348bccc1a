/* test_trace: the pieces issue 7 made one of each, checked by their values.
 *  1 busy is one definition: F, B, I, W and STEP are busy, sends and receives are not; the
 *    simulator counts a STEP's cost as busy time, as the runtime does (gpipe P=2 M=2 with
 *    F 1, B 2, STEP 1: makespan 10, busy 7 per rank, bubble 1 - 14/20 = 0.3).
 *  2 a step's span over the ranks is max(end) - max(enter), over records of any size.
 *  3 the JSON writer's one-line layout and its short and fixed numbers give exactly the bytes
 *    pipa-bench rows and trace events always had; a trace event reads as before.
 *  4 the one hash and the one random-number module give the bits they gave before they moved
 *    (values recorded from the build before issue 7: FNV-1a 64 of "a" and "pipa"; uniform
 *    values of four streams, as float bit patterns). */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "check.h"
#include "base/hash.h"
#include "base/json.h"
#include "plan/plan.h"
#include "base/rand.h"
#include "runtime/trace.h"

static void test_busy(void)
{
    for (int k = 0; k < PIPA_ACT_COUNT; k++) {
        int want = k == PIPA_ACT_F || k == PIPA_ACT_B || k == PIPA_ACT_I || k == PIPA_ACT_W ||
                   k == PIPA_ACT_STEP;
        CHECKF(pipa_act_is_busy(k) == want, "%s busy %d, want %d", pipa_act_name(k),
               pipa_act_is_busy(k), want);
    }
    pipa_plan_t p;
    CHECK(pipa_plan_generate(&p, PIPA_SCHED_GPIPE, 2, 2, 1) == PIPA_OK);
    pipa_plan_costs_t c = {{0}};
    c.cost[PIPA_ACT_F] = 1, c.cost[PIPA_ACT_B] = 2, c.cost[PIPA_ACT_STEP] = 1;
    pipa_plan_sim_t sim;
    CHECK(pipa_plan_simulate(&p, &c, &sim) == PIPA_OK);
    CHECKF(sim.makespan == 10.0, "makespan %g, want 10", sim.makespan);
    CHECKF(sim.busy[0] == 7.0 && sim.busy[1] == 7.0, "busy %g %g, want 7 7 (STEP is busy)",
           sim.busy[0], sim.busy[1]);
    CHECKF(fabs(sim.bubble - 0.3) < 1e-12, "bubble %.17g, want 0.3", sim.bubble);
    pipa_plan_free(&p);
}

static void test_span(void)
{
    struct { double wall, enter, busy, end; } rec[3] = {
        {0, 1.0, 0, 10.0}, {0, 3.0, 0, 9.0}, {0, 2.0, 0, 12.0}};
    double s = pipa_trace_step_span(&rec[0].enter, &rec[0].end, 3, sizeof rec[0]);
    CHECKF(s == 9.0, "span over records %g, want 12 - 3 = 9", s);
    double enter[2] = {5.0, 4.0}, end[2] = {7.0, 6.5};
    s = pipa_trace_step_span(enter, end, 2, sizeof(double));
    CHECKF(s == 2.0, "span over plain arrays %g, want 7 - 5 = 2", s);
    CHECKF(pipa_trace_step_span(enter, end, 1, sizeof(double)) == 2.0, "one rank");
}

static void expect_text(pipa_json_t *j, const char *want)
{
    const char *got = pipa_json_text(j);
    CHECKF(got && !strcmp(got, want), "JSON\n got  %s\n want %s", got ? got : "(null)", want);
    pipa_json_free(j);
}

static void test_json(void)
{
    pipa_json_t j;
    pipa_json_init_line(&j);
    pipa_json_begin_object(&j, NULL);
    pipa_json_str(&j, "bench", "p2p");
    pipa_json_num_short(&j, "bytes", 8.0);
    pipa_json_num_short(&j, "latency_us", 22.93251234);
    pipa_json_num_short(&j, "huge", 1e20);
    pipa_json_num_short(&j, "bad", NAN);
    pipa_json_num_fixed(&j, "ts", 1.5, 3);
    pipa_json_begin_object(&j, "args");
    pipa_json_int(&j, "chunk", -1);
    pipa_json_end_object(&j);
    pipa_json_end_object(&j);
    expect_text(&j, "{\"bench\": \"p2p\", \"bytes\": 8, \"latency_us\": 22.9325, \"huge\": 1e+20, "
                    "\"bad\": null, \"ts\": 1.500, \"args\": {\"chunk\": -1}}");
    pipa_json_init_line(&j);
    pipa_json_begin_object(&j, NULL);
    CHECK(pipa_json_text(&j) == NULL);  // unclosed: no text
    pipa_json_end_object(&j);
    expect_text(&j, "{}");
    pipa_json_init(&j);  // the document layout is unchanged
    pipa_json_begin_object(&j, NULL);
    pipa_json_int(&j, "a", 1);
    pipa_json_end_object(&j);
    expect_text(&j, "{\n  \"a\": 1\n}");
}

/* The first action of a one-rank plan, as a Chrome trace event, byte for byte. */
static void test_trace_event(void)
{
    pipa_plan_t p;
    CHECK(pipa_plan_generate(&p, PIPA_SCHED_GPIPE, 1, 1, 1) == PIPA_OK);
    pipa_timeline_t t = {0};
    CHECK(pipa_timeline_alloc(&t, &p) == PIPA_OK);
    for (int i = 0; i < p.len[0]; i++) t.start[0][i] = i, t.end[0][i] = i + 0.5;
    char buf[4096] = {0};
    FILE *f = fmemopen(buf, sizeof buf - 1, "w");
    CHECK(f != NULL);
    pipa_trace_begin(f);
    pipa_trace_timeline(f, &p, &t, 3, "measured");
    CHECK(pipa_trace_end(f) == PIPA_OK);
    fclose(f);
    const char *want =
        "{\"displayTimeUnit\": \"ms\", \"traceEvents\": [\n"
        "{\"ph\": \"M\", \"name\": \"process_name\", \"pid\": 3, \"args\": {\"name\": \"measured\"}},\n"
        "{\"ph\": \"M\", \"name\": \"thread_name\", \"pid\": 3, \"tid\": 0, \"args\": {\"name\": "
        "\"rank 0\"}},\n"
        "{\"ph\": \"X\", \"name\": \"F 0.0\", \"cat\": \"F\", \"pid\": 3, \"tid\": 0, \"ts\": 0.000, "
        "\"dur\": 500000.000, \"args\": {\"microbatch\": 0, \"chunk\": 0}},\n";
    CHECKF(!strncmp(buf, want, strlen(want)), "trace starts\n%.*s\nwant\n%s", (int)strlen(want),
           buf, want);
    const char *step = "{\"ph\": \"X\", \"name\": \"STEP\", \"cat\": \"STEP\", \"pid\": 3, \"tid\": 0, "
                       "\"ts\": 2000000.000, \"dur\": 500000.000, \"args\": {\"microbatch\": -1, "
                       "\"chunk\": -1}}\n]}\n";
    size_t n = strlen(buf), m = strlen(step);
    CHECKF(n >= m && !strcmp(buf + n - m, step), "trace ends\n%s\nwant\n%s", buf, step);
    pipa_timeline_free(&t, &p);
    pipa_plan_free(&p);
}

static void test_hash_rand(void)
{
    CHECK(pipa_hash_fnv1a(PIPA_HASH_INIT, "a", 1) == 0xaf63dc4c8601ec8cull);
    CHECK(pipa_hash_fnv1a(PIPA_HASH_INIT, "pipa", 4) == 0xbed8c60dc4e865a5ull);
    uint64_t piece = pipa_hash_fnv1a(PIPA_HASH_INIT, "pi", 2);  // piece by piece: the same
    CHECK(pipa_hash_fnv1a(piece, "pa", 2) == 0xbed8c60dc4e865a5ull);
    CHECK(pipa_hash_fnv1a(PIPA_HASH_INIT, "", 0) == PIPA_HASH_INIT);
    const uint64_t args[4][4] = {{0, 0, 0, 0}, {42, 1, 2, 3}, {42, 2, 1, 3},
                                 {7, 5, PIPA_STREAM_INPUT + PIPA_STREAM_CORPUS, 9}};
    const uint32_t want[4] = {0xbf3d9f18u, 0xbf008d40u, 0x3f6e1656u, 0x3da008e0u};
    for (int k = 0; k < 4; k++) {
        float v = pipa_rand_uniform(args[k][0], args[k][1], args[k][2], args[k][3]);
        uint32_t bits;
        memcpy(&bits, &v, sizeof bits);
        CHECKF(bits == want[k], "uniform #%d: %.9g = 0x%08x, want 0x%08x", k, v, bits, want[k]);
    }
}

int main(void)
{
    test_hash_rand();
    test_busy();
    test_span();
    test_json();
    test_trace_event();
    return check_done("test_trace");
}
