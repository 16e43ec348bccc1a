/* pipa-bench_p2p.c: one-way latency and bandwidth between ranks 0 and 1, beside single-thread
 * memcpy of the same sizes measured by rank 0 in the same run (OSU's osu_latency + osu_bw).
 *
 *   latency    ping-pong of one message each way; half the round trip, median over round trips
 *              (each timed alone on rank 0). The receiver is already waiting in pipa_recv.
 *   bandwidth  a window of W back-to-back isends, then an 8-byte ack from the receiver; bytes of
 *              the window / time from the first isend to the ack; median over windows.
 *   memcpy     memcpy(dst, src, bytes) on rank 0 while rank 1 waits at a barrier; bytes / time,
 *              median over samples (small sizes time a block of copies per sample).
 *   mpi        under mpirun (pipa over MPI), MPI's own ping-pong and windows of the same sizes,
 *              measured the same way in the same run (pipa-bench_mpi.c), and whether pipa stays
 *              within 10% of them (latency at most 1.1 x, bandwidth at least MPI's / 1.1).
 * GB/s are 10^9 bytes per second, bytes moved once (not read + write).
 * --validate fills every message with a pattern of (size, message), poisons the receive buffer
 * first and checks every byte on arrival; the timings then include that work.
 * Left out: bidirectional bandwidth, many pairs at once, non-contiguous buffers. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"

#define MiB (1024 * 1024)
#define MAX_WINDOW 64

typedef struct {
    size_t min_bytes, max_bytes;
    int reps;        /* round trips (windows: reps / 10) at small sizes; fewer for big ones */
    int window;      /* isends per window at small sizes */
    int validate;
} p2p_opts_t;

typedef struct {
    size_t bytes;
    int iters, warmup, window;
    uint64_t tag_base;
} p2p_size_t;

/* pipa over MPI against MPI's own, over the sizes: the worst ratios (pipa / MPI) so far. */
typedef struct {
    int on;                 /* MPI started this run: measure MPI's own too */
    double worst_lat, worst_bw;
    size_t worst_lat_bytes, worst_bw_bytes;
} p2p_peer_t;

static void p2p_usage(FILE *f)
{
    fprintf(f,
            "usage: pipa-run -n 2 pipa-bench p2p [OPTIONS]\n"
            "  --min-bytes N   smallest message (default 8)\n"
            "  --max-bytes N   largest message (default 67108864 = 64 MiB); sizes double\n"
            "  --reps N        timed round trips at small sizes (default 1000); sizes above\n"
            "                  64 KiB get proportionally fewer, at least 10\n"
            "  --window N      back-to-back isends per bandwidth window (default 16, at most %d;\n"
            "                  windows are capped at 128 MiB of buffers)\n"
            "  --validate      check every received byte (timings then include the checks)\n"
            "  --json FILE     one JSON object per row: bytes, latency_us, bandwidth_gbs, memcpy_gbs\n",
            MAX_WINDOW);
}

/* ---- message contents for --validate ------------------------------------------------------- */

static uint8_t pattern(size_t i, uint64_t salt)
{
    return (uint8_t)(((i + 1) * 2654435761u + salt * 40503u) >> 11);
}

static void fill(uint8_t *b, size_t n, uint64_t salt)
{
    for (size_t i = 0; i < n; i++) b[i] = pattern(i, salt);
}

static int64_t count_bad(const uint8_t *b, size_t n, uint64_t salt)
{
    int64_t bad = 0;
    for (size_t i = 0; i < n; i++) bad += b[i] != pattern(i, salt);
    return bad;
}

/* ---- one size ------------------------------------------------------------------------------ */

