#!/bin/sh
# test_demo.sh: pipa-demo through $RUN on 1 to 4 ranks: exits 0, the pipelined output is
# bit-identical to one process (printed and in the JSON), the JSON parses and holds the right
# figures (parameter counts against the closed form L*(2C + 4C^2 + 3CI), transfer counts
# M*(P-1), the split; demo 5: every schedule's loss bit-identical, a record per schedule, GPipe
# holding M activations on rank 0 and 1F1B at most P), each demo runs alone, and bad command lines (more stages than layers,
# a split not summing to L, --pp not the world size, unknown options) fail with a message.
#   usage: sh tests/test_demo.sh BUILD_DIR
B=${1:-build}
RUN=tests/ranks.sh; export B   # starts ranks over the pass's transport (tests/run.sh)
DEMO="$B/pipa-demo"
pass=0; fail=0
T=$(mktemp -d "${TMPDIR:-/tmp}/pipa-demo.XXXXXX") || exit 1
trap 'rm -rf "$T"' EXIT

. "$(dirname "$0")/lib.sh"   # check NAME STATUS [DETAIL], jchecks NAME EXPR ...
ERR_TAIL=5
# run N ARGS...: pipa-demo on N ranks; sets rc, writes $T/out and $T/err
run() {
    n=$1; shift
    ranks 60 "$n" "$DEMO" "$@"
}
count() { grep -c -- "$1" "$T/$2"; }
params() { echo $(($1 * (2 * $2 + 4 * $2 * $2 + 3 * $2 * $3))); }  # params L C I

# ---- every demo on 1..4 ranks, default sizes ------------------------------------------------
whole=$(params 8 512 2048)
for n in 1 2 3 4; do
    rm -f "$T/j.json"
    run $n --json "$T/j.json"
    check "world $n: exit 0" $rc "rc=$rc"
    [ "$(count 'max |diff| vs one process: 0 (bit-identical)' out)" -eq 2 ]
    check "world $n: demos 1 and 2 print bit-identical" $?
    has 'loss bit-identical across schedules and ranks, every step (4 steps): yes' out
    check "world $n: demo 5 prints the loss bit-identical across schedules" $?
    jchecks \
        "world $n: JSON has header, demo1..demo5, ok, and not demo6 (only when asked)" \
        "all(k in d for k in ('header', 'demo1', 'demo2', 'demo3', 'demo4', 'demo5')) and 'demo6' not in d and d['ok']" \
        "world $n: header world, pp, device" \
        "d['header']['world'] == $n and d['header']['pp'] == $n and d['header']['device'].startswith('cpu')" \
        "world $n: max_abs_diff 0 in demos 1 and 2" \
        "d['demo1']['bit_identical'] and d['demo1']['max_abs_diff'] == 0 and d['demo2']['max_abs_diff'] == 0 and d['demo2']['values_differing'] == 0" \
        "world $n: demo1 ranks, their layers, the ends" \
        "[r['rank'] for r in d['demo1']['ranks']] == list(range($n)) and sum(len(r['layers']) for r in d['demo1']['ranks']) == 4 and d['demo1']['ranks'][-1]['send_shape'] is None and d['demo1']['ranks'][0]['prev'] is None and d['demo1']['ranks'][-1]['is_last']" \
        "world $n: output shapes" \
        "d['demo1']['output_shape'] == [2, 10, 128] and len(d['demo2']['microbatch_outputs']) == 4 and d['demo2']['output_shape'] == [4, 2, 10, 128]" \
        "world $n: demo3 params = L*(2C+4C^2+3CI) = $whole, summed over ranks too" \
        "d['demo3']['whole_model']['params'] == $whole and sum(r['params'] for r in d['demo3']['ranks']) == $whole and d['demo3']['whole_model']['fp32_bytes'] == 4 * $whole" \
        "world $n: demo3 RSS measured (peak > base > 0)" \
        "all(r['peak_rss_kb'] > r['base_rss_kb'] > 0 for r in d['demo3']['ranks'] + [d['demo3']['whole_model']])" \
        "world $n: demo4 sweeps M = 1..16 with M*(P-1) transfers" \
        "[r['microbatches'] for r in d['demo4']['runs']] == [1, 2, 4, 8, 16] and all(r['transfers'] == r['microbatches'] * ($n - 1) and r['makespan_s'] > 0 and r['one_stage_s'] > 0 and len(r['stages']) == $n for r in d['demo4']['runs'])" \
        "world $n: demo4 theory (P-1)/(M+P-1)" \
        "abs(d['demo4']['runs'][0]['bubble_theory'] - ($n - 1) / $n) < 1e-12" \
        "world $n: demo5 one record per schedule, interleaved skipped only on 1 rank" \
        "[s['schedule'] for s in d['demo5']['schedules']] == ['gpipe', '1f1b', 'interleaved', 'zb1'] and [s['skipped'] for s in d['demo5']['schedules']] == [False, False, $n == 1, False] and all(len(s['ranks']) == $n and s['step_s'] > 0 and 0 <= s['bubble_simulated'] < 1 for s in d['demo5']['schedules'] if not s['skipped'])" \
        "world $n: demo5 loss identical across schedules (JSON, to the bit)" \
        "d['demo5']['loss_identical'] and len(set((s['loss_hex'], tuple(s['losses'])) for s in d['demo5']['schedules'] if not s['skipped'])) == 1" \
        "world $n: demo5 gpipe peak live == M on rank 0, 1f1b <= P on every rank" \
        "d['demo5']['schedules'][0]['ranks'][0]['peak_live'] == 8 and all(r['peak_live'] <= $n for r in d['demo5']['schedules'][1]['ranks'])"
