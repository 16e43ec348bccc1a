#!/bin/sh
# test_sim: pipa-sim, schedules on paper. With unit costs (F 1, B 2, I 1, W 1) at P=4, M=8 the
# simulated bubble of GPipe and 1F1B is (P-1)/(M+P-1) = 3/11, ZB-H1's and interleaved's are lower;
# a printed plan read back gives the same figures; a broken plan is refused; SVG and trace files
# are well-formed; sizes beyond the plan limits are refused before any work, each naming the option
# and the limit, by pipa-sim and pipa-train alike. Usage: sh tests/test_sim.sh BUILD_DIR
B=${1:-build}
RUN=tests/ranks.sh; export B   # starts ranks over the pass's transport (tests/run.sh)
sim="$B/pipa-sim"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail=0
check() { if eval "$2"; then echo "ok   $1"; else echo "FAIL $1"; fail=1; fi; }

"$sim" --svg "$tmp/all.svg" --trace "$tmp/all.json" >"$tmp/all.txt" 2>&1
check "runs every schedule" '[ $? -eq 0 ] && [ $(grep -c "P=4 M=8" "$tmp/all.txt") -eq 6 ]'
bubble() { grep "^$1 " "$tmp/all.txt" | awk '{print $(NF-2)}' | tr -d '%'; }
check "gpipe and 1f1b bubble = 3/11" '[ "$(bubble gpipe)" = "27.3" ] && [ "$(bubble 1f1b)" = "27.3" ]'
check "zb1 bubble < 1f1b" 'awk "BEGIN{exit !($(bubble zb1) < $(bubble 1f1b))}"'
check "interleaved bubble < 1f1b" 'awk "BEGIN{exit !($(bubble interleaved) < $(bubble 1f1b))}"'
check "1f1b peak live 4,3,2,1" 'grep -q "^1f1b .* 4,3,2,1$" "$tmp/all.txt"'
# The bubble formulas printed beside the simulation: zbv (P-1)/(6M+P-1) = 3/51, bfs
# (P-1)/(VM+P-1) = 3/19; the simulation of each reaches it at P = 4, M = 8.
theory() { grep "^$1 " "$tmp/all.txt" | awk '{print $(NF-1)}' | tr -d '%'; }
check "zbv: theory 5.9% beside a simulated 5.9%" '[ "$(theory zbv)" = "5.9" ] && [ "$(bubble zbv)" = "5.9" ]'
check "bfs: theory 15.8% beside a simulated 15.8%" '[ "$(theory bfs)" = "15.8" ] && [ "$(bubble bfs)" = "15.8" ]'
check "zbv peak live within 1F1B's (2P half-stage chunks)" 'grep -q "^zbv .* 8,8,8,8$" "$tmp/all.txt"'
# Beyond 8 ranks the per-rank peaks are summarised: one line per plan at any P (1F1B's peak on
# rank r is min(P - r, M)).
"$sim" --schedule 1f1b --pp 64 --microbatches 64 >"$tmp/p64.txt"
check "P = 64: the peaks summarised as max and min" \
    '[ $(wc -l <"$tmp/p64.txt") -eq 3 ] && grep -q "max 64 (rank 0), min 1 (rank 63)$" "$tmp/p64.txt"'
"$sim" --help >"$tmp/help.txt"
check "--help names zbv and bfs and the limits" \
    'grep -q "zbv | bfs" "$tmp/help.txt" && grep -q "at most 1024" "$tmp/help.txt" && grep -q "8388608" "$tmp/help.txt"'
