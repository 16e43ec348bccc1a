/* cli.h: what the tools share to read their command lines: "--name VALUE" / "--name=VALUE"
 * matching, numbers with range checks, and byte counts for people. Failures return a status with
 * a message naming the option and the text given (pipa_last_error); the tool decides what to do
 * with it. Left out: short options, option tables, usage text. */
#ifndef PIPA_CLI_H
#define PIPA_CLI_H

#include <stddef.h>
#include <stdint.h>

#include "status.h"

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

/* 123456789 -> "117.7 MiB" into buf. Returns buf. */
char *pipa_cli_bytes(double bytes, char *buf, size_t len);

#endif
