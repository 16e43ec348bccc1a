/* pipa-bench_util.c: what every pipa-bench subcommand shares: option helpers, the `#` header
 * (machine, date, build, BLAS, command), medians and JSON rows. See bench.h.
 *
 * The build flags cannot be read back from the Makefile, so the header reports what the compiler
 * reveals at compile time: its version, optimisation on or off, the instruction set baseline,
 * sanitizers, the BLAS chosen. The Makefile's defaults are -std=c11 -O2 -g. */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <sched.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"
#include "runtime/runtime.h"
#include "base/cli.h"
#include "base/json.h"
#include "model/blas.h"
#include "runtime/grid.h"

#if defined(PIPA_BLAS_BLIS)
#include <blis.h>
#endif

/* ---- options ----------------------------------------------------------------------------- */

/* pipa_cli_take (cli.h); a missing value is said on stderr, sets *bad and leaves *val NULL. */
static int match_opt(char **argv, int argc, int *i, const char *name, const char **val, int *bad)
{
    int r = pipa_cli_take(argc, argv, i, name, val);
    if (r >= 0) return r;
    fprintf(stderr, "pipa-bench: %s needs a value\n", name);
    *bad = 1;
    *val = NULL;
    return 1;
}

int bench_opt_str(char **argv, int argc, int *i, const char *name, const char **out, int *bad)
{
    const char *v;
    if (!match_opt(argv, argc, i, name, &v, bad)) return 0;
    if (v) *out = v;
    return 1;
}

int bench_opt_int(char **argv, int argc, int *i, const char *name, int *out, int *bad)
{
    const char *v;
    if (!match_opt(argv, argc, i, name, &v, bad)) return 0;
    if (!v) return 1;
    if (pipa_cli_int(name, v, 0, 1 << 30, out) != PIPA_OK) {
        fprintf(stderr, "pipa-bench: %s\n", pipa_last_error());
        *bad = 1;
    }
    return 1;
}

int bench_parse_list(const char *text, int *list, int cap)
{
    int n = 0;
    const char *p = text;
    while (*p) {
        char *end;
        long x = strtol(p, &end, 10);
        if (!isdigit((unsigned char)*p) || end == p || x < 1 || x > 1 << 20 || n == cap) return 0;
        list[n++] = (int)x;
        p = end;
        if (*p == ',') p++;
        else if (*p != '\0') return 0;
    }
    return n;
}

int bench_opt_layout(char **argv, int argc, int *i, int *dims, int *bad)
{
    static const char *const names[3] = {"--pp", "--dp", "--tp"};
    for (int k = 0; k < 3; k++)
        if (bench_opt_int(argv, argc, i, names[k], &dims[k], bad)) return 1;
    return 0;
}

void bench_print_layout(const bench_ctx_t *ctx, int dp, int tp)
{
    if (dp * tp > 1)
        printf("# layout: dp %d x pp %d x tp %d = %d ranks (pp 1: the first %d)\n", dp,
               ctx->size / (dp * tp), tp, ctx->size, dp * tp);
}

int bench_check_layout(const bench_ctx_t *ctx, const int *dims, const pipa_model_config_t *cfg,
                       int vocab, const int *m_list, int n_m, int *dp, int *tp)
{
    pipa_layout_t lay;
    pipa_status s = pipa_grid_layout(&lay, ctx->size, ctx->rank, dims[1], dims[0], dims[2]);
    if (s == PIPA_OK) s = pipa_grid_check(&lay, cfg, 1, 0);  /* the counts: --m, below */
    /* --m is the global count (pipa-train's --microbatches): every replica runs M / dp. */
    for (int i = 0; i < n_m && s == PIPA_OK; i++)
        if (m_list[i] % lay.dp)
            s = pipa_status_set_error(PIPA_ERR_ARG, "--m %d: the microbatch count (global, as "
                                      "pipa-train's --microbatches) does not divide among the "
                                      "--dp %d replicas", m_list[i], lay.dp);
    pipa_train_config_t tc = {.model = *cfg, .vocab = vocab};
    if (s == PIPA_OK) s = pipa_runtime_check_tp(&tc, lay.tp);  /* also the vocabulary */
    *dp = lay.dp, *tp = lay.tp;
    /* Every rank says it (as with any bad option here): a rank may be stopped before rank 0
     * speaks when another exits first. */
    if (s != PIPA_OK) fprintf(stderr, "pipa-bench %s: %s\n", ctx->bench, pipa_last_error());
    return s != PIPA_OK;
}

