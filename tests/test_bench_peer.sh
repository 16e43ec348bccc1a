#!/bin/sh
# test_bench_peer: the PyTorch peer (bench/peers/) computes pipa's model, and its comparison
# prints what it claims.
# 1. Same model: on a tiny configuration and a corpus written here, torch_peer.py --check-loss
#    trains 2 steps from pipa's seeded weights on pipa-train's batches, and each step's loss
#    equals pipa-train's (its --json, full precision) within 1e-5 relative: the first step checks
#    the model, weights, batches and loss; the second the optimizer (SGD, AdamW) too. At P = 1 and
#    P = 2 (GPipe and 1F1B, the peer's send/recv and split).
# 2. compare.sh --quick (3 rounds): the header names machine, date, PyTorch and the command; one
#    row per (configuration, P); each printed ratio is the printed pipa median over the printed PyTorch
#    median; the JSON rows carry every run, each median is the median of its runs, and the ratio
#    is computed from those medians.
# Exits 77 (shown as SKIP, with this reason) where Debian's python3-torch is not importable.
# Usage: sh tests/test_bench_peer.sh BUILD_DIR
B=${1:-build}
PY=/usr/bin/python3
PEER=bench/peers/torch_peer.py
if ! "$PY" -c "import torch, numpy" >/dev/null 2>&1; then
    echo "skip: python3-torch (or numpy) is not importable by $PY: the peer cannot run here"
    exit 77
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail=0

# A corpus of our own: 20 KB of deterministic text, not a file of the machine's.
"$PY" -c "
import random; r = random.Random(7); w = 'the of pipeline stage rank loss step and to a'.split()
print(' '.join(r.choice(w) for _ in range(4000)))" > "$tmp/corpus.txt"

MODEL="--layers 3 --hidden 16 --heads 2 --batch 2 --seq 8 --seed 5 --steps 2"
same_loss() {  # P SCHED OPT LR
    name="loss P=$1 $2 $3"
    if ! "$B/pipa-run" -n "$1" "$B/pipa-train" $MODEL --intermediate 32 --microbatches 4 \
            --schedule "$2" --optimizer "$3" --lr "$4" --corpus "$tmp/corpus.txt" \
            --json "$tmp/pipa.json" >"$tmp/out" 2>&1; then
        echo "FAIL  $name: pipa-train exited non-zero"; tail -5 "$tmp/out"; fail=1; return
    fi
    if ! "$PY" "$PEER" --nproc "$1" $MODEL --inter 32 --m 4 --sched "$2" --optimizer "$3" \
            --lr "$4" --check-loss "$tmp/corpus.txt" >"$tmp/peer.txt" 2>"$tmp/err"; then
        echo "FAIL  $name: the peer exited non-zero"; tail -5 "$tmp/err"; fail=1; return
    fi
    if "$PY" - "$tmp/pipa.json" "$tmp/peer.txt" "$name" <<'PY'; then :; else fail=1; fi
import json, sys
pipa = [s["loss"] for s in json.load(open(sys.argv[1]))["steps"]]
peer = json.loads(open(sys.argv[2]).read().splitlines()[-1])["losses"]
rel = [abs(a - b) / abs(a) for a, b in zip(pipa, peer)]
ok = len(pipa) == len(peer) == 2 and max(rel) <= 1e-5
print(f"{'ok   ' if ok else 'FAIL '} {sys.argv[3]}: pipa {pipa}, PyTorch {peer}, relative "
      f"{['%.1e' % r for r in rel]} (at most 1e-5)")
sys.exit(0 if ok else 1)
PY
}
same_loss 1 1f1b sgd 0.5
same_loss 2 gpipe adamw 0.01
same_loss 2 1f1b sgd 0.5

if ! sh bench/peers/compare.sh --quick --rounds 3 --reps 1 --build "$B" --json "$tmp/rows.json" \
        >"$tmp/cmp.txt" 2>"$tmp/err"; then
    echo "FAIL  compare.sh --quick exited non-zero"; tail -10 "$tmp/err"; exit 1
fi
"$PY" - "$tmp/cmp.txt" "$tmp/rows.json" <<'PY' || fail=1
import json, statistics, sys
text = open(sys.argv[1]).read().splitlines()
head = [l for l in text if l.startswith("#")]
for key in ("# machine:", "# date:", "# PyTorch", "# command:"):
    assert any(l.startswith(key) for l in head), f"no header line '{key}' in {head}"
table = [l.split() for l in text if l.startswith("  quick-")]
assert [(t[0], t[-4]) for t in table] == [("quick-fwd", "1"), ("quick-fwd", "2"),
                                          ("quick-train", "1"), ("quick-train", "2")], table
for t in table:
    pipa, torch, ratio = float(t[-3]), float(t[-2]), float(t[-1])
    # printed to 0.1 tokens/s and 3 decimals: the recomputed ratio may differ by that rounding
    slack = 0.0005 + ratio * (0.05 / pipa + 0.05 / torch)
    assert pipa > 0 and torch > 0 and abs(ratio - pipa / torch) <= slack, \
        f"{t}: printed ratio {ratio} is not {pipa} / {torch} = {pipa / torch:.4f}"
rows = [json.loads(l) for l in text if l.startswith("{")]
filed = [json.loads(l) for l in open(sys.argv[2]) if l.strip()]
assert rows == filed and len(rows) == 4, f"{len(rows)} rows printed, {len(filed)} in --json"
for r, t in zip(rows, table):
    for k in ("machine", "date", "command", "pipa_command", "torch_command", "work"):
        assert isinstance(r.get(k), str) and r[k], f"row {r['name']}: no {k}"
    assert len(r["pipa_runs"]) == len(r["torch_runs"]) == 3, r  # 3: a median, not a mean
    assert r["pipa_tokens_per_s"] == statistics.median(r["pipa_runs"]), r
    assert r["torch_tokens_per_s"] == statistics.median(r["torch_runs"]), r
    assert abs(r["ratio"] - r["pipa_tokens_per_s"] / r["torch_tokens_per_s"]) <= 1e-12 * r["ratio"]
    assert abs(float(t[-3]) - r["pipa_tokens_per_s"]) <= 0.05 + 1e-9, (t, r)
    assert abs(float(t[-2]) - r["torch_tokens_per_s"]) <= 0.05 + 1e-9, (t, r)
print(f"ok    compare --quick: {len(rows)} rows, ratios from the medians printed")
PY
[ $fail -eq 0 ] && echo "all passed"
exit $fail
