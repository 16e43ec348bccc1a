#!/bin/sh
# test_demo6.sh: pipa-demo's demo 6 (pipeline, tensor and data parallelism side by side) through
# $RUN: on 8 ranks it exits 0, prints the grid of 2 stages x 4 tensor ranks rank by rank,
# every layout's loss is within 1e-5 relative of the one-process run (pp = 8: the same bits;
# 1/tp shares or whole activations between stages: the same bits), the bytes obey closed forms
# derived here, and the oversubscription note appears exactly when the ranks outnumber the cpus.
# Other worlds pick their own layouts and say why one does not fit; bad layouts fail before
# anything runs.
# Closed forms (A = B*T*C floats of one activation, N = B*T tokens, R tensor ranks, P stages):
#   between stages  2 (P-1) M messages per pipeline and tensor rank, of A/R floats (shares) or A
#                   (whole); each rank's bytes = its messages x their size
#   tensor groups   an all-reduce of n floats sends 2 (R-1) n floats over the group (ring and
#                   direct alike), an all-gather of shares (R-1) A; per microbatch the model
#                   all-reduces A (embedding), 4 A per layer (after o and down, forward and
#                   backward), N (the maxima) + 2N (the sums) + A (the head's input gradient),
#                   and all-gathers 2 (P-1) shares
#   data groups     D (D-1) x the rank's gradient bytes (overlapped reductions: each member sends
#                   its gradients to every other) + 2 (D-1) x the loss's 8 bytes (direct)
#   memory          weights by the tensor table (a tensor rank: 1/R of q k v o gate up down and
#                   of the vocabulary rows, the norms whole), gradients the same, AdamW twice
#   usage: sh tests/test_demo6.sh BUILD_DIR
B=${1:-build}
RUN=tests/ranks.sh; export B   # starts ranks over the pass's transport (tests/run.sh)
DEMO="$B/pipa-demo"
pass=0; fail=0
T=$(mktemp -d "${TMPDIR:-/tmp}/pipa-demo6.XXXXXX") || exit 1
trap 'rm -rf "$T"' EXIT

. "$(dirname "$0")/lib.sh"   # check NAME STATUS [DETAIL], jchecks NAME EXPR ...
ERR_TAIL=5
# run N ARGS...: pipa-demo --demo 6 on N ranks; sets rc, writes $T/out and $T/err
run() {
    n=$1; shift
    ranks 240 "$n" "$DEMO" --demo 6 "$@"
}
has() { grep -q -F -- "$1" "$T/$2"; }
# The layouts by their run name (one_process, part1, pp, tp, dp) as R[...] in the checks.
JPRE='R = {x["run"]: x for x in d["demo6"]["layouts"]}'
export JPRE

# The default model of demo 6 and its closed forms.
L=8 C=128 I=512 V=256 Bt=2 Tt=16 M=8
whole=$((L * (2 * C + 4 * C * C + 3 * C * I) + 2 * V * C + C))   # layers, embedding + head, norm
A=$((Bt * Tt * C)) N=$((Bt * Tt))
share=$((A * 4))                                                   # one activation, bytes
# tensor bytes of a step: tpb R P (dp 1)
tpb() { echo $((M * 4 * ($1 - 1) * (2 * ((4 * L + 2) * A + 3 * N) + 2 * ($2 - 1) * A))); }
# the tensor bytes without the all-gathers (whole activations between stages): tpw R
tpw() { echo $((M * 4 * ($1 - 1) * 2 * ((4 * L + 2) * A + 3 * N))); }
# part 1's weights per rank (R = 4, 4 layers a stage): stage 0 with its embedding rows, stage 1
# with its head rows and the final norm
w4=$((4 * (2 * C + (4 * C * C + 3 * C * I) / 4) + V / 4 * C))
cpus=$(getconf _NPROCESSORS_ONLN)

# ---- 8 ranks ---------------------------------------------------------------------------------
rm -f "$T/j.json"
run 8 --json "$T/j.json"
check "8 ranks: exit 0" $rc "rc=$rc"
ok=0
for r in 0 1 2 3 4 5 6 7; do
    p=$((r / 4)) t=$((r % 4))
    line="rank   $r  (pp $p, dp 0, tp $t)  pp [$t $((t + 4))]  dp [$r]  tp [$((4 * p)) $((4 * p + 1)) $((4 * p + 2)) $((4 * p + 3))]"
    has "$line" out || { ok=1; echo "      | missing grid line: $line"; }
done
check "8 ranks: the grid of dp 1 x pp 2 x tp 4, rank by rank (coordinates, groups)" $ok
has "part 1: 8 ranks as dp 1 x pp 2 x tp 4" out
check "8 ranks: part 1 is 2 stages x 4 tensor ranks" $?
if [ "$cpus" -lt 8 ]; then
    has "8 ranks share $cpus online cpus: the step times, busy times and bubbles below" out &&
        has "include waiting for a core" out
    check "8 ranks on $cpus cpus: the timings are said to include waiting for a core" $?
