#!/bin/sh
# test_dp.sh: the dp x pp x tp layout (issue 8, sections 1 and 3) through $RUN (pipa-run, or mpirun).
#  1 every invalid layout is one clear message before anything runs: --pp x --dp x --tp not the
#    world, --dp x --tp not dividing it, heads or intermediate size not divisible by --tp, more
#    stages than layers, fewer microbatches than replicas or not divisible among them (pipa-train
#    with --tp: tests/test_tp_train.sh), pipa-demo's demos refuse dp > 1 without --grid,
#    pipa-bench train and pipeline check the layout and refuse an --m (global) that does not
#    divide among the replicas
#  2 pipa-demo --grid at -n 8 for --pp 2 --tp 4 and --pp 2 --dp 2 --tp 2: every rank's
#    coordinates, group ranks, neighbours and one all-reduce per group, against values written
#    here (rank = (d * pp + p) * tp + t)
#  3 data parallelism: 8 global microbatches, 3 AdamW steps: dp 2 x pp 1, dp 2 x pp 2 (1f1b and
#    zb1) give bit-identical losses, hashes and parameter sums; dp 2 and dp 4 (DIRECT) are
#    within 1e-5 relative of the one replica running all 8 microbatches (losses, per-layer sums
#    of |w|), and so is dp 2 with SGD (its update is proportional to the gradient scale: a
#    replica-local loss scale would show); the JSON has the all-reduce time
#  4 checkpoints at dp 2 x pp 2: replica 0 writes one shard per stage; resuming gives the bits of
#    the straight run; a resume at another dp is refused naming the replica count
#  5 pipa-bench at dp > 1: train at dp 2 x pp 2 (overlap on and off) and dp 2 x tp 2 on 4
#    ranks, pipeline --validate at dp 2 x pp 2 and dp 2 x pp 2 x tp 2: the layout in the output
#    and JSON, M / dp microbatches per replica (ideal and analytic bubble), the data group's
#    bytes (rank 0's gradients, once at dp 2, against sizes counted here) and reduction times,
#    every replica's share of the forward checked
#   usage: sh tests/test_dp.sh BUILD_DIR
B=${1:-build}
RUN=tests/ranks.sh; export B   # starts ranks over the pass's transport (tests/run.sh)
pass=0; fail=0
T=$(mktemp -d "${TMPDIR:-/tmp}/pipa-dp.XXXXXX") || exit 1
trap 'rm -rf "$T"' EXIT

. "$(dirname "$0")/lib.sh"   # check NAME STATUS [DETAIL]
ERR_TAIL=5
# tool N TOOL ARGS...: TOOL on N ranks (8 ranks oversubscribe 2 cores: a generous limit)
tool() {
    n=$1; t=$2; shift 2
    ranks 240 "$n" "$B/$t" "$@"
}
# fails TOOL TEXT: exit non-zero, the tool's one message has TEXT, no step or demo ran
fails() {
    [ $rc -ne 0 ] && [ "$(grep -c "^$1:" "$T/err")" -eq 1 ] && has "$2" err &&
        ! grep -q '^ *[0-9][0-9]* *[0-9.][0-9.]* ' "$T/out" && ! has '^rank ' out
}

# ---- 1: invalid layouts ------------------------------------------------------------------------
tool 4 pipa-demo --grid --pp 3
fails pipa-demo "pp 3 but 4 ranks: the pipeline must use every rank"
check "--pp 3 alone on 4 ranks (the message from before dp and tp)" $?
tool 4 pipa-demo --grid --pp 1 --dp 2 --tp 3
fails pipa-demo "pp 1 x --dp 2 x --tp 3 = 6 ranks, but the world has 4"
check "product mismatch: --pp 1 --dp 2 --tp 3 on 4 ranks" $?
tool 4 pipa-train --dp 3 --steps 1
fails pipa-train "dp 3 x --tp 1 = 3 does not divide the world of 4 ranks"
check "--dp 3 does not divide 4 ranks (pp derived)" $?
tool 8 pipa-demo --grid --pp 1 --tp 8
fails pipa-demo "tp 8: the 4 attention heads (--heads) do not divide among 8 tensor ranks"
check "heads not divisible by --tp" $?
tool 2 pipa-demo --grid --tp 2 --intermediate 101
fails pipa-demo "tp 2: the intermediate size 101 (--intermediate) does not divide among 2"
check "intermediate size not divisible by --tp" $?
tool 4 pipa-demo --grid --layers 2
fails pipa-demo "2 layers cannot fill 4 virtual stages"
check "more stages than layers" $?
tool 4 pipa-train --dp 4 --microbatches 2 --steps 1
fails pipa-train "microbatches 2: fewer microbatches than the --dp 4 replicas"
check "fewer microbatches than replicas (pipa-train)" $?
tool 4 pipa-demo --grid --dp 4 --microbatches 3
fails pipa-demo "microbatches 3: fewer microbatches than the --dp 4 replicas"
check "fewer microbatches than replicas (pipa-demo --grid)" $?
tool 2 pipa-train --dp 2 --microbatches 3 --steps 1
fails pipa-train "microbatches 3 do not divide among the --dp 2 replicas"
check "microbatches not divisible among replicas" $?
tool 2 pipa-demo --dp 2
fails pipa-demo "the demos run one pipeline over every rank"
check "pipa-demo's demos refuse --dp 2 without --grid" $?

