/* pipa-demo_layouts_out.c: demo 6's output (rank 0): part 1's tables (per rank, per stage, the
 * loss against one process), part 2's layouts side by side, and the "demo6" JSON object. The
 * runs and what the figures mean: pipa-demo_layouts.c. */
#include <stdio.h>
#include <string.h>

#include "pipa-demo_layouts.h"

static int64_t rank_memory(const lay_rank_t *k)
{
    return k->weight_bytes + k->grad_bytes + k->opt_bytes + k->act_bytes;
}

static const char *row_name(const lay_row_t *w, char *buf, size_t len)
{
    if (w->world == 1) snprintf(buf, len, "one process");
    else snprintf(buf, len, "dp %d x pp %d x tp %d%s", w->dp, w->pp, w->tp,
                  w->send_whole ? " whole" : "");
    return buf;
}

/* The row that ran for w: w itself, or the earlier run of the same layout. */
static const lay_row_t *ran(const lay_result_t *r, const lay_row_t *w)
{
    return w->same_as >= 0 ? &r->row[w->same_as] : w;
}

/* ---- part 1 ------------------------------------------------------------------------------- */

static void print_ranks(const lay_row_t *w)
{
    char lr[32], b[8][32];
    printf("\nper rank, median step: memory the runtime allocated (the tensor table's weights,\n"
           "gradients and AdamW's two moments; saved activations at their peak), busy time (F, B,\n"
           "STEP; the tensor all-reduces inside F and B included) and the bytes the rank sent:\n"
           "to the other stage, inside its tensor group, inside its data group\n");
    printf("%4s %8s %-7s %10s %10s %10s %10s %10s %8s %10s %10s %10s\n", "rank", "pp,dp,tp",
           "layers", "weights", "grads", "optimizer", "activation", "memory", "busy ms",
           "stage sent", "tensor", "data");
    for (int i = 0; i < w->world; i++) {
        const lay_rank_t *k = &w->ranks[i];
        char co[16];
        snprintf(co, sizeof co, "%d,%d,%d", k->p, k->d, k->t);
        printf("%4d %8s %-7s %10s %10s %10s %10s %10s %8.3f %10s %10s %10s\n", i, co,
               demo_layer_range(k->first, k->count, lr, sizeof lr),
               demo_bytes((double)k->weight_bytes, b[0], 32), demo_bytes((double)k->grad_bytes, b[1], 32),
               demo_bytes((double)k->opt_bytes, b[2], 32), demo_bytes((double)k->act_bytes, b[3], 32),
               demo_bytes((double)rank_memory(k), b[4], 32), k->busy_s * 1e3,
               demo_bytes((double)k->stage_bytes, b[5], 32), demo_bytes((double)k->tp_bytes, b[6], 32),
               demo_bytes((double)k->dp_bytes, b[7], 32));
    }
}

static void print_stages(const lay_row_t *w)
{
    char lr[32], b[2][32];
    printf("\nper stage (its ranks together): busy time, mean and largest of its ranks; bytes sent\n"
           "to the other stage and inside the stage's tensor groups, summed over its ranks\n");
    printf("%5s %-12s %-7s %9s %9s %11s %11s\n", "stage", "ranks", "layers", "busy mean", "busy max",
           "stage sent", "tensor");
    for (int p = 0; p < w->pp; p++) {
        char who[64] = "";
        size_t at = 0;
        double sum = 0, max = 0;
        int n = 0, first = 0, count = 0;
        int64_t st = 0, tb = 0;
        for (int i = 0; i < w->world; i++) {
            const lay_rank_t *k = &w->ranks[i];
            if (k->p != p) continue;
            int got = snprintf(who + at, sizeof who - at, n ? " %d" : "%d", i);
            if (got > 0 && (size_t)got < sizeof who - at) at += (size_t)got;
            sum += k->busy_s, n++;
            if (k->busy_s > max) max = k->busy_s;
            st += k->stage_bytes, tb += k->tp_bytes;
            first = k->first, count = k->count;
        }
        printf("%5d %-12s %-7s %9.3f %9.3f %11s %11s\n", p, who,
               demo_layer_range(first, count, lr, sizeof lr), n ? 1e3 * sum / n : 0, 1e3 * max,
               demo_bytes((double)st, b[0], 32), demo_bytes((double)tb, b[1], 32));
    }
}

