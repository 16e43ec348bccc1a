/* ckpt_set.c: the checkpoint directory, where the shards of one step are saved as a whole or
 * not at all (the layout and the protocol are in ckpt.h).
 *
 * Why it holds under a kill at any moment: a set directory gets its final name only after every
 * shard in it was written and synced, and `latest` is replaced by one rename after that, so it
 * names either the old complete set or the new one. Older sets are removed only after the new
 * `latest` is synced. Each set name carries a fresh id, so a save never has to replace a set
 * directory (a killed run may have left a complete, uncommitted set of the same step).
 * Left out: two runs saving into one directory at once (each removes the other's temporaries). */
#include "io/ckpt.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define LATEST "latest"
#define LATEST_TMP "latest.tmp-"
#define SET_NAME 64

/* ---- the test seam --------------------------------------------------------------------- */

static void (*test_hook)(const char *what);

void pipa_ckpt_set_test_hook(void (*hook)(const char *what)) { test_hook = hook; }

/* After each change a save makes on disk: a test may end the process right here. */
static void changed(const char *what)
{
    if (test_hook) test_hook(what);
}

/* ---- names ------------------------------------------------------------------------------- */

static void set_name(char *buf, size_t len, int64_t step, uint32_t id, int tmp)
{
    snprintf(buf, len, "step-%06lld-%08x%s", (long long)step, id, tmp ? ".tmp" : "");
}

void pipa_ckpt_set_path(char *buf, size_t len, const char *dir, int64_t step, uint32_t id,
                        int tmp)
{
    char name[SET_NAME];
    set_name(name, sizeof name, step, id, tmp);
    snprintf(buf, len, "%s/%s", dir, name);
}

/* 1 if name is exactly a set's name (as set_name writes it), with its step, id and kind. */
static int parse_set_name(const char *name, int64_t *step, uint32_t *id, int *tmp)
{
    long long s;
    unsigned x;
    char again[SET_NAME];
    if (strlen(name) >= SET_NAME || strncmp(name, "step-", 5) != 0 ||
        strspn(name + 5, "0123456789") > 18)  // no overflow in sscanf
        return 0;
    if (sscanf(name, "step-%lld-%8x", &s, &x) != 2 || s < 0) return 0;
    for (*tmp = 0; *tmp < 2; (*tmp)++) {
        set_name(again, sizeof again, s, x, *tmp);
        if (strcmp(again, name) == 0) break;
    }
    *step = s, *id = x;
    return *tmp < 2;
}

/* ---- files ------------------------------------------------------------------------------- */

static pipa_status sync_dir(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return pipa__fail(PIPA_ERR_IO, "opening %s: %s", dir, strerror(errno));
    int rc = fsync(fd);
    close(fd);
    return rc == 0 ? PIPA_OK : pipa__fail(PIPA_ERR_IO, "syncing %s: %s", dir, strerror(errno));
}

/* Removes dir/name: a file, or a set directory with the files in it (never following links). */
static int remove_entry(int dirfd, const char *name)
{
    if (unlinkat(dirfd, name, 0) == 0) return 0;
    int fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
    if (!d) {
        if (fd >= 0) close(fd);
        return -1;
    }
    for (struct dirent *e; (e = readdir(d));)
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) unlinkat(fd, e->d_name, 0);
    closedir(d);
    return unlinkat(dirfd, name, AT_REMOVEDIR);
}

/* Removes the temporaries in dir (sets and `latest` being written when a run was killed) and,
 * unless only_tmp, every set but (keep_step, keep_id). Failures are logged, not fatal: what is
 * left is never read, and the next save tries again. */
static void remove_others(const char *dir, int only_tmp, int64_t keep_step, uint32_t keep_id)
{
    DIR *d = opendir(dir);
    if (!d) return;
    for (struct dirent *e; (e = readdir(d));) {
        int64_t step;
        uint32_t id;
        int tmp, set = parse_set_name(e->d_name, &step, &id, &tmp);
        int stale = strncmp(e->d_name, LATEST_TMP, strlen(LATEST_TMP)) == 0 || (set && tmp);
        int old = set && !tmp && !only_tmp && !(step == keep_step && id == keep_id);
        if (!stale && !old) continue;
        if (remove_entry(dirfd(d), e->d_name) != 0)
            pipa_log(PIPA_LOG_WARN, "cannot remove %s/%s: %s", dir, e->d_name, strerror(errno));
        changed(stale ? "removed a temporary" : "removed an older set");
    }
    closedir(d);
}

/* Replaces dir/latest with the set's name: written to a temporary, synced, then renamed. */
static pipa_status write_latest(const char *dir, int64_t step, uint32_t id)
{
    char name[SET_NAME], tmp[4200], path[4200];
    set_name(name, sizeof name, step, id, 0);
    snprintf(tmp, sizeof tmp, "%s/" LATEST_TMP "%08x", dir, id);
    snprintf(path, sizeof path, "%s/" LATEST, dir);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
    if (fd < 0) return pipa__fail(PIPA_ERR_IO, "cannot create %s: %s", tmp, strerror(errno));
    changed("created latest's temporary");
    size_t len = strlen(name);
    name[len] = '\n';
    int ok = write(fd, name, len + 1) == (ssize_t)(len + 1) && fsync(fd) == 0;
    ok = close(fd) == 0 && ok;
    if (ok) changed("wrote latest's temporary");
    if (!ok || rename(tmp, path) != 0) {
        pipa_status s = pipa__fail(PIPA_ERR_IO, "writing %s: %s", path, strerror(errno));
        unlink(tmp);
        return s;
    }
    changed("renamed latest");
    return sync_dir(dir);
}

