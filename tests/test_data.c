/* test_data: the corpus is read only from a regular file, with a bound. A FIFO (no writer: a
 * read would wait forever) and /dev/zero (endless) are refused at once with a message saying to
 * give a file; a file over the 1 GiB limit is refused before it is read (a sparse file, so the
 * test costs no disk); a small file loads whole, its hash is FNV-1a 64 of its bytes, and its
 * identity (path, size, hash) goes into a checkpoint's settings. */
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "io/data.h"
#include "base/hash.h"

static int has(const char *text) { return strstr(pipa_last_error(), text) != NULL; }

static void refused(const char *path, const char *why)
{
    pipa_corpus_t c;
    double t0 = pipa_now();
    CHECKF(pipa_corpus_load(&c, path, 8, 1) == PIPA_ERR_ARG, "%s was accepted", path);
    CHECKF(has(path) && has(why), "%s: %s", path, pipa_last_error());
    CHECKF(pipa_now() - t0 < 1.0, "%s took %.1f s to refuse", path, pipa_now() - t0);
    CHECK(c.bytes == NULL && c.n == 0);
}

static void small_file(const char *dir)
{
    char path[512];
    snprintf(path, sizeof path, "%s/small.txt", dir);
    const char *text = "the quick brown fox jumps over the lazy dog\n";
    FILE *f = fopen(path, "w");
    fputs(text, f);
    fclose(f);
    pipa_corpus_t c;
    CHECKF(pipa_corpus_load(&c, path, 8, 1) == PIPA_OK, "%s", pipa_last_error());
    char want[32];
    snprintf(want, sizeof want, "fnv1a64:%016llx",
             (unsigned long long)pipa_hash_fnv1a(PIPA_HASH_INIT, text, strlen(text)));
    CHECK(c.n == strlen(text) && memcmp(c.bytes, text, c.n) == 0);
    CHECKF(strcmp(c.hash, want) == 0, "%s, expected %s", c.hash, want);
    pipa_ckpt_meta_t m = {0};
    pipa_corpus_identity(&c, &m);
    CHECK(m.n == 3 && strcmp(m.text[0], path) == 0 && m.value[1] == (int64_t)strlen(text) &&
          strcmp(m.text[2], want) == 0);
    pipa_corpus_free(&c);
    CHECK(pipa_corpus_load(&c, path, 60, 1) == PIPA_ERR_ARG);  // too short for T = 60
    CHECKF(has("need at least 62"), "%s", pipa_last_error());
}

int main(void)
{
    char dir[] = "/tmp/pipa-data-XXXXXX", fifo[256], big[256];
    CHECK(mkdtemp(dir) != NULL);
    snprintf(fifo, sizeof fifo, "%s/fifo", dir);
    snprintf(big, sizeof big, "%s/big", dir);
    CHECK(mkfifo(fifo, 0600) == 0);
    refused(fifo, "not a regular file");
    refused("/dev/zero", "not a regular file");
    refused(dir, "not a regular file");
    int fd = open(big, O_WRONLY | O_CREAT, 0600);
    CHECK(fd >= 0 && ftruncate(fd, (off_t)PIPA_CORPUS_MAX_BYTES + 1) == 0);
    close(fd);
    refused(big, "more than the limit");
    small_file(dir);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    CHECK(system(cmd) == 0);
    return check_done("test_data");
}