BSMALL="--m 1 --reps 1 --layers 2 --hidden 32 --inter 64 --seq 8 --batch 1"
tool 4 pipa-bench train $BSMALL --sched 1f1b --dp 2 --m 2,3
[ $rc -ne 0 ] && has "pipa-bench train: --m 3: the microbatch count (global, as pipa-train's --microbatches) does not divide among the --dp 2 replicas" err && ! has '^ *1f1b' out
check "pipa-bench train --dp 2 refuses --m 3 (global) before anything runs" $?
tool 4 pipa-bench pipeline $BSMALL --dp 2 --m 1
[ $rc -ne 0 ] && has "pipa-bench pipeline: --m 1: the microbatch count .* does not divide among the --dp 2 replicas" err && ! has '^ *1 ' out
check "pipa-bench pipeline --dp 2 refuses --m 1 (fewer than the replicas)" $?
tool 4 pipa-bench train $BSMALL --sched 1f1b --dp 2 --m 2 --dp-overlap maybe
[ $rc -ne 0 ] && has "pipa-bench train: --dp-overlap 'maybe': on or off" err
check "pipa-bench train: --dp-overlap wants on or off" $?
tool 2 pipa-bench pipeline $BSMALL --pp 1 --tp 1
[ $rc -ne 0 ] && has "pipa-bench pipeline: --pp 1 x --dp 1 x --tp 1 = 1 ranks, but the world has 2" err
check "pipa-bench pipeline: product mismatch" $?
tool 2 pipa-bench train $BSMALL --sched 1f1b --tp 2 --heads 3 --hidden 48
[ $rc -ne 0 ] && has "pipa-bench train: --tp 2: the 3 attention heads" err
check "pipa-bench train: heads not divisible by --tp" $?
tool 2 pipa-bench pipeline $BSMALL --pp 2
[ $rc -eq 0 ] && grep -q . "$T/out"
check "pipa-bench pipeline --pp 2 on 2 ranks runs" $?

