#!/bin/sh
# test_bench_mfu: the benchmarks' model FLOP utilisation is what its formula says. On tiny
# models, pipa-bench layer, pipeline and train (2 ranks) write JSON rows whose FLOP rates are
# recomputed here from the model's shapes, independently of the C (per layer forward over
# N = B*T tokens: 8 N C^2 + 6 N C I + 4 N T C; head 2 N C V; backward 2 x, step 3 x), and
# whose fractions of peak all divide by one FMA peak, the one the header prints, over P cores
# for whole runs. The layer's formula total equals its per-shape sgemm total.
# Usage: sh tests/test_bench_mfu.sh BUILD_DIR
B=${1:-build}
RUN=tests/ranks.sh; export B   # starts ranks over the pass's transport (tests/run.sh)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
M="--hidden 32 --heads 2 --inter 48 --batch 2 --seq 8"
if ! "$B/pipa-bench" layer $M --reps 1 --warmup 0 --json "$tmp/layer.json" >"$tmp/layer.txt" 2>&1 ||
   ! "$RUN" -n 2 "$B/pipa-bench" pipeline --layers 3 $M --m 1,3 --reps 1 \
        --json "$tmp/pipe.json" >"$tmp/pipe.txt" 2>&1 ||
   ! "$RUN" -n 2 "$B/pipa-bench" train --layers 3 $M --m 3 --sched 1f1b,zb1 --reps 1 \
        --optimizer sgd --json "$tmp/train.json" >"$tmp/train.txt" 2>&1; then
    echo "FAIL a benchmark exited non-zero"; tail -5 "$tmp"/*.txt; exit 1
fi
python3 - "$tmp" <<'PY'
import json, re, sys
d = sys.argv[1]
L, C, NH, I, Bt, T, V = 3, 32, 2, 48, 2, 8, 256
N = Bt * T
layer = 8 * N * C * C + 6 * N * C * I + 4 * N * T * C   # FLOPs of one layer forward
head = 2 * N * C * V


def rows(name):
    return [json.loads(l) for l in open(f"{d}/{name}.json") if l.strip()]


def peak(name):  # the header's figure
    m = re.search(r"^# FMA peak: ([0-9.]+) GFLOP/s per core", open(f"{d}/{name}.txt").read(), re.M)
    assert m, f"{name}: no '# FMA peak' header line"
    return float(m.group(1))


def close(a, b, tol=2e-4):
    return abs(a - b) <= tol * abs(b)


fail = 0
def check(ok, what):
    global fail
    print(("ok    " if ok else "FAIL  ") + what)
    fail |= not ok


by = {r.get("row"): r for r in rows("layer")}
lf, st = by["layer forward"], by["sgemm total"]
check(close(lf["gflop"] * 1e9, layer, 1e-5) and close(st["gflop"], lf["gflop"], 1e-5),
      f"layer: formula {layer} FLOPs = layer row {lf['gflop']} GFLOP = shapes' sum {st['gflop']}")
pk = peak("layer")
check(all(close(r["gflops"] / r["of_peak"], pk, 1e-3) for r in by.values() if "of_peak" in r),
      f"layer: every of_peak is GFLOP/s over the printed peak {pk}")

pipe = rows("pipe")
pk = peak("pipe")
check(len(pipe) == 4 and all(close(r["gflops"] * 1e9, r["tokens_per_s"] * L * layer / N) and
                             close(r["of_peak"], r["gflops"] / (r["p"] * pk), 1e-3) for r in pipe),
      f"pipeline: GFLOP/s = tokens/s x {L * layer / N:.0f} FLOPs per token; of_peak over P x {pk}")

train = rows("train")
pk = peak("train")
fwd = L * layer + head
ok = len(train) == 4
for r in train:
    ok &= close(r["gflops"] * 1e9, 3 * fwd * r["tokens_per_s"] / N)
    ok &= close(r["of_peak"], r["gflops"] / (r["p"] * pk), 1e-3)
    for k in ("fwd", "bwd"):
        ok &= r[f"gflops_{k}"] > 0 and close(r[f"of_peak_{k}"], r[f"gflops_{k}"] / pk, 1e-3)
# The forward and backward rates against the table's per-action times (ms, 2 decimals): a step's
# F actions are M per rank, so F GFLOP/s per core = fwd / (P x F_ms); backward B, or I + W.
table = [l.split() for l in open(f"{d}/train.txt") if re.match(r"^  (1f1b|zb1) ", l)]
ok &= len(table) == 4
for t, r in zip(table, train):
    P, ms = int(t[1]), [0.0 if x == "-" else float(x) for x in t[10:15]]
    for k, flops, took in (("fwd", fwd, ms[0]), ("bwd", 2 * fwd, ms[1] + ms[2] + ms[3])):
        want = flops / (P * took * 1e-3) * 1e-9
        slack = 0.01 / took + 1e-3  # the printed times' rounding
        ok &= t[0] == r["schedule"] and abs(r[f"gflops_{k}"] - want) <= slack * want
check(ok, "train: forward and backward GFLOP/s = their FLOPs over the F, B (I + W) times; "
          f"step GFLOP/s = 3 x {fwd} FLOPs per microbatch x microbatches/s; forward, "
          f"backward and step of_peak over the printed peak {pk} (P cores for a step)")
check(all(r["optimizer"] == "sgd" for r in train), "train --optimizer sgd: every row's runtime "
      f"stepped with SGD ({[r['optimizer'] for r in train]})")
sys.exit(fail)
PY
