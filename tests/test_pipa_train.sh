#!/bin/sh
# test_pipa_train.sh: pipa-train through $RUN (pipa-run, or mpirun).
#  1 the loss falls on the default corpus (2 ranks, 1f1b, default model, 40 steps): the last loss
#    is under 0.8 x the first (the first is near ln 256 = 5.55; 20 steps already reach ~2.8)
#  2 resume is bit-identical: 6 steps straight equal 3 steps + --save, then --resume --steps 6
#    (losses of steps 4..6 as exact hex, and every parameter hash); a 2-rank checkpoint resumed
#    on 1 rank, or with --steps below its count or another corpus, fails with a message naming
#    the mismatch; --corpus /dev/zero is refused (not a regular file)
#  3 --print-plan's output fed back with --plan trains to the same bits as the generated plan
#    (zb1, and interleaved with 2 chunks); a plan with one line deleted is refused before any
#    step, naming rank, step and action; a plan for another M is refused
#  4 bad command lines fail with one message from rank 0; --help exits 0; interleaved chunks of
#    unequal size on one rank (5 layers over 4 virtual stages) train
#  5 --kv-heads 2 --tie-embeddings at pp 2: trains, says so; a checkpoint holds the tied weight
#    once (stage 0's shard) and resumes bit-identically; --dp 2 with tied and a --kv-heads not
#    dividing the heads are refused
#   usage: sh tests/test_pipa_train.sh BUILD_DIR
B=${1:-build}
RUN=tests/ranks.sh; export B   # starts ranks over the pass's transport (tests/run.sh)
TRAIN="$B/pipa-train"
pass=0; fail=0
T=$(mktemp -d "${TMPDIR:-/tmp}/pipa-train.XXXXXX") || exit 1
trap 'rm -rf "$T"' EXIT

. "$(dirname "$0")/lib.sh"   # check NAME STATUS [DETAIL]
ERR_TAIL=5
# run N ARGS...: pipa-train on N ranks (small, fast settings unless ARGS say otherwise);
# sets rc, writes $T/out and $T/err
run() {
    n=$1; shift
    ranks 60 "$n" "$TRAIN" "$@"
}
# one message from pipa-train, printed once (pipa-run adds its own lines)
once() { [ "$(grep -c '^pipa-train:' "$T/err")" -eq 1 ] && has "$1" err; }
# progress lines: a step number then the loss
steps_run() { grep -c '^ *[0-9][0-9]* *[0-9.][0-9.]* ' "$T/out"; }

# ---- 1: the loss falls ------------------------------------------------------------------------
run 2 --steps 40 --json "$T/fall.json"
[ $rc -eq 0 ] && [ "$(steps_run)" -eq 40 ] && has "# summary" out &&
    py 'j[0]["steps"][-1]["loss"] < 0.8 * j[0]["steps"][0]["loss"] and len(j[0]["steps"]) == 40' "$T/fall.json"
check "loss falls: 40 steps of 1f1b on 2 ranks, last < 0.8 x first ($(grep '^loss' "$T/out"))" $?
py 'all(len(h) == 16 for h in [j[0]["hashes"]["embed"], j[0]["hashes"]["head"]] + j[0]["hashes"]["layers"]) and len(j[0]["hashes"]["layers"]) == 4 and all(b > 0 for b in j[0]["peak_activation_bytes"]) and j[0]["config"]["tokens_per_step"] == 1024' "$T/fall.json"
check "JSON: hashes of 4 layers, embed and head; peak activation bytes per rank" $?

# ---- 2: resume ------------------------------------------------------------------------------
SMALL="--layers 4 --hidden 32 --intermediate 64 --seq 32 --batch 2"
run 2 $SMALL --steps 6 --json "$T/straight.json"
ok=$rc
run 2 $SMALL --steps 3 --save "$T/ckpt"
set="$T/ckpt/$(cat "$T/ckpt/latest")"
[ $ok -eq 0 ] && [ $rc -eq 0 ] && [ -s "$set/stage-000.ckpt" ] && [ -s "$set/stage-001.ckpt" ]
check "6 steps straight; 3 steps saved (a shard per rank in the set latest names)" $?
run 2 $SMALL --steps 6 --resume "$T/ckpt" --json "$T/resumed.json"
[ $rc -eq 0 ] && [ "$(steps_run)" -eq 3 ] &&
    py '[s["loss_hex"] for s in j[0]["steps"][3:]] == [s["loss_hex"] for s in j[1]["steps"]] and [s["step"] for s in j[1]["steps"]] == [4, 5, 6] and j[0]["hashes"] == j[1]["hashes"]' "$T/straight.json" "$T/resumed.json"
