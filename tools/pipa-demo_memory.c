/* pipa-demo_memory.c: demo 3, what pipeline parallelism saves in memory. Each rank counts the
 * parameters its stage allocated and measures its own peak resident memory (VmHWM) while it
 * builds the stage and runs one forward; rank 0 then runs this program again as a child process
 * in a world of one (--measure-whole-model) that builds the whole model and runs the same
 * forward, so the two peaks are measured the same way. Left out: activation memory of training
 * (this is inference: no activations are kept for a backward pass). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "model/blas.h"
#include "pipa-demo.h"
#include "base/rss.h"

typedef struct {
    int rank, stage, first, count;
    int peak_reset;           /* the peak was reset before building: it measures this demo only */
    int64_t params;           /* floats the stage allocated (st.layers.n_params) */
    int64_t base_kb, peak_kb; /* RSS before building the stage; peak RSS after the forward */
} mem_info_t;

/* The whole model in one process, as measured by the child: [0] status (0 ok), [1] peak KiB,
 * [2] baseline KiB. Doubles so one broadcast carries it. */
enum { W_STATUS, W_PEAK, W_BASE, W_N };

/* ---- the child: the whole model in one process ------------------------------------------ */

int demo_measure_whole_model(const demo_opts_t *o)
{
    if (!o->L || !o->C || !o->NH || !o->I || !o->B || !o->T || !o->M) {
        fprintf(stderr, "pipa-demo: --measure-whole-model needs --layers, --hidden, --heads, "
                        "--intermediate, --batch, --seq and --microbatches\n");
        return 2;
    }
    pipa_model_config_t cfg = {.L = o->L, .C = o->C, .NH = o->NH, .I = o->I, .eps = 1e-5f,
                         .rope_theta = 10000.0f, .seed = o->seed};
    pipa_blas_init(0);
    long base = pipa_rss_current_kb();
    size_t n = (size_t)o->M * o->B * o->T * o->C;
    float *in = calloc(n, sizeof(float)), *out = calloc(n, sizeof(float));
    pipa_status s = in && out ? PIPA_OK : pipa_status_set_error(PIPA_ERR_NOMEM, "out of memory");
    if (s == PIPA_OK) {
        pipa_model_inputs(in, &cfg, o->M, o->B, o->T);
        s = pipa_model_forward(&cfg, o->M, o->B, o->T, in, out);
    }
    free(in);
    free(out);
    if (s != PIPA_OK) {
        fprintf(stderr, "pipa-demo: whole model: %s\n", pipa_last_error());
        return 1;
    }
    printf("whole-model peak_kb %ld base_kb %ld\n", pipa_rss_peak_kb(), base);
    return 0;
}

/* The environment minus the variables that would make the child join this run: it must be a
 * world of one (without RANK and WORLD_SIZE no transport looks for the run it was launched in).
 * NULL-terminated; the strings are the parent's. */
static char **child_env(void)
{
    extern char **environ;
    static const char *const drop[] = {"RANK=", "WORLD_SIZE=", "LOCAL_RANK=", "LOCAL_WORLD_SIZE="};
    size_t n = 0;
    while (environ[n]) n++;
    char **env = calloc(n + 1, sizeof *env);
    if (!env) return NULL;
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        int keep = 1;
        for (size_t d = 0; d < sizeof drop / sizeof *drop; d++)
            if (!strncmp(environ[i], drop[d], strlen(drop[d]))) keep = 0;
        if (keep) env[k++] = environ[i];
    }
    return env;
}

/* Runs /proc/self/exe --measure-whole-model with the setup's sizes; fills peak and base. */
static pipa_status run_child(const demo_setup_t *su, long *peak, long *base)
{
    char v[8][32];
    const pipa_model_config_t *c = &su->cfg;
    snprintf(v[0], 32, "%d", c->L), snprintf(v[1], 32, "%d", c->C);
    snprintf(v[2], 32, "%d", c->NH), snprintf(v[3], 32, "%d", c->I);
    snprintf(v[4], 32, "%d", su->B), snprintf(v[5], 32, "%d", su->T);
    snprintf(v[6], 32, "%d", su->M), snprintf(v[7], 32, "%llu", (unsigned long long)c->seed);
    char *argv[] = {"pipa-demo", "--measure-whole-model", "--layers", v[0], "--hidden", v[1],
                    "--heads", v[2], "--intermediate", v[3], "--batch", v[4], "--seq", v[5],
                    "--microbatches", v[6], "--seed", v[7], NULL};
    char **env = child_env();
    int fd[2];
    if (!env) return pipa_status_set_error(PIPA_ERR_NOMEM, "out of memory");
    if (pipe(fd) != 0) {
        free(env);
        return pipa_status_set_error(PIPA_ERR_IO, "pipe: %s", strerror(errno));
    }
    fflush(stdout);  // the child must not inherit (and print again) buffered output
    pid_t pid = fork();
    if (pid == 0) {
        dup2(fd[1], STDOUT_FILENO);
        close(fd[0]);
        close(fd[1]);
        execve("/proc/self/exe", argv, env);
        _exit(127);
    }
    free(env);
    close(fd[1]);
    if (pid < 0) {
        close(fd[0]);
        return pipa_status_set_error(PIPA_ERR_IO, "fork: %s", strerror(errno));
    }
    char text[256] = "";
    size_t len = 0;
    ssize_t got;
    while ((got = read(fd[0], text + len, sizeof text - 1 - len)) > 0) len += (size_t)got;
    text[len] = '\0';
    close(fd[0]);
    int wst;
    while (waitpid(pid, &wst, 0) < 0 && errno == EINTR) {}
    if (!WIFEXITED(wst) || WEXITSTATUS(wst) != 0)
        return pipa_status_set_error(PIPA_ERR_IO, "the whole-model child (%s --measure-whole-model) failed",
                                     "/proc/self/exe");
    if (sscanf(text, "whole-model peak_kb %ld base_kb %ld", peak, base) != 2)
        return pipa_status_set_error(PIPA_ERR_FORMAT, "the whole-model child printed '%s'", text);
    return PIPA_OK;
}

