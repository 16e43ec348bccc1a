/* pipa-bench_allreduce.c: all-reduce (sum of f32 arrays) over every rank of the run, for each
 * algorithm of allreduce.c (direct, ring, and AUTO's choice), sizes doubling, beside a copy-rate
 * bound measured in the same run (in the manner of nccl-tests' all_reduce_perf and OSU's
 * osu_allreduce).
 *
 *   time      one call, timed on every rank from the barrier before it; an iteration's time is
 *             the slowest rank's; the median over iterations (warm-up discarded).
 *   algbw     bytes / time (bytes = the array's size).
 *   busbw     algbw * 2(n-1)/n, nccl-tests' convention for all-reduce: the bytes each rank must
 *             send (and receive) at least, so figures compare across world sizes.
 *   memcpy    single-thread memcpy of the same size on rank 0, while the others wait at a
 *             barrier: median over samples.
 *   bound     the busbw that copy rate allows: through shared memory every byte a rank sends is
 *             copied twice by the ranks' own threads (into the receiver's ring, out of it), so a
 *             rank moving busbw bytes copies twice that: bound = memcpy / 2, times cores / n when
 *             n ranks share fewer cores (oversubscribed, each rank gets a share of a core). The
 *             adds of the reduction are left out of the bound, so it is generous.
 *   mpi       under mpirun (pipa over MPI), MPI_Allreduce (MPI_SUM, MPI_FLOAT, in place) on the
 *             same array, timed the same way in the same run (pipa-bench_mpi.c), as a row of
 *             its own; x_mpi = pipa's time / MPI's, and whether AUTO stays within 20% of it
 *             (x_mpi <= 1.2) at 1 MiB and above.
 * The arrays hold zeros: the sum stays zero, call after call, and the work does not depend on the
 * values (no overflow, no denormals); refilling between calls would warm the caches.
 * Left out: other dtypes, in-place vs out-of-place, sub-groups. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench.h"

#define MiB (1024 * 1024)

typedef struct {
    size_t min_bytes, max_bytes;
    int iters, warmup;
    int algos[3], nalgos;   /* pipa_allreduce_algo_t, in the order printed */
} ar_opts_t;

static void ar_usage(FILE *f)
{
    fprintf(f,
            "usage: pipa-run -n N pipa-bench allreduce [OPTIONS]   (any N >= 1)\n"
            "  --min-bytes N   smallest array (default 4 = one float; rounded down to floats)\n"
            "  --max-bytes N   largest array (default 67108864 = 64 MiB); sizes double\n"
            "  --iters N       timed calls at sizes up to 64 KiB (default 200); larger sizes get\n"
            "                  proportionally fewer, at least 5\n"
            "  --warmup N      untimed calls first, per size and algorithm (default 3)\n"
            "  --algo LIST     of direct, ring, auto (default direct,ring,auto)\n"
            "  --json FILE     one JSON object per row: bytes, algo, chosen, time_us, algbw_gbs,\n"
            "                  busbw_gbs, memcpy_gbs, bound_busbw_gbs, iters\n"
            "AUTO picks direct up to %zu bytes, ring above (PIPA_ALLREDUCE_RING_MIN_BYTES).\n"
            "Under mpirun (transport mpi) it also times MPI_Allreduce at each size (rows \"mpi\";\n"
            "x_mpi = pipa's time / MPI's) and judges pipa's 20%% target at 1 MiB and above.\n",
            (size_t)PIPA_ALLREDUCE_RING_MIN_BYTES);
}

/* "direct,ring,auto" into o->algos. 0 ok, -1 on an unknown name. */
static int parse_algos(const char *text, ar_opts_t *o)
{
    o->nalgos = 0;
    char buf[64];
    snprintf(buf, sizeof buf, "%s", text);
    for (char *save = NULL, *w = strtok_r(buf, ",", &save); w; w = strtok_r(NULL, ",", &save)) {
        int a = -1;
        for (int k = PIPA_ALLREDUCE_AUTO; k <= PIPA_ALLREDUCE_RING; k++)
            if (strcmp(w, pipa_allreduce_algo_name((pipa_allreduce_algo_t)k)) == 0) a = k;
        if (a < 0 || o->nalgos == 3) return -1;
        o->algos[o->nalgos++] = a;
    }
    return o->nalgos ? 0 : -1;
}