done

# ---- each demo alone, with the user's sizes ---------------------------------------------------
for k in 5 1 2 3 4; do
    rm -f "$T/j.json"
    run 2 --demo $k --layers 4 --hidden 64 --heads 2 --intermediate 96 --microbatches 3 --json "$T/j.json"
    check "--demo $k alone: exit 0" $rc "rc=$rc"
    jchecks "--demo $k alone: only its key, options applied" \
        "sorted(d) == ['demo$k', 'header', 'ok'] and d['demo$k']['config']['hidden'] == 64 and d['demo$k']['config']['microbatches'] == 3"
done
jchecks "--demo 4 --microbatches 3 sweeps M = 1, 2, 3" \
    "[r['microbatches'] for r in d['demo4']['runs']] == [1, 2, 3]"
run 2 --demo 3 --layers 4 --hidden 64 --heads 2 --intermediate 96 --json "$T/j.json"
jchecks "--demo 3 params follow --layers/--hidden/--intermediate" \
    "d['demo3']['whole_model']['params'] == $(params 4 64 96)"

# ---- splits and bad command lines ------------------------------------------------------------
run 2 --demo 1 --split 3,1 --json "$T/j.json"
check "--split 3,1 on 2 ranks: exit 0" $rc "rc=$rc"
jchecks "--split 3,1: layers 0-2 and 3, bit-identical" \
    "[r['layers'] for r in d['demo1']['ranks']] == [[0, 1, 2], [3]] and d['demo1']['bit_identical']"
run 2 --split 3,1 --layers 4
check "--split 3,1 --layers 4 (all demos): exit 0" $rc "rc=$rc"
run 2 --demo 1 --split 2,1
[ $rc -ne 0 ] && has "sums to 3" err
check "--split 2,1 with 4 layers fails with a message" $?
run 5
[ $rc -ne 0 ] && has "more stages (5) than layers (4)" err
check "5 ranks, 4 layers: fails with a message" $?
run 2 --pp 3
[ $rc -ne 0 ] && has "pp 3" err
check "--pp 3 on 2 ranks fails with a message" $?
run 2 --bogus
[ $rc -ne 0 ] && has "unknown option" err
check "unknown option fails with a message" $?
run 1 --layers abc
[ $rc -ne 0 ] && has "positive integer" err
check "--layers abc fails with a message" $?
run 1 --demo 7
[ $rc -ne 0 ] && has "demo must be" err
check "--demo 7 fails with a message" $?
run 1 --hidden 100 --heads 3 --demo 1
[ $rc -ne 0 ] && [ -s "$T/err" ]
check "hidden not divisible by heads fails with a message" $?
run 2 --help
[ $rc -eq 0 ] && has "usage:" out && [ "$(count 'usage:' out)" -eq 1 ]
check "--help exits 0, printed once" $?
run 2 --demo 1 --force-cpu
[ $rc -eq 0 ] && has "cpu (--force-cpu: pipa runs on the CPU in this build" out
check "--force-cpu in the header" $?

echo "$pass passed, $fail failed"
[ $fail -eq 0 ]
