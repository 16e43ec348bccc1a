/* pipa-run: the launcher (pipa's torchrun). Starts N ranks of a program on this machine, watches
 * them, and brings them all down as soon as one fails.
 *
 *   pipa-run [--nproc-per-node=N | -n N] [--timeout SECONDS] [--bind] PROGRAM [ARGS...]
 *
 * Before any rank starts, the run's transport (PIPA_TRANSPORT, default the first built) prepares
 * what the ranks will join, through launch.h: pipa-run names no transport. Each rank gets RANK,
 * WORLD_SIZE, LOCAL_RANK and LOCAL_WORLD_SIZE (torchrun's names; local = global on one machine)
 * and what the transport sets for it. pipa's settings in the environment (PIPA_TIMEOUT, PIPA_LOG,
 * PIPA_TRANSPORT, ...) are checked first: a bad one is a usage error.
 *
 * Watching: SIGCHLD, SIGINT, SIGTERM, SIGHUP, SIGQUIT and SIGTSTP are blocked and taken with
 * sigtimedwait, so there are no signal handlers and no races between a child's exit and our sleep.
 *
 * Leaving nothing running: each rank runs in its own process group, so whatever a rank starts
 * (a shell's children, say) is signalled with it. When a rank fails (non-zero exit or a signal)
 * the other groups get SIGTERM, and SIGKILL after a 2 s grace. SIGINT, SIGTERM, SIGHUP or SIGQUIT
 * sent to pipa-run is forwarded to every group, then the same teardown follows; SIGTSTP stops
 * every group with pipa-run and continues them with it. Because the ranks are not in pipa-run's
 * group, a Ctrl-C at the terminal reaches pipa-run alone, and the ranks get it through this
 * forwarding. When pipa-run ends, any process left in a rank's group is killed. When pipa-run
 * dies however it dies (SIGKILL included), each rank gets SIGKILL from the kernel
 * (PR_SET_PDEATHSIG), and a small watchdog process, in a group of its own so that signals meant
 * for pipa-run's group miss it, sees its pipe from pipa-run close and SIGKILLs every rank's group.
 *
 * Exit status: 0 when every rank exits 0; 1 when a rank failed or could not start; 128+S when
 * pipa-run itself was stopped by signal S; 2 for a usage error.
 *
 * Left out: several machines (use mpirun/srun and the mpi transport), restarts, per-rank logs;
 * ranks cannot read the terminal (they are not its foreground group). */
#include <errno.h>
#include <limits.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "base/cli.h"
#include "base/env.h"
#include "comm/launch.h"
#include "model/blas.h"  // the BLAS kernels the ranks inherit

#define MAX_RANKS 256
#define GRACE_MS 2000
#define EXIT_USAGE 2

typedef struct {
    int nproc;            /* ranks to start, 1..MAX_RANKS */
    const char *timeout;  /* passed as PIPA_TIMEOUT when set */
    int bind;             /* --bind: pin rank r to the r-th allowed CPU (round robin) */
    char **argv;          /* PROGRAM and its arguments, NULL-terminated */
} options_t;

typedef struct {
    int n;                /* ranks started */
    pid_t pid[MAX_RANKS]; /* 0 once reaped (or never started) */
    pid_t pgid[MAX_RANKS]; /* rank r's process group (= its first pid); kept after it is reaped */
    int watch_fd;         /* write end of the watchdog's pipe; closing it kills the groups */
    pid_t watchdog;       /* the watchdog process, or 0 */
    int live;             /* ranks not yet reaped */
    pipa_launch_t *run;   /* the transport's side of the run */
    int stopping;         /* teardown begun: the survivors were sent a signal */
    int killed;           /* SIGKILL already sent to the survivors */
    long long deadline;   /* monotonic ms at which survivors get SIGKILL */
    int exit_code;        /* what pipa-run will return; first cause wins */
} launcher_t;

/* ---- options ------------------------------------------------------------------------------- */

