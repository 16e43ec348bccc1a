/* test_ckpt: checkpoint shards round-trip exactly; a shard from another model shape or corpus, a
 * truncated, corrupted or extended file, or one whose step is out of range is refused with a
 * message naming the file and the field; a shard is never written over an existing file or
 * through a link. Sets: `latest` names the last committed set; a save killed midway leaves it
 * loadable and whole, and the next save removes the killed one's temporaries; so does a save
 * killed after any one of its changes on disk; without `latest` the newest complete set is found;
 * a bad `latest` is refused by name. */
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"
#include "io/ckpt.h"

enum { N1 = 1000, N2 = 37 };

static float a[N1], b[N2], a2[N1], b2[N2];

static pipa_ckpt_meta_t meta_of(int layers, const char *corpus)
{
    pipa_ckpt_meta_t m = {0};
    pipa_ckpt_meta_add(&m, "layers", layers);
    pipa_ckpt_meta_add(&m, "hidden", 64);
    pipa_ckpt_meta_text(&m, "corpus", corpus);
    return m;
}

static void fill(float *x, size_t n, float base)
{
    for (size_t i = 0; i < n; i++) x[i] = base + (float)i * 0.25f;
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

static void append_byte(const char *path)
{
    FILE *f = fopen(path, "ab");
    fputc(0, f);
    fclose(f);
}

static int has(const char *text) { return strstr(pipa_last_error(), text) != NULL; }

static pipa_status load(const char *path, const pipa_ckpt_meta_t *m, int64_t max, int64_t *step)
{
    pipa_ckpt_tensor_t t[2] = {{"a", a2, N1, 0, {0}}, {"b", b2, N2, 0, {0}}};
    return pipa_ckpt_load(path, m, t, 2, max, step);
}

static pipa_status save(const char *dir, const pipa_ckpt_meta_t *m, int64_t step)
{
    pipa_ckpt_tensor_t t[2] = {{"a", a, N1, 0, {0}}, {"b", b, N2, 0, {0}}};
    return pipa_ckpt_save(dir, 0, m, t, 2, step);
}

/* A shard round-trips; other settings, corpus, sizes or a missing file are refused by name. */
static void shard_checks(const char *dir, const pipa_ckpt_meta_t *m, const char *path)
{
    int64_t step = 0;
    CHECKF(save(dir, m, 7) == PIPA_OK, "%s", pipa_last_error());
    CHECKF(load(path, m, 100, &step) == PIPA_OK, "%s", pipa_last_error());
    CHECK(step == 7 && memcmp(a, a2, sizeof a) == 0 && memcmp(b, b2, sizeof b) == 0);

    pipa_ckpt_meta_t other = meta_of(6, "corpus.txt");
    CHECK(load(path, &other, 100, &step) == PIPA_ERR_ARG);
    CHECKF(has("layers = 4") && has("has 6") && has(path), "%s", pipa_last_error());
    pipa_ckpt_meta_t text = meta_of(4, "other.txt");
    CHECK(load(path, &text, 100, &step) == PIPA_ERR_ARG);
    CHECKF(has("corpus 'corpus.txt'") && has("'other.txt'") && has(path), "%s", pipa_last_error());
    pipa_ckpt_tensor_t wrong[2] = {{"a", a2, N1 - 1, 0, {0}}, {"b", b2, N2, 0, {0}}};
    CHECK(pipa_ckpt_load(path, m, wrong, 2, 100, &step) == PIPA_ERR_FORMAT);
    char none[4200];
    pipa_ckpt_path(none, sizeof none, dir, 1);
    CHECK(load(none, m, 100, &step) == PIPA_ERR_IO);  // no shard for stage 1
}

/* The step a shard records must lie in [0, max_step]; nothing may follow the checksum. */
static void validation_checks(const char *dir, const pipa_ckpt_meta_t *m, const char *path)
{
    int64_t step = 0;
    CHECK(load(path, m, 6, &step) == PIPA_ERR_FORMAT);
    CHECKF(has("field 'step' is 7, outside 0..6") && has(path), "%s", pipa_last_error());
    CHECK(load(path, m, 7, &step) == PIPA_OK && step == 7);
    CHECK(unlink(path) == 0);
    CHECK(save(dir, m, -1) == PIPA_OK);
    CHECK(load(path, m, 100, &step) == PIPA_ERR_FORMAT);
    CHECKF(has("field 'step' is -1"), "%s", pipa_last_error());
    CHECK(unlink(path) == 0);
    CHECK(save(dir, m, 7) == PIPA_OK);
    append_byte(path);
    CHECK(load(path, m, 100, &step) == PIPA_ERR_FORMAT);
    CHECKF(has("bytes after the end") && has(path), "%s", pipa_last_error());
    CHECK(unlink(path) == 0);
}

/* A shard is created exclusively: never over a file, never through a link. */
static void exclusive_checks(const char *dir, const pipa_ckpt_meta_t *m, const char *path)
{
    CHECK(save(dir, m, 7) == PIPA_OK);
    CHECK(save(dir, m, 8) == PIPA_ERR_IO);  // the first one stays
    int64_t step = 0;
    CHECK(load(path, m, 100, &step) == PIPA_OK && step == 7);
    CHECK(unlink(path) == 0);
    char victim[4200];
    snprintf(victim, sizeof victim, "%s/victim", dir);
    FILE *f = fopen(victim, "w");
    fputs("keep", f);
    fclose(f);
    CHECK(symlink(victim, path) == 0);
    CHECK(save(dir, m, 7) == PIPA_ERR_IO);
    struct stat st;
    CHECK(stat(victim, &st) == 0 && st.st_size == 4);
    unlink(path);
    unlink(victim);
}

static void damage_checks(const char *dir, const pipa_ckpt_meta_t *m, const char *path)
{
    int64_t step = 0;
    CHECK(save(dir, m, 7) == PIPA_OK);
    corrupt_byte(path, 400);
    CHECK(load(path, m, 100, &step) == PIPA_ERR_FORMAT);
    CHECKF(has("checksum"), "%s", pipa_last_error());
    CHECK(truncate(path, 100) == 0);
    CHECK(load(path, m, 100, &step) == PIPA_ERR_FORMAT);
    CHECKF(has("truncated"), "%s", pipa_last_error());
    CHECK(unlink(path) == 0);
}

/* ---- sets ---- */

/* A whole save of stage 0's shard at step; returns its id (0 on failure). */
static uint32_t save_set(const char *dir, const pipa_ckpt_meta_t *m, int64_t step)
{
    uint32_t id = 0;
    char set[4200];
    CHECKF(pipa_ckpt_begin(dir, step, &id) == PIPA_OK, "%s", pipa_last_error());
    pipa_ckpt_set_path(set, sizeof set, dir, step, id, 1);
    CHECKF(save(set, m, step) == PIPA_OK, "%s", pipa_last_error());
    CHECKF(pipa_ckpt_commit(dir, step, id) == PIPA_OK, "%s", pipa_last_error());
    return id;
}

/* Finds the last complete set, expects it at step want, and loads its shard. */
static void expect_set(const char *dir, const pipa_ckpt_meta_t *m, int64_t want, uint32_t want_id)
{
    int64_t step = -1, got = -1;
    uint32_t id = 0;
    char set[4200], path[4300];
    CHECKF(pipa_ckpt_find(dir, &step, &id) == PIPA_OK, "%s", pipa_last_error());
    CHECKF(step == want && id == want_id, "found step %lld id %08x, expected %lld %08x",
           (long long)step, id, (long long)want, want_id);
    pipa_ckpt_set_path(set, sizeof set, dir, step, id, 0);
    pipa_ckpt_path(path, sizeof path, set, 0);
    CHECKF(load(path, m, 100, &got) == PIPA_OK && got == want, "%s", pipa_last_error());
}

/* 1 if dir holds exactly n entries (`latest`, its set, and a save under way or killed). */
static int entries(const char *dir, int n)
{
    char cmd[4300];
    snprintf(cmd, sizeof cmd, "test $(ls -A '%s' | wc -l) -eq %d", dir, n);
    return system(cmd) == 0;
}

/* A child saves a large set and is killed during the write: the committed set must still load,
 * and the next save removes the killed one's temporary set and the older committed set. */
static void killed_mid_save(const char *dir, const pipa_ckpt_meta_t *m, uint32_t old_id)
{
    size_t big = 64u << 20;  // 256 MB of floats: the write takes a while
    pid_t pid = fork();
    if (pid == 0) {
        uint32_t id;
        char set[4200];
        float *x = calloc(big, sizeof(float));
        pipa_ckpt_tensor_t t[2] = {{"a", x, big, 0, {0}}, {"b", x, N2, 0, {0}}};
        if (pipa_ckpt_begin(dir, 99, &id) != PIPA_OK) _exit(1);
        pipa_ckpt_set_path(set, sizeof set, dir, 99, id, 1);
        pipa_ckpt_save(set, 0, m, t, 2, 99);
        pipa_ckpt_commit(dir, 99, id);
        _exit(0);
    }
    usleep(150 * 1000);
    kill(pid, SIGKILL);
    int status = 0;
    waitpid(pid, &status, 0);
    CHECKF(WIFSIGNALED(status), "the save was not under way when it was killed");
    CHECKF(!entries(dir, 2), "no temporary set left by the killed save");
    expect_set(dir, m, 3, old_id);
    uint32_t id = 0;
    char set[4200];
    CHECK(pipa_ckpt_begin(dir, 4, &id) == PIPA_OK);  // frees the killed save's space at once
    CHECKF(entries(dir, 3), "the killed save's temporary set is still there");
    pipa_ckpt_discard(dir, 4, id);                    // a save that failed on some rank
    CHECKF(entries(dir, 2), "a discarded temporary set is still there");
    id = save_set(dir, m, 4);
    expect_set(dir, m, 4, id);
    CHECKF(entries(dir, 2), "a later save leaves exactly latest and its set");
    pipa_ckpt_set_path(set, sizeof set, dir, 3, old_id, 0);
    CHECKF(access(set, F_OK) != 0, "the older set is still there");
}

static int crash_at, crash_count;
static char crash_label[600];

/* In the child: SIGKILL at the crash_at-th change on disk, after noting which one it was. */
static void crash_hook(const char *what)
{
    if (++crash_count < crash_at) return;
    FILE *f = fopen(crash_label, "w");
    fputs(what, f);
    fclose(f);
    raise(SIGKILL);
}

/* One save of step 4 over a committed step 3 (and a killed save's temporary), killed after its
 * k-th change on disk. Returns 1 if it was killed; *what gets the change. */
static int crash_save(const char *dir, const pipa_ckpt_meta_t *m, int k, char *what, size_t len)
{
    uint32_t stale;
    save_set(dir, m, 3);
    CHECK(pipa_ckpt_begin(dir, 2, &stale) == PIPA_OK);
    snprintf(crash_label, sizeof crash_label, "%s.what", dir);
    pid_t pid = fork();
    if (pid == 0) {
        crash_at = k;
        pipa_ckpt_set_test_hook(crash_hook);
        save_set(dir, m, 4);
        _exit(0);
    }
    int status = 0;
    waitpid(pid, &status, 0);
    FILE *f = fopen(crash_label, "r");
    what[0] = 0;
    if (f && !fgets(what, (int)len, f)) what[0] = 0;
    if (f) fclose(f);
    return WIFSIGNALED(status);
}

/* A save killed after each of its changes on disk in turn: every time the last complete set is
 * found whole, the old one until `latest` was renamed and the new one after, and the next save
 * leaves only `latest` and its set. */
static void killed_at_every_change(const char *root, const pipa_ckpt_meta_t *m)
{
    int k, renamed = 0;
    for (k = 1; k < 64; k++) {
        char dir[512], what[128];
        snprintf(dir, sizeof dir, "%s/crash%d", root, k);
        if (!crash_save(dir, m, k, what, sizeof what)) break;
        renamed |= strcmp(what, "renamed latest") == 0;
        int64_t step = -1, got = -1;
        uint32_t id = 0;
        char set[4200], path[4300];
        CHECKF(pipa_ckpt_find(dir, &step, &id) == PIPA_OK, "killed after '%s': %s", what,
               pipa_last_error());
        pipa_ckpt_set_path(set, sizeof set, dir, step, id, 0);
        pipa_ckpt_path(path, sizeof path, set, 0);
        CHECKF(load(path, m, 100, &got) == PIPA_OK && got == step, "killed after '%s': %s", what,
               pipa_last_error());
        CHECKF(step == (renamed ? 4 : 3), "killed after '%s': found step %lld", what,
               (long long)step);
        save_set(dir, m, 5);
        CHECKF(entries(dir, 2), "killed after '%s': a later save left more than latest and its set",
               what);
    }
    CHECKF(k >= 8 && renamed, "a save made %d changes on disk, latest renamed: %d", k - 1, renamed);
}

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    fputs(text, f);
    fclose(f);
}