# ---- 2: the grid -------------------------------------------------------------------------------
# grid_is FILE: the rank lines of the last run (sums included) equal FILE
grid_is() { grep '^rank ' "$T/out" | sed 's/  */ /g' | diff - "$1" >"$T/diff"; }
cat >"$T/want1" <<'G'
rank 0 (pp 0, dp 0, tp 0) pp [0 4] dp [0] tp [0 1 2 3] prev -1 next 4 first sums pp 4 dp 0 tp 6
rank 1 (pp 0, dp 0, tp 1) pp [1 5] dp [1] tp [0 1 2 3] prev -1 next 5 first sums pp 6 dp 1 tp 6
rank 2 (pp 0, dp 0, tp 2) pp [2 6] dp [2] tp [0 1 2 3] prev -1 next 6 first sums pp 8 dp 2 tp 6
rank 3 (pp 0, dp 0, tp 3) pp [3 7] dp [3] tp [0 1 2 3] prev -1 next 7 first sums pp 10 dp 3 tp 6
rank 4 (pp 1, dp 0, tp 0) pp [0 4] dp [4] tp [4 5 6 7] prev 0 next -1 last sums pp 4 dp 4 tp 22
rank 5 (pp 1, dp 0, tp 1) pp [1 5] dp [5] tp [4 5 6 7] prev 1 next -1 last sums pp 6 dp 5 tp 22
rank 6 (pp 1, dp 0, tp 2) pp [2 6] dp [6] tp [4 5 6 7] prev 2 next -1 last sums pp 8 dp 6 tp 22
rank 7 (pp 1, dp 0, tp 3) pp [3 7] dp [7] tp [4 5 6 7] prev 3 next -1 last sums pp 10 dp 7 tp 22
G
tool 8 pipa-demo --grid --pp 2 --tp 4
[ $rc -eq 0 ] && has "dp 1 x pp 2 x tp 4 on 8 ranks" out && grid_is "$T/want1"
check "grid -n 8 --pp 2 --tp 4: coordinates, groups, neighbours, sums" $? "$(cat "$T/diff")"
cat >"$T/want2" <<'G'
rank 0 (pp 0, dp 0, tp 0) pp [0 2] dp [0 4] tp [0 1] prev -1 next 2 first sums pp 2 dp 4 tp 1
rank 1 (pp 0, dp 0, tp 1) pp [1 3] dp [1 5] tp [0 1] prev -1 next 3 first sums pp 4 dp 6 tp 1
rank 2 (pp 1, dp 0, tp 0) pp [0 2] dp [2 6] tp [2 3] prev 0 next -1 last sums pp 2 dp 8 tp 5
rank 3 (pp 1, dp 0, tp 1) pp [1 3] dp [3 7] tp [2 3] prev 1 next -1 last sums pp 4 dp 10 tp 5
rank 4 (pp 0, dp 1, tp 0) pp [4 6] dp [0 4] tp [4 5] prev -1 next 6 first sums pp 10 dp 4 tp 9
rank 5 (pp 0, dp 1, tp 1) pp [5 7] dp [1 5] tp [4 5] prev -1 next 7 first sums pp 12 dp 6 tp 9
rank 6 (pp 1, dp 1, tp 0) pp [4 6] dp [2 6] tp [6 7] prev 4 next -1 last sums pp 10 dp 8 tp 13
rank 7 (pp 1, dp 1, tp 1) pp [5 7] dp [3 7] tp [6 7] prev 5 next -1 last sums pp 12 dp 10 tp 13
G
tool 8 pipa-demo --grid --pp 2 --dp 2 --tp 2
[ $rc -eq 0 ] && has "dp 2 x pp 2 x tp 2 on 8 ranks" out && grid_is "$T/want2"
check "grid -n 8 --pp 2 --dp 2 --tp 2: coordinates, groups, neighbours, sums" $? "$(cat "$T/diff")"

# ---- 3: training -------------------------------------------------------------------------------
SMALL="--layers 4 --hidden 32 --heads 4 --intermediate 64 --seq 16 --batch 2 --microbatches 8 --steps 3"
train() { j=$1; n=$2; shift 2; tool "$n" pipa-train $SMALL --json "$T/$j.json" "$@"; }
train one 1
ok=$rc; train dp2 2 --dp 2
[ $ok -eq 0 ] && [ $rc -eq 0 ] && has "dp=2 replicas of the pipeline, 4 microbatches each" out &&
    has "^all-reduce .* ms per step" out && py 'len(j[0]["steps"][1]["reduce_s"]) == 2 and j[0]["summary"]["mean_reduce_s"] > 0 and j[0]["config"]["dp"] == 2' "$T/dp2.json"
check "dp 2 x pp 1 trains; header, all-reduce time in the summary and JSON" $?
train dp2pp2 4 --dp 2 --pp 2
ok=$rc; train dp2zb 4 --dp 2 --pp 2 --schedule zb1
SAME='[s["loss_hex"] for s in j[0]["steps"]] == [s["loss_hex"] for s in j[1]["steps"]] and j[0]["hashes"] == j[1]["hashes"] and j[0]["layer_abs_sums"] == j[1]["layer_abs_sums"]'
[ $ok -eq 0 ] && [ $rc -eq 0 ] && py "$SAME" "$T/dp2.json" "$T/dp2pp2.json" && py "$SAME" "$T/dp2.json" "$T/dp2zb.json"
check "dp 2: pp 1, pp 2 1f1b and pp 2 zb1 bit-identical (losses, hashes, parameter sums)" $?
NEAR='all(rel(a["loss"], b["loss"]) for a, b in zip(j[0]["steps"], j[1]["steps"])) and len(j[0]["steps"]) == 3 and all(rel(a, b) for a, b in zip(j[0]["layer_abs_sums"], j[1]["layer_abs_sums"])) and len(j[0]["layer_abs_sums"]) == 4'
py "$NEAR" "$T/dp2.json" "$T/one.json"
check "dp 2 within 1e-5 of one replica with all 8 microbatches (losses, sums of |w|)" $?
train dp4 4 --dp 4
[ $rc -eq 0 ] && py "$NEAR" "$T/dp4.json" "$T/one.json" && py 'j[0]["hashes"] != j[1]["hashes"]' "$T/dp4.json" "$T/one.json"
check "dp 4 (direct all-reduce) within 1e-5 of one replica" $?
train sgd1 1 --optimizer sgd --lr 0.5
ok=$rc; train sgd2 4 --optimizer sgd --lr 0.5 --dp 2 --pp 2
[ $ok -eq 0 ] && [ $rc -eq 0 ] && py "$NEAR" "$T/sgd2.json" "$T/sgd1.json"
check "SGD: dp 2 x pp 2 within 1e-5 of one replica (the gradient scale is the global batch's)" $?

