/* rank_behave: a rank that misbehaves on request, for the launcher's tests (test_launcher.sh).
 *
 *   rank_behave env              print this rank's launcher environment; exit 1 if any is wrong
 *   rank_behave exit R CODE      rank R exits with CODE, the others sleep 60 s
 *   rank_behave abort R          rank R calls abort(), the others sleep 60 s
 *   rank_behave sigkill R        rank R raises SIGKILL, the others sleep 60 s
 *   rank_behave ignore-term R    rank R exits 3, the others ignore SIGTERM and sleep 60 s
 *   rank_behave sleep S          every rank sleeps S seconds, then exits 0
 *
 * With RANK_BEHAVE_PIDDIR set, every rank first writes its pid to DIR/rank.R (atomically, after
 * any signal setup), and the acting rank R waits until all ranks have written theirs, so a test
 * never races a rank that has not started yet. Uses no pipa code: it checks the launcher alone. */
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static void nap_ms(long ms)
{
    struct timespec t = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000};
    while (nanosleep(&t, &t) != 0) {}
}

static int env_int(const char *name)
{
    const char *v = getenv(name);
    return v ? atoi(v) : -1;
}

/* Writes DIR/rank.R = pid via a rename, so readers never see a partial file. */
static void write_pid(const char *dir, int rank)
{
    char tmp[4096], path[4096];
    snprintf(tmp, sizeof tmp, "%s/.rank.%d.tmp", dir, rank);
    snprintf(path, sizeof path, "%s/rank.%d", dir, rank);
    FILE *f = fopen(tmp, "w");
    if (!f || fprintf(f, "%d\n", (int)getpid()) < 0 || fclose(f) != 0 || rename(tmp, path) != 0) {
        perror("rank_behave: writing pid file");
        exit(9);
    }
}

/* Waits (up to 10 s) until every rank has written its pid file. */
static void wait_all_pids(const char *dir, int world)
{
    char path[4096];
    for (int tries = 0; tries < 1000; tries++) {
        int have = 0;
        for (int r = 0; r < world; r++) {
            snprintf(path, sizeof path, "%s/rank.%d", dir, r);
            have += access(path, F_OK) == 0;
        }
        if (have == world) return;
        nap_ms(10);
    }
    fprintf(stderr, "rank_behave: not every rank started within 10 s\n");
}

/* Prints one line with this rank's environment; returns 0 when it is consistent. */
static int print_env(void)
{
    int rank = env_int("RANK"), world = env_int("WORLD_SIZE");
    int lrank = env_int("LOCAL_RANK"), lworld = env_int("LOCAL_WORLD_SIZE");
    int fd = env_int("PIPA_SHM_FD");
    char link[256] = "none", path[64];
    int fd_ok = fd >= 0 && fcntl(fd, F_GETFD) != -1;
    snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    ssize_t n = fd_ok ? readlink(path, link, sizeof link - 1) : -1;
    if (n > 0) link[n] = '\0';
    const char *timeout = getenv("PIPA_TIMEOUT");
    printf("rank=%d world=%d local_rank=%d local_world=%d fd=%s shm=%s timeout=%s\n", rank, world,
           lrank, lworld, fd_ok ? "ok" : "bad", link, timeout ? timeout : "none");
    int ok = rank >= 0 && rank < world && lrank == rank && lworld == world && fd_ok;
    return ok ? 0 : 1;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: rank_behave env|exit R C|abort R|sigkill R|ignore-term R|sleep S\n");
        return 2;
    }
    const char *mode = argv[1];
    if (!strcmp(mode, "env")) return print_env();

    int rank = env_int("RANK"), world = env_int("WORLD_SIZE");
    int target = argc > 2 ? atoi(argv[2]) : 0;
    int acting = rank == target;
    if (!strcmp(mode, "ignore-term") && !acting) signal(SIGTERM, SIG_IGN);
    const char *dir = getenv("RANK_BEHAVE_PIDDIR");
    if (dir) write_pid(dir, rank);

    if (!strcmp(mode, "sleep")) {
        nap_ms(atol(argc > 2 ? argv[2] : "1") * 1000);
        return 0;
    }
    if (acting && dir) wait_all_pids(dir, world);
    if (acting && !strcmp(mode, "exit")) return argc > 3 ? atoi(argv[3]) : 1;
    if (acting && !strcmp(mode, "abort")) abort();
    if (acting && !strcmp(mode, "sigkill")) raise(SIGKILL);
    if (acting && !strcmp(mode, "ignore-term")) return 3;
    if (acting) {
        fprintf(stderr, "rank_behave: unknown mode '%s'\n", mode);
        return 2;
    }
    nap_ms(60 * 1000);
    return 0;
}