static p2p_size_t plan_size(const p2p_opts_t *o, size_t bytes, int index)
{
    p2p_size_t s;
    s.bytes = bytes;
    s.iters = o->reps;
    if (bytes > 64 * 1024) s.iters = (int)((double)o->reps * 65536.0 / (double)bytes);
    if (s.iters < 10) s.iters = 10;
    s.warmup = s.iters / 10 < 2 ? 2 : s.iters / 10;
    size_t cap = (size_t)128 * MiB / bytes;
    s.window = o->window;
    if ((size_t)s.window > cap) s.window = cap < 2 ? 2 : (int)cap;
    s.tag_base = (uint64_t)index << 26;
    return s;
}

/* Ping-pong between ranks 0 and 1; on rank 0 fills us[] with half round trips (microseconds). */
static pipa_status run_latency(bench_ctx_t *ctx, const p2p_size_t *s, int validate, uint8_t *buf,
                               double *us, int64_t *bad)
{
    pipa_desc_t d = pipa_desc_1d(PIPA_U8, (int64_t)s->bytes);
    PIPA_TRY(pipa_barrier(&ctx->world));
    for (int it = 0; it < s->warmup + s->iters; it++) {
        uint64_t ping = s->tag_base | (uint64_t)(2 * it), pong = ping + 1;
        if (ctx->rank == 0) {
            if (validate) fill(buf, s->bytes, ping);
            double t0 = pipa_now();
            PIPA_TRY(pipa_send(ctx->comm, 1, ping, &d, buf));
            if (validate) memset(buf, 0xEE, s->bytes);
            PIPA_TRY(pipa_recv(ctx->comm, 1, pong, &d, buf));
            double t = pipa_now() - t0;
            if (it >= s->warmup) us[it - s->warmup] = t * 0.5e6;
            if (validate) *bad += count_bad(buf, s->bytes, pong);
        } else {
            if (validate) memset(buf, 0xEE, s->bytes);
            PIPA_TRY(pipa_recv(ctx->comm, 0, ping, &d, buf));
            if (validate) *bad += count_bad(buf, s->bytes, ping);
            if (validate) fill(buf, s->bytes, pong);
            PIPA_TRY(pipa_send(ctx->comm, 0, pong, &d, buf));
        }
    }
    return PIPA_OK;
}

/* Rank 0's half of a bandwidth window: W isends, wait for them, wait for the ack. */
static pipa_status window_send(bench_ctx_t *ctx, const p2p_size_t *s, uint64_t tag, uint8_t *buf,
                               pipa_req_t *req)
{
    pipa_desc_t d = pipa_desc_1d(PIPA_U8, (int64_t)s->bytes), ack = pipa_desc_1d(PIPA_U8, 8);
    uint8_t ackbuf[8];
    for (int w = 0; w < s->window; w++)
        PIPA_TRY(pipa_isend(ctx->comm, 1, tag + (uint64_t)w, &d, buf, &req[w]));
    for (int w = 0; w < s->window; w++) PIPA_TRY(pipa_wait(ctx->comm, &req[w]));
    return pipa_recv(ctx->comm, 1, tag + (uint64_t)s->window, &ack, ackbuf);
}

/* Rank 1's half: W receives into W buffers, then the ack. */
static pipa_status window_recv(bench_ctx_t *ctx, const p2p_size_t *s, uint64_t tag, uint8_t **rb,
                               pipa_req_t *req, int validate, int64_t *bad)
{
    pipa_desc_t d = pipa_desc_1d(PIPA_U8, (int64_t)s->bytes), ack = pipa_desc_1d(PIPA_U8, 8);
    uint8_t ackbuf[8] = {0};
    for (int w = 0; w < s->window; w++) {
        if (validate) memset(rb[w], 0xEE, s->bytes);
        PIPA_TRY(pipa_irecv(ctx->comm, 0, tag + (uint64_t)w, &d, rb[w], &req[w]));
    }
    for (int w = 0; w < s->window; w++) PIPA_TRY(pipa_wait(ctx->comm, &req[w]));
    if (validate)
        for (int w = 0; w < s->window; w++) *bad += count_bad(rb[w], s->bytes, tag);
    return pipa_send(ctx->comm, 0, tag + (uint64_t)s->window, &ack, ackbuf);
}

