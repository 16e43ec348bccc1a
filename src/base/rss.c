/* rss.c: resident memory of this process from /proc/self/status (see rss.h). Linux only;
 * elsewhere every figure reads as unknown (-1). */
#include "base/rss.h"

#include <errno.h>
#include <malloc.h>
#include <stdio.h>
#include <string.h>

/* The value in KiB of the "Name:   1234 kB" line of /proc/self/status, or -1. */
static long status_kb(const char *name)
{
    FILE *f = fopen("/proc/self/status", "r");
    if (!f) return -1;
    char line[256];
    long kb = -1;
    size_t n = strlen(name);
    while (fgets(line, sizeof line, f)) {
        if (strncmp(line, name, n) == 0 && line[n] == ':') {
            if (sscanf(line + n + 1, "%ld", &kb) != 1) kb = -1;
            break;
        }
    }
    fclose(f);
    return kb;
}

long pipa_rss_peak_kb(void) { return status_kb("VmHWM"); }
long pipa_rss_current_kb(void) { return status_kb("VmRSS"); }

pipa_status pipa_rss_reset_peak(void)
{
    /* Without the trim, memory freed earlier (say a whole model built for a check) stays
     * resident in the heap and the "new" peak would still include it. */
    malloc_trim(0);
    FILE *f = fopen("/proc/self/clear_refs", "w");
    if (!f) return pipa__fail(PIPA_ERR_IO, "cannot open /proc/self/clear_refs: %s", strerror(errno));
    int ok = fputs("5", f) >= 0;
    if (fclose(f) != 0) ok = 0;
    if (!ok) return pipa__fail(PIPA_ERR_IO, "cannot reset the peak RSS: %s", strerror(errno));
    return PIPA_OK;
}
