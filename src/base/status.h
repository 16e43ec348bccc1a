/* status.h: pipa's error convention and logging.
 *
 * Every library function that can fail because of the user or the environment returns a
 * pipa_status (0 ok, negative on error) and leaves a human-readable message in a thread-local
 * buffer (pipa_last_error). Broken internal invariants use PIPA_ASSERT, which prints file, line
 * and rank and aborts; the launcher then brings the other ranks down. The library never calls
 * exit().  Logging goes to stderr with a "[rank r/W stage s]" prefix; results go to stdout. */
#ifndef PIPA_STATUS_H
#define PIPA_STATUS_H

#include <stdarg.h>

typedef enum {
    PIPA_OK = 0,
    PIPA_ERR_ARG = -1,       /* bad option, bad argument, bad configuration */
    PIPA_ERR_IO = -2,        /* file or system call failed */
    PIPA_ERR_NOMEM = -3,     /* allocation failed */
    PIPA_ERR_MISMATCH = -4,  /* message header differs from what the receiver expected */
    PIPA_ERR_TIMEOUT = -5,   /* a deadline passed */
    PIPA_ERR_PEER = -6,      /* a peer rank died or exited */
    PIPA_ERR_STATE = -7,     /* call not valid in the current state */
    PIPA_ERR_FORMAT = -8,    /* a file or message has an unexpected format */
} pipa_status;

/* Short name of a status code ("ok", "timeout", ...). Never NULL. */
const char *pipa_status_str(pipa_status s);

/* Message of the most recent failure on this thread ("" if none). Valid until the next failure. */
const char *pipa_last_error(void);

/* Records a formatted message as the last error and returns s, so callers can write
 * `return pipa_status_set_error(PIPA_ERR_ARG, "bad split '%s'", text);`. Public: tools report
 * their own usage errors the same way the library does. */
pipa_status pipa_status_set_error(pipa_status s, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* The library's short internal spelling of the same function (never used by tools). */
#define pipa__fail pipa_status_set_error

/* Seconds on the monotonic clock. */
double pipa_now(void);

/* Logging. Level comes from PIPA_LOG (error, warn, info, debug; default warn). */
typedef enum { PIPA_LOG_ERROR = 0, PIPA_LOG_WARN, PIPA_LOG_INFO, PIPA_LOG_DEBUG } pipa_log_level;
void pipa_log_set_identity(int rank, int world, int stage);
void pipa_log(pipa_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Invariant check: prints file:line and rank, then aborts. Not for user errors. */
#define PIPA_ASSERT(cond)                                                                      \
    do {                                                                                       \
        if (!(cond)) pipa__assert_fail(#cond, __FILE__, __LINE__);                             \
    } while (0)
_Noreturn void pipa__assert_fail(const char *expr, const char *file, int line);

/* Propagate a failing status: PIPA_TRY(pipa_send(...)); */
#define PIPA_TRY(expr)                                                                         \
    do {                                                                                       \
        pipa_status pipa__s = (expr);                                                          \
        if (pipa__s != PIPA_OK) return pipa__s;                                                \
    } while (0)

#endif