# ---- 4: checkpoints ----------------------------------------------------------------------------
CK="--layers 4 --hidden 32 --heads 4 --intermediate 64 --seq 16 --batch 2"
tool 4 pipa-train $CK --dp 2 --pp 2 --microbatches 4 --steps 3 --json "$T/straight.json"
ok=$rc
tool 4 pipa-train $CK --dp 2 --pp 2 --microbatches 4 --steps 2 --save "$T/ck"
set="$T/ck/$(cat "$T/ck/latest")"
[ $ok -eq 0 ] && [ $rc -eq 0 ] && [ "$(ls "$set" | wc -l)" -eq 2 ] && [ -s "$set/stage-000.ckpt" ] && [ -s "$set/stage-001.ckpt" ]
check "dp 2 x pp 2 save: one shard per stage (replica 0 writes)" $?
tool 4 pipa-train $CK --dp 2 --pp 2 --microbatches 4 --steps 3 --resume "$T/ck" --json "$T/resumed.json"
[ $rc -eq 0 ] && py 'j[0]["steps"][2]["loss_hex"] == j[1]["steps"][0]["loss_hex"] and j[0]["hashes"] == j[1]["hashes"]' "$T/straight.json" "$T/resumed.json"
check "dp 2 resume: step 3 and every hash bit-identical to the straight run" $?
tool 2 pipa-train $CK --pp 2 --microbatches 2 --steps 3 --resume "$T/ck"
fails pipa-train "records setting 'data-parallel replicas' that this run does not"
check "a dp 2 checkpoint resumed at dp 1 is refused naming the replica count" $?
tool 2 pipa-train $CK --pp 2 --microbatches 2 --steps 2 --save "$T/ck1"
tool 4 pipa-train $CK --dp 2 --pp 2 --microbatches 4 --steps 3 --resume "$T/ck1"
fails pipa-train "lacks setting 'data-parallel replicas' that this run records"
check "a dp 1 checkpoint resumed at dp 2 is refused naming the replica count" $?

# ---- 5: the benchmarks at dp > 1 ---------------------------------------------------------------
# L 2, C 32, I 64, vocab 256: per layer 2*32 + 4*32*32 + 3*32*64 = 10304 floats, each end 8192
# (the final norm 32 more): rank 0's gradients at P = 2 (embedding, layer 0) are 18496 floats,
# at P = 1 (everything) 37024, and with the loss's 8 bytes; at tp 2 the matrices are halves.
BD="--reps 2 --layers 2 --hidden 32 --inter 64 --seq 8 --batch 1 --heads 4"
bench() { j=$1; n=$2; shift 2; tool "$n" pipa-bench "$@" $BD --json "$T/$j.json"; }
rows() {
    python3 - "$T/$1.json" "$2" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
r = {(x.get("schedule"), x["p"], x["m"]): x for x in rows}
sys.exit(0 if rows and eval(sys.argv[2]) else 1)
PY
}
bench tr 4 train --sched 1f1b,zb1 --m 4 --dp 2
ROWS='all(x["dp"] == 2 and x["tp"] == 1 and x["reduce_s"] > 0 and x["reduce_wait_s"] > 0 and x["tokens_per_s"] > 0 for x in rows)'
[ $rc -eq 0 ] && has "^# layout: dp 2 x pp 2 x tp 1 = 4 ranks" out && has "^# dp 2, --dp-overlap on: world rank 0's gradient reductions" out &&
    rows tr "$ROWS"' and len(rows) == 4 and all(x["dp_overlap"] == "on" for x in rows)'