check "resume: steps 4..6 losses and every parameter hash bit-identical to the straight run" $?
run 1 $SMALL --steps 6 --resume "$T/ckpt"
[ $rc -ne 0 ] && once "pipeline stages" && [ "$(steps_run)" -eq 0 ]
check "2-rank checkpoint resumed on 1 rank fails naming the pipeline stages" $?
run 2 $SMALL --steps 6 --resume "$T/ckpt" --microbatches 2
[ $rc -ne 0 ] && once "microbatches = 4, this run has 2"
check "resume with another batch (--microbatches) fails naming it" $?
run 2 $SMALL --steps 6 --resume "$T/ckpt" --lr 0.01
[ $rc -ne 0 ] && once "learning rate"
check "resume with another --lr fails naming it" $?
run 2 $SMALL --steps 2 --resume "$T/ckpt"
[ $rc -ne 0 ] && once "more than --steps 2"
check "resume with --steps below the saved count fails" $?
run 2 $SMALL --steps 6 --resume "$T/none"
[ $rc -ne 0 ] && once "cannot open checkpoint"
check "resume from a missing directory fails" $?
head -c 20000 /usr/share/common-licenses/GPL-3 >"$T/part.txt"
run 2 $SMALL --steps 6 --resume "$T/ckpt" --corpus "$T/part.txt"
[ $rc -ne 0 ] && once "with corpus '/usr/share/common-licenses/GPL-3'" && has "part.txt'" err
check "resume with another --corpus fails naming it" $?
run 2 $SMALL --steps 1 --save "$T/c1" --corpus "$T/part.txt"
printf 'X' | dd of="$T/part.txt" bs=1 seek=100 conv=notrunc 2>/dev/null   # same size and path
run 2 $SMALL --steps 2 --resume "$T/c1" --corpus "$T/part.txt"
[ $rc -ne 0 ] && once "with corpus hash 'fnv1a64:"
check "resume after the corpus changed in place (same path and size) fails naming its hash" $?
run 2 $SMALL --steps 6 --corpus /dev/zero
[ $rc -ne 0 ] && once "corpus /dev/zero is not a regular file"
check "--corpus /dev/zero is refused: not a regular file" $?