/* Streams windows from rank 0 to rank 1; on rank 0 fills gbs[] (one rate per timed window).
 * rb: rank 1's W receive buffers. All messages of a window carry the window's pattern. */
static pipa_status run_bandwidth(bench_ctx_t *ctx, const p2p_size_t *s, int n_windows, int warm,
                                 int validate, uint8_t *buf, uint8_t **rb, double *gbs,
                                 int64_t *bad)
{
    pipa_req_t req[MAX_WINDOW];
    PIPA_TRY(pipa_barrier(&ctx->world));
    for (int it = 0; it < warm + n_windows; it++) {
        uint64_t tag = s->tag_base | ((uint64_t)1 << 25) | (uint64_t)it * (MAX_WINDOW + 1);
        if (ctx->rank == 1) {
            PIPA_TRY(window_recv(ctx, s, tag, rb, req, validate, bad));
            continue;
        }
        if (validate) fill(buf, s->bytes, tag);
        double t0 = pipa_now();
        PIPA_TRY(window_send(ctx, s, tag, buf, req));
        double t = pipa_now() - t0;
        if (it >= warm) gbs[it - warm] = (double)s->bytes * s->window / t * 1e-9;
    }
    return PIPA_OK;
}

/* ---- the benchmark ------------------------------------------------------------------------- */

static int parse_p2p(bench_ctx_t *ctx, int argc, char **argv, p2p_opts_t *o, int *help)
{
    int bad = 0, minb = 8, maxb = 64 * MiB;
    const char *json = NULL;
    o->reps = 1000;
    o->window = 16;
    o->validate = 0;
    for (int i = 1; i < argc && !bad && !*help; i++) {
        if (bench_opt_common(ctx, argv, argc, &i, &json, help, &bad)) continue;
        if (bench_opt_int(argv, argc, &i, "--min-bytes", &minb, &bad)) continue;
        if (bench_opt_int(argv, argc, &i, "--max-bytes", &maxb, &bad)) continue;
        if (bench_opt_int(argv, argc, &i, "--reps", &o->reps, &bad)) continue;
        if (bench_opt_int(argv, argc, &i, "--window", &o->window, &bad)) continue;
        if (strcmp(argv[i], "--validate") == 0) {
            o->validate = 1;
            continue;
        }
        fprintf(stderr, "pipa-bench p2p: unknown option '%s'\n", argv[i]);
        bad = 1;
    }
    if (!bad && (minb < 1 || maxb < minb || o->reps < 1 || o->window < 1 ||
                 o->window > MAX_WINDOW)) {
        fprintf(stderr, "pipa-bench p2p: need 1 <= min-bytes <= max-bytes, reps >= 1, "
                        "1 <= window <= %d\n", MAX_WINDOW);
        bad = 1;
    }
    o->min_bytes = (size_t)minb;
    o->max_bytes = (size_t)maxb;
    if (bad || *help) return bad;
    return bench_json_open(ctx, json) != 0;
}

/* MPI's own latency and bandwidth for size s (pipa-bench_mpi.c); rank 0 prints them at the end
 * of its row and keeps the worst ratios. */
static void p2p_peer_row(bench_ctx_t *ctx, p2p_peer_t *pe, const p2p_size_t *s, int n_windows,
                         uint8_t *buf, uint8_t **rb, double *v, double lat, double bw)
{
    double mlat = bench_mpi_latency(ctx->rank, s->bytes, s->warmup, s->iters, buf, v);
    double mbw = bench_mpi_bandwidth(ctx->rank, s->bytes, 2, n_windows, s->window, buf, rb, v);
    if (ctx->rank != 0) return;
    double rl = lat / mlat, rbw = mbw / bw; /* > 1: pipa slower */
    if (rl > pe->worst_lat) pe->worst_lat = rl, pe->worst_lat_bytes = s->bytes;
    if (rbw > pe->worst_bw) pe->worst_bw = rbw, pe->worst_bw_bytes = s->bytes;
    printf(" %12.2f %14.3f %8.3f %8.3f", mlat, mbw, lat / mlat, bw / mbw);
    bench_json_row(ctx, "mpi", "bytes", (double)s->bytes, "mpi_latency_us", mlat,
                   "mpi_bandwidth_gbs", mbw, (const char *)NULL);
}

