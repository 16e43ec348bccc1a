#!/bin/sh
# test_bench_optim: pipa-bench optim's smoke test: a tiny run (1000 parameters, 3 reps) must print
# one table row per optimizer (adamw, sgd) and write one JSON row each with every field, where
# bytes = params x 4 x (7 AdamW, 3 SGD), GB/s = bytes / time for the step and the memcpy alike,
# and ratio = step GB/s / memcpy GB/s, in the JSON and in the printed table. --help and a bad
# --params are answered without running.
# Usage: sh tests/test_bench_optim.sh BUILD_DIR
B=${1:-build}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
if ! "$B/pipa-bench" optim --params 1000 --reps 3 --warmup 1 --json "$tmp/rows.json" \
        >"$tmp/out.txt" 2>&1; then
    echo "FAIL pipa-bench optim exited non-zero"; tail -5 "$tmp/out.txt"; exit 1
fi
python3 - "$tmp/rows.json" "$tmp/out.txt" <<'PY' || exit 1
import json, sys

rows = [json.loads(line) for line in open(sys.argv[1]) if line.strip()]
fields = {"bench", "row", "params", "bytes", "reps", "step_ms", "step_gbs", "memcpy_ms",
          "memcpy_gbs", "ratio"}
assert [r.get("row") for r in rows] == ["adamw", "sgd"], f"rows {[r.get('row') for r in rows]}"


def close(a, b, tol):
    return abs(a - b) <= tol * max(1e-12, abs(b))


words = {"adamw": 7, "sgd": 3}
for r in rows:
    w = r["row"]
    assert set(r) == fields, f"{w}: fields {sorted(r)}"
    assert r["bench"] == "optim" and r["params"] == 1000 and r["reps"] == 3, w
    assert r["bytes"] == 1000 * 4 * words[w], f"{w}: bytes {r['bytes']}"
    assert r["step_ms"] > 0 and r["memcpy_ms"] > 0, w
    assert close(r["step_gbs"], r["bytes"] / (r["step_ms"] * 1e-3) * 1e-9, 2e-5), f"{w}: step GB/s"
    assert close(r["memcpy_gbs"], r["bytes"] / (r["memcpy_ms"] * 1e-3) * 1e-9, 2e-5), f"{w}: memcpy GB/s"
    assert close(r["ratio"], r["step_gbs"] / r["memcpy_gbs"], 2e-5), f"{w}: ratio"
# The table: name params bytes step_ms step_GB/s memcpy_ms memcpy_GB/s ratio, one line each.
table = {}
for line in open(sys.argv[2]):
    f = line.split()
    if f and f[0] in words:
        assert len(f) == 8, f"table line {line!r}"
        table[f[0]] = [float(x) for x in f[1:]]
assert sorted(table) == ["adamw", "sgd"], f"table rows {sorted(table)}"
for w, (params, nbytes, sms, sgbs, cms, cgbs, ratio) in table.items():
    r = next(r for r in rows if r["row"] == w)
    assert params == 1000 and nbytes == r["bytes"], f"{w}: printed params/bytes"
    assert close(sgbs, r["step_gbs"], 2e-3) and close(cgbs, r["memcpy_gbs"], 2e-3), f"{w}: GB/s"
    # ratio printed to 3 decimals: it must be the printed GB/s figures' ratio to that rounding
    assert abs(ratio - sgbs / cgbs) <= 0.0005 + 2e-3 * ratio, f"{w}: printed ratio {ratio} vs {sgbs / cgbs}"
    verdict = "met" if r["ratio"] >= 0.8 else "NOT met"
    assert any(l.startswith(f"# {w}: ratio") and l.rstrip().endswith(f": {verdict})")
               for l in open(sys.argv[2])), f"{w}: verdict line"
print(f"ok   {len(rows)} JSON rows and table rows, bytes, GB/s and ratio consistent")
PY
"$B/pipa-bench" optim --help >"$tmp/help.txt" 2>&1 && grep -q -- "--params N" "$tmp/help.txt" ||
    { echo "FAIL optim --help"; exit 1; }
"$B/pipa-bench" optim --params 0 >"$tmp/bad.txt" 2>&1
[ $? -eq 2 ] && grep -q "must be >= 1" "$tmp/bad.txt" || { echo "FAIL --params 0 not refused"; exit 1; }
echo "ok   --help, a bad --params refused"
