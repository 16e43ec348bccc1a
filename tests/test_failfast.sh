#!/bin/sh
# test_failfast.sh: a run that cannot succeed stops before the work, on whichever rank, with the
# real cause; a diverged run stops; bad numbers and options that would be ignored are refused;
# write errors on stdout fail the run.
#  1 a setup failure on rank 1 only (its corpus missing; its --layers or --m bad) ends pipa-train,
#    pipa-demo and pipa-bench train in seconds, not at the 300 s deadline, with rank 1's message
#  2 output places are checked before step 1: --json, --trace, --timeline, --save (pipa-train),
#    --json (pipa-demo, pipa-bench), --svg, --trace (pipa-sim) in a missing directory or over a
#    directory are refused, naming option and path, with no step run; --save DIR is created with
#    its parents (mkdir -p) and the check leaves no file behind
#  3 divergence: SGD at --lr 10 reaches a NaN loss at some step S (9 or 10, by the machine's
#    kernels): the run stops there, non-zero, naming step and loss; the checkpoint (--save-every 1)
#    holds step S - 1 and resumes. AdamW at --lr 1e38
#    leaves inf weights after a finite step 1: nothing is saved over the good checkpoint there
#  4 numbers: ' -1', '-1', '+5', ' 5', '5x' refused for unsigned options (--seed " -1" was 2^64-1)
#    in pipa-train, pipa-demo, pipa-sim, pipa-bench; tokens per step past 2^31 printed exactly
#  5 options that do not apply are refused: --schedule with --plan, outputs with --print-plan
#    (pipa-train, pipa-sim), --pp, --microbatches, --chunks with --plan, --chunks with a
#    one-chunk schedule (pipa-sim), --v without interleaved (pipa-bench train); pipa-demo 5 says
#    its interleaved row does not use --split
#  6 stdout on a full device (/dev/full): every tool exits non-zero saying so
#   usage: sh tests/test_failfast.sh BUILD_DIR
B=${1:-build}
RUN="$B/pipa-run"
pass=0; fail=0
T=$(mktemp -d "${TMPDIR:-/tmp}/pipa-failfast.XXXXXX") || exit 1
trap 'chmod -R u+w "$T" 2>/dev/null; rm -rf "$T"' EXIT
CORPUS=/usr/share/common-licenses/GPL-3
SMALL="--layers 4 --hidden 32 --intermediate 64 --seq 32 --batch 2"

. "$(dirname "$0")/lib.sh"   # check NAME STATUS [DETAIL]
ERR_TAIL=5
# cmd ARGS...: runs ARGS (bounded: 60 s); sets rc and secs, writes $T/out and $T/err
cmd() {
    t0=$(date +%s)
    timeout -k 5 60 "$@" >"$T/out" 2>"$T/err"
    rc=$?
    secs=$(($(date +%s) - t0))
}
# one message from TOOL, printed once (pipa-run adds its own lines)
once() { [ "$(grep -c "^$1:" "$T/err")" -eq 1 ] && has "$2" err; }
steps_run() { grep -c '^ *[0-9][0-9]* *[-0-9.naif][0-9.naif]* ' "$T/out"; }

# ---- 1: a setup failure on rank 1 alone -------------------------------------------------------
# Each rank gets its own command line through sh: on a cluster, a file missing on one machine.
cmd "$RUN" -n 2 sh -c "c=$CORPUS; [ \"\$RANK\" = 1 ] && c=$T/no-corpus
    exec $B/pipa-train $SMALL --steps 2 --corpus \$c"
[ $rc -ne 0 ] && [ $rc -ne 124 ] && [ $secs -le 10 ] &&
    once pipa-train "rank 1: cannot open corpus" && ! has "expected" err && [ "$(steps_run)" -eq 0 ]
check "pipa-train: corpus missing on rank 1 only: rank 1's message in ${secs}s, no step" $?
cmd "$RUN" -n 2 sh -c "l=4; [ \"\$RANK\" = 1 ] && l=x; exec $B/pipa-demo --demo 1 --layers \$l"
[ $rc -ne 0 ] && [ $rc -ne 124 ] && [ $secs -le 10 ] && once pipa-demo "rank 1: --layers" &&
    ! has "Demo 1" out
