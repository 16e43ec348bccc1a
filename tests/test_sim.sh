#!/bin/sh
# test_sim: pipa-sim, schedules on paper. With unit costs (F 1, B 2, I 1, W 1) at P=4, M=8 the
# simulated bubble of GPipe and 1F1B is (P-1)/(M+P-1) = 3/11, ZB-H1's and interleaved's are lower;
# a printed plan read back gives the same figures; a broken plan is refused; SVG and trace files
# are well-formed. Usage: sh tests/test_sim.sh BUILD_DIR
B=${1:-build}
sim="$B/pipa-sim"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail=0
check() { if eval "$2"; then echo "ok   $1"; else echo "FAIL $1"; fail=1; fi; }

"$sim" --svg "$tmp/all.svg" --trace "$tmp/all.json" >"$tmp/all.txt" 2>&1
check "runs every schedule" '[ $? -eq 0 ] && [ $(grep -c "P=4 M=8" "$tmp/all.txt") -eq 4 ]'
bubble() { grep "^$1 " "$tmp/all.txt" | awk '{print $(NF-2)}' | tr -d '%'; }
check "gpipe and 1f1b bubble = 3/11" '[ "$(bubble gpipe)" = "27.3" ] && [ "$(bubble 1f1b)" = "27.3" ]'
check "zb1 bubble < 1f1b" 'awk "BEGIN{exit !($(bubble zb1) < $(bubble 1f1b))}"'
check "interleaved bubble < 1f1b" 'awk "BEGIN{exit !($(bubble interleaved) < $(bubble 1f1b))}"'
check "1f1b peak live 4,3,2,1" 'grep -q "^1f1b .* 4,3,2,1$" "$tmp/all.txt"'
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
exit $fail
