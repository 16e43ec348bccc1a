/* Proves the error convention: pipa__fail keeps the formatted message and returns the code. */
#include <string.h>
#include "check.h"
#include "base/status.h"

int main(void)
{
    pipa_status s = pipa__fail(PIPA_ERR_ARG, "bad split '%s' (sum %d)", "3,3", 6);
    CHECK(s == PIPA_ERR_ARG);
    CHECK(strcmp(pipa_last_error(), "bad split '3,3' (sum 6)") == 0);
    CHECK(strcmp(pipa_status_str(PIPA_ERR_TIMEOUT), "timeout") == 0);
    CHECK(strcmp(pipa_status_str(PIPA_OK), "ok") == 0);
    pipa__fail(PIPA_ERR_IO, "inner %d", 7);
    pipa__fail(PIPA_ERR_IO, "outer: %s", pipa_last_error()); /* wraps its own last message */
    CHECKF(strcmp(pipa_last_error(), "outer: inner 7") == 0, "got '%s'", pipa_last_error());
    return check_done("test_status");
}