static int parse_ar(bench_ctx_t *ctx, int argc, char **argv, ar_opts_t *o, int *help)
{
    int bad = 0, minb = 4, maxb = 64 * MiB;
    const char *json = NULL, *algos = "direct,ring,auto";
    o->iters = 200;
    o->warmup = 3;
    for (int i = 1; i < argc && !bad && !*help; i++) {
        if (bench_opt_common(ctx, argv, argc, &i, &json, help, &bad)) continue;
        if (bench_opt_int(argv, argc, &i, "--min-bytes", &minb, &bad)) continue;
        if (bench_opt_int(argv, argc, &i, "--max-bytes", &maxb, &bad)) continue;
        if (bench_opt_int(argv, argc, &i, "--iters", &o->iters, &bad)) continue;
        if (bench_opt_int(argv, argc, &i, "--warmup", &o->warmup, &bad)) continue;
        if (bench_opt_str(argv, argc, &i, "--algo", &algos, &bad)) continue;
        fprintf(stderr, "pipa-bench allreduce: unknown option '%s'\n", argv[i]);
        bad = 1;
    }
    if (!bad && parse_algos(algos, o) != 0) {
        fprintf(stderr, "pipa-bench allreduce: --algo takes up to three of direct, ring, auto, "
                        "not '%s'\n", algos);
        bad = 1;
    }
    if (!bad && (minb < 4 || maxb < minb || o->iters < 1)) {
        fprintf(stderr, "pipa-bench allreduce: need 4 <= min-bytes <= max-bytes, iters >= 1\n");
        bad = 1;
    }
    o->min_bytes = (size_t)minb / 4 * 4;
    o->max_bytes = (size_t)maxb;
    if (bad || *help) return bad;
    return bench_json_open(ctx, json) != 0;
}

static int iters_for(const ar_opts_t *o, size_t bytes)
{
    int it = o->iters;
    if (bytes > 64 * 1024) it = (int)((double)o->iters * 65536.0 / (double)bytes);
    return it < 5 ? 5 : it;
}

/* On rank 0 *us: the median over calls of the slowest rank's time. t: this rank's times of
 * `iters` calls, all: room for every rank's (rank 0). */
static pipa_status slowest_median(bench_ctx_t *ctx, int iters, double *t, double *all, double *us)
{
    PIPA_TRY(pipa_gather(&ctx->world, 0, t, sizeof(double) * (size_t)iters, all));
    if (ctx->rank != 0) return PIPA_OK;
    for (int it = 0; it < iters; it++) /* slowest rank per call, into t */
        for (int r = 0; r < ctx->size; r++)
            if (all[(size_t)r * (size_t)iters + (size_t)it] > t[it] || r == 0)
                t[it] = all[(size_t)r * (size_t)iters + (size_t)it];
    *us = bench_median(t, iters);
    return PIPA_OK;
}

/* Times `iters` calls of algorithm a after `warmup`; *us as slowest_median's. */
static pipa_status time_algo(bench_ctx_t *ctx, pipa_allreduce_algo_t a, float *buf, size_t n,
                             int warmup, int iters, double *t, double *all, double *us)
{
    for (int it = 0; it < warmup + iters; it++) {
        PIPA_TRY(pipa_barrier(&ctx->world));
        double t0 = pipa_now();
        PIPA_TRY(pipa_allreduce_sum(&ctx->world, a, PIPA_F32, buf, n));
        if (it >= warmup) t[it - warmup] = (pipa_now() - t0) * 1e6;
    }
    return slowest_median(ctx, iters, t, all, us);
}

/* MPI_Allreduce beside pipa's (under mpirun): AUTO's worst time / MPI's at 1 MiB and above. */
typedef struct {
    int on;
    double worst;        /* 0 until a size >= 1 MiB is measured with AUTO */
    size_t worst_bytes;
} ar_peer_t;

