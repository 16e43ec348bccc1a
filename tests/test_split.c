/* Proves the layer split: the even split of every L 1..64 over every P 1..L sums to L, leaves no
 * stage empty and differs by at most one layer, extra layers going to the first stages; the
 * named examples; first-layer indices; the formatter; and every parse error with its message. */
#include <string.h>
#include "check.h"
#include "plan/split.h"

static void test_examples(void)
{
    int c[8];
    char buf[64];
    CHECK(pipa_split_even(10, 4, c) == PIPA_OK);
    CHECK(strcmp(pipa_split_format(c, 4, buf, sizeof buf), "3,3,2,2") == 0);
    CHECK(pipa_split_even(4, 4, c) == PIPA_OK);
    CHECK(strcmp(pipa_split_format(c, 4, buf, sizeof buf), "1,1,1,1") == 0);
    CHECK(pipa_split_even(1, 1, c) == PIPA_OK && c[0] == 1);
    CHECK(strcmp(pipa_split_format(c, 1, buf, sizeof buf), "1") == 0);
    CHECK(pipa_split_even(7, 3, c) == PIPA_OK);
    CHECK(strcmp(pipa_split_format(c, 3, buf, sizeof buf), "3,2,2") == 0);
    CHECK(pipa_split_even(32, 4, c) == PIPA_OK);
    CHECK(strcmp(pipa_split_format(c, 4, buf, sizeof buf), "8,8,8,8") == 0);

    int f, want[5] = {0, 3, 6, 8, 10};  /* stage 4 is one past the end: L */
    pipa_split_even(10, 4, c);
    for (int s = 0; s <= 4; s++) {
        pipa_split_first(c, s, &f);
        CHECKF(f == want[s], "stage %d first %d", s, f);
    }
}

static void test_even_exhaustive(void)
{
    int c[64];
    char buf[64 * 12], back_buf[64 * 12];
    for (int L = 1; L <= 64; L++)
        for (int P = 1; P <= L; P++) {
            CHECKF(pipa_split_even(L, P, c) == PIPA_OK, "L %d P %d: %s", L, P, pipa_last_error());
            int sum = 0, lo = c[0], hi = c[0];
            for (int s = 0; s < P; s++) {
                CHECKF(c[s] >= 1, "L %d P %d: stage %d has %d layers", L, P, s, c[s]);
                if (s > 0) CHECKF(c[s] <= c[s - 1], "L %d P %d: stage %d grows", L, P, s);
                int f;
                pipa_split_first(c, s, &f);
                CHECK(f == sum);
                sum += c[s];
                lo = c[s] < lo ? c[s] : lo;
                hi = c[s] > hi ? c[s] : hi;
            }
            CHECKF(sum == L, "L %d P %d: sum %d", L, P, sum);
            CHECKF(hi - lo <= 1, "L %d P %d: max %d min %d", L, P, hi, lo);
            /* Format and parse are inverse. */
            int back[64];
            pipa_split_format(c, P, buf, sizeof buf);
            CHECKF(pipa_split_parse(buf, L, P, back) == PIPA_OK, "'%s': %s", buf,
                   pipa_last_error());
            CHECK(memcmp(c, back, (size_t)P * sizeof *c) == 0);
            CHECK(strcmp(pipa_split_format(back, P, back_buf, sizeof back_buf), buf) == 0);
        }
}

static void test_even_errors(void)
{
    int c[8];
    CHECK(pipa_split_even(3, 4, c) == PIPA_ERR_ARG);
    CHECK(strcmp(pipa_last_error(), "more stages (4) than layers (3)") == 0);
    CHECK(pipa_split_even(10, 0, c) == PIPA_ERR_ARG && strstr(pipa_last_error(), "stage"));
    CHECK(pipa_split_even(10, -2, c) == PIPA_ERR_ARG);
    CHECK(pipa_split_even(0, 1, c) == PIPA_ERR_ARG && strstr(pipa_last_error(), "layer"));
    CHECK(pipa_split_even(-5, 1, c) == PIPA_ERR_ARG);
}

static void test_parse_ok(void)
{
    int c[4];
    CHECK(pipa_split_parse("3,3,2,2", 10, 4, c) == PIPA_OK);
    CHECK(c[0] == 3 && c[1] == 3 && c[2] == 2 && c[3] == 2);
    CHECK(pipa_split_parse("1,4,4,1", 10, 4, c) == PIPA_OK);
    CHECK(c[0] == 1 && c[1] == 4 && c[2] == 4 && c[3] == 1);
    CHECK(pipa_split_parse(" 2 , 8 ", 10, 2, c) == PIPA_OK && c[0] == 2 && c[1] == 8);
    CHECK(pipa_split_parse("10", 10, 1, c) == PIPA_OK && c[0] == 10);
    CHECK(pipa_split_parse("007,3", 10, 2, c) == PIPA_OK && c[0] == 7);
}

