/* status.c: error messages, logging and assertions (see status.h). */
#include "base/status.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/env.h"

static _Thread_local char last_error[1024];
static int log_rank = 0, log_world = 1, log_stage = -1;
static int log_level = -1;

const char *pipa_status_str(pipa_status s)
{
    switch (s) {
    case PIPA_OK: return "ok";
    case PIPA_ERR_ARG: return "bad argument";
    case PIPA_ERR_IO: return "i/o error";
    case PIPA_ERR_NOMEM: return "out of memory";
    case PIPA_ERR_MISMATCH: return "message mismatch";
    case PIPA_ERR_TIMEOUT: return "timeout";
    case PIPA_ERR_PEER: return "peer failed";
    case PIPA_ERR_STATE: return "bad state";
    case PIPA_ERR_FORMAT: return "bad format";
    }
    return "unknown status";
}

const char *pipa_last_error(void) { return last_error; }

/* Formats into a local buffer first: the arguments may include pipa_last_error() itself, as in
 * pipa__fail(s, "loading %s: %s", path, pipa_last_error()). */
pipa_status pipa_status_set_error(pipa_status s, const char *fmt, ...)
{
    char buf[sizeof last_error];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    memcpy(last_error, buf, sizeof buf);
    return s;
}

void pipa_log_set_identity(int rank, int world, int stage)
{
    log_rank = rank;
    log_world = world;
    log_stage = stage;
}

/* PIPA_LOG, read once. A bad value logs at the default level here: logging cannot fail, so the
 * value is refused where a status can be returned (pipa_env_check, from pipa_comm_init). */
static int current_level(void)
{
    if (log_level >= 0) return log_level;
    int level;
    char saved[sizeof last_error];
    memcpy(saved, last_error, sizeof saved); /* a refusal here must not replace the real error */
    if (pipa_env_log_level(&level) != PIPA_OK) level = PIPA_LOG_WARN;
    memcpy(last_error, saved, sizeof saved);
    log_level = level;
    return log_level;
}

static void print_prefix(void)
{
    if (log_stage >= 0)
        fprintf(stderr, "[rank %d/%d stage %d] ", log_rank, log_world, log_stage);
    else
        fprintf(stderr, "[rank %d/%d] ", log_rank, log_world);
}

void pipa_log(pipa_log_level level, const char *fmt, ...)
{
    if ((int)level > current_level()) return;
    static const char *names[] = {"error", "warn", "info", "debug"};
    char line[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    print_prefix();
    fprintf(stderr, "%s: %s\n", names[level], line);
}

_Noreturn void pipa__assert_fail(const char *expr, const char *file, int line)
{
    print_prefix();
    fprintf(stderr, "internal error: %s:%d: assertion '%s' failed\n", file, line, expr);
    fflush(stderr);
    abort();
}

double pipa_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}
