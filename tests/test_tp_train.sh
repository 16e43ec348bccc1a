#!/bin/sh
# test_tp_train.sh: tensor parallelism in the runtime through pipa-train (issue 8, sections 2
# and 5), a small model (vocabulary 256, 4 heads, 4 layers), 4 microbatches, 3 steps, on a corpus
# of every byte value:
#  1 refusals before anything runs: a --tp-send that is not slice or whole, --tp-send without
#    --tp, a vocabulary that does not divide among the tensor ranks (naming --tp)
#  2 --print-tensors prints every (stage, tensor rank)'s table of slices
#  3 tp 2 and tp 4, at pp 1 and pp 2, within 1e-5 relative of the one-process run (losses,
#    per-layer sums of |w|), with AdamW and with SGD --lr 0.5 (its update is proportional to the
#    gradient: a gradient summed twice in the tensor group would show); header and JSON say tp
#  4 at tp 2: pp 1, pp 2 1f1b, pp 2 zb1 and pp 2 interleaved bit-identical (losses, hashes,
#    sums), and tp 4 at pp 1 and pp 2
#  5 --tp-send whole gives the bits of slice, and slice sends 1/tp of whole's bytes between
#    stages; both count bytes inside the tensor group
#  6 tp 2 x dp 2 x pp 2 on 8 ranks within 1e-5 of the one-process run
#  7 checkpoints at tp 2 x pp 2: one shard per (stage, tensor rank), a resume gives the straight
#    run's bits; a resume at tp 1 or tp 4, or of a tp 1 checkpoint at tp 2, is refused naming the
#    tensor-parallel size
#  8 pipa-bench pipeline --tp 2 --validate (forward-only plans at tp 2) within 1e-5 of the
#    unpipelined forward; pipa-bench train --tp 2 sends half the bytes between stages with slice
#  9 --kv-heads 2 (grouped-query) at tp 2 within 1e-5 of one process, pp 2 bit-identical, tp 4
#    refused naming the key/value heads; --tie-embeddings at tp 2 within 1e-5 of one process and
#    at tp 2 x pp 2 bit-identical to tp 2 x pp 1
#   usage: sh tests/test_tp_train.sh BUILD_DIR
B=${1:-build}
RUN=tests/ranks.sh; export B   # starts ranks over the pass's transport (tests/run.sh)
pass=0; fail=0
T=$(mktemp -d "${TMPDIR:-/tmp}/pipa-tp.XXXXXX") || exit 1
trap 'rm -rf "$T"' EXIT

. "$(dirname "$0")/lib.sh"   # check NAME STATUS [DETAIL]
ERR_TAIL=5
# tool N ARGS...: pipa-train on N ranks (8 ranks oversubscribe 2 cores: a generous limit)
tool() {
    n=$1; shift
    ranks 240 "$n" "$B/pipa-train" "$@"
}
# fails TEXT: exit non-zero, one message with TEXT, no step ran
fails() {
    [ $rc -ne 0 ] && [ "$(grep -c "^pipa-train:" "$T/err")" -eq 1 ] && has "$1" err &&
        ! grep -q '^ *[0-9][0-9]* *[0-9.][0-9.]* ' "$T/out"
}
# A corpus of every byte value: with English text alone the upper half of the vocabulary (bytes
# 128..255, tensor rank 1's rows at tp 2) would never be a token, and a tensor rank's rows taken
# for another's would not show.
python3 -c "import random; r = random.Random(5); open('$T/bytes.txt', 'wb').write(bytes(r.randrange(256) for _ in range(20000)))"
SMALL="--layers 4 --hidden 32 --heads 4 --intermediate 64 --seq 16 --batch 2 --microbatches 4 --steps 3 --corpus $T/bytes.txt"
train() { j=$1; n=$2; shift 2; tool "$n" $SMALL --json "$T/$j.json" "$@"; }
NEAR='all(rel(a["loss"], b["loss"]) for a, b in zip(j[0]["steps"], j[1]["steps"])) and len(j[0]["steps"]) == 3 and all(rel(a, b) for a, b in zip(j[0]["layer_abs_sums"], j[1]["layer_abs_sums"])) and len(j[0]["layer_abs_sums"]) == 4'
SAME='[s["loss_hex"] for s in j[0]["steps"]] == [s["loss_hex"] for s in j[1]["steps"]] and j[0]["hashes"] == j[1]["hashes"] and j[0]["layer_abs_sums"] == j[1]["layer_abs_sums"]'