check "pipa-demo: bad --layers on rank 1 only: rank 1's message in ${secs}s" $?
BT="--layers 4 --hidden 32 --heads 2 --inter 64 --batch 1 --seq 8 --reps 1"
cmd "$RUN" -n 2 sh -c "m=1; [ \"\$RANK\" = 1 ] && m=x; exec $B/pipa-bench train $BT --m \$m"
[ $rc -ne 0 ] && [ $rc -ne 124 ] && [ $secs -le 10 ] && once "pipa-bench train" "not 'x'"
check "pipa-bench train: bad --m on rank 1 only: its message in ${secs}s" $?

# ---- 2: output places -------------------------------------------------------------------------
: >"$T/file"
for opt in --json --trace --timeline; do
    cmd "$RUN" -n 2 "$B/pipa-train" $SMALL --steps 2 $opt "$T/missing/x"
    [ $rc -ne 0 ] && once pipa-train "$opt $T/missing/x: cannot write there" &&
        [ "$(steps_run)" -eq 0 ] && ! has "step" out
    check "pipa-train $opt in a missing directory: refused before step 1" $?
done
cmd "$RUN" -n 2 "$B/pipa-train" $SMALL --steps 2 --json "$T"
[ $rc -ne 0 ] && once pipa-train "--json $T: is a directory" && [ "$(steps_run)" -eq 0 ]
check "pipa-train --json naming a directory: refused before step 1" $?
cmd "$RUN" -n 2 "$B/pipa-train" $SMALL --steps 2 --save "$T/file/ckpt"
[ $rc -ne 0 ] && once pipa-train "--save $T/file/ckpt: cannot create the directory" &&
    [ "$(steps_run)" -eq 0 ]
check "pipa-train --save under a regular file: refused before step 1" $?
echo keep >"$T/old.json"
cmd "$RUN" -n 2 "$B/pipa-train" $SMALL --steps 2 --json "$T/old.json" --corpus "$T/no-corpus"
[ $rc -ne 0 ] && [ "$(cat "$T/old.json")" = keep ]
check "the check leaves an existing --json file as it was (a run refused later)" $?
cmd "$RUN" -n 2 "$B/pipa-train" $SMALL --steps 1 --save "$T/a/b/c" --json "$T/new.json"
[ $rc -eq 0 ] && [ -d "$T/a/b/c" ] && [ -n "$(ls "$T/a/b/c")" ] && [ -s "$T/new.json" ] &&
    [ -z "$(ls -A "$T/a/b/c" | grep probe)" ]
check "--save a/b/c: created with its parents, checkpoint written, no probe left" $?
cmd "$RUN" -n 2 "$B/pipa-demo" --demo 1 --json "$T/missing/d.json"
[ $rc -ne 0 ] && once pipa-demo "--json $T/missing/d.json: cannot write there" && ! has "Demo 1" out
check "pipa-demo --json in a missing directory: refused before demo 1" $?
for opt in --svg --trace; do
    cmd "$B/pipa-sim" $opt "$T/missing/s"
    [ $rc -ne 0 ] && once pipa-sim "$opt $T/missing/s: cannot write there" && ! has "gpipe" out
    check "pipa-sim $opt in a missing directory: refused before simulating" $?
done
cmd "$RUN" -n 2 "$B/pipa-bench" train $BT --m 1 --json "$T/missing/b.json"
[ $rc -ne 0 ] && has "--json $T/missing/b.json: cannot write there" err && ! has "^  1f1b" out
check "pipa-bench train --json in a missing directory: refused before measuring" $?

# ---- 3: divergence ---------------------------------------------------------------------------
# The step that first turns NaN depends on the machine's float kernels (BLAS, exp): read it from
# the message, then hold the run to it: S - 1 finite steps ran, and the checkpoint is step S - 1.
cmd "$RUN" -n 2 "$B/pipa-train" $SMALL --steps 20 --optimizer sgd --lr 10 --save "$T/div" \
    --save-every 1
