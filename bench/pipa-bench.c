/* pipa-bench: pipa's benchmarks (see BENCHMARKS.md).
 *
 *   pipa-run -n 2 pipa-bench p2p       one-way latency and bandwidth between two ranks vs memcpy
 *   pipa-run -n 2 pipa-bench pipeline  forward tokens/s at P = 1 and 2 vs the ideal speedup
 *   pipa-bench layer                   one layer's forward GFLOP/s vs sgemm on the same shapes
 *   pipa-run -n 2 pipa-bench train     training step tokens/s per schedule at P = 1, 2 vs ideal
 *   pipa-run -n N pipa-bench allreduce all-reduce time and bus bandwidth, ring vs direct vs memcpy
 *   pipa-bench optim                   optimizer step's memory rate vs memcpy of the same bytes
 *
 * This file joins the run and dispatches; each subcommand lives in pipa-bench_<name>.c and the
 * shared header, options and JSON output in pipa-bench_util.c. Every subcommand takes --help and
 * --json FILE. Left out: P > 2. */
#include <stdio.h>
#include <string.h>

#include "bench.h"
#include "base/cli.h"
#include "model/blas.h"

static void usage(FILE *f)
{
    fprintf(f,
            "usage: pipa-bench SUBCOMMAND [OPTIONS]   (SUBCOMMAND --help for its options)\n"
            "  p2p       latency and bandwidth between ranks 0 and 1 (needs pipa-run -n 2)\n"
            "  pipeline  pipelined forward tokens/s at P = 1, 2 vs ideal (needs pipa-run -n 2)\n"
            "  layer     one layer's forward FLOP rate vs sgemm on the same shapes (alias: gemm)\n"
            "  train     training step tokens/s per schedule at P = 1, 2 vs ideal (pipa-run -n 2)\n"
            "  allreduce all-reduce latency and bus bandwidth, ring vs direct, vs memcpy (any -n)\n"
            "  optim     optimizer step (AdamW, SGD) GB/s vs memcpy moving the same bytes\n"
            "Common options: --json FILE (one JSON object per row), --help,\n"
            "  --force-cpu (accepted; pipa runs on the CPU in this build: it changes nothing)\n");
}

typedef int (*bench_fn)(bench_ctx_t *, int, char **);

static bench_fn find_bench(const char *name)
{
    if (strcmp(name, "p2p") == 0) return bench_p2p;
    if (strcmp(name, "pipeline") == 0) return bench_pipeline;
    if (strcmp(name, "layer") == 0 || strcmp(name, "gemm") == 0) return bench_layer;
    if (strcmp(name, "train") == 0) return bench_train;
    if (strcmp(name, "allreduce") == 0) return bench_allreduce;
    if (strcmp(name, "optim") == 0) return bench_optim;
    return NULL;
}

int main(int argc, char **argv)
{
    pipa_blas_choose_core(argv);  // before anything runs: may re-execute
    pipa_cli_check_stdout_at_exit("pipa-bench");
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    bench_fn fn = find_bench(argv[1]);
    if (!fn) {
        fprintf(stderr, "pipa-bench: unknown subcommand '%s'\n", argv[1]);
        usage(stderr);
        return 2;
    }
    bench_ctx_t ctx;
    memset(&ctx, 0, sizeof ctx);
    ctx.argc = argc;
    ctx.argv = argv;
    ctx.bench = strcmp(argv[1], "gemm") == 0 ? "layer" : argv[1];
    pipa_status s = pipa_comm_init(&ctx.comm);
    if (s != PIPA_OK) {
        fprintf(stderr, "pipa-bench: %s\n", pipa_last_error());
        return 1;
    }
    ctx.rank = pipa_comm_rank(ctx.comm);
    ctx.size = pipa_comm_size(ctx.comm);
    pipa_group_world(&ctx.world, ctx.comm);
    pipa_log_set_identity(ctx.rank, ctx.size, -1);
    pipa_blas_init(0);
    int rc = fn(&ctx, argc - 1, argv + 1);
    if (ctx.json) fclose(ctx.json);
    pipa_comm_free(ctx.comm);
    return rc;
}
