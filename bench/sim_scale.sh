#!/bin/sh
# sim_scale.sh BUILD_DIR: the plan engine at its limits. pipa-sim generates, checks and simulates
# one schedule per row at P = 1024 (1F1B, ZB-H1 and GPipe at M = 8192, the V = 2 schedules at
# M = 4096: P x M x V = 2^23, PIPA_PLAN_MAX_PMV). Per row: wall and CPU (user + sys) seconds and
# peak RSS from /usr/bin/time, bytes per (rank, microbatch, chunk) triple, and the target (under
# 2 s) met or not. Wall time is the target's measure; CPU time is printed beside it because on a
# shared machine wall time also counts the waits for a core (the load average is in the header).
# Median of --reps runs (3).   Usage: sh bench/sim_scale.sh build [--reps N]
B=${1:-build}
reps=3
[ "$2" = "--reps" ] && reps=$3
command -v /usr/bin/time >/dev/null || { echo "sim_scale: needs /usr/bin/time (GNU time)"; exit 77; }
t=$(mktemp)
trap 'rm -f "$t" "$t.one"' EXIT
med() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
echo "# machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(nproc) cores"
echo "# load average before: $(cut -d' ' -f1-3 /proc/loadavg); date: $(date -u '+%Y-%m-%d %H:%M UTC')"
echo "# command per row: $B/pipa-sim --schedule S --pp P --microbatches M   (median of $reps)"
printf '%-12s %5s %5s %2s %8s %8s %9s %11s %s\n' "# schedule" P M V wall_s cpu_s peak_MiB bytes/triple "target < 2 s"
for row in "1f1b 1024 8192 1" "zb1 1024 8192 1" "gpipe 1024 8192 1" "zbv 1024 4096 2" \
           "bfs 1024 4096 2" "interleaved 1024 4096 2"; do
    set -- $row
    : >$t
    for k in $(seq "$reps"); do
        /usr/bin/time -f '%e %U %S %M' -o $t.one "$B/pipa-sim" --schedule "$1" \
            --pp "$2" --microbatches "$3" >/dev/null || { echo "sim_scale: $1 failed"; exit 1; }
        cat $t.one >>$t
    done
    wall=$(awk '{print $1}' $t | med)
    cpu=$(awk '{print $2 + $3}' $t | med)
    kb=$(awk '{print $4}' $t | med)
    met=$(awk -v w="$wall" 'BEGIN {print (w < 2.0) ? "met" : "NOT met"}')
    printf '%-12s %5d %5d %2d %8.2f %8.2f %9.0f %11.0f %s\n' "$1" "$2" "$3" "$4" "$wall" "$cpu" \
        "$(echo "$kb / 1024" | bc -l)" "$(echo "$kb * 1024 / ($2 * $3 * $4)" | bc -l)" "$met"
done