check "pipa-bench train --dp 2 on 4 ranks: layout, reductions in the output and JSON" $?
rows tr 'r[("1f1b", 2, 4)]["dp_bytes"] == 18496 * 4 and r[("1f1b", 1, 4)]["dp_bytes"] == 37024 * 4 + 8 and r[("zb1", 2, 4)]["dp_bytes"] == 18496 * 4'
check "pipa-bench train --dp 2: rank 0's data-group bytes are its gradients once (P = 1: and the loss)" $?
rows tr 'abs(r[("1f1b", 2, 4)]["bubble_theory"] - 1 / 3) < 1e-5 and abs(r[("1f1b", 2, 4)]["ideal_speedup"] - 4 / 3) < 1e-5 and abs(r[("zb1", 2, 4)]["bubble_theory"] - 1 / 7) < 1e-5'
check "pipa-bench train --dp 2 --m 4: every replica runs 2 microbatches (ideal, analytic bubble)" $?
rows tr 'all(abs(x["tokens_per_s"] * x["step_s"] - 4 * 8) < 1e-4 * 32 for x in rows)'
check "pipa-bench train --dp 2 --m 4: tokens/s counts the global batch (4 x B 1 x T 8 per step)" $?
bench troff 4 train --sched 1f1b --m 4 --dp 2 --dp-overlap off
[ $rc -eq 0 ] && has "^# dp 2, --dp-overlap off" out && rows troff "$ROWS"' and len(rows) == 2 and all(x["dp_overlap"] == "off" and x["reduce_wait_s"] == x["reduce_s"] for x in rows)'
check "pipa-bench train --dp-overlap off: all of the reduction is waiting" $? "$(cat "$T/troff.json" "$T/err")"
bench trtp 4 train --sched 1f1b --m 4 --dp 2 --tp 2
[ $rc -eq 0 ] && has "^# layout: dp 2 x pp 1 x tp 2 = 4 ranks" out && rows trtp 'len(rows) == 1 and rows[0]["dp"] == 2 and rows[0]["tp"] == 2 and rows[0]["p"] == 1 and rows[0]["dp_bytes"] == (4096 + 2 * (2 * 32 + 2048 + 3072) + 32 + 4096) * 4 + 8'
check "pipa-bench train --dp 2 --tp 2 on 4 ranks: rank 0's slices reduced" $? "$(cat "$T/trtp.json")"
# tensor_group M: the last run's bytes in rank 0's tensor group per step at P = 1, M
tensor_group() { awk -v m="$1" '/^# tp .*bytes world rank 0 sent/ { t = 1 } /^# dp / { t = 0 } t && $2 == 1 && $3 == m { print $5 }' "$T/out"; }
tg_dp=$(tensor_group 4)
tool 2 pipa-bench train $BD --sched 1f1b --m 2 --tp 2
tg_one=$(tensor_group 2)
[ $rc -eq 0 ] && [ -n "$tg_dp" ] && [ "$tg_dp" -gt 0 ] && [ "$tg_dp" = "$tg_one" ]
check "pipa-bench train --dp 2 --tp 2 --m 4: each replica runs 2 microbatches (tensor-group bytes of tp 2 at --m 2)" $? "$tg_dp vs $tg_one"
bench pv 4 pipeline --m 2,4 --dp 2 --validate
[ $rc -eq 0 ] && has "^# layout: dp 2 x pp 2 x tp 1 = 4 ranks" out &&
    has "^# validate: P=2 output of M=4 (2 replica shares) vs unpipelined: 0 of 1024 floats differ$" out &&
    rows pv 'len(rows) == 4 and all(x["dp"] == 2 and x["tp"] == 1 for x in rows) and abs(r[(None, 2, 4)]["ideal_speedup"] - 4 / 3) < 1e-5'
check "pipa-bench pipeline --dp 2 --validate: every replica's share equals one process's to the bit" $?
bench pv8 8 pipeline --m 2 --dp 2 --tp 2 --validate
[ $rc -eq 0 ] && has "^# layout: dp 2 x pp 2 x tp 2 = 8 ranks" out &&
    has "^# validate: P=2 output of M=2 (2 replica shares) vs unpipelined: 0 of 512 floats differ by more" out
check "pipa-bench pipeline dp 2 x pp 2 x tp 2 on 8 ranks: every replica's share checked" $?

echo "$pass passed, $fail failed"
[ $fail -eq 0 ]