/* One parse error: PIPA_ERR_ARG and a message containing `want`. */
static void check_parse_error(const char *text, int L, int P, const char *want)
{
    int c[16];
    pipa_status s = pipa_split_parse(text, L, P, c);
    CHECKF(s == PIPA_ERR_ARG, "'%s' L %d P %d: status %d", text ? text : "(null)", L, P, s);
    CHECKF(strstr(pipa_last_error(), want), "'%s': message '%s' lacks '%s'",
           text ? text : "(null)", pipa_last_error(), want);
}

static void test_parse_errors(void)
{
    check_parse_error("3,3,2", 10, 4, "split '3,3,2' has 3 entries but there are 4 stages");
    check_parse_error("3,3,2,1,1", 10, 4, "has 5 entries but there are 4 stages");
    check_parse_error("4,6", 10, 1, "has 2 entries but there is 1 stage");
    check_parse_error("10", 10, 2, "has 1 entry but there are 2 stages");
    check_parse_error("3,3,,4", 10, 4, "entry for stage 2 is empty");
    check_parse_error("3,3,2,", 10, 4, "entry for stage 3 is empty");
    check_parse_error(",3,3,4", 10, 4, "entry for stage 0 is empty");
    check_parse_error("", 10, 1, "entry for stage 0 is empty");
    check_parse_error("3, ,3,4", 10, 4, "entry for stage 1 is empty");
    check_parse_error("3,x,3,4", 10, 4, "entry 'x' for stage 1 is not an integer");
    check_parse_error("3,3a,3,1", 10, 4, "entry '3a' for stage 1 is not an integer");
    check_parse_error("3,3,2.5,1.5", 10, 4, "entry '2.5' for stage 2 is not an integer");
    check_parse_error("3,+3,2,2", 10, 4, "entry '+3' for stage 1 is not an integer");
    check_parse_error("3,3,2 2,2", 10, 4, "entry '2 2' for stage 2 is not an integer");
    check_parse_error("3,x,2", 10, 4, "has 3 entries");  /* entry count is checked first */
    check_parse_error("3,3 2,2", 10, 3, "entry '3 2' for stage 1 is not an integer");
    check_parse_error("3,-,4", 10, 3, "entry '-' for stage 1 is not an integer");
    check_parse_error("5,5,0,0", 10, 4, "stage 2 has no layers");
    check_parse_error("0,5,5", 10, 3, "stage 0 has no layers");
    check_parse_error("11,-1", 10, 2, "stage 1 has no layers");
    check_parse_error("3,3,2", 10, 3, "split 3,3,2 sums to 8 but the model has 10 layers");
    check_parse_error("3,3,3,3", 10, 4, "sums to 12 but the model has 10 layers");
    check_parse_error("2", 1, 1, "sums to 2 but the model has 1 layer");
    check_parse_error("99999999999,1", 10, 2, "entry 99999999999 for stage 0 is too large");
    /* Entries that fit an int but overflow an int sum. */
    check_parse_error("2147483647,2147483647", 10, 2, "sums to 4294967294");
    check_parse_error("3,3,2,2", 10, 0, "at least 1 stage");
    check_parse_error("3,3,2,2", 0, 4, "at least 1 layer");
    check_parse_error(NULL, 10, 4, "no split given");
}

static void test_format_truncation(void)
{
    int c[3] = {12, 345, 6};
    char buf[16];
    memset(buf, 'x', sizeof buf);
    CHECK(strcmp(pipa_split_format(c, 3, buf, 5), "12,3") == 0);
    CHECK(strcmp(pipa_split_format(c, 3, buf, 7), "12,345") == 0);
    CHECK(strcmp(pipa_split_format(c, 3, buf, 8), "12,345,") == 0);
    CHECK(strcmp(pipa_split_format(c, 3, buf, sizeof buf), "12,345,6") == 0);
    CHECK(strcmp(pipa_split_format(c, 0, buf, sizeof buf), "") == 0);
    buf[0] = 'x';
    pipa_split_format(c, 3, buf, 0);  /* writes nothing */
    CHECK(buf[0] == 'x');
}

int main(void)
{
    test_examples();
    test_even_exhaustive();
    test_even_errors();
    test_parse_ok();
    test_parse_errors();
    test_format_truncation();
    return check_done("test_split");
}