/* Without `latest`, the newest complete set; a bad `latest` is refused naming it. */
static void latest_checks(const char *dir, const pipa_ckpt_meta_t *m)
{
    int64_t step;
    uint32_t id, id5 = save_set(dir, m, 5), junk = 0;
    char latest[1024], set[1024];
    snprintf(latest, sizeof latest, "%s/latest", dir);
    CHECK(pipa_ckpt_begin(dir, 9, &junk) == PIPA_OK);  // an uncommitted temporary set: ignored
    CHECK(unlink(latest) == 0);
    expect_set(dir, m, 5, id5);
    write_file(latest, "step-000005\n");
    CHECK(pipa_ckpt_find(dir, &step, &id) == PIPA_ERR_FORMAT);
    CHECKF(has(latest) && has("does not name"), "%s", pipa_last_error());
    write_file(latest, "step-000006-0000abcd\n");
    CHECK(pipa_ckpt_find(dir, &step, &id) == PIPA_ERR_FORMAT);
    CHECKF(has(latest) && has("not a directory"), "%s", pipa_last_error());
    pipa_ckpt_set_path(set, sizeof set, dir, 5, id5, 0);
    char cmd[4300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s' '%s'", set, latest);
    CHECK(system(cmd) == 0);
    CHECK(pipa_ckpt_find(dir, &step, &id) == PIPA_ERR_IO);
    CHECKF(has("no checkpoint in"), "%s", pipa_last_error());
}

static void set_checks(const char *root, const pipa_ckpt_meta_t *m)
{
    char dir[512], missing[512];
    int64_t step;
    uint32_t id;
    snprintf(dir, sizeof dir, "%s/sets", root);
    snprintf(missing, sizeof missing, "%s/none", root);
    CHECK(pipa_ckpt_find(missing, &step, &id) == PIPA_ERR_IO);
    CHECKF(has("cannot open checkpoint directory") && has(missing), "%s", pipa_last_error());
    uint32_t id3 = save_set(dir, m, 3);
    expect_set(dir, m, 3, id3);
    killed_mid_save(dir, m, id3);
    latest_checks(dir, m);
    killed_at_every_change(root, m);
}

int main(void)
{
    char dir[] = "/tmp/pipa-ckpt-XXXXXX", path[4200];
    CHECK(mkdtemp(dir) != NULL);
    fill(a, N1, 1.0f);
    fill(b, N2, -3.0f);
    pipa_ckpt_meta_t m = meta_of(4, "corpus.txt");
    pipa_ckpt_path(path, sizeof path, dir, 0);
    shard_checks(dir, &m, path);
    validation_checks(dir, &m, path);
    exclusive_checks(dir, &m, path);
    damage_checks(dir, &m, path);
    set_checks(dir, &m);

    char cmd[256];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    CHECK(system(cmd) == 0);
    return check_done("test_ckpt");
}