/* Megatron's scatter-gather against whole activations between the stages, measured. */
static void print_whole(const lay_row_t *w, const lay_row_t *whole)
{
    char b[4][32], name[48];
    if (whole->skipped) return;  // no tensor group: the shares are the whole activations
    printf("\nbetween stages, per step, all ranks: each tensor rank sends its 1/%d share of an\n"
           "activation and the receiving group all-gathers it (Megatron's scatter-gather), against\n"
           "each sending the whole activation (run again so: '%s' below):\n", w->tp,
           row_name(whole, name, sizeof name));
    printf("  shares  %5lld messages, %10s between stages, %10s in the tensor groups\n",
           (long long)w->sends, demo_bytes((double)w->stage_bytes, b[0], 32),
           demo_bytes((double)w->tp_bytes, b[1], 32));
    printf("  whole   %5lld messages, %10s between stages, %10s in the tensor groups\n",
           (long long)whole->sends, demo_bytes((double)whole->stage_bytes, b[2], 32),
           demo_bytes((double)whole->tp_bytes, b[3], 32));
    printf("  the same loss either way: %s\n",
           memcmp(w->loss, whole->loss, sizeof w->loss) == 0 ? "yes, to the bit" : "NO");
}

static void print_losses(const lay_row_t *w, const lay_row_t *ref)
{
    printf("\ndifference from one process (rank 0 trained the whole model alone, the same steps):\n");
    printf("%-8s %20s %20s %10s %10s\n", "step", "one process", "this layout", "|diff|", "relative");
    for (int k = 0; k <= LAY_REPS; k++) {
        char step[16];
        if (k == 0) snprintf(step, sizeof step, "warm-up");
        else snprintf(step, sizeof step, "%d", k);
        double d = w->loss[k] - ref->loss[k];
        printf("%-8s %20.12f %20.12f %10.3g %10.3g\n", step, ref->loss[k], w->loss[k],
               d < 0 ? -d : d, (d < 0 ? -d : d) / (ref->loss[k] < 0 ? -ref->loss[k] : ref->loss[k]));
    }
    if (w->identical)
        printf("loss vs one process: bit-identical at every step\n");
    else
        printf("loss vs one process: max |diff| %.3g, max relative %.3g: %s %g relative\n",
               w->max_abs, w->max_rel, w->max_rel <= LAY_TOLERANCE ? "within" : "NOT within",
               LAY_TOLERANCE);
    if (!w->ranks_agree) printf("the ranks reported different losses: NOT consistent\n");
}

void demo_layouts_print_main(const demo_ctx_t *ctx, const demo_setup_t *su, const lay_result_t *r)
{
    (void)ctx, (void)su;
    const lay_row_t *w = ran(r, &r->row[LAY_MAIN]);
    if (w->skipped) {
        printf("not run: %s\n", w->why);
        return;
    }
    print_ranks(w);
    print_stages(w);
    print_whole(w, &r->row[LAY_WHOLE]);
    print_losses(w, &r->row[LAY_REF]);
}

/* ---- part 2 ------------------------------------------------------------------------------- */

static void print_skipped(const lay_result_t *r, const lay_row_t *w, const char *name)
{
    char other[48];
    if (w->same_as >= 0)
        printf("%-24s same layout as %s above\n", name, row_name(&r->row[w->same_as], other, sizeof other));
    else
        printf("%-24s not run: %s\n", name, w->why);
}

static void print_memory_bytes(const lay_result_t *r)
{
    char name[48], b[8][32];
    printf("\nmemory of the largest rank, and bytes sent per step summed over the ranks:\n");
    printf("%-24s %3s %10s %10s %10s %10s %10s  %11s %10s %10s\n", "layout", "M", "weights",
           "grads", "optimizer", "activation", "memory", "stages", "tensor", "data");
    for (int i = 0; i < LAY_N; i++) {
        const lay_row_t *w = &r->row[i];
        row_name(w, name, sizeof name);
        if (w->skipped) {
            print_skipped(r, w, name);
            continue;
        }
        const lay_rank_t *big = &w->ranks[0];
        for (int k = 1; k < w->world; k++)
            if (rank_memory(&w->ranks[k]) > rank_memory(big)) big = &w->ranks[k];
        printf("%-24s %3d %10s %10s %10s %10s %10s  %11s %10s %10s\n", name, w->M,
               demo_bytes((double)big->weight_bytes, b[0], 32), demo_bytes((double)big->grad_bytes, b[1], 32),
               demo_bytes((double)big->opt_bytes, b[2], 32), demo_bytes((double)big->act_bytes, b[3], 32),
               demo_bytes((double)rank_memory(big), b[4], 32), demo_bytes((double)w->stage_bytes, b[5], 32),
               demo_bytes((double)w->tp_bytes, b[6], 32), demo_bytes((double)w->dp_bytes, b[7], 32));
    }
}

