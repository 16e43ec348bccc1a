#!/bin/sh
# test_bench_allreduce: pipa-bench allreduce's smoke test, checked by its JSON: a short run on 3
# ranks, sizes 4 B to 256 KiB, must write one row per (size, algorithm) with every field, and the
# columns must be what BENCHMARKS.md says: algbw = bytes / time, busbw = algbw * 2(n-1)/n, bound =
# memcpy / 2 (times cores / ranks when oversubscribed), AUTO choosing direct up to 64 KiB and ring
# above. --help and a bad --algo are answered without running.
# Usage: sh tests/test_bench_allreduce.sh BUILD_DIR
B=${1:-build}
RUN=tests/ranks.sh; export B   # starts ranks over the pass's transport (tests/run.sh)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
if ! "$RUN" -n 3 "$B/pipa-bench" allreduce --max-bytes 262144 --iters 3 --warmup 1 \
        --json "$tmp/rows.json" >"$tmp/out.txt" 2>&1; then
    echo "FAIL pipa-bench allreduce exited non-zero"; tail -5 "$tmp/out.txt"; exit 1
fi
python3 - "$tmp/rows.json" "$(getconf _NPROCESSORS_ONLN)" "${PIPA_TEST_TRANSPORT:-shm}" <<'PY' || exit 1
import json, math, sys

rows = [json.loads(line) for line in open(sys.argv[1]) if line.strip()]
cores, n = int(sys.argv[2]), 3
fields = {"bench", "bytes", "ranks", "algo", "chosen", "time_us", "algbw_gbs", "busbw_gbs",
          "memcpy_gbs", "bound_busbw_gbs", "iters"}
sizes = [4 << k for k in range(17)]  # 4 B .. 256 KiB
# Under mpirun pipa-bench adds MPI's own row per size and x_mpi to pipa's (tests/test_bench_mpi.sh
# checks those).
if sys.argv[3] == "mpi":
    fields.add("x_mpi")
algos = ("direct", "ring", "auto") + (("mpi",) if sys.argv[3] == "mpi" else ())
want = {(b, a) for b in sizes for a in algos}
keys = [(r.get("bytes"), r.get("algo")) for r in rows]
assert sorted(keys) == sorted(want), f"rows {sorted(keys)}, expected {sorted(want)}"


def close(a, b, tol=2e-3):
    return abs(a - b) <= tol * max(1e-9, abs(b))


for r in (r for r in rows if r["algo"] != "mpi"):
    where = f"{r['bytes']} B {r['algo']}"
    assert set(r) == fields, f"{where}: fields {sorted(r)}"
    assert r["bench"] == "allreduce" and r["ranks"] == n, where
    assert r["time_us"] > 0 and r["memcpy_gbs"] > 0, where
    assert close(r["algbw_gbs"], r["bytes"] / (r["time_us"] * 1e-6) * 1e-9), f"{where}: algbw"
    assert close(r["busbw_gbs"], r["algbw_gbs"] * 2 * (n - 1) / n), f"{where}: busbw"
    assert close(r["bound_busbw_gbs"], r["memcpy_gbs"] / 2 * min(1.0, cores / n)), f"{where}: bound"
    pick = "direct" if r["bytes"] <= 65536 else "ring"
    assert r["chosen"] == (pick if r["algo"] == "auto" else r["algo"]), f"{where}: chose {r['chosen']}"
    assert r["iters"] >= 3, where
print(f"ok   {len(rows)} JSON rows, every field present and consistent")
PY
if [ "$(getconf _NPROCESSORS_ONLN)" -lt 3 ] && ! grep -q "^# OVERSUBSCRIBED: 3 ranks share" "$tmp/out.txt"; then
    echo "FAIL the header does not say that 3 ranks oversubscribe the cores"; exit 1
fi
"$B/pipa-bench" allreduce --help >"$tmp/help.txt" 2>&1 && grep -q -- "--algo LIST" "$tmp/help.txt" ||
    { echo "FAIL allreduce --help"; exit 1; }
"$B/pipa-bench" allreduce --algo tree >"$tmp/bad.txt" 2>&1
[ $? -eq 2 ] && grep -q "direct, ring, auto" "$tmp/bad.txt" || { echo "FAIL --algo tree not refused"; exit 1; }
echo "ok   --help, a bad --algo refused"
