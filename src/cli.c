/* cli.c: command-line helpers shared by the tools (see cli.h). */
#include "cli.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int pipa_cli_take(int argc, char **argv, int *i, const char *name, const char **value)
{
    size_t n = strlen(name);
    if (strncmp(argv[*i], name, n) != 0) return 0;
    if (argv[*i][n] == '=') {
        *value = argv[*i] + n + 1;
        return 1;
    }
    if (argv[*i][n] != '\0') return 0;
    if (*i + 1 >= argc) return -1;
    *value = argv[++*i];
    return 1;
}

pipa_status pipa_cli_int(const char *name, const char *text, int lo, int hi, int *out)
{
    char *end;
    errno = 0;
    long v = strtol(text, &end, 10);
    if (!errno && end != text && !*end && v >= lo && v <= hi) {
        *out = (int)v;
        return PIPA_OK;
    }
    if (lo == 1)
        return pipa__fail(PIPA_ERR_ARG, "%s needs a positive integer (at most %d), got '%s'", name,
                          hi, text);
    if (lo == 0)
        return pipa__fail(PIPA_ERR_ARG, "%s needs a non-negative integer (at most %d), got '%s'",
                          name, hi, text);
    return pipa__fail(PIPA_ERR_ARG, "%s needs an integer from %d to %d, got '%s'", name, lo, hi,
                      text);
}

pipa_status pipa_cli_u64(const char *name, const char *text, uint64_t *out)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(text, &end, 10);
    if (errno || end == text || *end || *text == '-')
        return pipa__fail(PIPA_ERR_ARG, "%s needs a non-negative integer, got '%s'", name, text);
    *out = v;
    return PIPA_OK;
}

pipa_status pipa_cli_float(const char *name, const char *text, double lo, double hi, float *out)
{
    char *end;
    errno = 0;
    double v = strtod(text, &end);
    if (errno || end == text || *end || !isfinite(v) || v < lo || v > hi)
        return pipa__fail(PIPA_ERR_ARG, "%s needs a number from %g to %g, got '%s'", name, lo, hi,
                          text);
    *out = (float)v;
    return PIPA_OK;
}

char *pipa_cli_bytes(double bytes, char *buf, size_t len)
{
    static const char *const units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    int u = 0;
    while (bytes >= 1024 && u < 4) bytes /= 1024, u++;
    if (u == 0) snprintf(buf, len, "%.0f B", bytes);
    else snprintf(buf, len, "%.1f %s", bytes, units[u]);
    return buf;
}