/* ---- the ranks ----------------------------------------------------------------------------- */

/* Builds my stage, runs the forward of M microbatches, and measures. */
static int measure_stage(demo_ctx_t *ctx, const demo_setup_t *su, mem_info_t *me)
{
    memset(me, 0, sizeof *me);
    me->rank = ctx->rank;
    /* Earlier demos (the last rank built the whole model for its check) raised the peak; reset
     * it so it covers this demo only. */
    me->peak_reset = pipa_rss_reset_peak() == PIPA_OK;
    me->base_kb = pipa_rss_current_kb();
    demo_stage_t st;
    if (demo_stage_init(&st, ctx, su, su->M) != PIPA_OK) return demo_fail(ctx, "building the stage");
    size_t n = (size_t)su->M * su->B * su->T * su->cfg.C;
    float *in = st.prev < 0 ? calloc(n, sizeof(float)) : NULL;
    float *out = st.next < 0 ? calloc(n, sizeof(float)) : NULL;
    int rc = 0;
    if ((st.prev < 0 && !in) || (st.next < 0 && !out)) {
        pipa_status_set_error(PIPA_ERR_NOMEM, "out of memory");
        rc = demo_fail(ctx, "allocating inputs and outputs");
    }
    if (rc == 0 && in) pipa_model_inputs(in, &su->cfg, su->M, su->B, su->T);
    pipa_step_stats_t stats;
    if (rc == 0 && pipa_runtime_forward(&st.tr, in, out, &stats) != PIPA_OK)
        rc = demo_fail(ctx, "pipelined forward");
    me->peak_kb = pipa_rss_peak_kb();
    me->stage = st.stage, me->first = st.first, me->count = st.count;
    me->params = (int64_t)st.n_params;
    free(in);
    free(out);
    demo_stage_free(&st);
    return rc;
}

static void print_table(const demo_ctx_t *ctx, const demo_setup_t *su, const mem_info_t *all,
                        const double *whole)
{
    const pipa_model_config_t *c = &su->cfg;
    int64_t total = (int64_t)c->L * (int64_t)pipa_layer_param_count(c);
    char lr[32], b[6][32];
    printf("Each rank allocates only its own layers. Parameters are counted from what each stage\n"
           "allocated; one layer has 2C + 4C^2 + 3CI = %zu (two norms, q k v o, gate up down).\n"
           "RSS is resident memory, measured: 'base' before the stage was built (code, BLAS,\n"
           "shared-memory rings), 'peak' the high-water mark after building it and running a\n"
           "forward of M=%d microbatch%s. The whole-model row is one process holding all layers.\n\n",
           pipa_layer_param_count(c), su->M, su->M == 1 ? "" : "es");
    printf("%-5s %5s %-7s %12s %10s %10s %7s %10s %10s %10s\n", "rank", "stage", "layers",
           "params", "fp32", "fp16", "x less", "base RSS", "peak RSS", "peak-base");
    for (int i = 0; i < ctx->P; i++) {
        const mem_info_t *m = &all[i];
        printf("%-5d %5d %-7s %12lld %10s %10s %6.2fx %10s %10s %10s\n", m->rank, m->stage,
               demo_layer_range(m->first, m->count, lr, sizeof lr), (long long)m->params,
               demo_bytes(4.0 * m->params, b[0], 32), demo_bytes(2.0 * m->params, b[1], 32),
               (double)total / m->params, demo_bytes(1024.0 * m->base_kb, b[2], 32),
               demo_bytes(1024.0 * m->peak_kb, b[3], 32),
               demo_bytes(1024.0 * (m->peak_kb - m->base_kb), b[4], 32));
    }
    printf("%-5s %5s %-7s %12lld %10s %10s %6.2fx %10s %10s %10s\n", "whole", "-",
           demo_layer_range(0, c->L, lr, sizeof lr), (long long)total,
           demo_bytes(4.0 * total, b[0], 32), demo_bytes(2.0 * total, b[1], 32), 1.0,
           demo_bytes(1024.0 * whole[W_BASE], b[2], 32), demo_bytes(1024.0 * whole[W_PEAK], b[3], 32),
           demo_bytes(1024.0 * (whole[W_PEAK] - whole[W_BASE]), b[4], 32));
    int64_t largest = 0;
    for (int i = 0; i < ctx->P; i++)
        if (all[i].params > largest) largest = all[i].params;
    printf("\nwhole model: L x per-layer = %d x %zu = %lld parameters; over %d stage%s the largest\n"
           "stage holds %.1f%% of them. fp16: the same weights in 16 bits (this build computes in\n"
           "fp32). The base RSS is paid once per rank: it is what splitting cannot save.\n",
           c->L, pipa_layer_param_count(c), (long long)total, ctx->P, ctx->P == 1 ? "" : "s",
           100.0 * (double)largest / (double)total);
    for (int i = 0; i < ctx->P; i++)
        if (!all[i].peak_reset) {
            printf("note: rank %d could not reset its peak RSS; its peak includes earlier demos\n", i);
            break;
        }
}