# ---- 3: plans -------------------------------------------------------------------------------
for cfg in "zb1" "interleaved --chunks 2" "zbv --chunks 2" "bfs --chunks 2"; do
    name=$(echo "$cfg" | cut -d' ' -f1)
    run 2 $SMALL --schedule $cfg --print-plan
    cp "$T/out" "$T/$name.plan"
    [ $rc -eq 0 ] && has "# pipa plan P=2 M=4" out && has "# peak live per rank" out &&
        has "bubble analytic" out && [ "$(steps_run)" -eq 0 ]
    check "--print-plan $name: plan text, checker's report, no training" $?
    run 2 $SMALL --schedule $cfg --steps 3 --json "$T/gen.json"
    ok=$rc
    cp "$T/gen.json" "$T/$name.json" 2>/dev/null
    run 2 $SMALL --plan "$T/$name.plan" ${cfg#$name} --steps 3 --json "$T/file.json"
    [ $ok -eq 0 ] && [ $rc -eq 0 ] &&
        py '[s["loss_hex"] for s in j[0]["steps"]] == [s["loss_hex"] for s in j[1]["steps"]] and j[0]["hashes"] == j[1]["hashes"]' "$T/gen.json" "$T/file.json"
    check "--plan of the printed $name plan: same losses and hashes as generated" $?
done
# ZB-V (V placement: the head on rank 0) and looped BFS train to the bits of 1F1B.
run 2 $SMALL --schedule 1f1b --steps 3 --json "$T/1f1b.json"
for name in zbv bfs; do
    [ $rc -eq 0 ] && has "place=v" zbv.plan &&
        py '[s["loss_hex"] for s in j[0]["steps"]] == [s["loss_hex"] for s in j[1]["steps"]] and j[0]["hashes"] == j[1]["hashes"]' "$T/1f1b.json" "$T/$name.json"
    check "$name: same losses and hashes as 1f1b" $?
done
grep -n '^rank 1: F ' "$T/zb1.plan" | head -1 | cut -d: -f1 >"$T/line"
sed "$(cat "$T/line")d" "$T/zb1.plan" >"$T/broken.plan"
run 2 $SMALL --plan "$T/broken.plan" --steps 3
[ $rc -ne 0 ] && once "rank 1 step" && has "broken.plan" err && [ "$(steps_run)" -eq 0 ]
check "a plan with one line deleted is refused before training, naming rank and step" $?
run 2 $SMALL --plan "$T/zb1.plan" --microbatches 8
[ $rc -ne 0 ] && once "M=4" && has "M=8" err
check "a plan for another M is refused" $?

# ---- 4: bad command lines -------------------------------------------------------------------
run 2 --schedule foo
[ $rc -ne 0 ] && once "unknown schedule 'foo'"
check "--schedule foo fails with a message" $?
run 2 --chunks 2
[ $rc -ne 0 ] && once "chunks 2 needs --schedule interleaved"
check "--chunks 2 with 1f1b fails with a message" $?
run 4 --layers 2
[ $rc -ne 0 ] && once "2 layers cannot fill 4 virtual stages"
check "more stages than layers fails with a message" $?
run 2 --schedule interleaved --layers 3
[ $rc -ne 0 ] && once "3 layers cannot fill 4 virtual stages"
check "more virtual stages (P x V) than layers fails with a message" $?
run 2 --schedule interleaved --layers 5 --steps 2
[ $rc -eq 0 ]
check "interleaved with unequal chunks on a rank (split 2,1,1,1) trains" $?
run 2 --corpus "$T/no-such-file"
[ $rc -ne 0 ] && once "cannot open corpus"
check "a missing corpus fails with a message" $?
run 2 --pp 3
[ $rc -ne 0 ] && once "pp 3"
check "--pp not the world size fails with a message" $?
run 1 --steps 0
[ $rc -ne 0 ] && once "positive integer"
check "--steps 0 fails with a message" $?
run 2 --lr
[ $rc -ne 0 ] && once "needs a value"
check "an option without its value fails with a message" $?
run 2 --steps 2 --schedule zb1 --trace "$T/trace.json" --timeline "$T/timeline.svg"
[ $rc -eq 0 ] && has "timeline   last step" out && python3 -c '
import json, sys, xml.etree.ElementTree as ET
ET.parse(sys.argv[2])
ev = [e for e in json.load(open(sys.argv[1]))["traceEvents"] if e["ph"] == "X"]
assert {e["pid"] for e in ev} == {0, 1} and {e["tid"] for e in ev} == {0, 1}, ev[:2]' \
    "$T/trace.json" "$T/timeline.svg"
check "--trace and --timeline: measured and simulated timelines of the last step" $?
run 2 --help
[ $rc -eq 0 ] && [ "$(grep -c 'usage:' "$T/out")" -eq 1 ] && has "--resume" out
check "--help exits 0, printed once" $?
run 1 --steps 1 --force-cpu
[ $rc -eq 0 ] && has "^device     cpu (--force-cpu: pipa runs on the CPU in this build" out
check "--force-cpu accepted, and the header says what it means here" $?

# ---- 5: grouped-query attention and tied embeddings (issue 11) -----------------------------------
TIE="$SMALL --kv-heads 2 --tie-embeddings"
run 2 $TIE --steps 4 --json "$T/tied.json"
ok=$rc
[ $ok -eq 0 ] && has "^attention  2 key/value heads (grouped-query: 2 query heads each); tied LM head" out &&
    run 2 --help && has "--kv-heads N" out && has "--tie-embeddings" out
check "--kv-heads and --tie-embeddings train at pp 2; the header and --help say so" $?
run 2 $TIE --steps 2 --save "$T/tck"
set="$T/tck/$(cat "$T/tck/latest")"
[ $rc -eq 0 ] && [ "$(grep -ac 'model.embed_tokens.weight' "$set/stage-000.ckpt")" -ge 1 ] &&
    [ "$(grep -ac 'model.embed_tokens.weight' "$set/stage-001.ckpt")" -eq 0 ]
check "tied at pp 2: the embedding saved once (the first stage's shard), not the last's copy" $?
run 2 $TIE --steps 4 --resume "$T/tck" --json "$T/tresumed.json"
[ $rc -eq 0 ] && py '[s["loss_hex"] for s in j[0]["steps"][2:]] == [s["loss_hex"] for s in j[1]["steps"]] and j[0]["hashes"] == j[1]["hashes"]' "$T/tied.json" "$T/tresumed.json"
check "tied at pp 2: resume bit-identical (the last stage's copy comes from the first's shard)" $?
run 2 $TIE --steps 2 --dp 2
[ $rc -ne 0 ] && once "tied embeddings (--tie-embeddings) train with one data-parallel replica"
check "tied embeddings with --dp 2 are refused with a message" $?
run 2 $SMALL --kv-heads 3
[ $rc -ne 0 ] && once "NKV (key/value heads, 3) must divide NH (heads, 4)"
check "--kv-heads not dividing the heads is refused naming both" $?

echo "$pass passed, $fail failed"
[ $fail -eq 0 ]
