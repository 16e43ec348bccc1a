/* pipa-bench_mpi.c: the peer figure of pipa-bench p2p under mpirun: MPI's own point-to-point,
 * measured in the same run and the same way as pipa's (pipa-bench_p2p.c): a ping-pong of
 * MPI_Send/MPI_Recv (half the round trip, median) and windows of MPI_Isend closed by an 8-byte
 * ack (median). It talks on MPI_COMM_WORLD; pipa talks on its own duplicate, so neither sees
 * the other's messages.
 * Built with MPI only where the Makefile built MPI (PIPA_MPI); elsewhere, and in a run MPI did
 * not start (pipa-run), bench_mpi_ready says no and p2p prints pipa's columns alone.
 * And the peer figure of pipa-bench allreduce: MPI_Allreduce (MPI_SUM, MPI_FLOAT, in place) on
 * MPI_COMM_WORLD, each call timed from a barrier as pipa's are.
 * Left out: MPI's other collectives. */
#include <stdlib.h>

#include "bench.h"

#ifdef PIPA_MPI
#include <mpi.h>

int bench_mpi_ready(void)
{
    int started = 0, ended = 0;
    MPI_Initialized(&started);
    if (started) MPI_Finalized(&ended);
    return started && !ended;
}

double bench_mpi_latency(int rank, size_t bytes, int warmup, int iters, unsigned char *buf,
                         double *us)
{
    int n = (int)bytes;
    MPI_Barrier(MPI_COMM_WORLD);
    for (int it = 0; it < warmup + iters; it++) {
        if (rank == 0) {
            double t0 = MPI_Wtime();
            MPI_Send(buf, n, MPI_BYTE, 1, 0, MPI_COMM_WORLD);
            MPI_Recv(buf, n, MPI_BYTE, 1, 1, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
            if (it >= warmup) us[it - warmup] = (MPI_Wtime() - t0) * 0.5e6;
        } else if (rank == 1) {
            MPI_Recv(buf, n, MPI_BYTE, 0, 0, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
            MPI_Send(buf, n, MPI_BYTE, 0, 1, MPI_COMM_WORLD);
        }
    }
    return rank == 0 ? bench_median(us, iters) : 0;
}

double bench_mpi_bandwidth(int rank, size_t bytes, int warmup, int windows, int window,
                           unsigned char *buf, unsigned char **rb, double *gbs)
{
    MPI_Request req[64];
    unsigned char ack[8] = {0};
    int n = (int)bytes;
    MPI_Barrier(MPI_COMM_WORLD);
    for (int it = 0; it < warmup + windows; it++) {
        if (rank == 1) {
            for (int w = 0; w < window; w++)
                MPI_Irecv(rb[w], n, MPI_BYTE, 0, 2, MPI_COMM_WORLD, &req[w]);
            MPI_Waitall(window, req, MPI_STATUSES_IGNORE);
            MPI_Send(ack, 8, MPI_BYTE, 0, 3, MPI_COMM_WORLD);
            continue;
        }
        if (rank != 0) continue;
        double t0 = MPI_Wtime();
        for (int w = 0; w < window; w++) MPI_Isend(buf, n, MPI_BYTE, 1, 2, MPI_COMM_WORLD, &req[w]);
        MPI_Waitall(window, req, MPI_STATUSES_IGNORE);
        MPI_Recv(ack, 8, MPI_BYTE, 1, 3, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
        if (it >= warmup) gbs[it - warmup] = (double)bytes * window / (MPI_Wtime() - t0) * 1e-9;
    }
    return rank == 0 ? bench_median(gbs, windows) : 0;
}

void bench_mpi_allreduce(float *buf, size_t n, int warmup, int iters, double *t)
{
    for (int it = 0; it < warmup + iters; it++) {
        MPI_Barrier(MPI_COMM_WORLD);
        double t0 = MPI_Wtime();
        MPI_Allreduce(MPI_IN_PLACE, buf, (int)n, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
        if (it >= warmup) t[it - warmup] = (MPI_Wtime() - t0) * 1e6;
    }
}

#else

int bench_mpi_ready(void) { return 0; }

double bench_mpi_latency(int rank, size_t bytes, int warmup, int iters, unsigned char *buf,
                         double *us)
{
    (void)rank, (void)bytes, (void)warmup, (void)iters, (void)buf, (void)us;
    return 0;
}

double bench_mpi_bandwidth(int rank, size_t bytes, int warmup, int windows, int window,
                           unsigned char *buf, unsigned char **rb, double *gbs)
{
    (void)rank, (void)bytes, (void)warmup, (void)windows, (void)window, (void)buf, (void)rb;
    (void)gbs;
    return 0;
}

void bench_mpi_allreduce(float *buf, size_t n, int warmup, int iters, double *t)
{
    (void)buf, (void)n, (void)warmup, (void)iters, (void)t;
}

#endif
