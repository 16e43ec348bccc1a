#!/bin/sh
# test_ckpt_kill.sh: a checkpoint survives any kill. A small 2-rank pipa-train run saving after
# every step (--save-every 1) is killed with SIGKILL at random moments (of pipa-run itself or of
# one rank), some rounds twice (the resumed run killed again). After each round, --resume of the
# directory must work, and the continued run must equal the uninterrupted one bit for bit: the
# loss of every step it runs (exact hex) and every parameter hash at the end. The continued run's
# saves must leave no temporaries: only `latest` and the one set it names. A set holding a shard
# of another step is refused naming the shard.
#   usage: sh tests/test_ckpt_kill.sh BUILD_DIR [SEED]    (the seed is printed; pass it to replay)
B=${1:-build}
SEED=${2:-$(od -An -N2 -tu2 /dev/urandom | tr -d ' ')}
RUN="$B/pipa-run"
TRAIN="$B/pipa-train"
ROUNDS=12           # a second kill every third round: 16 kills
STEPS=60
TINY="--layers 2 --hidden 32 --heads 2 --intermediate 64 --seq 32 --batch 1 --microbatches 2"
pass=0; fail=0; kills=0
T=$(mktemp -d "${TMPDIR:-/tmp}/pipa-ckpt-kill.XXXXXX") || exit 1
trap 'rm -rf "$T"' EXIT
echo "seed $SEED"

. "$(dirname "$0")/lib.sh"   # check NAME STATUS [DETAIL]
ERR_TAIL=8

# The random moments: per kill, a point of the remaining run (a fraction of its steps), a delay
# in ms after the save of that step is committed, and a target (0: pipa-run, 1: rank 0, 2: rank
# 1). Waiting for a step, not a time, makes the kills land however fast the build is (ASan).
awk -v s="$SEED" -v n=$((2 * ROUNDS)) 'BEGIN { srand(s); for (i = 0; i < n; i++)
    printf "%.3f 0.%03d %d\n", rand(), int(rand() * 30), int(rand() * 3) }' >"$T/moments"
moment() { sed -n "${1}p" "$T/moments"; }

# committed step STEP in DIR/latest (0 if none)
committed() { sed -n 's/^step-0*\([0-9][0-9]*\)-.*/\1/p' "$1/latest" 2>/dev/null | grep . || echo 0; }

# kill_run N DIR: starts pipa-train saving into DIR (resuming if DIR has a checkpoint), waits
# until the save of a step chosen by moment N has been committed (between the start and 30 steps
# before the end: the shell polls slower than the run steps), then after moment N's delay kills
# moment N's target with SIGKILL and waits until no process of the run is left. Counts the kill
# if the run had not finished.
kill_run() {
    resume=""; [ -e "$2/latest" ] && resume="--resume $2"
    "$RUN" -n 2 "$TRAIN" $TINY --steps $STEPS --save "$2" --save-every 1 $resume \
        >"$T/killed.out" 2>"$T/killed.err" &
    pid=$!
    set -- $(moment "$1") "$2"
    start=$(committed "$4")
    at=$(awk -v f="$1" -v a="$start" -v e=$((STEPS - 30)) 'BEGIN { n = e - a;
        print (n > 0 ? a + 1 + int(f * n) : a + 1) }')
    i=0   # wait (at most 30 s) until this run has committed the save of step $at
    while kill -0 $pid 2>/dev/null && [ "$(committed "$4")" -lt "$at" ] && [ $i -lt 3000 ]; do
        sleep 0.01; i=$((i + 1)); done
    sleep "$2"
    target=$3
    ranks=""   # pipa-run's children that run pipa-train (not its watchdog): the ranks
    for k in $(cat /proc/$pid/task/$pid/children 2>/dev/null); do
        tr '\0' '\n' <"/proc/$k/cmdline" 2>/dev/null | head -n 1 | grep -q 'pipa-train$' &&
            ranks="$ranks $k"
    done
    ranks=${ranks# }
    case $target in
        0) victim=$pid ;;
        1) victim=$(echo "$ranks" | cut -d' ' -f1) ;;
        *) victim=$(echo "$ranks" | cut -d' ' -f2) ;;
    esac
    [ -n "$victim" ] && kill -9 "$victim" 2>/dev/null
    wait $pid 2>/dev/null
    grep -q '^saved ' "$T/killed.out" || kills=$((kills + 1))
    i=0   # pipa-run killed: its ranks die with it (parent-death signal); wait for them
    for k in $ranks; do
        while kill -0 "$k" 2>/dev/null && [ $i -lt 1000 ]; do sleep 0.01; i=$((i + 1)); done
    done
}

# ---- the uninterrupted run ---------------------------------------------------------------
timeout -k 5 60 "$RUN" -n 2 "$TRAIN" $TINY --steps $STEPS --json "$T/ref.json" >"$T/out" 2>"$T/err"
check "uninterrupted run of $STEPS steps" $?

# ---- rounds: kill, then resume to the end ------------------------------------------------
round=1
while [ $round -le $ROUNDS ]; do
    D="$T/ckpt$round"
    kill_run $((2 * round - 1)) "$D"
    [ $((round % 3)) -eq 0 ] && kill_run $((2 * round)) "$D"
    timeout -k 5 60 "$RUN" -n 2 "$TRAIN" $TINY --steps $STEPS --resume "$D" --save "$D" \
        --save-every 1 --json "$T/resumed.json" >"$T/out" 2>"$T/err"
    rc=$?
    python3 - "$STEPS" "$T/ref.json" "$T/resumed.json" <<'PY' 2>>"$T/err"
import json, sys
steps = int(sys.argv[1])
ref, out = (json.load(open(f)) for f in sys.argv[2:])
loss = {s["step"]: s["loss_hex"] for s in ref["steps"]}
got = [(s["step"], s["loss_hex"]) for s in out["steps"]]
assert out["config"]["start_step"] >= 1, "resumed from nothing"
assert all(loss[k] == v for k, v in got), "losses differ: %s" % got
assert not got or got[-1][0] == steps, "did not reach step %d" % steps
assert out["hashes"] == ref["hashes"], "parameter hashes differ"
PY
    same=$?
    left=$(cd "$D" && ls -A | grep -v '^latest$')
    [ $rc -eq 0 ] && [ $same -eq 0 ] && [ "$left" = "$(cat "$D/latest")" ]
    check "round $round: resumed from $(sed -n 's/^resumed *//p' "$T/out" | sed 's|.*/||') to step $STEPS, bit-identical; only latest and its set left ($(echo $left))" $?
    rm -rf "$D"
    round=$((round + 1))
done

# ---- a set with a shard of another step (what the old shard-by-shard save could leave) -----
for n in 1 2; do
    timeout -k 5 60 "$RUN" -n 2 "$TRAIN" $TINY --steps $n --save "$T/s$n" >"$T/out" 2>"$T/err"
done
cp "$T/s1/$(cat "$T/s1/latest")/stage-001.ckpt" "$T/s2/$(cat "$T/s2/latest")/stage-001.ckpt"
timeout -k 5 60 "$RUN" -n 2 "$TRAIN" $TINY --steps 3 --resume "$T/s2" >"$T/out" 2>"$T/err"
[ $? -ne 0 ] && grep -q "stage-001.ckpt: field 'step' is 1, but its set is of step 2" "$T/err"
check "a set holding a shard of another step is refused, naming the shard" $?

[ $kills -ge 10 ]
check "$kills kills landed while a run was going (10 or more)" $?
echo "$pass passed, $fail failed"
[ $fail -eq 0 ]