static void print_times(const lay_result_t *r)
{
    char name[48];
    printf("\nstep time (median of %d after a warm-up), busy and communication per rank (mean),\n"
           "bubble measured against 1F1B's theory (P-1)/(M+P-1), loss against one process:\n",
           LAY_REPS);
    printf("(tensor ms: in the tensor groups' collectives, inside busy: they run within F and B;\n"
           "data ms: in the data group's gradient all-reduce, not busy)\n");
    printf("%-24s %9s %9s %9s %9s %8s %8s  %s\n", "layout", "step ms", "busy ms", "tensor ms",
           "data ms", "bubble", "theory", "loss vs one process");
    for (int i = 0; i < LAY_N; i++) {
        const lay_row_t *w = &r->row[i];
        row_name(w, name, sizeof name);
        if (w->skipped) {
            print_skipped(r, w, name);
            continue;
        }
        double busy = 0, tp = 0, dp = 0;
        for (int k = 0; k < w->world; k++)
            busy += w->ranks[k].busy_s, tp += w->ranks[k].tp_s, dp += w->ranks[k].dp_s;
        char verdict[64];
        if (i == LAY_REF) snprintf(verdict, sizeof verdict, "(the reference)");
        else if (w->identical) snprintf(verdict, sizeof verdict, "bit-identical");
        else snprintf(verdict, sizeof verdict, "max relative %.2g%s", w->max_rel,
                      w->max_rel <= LAY_TOLERANCE ? "" : " NOT within tolerance");
        printf("%-24s %9.2f %9.3f %9.3f %9.3f %7.1f%% %7.1f%%  %s\n", name, w->step_s * 1e3,
               1e3 * busy / w->world, 1e3 * tp / w->world, 1e3 * dp / w->world, 100 * w->bubble,
               100 * w->theory, verdict);
    }
}

void demo_layouts_print_table(const demo_ctx_t *ctx, const demo_setup_t *su, const lay_result_t *r)
{
    printf("\n-- part 2: the same model as pp = %d, tp = %d and dp = %d, beside part 1 --\n", ctx->P,
           ctx->P, ctx->P);
    print_memory_bytes(r);
    print_times(r);
    printf("\nWhat differs (%d ranks, M = %d microbatches per step):\n"
           "  pipeline  each rank holds L/P layers and its optimizer state; only activations\n"
           "            and their gradients cross stages (2 (P-1) M messages per step), but a\n"
           "            1F1B step idles (P-1)/(M+P-1) of the time filling and draining.\n"
           "  tensor    each rank holds 1/tp of every layer; no bubble, but every layer\n"
           "            all-reduces its activations twice forward and twice backward.\n"
           "  data      each rank holds the whole model, its gradients and optimizer state, and\n"
           "            runs M/dp microbatches; the gradients are all-reduced once per step.\n",
           ctx->P, su->M);
    if (r->cpus > 0 && r->cpus < ctx->P)
        printf("note: %d ranks share %ld cpus: the times and bubbles include waiting for a core,\n"
               "so they do not show the layouts' own speed; memory, bytes and losses do.\n", ctx->P,
               r->cpus);
    printf("every layout within %g relative of one process, every step: %s\n", LAY_TOLERANCE,
           r->ok ? "yes" : "NO");
}

/* ---- JSON ------------------------------------------------------------------------------------ */

