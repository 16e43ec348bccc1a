/* test_ckpt: checkpoint shards round-trip exactly; a shard from another model shape, a truncated
 * or corrupted file is refused with a message saying what differs; a save killed midway leaves
 * the previous checkpoint loadable and whole. */
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"
#include "ckpt.h"

enum { N1 = 1000, N2 = 37 };

static pipa_ckpt_meta_t meta_of(int layers)
{
    pipa_ckpt_meta_t m = {0};
    pipa_ckpt_meta_add(&m, "layers", layers);
    pipa_ckpt_meta_add(&m, "hidden", 64);
    return m;
}

static void fill(float *a, size_t n, float base)
{
    for (size_t i = 0; i < n; i++) a[i] = base + (float)i * 0.25f;
}

static void corrupt_byte(const char *path, long at)
{
    FILE *f = fopen(path, "r+b");
    fseek(f, at, SEEK_SET);
    int c = fgetc(f);
    fseek(f, at, SEEK_SET);
    fputc(c ^ 0x40, f);
    fclose(f);
}

/* A child saves a large shard and is killed during the write: the old one must still load. */
static void killed_mid_save(const char *dir, pipa_ckpt_meta_t *m)
{
    size_t big = 64u << 20; /* 256 MB of floats: the write takes a while */
    pid_t pid = fork();
    if (pid == 0) {
        float *b = calloc(big, sizeof(float));
        pipa_ckpt_tensor_t t[2] = {{"a", b, big}, {"b", b, N2}};
        pipa_ckpt_save(dir, 0, m, t, 2, 99);
        _exit(0);
    }
    usleep(150 * 1000);
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    char path[4096], tmp[4200];
    pipa_ckpt_path(path, sizeof path, dir, 0);
    snprintf(tmp, sizeof tmp, "%s.tmp.%d", path, (int)pid);
    CHECKF(access(tmp, F_OK) == 0, "the save was not under way when it was killed");
    unlink(tmp);
    float a[N1], b[N2];
    int64_t step = -1;
    pipa_ckpt_tensor_t t[2] = {{"a", a, N1}, {"b", b, N2}};
    pipa_status s = pipa_ckpt_load(dir, 0, m, t, 2, &step);
    CHECKF(s == PIPA_OK, "after a killed save: %s", pipa_last_error());
    CHECK(step == 7 && a[10] == 1.0f + 2.5f);
}

int main(void)
{
    char dir[] = "/tmp/pipa-ckpt-XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    float a[N1], b[N2], a2[N1], b2[N2];
    fill(a, N1, 1.0f);
    fill(b, N2, -3.0f);
    pipa_ckpt_meta_t m = meta_of(4);
    pipa_ckpt_tensor_t t[2] = {{"a", a, N1}, {"b", b, N2}};
    CHECKF(pipa_ckpt_save(dir, 0, &m, t, 2, 7) == PIPA_OK, "%s", pipa_last_error());
    int64_t step = 0;
    pipa_ckpt_tensor_t t2[2] = {{"a", a2, N1}, {"b", b2, N2}};
    CHECKF(pipa_ckpt_load(dir, 0, &m, t2, 2, &step) == PIPA_OK, "%s", pipa_last_error());
    CHECK(step == 7 && memcmp(a, a2, sizeof a) == 0 && memcmp(b, b2, sizeof b) == 0);

    pipa_ckpt_meta_t other = meta_of(6);
    CHECK(pipa_ckpt_load(dir, 0, &other, t2, 2, &step) == PIPA_ERR_ARG);
    CHECKF(strstr(pipa_last_error(), "layers = 4") && strstr(pipa_last_error(), "has 6"), "%s",
           pipa_last_error());
    pipa_ckpt_tensor_t wrong[2] = {{"a", a2, N1 - 1}, {"b", b2, N2}};
    CHECK(pipa_ckpt_load(dir, 0, &m, wrong, 2, &step) == PIPA_ERR_FORMAT);
    CHECK(pipa_ckpt_load(dir, 1, &m, t2, 2, &step) == PIPA_ERR_IO); /* no shard for stage 1 */

    killed_mid_save(dir, &m);

    char path[4096];
    pipa_ckpt_path(path, sizeof path, dir, 0);
    corrupt_byte(path, 400);
    CHECK(pipa_ckpt_load(dir, 0, &m, t2, 2, &step) == PIPA_ERR_FORMAT);
    CHECKF(strstr(pipa_last_error(), "checksum"), "%s", pipa_last_error());
    CHECK(truncate(path, 100) == 0);
    CHECK(pipa_ckpt_load(dir, 0, &m, t2, 2, &step) == PIPA_ERR_FORMAT);
    CHECKF(strstr(pipa_last_error(), "truncated"), "%s", pipa_last_error());

    char cmd[256];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    CHECK(system(cmd) == 0);
    return check_done("test_ckpt");
}