else
    ! has "waiting for a core" out
    check "8 ranks on $cpus cpus: no oversubscription note" $?
fi
has "every layout within 1e-05 relative of one process, every step: yes" out
check "8 ranks: every layout within 1e-5 of one process (printed)" $?
jchecks \
    "JSON: demo6 with its six runs in order" \
    "[x['run'] for x in d['demo6']['layouts']] == ['one_process', 'part1', 'part1_whole', 'pp', 'tp', 'dp'] and d['ok'] and d['demo6']['within_tolerance']" \
    "JSON: oversubscribed iff cpus < 8" \
    "d['demo6']['oversubscribed'] == ($cpus < 8) and d['demo6']['cpus'] == $cpus" \
    "every layout that ran: loss within 1e-5 relative of one process, every step, all ranks agree" \
    "all(x['loss_max_rel_diff'] <= 1e-5 and x['ranks_agree'] and len(x['losses']) == 4 for x in R.values() if not x['skipped'])" \
    "the one process ran on rank 0 alone; every other layout ran on 8" \
    "R['one_process']['world'] == 1 and len(R['one_process']['ranks']) == 1 and all(not x['skipped'] and len(x['ranks']) == 8 for k, x in R.items() if k != 'one_process')" \
    "part 1: 2 x 4, every rank's (pp, dp, tp) and layers" \
    "d['demo6']['part1_layout'] == {'pp': 2, 'tp': 4, 'dp': 1} and [(r['pp'], r['dp'], r['tp'], r['first_layer'], r['n_layers']) for r in R['part1']['ranks']] == [(q // 4, 0, q % 4, 4 * (q // 4), 4) for q in range(8)]" \
    "part 1: weights per rank by the table (1/4 slices, norms whole): $((4 * w4)) / $((4 * (w4 + C))) bytes; gradients the same, AdamW twice" \
    "[r['weight_bytes'] for r in R['part1']['ranks']] == [4 * $w4] * 4 + [4 * ($w4 + $C)] * 4 and all(r['grad_bytes'] == r['weight_bytes'] and r['optimizer_bytes'] == 2 * r['weight_bytes'] for r in R['part1']['ranks'])" \
    "part 1: stage bytes = 2 (P-1) M R messages of A/R = $((A / 4)) floats = $((2 * M * 4 * share / 4)); each rank its messages x $((share / 4))" \
    "R['part1']['sends'] == 2 * $M * 4 and R['part1']['stage_bytes'] == 2 * $M * $share and all(r['stage_bytes'] == r['sends'] * r['share_bytes'] and r['share_bytes'] == $share // 4 for r in R['part1']['ranks'])" \
    "part 1 whole: the same messages of A floats, 4 x the stage bytes, the same loss bits" \
    "R['part1_whole']['sends'] == R['part1']['sends'] and R['part1_whole']['stage_bytes'] == 4 * R['part1']['stage_bytes'] and R['part1_whole']['losses'] == R['part1']['losses'] and R['part1_whole']['loss_hex'] == R['part1']['loss_hex']" \
    "part 1: tensor bytes = $(tpb 4 2) (with the all-gathers), whole: $(tpw 4)" \
    "R['part1']['tensor_bytes'] == $(tpb 4 2) and R['part1_whole']['tensor_bytes'] == $(tpw 4)" \
    "part 1: no data bytes; bubble theory 1/9" \
    "R['part1']['data_bytes'] == 0 and abs(R['part1']['bubble_theory'] - 1 / 9) < 1e-12" \
    "tp 8: tensor bytes = $(tpb 8 1), nothing between stages or in data groups" \
    "R['tp']['tensor_bytes'] == $(tpb 8 1) and R['tp']['stage_bytes'] == 0 and R['tp']['data_bytes'] == 0 and R['tp']['bubble_theory'] == 0" \
    "pp 8: the one-process loss to the bit" \
    "R['pp']['loss_identical'] and R['pp']['loss_hex'] == R['one_process']['loss_hex']" \
    "one process: weights = 4 x $whole, gradients the same, AdamW twice" \
    "R['one_process']['ranks'][0]['weight_bytes'] == 4 * $whole and R['one_process']['ranks'][0]['grad_bytes'] == 4 * $whole and R['one_process']['ranks'][0]['optimizer_bytes'] == 8 * $whole" \
    "pp 8: weights summed over the stages = the whole model; one layer each" \
    "sum(r['weight_bytes'] for r in R['pp']['ranks']) == 4 * $whole and [r['n_layers'] for r in R['pp']['ranks']] == [1] * 8" \
    "pp 8: stage bytes = 2 (P-1) M x $share = $((2 * 7 * M * share))" \
    "R['pp']['stage_bytes'] == 2 * 7 * $M * $share and R['pp']['sends'] == 2 * 7 * $M" \
    "pp 8: each rank's stage bytes = its messages x $share; ends 2M messages, middles 4M" \
    "all(r['stage_bytes'] == r['sends'] * r['share_bytes'] and r['share_bytes'] == $share for r in R['pp']['ranks']) and [r['sends'] for r in R['pp']['ranks']] == [$M] + [2 * $M] * 6 + [$M]" \
    "pp 8: no tensor or data bytes" \
    "R['pp']['tensor_bytes'] == 0 and R['pp']['data_bytes'] == 0 and all(r['tensor_bytes'] == 0 and r['data_bytes'] == 0 for r in R['pp']['ranks'])" \
    "dp 8: no stage or tensor bytes, M/8 microbatches each, the whole model on every rank" \
    "R['dp']['stage_bytes'] == 0 and R['dp']['tensor_bytes'] == 0 and R['dp']['microbatches_per_replica'] == $M // 8 and all(r['weight_bytes'] == 4 * $whole for r in R['dp']['ranks'])" \
    "dp 8: data bytes = D (D-1) gradients + 2 (D-1) 8 = $((8 * 7 * 4 * whole + 2 * 7 * 8))" \
    "R['dp']['data_bytes'] == 8 * 7 * 4 * $whole + 2 * 7 * 8" \
    "bubble theory: pp 8 (P-1)/(M+P-1) = 7/15, dp 8 and one process 0" \
    "abs(R['pp']['bubble_theory'] - 7 / 15) < 1e-12 and R['dp']['bubble_theory'] == 0 and R['one_process']['bubble_theory'] == 0" \
    "step times measured" \
    "all(x['step_s'] > 0 for x in R.values() if not x['skipped'])"