static void json_ranks(pipa_json_t *j, const lay_row_t *w)
{
    pipa_json_begin_array(j, "ranks");
    for (int i = 0; i < w->world; i++) {
        const lay_rank_t *k = &w->ranks[i];
        pipa_json_begin_object(j, NULL);
        pipa_json_int(j, "rank", i);
        pipa_json_int(j, "pp", k->p);
        pipa_json_int(j, "dp", k->d);
        pipa_json_int(j, "tp", k->t);
        pipa_json_int(j, "first_layer", k->first);
        pipa_json_int(j, "n_layers", k->count);
        pipa_json_int(j, "weight_bytes", k->weight_bytes);
        pipa_json_int(j, "grad_bytes", k->grad_bytes);
        pipa_json_int(j, "optimizer_bytes", k->opt_bytes);
        pipa_json_int(j, "activation_bytes", k->act_bytes);
        pipa_json_int(j, "memory_bytes", rank_memory(k));
        pipa_json_num(j, "busy_s", k->busy_s);
        pipa_json_num(j, "tensor_s", k->tp_s);
        pipa_json_num(j, "data_s", k->dp_s);
        pipa_json_int(j, "sends", k->sends);
        pipa_json_int(j, "share_bytes", k->share_bytes);
        pipa_json_int(j, "stage_bytes", k->stage_bytes);
        pipa_json_int(j, "tensor_bytes", k->tp_bytes);
        pipa_json_int(j, "data_bytes", k->dp_bytes);
        pipa_json_end_object(j);
    }
    pipa_json_end_array(j);
}

static void json_row(pipa_json_t *j, const lay_result_t *r, const lay_row_t *w)
{
    static const char *const keys[LAY_N] = {"one_process", "part1", "part1_whole", "pp", "tp",
                                            "dp"};
    pipa_json_begin_object(j, NULL);
    pipa_json_str(j, "run", keys[w - r->row]);
    pipa_json_int(j, "world", w->world);
    pipa_json_int(j, "pp", w->pp);
    pipa_json_int(j, "tp", w->tp);
    pipa_json_int(j, "dp", w->dp);
    pipa_json_int(j, "microbatches_per_replica", w->M);
    pipa_json_bool(j, "send_whole", w->send_whole);
    pipa_json_bool(j, "skipped", w->skipped);
    if (w->skipped) {
        if (w->same_as >= 0) pipa_json_str(j, "same_as", keys[w->same_as]);
        else pipa_json_str(j, "reason", w->why);
        pipa_json_end_object(j);
        return;
    }
    pipa_json_num(j, "step_s", w->step_s);
    pipa_json_num(j, "bubble_measured", w->bubble);
    pipa_json_num(j, "bubble_theory", w->theory);
    pipa_json_begin_array(j, "losses");
    for (int k = 0; k <= LAY_REPS; k++) pipa_json_num(j, NULL, w->loss[k]);
    pipa_json_end_array(j);
    char hex[64];
    snprintf(hex, sizeof hex, "%a", w->loss[LAY_REPS]);
    pipa_json_str(j, "loss_hex", hex);
    pipa_json_num(j, "loss_max_abs_diff", w->max_abs);
    pipa_json_num(j, "loss_max_rel_diff", w->max_rel);
    pipa_json_bool(j, "loss_identical", w->identical);
    pipa_json_bool(j, "ranks_agree", w->ranks_agree);
    pipa_json_int(j, "stage_bytes", w->stage_bytes);
    pipa_json_int(j, "tensor_bytes", w->tp_bytes);
    pipa_json_int(j, "data_bytes", w->dp_bytes);
    pipa_json_int(j, "sends", w->sends);
    pipa_json_int(j, "max_memory_bytes", w->max_memory);
    json_ranks(j, w);
    pipa_json_end_object(j);
}

void demo_layouts_json(pipa_json_t *j, const demo_ctx_t *ctx, const demo_setup_t *su,
                       const lay_result_t *r)
{
    pipa_json_begin_object(j, "demo6");
    pipa_json_str(j, "title", "pipeline, tensor and data parallelism side by side");
    demo_json_setup(j, su);
    pipa_json_int(j, "vocab", DEMO_VOCAB);
    pipa_json_int(j, "repeats", LAY_REPS);
    pipa_json_str(j, "schedule", "1f1b");
    pipa_json_int(j, "world", ctx->P);
    pipa_json_int(j, "cpus", r->cpus);
    pipa_json_bool(j, "oversubscribed", r->cpus > 0 && r->cpus < ctx->P);
    pipa_json_num(j, "tolerance", LAY_TOLERANCE);
    pipa_json_begin_object(j, "part1_layout");
    pipa_json_int(j, "pp", su->lay.pp);
    pipa_json_int(j, "tp", su->lay.tp);
    pipa_json_int(j, "dp", su->lay.dp);
    pipa_json_end_object(j);
    pipa_json_begin_array(j, "layouts");
    for (int i = 0; i < LAY_N; i++) json_row(j, r, &r->row[i]);
    pipa_json_end_array(j);
    pipa_json_bool(j, "within_tolerance", r->ok);
    pipa_json_end_object(j);
}