int bench_opt_common(bench_ctx_t *ctx, char **argv, int argc, int *i, const char **json_path,
                     int *help, int *bad)
{
    if (strcmp(argv[*i], "--force-cpu") == 0) {
        ctx->force_cpu = 1;
        return 1;
    }
    if (strcmp(argv[*i], "--help") == 0 || strcmp(argv[*i], "-h") == 0) {
        *help = 1;
        return 1;
    }
    return bench_opt_str(argv, argc, i, "--json", json_path, bad);
}

int bench_json_open(bench_ctx_t *ctx, const char *path)
{
    if (!path || ctx->rank != 0) return 0;
    ctx->json = fopen(path, "w");  // before any measuring: a run that cannot write does not start
    if (!ctx->json) {
        fprintf(stderr, "pipa-bench: --json %s: cannot write there: %s\n", path, strerror(errno));
        return -1;
    }
    return 0;
}

/* ---- header ------------------------------------------------------------------------------ */

/* First "model name" of /proc/cpuinfo into buf, or "unknown". */
static void cpu_model(char *buf, size_t len)
{
    snprintf(buf, len, "unknown");
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (!f) return;
    char line[512];
    while (fgets(line, sizeof line, f)) {
        if (strncmp(line, "model name", 10) != 0) continue;
        char *v = strchr(line, ':');
        if (!v) continue;
        v++;
        while (isspace((unsigned char)*v)) v++;
        v[strcspn(v, "\n")] = '\0';
        snprintf(buf, len, "%s", v);
        break;
    }
    fclose(f);
}

/* The NUL-separated /proc/PID/cmdline as one space-separated line. Returns 0 if unreadable. */
static int read_cmdline(const char *path, char *buf, size_t len)
{
    FILE *f = fopen(path, "r");
    if (!f) return 0;
    size_t n = fread(buf, 1, len - 1, f);
    fclose(f);
    if (n == 0) return 0;
    buf[n] = '\0';
    for (size_t i = 0; i + 1 < n; i++)
        if (buf[i] == '\0') buf[i] = ' ';
    return 1;
}

/* The command the user typed: the launcher's line when pipa-run is our parent, else ours. */
static void command_line(const bench_ctx_t *ctx, char *buf, size_t len)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/cmdline", (int)getppid());
    if (getenv("WORLD_SIZE") && read_cmdline(path, buf, len) && strstr(buf, "pipa-run")) return;
    size_t off = 0;
    buf[0] = '\0';
    for (int i = 0; i < ctx->argc && off < len; i++)
        off += (size_t)snprintf(buf + off, len - off, "%s%s", i ? " " : "", ctx->argv[i]);
}

static const char *isa_baseline(void)
{
#if defined(__AVX512F__)
    return "AVX-512";
#elif defined(__AVX2__)
    return "AVX2";
#elif defined(__AVX__)
    return "AVX";
#else
    return "x86-64 baseline (no -march)";
#endif
}

static void build_flags(char *buf, size_t len)
{
#if defined(__OPTIMIZE__)
    const char *opt = "optimized (-O1 or above)";
#else
    const char *opt = "-O0";
#endif
#if defined(__SANITIZE_ADDRESS__)
    const char *san = ", AddressSanitizer";
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
    const char *san = ", AddressSanitizer";
#else
    const char *san = "";
#endif
#else
    const char *san = "";
#endif
#if defined(PIPA_BLAS_BLIS)
    const char *blas = "BLAS=blis";
#else
    const char *blas = "BLAS=openblas";
#endif
#if defined(__clang__)
    const char *cc = "clang";
#else
    const char *cc = "gcc";
#endif
    snprintf(buf, len, "%s %s, C%ld, %s, %s%s, %s", cc, __VERSION__, (long)__STDC_VERSION__, opt,
             isa_baseline(), san, blas);
}

static void load_average(char *buf, size_t len)
{
    snprintf(buf, len, "unknown");
    FILE *f = fopen("/proc/loadavg", "r");
    if (!f) return;
    double a, b, c;
    if (fscanf(f, "%lf %lf %lf", &a, &b, &c) == 3) snprintf(buf, len, "%.2f %.2f %.2f", a, b, c);
    fclose(f);
}

