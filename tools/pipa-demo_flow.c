/* pipa-demo_flow.c: demos 1 and 2. Activations flow through the stages, one microbatch (demo 1)
 * or M of them (demo 2); the last stage runs the same model in one process
 * (pipa_model_forward) and compares every float: the outputs must be bit-identical, since
 * the same kernels run on the same shapes in the same order. A difference fails the program. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pipa-demo.h"

/* One rank's view of a run, gathered at rank 0. */
typedef struct {
    int rank, stage, first, count, prev, next;
    pipa_desc_t recv, send;
    int64_t recvs, sends, bytes_sent;
    double busy_s, wall_s;
} rank_info_t;

/* What the last stage found, broadcast to every rank as doubles: the verdict must be the same
 * everywhere so every rank exits with the same code. Per microbatch sums follow the header. */
enum { R_MAX_DIFF, R_MISMATCHES, R_VALUES, R_SUM, R_ABS_SUM, R_HEADER };

typedef struct {
    rank_info_t *ranks;  /* (P), filled at rank 0 */
    double *res;         /* (R_HEADER + 2 M): header, then M sums, then M sums of |x| */
} flow_result_t;

/* Sums and comparison of the last stage's outputs out (M, act) with the reference ref. */
static void compare(double *res, const float *out, const float *ref, int M, size_t act)
{
    double *mb_sum = res + R_HEADER, *mb_abs = mb_sum + M;
    for (int k = 0; k < M; k++) {
        for (size_t i = 0; i < act; i++) {
            float a = out[k * act + i], b = ref[k * act + i];
            mb_sum[k] += a;
            mb_abs[k] += fabs(a);
            /* Bits, not ==: a NaN in both would compare unequal, -0 and +0 equal. */
            if (memcmp(&a, &b, sizeof a) != 0) {
                res[R_MISMATCHES] += 1;
                double d = fabs((double)a - (double)b);
                if (!(d <= res[R_MAX_DIFF])) res[R_MAX_DIFF] = d;  // NaN sticks
            }
        }
        res[R_SUM] += mb_sum[k];
        res[R_ABS_SUM] += mb_abs[k];
    }
    res[R_VALUES] = (double)act * M;
}

/* Runs the pipeline on the setup's M microbatches; the last stage checks against one process.
 * On return (0) rank 0 holds every rank's info and every rank holds the results. */
static int run_and_check(demo_ctx_t *ctx, const demo_setup_t *su, flow_result_t *r)
{
    demo_stage_t st;
    if (demo_stage_init(&st, ctx, su, su->M) != PIPA_OK) return demo_fail(ctx, "building the stage");
    int first = st.prev < 0, last = st.next < 0, M = su->M;
    size_t act = (size_t)su->B * su->T * su->cfg.C, n = act * M;
    /* Only the ends hold whole batches: the first reads the inputs, the last needs them again
     * for the one-process reference. */
    float *in = first || last ? calloc(n, sizeof(float)) : NULL;
    float *out = last ? calloc(n, sizeof(float)) : NULL, *ref = last ? calloc(n, sizeof(float)) : NULL;
    int rc = 0;
    if ((first || last) && (!in || (last && (!out || !ref)))) {
        pipa_status_set_error(PIPA_ERR_NOMEM, "out of memory for %d microbatches", M);
        rc = demo_fail(ctx, "allocating inputs and outputs");
    }
    if (rc == 0 && in) pipa_model_inputs(in, &su->cfg, M, su->B, su->T);
    pipa_step_stats_t stats;
    if (rc == 0 && pipa_runtime_forward(&st.tr, in, out, &stats) != PIPA_OK)
        rc = demo_fail(ctx, "pipelined forward");
    if (rc == 0 && last && pipa_model_forward(&su->cfg, M, su->B, su->T, in, ref) != PIPA_OK)
        rc = demo_fail(ctx, "one-process reference forward");
    if (rc == 0 && last) compare(r->res, out, ref, M, act);
    rank_info_t me;
    memset(&me, 0, sizeof me);  // padding too: the bytes travel
    me.rank = ctx->rank, me.stage = st.stage, me.first = st.first;
    me.count = st.count, me.prev = st.prev, me.next = st.next;
    if (rc == 0) {
        me.recv = stats.recv_desc, me.send = stats.send_desc;
        me.recvs = stats.recvs, me.sends = stats.sends, me.bytes_sent = stats.bytes_sent;
        me.busy_s = stats.busy_s, me.wall_s = stats.wall_s;
    }
    if (rc == 0 && pipa_gather(&ctx->world, 0, &me, sizeof me, r->ranks) != PIPA_OK)
        rc = demo_fail(ctx, "gathering the ranks' reports");
    pipa_desc_t d = pipa_desc_1d(PIPA_F64, R_HEADER + 2 * (int64_t)M);
    if (rc == 0 && pipa_bcast(&ctx->world, ctx->P - 1, &d, r->res) != PIPA_OK)
        rc = demo_fail(ctx, "broadcasting the check");
    free(in);
    free(out);
    free(ref);
    demo_stage_free(&st);
    return rc;
}