typedef struct {
    float *buf;
    char *copy_src, *copy_dst;   /* rank 0 */
    double *t, *all;
    double share;                /* cores / ranks, at most 1 */
} ar_bufs_t;

/* One row: algorithm a, or MPI_Allreduce where a < 0 ("mpi"); mpi_us > 0: MPI's time at this
 * size, for the x_mpi column (pipa's rows under mpirun). */
static void print_row(const bench_ctx_t *ctx, size_t bytes, int a, double us, double mc,
                      double share, int iters, double mpi_us)
{
    int n = ctx->size;
    double algbw = (double)bytes / (us * 1e-6) * 1e-9, busbw = algbw * 2.0 * (n - 1) / n;
    double bound = mc / 2.0 * share;
    const char *algo = a < 0 ? "mpi" : pipa_allreduce_algo_name((pipa_allreduce_algo_t)a);
    const char *chosen = a == PIPA_ALLREDUCE_AUTO ?
        pipa_allreduce_algo_name(pipa_allreduce_pick(bytes)) : algo;
    char name[32];
    snprintf(name, sizeof name, "%s%s%s", algo, a == PIPA_ALLREDUCE_AUTO ? ":" : "",
             a == PIPA_ALLREDUCE_AUTO ? chosen : "");
    printf("%12zu %-12s %12.2f %11.3f %11.3f %12.3f %11.3f %9.3f %6d", bytes, name, us, algbw,
           busbw, mc, bound, n > 1 ? busbw / bound : 0.0, iters);
    if (mpi_us > 0) printf(" %8.3f", us / mpi_us);
    printf("\n");
    fflush(stdout);
    if (!ctx->json) return;
    pipa_json_t j;
    bench_json_begin(ctx, &j);
    pipa_json_num_short(&j, "bytes", (double)bytes);
    pipa_json_num_short(&j, "ranks", n);
    pipa_json_str(&j, "algo", algo);
    pipa_json_str(&j, "chosen", chosen);
    pipa_json_num_short(&j, "time_us", us);
    pipa_json_num_short(&j, "algbw_gbs", algbw);
    pipa_json_num_short(&j, "busbw_gbs", busbw);
    pipa_json_num_short(&j, "memcpy_gbs", mc);
    pipa_json_num_short(&j, "bound_busbw_gbs", bound);
    pipa_json_num_short(&j, "iters", iters);
    if (mpi_us > 0) pipa_json_num_short(&j, "x_mpi", us / mpi_us);
    bench_json_end(ctx, &j);
}

/* One size: the copy rate on rank 0 (the others wait), MPI_Allreduce under mpirun, then each
 * algorithm. */
static pipa_status ar_one(bench_ctx_t *ctx, const ar_opts_t *o, ar_bufs_t *b, ar_peer_t *pe,
                          size_t bytes)
{
    double mc = 0, mpi_us = 0;
    if (ctx->rank == 0) mc = bench_memcpy_rate(b->copy_dst, b->copy_src, bytes, 21);
    PIPA_TRY(pipa_barrier(&ctx->world));
    int iters = iters_for(o, bytes);
    if (pe->on) {
        bench_mpi_allreduce(b->buf, bytes / 4, o->warmup, iters, b->t);
        PIPA_TRY(slowest_median(ctx, iters, b->t, b->all, &mpi_us));
        if (ctx->rank == 0) print_row(ctx, bytes, -1, mpi_us, mc, b->share, iters, 0);
    }
    for (int k = 0; k < o->nalgos; k++) {
        double us = 0;
        pipa_allreduce_algo_t a = (pipa_allreduce_algo_t)o->algos[k];
        PIPA_TRY(time_algo(ctx, a, b->buf, bytes / 4, o->warmup, iters, b->t, b->all, &us));
        if (ctx->rank != 0) continue;
        print_row(ctx, bytes, (int)a, us, mc, b->share, iters, mpi_us);
        if (pe->on && a == PIPA_ALLREDUCE_AUTO && bytes >= MiB && us / mpi_us > pe->worst)
            pe->worst = us / mpi_us, pe->worst_bytes = bytes;
    }
    return PIPA_OK;
}