static void usage(FILE *f)
{
    fprintf(f,
            "usage: pipa-run [--nproc-per-node=N | -n N] [--timeout SECONDS] [--bind] PROGRAM [ARGS...]\n"
            "\n"
            "Starts N ranks (1..%d, default 1) of PROGRAM on this machine with RANK, WORLD_SIZE,\n"
            "LOCAL_RANK and LOCAL_WORLD_SIZE set, and what the run's transport needs to join it\n"
            "(PIPA_TRANSPORT names one of those built; see README). If one rank fails, the\n"
            "others get SIGTERM, then SIGKILL after %d s; each rank runs in its own process group,\n"
            "and every group is killed when pipa-run ends or dies. Options end at PROGRAM or at\n"
            "'--'.\n"
            "  -n N, --nproc-per-node N, --nproc_per_node N   number of ranks\n"
            "  --timeout SECONDS   deadline for receives, passed to the ranks as PIPA_TIMEOUT\n"
            "  --bind              pin rank r to the r-th CPU this launcher may use (round robin);\n"
            "                      steadier timings, as MPI launchers bind by default\n"
            "  -h, --help          this text\n"
            "Exit: 0 all ranks exited 0; 1 a rank failed; 128+S stopped by signal S; 2 usage.\n",
            MAX_RANKS, GRACE_MS / 1000);
}

/* Parses a rank count; returns 1..MAX_RANKS, or 0 (after printing why) when text is not one. */
static int parse_nproc(const char *text)
{
    char *end;
    errno = 0;
    long v = strtol(text, &end, 10);
    if (text[0] == '\0' || *end != '\0' || errno != 0 || v < 1 || v > MAX_RANKS) {
        fprintf(stderr, "pipa-run: --nproc-per-node needs an integer from 1 to %d, got '%s'\n",
                MAX_RANKS, text);
        return 0;
    }
    return (int)v;
}

/* Checks a --timeout value: a positive number of seconds. Returns 1 when valid. */
static int valid_timeout(const char *text)
{
    char *end;
    double v = strtod(text, &end);
    if (text[0] == '\0' || *end != '\0' || !(v > 0)) {
        fprintf(stderr, "pipa-run: --timeout needs a positive number of seconds, got '%s'\n", text);
        return 0;
    }
    return 1;
}

/* pipa_cli_take (cli.h), saying on stderr when the value is missing. */
static int take_value(int argc, char **argv, int *i, const char *name, const char **val)
{
    int r = pipa_cli_take(argc, argv, i, name, val);
    if (r < 0) fprintf(stderr, "pipa-run: %s needs a value\n", name);
    return r;
}

/* Fills *o from the command line. Returns -1 to go on, or the exit status to end with now
 * (0 after --help, EXIT_USAGE after a usage error, already explained on stderr). */
static int parse_options(int argc, char **argv, options_t *o)
{
    static const char *const nproc_names[] = {"--nproc-per-node", "--nproc_per_node", "-n"};
    o->nproc = 1;
    o->timeout = NULL;
    o->bind = 0;
    int i = 1;
    for (; i < argc && argv[i][0] == '-'; i++) {
        const char *val = NULL;
        int r = 0;
        if (!strcmp(argv[i], "--")) { i++; break; }
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) { usage(stdout); return 0; }
        if (!strcmp(argv[i], "--bind")) { o->bind = 1; continue; }
        for (int k = 0; k < 3 && r == 0; k++) r = take_value(argc, argv, &i, nproc_names[k], &val);
        if (r == 1 && !(o->nproc = parse_nproc(val))) return EXIT_USAGE;
        if (r == 0 && (r = take_value(argc, argv, &i, "--timeout", &val)) == 1) {
            if (!valid_timeout(val)) return EXIT_USAGE;
            o->timeout = val;
        }
        if (r < 0) return EXIT_USAGE;
        if (r == 0) {
            fprintf(stderr, "pipa-run: unknown option '%s' (see --help)\n", argv[i]);
            return EXIT_USAGE;
        }
    }
    if (i >= argc) {
        fprintf(stderr, "pipa-run: no PROGRAM given\n");
        usage(stderr);
        return EXIT_USAGE;
    }
    o->argv = argv + i;
    return -1;
}