/* Environment variables that change what the numbers mean, when set. */
static void print_env(void)
{
    static const char *names[] = {"PIPA_BLAS_THREADS", "OPENBLAS_NUM_THREADS", "OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE",
                                  "BLIS_NUM_THREADS", "BLIS_ARCH_TYPE", "OMP_NUM_THREADS",
                                  "PIPA_TIMEOUT"};
    int any = 0;
    for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
        const char *v = getenv(names[i]);
        if (!v) continue;
        printf("%s %s=%s", any ? "" : "# env:      ", names[i], v);
        any = 1;
    }
    if (any) printf("\n");
}

void bench_print_header(const bench_ctx_t *ctx, const char *title)
{
    if (ctx->rank != 0) return;
    char cpu[256], cmd[1024], flags[256], load[64], date[64];
    cpu_model(cpu, sizeof cpu);
    command_line(ctx, cmd, sizeof cmd);
    build_flags(flags, sizeof flags);
    load_average(load, sizeof load);
    time_t now = time(NULL);
    strftime(date, sizeof date, "%Y-%m-%d %H:%M:%S UTC", gmtime(&now));
    cpu_set_t set;
    int usable = sched_getaffinity(0, sizeof set, &set) == 0 ? CPU_COUNT(&set) : -1;
    printf("# pipa-bench %s: %s\n", ctx->bench, title);
    printf("# cpu:       %s, %ld cores online, %d usable by this process\n", cpu,
           sysconf(_SC_NPROCESSORS_ONLN), usable);
    printf("# load:      %s (1/5/15 min, at start)\n", load);
    printf("# date:      %s\n", date);
    printf("# build:     %s (Makefile default flags: -std=c11 -O2 -g)\n", flags);
#if defined(PIPA_BLAS_BLIS)
    /* BLIS picks its kernels at run time; "generic" means it did not recognise the CPU. */
    printf("# blas:      %s (kernels: %s), %d thread(s) per rank\n", pipa_blas_name(),
           bli_arch_string(bli_arch_query_id()), pipa_blas_threads());
#else
    printf("# blas:      %s%s, %d thread(s) per rank\n", pipa_blas_name(), pipa_blas_core_note(),
           pipa_blas_threads());
#endif
    printf("# world:     %d rank(s), transport %s\n", ctx->size,
           pipa_comm_transport_name(ctx->comm));
    if (ctx->force_cpu) printf("# device:    cpu (" PIPA_CLI_FORCE_CPU_NOTE ")\n");
    printf("# command:   %s\n", cmd);
    print_env();
    fflush(stdout);
}

/* ---- statistics -------------------------------------------------------------------------- */

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

double bench_median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

/* ---- copy rate --------------------------------------------------------------------------- */

double bench_memcpy_rate(void *dst, const void *src, size_t bytes, int samples)
{
    const size_t MiB = 1024 * 1024;
    int per = bytes >= MiB ? 1 : (int)(MiB / (bytes ? bytes : 1));
    if (per > 4096) per = 4096;
    double *v = malloc(sizeof(double) * (size_t)samples);
    if (!v) return 0.0;
    memcpy(dst, src, bytes); /* fault the pages in */
    for (int i = 0; i < samples; i++) {
        double t0 = pipa_now();
        for (int k = 0; k < per; k++) {
            memcpy(dst, src, bytes);
            __asm__ __volatile__("" : : "r"(dst) : "memory"); /* keep every copy */
        }
        v[i] = (double)bytes * per / (pipa_now() - t0) * 1e-9;
    }
    double m = bench_median(v, samples);
    free(v);
    return m;
}

/* ---- JSON -------------------------------------------------------------------------------- */

void bench_json_begin(const bench_ctx_t *ctx, pipa_json_t *j)
{
    pipa_json_init_line(j);
    pipa_json_begin_object(j, NULL);
    pipa_json_str(j, "bench", ctx->bench);
}

void bench_json_end(const bench_ctx_t *ctx, pipa_json_t *j)
{
    pipa_json_end_object(j);
    const char *text = pipa_json_text(j);
    if (text) fprintf(ctx->json, "%s\n", text);
    else fprintf(stderr, "pipa-bench: out of memory for a JSON row\n");
    fflush(ctx->json);
    pipa_json_free(j);
}

void bench_json_row(const bench_ctx_t *ctx, const char *row, ...)
{
    if (!ctx->json) return;
    pipa_json_t j;
    bench_json_begin(ctx, &j);
    if (row) pipa_json_str(&j, "row", row);
    va_list ap;
    va_start(ap, row);
    for (const char *key = va_arg(ap, const char *); key; key = va_arg(ap, const char *))
        pipa_json_num_short(&j, key, va_arg(ap, double));
    va_end(ap);
    bench_json_end(ctx, &j);
}
