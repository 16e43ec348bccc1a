#!/bin/sh
# test_runner.sh: tests/run.sh's two passes, on a list of its own in a scratch copy of tests/:
# the shm pass runs every test, under pipa-run; the mpi pass reruns, named NAME@mpi and under
# mpirun (OMPI_COMM_WORLD_SIZE set, not pipa-run's WORLD_SIZE alone), exactly the tests that start ranks
# through $RUN (in the list line, or in a shell test that sets RUN=tests/ranks.sh); lists each
# "# shm-only: REASON" test with its reason; fails a test that starts ranks with pipa-run without
# that mark (never drops it silently); counts tests that start no ranks; and ends with the line CI
# reads. Without MPI built: the shm pass alone is checked, then exit 77.
#   usage: sh tests/test_runner.sh BUILD_DIR
B=${1:-build}
cd "$(dirname "$0")/.." || exit 1
pass=0; fail=0
. tests/lib.sh   # check NAME STATUS [DETAIL]
T=$(mktemp -d "${TMPDIR:-/tmp}/pipa-runner.XXXXXX") || exit 1
trap 'rm -rf "$T"' EXIT
AB=$(cd "$B" && pwd)
mkdir -p "$T/r/tests" "$T/b" && cp tests/run.sh tests/ranks.sh "$T/r/tests/" || exit 1
ln -s "$AB/pipa-run" "$T/b/pipa-run"; ln -s "$AB/libpipa.a" "$T/b/libpipa.a"
# Each rank of multi and shell writes which launcher started it (mpirun sets OMPI_COMM_WORLD_SIZE,
# pipa-run WORLD_SIZE alone) into $T/seen: the pass must have run what it says, not what its
# environment variable says.
WHERE='if [ -n "$OMPI_COMM_WORLD_SIZE" ]; then echo mpi$OMPI_COMM_WORLD_SIZE; else echo shm$WORLD_SIZE; fi >>'"$T/seen"
cat >"$T/r/tests/shell.sh" <<EOF
RUN=tests/ranks.sh; export B
"\$RUN" -n 2 sh -c '$WHERE'
EOF
seen() { sort "$T/seen" 2>/dev/null | uniq -c | tr -s ' ' | tr '\n' ' '; rm -f "$T/seen"; }
P='pipa'-run   # kept apart, so that this script's text does not start ranks itself
cat >"$T/r/tests/list" <<EOF
# NAME TIMEOUT COMMAND
multi     60  \$RUN -n 2 sh -c '$WHERE'
shell     60  sh tests/shell.sh \$B
# shm-only: a reason of its own
marked    60  \$B/$P -n 2 true
unmarked  60  \$B/$P -n 2 true
single    60  true
EOF
(cd "$T/r" && PIPA_TEST_TRANSPORT=shm sh tests/run.sh "$T/b") >"$T/shm.txt" 2>&1
rc=$?
for t in multi shell marked unmarked single; do
    grep -q "^PASS  $t " "$T/shm.txt"
    check "shm pass: $t passes" $? "$(cat "$T/shm.txt")"
done
[ $rc -eq 0 ] && [ "$(tail -n 1 "$T/shm.txt")" = "5 passed, 0 failed" ]
check "shm pass: exit 0, closing line 5 passed, 0 failed" $? "rc=$rc"
got=$(seen); [ "$got" = " 4 shm2 " ]
check "shm pass: multi and shell ran 2 ranks each under pipa-run" $? "(seen:$got)"
if ! mpi_built; then
    echo "$pass passed, $fail failed"
    echo "skipped: MPI not built (the mpi pass)"
    exit 77
fi

(cd "$T/r" && PIPA_TEST_TRANSPORT=mpi sh tests/run.sh "$T/b") >"$T/mpi.txt" 2>&1
rc=$?
grep -q '^PASS  multi@mpi ' "$T/mpi.txt" && grep -q '^PASS  shell@mpi ' "$T/mpi.txt"
check "mpi pass: multi@mpi and shell@mpi pass" $? "$(cat "$T/mpi.txt")"
got=$(seen); [ "$got" = " 4 mpi2 " ]
check "mpi pass: multi and shell ran 2 ranks each under mpirun" $? "(seen:$got)"
grep -q '^SHM   marked .*(shm-only: a reason of its own)$' "$T/mpi.txt" &&
    grep -q '^shm-only (run in the shm pass, not under mpi): marked$' "$T/mpi.txt"
check "mpi pass: the shm-only test listed with its reason" $?
grep -q "^FAIL  unmarked@mpi .*starts ranks with $P" "$T/mpi.txt"
check "mpi pass: an unmarked test starting ranks with $P fails, named" $?
! grep -q 'single\|@mpi.*marked\|^PASS  marked' "$T/mpi.txt" &&
    grep -q '^1 tests start no ranks' "$T/mpi.txt"
check "mpi pass: single (no ranks) not rerun, counted; marked not run" $?
[ $rc -ne 0 ] && [ "$(tail -n 1 "$T/mpi.txt")" = "2 passed, 1 failed" ]
check "mpi pass: exit non-zero, closing line 2 passed, 1 failed" $? "rc=$rc"

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