/* ---- starting ranks ------------------------------------------------------------------------ */

static long long now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (long long)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

static void set_env_int(const char *name, int v)
{
    char buf[16];
    snprintf(buf, sizeof buf, "%d", v);
    setenv(name, buf, 1);
}

/* In the child: pins this process to the rank-th CPU of those it may run on (wrapping around).
 * Left as it is when that cannot be read or set: binding is a tuning, not a requirement. */
static void bind_to_cpu(int rank)
{
    cpu_set_t allowed, one;
    if (sched_getaffinity(0, sizeof allowed, &allowed) != 0) return;
    int n = CPU_COUNT(&allowed), k = rank % (n > 0 ? n : 1);
    for (int cpu = 0; cpu < CPU_SETSIZE; cpu++) {
        if (!CPU_ISSET(cpu, &allowed) || k-- > 0) continue;
        CPU_ZERO(&one);
        CPU_SET(cpu, &one);
        sched_setaffinity(0, sizeof one, &one);
        return;
    }
}

/* In the child: makes its own process group and tells the watchdog about it (the child writes
 * it, not the launcher, so no group can exist that the watchdog does not know of), arranges to die
 * with the launcher, sets the rank's environment, restores the signal mask and execs the program.
 * Never returns; exits 127 if the exec fails. */
static _Noreturn void rank_exec(const options_t *o, const pipa_launch_t *run, int rank,
                                int watch_fd, pid_t launcher, const sigset_t *old_mask)
{
    setpgid(0, 0);
    int32_t me = (int32_t)getpid();
    send(watch_fd, &me, sizeof me, MSG_NOSIGNAL); /* best effort: a dead watchdog cannot help */
    close(watch_fd);
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != launcher) _exit(127); /* the launcher died before prctl took effect */
    set_env_int("RANK", rank);
    set_env_int("WORLD_SIZE", o->nproc);
    set_env_int("LOCAL_RANK", rank);
    set_env_int("LOCAL_WORLD_SIZE", o->nproc);
    pipa_launch_set_rank_env(run, rank);
    if (o->bind) bind_to_cpu(rank);
    sigprocmask(SIG_SETMASK, old_mask, NULL);
    execvp(o->argv[0], o->argv);
    fprintf(stderr, "pipa-run: cannot execute '%s': %s\n", o->argv[0], strerror(errno));
    _exit(127);
}

/* Forks the ranks one by one. Returns 0, or -1 after a fork failure (the ranks already started
 * are left in L for the caller to tear down). */
static int start_ranks(launcher_t *L, const options_t *o, const sigset_t *old_mask)
{
    pid_t self = getpid();
    fflush(NULL); /* so no buffered output is written twice */
    for (int r = 0; r < o->nproc; r++) {
        pid_t pid = fork();
        if (pid < 0) {
            fprintf(stderr, "pipa-run: cannot start rank %d: %s\n", r, strerror(errno));
            return -1;
        }
        if (pid == 0) rank_exec(o, L->run, r, L->watch_fd, self, old_mask);
        setpgid(pid, pid); /* also here, so no signal can reach the group before it exists */
        L->pid[r] = pid;
        L->pgid[r] = pid;
        L->n = r + 1;
        L->live++;
    }
    return 0;
}

/* ---- the watchdog ------------------------------------------------------------------------- */

/* In the watchdog: collects the process groups the ranks announce until the socket closes. A 0
 * from pipa-run means the run ended in order (pipa-run has swept the groups itself); the end
 * without it means pipa-run died, maybe by SIGKILL: every group gets SIGKILL. PR_SET_PDEATHSIG
 * alone would not do, as it reaches only the ranks themselves, not what they started. */
static _Noreturn void watchdog_main(int fd)
{
    static pid_t groups[MAX_RANKS];
    int n = 0;
    int32_t v;
    for (;;) {
        ssize_t got = recv(fd, &v, sizeof v, MSG_WAITALL);
        if (got < 0 && errno == EINTR) continue;
        if (got != (ssize_t)sizeof v) break;
        if (v == 0) _exit(0);
        if (v > 0 && n < MAX_RANKS) groups[n++] = v;
    }
    for (int i = 0; i < n; i++) kill(-groups[i], SIGKILL);
    _exit(0);
}

