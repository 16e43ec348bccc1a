/* rss.h: this process's resident memory, read from /proc/self/status (Linux).
 *
 * Resident set size counts the pages a process actually touched, including shared memory it
 * mapped and touched, so it is what a rank really costs the machine, not what it allocated. */
#ifndef PIPA_RSS_H
#define PIPA_RSS_H

#include "base/status.h"

/* Peak resident set size (VmHWM) in KiB, or -1 when it cannot be read. */
long pipa_rss_peak_kb(void);
/* Current resident set size (VmRSS) in KiB, or -1 when it cannot be read. */
long pipa_rss_current_kb(void);
/* Gives freed heap memory back to the system, then resets the peak to the current size
 * (writing 5 to /proc/self/clear_refs), so a later pipa_rss_peak_kb measures only what comes
 * after. Fails (PIPA_ERR_IO) where the kernel does not allow it; the peak then stays as it was. */
pipa_status pipa_rss_reset_peak(void);

#endif