# ---- 1: refusals -------------------------------------------------------------------------------
tool 2 $SMALL --tp 2 --tp-send half
fails "--tp-send 'half': slice or whole"
check "a bad --tp-send is refused" $?
tool 2 $SMALL --pp 2 --tp-send whole
fails "--tp-send applies with --tp 2 or more"
check "--tp-send without --tp is refused" $?
tool 3 $SMALL --tp 3 --heads 6 --hidden 48 --intermediate 96
fails "--tp 3 (tensor-parallel size): the vocabulary of 256 does not divide among 3 tensor ranks"
check "a vocabulary not divisible by --tp is refused naming --tp" $?

# ---- 2: the tables -----------------------------------------------------------------------------
tool 4 $SMALL --tp 2 --pp 2 --print-tensors
[ $rc -eq 0 ] && [ "$(grep -c '^# stage [01] tensor rank [01] (rank [0-3]): ' "$T/out")" -eq 4 ] &&
    has '^# stage 1 tensor rank 1 (rank 3): ' out &&
    grep 'lm_head.weight' "$T/out" | grep -q 'slice \[128:256, 0:32\] of (256, 32)' &&
    grep 'model.layers.0.self_attn.q_proj.weight' "$T/out" | grep -q 'slice \[16:32, 0:32\] of (32, 32)'
check "--print-tensors at tp 2 x pp 2: every (stage, tensor rank)'s slices" $?

# ---- 3: against the one-process run --------------------------------------------------------------
train one 1
ok=$rc; train tp2 2 --tp 2
[ $ok -eq 0 ] && [ $rc -eq 0 ] && has "layout dp=1 x pp=1 x tp=2" out && has "its 1/tp share" out &&
    has "^tensor .* ms and .* sent per step" out &&
    py 'j[0]["config"]["tp"] == 2 and j[0]["config"]["tp_send"] == "slice" and all(len(s["tp_bytes"]) == 2 and min(s["tp_bytes"]) > 0 and min(s["tp_s"]) > 0 for s in j[0]["steps"]) and j[0]["summary"]["mean_tp_bytes"] > 0' "$T/tp2.json" &&
    py "$NEAR" "$T/tp2.json" "$T/one.json" && py 'j[0]["hashes"] != j[1]["hashes"]' "$T/tp2.json" "$T/one.json"