/* Starts the watchdog in a process group of its own (a signal to pipa-run's group, from the
 * terminal or from `timeout`, must not take it down with pipa-run), before the run is prepared
 * (pipa_launch_begin) so that it holds none of what the ranks share. Returns 0, or -1 with the
 * reason printed. */
static int start_watchdog(launcher_t *L)
{
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) {
        fprintf(stderr, "pipa-run: cannot create the watchdog's socket: %s\n", strerror(errno));
        return -1;
    }
    pid_t pid = fork();
    if (pid < 0) {
        fprintf(stderr, "pipa-run: cannot start the watchdog: %s\n", strerror(errno));
        close(sv[0]);
        close(sv[1]);
        return -1;
    }
    if (pid == 0) {
        setpgid(0, 0);
        close(sv[1]);
        for (int fd = 0; fd < 3; fd++) close(fd); /* hold no pipe of whoever reads our output */
        watchdog_main(sv[0]);
    }
    setpgid(pid, pid);
    close(sv[0]);
    L->watch_fd = sv[1];
    L->watchdog = pid;
    return 0;
}

/* Ends the watchdog after an orderly run (the groups are already swept). */
static void stop_watchdog(launcher_t *L)
{
    int32_t done = 0;
    send(L->watch_fd, &done, sizeof done, MSG_NOSIGNAL);
    close(L->watch_fd);
    waitpid(L->watchdog, NULL, 0);
}

/* ---- watching and teardown ----------------------------------------------------------------- */

static const char *signal_name(int sig, char *buf, size_t n)
{
    const char *abbrev = sigabbrev_np(sig);
    if (abbrev) snprintf(buf, n, "SIG%s", abbrev);
    else snprintf(buf, n, "%d", sig);
    return buf;
}

/* Sends sig to every rank's process group: the rank and whatever it started, including what is
 * left of a rank already reaped. */
static void signal_all(launcher_t *L, int sig)
{
    for (int r = 0; r < L->n; r++)
        if (L->pgid[r] > 0) kill(-L->pgid[r], sig);
}

/* Starts the teardown (once): survivors get sig now and SIGKILL at the grace deadline. */
static void begin_stop(launcher_t *L, int sig, int exit_code)
{
    if (L->stopping) return;
    L->stopping = 1;
    L->exit_code = exit_code;
    L->deadline = now_ms() + GRACE_MS;
    signal_all(L, sig);
}

/* Records how rank r ended: marks it in the segment, reports a failure and, on the first one
 * while nothing is stopping yet, starts the teardown. Failures that our own teardown caused are
 * not reported one by one. */