# ---- other worlds ------------------------------------------------------------------------------
rm -f "$T/j.json"
run 3 --json "$T/j.json"
check "3 ranks: exit 0" $rc "rc=$rc"
jchecks \
    "3 ranks: part 1 is pp 3 (no pp 2 x tp 3/2), the same as the pp row; no whole run (no tp)" \
    "d['demo6']['part1_layout'] == {'pp': 3, 'tp': 1, 'dp': 1} and R['pp']['skipped'] and R['pp']['same_as'] == 'part1' and R['part1_whole']['same_as'] == 'part1'" \
    "3 ranks: tp 3 does not fit 8 heads; dp 3 does not divide 8 microbatches (said why)" \
    "R['tp']['skipped'] and 'heads' in R['tp']['reason'] and R['dp']['skipped'] and 'microbatches' in R['dp']['reason']" \
    "3 ranks: part 1 within 1e-5 (the same bits: pipeline only)" \
    "R['part1']['loss_identical'] and R['part1']['stage_bytes'] == 2 * 2 * $M * $share"
rm -f "$T/j.json"
run 4 --json "$T/j.json"
check "4 ranks: exit 0" $rc "rc=$rc"
jchecks \
    "4 ranks: part 1 is pp 2 x tp 2; every layout ran, within 1e-5" \
    "d['demo6']['part1_layout'] == {'pp': 2, 'tp': 2, 'dp': 1} and all(not x['skipped'] and x['loss_max_rel_diff'] <= 1e-5 for x in R.values())" \
    "4 ranks: tensor bytes part 1 $(tpb 2 2), tp 4 $(tpb 4 1); dp 4 runs M/4 = 2 each" \
    "R['part1']['tensor_bytes'] == $(tpb 2 2) and R['tp']['tensor_bytes'] == $(tpb 4 1) and R['dp']['microbatches_per_replica'] == 2 and R['dp']['data_bytes'] == 4 * 3 * 4 * $whole + 2 * 3 * 8"
rm -f "$T/j.json"
run 1 --json "$T/j.json"
check "1 rank: exit 0" $rc "rc=$rc"
jchecks "1 rank: every layout is the one process (said so, run once)" \
    "all(x['same_as'] == 'one_process' for k, x in R.items() if k != 'one_process') and not R['one_process']['skipped']"

# ---- bad command lines ------------------------------------------------------------------------
run 8 --tp 3
[ $rc -ne 0 ] && has "tp 3" err
check "--tp 3 on 8 ranks fails with a message" $?
run 8 --pp 1 --tp 8 --heads 4
[ $rc -ne 0 ] && has "heads" err
check "--tp 8 with 4 heads fails with a message naming the heads" $?
run 2 --split 1,7
[ $rc -ne 0 ] && has "--split does not apply to demo 6" err
check "--split with demo 6 fails with a message" $?
timeout -k 5 60 "$RUN" -n 1 "$DEMO" --help >"$T/out" 2>"$T/err"
has "6 layouts" out && has "only with --demo 6" out
check "--help lists demo 6, run only when asked" $?

echo "$pass passed, $fail failed"
[ $fail -eq 0 ]
