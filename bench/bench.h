/* bench.h: what the parts of pipa-bench share: the run's context, option parsing helpers, the
 * header every run prints, medians, and the JSON row writer.
 *
 * Output convention (OSU style): a header of `#` lines naming the machine, date, build, BLAS and
 * command; then fixed-width columns under a `#` column line; results on stdout from rank 0 only.
 * JSON (--json FILE): one object per table row, one per line (JSON Lines), written by rank 0. */
#ifndef PIPA_BENCH_H
#define PIPA_BENCH_H

#include <stddef.h>
#include <stdio.h>

#include "comm/comm.h"
#include "base/json.h"
#include "model/model.h"

typedef struct {
    pipa_comm_t *comm;
    pipa_group_t world;
    int rank, size;
    int argc;             /* the whole command line, for the header */
    char **argv;
    FILE *json;           /* --json FILE on rank 0, else NULL */
    const char *bench;    /* subcommand name, written into every JSON row */
    int force_cpu;        /* --force-cpu given: accepted, changes nothing (cli.h) */
} bench_ctx_t;

/* ---- options ----------------------------------------------------------------------------- */
/* Each returns 1 when argv[*i] is the named option and consumes its value (advancing *i), 0 when
 * it is another option; a missing or malformed value prints a message and sets *bad. Values may
 * be given as "--name VALUE" or "--name=VALUE". */
int bench_opt_int(char **argv, int argc, int *i, const char *name, int *out, int *bad);
int bench_opt_str(char **argv, int argc, int *i, const char *name, const char **out, int *bad);
/* Parses "1,2,4,8" into list (at most cap entries, each >= 1). Returns the count, 0 on error. */
int bench_parse_list(const char *text, int *list, int cap);

/* Options every subcommand takes (--json FILE, --help, --force-cpu). Returns 1 if argv[*i] was
 * one of them. */
/* --pp, --dp, --tp into dims[0..2] (0: not given); returns as bench_opt_int. */
int bench_opt_layout(char **argv, int argc, int *i, int *dims, int *bad);
/* The layout of dims over the world, checked against the model (grid.h: heads, intermediate
 * size and layers against tp and pp; the runtime: the vocabulary, 0 without ends, against tp)
 * and against the microbatch counts m_list[0..n_m) (global: each must divide among the dp
 * replicas). *dp, *tp: the replicas and the tensor ranks per stage; the pipeline and train
 * benchmarks run pp = 1 or 2 of them. Every rank prints the reason; returns 1 bad, 0 ok. */
int bench_check_layout(const bench_ctx_t *ctx, const int *dims, const pipa_model_config_t *cfg,
                       int vocab, const int *m_list, int n_m, int *dp, int *tp);
/* The `# layout: dp x pp x tp` line of a run of the pipeline benchmarks with dp or tp > 1
 * (nothing otherwise): pp is what the world leaves, pp 1 runs on the first dp x tp ranks. */
void bench_print_layout(const bench_ctx_t *ctx, int dp, int tp);
int bench_opt_common(bench_ctx_t *ctx, char **argv, int argc, int *i, const char **json_path,
                     int *help, int *bad);
/* Opens the JSON file on rank 0 (after options were parsed). 0 ok, -1 on failure (printed). */
int bench_json_open(bench_ctx_t *ctx, const char *path);

/* ---- header ----------------------------------------------------------------------------- */
/* Prints the `#` header lines on rank 0: benchmark title, CPU model, cores, date (UTC), compiler
 * and build flags detectable at compile time, BLAS and its threads, world size, transport, and
 * the exact command line (the launcher's, when started by pipa-run). */
void bench_print_header(const bench_ctx_t *ctx, const char *title);

/* ---- statistics -------------------------------------------------------------------------- */
/* Median of v[0..n) (sorts v in place). n >= 1. */
double bench_median(double *v, int n);

/* Single-thread memcpy(dst, src, bytes) rate in GB/s (1e9 bytes copied per second), median over
 * samples; small sizes time a block of copies per sample (up to 1 MiB or 4096 copies). */