/* Measures one size and, on rank 0, prints its row. Returns the bytes found wrong (validate). */
static pipa_status p2p_one(bench_ctx_t *ctx, const p2p_opts_t *o, const p2p_size_t *s,
                           uint8_t *buf, uint8_t **rb, uint8_t *copy, int64_t *bad, p2p_peer_t *pe)
{
    int n_windows = s->iters / 10 < 10 ? 10 : s->iters / 10;
    double *v = malloc(sizeof(double) * (size_t)(s->iters + n_windows));
    if (!v) return pipa_status_set_error(PIPA_ERR_NOMEM, "out of memory for samples");
    pipa_status st = run_latency(ctx, s, o->validate, buf, v, bad);
    double lat = 0, bw = 0, mc = 0;
    if (st == PIPA_OK && ctx->rank == 0) lat = bench_median(v, s->iters);
    if (st == PIPA_OK)
        st = run_bandwidth(ctx, s, n_windows, 2, o->validate, buf, rb, v, bad);
    if (st == PIPA_OK && ctx->rank == 0) bw = bench_median(v, n_windows);
    if (st == PIPA_OK && ctx->rank == 0) mc = bench_memcpy_rate(copy, buf, s->bytes, 21);
    if (st == PIPA_OK) st = pipa_barrier(&ctx->world); /* rank 1 waits while rank 0 copies */
    if (st == PIPA_OK && ctx->rank == 0)
        printf("%12zu %12.2f %14.3f %12.3f %10.3f %8d %6d", s->bytes, lat, bw, mc, bw / mc,
               s->iters, s->window);
    if (st == PIPA_OK && pe->on) p2p_peer_row(ctx, pe, s, n_windows, buf, rb, v, lat, bw);
    free(v);
    if (st != PIPA_OK || ctx->rank != 0) return st;
    printf("\n");
    fflush(stdout);
    bench_json_row(ctx, NULL, "bytes", (double)s->bytes, "latency_us", lat, "bandwidth_gbs", bw,
                   "memcpy_gbs", mc, (const char *)NULL);
    return PIPA_OK;
}

/* Buffers: rank 0 a send buffer and a memcpy destination; rank 1 the window's receive buffers
 * (its first doubles as the ping-pong buffer). */
static int alloc_buffers(const bench_ctx_t *ctx, const p2p_opts_t *o, uint8_t **buf, uint8_t **rb,
                         uint8_t **copy)
{
    size_t n = o->max_bytes;
    p2p_size_t s = plan_size(o, n, 0);
    int w_max = o->window; /* small sizes use the full window */
    memset(rb, 0, sizeof(uint8_t *) * MAX_WINDOW);
    *copy = NULL;
    *buf = malloc(n);
    if (!*buf) return -1;
    memset(*buf, 1, n);
    if (ctx->rank == 0) {
        *copy = malloc(n);
        return *copy ? 0 : -1;
    }
    if (ctx->rank != 1) return 0;
    for (int w = 0; w < w_max; w++) {
        size_t bytes = w < s.window ? n : (size_t)128 * MiB / (size_t)(w + 1);
        if (bytes > n) bytes = n;
        rb[w] = malloc(bytes);
        if (!rb[w]) return -1;
        memset(rb[w], 0, bytes);
    }
    return 0;
}

static void free_buffers(uint8_t *buf, uint8_t **rb, uint8_t *copy)
{
    free(buf);
    free(copy);
    for (int w = 0; w < MAX_WINDOW; w++) free(rb[w]);
}