check "tp 2 within 1e-5 of one process (AdamW); header, tp bytes and seconds in the JSON" $?
train tp2pp2 4 --tp 2 --pp 2
[ $rc -eq 0 ] && py "$NEAR" "$T/tp2pp2.json" "$T/one.json"
check "tp 2 x pp 2 within 1e-5 of one process (AdamW)" $?
train tp4 4 --tp 4
[ $rc -eq 0 ] && py "$NEAR" "$T/tp4.json" "$T/one.json"
check "tp 4 within 1e-5 of one process (AdamW)" $?
train tp4pp2 8 --tp 4 --pp 2
[ $rc -eq 0 ] && py "$NEAR" "$T/tp4pp2.json" "$T/one.json"
check "tp 4 x pp 2 (8 ranks) within 1e-5 of one process (AdamW)" $?
SGD="--optimizer sgd --lr 0.5"
train sgd1 1 $SGD
ok=$rc; train sgd2 2 $SGD --tp 2
[ $ok -eq 0 ] && [ $rc -eq 0 ] && py "$NEAR" "$T/sgd2.json" "$T/sgd1.json"
check "SGD: tp 2 within 1e-5 of one process" $?
for lay in "4 --tp 2 --pp 2" "4 --tp 4" "8 --tp 4 --pp 2"; do
    train sgd "${lay%% *}" $SGD ${lay#* }
    [ $rc -eq 0 ] && py "$NEAR" "$T/sgd.json" "$T/sgd1.json"
    check "SGD: ${lay#* } within 1e-5 of one process" $?
done

# ---- 4: every pp and schedule, the same bits -------------------------------------------------------
train tp2zb 4 --tp 2 --pp 2 --schedule zb1
ok=$rc; train tp2il 4 --tp 2 --pp 2 --schedule interleaved
[ $ok -eq 0 ] && [ $rc -eq 0 ] && py "$SAME" "$T/tp2.json" "$T/tp2pp2.json" &&
    py "$SAME" "$T/tp2.json" "$T/tp2zb.json" && py "$SAME" "$T/tp2.json" "$T/tp2il.json"
check "tp 2: pp 1, pp 2 1f1b, zb1 and interleaved bit-identical (losses, hashes, sums)" $?
py "$SAME" "$T/tp4.json" "$T/tp4pp2.json"
check "tp 4: pp 1 and pp 2 bit-identical" $?

# ---- 5: slice and whole ------------------------------------------------------------------------
train tp2w 4 --tp 2 --pp 2 --tp-send whole
[ $rc -eq 0 ] && has "the whole activation (--tp-send whole)" out && py "$SAME" "$T/tp2pp2.json" "$T/tp2w.json" &&
    py 'j[1]["config"]["tp_send"] == "whole" and all(2 * a == b and a > 0 for x, y in zip(j[0]["steps"], j[1]["steps"]) for a, b in zip(x["bytes_sent"], y["bytes_sent"])) and min(j[1]["steps"][0]["tp_bytes"]) > 0' "$T/tp2pp2.json" "$T/tp2w.json"
check "tp 2 x pp 2: whole gives slice's bits; slice sends half of whole's bytes between stages" $?

# ---- 6: with data parallelism --------------------------------------------------------------------
train tdp 8 --tp 2 --dp 2 --pp 2
[ $rc -eq 0 ] && py "$NEAR" "$T/tdp.json" "$T/one.json"
check "tp 2 x dp 2 x pp 2 (8 ranks) within 1e-5 of one process" $?

# ---- 7: checkpoints ------------------------------------------------------------------------------
CK="--layers 4 --hidden 32 --heads 4 --intermediate 64 --seq 16 --batch 2 --microbatches 4 --corpus $T/bytes.txt"
tool 4 $CK --tp 2 --pp 2 --steps 2 --save "$T/ck"
set="$T/ck/$(cat "$T/ck/latest")"
[ $rc -eq 0 ] && [ "$(ls "$set" | wc -l)" -eq 4 ] && [ -s "$set/stage-003.ckpt" ]
check "tp 2 x pp 2 save: one shard per (stage, tensor rank)" $?
tool 4 $CK --tp 2 --pp 2 --steps 3 --resume "$T/ck" --json "$T/resumed.json"
[ $rc -eq 0 ] && py 'j[0]["steps"][2]["loss_hex"] == j[1]["steps"][0]["loss_hex"] and j[0]["hashes"] == j[1]["hashes"]' "$T/tp2pp2.json" "$T/resumed.json"
check "tp 2 resume: step 3 and every hash bit-identical to the straight run" $?
tool 2 $CK --pp 2 --steps 3 --resume "$T/ck"
fails "records setting 'tensor-parallel size' that this run does not"
check "a tp 2 checkpoint resumed at tp 1 is refused naming the tensor-parallel size" $?
tool 8 $CK --tp 4 --pp 2 --steps 3 --resume "$T/ck"
fails "was saved with tensor-parallel size = 2, this run has 4"
check "a tp 2 checkpoint resumed at tp 4 is refused naming the tensor-parallel size" $?
tool 2 $CK --pp 2 --steps 2 --save "$T/ck1"
tool 4 $CK --tp 2 --pp 2 --steps 3 --resume "$T/ck1"
fails "lacks setting 'tensor-parallel size' that this run records"
check "a tp 1 checkpoint resumed at tp 2 is refused naming the tensor-parallel size" $?

# ---- 8: the benchmarks -------------------------------------------------------------------------
# bench N ARGS...: pipa-bench on N ranks
bench() { n=$1; shift; timeout -k 5 240 "$RUN" -n "$n" "$B/pipa-bench" "$@" >"$T/out" 2>"$T/err"; rc=$?; }
BS="--m 4 --reps 1 --warmup 1 --layers 4 --hidden 32 --heads 4 --inter 64 --batch 2 --seq 16"
bench 4 pipeline $BS --tp 2 --validate
[ $rc -eq 0 ] && has "^# tp 2: every stage is 2 tensor ranks" out &&
    has "validate: P=2 output of M=4 vs unpipelined: 0 of 4096 floats differ by more than 1e-5" out
check "pipa-bench pipeline --tp 2 (forward-only plans at tp 2) within 1e-5 of the unpipelined forward" $?
bench 4 train $BS --sched 1f1b --tp 2
ok=$rc; cp "$T/out" "$T/slice.out"
bench 4 train $BS --sched 1f1b --tp 2 --tp-send whole
# the bytes table's P = 2 row: between stages, tensor group
row() { grep '^  1f1b  *2  *4  *[0-9]*  *[0-9]*$' "$1" | awk '{print $4}'; }
[ $ok -eq 0 ] && [ $rc -eq 0 ] && s=$(row "$T/slice.out") && w=$(row "$T/out") && [ -n "$s" ] &&
    [ "$s" -gt 0 ] && [ $((2 * s)) -eq "$w" ]
check "pipa-bench train --tp 2: slice sends half of whole's bytes between stages" $? "slice $s whole $w"
bench 2 train $BS --tp-send whole
[ $rc -ne 0 ] && has "tp-send 'whole': slice or whole, with --tp 2 or more" err
check "pipa-bench train refuses --tp-send without --tp" $?

# ---- 9: grouped-query attention and tied embeddings (issue 11) -----------------------------------
GQA="--kv-heads 2"
train gqa1 1 $GQA
ok=$rc; train gqa2 2 $GQA --tp 2
[ $ok -eq 0 ] && [ $rc -eq 0 ] && py "$NEAR" "$T/gqa2.json" "$T/gqa1.json" &&
    py 'j[0]["config"]["kv_heads"] == 2 and j[0]["hashes"] != j[1]["hashes"]' "$T/gqa1.json" "$T/one.json"
check "--kv-heads 2: tp 2 within 1e-5 of one process (a rank: 1 key/value head, its 2 query heads)" $?
train gqa2pp 4 $GQA --tp 2 --pp 2 --schedule zb1
[ $rc -eq 0 ] && py "$SAME" "$T/gqa2.json" "$T/gqa2pp.json"
check "--kv-heads 2: tp 2 x pp 2 zb1 bit-identical to tp 2 x pp 1" $?
tool 4 $SMALL $GQA --tp 4
fails "--tp 4: the 2 key/value heads (--kv-heads) do not divide among 4 tensor ranks"
check "--kv-heads 2 at --tp 4 is refused naming the key/value heads" $?
train tie1 1 --tie-embeddings
ok=$rc; train tie2 2 --tie-embeddings --tp 2
[ $ok -eq 0 ] && [ $rc -eq 0 ] && py "$NEAR" "$T/tie2.json" "$T/tie1.json" &&
    py 'j[0]["config"]["tie_embeddings"] == 1 and j[0]["config"]["parameters"] + 256 * 32 == j[1]["config"]["parameters"]' "$T/tie1.json" "$T/one.json"
check "--tie-embeddings: tp 2 within 1e-5 of one process; one embedding fewer parameters" $?
train tie22 4 --tie-embeddings --tp 2 --pp 2 --schedule zb1
[ $rc -eq 0 ] && py "$SAME" "$T/tie2.json" "$T/tie22.json"
check "--tie-embeddings: tp 2 x pp 2 zb1 bit-identical to tp 2 x pp 1 (each tensor rank's copies)" $?
echo "$pass passed, $fail failed"
[ $fail -eq 0 ]
