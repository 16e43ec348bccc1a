/* cli.h: what the tools share to read their command lines: "--name VALUE" / "--name=VALUE"
 * matching, numbers with range checks, and byte counts for people. Failures return a status with
 * a message naming the option and the text given (pipa_last_error); the tool decides what to do
 * with it. Also: output places checked before a run, and stdout checked at exit. Left out:
 * short options, option tables, usage text. */
#ifndef PIPA_CLI_H
#define PIPA_CLI_H

#include <stddef.h>
#include <stdint.h>

#include "base/status.h"

/* Takes "--name VALUE" or "--name=VALUE" at argv[*i] (advancing *i past a separate value).
 * Returns 1 when it matched (*value set), 0 when argv[*i] is another option, -1 when the value
 * is missing. */
int pipa_cli_take(int argc, char **argv, int *i, const char *name, const char **value);

/* An integer in [lo, hi]: "--layers needs a positive integer (at most 1000000), got 'x'". */
pipa_status pipa_cli_int(const char *name, const char *text, int lo, int hi, int *out);
/* A non-negative 64-bit integer (seeds). */
pipa_status pipa_cli_u64(const char *name, const char *text, uint64_t *out);
/* A finite float in [lo, hi]. */
pipa_status pipa_cli_float(const char *name, const char *text, double lo, double hi, float *out);

/* Output places, checked before any work, so a run that cannot write its results does not
 * start. A FILE must be creatable or writable (a new one is created and removed again; an
 * existing one is left as it is); a DIR is created with its parents (mkdir -p) and must take a
 * file. Messages name the option and the path: "--json /x/y.json: cannot write there: ...". */
pipa_status pipa_cli_check_out_file(const char *name, const char *path);
pipa_status pipa_cli_make_out_dir(const char *name, const char *dir);

/* For a tool's main, first thing: at exit, stdout is flushed and closed, and a write error (a
 * full disk, /dev/full) is reported as "PROG: writing the results to standard output failed"
 * and turns the exit status into 1 (through _exit: the tool asks for it, the library does not
 * exit on its own). */
void pipa_cli_check_stdout_at_exit(const char *prog);

/* --force-cpu is accepted by pipa-demo, pipa-train and pipa-bench for the original demo's users.
 * This build has no GPU backend, so the flag changes nothing; a tool given it says so in its
 * header, with these words. */
#define PIPA_CLI_FORCE_CPU_NOTE \
    "--force-cpu: pipa runs on the CPU in this build, which has no GPU support, so the flag " \
    "changes nothing"

/* 123456789 -> "117.7 MiB" into buf. Returns buf. */
char *pipa_cli_bytes(double bytes, char *buf, size_t len);

#endif