static int flow_alloc(flow_result_t *r, int P, int M)
{
    r->ranks = calloc((size_t)P, sizeof *r->ranks);
    r->res = calloc(R_HEADER + 2 * (size_t)M, sizeof *r->res);
    return r->ranks && r->res ? 0 : -1;
}

static void flow_free(flow_result_t *r)
{
    free(r->ranks);
    free(r->res);
}

/* The verdict line; returns 1 when the outputs differ. */
static int print_verdict(const double *res)
{
    if (res[R_MISMATCHES] == 0) {
        printf("max |diff| vs one process: 0 (bit-identical)\n");
        return 0;
    }
    printf("max |diff| vs one process: %.3g (NOT bit-identical: %.0f of %.0f values differ)\n",
           res[R_MAX_DIFF], res[R_MISMATCHES], res[R_VALUES]);
    return 1;
}

static void json_verdict(pipa_json_t *j, const double *res)
{
    pipa_json_num(j, "checksum", res[R_SUM]);
    pipa_json_num(j, "abs_sum", res[R_ABS_SUM]);
    pipa_json_num(j, "max_abs_diff", res[R_MAX_DIFF]);
    pipa_json_int(j, "values_differing", (int64_t)res[R_MISMATCHES]);
    pipa_json_bool(j, "bit_identical", res[R_MISMATCHES] == 0);
}

static const char *role(const rank_info_t *ri)
{
    if (ri->prev < 0 && ri->next < 0) return "only";
    return ri->prev < 0 ? "first" : ri->next < 0 ? "last" : "middle";
}

static char *peer(int r, char *buf, size_t len)
{
    if (r < 0) snprintf(buf, len, "none");
    else snprintf(buf, len, "%d", r);
    return buf;
}

/* ---- demo 1 ---------------------------------------------------------------------------- */

static void forward_print(const demo_ctx_t *ctx, const demo_setup_t *su, const flow_result_t *r)
{
    char lr[32], sh1[96], sh2[96], p1[16], p2[16];
    printf("Each rank holds a contiguous slice of the layers: its stage. The first stage reads\n"
           "the input activations (B, T, C), every stage runs its layers in place and sends the\n"
           "result to the next rank; the last stage holds the output.\n\n");
    printf("%4s %5s %-7s %4s %4s %-6s  %-16s %s\n", "rank", "stage", "layers", "prev", "next",
           "role", "receives", "sends");
    for (int i = 0; i < ctx->P; i++) {
        const rank_info_t *ri = &r->ranks[i];
        printf("%4d %5d %-7s %4s %4s %-6s  %-16s %s\n", ri->rank, ri->stage,
               demo_layer_range(ri->first, ri->count, lr, sizeof lr), peer(ri->prev, p1, sizeof p1),
               peer(ri->next, p2, sizeof p2), role(ri), demo_shape(&ri->recv, sh1, sizeof sh1),
               demo_shape(&ri->send, sh2, sizeof sh2));
    }
    printf("\nflow    input");
    for (int i = 0; i < ctx->P; i++)
        printf(" -> r%d[%s]", i, demo_layer_range(r->ranks[i].first, r->ranks[i].count, lr,
                                                   sizeof lr));
    printf(" -> output\n");
    pipa_desc_t o = pipa_desc(PIPA_F32, 3, (int64_t[]){su->B, su->T, su->cfg.C});
    printf("output  %s on rank %d (the last stage)\n", demo_shape(&o, sh1, sizeof sh1), ctx->P - 1);
    printf("        checksum: sum %.9g, sum of |x| %.9g (float64 sums of every output float)\n",
           r->res[R_SUM], r->res[R_ABS_SUM]);
}

