/* test_cli: the shared command-line helpers.
 *   numbers   pipa_cli_u64 / pipa_cli_int / pipa_cli_float take plain decimal numbers only:
 *             " -1" (which strtoull reads as 2^64 - 1), "-1", "+5", " 5", "5x", "" are refused;
 *             negatives only where the range allows them
 *   outputs   pipa_cli_check_out_file: a new file in a writable directory passes and is not left
 *             behind; an existing file passes unchanged; a missing directory, a directory, a
 *             path under a regular file fail naming option and path; a device is taken as it
 *             is. pipa_cli_make_out_dir
 *             creates a/b/c (mkdir -p), accepts an existing directory, leaves no probe, and
 *             fails under a regular file */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "base/cli.h"

static void test_numbers(void)
{
    static const char *const bad[] = {" -1", "-1", "+5", " 5", "5x", "", "0x10",
                                      "18446744073709551616"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        uint64_t u = 7;
        CHECKF(pipa_cli_u64("--seed", bad[i], &u) != PIPA_OK && u == 7, "u64 took '%s'", bad[i]);
        int v = 7;
        CHECKF(pipa_cli_int("--steps", bad[i], 0, 100, &v) != PIPA_OK && v == 7, "int took '%s'",
               bad[i]);
        float f = 7;
        CHECKF(pipa_cli_float("--lr", bad[i], 0, 100, &f) != PIPA_OK && f == 7, "float took '%s'",
               bad[i]);
    }
    CHECK(strstr(pipa_last_error(), "--lr") != NULL);
    uint64_t u = 0;
    CHECK(pipa_cli_u64("--seed", "18446744073709551615", &u) == PIPA_OK && u == UINT64_MAX);
    CHECK(pipa_cli_u64("--seed", "0", &u) == PIPA_OK && u == 0);
    int v = 0;
    CHECK(pipa_cli_int("--x", "-3", -5, 5, &v) == PIPA_OK && v == -3);
    CHECK(pipa_cli_int("--x", " -3", -5, 5, &v) != PIPA_OK);
    float f = 0;
    CHECK(pipa_cli_float("--lr", ".5", 0, 1, &f) == PIPA_OK && f == 0.5f);
    CHECK(pipa_cli_float("--lr", "3e-3", 0, 1, &f) == PIPA_OK && f == 3e-3f);
    CHECK(pipa_cli_float("--x", "-.5", -1, 1, &f) == PIPA_OK && f == -0.5f);
    CHECK(pipa_cli_float("--lr", "-.5", 0, 1, &f) != PIPA_OK);
}

/* Entries of dir other than . and .. */
static int count_entries(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d) return -1;
    int n = 0;
    for (struct dirent *e; (e = readdir(d));)
        n += strcmp(e->d_name, ".") && strcmp(e->d_name, "..");
    closedir(d);
    return n;
}

static void test_outputs(const char *tmp)
{
    char p[256], q[1024];
    snprintf(p, sizeof p, "%s/new.json", tmp);
    CHECK(pipa_cli_check_out_file("--json", p) == PIPA_OK);
    CHECK(access(p, F_OK) != 0);  // not left behind
    CHECK(count_entries(tmp) == 0);
    FILE *f = fopen(p, "w");
    CHECK(f && fputs("keep", f) >= 0 && fclose(f) == 0);
    CHECK(pipa_cli_check_out_file("--json", p) == PIPA_OK);
    char buf[16] = "";
    f = fopen(p, "r");
    CHECK(f && fgets(buf, sizeof buf, f) && !strcmp(buf, "keep"));
    if (f) fclose(f);
    CHECK(pipa_cli_check_out_file("--json", "/dev/null") == PIPA_OK);  // a device: taken as is
    snprintf(q, sizeof q, "%s/missing/x.json", tmp);
    CHECK(pipa_cli_check_out_file("--trace", q) != PIPA_OK);
    CHECKF(strstr(pipa_last_error(), "--trace") && strstr(pipa_last_error(), q), "%s",
           pipa_last_error());
    CHECK(pipa_cli_check_out_file("--json", tmp) != PIPA_OK);
    CHECK(strstr(pipa_last_error(), "is a directory") != NULL);
    snprintf(q, sizeof q, "%s/x", p);  // under the regular file new.json
    CHECK(pipa_cli_check_out_file("--json", q) != PIPA_OK);

    snprintf(q, sizeof q, "%s/a/b/c", tmp);
    CHECK(pipa_cli_make_out_dir("--save", q) == PIPA_OK);
    struct stat st;
    CHECK(stat(q, &st) == 0 && S_ISDIR(st.st_mode) && count_entries(q) == 0);
    CHECK(pipa_cli_make_out_dir("--save", q) == PIPA_OK);  // exists already: fine
    snprintf(q, sizeof q, "%s/a/b/c/", tmp);                // a trailing slash too
    CHECK(pipa_cli_make_out_dir("--save", q) == PIPA_OK);
    snprintf(q, sizeof q, "%s/d", p);
    CHECK(pipa_cli_make_out_dir("--save", q) != PIPA_OK);
    CHECKF(strstr(pipa_last_error(), "--save") && strstr(pipa_last_error(), q), "%s",
           pipa_last_error());
    CHECK(pipa_cli_make_out_dir("--save", p) != PIPA_OK);  // a regular file

    snprintf(q, sizeof q, "rm -rf '%s/a' '%s'", tmp, p);
    CHECK(system(q) == 0);
}

int main(void)
{
    char tmp[] = "/tmp/pipa-test-cli.XXXXXX";
    if (!mkdtemp(tmp)) return perror("mkdtemp"), 1;
    test_numbers();
    test_outputs(tmp);
    rmdir(tmp);
    return check_done("test_cli");
}