S=$(sed -n 's/^pipa-train: step \([0-9]*\): loss -*nan: training diverged.*/\1/p' "$T/err" | head -n 1)
[ $rc -ne 0 ] && [ -n "$S" ] && [ "$S" -ge 3 ] && [ "$S" -le 20 ] &&
    once pipa-train "step $S: loss -*nan: training diverged" && [ "$(steps_run)" -eq $((S - 1)) ]
check "sgd --lr 10: stops at the first NaN loss (step ${S:-?}), non-zero, after the finite steps" $?
cmd "$RUN" -n 2 "$B/pipa-train" $SMALL --steps 20 --optimizer sgd --lr 10 --resume "$T/div"
[ $rc -ne 0 ] && [ -n "$S" ] && has "resumed .* at step $((S - 1)) of 20" out &&
    once pipa-train "step $S: loss -*nan" && [ "$(steps_run)" -eq 0 ]
check "its checkpoint is step $((${S:-1} - 1)), the last finite one, and resumes (to the same step)" $?
cmd "$RUN" -n 2 "$B/pipa-train" $SMALL --steps 2 --save "$T/good"
ok=$rc
cmd "$RUN" -n 2 "$B/pipa-train" $SMALL --steps 5 --lr 1e38 --save "$T/good" --save-every 1
[ $ok -eq 0 ] && [ $rc -ne 0 ] && once pipa-train "after step 1 the weights are no longer finite" &&
    [ "$(steps_run)" -eq 0 ]
check "adamw --lr 1e38: finite loss but inf weights after step 1: not saved, non-zero" $?
cmd "$RUN" -n 2 "$B/pipa-train" $SMALL --steps 3 --resume "$T/good" --json "$T/good.json"
[ $rc -eq 0 ] && has "resumed .* at step 2 of 3" out && python3 -c '
import json, math, sys
s = json.load(open(sys.argv[1]))["steps"]
assert [x["step"] for x in s] == [3], s
assert math.isfinite(s[0]["loss"]) and s[0]["loss"] < 6, s' "$T/good.json"
check "the good checkpoint (step 2) is intact: resumes, step 3 finite" $?

# ---- 4: numbers ------------------------------------------------------------------------------
for v in " -1" "-1" "+5" " 5" "5x" ""; do
    cmd "$RUN" -n 1 "$B/pipa-train" --steps 1 --seed "$v"
    [ $rc -ne 0 ] && once pipa-train "--seed needs a non-negative integer, got '$v'"
    check "pipa-train --seed '$v' refused" $?
done
cmd "$RUN" -n 1 "$B/pipa-train" --steps " 1"
[ $rc -ne 0 ] && once pipa-train "got ' 1'"
check "pipa-train --steps ' 1' refused" $?
cmd "$RUN" -n 1 "$B/pipa-train" --steps 1 --lr " 0.001"
[ $rc -ne 0 ] && once pipa-train "--lr needs a number"
check "pipa-train --lr ' 0.001' refused" $?
cmd "$RUN" -n 1 "$B/pipa-demo" --demo 1 --seed -1
[ $rc -ne 0 ] && once pipa-demo "--seed needs a non-negative integer, got '-1'"
check "pipa-demo --seed -1 refused" $?
cmd "$B/pipa-sim" --pp " 3"
[ $rc -ne 0 ] && once pipa-sim "got ' 3'"
check "pipa-sim --pp ' 3' refused" $?
cmd "$B/pipa-bench" train --reps " 1"
[ $rc -ne 0 ] && has "got ' 1'" err
check "pipa-bench train --reps ' 1' refused" $?
cmd "$B/pipa-bench" train --m "1, 2"
[ $rc -ne 0 ] && has "not '1, 2'" err
check "pipa-bench train --m '1, 2' refused" $?
cmd "$RUN" -n 1 "$B/pipa-train" --microbatches 524288 --batch 64 --seq 64 --resume "$T/none"
has "= 2147483648 tokens per step" out
check "tokens per step past 2^31 in the header: exact ($(grep -o '= [-0-9]* tokens' "$T/out"))" $?

