#!/bin/sh
# Runs every test listed in tests/list, each in its own process under a time limit (a hang is a
# failure), and ends with the line CI reads: "N passed, N failed". A test that exits 77 cannot
# run on this machine (e.g. no clang for the fuzzers): it shows as SKIP with its reason (the last
# line it printed), counted in neither number but listed, never silently.
#   usage: sh tests/run.sh [BUILD_DIR] [NAME_FILTER]
# In tests/list each line is: NAME TIMEOUT_SECONDS COMMAND...; $B in COMMAND is the build dir.
B=${1:-build}
filter=${2:-}
export B
cd "$(dirname "$0")/.."
pass=0; fail=0; failed=""; skipped=""
log_dir="$B/test-logs"; mkdir -p "$log_dir"
while read -r name limit cmd; do
    case "$name" in ''|'#'*) continue ;; esac
    [ -n "$filter" ] && case "$name" in *"$filter"*) ;; *) continue ;; esac
    start=$(date +%s.%N)
    timeout -k 5 "$limit" sh -c "$cmd" >"$log_dir/$name.log" 2>&1 </dev/null
    rc=$?
    secs=$(awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN { printf "%.2f", b - a }')
    if [ $rc -eq 0 ]; then
        pass=$((pass + 1)); printf 'PASS  %-34s %6ss\n' "$name" "$secs"
    elif [ $rc -eq 77 ]; then
        # Exit 77 (automake's convention): the test cannot run here, and says why on its last line.
        skipped="$skipped $name"
        printf 'SKIP  %-34s %6ss  (%s)\n' "$name" "$secs" "$(tail -n 1 "$log_dir/$name.log")"
    else
        fail=$((fail + 1)); failed="$failed $name"
        why="exit $rc"; [ $rc -eq 124 ] && why="timed out after ${limit}s"
        printf 'FAIL  %-34s %6ss  (%s)\n' "$name" "$secs" "$why"
        sed 's/^/      | /' "$log_dir/$name.log" | tail -n 25
    fi
done < tests/list
[ -n "$skipped" ] && echo "skipped (neither passed nor failed):$skipped"
[ -n "$failed" ] && echo "failed:$failed"
echo "$pass passed, $fail failed"
[ $fail -eq 0 ]