static int alloc_bufs(const bench_ctx_t *ctx, const ar_opts_t *o, ar_bufs_t *b)
{
    memset(b, 0, sizeof *b);
    size_t it = (size_t)iters_for(o, o->min_bytes);
    b->buf = calloc(o->max_bytes / 4 + 1, sizeof(float));
    b->t = calloc(it, sizeof(double));
    b->all = calloc(it * (size_t)ctx->size, sizeof(double));
    if (ctx->rank == 0) {
        b->copy_src = calloc(o->max_bytes, 1);
        b->copy_dst = calloc(o->max_bytes, 1);
        if (!b->copy_src || !b->copy_dst) return -1;
    }
    /* the machine's cores, not this rank's affinity: pipa-run --bind pins each rank to one */
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    if (cores < 1) cores = 1;
    b->share = cores >= ctx->size ? 1.0 : (double)cores / ctx->size;
    return b->buf && b->t && b->all ? 0 : -1;
}

static void free_bufs(ar_bufs_t *b)
{
    free(b->buf);
    free(b->t);
    free(b->all);
    free(b->copy_src);
    free(b->copy_dst);
}

static void print_legend(const bench_ctx_t *ctx, const ar_bufs_t *b, int mpi)
{
    if (ctx->rank != 0) return;
    printf("# sum of f32 arrays over all %d ranks; time: slowest rank from a barrier, median; "
           "GB/s = 1e9 B/s\n", ctx->size);
    printf("# busbw = algbw * 2(n-1)/n (nccl-tests); bound = memcpy / 2 (two copies per byte "
           "sent through shm)%s\n", b->share < 1 ? " * cores / ranks" : "");
    printf("# auto: direct up to %zu bytes, ring above\n", (size_t)PIPA_ALLREDUCE_RING_MIN_BYTES);
    if (b->share < 1)
        printf("# OVERSUBSCRIBED: %d ranks share %.0f core(s): timings include waiting for a "
               "core\n", ctx->size, b->share * ctx->size);
    if (mpi)
        printf("# mpi: MPI_Allreduce (MPI_SUM, MPI_FLOAT, in place), same sizes, same run, timed "
               "the same way; x_mpi = time / MPI's\n");
    printf("# %10s %-12s %12s %11s %11s %12s %11s %9s %6s%s\n", "bytes", "algo", "time_us",
           "algbw_GB/s", "busbw_GB/s", "memcpy_GB/s", "bound_GB/s", "of_bound", "iters",
           mpi ? "    x_mpi" : "");
}

int bench_allreduce(bench_ctx_t *ctx, int argc, char **argv)
{
    ar_opts_t o;
    int help = 0;
    if (parse_ar(ctx, argc, argv, &o, &help)) return 2;
    if (help) {
        if (ctx->rank == 0) ar_usage(stdout);
        return 0;
    }
    ar_bufs_t b;
    if (alloc_bufs(ctx, &o, &b)) {
        free_bufs(&b);
        fprintf(stderr, "pipa-bench allreduce: out of memory for %zu-byte buffers\n",
                o.max_bytes);
        return 1;
    }
    bench_print_header(ctx, "all-reduce (sum, f32) over all ranks: direct vs ring vs memcpy");
    ar_peer_t peer = {.on = bench_mpi_ready()};
    print_legend(ctx, &b, peer.on);
    pipa_status st = PIPA_OK;
    for (size_t bytes = o.min_bytes; st == PIPA_OK && bytes <= o.max_bytes; bytes *= 2)
        st = ar_one(ctx, &o, &b, &peer, bytes);
    free_bufs(&b);
    if (st == PIPA_OK && ctx->rank == 0 && peer.worst > 0)
        printf("# target: pipa's all-reduce (auto) within 20%% of MPI_Allreduce at 1 MiB and "
               "above: %s (worst: %.2fx at %zu B)\n", peer.worst <= 1.2 ? "met" : "NOT met",
               peer.worst, peer.worst_bytes);
    if (st != PIPA_OK) {
        fprintf(stderr, "pipa-bench allreduce: rank %d: %s\n", ctx->rank, pipa_last_error());
        return 1;
    }
    return 0;
}