check "svg and trace well-formed" 'python3 -c "
import json, sys, xml.etree.ElementTree as ET
ET.parse(sys.argv[1]); d = json.load(open(sys.argv[2]))
assert sum(1 for e in d[\"traceEvents\"] if e[\"ph\"] == \"X\") > 100" "$tmp/all.svg" "$tmp/all.json"'

"$sim" --schedule zb1 --pp 3 --microbatches 5 --print-plan >"$tmp/zb1.plan"
"$sim" --schedule zb1 --pp 3 --microbatches 5 | tail -1 | awk '{print $(NF-3), $(NF-2)}' >"$tmp/gen"
"$sim" --plan "$tmp/zb1.plan" | tail -1 | awk '{print $(NF-3), $(NF-2)}' >"$tmp/read"
check "printed plan read back: same makespan and bubble" 'cmp -s "$tmp/gen" "$tmp/read" && [ -s "$tmp/gen" ]'
grep -v "rank 1: I 2 0" "$tmp/zb1.plan" >"$tmp/broken.plan"
"$sim" --plan "$tmp/broken.plan" >"$tmp/broken.txt" 2>&1
check "a plan missing an action is refused, naming the rank" '[ $? -ne 0 ] && grep -q "rank 1" "$tmp/broken.txt"'
"$sim" --schedule foo >/dev/null 2>"$tmp/bad.txt"
check "unknown schedule: exit 2 with a message" '[ $? -eq 2 ] && grep -q "unknown schedule" "$tmp/bad.txt"'
"$sim" --help | grep -q usage
check "--help" '[ $? -eq 0 ]'

# ---- bounds: one set of limits (plan.h), checked before the work; errors on stderr ------------
# Outside ASan (which reserves terabytes of address space), the address space is limited so that
# a regression fails fast with "out of memory" instead of swapping the machine. OpenBLAS, linked
# though unused here, gets one thread: its idle worker threads can spin at exit once the address
# space is exhausted.
export OPENBLAS_NUM_THREADS=1
limited() { if [ "$PIPA_TEST_SCALE" = asan ]; then "$@"; else (ulimit -v 300000; exec "$@"); fi; }
run() { limited timeout 10 "$@" >"$tmp/out" 2>"$tmp/err"; rc=$?; }
quiet_stdout() { ! grep -q "$1" "$tmp/out"; }
printf '# pipa plan P=8 M=16777216 V=1\nrank 0: STEP\n' >"$tmp/b40.plan"
start=$(date +%s)
run "$sim" --plan "$tmp/b40.plan"
check "the issue's 44-byte plan (M=16777216) is refused at once, on stderr, naming M and the limit" \
    '[ $rc -eq 1 ] && grep -q "b40.plan:1: plan: M = 16777216: a plan has 1 to 1048576" "$tmp/err" &&
     quiet_stdout 16777216 && [ $(($(date +%s) - start)) -le 3 ]'
printf '# pipa plan P=256 M=4096 V=1\nrank 0: F 0 0\nrank 0: STEP\n' >"$tmp/small.plan"
run "$sim" --plan "$tmp/small.plan"
check "a header within the limits that the file cannot match is refused by the reader" \
    '[ $rc -eq 1 ] && grep -q "small.plan: rank 0 has 1 compute actions.*needs at least 8192" "$tmp/err"'
run "$sim" --pp 4096
check "--pp 4096: exit 2 naming the option and the limit 1024" \
    '[ $rc -eq 2 ] && grep -q "\-\-pp .*at most 1024" "$tmp/err"'
run "$sim" --pp 256 --microbatches 4096 --chunks 4096
check "--chunks 4096: exit 2 naming the option and the limit 64" \
    '[ $rc -eq 2 ] && grep -q "\-\-chunks .*at most 64" "$tmp/err"'
run "$sim" --pp 256 --microbatches 4096 --chunks 64
check "P*M*V = 67108864: exit 2 before any work, naming the options and the limit" \
    '[ $rc -eq 2 ] && grep -q "\-\-pp x \-\-microbatches x \-\-chunks = 256 x 4096 x 64.*at most 8388608" "$tmp/err"'
run "$sim" --schedule interleaved --pp 1
check "a failing row: exit 1, its reason on stderr, not stdout" \
    '[ $rc -eq 1 ] && grep -q "interleaved P=1 M=8 V=2: .*P >= 2" "$tmp/err" && quiet_stdout "P >= 2"'
run "$sim" --pp 1
check "side by side with --pp 1: interleaved is skipped with a note, the rest run" \
    '[ $rc -eq 0 ] && grep -q "# interleaved: skipped" "$tmp/out" && [ $(grep -c "P=1 M=8" "$tmp/out") -eq 3 ]'
if [ "$PIPA_TEST_SCALE" != asan ]; then
    (ulimit -v 150000; exec timeout 20 "$sim" --pp 1024 --microbatches 2048) >"$tmp/out" 2>"$tmp/err"
    rc=$?
    check "side by side, rows that run out of memory: exit 1, reasons on stderr" \
        '[ $rc -eq 1 ] && grep -q "out of memory" "$tmp/err" && quiet_stdout "out of memory"'
fi
# The same limits in pipa-train: before, 2 x 600000 microbatches started training (for hours).
timeout 20 "$RUN" -n 2 "$B/pipa-train" --schedule interleaved --chunks 8 --layers 16 --microbatches 600000 \
    --steps 1 >"$tmp/out" 2>"$tmp/err"
rc=$?
check "pipa-train: P x --microbatches x --chunks over the plan limit is refused at once" \
    '[ $rc -ne 0 ] && [ $rc -ne 124 ] && grep -q "P (ranks) x \-\-microbatches x \-\-chunks = 2 x 600000 x 8.*at most 8388608" "$tmp/err"'
exit $fail
