#!/bin/sh
# test_dp_overlap.sh: data parallelism's overlapped gradient reductions (issue 8, section 3;
# runtime_dp.c) through $RUN (pipa-run, or mpirun) and pipa-train.
#  1 --dp-overlap on (the default: each layer's reduction starts once its gradient is final) and
#    off (one all-reduce before the step) give bit-identical losses, hashes and parameter sums at
#    dp 2 (pp 1 1f1b; pp 2 zb1; pp 2 interleaved)
#    and dp 4 (DIRECT's order: pp 1; pp 2 zb1 on 8 ranks)
#  2 the JSON has every rank's reduce_wait_s beside reduce_s for every step, 0 <= wait < total
#    with overlap (the starts took time during the backward), wait == total without it, the summary's means and the setting; the summary line
#    prints both; a bad --dp-overlap value is one clear message
#   usage: sh tests/test_dp_overlap.sh BUILD_DIR
B=${1:-build}
RUN=tests/ranks.sh; export B   # starts ranks over the pass's transport (tests/run.sh)
pass=0; fail=0
T=$(mktemp -d "${TMPDIR:-/tmp}/pipa-dpo.XXXXXX") || exit 1
trap 'rm -rf "$T"' EXIT

. "$(dirname "$0")/lib.sh"   # check NAME STATUS [DETAIL]
ERR_TAIL=5
SMALL="--layers 4 --hidden 32 --heads 4 --intermediate 64 --seq 16 --batch 2 --microbatches 8 --steps 3"
# train NAME N ARGS...: pipa-train on N ranks, JSON into $T/NAME.json (8 ranks on 2 cores: a
# generous limit)
train() {
    j=$1; n=$2; shift 2
    ranks 240 "$n" "$B/pipa-train" $SMALL --json "$T/$j.json" "$@"
}
SAME='[s["loss_hex"] for s in j[0]["steps"]] == [s["loss_hex"] for s in j[1]["steps"]] and j[0]["hashes"] == j[1]["hashes"] and j[0]["layer_abs_sums"] == j[1]["layer_abs_sums"] and len(j[0]["steps"]) == 3'

# ---- 1: on and off, the same bits ---------------------------------------------------------------
# same NAME N ARGS...: the run with overlap (default) and with --dp-overlap off agree to the bit
same() {
    name=$1; n=$2; shift 2
    train on "$n" "$@"; ok=$rc
    cp "$T/out" "$T/on.out"
    train off "$n" "$@" --dp-overlap off
    [ $ok -eq 0 ] && [ $rc -eq 0 ] && py "$SAME" "$T/on.json" "$T/off.json"
    check "$name: overlap on and off bit-identical (losses, hashes, parameter sums)" $?
}
same "dp 2 x pp 1 1f1b" 2 --dp 2
same "dp 2 x pp 2 zb1" 4 --dp 2 --pp 2 --schedule zb1
same "dp 2 x pp 2 interleaved" 4 --dp 2 --pp 2 --schedule interleaved
same "dp 2 x pp 2, layers split 3,1" 4 --dp 2 --pp 2 --split 3,1
same "dp 4 x pp 1" 4 --dp 4
same "dp 4 x pp 2 zb1" 8 --dp 4 --pp 2 --schedule zb1

# ---- 2: the figures -----------------------------------------------------------------------------
train on 4 --dp 2 --pp 2
cp "$T/out" "$T/on.out"; ok=$rc
train off 4 --dp 2 --pp 2 --dp-overlap off
FIG='all(len(s["reduce_s"]) == 4 and len(s["reduce_wait_s"]) == 4 and all(0 <= w <= r + 1e-9 and r > 0 for r, w in zip(s["reduce_s"], s["reduce_wait_s"])) for s in j[0]["steps"])'
OFF='all(w == r for s in j[0]["steps"] for r, w in zip(s["reduce_s"], s["reduce_wait_s"]))'
# with overlap the reductions started during the backward: some of their time is outside the wait
ON='all(w < r for s in j[0]["steps"] for r, w in zip(s["reduce_s"], s["reduce_wait_s"]))'
SUM='0 <= j[0]["summary"]["mean_reduce_wait_s"] <= j[0]["summary"]["mean_reduce_s"]'
[ $ok -eq 0 ] && [ $rc -eq 0 ] && py "$FIG and $SUM and $ON" "$T/on.json" && py "$FIG and $SUM and $OFF" "$T/off.json" &&
    py 'j[0]["config"]["dp_overlap"] == "on" and j[1]["config"]["dp_overlap"] == "off"' "$T/on.json" "$T/off.json"
check "JSON: reduce_wait_s beside reduce_s per rank and step, 0 <= wait < total (equal when off), means, setting" $?
grep -q '^all-reduce  *[0-9.]* ms per step .*, [0-9.]* ms of it waiting before the step (mean over ranks; the rest started during the backward)' "$T/on.out" &&
    grep -q '^all-reduce .* waiting before the step (mean over ranks; not overlapped' "$T/out" &&
    grep -q "each layer's reduction started once its gradient is final (--dp-overlap on)" "$T/on.out" &&
    grep -q "one all-reduce (--dp-overlap off)" "$T/out"
check "summary line: the time in reductions and the time waiting for them; the header says which" $?
train bad 2 --dp 2 --dp-overlap maybe
[ $rc -ne 0 ] && [ "$(grep -c "^pipa-train:" "$T/err")" -eq 1 ] && grep -q "dp-overlap 'maybe': on or off" "$T/err"
check "--dp-overlap maybe: one clear message" $?

echo "$pass passed, $fail failed"
[ $fail -eq 0 ]
