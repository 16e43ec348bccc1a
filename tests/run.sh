#!/bin/sh
# Runs every test listed in tests/list, each in its own process under a time limit (a hang is a
# failure), and ends with the line CI reads: "N passed, N failed". A test that exits 77 cannot
# run on this machine (e.g. no clang for the fuzzers): it shows as SKIP with its reason (the last
# line it printed), counted in neither number but listed, never silently.
#   usage: sh tests/run.sh [BUILD_DIR] [NAME_FILTER]
#          PIPA_TEST_TRANSPORT=mpi sh tests/run.sh [BUILD_DIR] [NAME_FILTER]
# In tests/list each line is: NAME TIMEOUT_SECONDS COMMAND...; $B in COMMAND is the build dir,
# $RUN starts ranks (tests/ranks.sh: `$RUN -n N PROG ARGS`).
#
# Two passes (make test runs both where MPI is built). The shm pass (PIPA_TEST_TRANSPORT=shm, the
# default) runs every test; $RUN is pipa-run. The mpi pass runs again, with $RUN as mpirun, each
# test that starts ranks through $RUN (in its tests/list line, or in its shell script: a line
# RUN=tests/ranks.sh), named NAME@mpi. A test that starts ranks with pipa-run itself is about
# pipa-run or shm (launcher behaviour, shm ring sizes) and carries a line "# shm-only: REASON"
# just above it in tests/list: the mpi pass lists it with its reason. One that starts ranks with
# pipa-run and has no such line fails the mpi pass: nothing multi-rank is dropped silently.
B=${1:-build}
filter=${2:-}
RUN=tests/ranks.sh
transport=${PIPA_TEST_TRANSPORT:-shm}
export B RUN PIPA_TEST_TRANSPORT="$transport"
cd "$(dirname "$0")/.."
case "$transport" in
shm) at="" ;;
mpi) at="@mpi"
    if ! nm "$B/libpipa.a" 2>/dev/null | grep -q ' D pipa__transport_mpi$'; then
        echo "the mpi pass: $B has no MPI transport (built with MPI=0?)"; exit 1
    fi ;;
*) echo "tests/run.sh: PIPA_TEST_TRANSPORT must be shm or mpi, not '$transport'"; exit 2 ;;
esac

# uses WHAT CMD: whether CMD, or the shell test it runs (sh tests/NAME.sh), starts ranks through
# $RUN (WHAT=ranks) or with pipa-run directly (WHAT=pipa-run).
uses() {
    script=$(echo "$2" | sed -n 's|^sh \(tests/[A-Za-z0-9_]*\.sh\).*|\1|p')
    case "$1" in
    ranks) case "$2" in *'$RUN '*) return 0 ;; esac
           [ -n "$script" ] && grep -q '^ *RUN=tests/ranks\.sh' "$script" ;;
    *)     case "$2" in *'pipa-run -n'*) return 0 ;; esac
           [ -n "$script" ] && grep -q 'pipa-run"* -n' "$script" ;;
    esac
}

pass=0; fail=0; failed=""; skipped=""; shm_only=""; once=0; reason=""
log_dir="$B/test-logs"; mkdir -p "$log_dir"
while read -r name limit cmd; do
    case "$name" in
    '#') case "$limit $cmd" in 'shm-only: '*) reason=$cmd ;; esac; continue ;;
    ''|'#'*) continue ;;
    esac
    why_shm=$reason; reason=""
    [ -n "$filter" ] && case "$name" in *"$filter"*) ;; *) continue ;; esac
    if [ "$transport" = mpi ]; then
        if [ -n "$why_shm" ]; then
            shm_only="$shm_only $name"; printf 'SHM   %-34s          (shm-only: %s)\n' "$name" "$why_shm"
            continue
        elif ! uses ranks "$cmd"; then
            if uses pipa-run "$cmd"; then
                fail=$((fail + 1)); failed="$failed $name$at"
                printf 'FAIL  %-34s          (%s)\n' "$name$at" "starts ranks with pipa-run: use \$RUN, or mark it '# shm-only: REASON' in tests/list"
            else
                once=$((once + 1))   # starts no ranks: nothing transport-dependent to rerun
            fi
            continue
        fi
    fi
    start=$(date +%s.%N)
    timeout -k 5 "$limit" sh -c "$cmd" >"$log_dir/$name$at.log" 2>&1 </dev/null
    rc=$?
    secs=$(awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN { printf "%.2f", b - a }')
    if [ $rc -eq 0 ]; then
        pass=$((pass + 1)); printf 'PASS  %-34s %6ss\n' "$name$at" "$secs"
    elif [ $rc -eq 77 ]; then
        # Exit 77 (automake's convention): the test cannot run here, and says why on its last line.
        skipped="$skipped $name$at"
        printf 'SKIP  %-34s %6ss  (%s)\n' "$name$at" "$secs" "$(tail -n 1 "$log_dir/$name$at.log")"
    else
        fail=$((fail + 1)); failed="$failed $name$at"
        why="exit $rc"; [ $rc -eq 124 ] && why="timed out after ${limit}s"
        printf 'FAIL  %-34s %6ss  (%s)\n' "$name$at" "$secs" "$why"
        sed 's/^/      | /' "$log_dir/$name$at.log" | tail -n 25
    fi
done < tests/list
[ -n "$skipped" ] && echo "skipped (neither passed nor failed):$skipped"
if [ "$transport" = mpi ]; then
    echo "shm-only (run in the shm pass, not under mpi):${shm_only:- none}"
    echo "$once tests start no ranks: run in the shm pass only"
fi
[ -n "$failed" ] && echo "failed:$failed"
echo "$pass passed, $fail failed"
[ $fail -eq 0 ]