static void json_memory(pipa_json_t *j, const demo_ctx_t *ctx, const demo_setup_t *su,
                        const mem_info_t *all, const double *whole)
{
    const pipa_model_config_t *c = &su->cfg;
    int64_t total = (int64_t)c->L * (int64_t)pipa_layer_param_count(c);
    pipa_json_begin_object(j, "demo3");
    pipa_json_str(j, "title", "memory");
    demo_json_setup(j, su);
    pipa_json_int(j, "params_per_layer", (int64_t)pipa_layer_param_count(c));
    pipa_json_begin_array(j, "ranks");
    for (int i = 0; i < ctx->P; i++) {
        const mem_info_t *m = &all[i];
        pipa_json_begin_object(j, NULL);
        pipa_json_int(j, "rank", m->rank);
        pipa_json_int(j, "stage", m->stage);
        pipa_json_int(j, "first_layer", m->first);
        pipa_json_int(j, "n_layers", m->count);
        pipa_json_int(j, "params", m->params);
        pipa_json_int(j, "fp32_bytes", 4 * m->params);
        pipa_json_int(j, "fp16_bytes", 2 * m->params);
        pipa_json_num(j, "reduction", (double)total / m->params);
        pipa_json_int(j, "base_rss_kb", m->base_kb);
        pipa_json_int(j, "peak_rss_kb", m->peak_kb);
        pipa_json_bool(j, "peak_reset", m->peak_reset);
        pipa_json_end_object(j);
    }
    pipa_json_end_array(j);
    pipa_json_begin_object(j, "whole_model");
    pipa_json_int(j, "params", total);
    pipa_json_int(j, "fp32_bytes", 4 * total);
    pipa_json_int(j, "fp16_bytes", 2 * total);
    pipa_json_int(j, "base_rss_kb", (int64_t)whole[W_BASE]);
    pipa_json_int(j, "peak_rss_kb", (int64_t)whole[W_PEAK]);
    pipa_json_end_object(j);
    pipa_json_end_object(j);
}

int demo_memory(demo_ctx_t *ctx, const demo_setup_t *su)
{
    demo_print_title(ctx, su, "memory per rank");
    if (ctx->rank == 0)
        printf("batch   M=%d microbatch%s of B=%d x T=%d\n", su->M, su->M == 1 ? "" : "es", su->B,
               su->T);
    mem_info_t me, *all = calloc((size_t)ctx->P, sizeof *all);
    if (!all) {
        pipa_status_set_error(PIPA_ERR_NOMEM, "out of memory");
        return demo_fail(ctx, "demo 3");
    }
    int rc = measure_stage(ctx, su, &me);
    if (rc == 0 && pipa_gather(&ctx->world, 0, &me, sizeof me, all) != PIPA_OK)
        rc = demo_fail(ctx, "gathering the ranks' reports");
    /* Rank 0 measures the whole model while the others wait in the broadcast of its verdict:
     * one outcome for all, so a failed child stops every rank the same way. */
    double whole[W_N] = {0};
    if (rc == 0 && ctx->rank == 0) {
        long peak = -1, base = -1;
        if (run_child(su, &peak, &base) != PIPA_OK) {
            fprintf(stderr, "pipa-demo: whole-model measurement: %s\n", pipa_last_error());
            whole[W_STATUS] = -1;
        }
        whole[W_PEAK] = (double)peak, whole[W_BASE] = (double)base;
    }
    pipa_desc_t d = pipa_desc_1d(PIPA_F64, W_N);
    if (rc == 0 && pipa_bcast(&ctx->world, 0, &d, whole) != PIPA_OK)
        rc = demo_fail(ctx, "broadcasting the whole-model figures");
    if (rc == 0 && whole[W_STATUS] != 0) rc = -1;
    if (rc == 0 && ctx->rank == 0) print_table(ctx, su, all, whole);
    if (rc == 0 && ctx->json) json_memory(ctx->json, ctx, su, all, whole);
    free(all);
    return rc;
}
