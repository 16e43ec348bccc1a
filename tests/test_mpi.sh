#!/bin/sh
# test_mpi.sh: the MPI transport under mpirun (at most 4 ranks): a program mpirun started runs over
# mpi with no option and its run header says so; PIPA_TRANSPORT=shm there is refused by name; a
# pipelined forward (pipa-demo --demo 1) and pipa-train (loss_hex, parameter hashes; 1f1b and zb1,
# also at --tp 2 --pp 2 and --dp 2 --pp 2 on 4 ranks) give the same bits as under pipa-run (shm):
# the one place the two transports are compared on one machine; a rank that fails or dies ends the job within
# seconds, non-zero, with nothing left running. The communicator's own tests (test_p2p,
# test_allreduce, test_gather_max, ...) run under mpirun in make test's mpi pass (tests/run.sh),
# with every other test that starts ranks. A build without MPI: exit 77, "skipped: MPI not built"
# (tests/run.sh's SKIP).
#   usage: sh tests/test_mpi.sh BUILD_DIR
B=${1:-build}
cd "$(dirname "$0")/.." || exit 1
pass=0; fail=0
. tests/lib.sh   # check NAME STATUS [DETAIL]
mpi_built || { echo "skipped: MPI not built"; exit 77; }
T=$(mktemp -d "${TMPDIR:-/tmp}/pipa-mpi.XXXXXX") || exit 1
trap 'rm -rf "$T"' EXIT

export B   # tests/ranks.sh starts the ranks: mpirun's options, and no leak check under ASan
ms() { echo $(($(date +%s%N) / 1000000)); }
# mpi N ARGS...: runs ARGS on N ranks under mpirun (LIMIT seconds, 120 by default); sets rc,
# took (ms), $T/out, $T/err.
mpi() {
    n=$1; shift
    t0=$(ms)
    PIPA_TEST_TRANSPORT=mpi timeout -k 5 "${LIMIT:-120}" tests/ranks.sh -n "$n" "$@" \
        >"$T/out" 2>"$T/err" </dev/null
    rc=$?
    took=$(($(ms) - t0))
}
why() { echo "(rc=$rc, ${took} ms: $(tail -n 5 "$T/err" | tr '\n' ' '))"; }

# ---- selection: no option under mpirun means mpi; the header says so; shm is refused -----------
mpi 2 "$B/pipa-bench" p2p --max-bytes 8 --reps 10
[ $rc -eq 0 ] && grep -q '^# world: *2 rank(s), transport mpi$' "$T/out"
check "mpirun, no option: pipa-bench's header says transport mpi" $? "$(why) $(grep world "$T/out")"
mpi 2 env PIPA_TRANSPORT=mpi "$B/pipa-bench" p2p --max-bytes 8 --reps 10
[ $rc -eq 0 ] && grep -q 'transport mpi$' "$T/out"
check "mpirun, PIPA_TRANSPORT=mpi: the same" $? "$(why)"
mpi 2 env PIPA_TRANSPORT=shm "$B/pipa-bench" p2p --max-bytes 8 --reps 10
[ $rc -ne 0 ] && [ $took -lt 20000 ] && grep -q 'no shared-memory segment (PIPA_SHM_FD): start the program with pipa-run' "$T/err"
check "mpirun, PIPA_TRANSPORT=shm: refused, naming pipa-run" $? "$(why)"

# ---- the same bits on both transports ---------------------------------------------------------------
for n in 2 4; do
    PIPA_TEST_TRANSPORT=shm tests/ranks.sh -n $n "$B/pipa-demo" --demo 1 --json "$T/shm.json" \
        >/dev/null 2>&1
    mpi $n "$B/pipa-demo" --demo 1 --json "$T/mpi.json"
    grep -q '^transport  mpi$' "$T/out" && [ $rc -eq 0 ] && bits "$T/shm.json" >"$T/shm.txt" &&
        bits "$T/mpi.json" >"$T/mpi.txt" && grep -q checksum "$T/shm.txt" && cmp -s "$T/shm.txt" "$T/mpi.txt"
    check "pipa-demo --demo 1 on $n ranks: mpi's checksums are shm's, bit for bit" $? \
        "$(why) $(diff "$T/shm.txt" "$T/mpi.txt" | head -4 | tr '\n' ' ')"
done
TRAIN="--steps 3 --layers 8 --hidden 64 --heads 4 --intermediate 128 --seq 32 --batch 2 --microbatches 4"
# The layouts too: tensor groups (all-reduces, all-gathered shares) and data groups (overlapped
# reductions) over MPI, each against the same layout under pipa-run.
for run in "2 1f1b" "4 1f1b" "4 zb1" "4 1f1b --tp 2 --pp 2" "4 1f1b --dp 2 --pp 2"; do
    set -- $run
    n=$1; sched=$2; shift 2
    PIPA_TEST_TRANSPORT=shm tests/ranks.sh -n $n "$B/pipa-train" $TRAIN --schedule $sched "$@" \
        --json "$T/shm.json" >/dev/null 2>&1
    mpi $n "$B/pipa-train" $TRAIN --schedule $sched "$@" --json "$T/mpi.json"
    grep -q '^transport  mpi$' "$T/out" && [ $rc -eq 0 ] && bits "$T/shm.json" >"$T/shm.txt" &&
        bits "$T/mpi.json" >"$T/mpi.txt" && grep -q 0x "$T/shm.txt" && cmp -s "$T/shm.txt" "$T/mpi.txt"
    check "pipa-train $sched on $n ranks${1:+ $*}: mpi's losses and hashes are shm's, bit for bit" $? \
        "$(why) $(diff "$T/shm.txt" "$T/mpi.txt" | head -4 | tr '\n' ' ')"
done

# ---- a rank that fails or dies ends the job: quickly, non-zero, nothing left running ---------------
# The others wait for its message under the default deadline (minutes): only the job's end stops
# them. "fail": rank 0 exits 3 after leaving (a tool's error path); "die": SIGKILL.
bin="$(pwd)/$B/tests/test_p2p"
# left MODE: how many processes (not zombies) still run "$bin MODE"
left() {
    ps -eo stat=,args= >"$T/ps"
    awk -v b="$bin $1" '$1 !~ /^Z/ && index($0, b) { n++ } END { print n + 0 }' "$T/ps"
}
for mode in fail die; do
    LIMIT=30 mpi 3 "$bin" $mode
    n=1; for i in 1 2 3 4 5 6 7 8 9 10; do n=$(left $mode); [ "$n" -eq 0 ] && break; sleep 0.5; done
    # Why it ended: the failing rank says it ends the job (mpirun's own notice of the abort is
    # sometimes lost as the job comes down: "ORTE_ERROR_LOG ... show_help.c"); for a killed
    # rank, mpirun says what it noticed first.
    why_end='exits with status 3: ending the MPI job'
    [ $mode = die ] && why_end='exited on signal 9\|non-zero exit\|MPI_ABORT'
    [ $rc -ne 0 ] && [ $rc -ne 124 ] && [ $took -lt 20000 ] && [ "$n" -eq 0 ] &&
        grep -q "$why_end" "$T/err"
    check "test_p2p $mode on 3 ranks: the job ends at once, non-zero, nothing left" $? \
        "$(why) (left running: $n)"
done

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