# ---- 5: options that do not apply -----------------------------------------------------------
"$B/pipa-sim" --schedule 1f1b --pp 2 --microbatches 4 --print-plan >"$T/p.plan" 2>/dev/null
cmd "$RUN" -n 2 "$B/pipa-train" $SMALL --plan "$T/p.plan" --schedule zb1 --steps 1
[ $rc -ne 0 ] && once pipa-train "--schedule does not apply with --plan" && [ "$(steps_run)" -eq 0 ]
check "pipa-train --schedule with --plan refused" $?
cmd "$RUN" -n 2 "$B/pipa-train" $SMALL --plan "$T/p.plan" --steps 1
[ $rc -eq 0 ] && [ "$(steps_run)" -eq 1 ]
check "pipa-train --plan alone trains" $?
for opt in --json --save --trace --timeline --resume; do
    cmd "$RUN" -n 2 "$B/pipa-train" $SMALL --print-plan $opt "$T/pp"
    [ $rc -ne 0 ] && once pipa-train "$opt does not apply with --print-plan" && [ ! -e "$T/pp" ]
    check "pipa-train $opt with --print-plan refused" $?
done
for args in "--plan $T/p.plan --schedule zb1:--schedule does not apply with --plan" \
            "--plan $T/p.plan --chunks 2:--chunks does not apply with --plan" \
            "--plan $T/p.plan --pp 3:--pp does not apply with --plan" \
            "--plan $T/p.plan --microbatches 9:--microbatches does not apply with --plan" \
            "--schedule gpipe --chunks 2:--chunks applies to --schedule interleaved, bfs and zbv only" \
            "--schedule zb1 --print-plan --svg $T/x.svg:--svg does not apply with --print-plan" \
            "--schedule zb1 --print-plan --cost-f 2:--cost-\* does not apply with --print-plan"; do
    cmd "$B/pipa-sim" ${args%%:*}
    [ $rc -ne 0 ] && once pipa-sim "${args#*:}" && [ ! -s "$T/out" ]
    check "pipa-sim ${args%%:*}: refused" $?
done
DS="--layers 4 --hidden 32 --heads 2 --intermediate 64 --seq 8 --batch 1 --microbatches 2"
cmd "$RUN" -n 2 "$B/pipa-demo" --demo 5 $DS --split 1,3
[ $rc -eq 0 ] && has "split   1,3 layers" out && has "interleaved: layers as even as possible" out
check "pipa-demo --demo 5 --split: says interleaved does not use it" $?
cmd "$B/pipa-bench" train --sched 1f1b,zb1 --v 3
[ $rc -ne 0 ] && has "--v applies to interleaved only" err
check "pipa-bench train --v without interleaved refused" $?

# ---- 6: stdout on a full device ----------------------------------------------------------------
full() { # full NAME CMD...: CMD's stdout to /dev/full fails with a message
    name=$1; shift
    timeout -k 5 60 "$@" >/dev/full 2>"$T/err"
    r=$?
    [ $r -ne 0 ] && [ $r -ne 124 ] && has "writing the results to standard output failed" err
    check "$name > /dev/full: non-zero, says so" $?
}
if [ -w /dev/full ]; then
    full "pipa-train" "$RUN" -n 2 "$B/pipa-train" $SMALL --steps 1
    full "pipa-train --print-plan" "$RUN" -n 2 "$B/pipa-train" $SMALL --print-plan
    full "pipa-demo" "$RUN" -n 2 "$B/pipa-demo" --demo 1
    full "pipa-sim" "$B/pipa-sim"
    full "pipa-bench train" "$RUN" -n 2 "$B/pipa-bench" train $BT --m 1
    full "pipa-bench --help" "$B/pipa-bench" --help
    full "pipa-run --help" "$RUN" --help
else
    echo "skip  stdout on /dev/full: no /dev/full here"
fi

echo "$pass passed, $fail failed"
[ $fail -eq 0 ]
