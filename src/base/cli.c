/* cli.c: command-line helpers shared by the tools (see cli.h). */
#include "base/cli.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

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

/* strtol, strtoull and strtod skip leading white space and take a sign ("-1" becomes 2^64 - 1 in
 * strtoull): a number must start with a digit, or with '-' where negatives are allowed. */
static int starts_number(const char *text, int negative_ok, int fraction_ok)
{
    if (negative_ok && *text == '-') text++;
    if (fraction_ok && *text == '.') text++;  // ".5"
    return isdigit((unsigned char)*text);
}

pipa_status pipa_cli_int(const char *name, const char *text, int lo, int hi, int *out)
{
    char *end;
    errno = 0;
    long v = strtol(text, &end, 10);
    if (starts_number(text, lo < 0, 0) && !errno && end != text && !*end && v >= lo && v <= hi) {
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
    if (!starts_number(text, 0, 0) || errno || end == text || *end)
        return pipa__fail(PIPA_ERR_ARG, "%s needs a non-negative integer, got '%s'", name, text);
    *out = v;
    return PIPA_OK;
}

pipa_status pipa_cli_float(const char *name, const char *text, double lo, double hi, float *out)
{
    char *end;
    errno = 0;
    double v = strtod(text, &end);
    /* Decimal only: strtod also reads hexadecimal ("0x10" = 16). Refused with the usual message. */
    if (!starts_number(text, lo < 0, 1) || strpbrk(text, "xX")) v = NAN;
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

/* ---- output places ------------------------------------------------------------------------ */

/* Creating a file is the only honest test that it can be created: access(W_OK) on the directory
 * says nothing about a full or read-only file system, nor about root on a directory it may
 * write. A new file is created and removed again; an existing one is opened for appending, which
 * changes nothing in it. */
pipa_status pipa_cli_check_out_file(const char *name, const char *path)
{
    struct stat st;
    int exists = stat(path, &st) == 0;
    if (exists && S_ISDIR(st.st_mode))
        return pipa__fail(PIPA_ERR_IO, "%s %s: is a directory, not a file", name, path);
    /* A FIFO or a device (/dev/stdout on a pipe): opening it could block until a reader comes,
     * and writing it later is what tells; it is taken as it is. */
    if (exists && !S_ISREG(st.st_mode)) return PIPA_OK;
    int fd = open(path, O_WRONLY | O_APPEND);
    if (fd < 0 && errno == ENOENT) {
        fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0666);
        if (fd >= 0) unlink(path);
    }
    if (fd < 0)
        return pipa__fail(PIPA_ERR_IO, "%s %s: cannot write there: %s", name, path,
                          strerror(errno));
    close(fd);
    return PIPA_OK;
}

/* mkdir -p: every missing directory of path, parents first. */
static int make_dirs(const char *path)
{
    char buf[4096];
    size_t n = strlen(path);
    if (n == 0 || n >= sizeof buf) return errno = n ? ENAMETOOLONG : ENOENT, -1;
    memcpy(buf, path, n + 1);
    for (size_t i = 1; i <= n; i++) {
        if (buf[i] != '/' && buf[i] != '\0') continue;
        char c = buf[i];
        buf[i] = '\0';
        struct stat st;
        if (mkdir(buf, 0777) != 0 && errno != EEXIST) return -1;
        if (stat(buf, &st) != 0) return -1;
        if (!S_ISDIR(st.st_mode)) return errno = ENOTDIR, -1;
        buf[i] = c;
    }
    return 0;
}

pipa_status pipa_cli_make_out_dir(const char *name, const char *dir)
{
    if (make_dirs(dir) != 0)
        return pipa__fail(PIPA_ERR_IO, "%s %s: cannot create the directory: %s", name, dir,
                          strerror(errno));
    /* A probe file of this process's own name (process id and clock: ranks on several machines
     * sharing the directory do not collide). */
    char probe[4200];
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    snprintf(probe, sizeof probe, "%s/.pipa-probe.%ld.%ld", dir, (long)getpid(), (long)ts.tv_nsec);
    int fd = open(probe, O_WRONLY | O_CREAT | O_EXCL, 0600);
    if (fd < 0)
        return pipa__fail(PIPA_ERR_IO, "%s %s: cannot write in the directory: %s", name, dir,
                          strerror(errno));
    close(fd);
    unlink(probe);
    return PIPA_OK;
}

/* ---- stdout ----------------------------------------------------------------------------- */

static const char *stdout_prog = "pipa";

/* At exit: results that did not reach stdout (a full disk, /dev/full, a closed pipe) make the
 * run fail. An atexit handler cannot change the exit status but through _exit, as gnulib's
 * close_stdout does; only the tool that registers it asks for that. */
static void check_stdout(void)
{
    int earlier = ferror(stdout);
    errno = 0;
    int now = fclose(stdout) != 0;
    if (!earlier && !now) return;
    fprintf(stderr, "%s: writing the results to standard output failed%s%s\n", stdout_prog,
            now && errno ? ": " : "", now && errno ? strerror(errno) : "");
    fflush(stderr);
    _exit(1);
}

void pipa_cli_check_stdout_at_exit(const char *prog)
{
    stdout_prog = prog;
    atexit(check_stdout);
}
