/* test_agree: pipa_agree, the collective by which ranks stop together after a failure on any of
 * them, run through pipa-run on 1..4 ranks (or alone):
 *   every rank ok                 -> PIPA_OK everywhere, who = -1
 *   only the last rank fails      -> its status, its message and its rank on every rank
 *   ranks 1 and 2 fail differently -> rank 1's (the first in rank order) on every rank
 *   rank 0 fails                  -> who = 0
 * and after each round the group still works (a gather of every rank's number), so an agreed
 * failure leaves no collective out of step. */
#include <stdio.h>
#include <string.h>

#include "check.h"
#include "comm/comm.h"

static pipa_group_t world;
static int rank, size;

/* One round: rank r fails with status fails[r] (0: ok) and message "failure on rank r";
 * expects every rank to see want_who's failure. */
static void round_of(const pipa_status *fails, int want_who)
{
    pipa_status mine = fails[rank];
    if (mine != PIPA_OK) pipa__fail(mine, "failure on rank %d", rank);
    int who = 12345;
    pipa_status s = pipa_agree(&world, mine, &who);
    if (want_who < 0) {
        CHECKF(s == PIPA_OK && who == -1, "rank %d: all ok gave %d (%s), who %d", rank, s,
               pipa_last_error(), who);
    } else {
        char want[64];
        snprintf(want, sizeof want, "failure on rank %d", want_who);
        CHECKF(s == fails[want_who] && who == want_who, "rank %d: status %d who %d, want %d %d",
               rank, s, who, fails[want_who], want_who);
        CHECKF(strcmp(pipa_last_error(), want) == 0, "rank %d: message '%s', want '%s'", rank,
               pipa_last_error(), want);
    }
    int me = rank + 100, all[PIPA_MAX_RANKS];
    CHECK(pipa_gather(&world, 0, &me, sizeof me, all) == PIPA_OK);
    for (int r = 0; rank == 0 && r < size; r++) CHECK(all[r] == r + 100);
}

int main(void)
{
    pipa_comm_t *comm;
    if (pipa_comm_init(&comm) != PIPA_OK) {
        fprintf(stderr, "test_agree: %s\n", pipa_last_error());
        return 1;
    }
    rank = pipa_comm_rank(comm);
    size = pipa_comm_size(comm);
    pipa_group_world(&world, comm);
    pipa_status fails[PIPA_MAX_RANKS] = {0};
    round_of(fails, -1);
    fails[size - 1] = PIPA_ERR_IO;
    round_of(fails, size - 1);
    if (size >= 3) {
        memset(fails, 0, sizeof fails);
        fails[1] = PIPA_ERR_NOMEM, fails[2] = PIPA_ERR_ARG;
        round_of(fails, 1);
    }
    memset(fails, 0, sizeof fails);
    fails[0] = PIPA_ERR_FORMAT;
    if (size > 1) fails[size - 1] = PIPA_ERR_IO;
    round_of(fails, 0);
    memset(fails, 0, sizeof fails);
    round_of(fails, -1);
    int rc = check_done("test_agree");
    pipa_comm_free(comm);
    return rc;
}
