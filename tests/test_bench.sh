#!/bin/sh
# test_bench: the benchmark smoke test, checked by its JSON and not only its exit code. A tiny
# pipa-bench train on 2 ranks (schedules gpipe, 1f1b, interleaved V=2, zb1; M = 1, 4) must write
# one JSON row per (schedule, P, M), P = 1 and 2, each with every field and sane values: tokens/s
# positive, speedup = tokens/s over the P = 1 row's, ideal speedup P*M/(M+P-1), bubbles within
# [0, 1), and the analytic bubble equal to the schedule's formula. --force-cpu is accepted and
# the header says what it means in this build.
# Usage: sh tests/test_bench.sh BUILD_DIR
B=${1:-build}
RUN=tests/ranks.sh; export B   # starts ranks over the pass's transport (tests/run.sh)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
if ! "$RUN" -n 2 "$B/pipa-bench" train --layers 4 --hidden 32 --heads 2 --inter 64 \
        --batch 1 --seq 8 --m 1,4 --reps 1 --json "$tmp/rows.json" >"$tmp/out.txt" 2>&1; then
    echo "FAIL pipa-bench train exited non-zero"; tail -5 "$tmp/out.txt"; exit 1
fi
python3 - "$tmp/rows.json" <<'PY' || exit 1
import json, math, sys

rows = [json.loads(line) for line in open(sys.argv[1]) if line.strip()]
fields = {"bench", "schedule", "p", "m", "tokens_per_s", "speedup", "ideal_speedup", "bubble",
          "bubble_theory", "bubble_sim", "optimizer", "gflops_fwd", "of_peak_fwd", "gflops_bwd",
          "of_peak_bwd", "gflops", "of_peak"}  # the FLOP fields: test_bench_mfu.sh
want = {(s, p, m) for s in ("gpipe", "1f1b", "interleaved", "zb1") for p in (1, 2) for m in (1, 4)}
keys = [(r.get("schedule"), r.get("p"), r.get("m")) for r in rows]
assert sorted(keys) == sorted(want), f"rows {sorted(keys)}, expected one per {sorted(want)}"
by = dict(zip(keys, rows))


def close(a, b, tol=1e-4):
    return abs(a - b) <= tol * max(1.0, abs(b))


for (s, p, m), r in by.items():
    where = f"{s} P={p} M={m}"
    assert set(r) == fields, f"{where}: fields {sorted(r)}, expected {sorted(fields)}"
    assert r["bench"] == "train" and r["optimizer"] == "adamw", where  # the default optimizer
    for k in fields - {"bench", "schedule", "optimizer"}:
        assert isinstance(r[k], (int, float)) and math.isfinite(r[k]), f"{where}: {k} = {r[k]!r}"
    assert r["tokens_per_s"] > 0, f"{where}: tokens/s {r['tokens_per_s']}"
    one = by[(s, 1, m)]["tokens_per_s"]
    assert close(r["speedup"], r["tokens_per_s"] / one, 1e-3), f"{where}: speedup {r['speedup']}"
    assert close(r["ideal_speedup"], p * m / (m + p - 1)), f"{where}: ideal {r['ideal_speedup']}"
    for k in ("bubble", "bubble_sim"):
        assert 0.0 <= r[k] < 1.0, f"{where}: {k} = {r[k]}"
    v = 2 if s == "interleaved" else 1
    theory = 0.0 if p == 1 else (p - 1) / (v * m + p - 1)
    if s == "zb1":  # the zero-bubble formula: below 1F1B's, above zero at P = 2
        assert (p == 1 and r["bubble_theory"] == 0) or 0 < r["bubble_theory"] < theory, where
    else:
        assert close(r["bubble_theory"], theory), f"{where}: theory {r['bubble_theory']} != {theory}"
print(f"ok   {len(rows)} JSON rows, every field present and sane")
PY
if ! "$RUN" -n 2 "$B/pipa-bench" p2p --max-bytes 8 --reps 1 --force-cpu >"$tmp/cpu.txt" 2>&1 ||
    ! grep -q "^# device:    cpu (--force-cpu: pipa runs on the CPU in this build" "$tmp/cpu.txt"; then
    echo "FAIL pipa-bench p2p --force-cpu: not accepted, or the header does not say what it means"
    tail -5 "$tmp/cpu.txt"; exit 1
fi
echo "ok   --force-cpu accepted, the header says what it means"