static void rank_ended(launcher_t *L, int r, int status)
{
    int failed = !(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    pipa_launch_rank_ended(L->run, r, failed);
    L->pid[r] = 0;
    L->live--;
    if (!failed || L->stopping) return;
    char name[32];
    if (WIFSIGNALED(status))
        fprintf(stderr, "pipa-run: rank %d killed by signal %s\n", r,
                signal_name(WTERMSIG(status), name, sizeof name));
    else
        fprintf(stderr, "pipa-run: rank %d exited with code %d\n", r, WEXITSTATUS(status));
    if (L->live > 0)
        fprintf(stderr, "pipa-run: stopping the other %d rank%s\n", L->live, L->live > 1 ? "s" : "");
    begin_stop(L, SIGTERM, 1);
}

/* Reaps every rank that has ended, without blocking. */
static void reap_ended(launcher_t *L)
{
    int status;
    pid_t pid;
    while (L->live > 0 && (pid = waitpid(-1, &status, WNOHANG)) > 0)
        for (int r = 0; r < L->n; r++)
            if (L->pid[r] == pid) rank_ended(L, r, status);
}

/* SIGKILLs the survivors once the grace deadline has passed. */
static void kill_late(launcher_t *L)
{
    if (!L->stopping || L->killed || now_ms() < L->deadline) return;
    L->killed = 1;
    for (int r = 0; r < L->n; r++) {
        if (L->pid[r] <= 0) continue;
        fprintf(stderr, "pipa-run: rank %d still running %d s after SIGTERM; sending SIGKILL\n", r,
                GRACE_MS / 1000);
    }
    signal_all(L, SIGKILL);
}

/* SIGTSTP (Ctrl-Z): the ranks are not in the terminal's foreground group, so stop their groups
 * with ours, and continue them when we are continued (fg or bg). */
static void pause_all(launcher_t *L)
{
    signal_all(L, SIGSTOP);
    raise(SIGSTOP);
    signal_all(L, SIGCONT);
}

/* Waits for the next signal in `set` (until the grace deadline while one is pending) and acts on
 * a SIGINT/SIGTERM/SIGHUP/SIGQUIT sent to the launcher: the first is forwarded to every rank's
 * group and starts the teardown; a second one kills the ranks at once. SIGCHLD is acted on by
 * reap_ended. */
static void wait_event(launcher_t *L, const sigset_t *set)
{
    long long wait = 1000;
    if (L->stopping && !L->killed) {
        wait = L->deadline - now_ms();
        if (wait < 0) wait = 0;
    }
    struct timespec ts = {.tv_sec = wait / 1000, .tv_nsec = (wait % 1000) * 1000000};
    int sig = sigtimedwait(set, NULL, &ts);
    if (sig <= 0 || sig == SIGCHLD) return;
    if (sig == SIGTSTP) {
        pause_all(L);
        return;
    }
    char name[32];
    if (!L->stopping) {
        fprintf(stderr, "pipa-run: got %s; forwarding it to the ranks\n",
                signal_name(sig, name, sizeof name));
        begin_stop(L, sig, 128 + sig);
    } else if (!L->killed) {
        L->deadline = now_ms(); /* asked twice: no more grace */
    }
}

/* Watches the ranks until every one has been reaped. */
static void watch(launcher_t *L, const sigset_t *set)
{
    for (;;) {
        reap_ended(L);
        if (L->live == 0) return;
        kill_late(L);
        wait_event(L, set);
    }
}

/* ---- main ---------------------------------------------------------------------------------- */

int main(int argc, char **argv)
{
    options_t o;
    pipa_blas_choose_core(argv);  // before anything runs: may re-execute (ranks inherit it)
    pipa_cli_check_stdout_at_exit("pipa-run");  // --help into a full disk fails
    int rc = parse_options(argc, argv, &o);
    if (rc >= 0) return rc;
    /* A bad PIPA_* setting would stop every rank with the same message: say it once, up front. */
    if (o.timeout) setenv("PIPA_TIMEOUT", o.timeout, 1);
    if (pipa_launch_env_check() != PIPA_OK) {
        fprintf(stderr, "pipa-run: %s\n", pipa_last_error());
        return EXIT_USAGE;
    }

    /* Block before creating children, so no SIGCHLD or forwarded signal can be lost. */
    sigset_t set, old_mask;
    sigemptyset(&set);
    sigaddset(&set, SIGCHLD);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGHUP);
    sigaddset(&set, SIGQUIT);
    sigaddset(&set, SIGTSTP);
    signal(SIGCHLD, SIG_DFL); /* an inherited SIG_IGN would reap the ranks behind our back */
    sigprocmask(SIG_BLOCK, &set, &old_mask);

    static launcher_t L; /* static: pid tables are 2 KiB, and zeroed */
    if (start_watchdog(&L) != 0) return 1;
    if (pipa_launch_begin(o.nproc, &L.run) != PIPA_OK) {
        fprintf(stderr, "pipa-run: cannot prepare the run: %s\n", pipa_last_error());
        stop_watchdog(&L);
        return 1;
    }
    if (start_ranks(&L, &o, &old_mask) != 0) begin_stop(&L, SIGTERM, 1);
    watch(&L, &set);
    signal_all(&L, SIGKILL); /* whatever a rank started and left behind */
    stop_watchdog(&L);
    pipa_launch_end(L.run);
    return L.exit_code;
}