/* ---- saving ------------------------------------------------------------------------------ */

pipa_status pipa_ckpt_begin(const char *dir, int64_t step, uint32_t *id)
{
    if (mkdir(dir, 0755) != 0 && errno != EEXIST)
        return pipa__fail(PIPA_ERR_IO, "cannot create checkpoint directory %s: %s", dir,
                          strerror(errno));
    remove_others(dir, 1, 0, 0);
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    uint32_t seed = (uint32_t)getpid() * 2654435761u ^ (uint32_t)ts.tv_nsec ^ (uint32_t)ts.tv_sec;
    char path[4200];
    for (int attempt = 0; attempt < 16; attempt++) {
        *id = seed + (uint32_t)attempt * 0x9e3779b9u;
        pipa_ckpt_set_path(path, sizeof path, dir, step, *id, 1);
        if (mkdir(path, 0755) == 0) {  // exclusive: the directory is ours alone
            changed("created the temporary set");
            return PIPA_OK;
        }
        if (errno != EEXIST) break;
    }
    return pipa__fail(PIPA_ERR_IO, "cannot create %s: %s", path, strerror(errno));
}

pipa_status pipa_ckpt_commit(const char *dir, int64_t step, uint32_t id)
{
    char tmp[4200], final[4200];
    pipa_ckpt_set_path(tmp, sizeof tmp, dir, step, id, 1);
    pipa_ckpt_set_path(final, sizeof final, dir, step, id, 0);
    PIPA_TRY(sync_dir(tmp));  // the shards' names are durable before the set is complete
    if (rename(tmp, final) != 0)
        return pipa__fail(PIPA_ERR_IO, "renaming %s to %s: %s", tmp, final, strerror(errno));
    changed("renamed the set");
    PIPA_TRY(sync_dir(dir));
    PIPA_TRY(write_latest(dir, step, id));
    remove_others(dir, 0, step, id);
    return PIPA_OK;
}

void pipa_ckpt_discard(const char *dir, int64_t step, uint32_t id)
{
    char name[SET_NAME];
    set_name(name, sizeof name, step, id, 1);
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return;
    remove_entry(fd, name);
    close(fd);
}

/* ---- finding ----------------------------------------------------------------------------- */

/* The newest complete set in d, for a directory without `latest`. */
static pipa_status find_newest(DIR *d, const char *dir, int64_t *step, uint32_t *id)
{
    int found = 0;
    for (struct dirent *e; (e = readdir(d));) {
        int64_t s;
        uint32_t x;
        int tmp;
        struct stat st;
        if (!parse_set_name(e->d_name, &s, &x, &tmp) || tmp) continue;
        if (fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0 || !S_ISDIR(st.st_mode))
            continue;
        if (!found || s > *step || (s == *step && x > *id)) *step = s, *id = x;
        found = 1;
    }
    if (!found)
        return pipa__fail(PIPA_ERR_IO, "no checkpoint in %s: no %s/" LATEST " and no complete "
                          "step-* set in it", dir, dir);
    pipa_log(PIPA_LOG_WARN, "%s has no " LATEST " (a first save was killed before it committed): "
             "using the newest complete set, of step %lld", dir, (long long)*step);
    return PIPA_OK;
}

/* Reads and checks `latest` (already open as fd); the set it names must be a directory. */
static pipa_status read_latest(int fd, DIR *d, const char *dir, int64_t *step, uint32_t *id)
{
    char text[SET_NAME + 2];
    struct stat st;
    ssize_t n = fstat(fd, &st) == 0 && S_ISREG(st.st_mode) ? read(fd, text, sizeof text - 1) : -1;
    if (n < 0) return pipa__fail(PIPA_ERR_IO, "cannot read %s/" LATEST, dir);
    text[n] = 0;
    int tmp;
    char *end = strchr(text, '\n');
    if (end) *end = 0;
    if (!end || end[1] || !parse_set_name(text, step, id, &tmp) || tmp)
        return pipa__fail(PIPA_ERR_FORMAT, "%s/" LATEST " does not name a checkpoint set (it should "
                          "hold one line like step-000006-1a2b3c4d)", dir);
    if (fstatat(dirfd(d), text, &st, AT_SYMLINK_NOFOLLOW) != 0 || !S_ISDIR(st.st_mode))
        return pipa__fail(PIPA_ERR_FORMAT, "%s/" LATEST " names %s, which is not a directory in %s",
                          dir, text, dir);
    return PIPA_OK;
}

pipa_status pipa_ckpt_find(const char *dir, int64_t *step, uint32_t *id)
{
    DIR *d = opendir(dir);
    if (!d)
        return pipa__fail(PIPA_ERR_IO, "cannot open checkpoint directory %s: %s", dir,
                          strerror(errno));
    int fd = openat(dirfd(d), LATEST, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    pipa_status s;
    if (fd >= 0) {
        s = read_latest(fd, d, dir, step, id);
        close(fd);
    } else if (errno == ENOENT) {
        s = find_newest(d, dir, step, id);
    } else {
        s = pipa__fail(PIPA_ERR_IO, "cannot open %s/" LATEST ": %s", dir, strerror(errno));
    }
    closedir(d);
    return s;
}