static void json_ranks(pipa_json_t *j, const demo_ctx_t *ctx, const flow_result_t *r)
{
    pipa_json_begin_array(j, "ranks");
    for (int i = 0; i < ctx->P; i++) {
        const rank_info_t *ri = &r->ranks[i];
        pipa_json_begin_object(j, NULL);
        pipa_json_int(j, "rank", ri->rank);
        pipa_json_int(j, "stage", ri->stage);
        int64_t layers[PIPA_MAX_RANKS];
        int nl = ri->count < PIPA_MAX_RANKS ? ri->count : PIPA_MAX_RANKS;
        for (int l = 0; l < nl; l++) layers[l] = ri->first + l;
        pipa_json_int_array(j, "layers", layers, nl);
        if (ri->prev < 0) pipa_json_null(j, "prev");
        else pipa_json_int(j, "prev", ri->prev);
        if (ri->next < 0) pipa_json_null(j, "next");
        else pipa_json_int(j, "next", ri->next);
        pipa_json_bool(j, "is_first", ri->prev < 0);
        pipa_json_bool(j, "is_last", ri->next < 0);
        demo_json_shape(j, "recv_shape", &ri->recv);
        demo_json_shape(j, "send_shape", &ri->send);
        pipa_json_int(j, "recvs", ri->recvs);
        pipa_json_int(j, "sends", ri->sends);
        pipa_json_int(j, "bytes_sent", ri->bytes_sent);
        pipa_json_num(j, "busy_s", ri->busy_s);
        pipa_json_num(j, "wall_s", ri->wall_s);
        pipa_json_end_object(j);
    }
    pipa_json_end_array(j);
}

int demo_forward(demo_ctx_t *ctx, const demo_setup_t *su)
{
    flow_result_t r;
    if (flow_alloc(&r, ctx->P, su->M) != 0) {
        flow_free(&r);
        pipa_status_set_error(PIPA_ERR_NOMEM, "out of memory");
        return demo_fail(ctx, "demo 1");
    }
    demo_print_title(ctx, su, "forward pass through the stages");
    if (ctx->rank == 0)
        printf("batch   B=%d sequences x T=%d tokens, M=%d microbatch%s\n", su->B, su->T, su->M,
               su->M == 1 ? "" : "es");
    int rc = run_and_check(ctx, su, &r);
    int differs = rc == 0 && r.res[R_MISMATCHES] != 0;
    if (rc == 0 && ctx->rank == 0) {
        forward_print(ctx, su, &r);
        print_verdict(r.res);
        printf("        (the same layers run one after another in one process give the same floats:\n"
               "        splitting a model over stages changes where it runs, not what it computes)\n");
    }
    if (rc == 0 && ctx->json) {
        pipa_json_begin_object(ctx->json, "demo1");
        pipa_json_str(ctx->json, "title", "forward pass");
        demo_json_setup(ctx->json, su);
        json_ranks(ctx->json, ctx, &r);
        pipa_json_int_array(ctx->json, "output_shape", (int64_t[]){su->B, su->T, su->cfg.C}, 3);
        json_verdict(ctx->json, r.res);
        pipa_json_end_object(ctx->json);
    }
    flow_free(&r);
    return rc < 0 ? rc : differs;
}

/* ---- demo 2 ---------------------------------------------------------------------------- */