static pipa_status p2p_sizes(bench_ctx_t *ctx, const p2p_opts_t *o, uint8_t *buf, uint8_t **rb,
                             uint8_t *copy, int64_t *bad, p2p_peer_t *pe)
{
    int index = 0;
    for (size_t b = o->min_bytes; b <= o->max_bytes; b *= 2, index++) {
        p2p_size_t s = plan_size(o, b, index);
        PIPA_TRY(p2p_one(ctx, o, &s, buf, rb, copy, bad, pe));
    }
    if (pe->on && ctx->rank == 0)
        printf("# target: pipa over MPI within 10%% of MPI's own at every size: %s (worst: latency "
               "%.2fx at %zu B, bandwidth %.2fx slower at %zu B)\n",
               pe->worst_lat <= 1.1 && pe->worst_bw <= 1.1 ? "met" : "NOT met", pe->worst_lat,
               pe->worst_lat_bytes, pe->worst_bw, pe->worst_bw_bytes);
    return PIPA_OK;
}

int bench_p2p(bench_ctx_t *ctx, int argc, char **argv)
{
    p2p_opts_t o;
    int help = 0;
    if (parse_p2p(ctx, argc, argv, &o, &help)) return 2;
    if (help) {
        if (ctx->rank == 0) p2p_usage(stdout);
        return 0;
    }
    if (ctx->size != 2) { /* a third rank would wait at a barrier the pair never reaches */
        /* every rank says it: the first to exit gets the others stopped, maybe before they print */
        fprintf(stderr, "pipa-bench p2p: needs exactly two ranks, this run has %d: pipa-run -n 2 "
                        "pipa-bench p2p\n", ctx->size);
        return 2;
    }
    uint8_t *buf, *rb[MAX_WINDOW], *copy;
    if (alloc_buffers(ctx, &o, &buf, rb, &copy)) {
        fprintf(stderr, "pipa-bench p2p: out of memory for %zu-byte buffers\n", o.max_bytes);
        return 1;
    }
    p2p_peer_t peer = {.on = bench_mpi_ready()};
    bench_print_header(ctx, "one-way latency and bandwidth, rank 0 -> rank 1, vs memcpy");
    if (ctx->rank == 0) {
        printf("# latency: half ping-pong round trip, median; bandwidth: window of isends + ack, "
               "median; GB/s = 1e9 B/s\n");
        printf("# memcpy: single thread on rank 0, same sizes, median; ratio = bandwidth / memcpy%s\n",
               o.validate ? "\n# VALIDATE mode: contents checked, timings include the checks" : "");
        if (peer.on)
            printf("# mpi: MPI's own MPI_Send/MPI_Recv ping-pong and MPI_Isend windows, same sizes, "
                   "same run; lat_x = latency / MPI's, bw_x = bandwidth / MPI's\n");
        printf("# %10s %12s %14s %12s %10s %8s %6s%s\n", "bytes", "latency_us", "bandwidth_GB/s",
               "memcpy_GB/s", "ratio", "iters", "window",
               peer.on ? "   mpi_lat_us   mpi_bw_GB/s    lat_x     bw_x" : "");
    }
    int64_t bad = 0;
    pipa_status st = p2p_sizes(ctx, &o, buf, rb, copy, &bad, &peer);
    free_buffers(buf, rb, copy);
    if (st != PIPA_OK) {
        fprintf(stderr, "pipa-bench p2p: rank %d: %s\n", ctx->rank, pipa_last_error());
        return 1;
    }
    if (o.validate) {
        double total = (double)bad;
        if (pipa_allreduce_sum_f64(&ctx->world, &total, 1) != PIPA_OK) return 1;
        if (ctx->rank == 0) printf("# validate: %.0f bytes wrong over all ranks\n", total);
        if (total != 0) return 1;
    }
    return 0;
}