double bench_memcpy_rate(void *dst, const void *src, size_t bytes, int samples);

/* ---- JSON rows --------------------------------------------------------------------------- */
/* Writes {"bench": ..., "row": row, key: value, ...} as one line ("row" left out when row is
 * NULL). Pairs are (const char *key, double value), ended by a NULL key; pass values as double.
 * Integral values print without a fraction, non-finite ones as null. No-op without --json. */
void bench_json_row(const bench_ctx_t *ctx, const char *row, ...);
/* A row with members of other kinds: begin (a one-line pipa_json_t holding "bench"), add members
 * with json.h, end (written as one line and freed). Only with --json (ctx->json set). */
void bench_json_begin(const bench_ctx_t *ctx, pipa_json_t *j);
void bench_json_end(const bench_ctx_t *ctx, pipa_json_t *j);

/* ---- MPI's own figures (pipa-bench_mpi.c) ------------------------------------------------- */
/* 1 in a run MPI started (mpirun) of a build with MPI: the two below can run; else 0. */
int bench_mpi_ready(void);
/* Ranks 0 and 1: warmup + iters ping-pongs of `bytes` with MPI_Send/MPI_Recv from buf; rank 0
 * returns the median half round trip in microseconds (us: iters samples), the others 0. */
double bench_mpi_latency(int rank, size_t bytes, int warmup, int iters, unsigned char *buf,
                         double *us);
/* Ranks 0 and 1: warmup + windows windows of `window` MPI_Isends of `bytes` from buf into rank
 * 1's rb[0..window), each closed by an 8-byte ack; rank 0 returns the median GB/s (gbs: windows
 * samples), the others 0. window <= 64. */
double bench_mpi_bandwidth(int rank, size_t bytes, int warmup, int windows, int window,
                           unsigned char *buf, unsigned char **rb, double *gbs);
/* Every rank: warmup + iters calls of MPI_Allreduce(MPI_IN_PLACE, buf, n, MPI_FLOAT, MPI_SUM) on
 * MPI_COMM_WORLD, each timed from the MPI_Barrier before it: this rank's times, in microseconds,
 * into t[0..iters). n < 2^31. */
void bench_mpi_allreduce(float *buf, size_t n, int warmup, int iters, double *t);
/* ---- model FLOP utilisation (pipa-bench_flops.c) ----------------------------------------- */
/* This thread's CPU time in seconds: a sample the scheduler interrupts (the machine may be shared)
 * still times only the core's own work. */
double bench_thread_seconds(void);
/* The core's FMA peak in GFLOP/s, measured now by a small kernel (best of 5 samples of ~20 ms);
 * *isa (if isa) names the instructions used. */
double bench_fma_peak(const char **isa);
/* FLOPs (matrix products only; the formula and its derivation: pipa-bench_flops.c) of one layer's
 * forward over B x T tokens, of the head's, and of the whole model's (L layers and the head;
 * vocab 0: layers only). A backward is 2 x its forward, a training step 3 x. */
double bench_flops_layer_fwd(const pipa_model_config_t *cfg, int B, int T);
double bench_flops_head_fwd(const pipa_model_config_t *cfg, int vocab, int B, int T);
double bench_flops_model_fwd(const pipa_model_config_t *cfg, int vocab, int B, int T);
/* The `#` line naming the peak and the counting convention. */
void bench_print_peak(double peak, const char *isa);

/* Subcommands, each in its own part: pipa-bench_<name>.c. They return the exit status. */
int bench_p2p(bench_ctx_t *ctx, int argc, char **argv);
int bench_pipeline(bench_ctx_t *ctx, int argc, char **argv);
int bench_layer(bench_ctx_t *ctx, int argc, char **argv);
int bench_train(bench_ctx_t *ctx, int argc, char **argv);
int bench_allreduce(bench_ctx_t *ctx, int argc, char **argv);
int bench_optim(bench_ctx_t *ctx, int argc, char **argv);

#endif