static void microbatches_print(const demo_ctx_t *ctx, const demo_setup_t *su, const flow_result_t *r)
{
    char lr[32], by[32], sh[96];
    printf("The batch of B x M = %d sequences is cut into M = %d microbatches of B = %d. While\n"
           "stage s works on microbatch k, stage s+1 works on microbatch k-1: the stages overlap.\n"
           "Each stage receives M activations and sends M on (the ends do one of the two).\n\n",
           su->B * su->M, su->M, su->B);
    printf("%4s %5s %-7s %8s %5s %11s %9s\n", "rank", "stage", "layers", "received", "sent",
           "bytes sent", "busy ms");
    for (int i = 0; i < ctx->P; i++) {
        const rank_info_t *ri = &r->ranks[i];
        printf("%4d %5d %-7s %8lld %5lld %11s %9.3f\n", ri->rank, ri->stage,
               demo_layer_range(ri->first, ri->count, lr, sizeof lr), (long long)ri->recvs,
               (long long)ri->sends, demo_bytes((double)ri->bytes_sent, by, sizeof by),
               ri->busy_s * 1e3);
    }
    pipa_desc_t o = pipa_desc(PIPA_F32, 3, (int64_t[]){su->B, su->T, su->cfg.C});
    printf("\nthe last stage (rank %d) received, per microbatch:\n", ctx->P - 1);
    printf("%10s  %-16s %16s %16s\n", "microbatch", "output shape", "sum", "sum |x|");
    for (int k = 0; k < su->M; k++)
        printf("%10d  %-16s %16.9g %16.9g\n", k, demo_shape(&o, sh, sizeof sh),
               r->res[R_HEADER + k], r->res[R_HEADER + su->M + k]);
    pipa_desc_t all = pipa_desc(PIPA_F32, 4, (int64_t[]){su->M, su->B, su->T, su->cfg.C});
    printf("whole   %s, sum %.9g, sum of |x| %.9g\n", demo_shape(&all, sh, sizeof sh),
           r->res[R_SUM], r->res[R_ABS_SUM]);
}

static void microbatches_json(pipa_json_t *j, const demo_ctx_t *ctx, const demo_setup_t *su,
                              const flow_result_t *r)
{
    pipa_json_begin_object(j, "demo2");
    pipa_json_str(j, "title", "microbatches");
    demo_json_setup(j, su);
    json_ranks(j, ctx, r);
    pipa_json_begin_array(j, "microbatch_outputs");
    for (int k = 0; k < su->M; k++) {
        pipa_json_begin_object(j, NULL);
        pipa_json_int(j, "microbatch", k);
        pipa_json_int_array(j, "shape", (int64_t[]){su->B, su->T, su->cfg.C}, 3);
        pipa_json_num(j, "checksum", r->res[R_HEADER + k]);
        pipa_json_num(j, "abs_sum", r->res[R_HEADER + su->M + k]);
        pipa_json_end_object(j);
    }
    pipa_json_end_array(j);
    pipa_json_int_array(j, "output_shape", (int64_t[]){su->M, su->B, su->T, su->cfg.C}, 4);
    json_verdict(j, r->res);
    pipa_json_end_object(j);
}

int demo_microbatches(demo_ctx_t *ctx, const demo_setup_t *su)
{
    flow_result_t r;
    if (flow_alloc(&r, ctx->P, su->M) != 0) {
        flow_free(&r);
        pipa_status_set_error(PIPA_ERR_NOMEM, "out of memory");
        return demo_fail(ctx, "demo 2");
    }
    demo_print_title(ctx, su, "microbatches");
    if (ctx->rank == 0)
        printf("batch   M=%d microbatches of B=%d sequences x T=%d tokens\n", su->M, su->B, su->T);
    int rc = run_and_check(ctx, su, &r);
    int differs = rc == 0 && r.res[R_MISMATCHES] != 0;
    if (rc == 0 && ctx->rank == 0) {
        microbatches_print(ctx, su, &r);
        print_verdict(r.res);
    }
    if (rc == 0 && ctx->json) microbatches_json(ctx->json, ctx, su, &r);
    flow_free(&r);
    return rc < 0 ? rc : differs;
}
