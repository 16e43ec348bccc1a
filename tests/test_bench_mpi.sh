#!/bin/sh
# test_bench_mpi.sh: pipa-bench's allreduce and pipeline under mpirun. allreduce measures
# MPI_Allreduce in the same run: at every size an "mpi" row, and each of pipa's rows carries x_mpi
# = its time / MPI's at that size; the 20% target is judged (a "# target:" line) once a size of
# 1 MiB or more was measured. Under pipa-run (shm) none of that appears. pipeline runs over MPI,
# its pipelined output equal to the unpipelined one (--validate).
# A build without MPI: exit 77, "skipped: MPI not built" (tests/run.sh's SKIP).
#   usage: sh tests/test_bench_mpi.sh BUILD_DIR
B=${1:-build}
cd "$(dirname "$0")/.." || exit 1
pass=0; fail=0
. tests/lib.sh   # check, jchecks
mpi_built || { echo "skipped: MPI not built"; exit 77; }
T=$(mktemp -d "${TMPDIR:-/tmp}/pipa-bench-mpi.XXXXXX") || exit 1
trap 'rm -rf "$T"' EXIT
export B   # tests/ranks.sh starts the ranks under mpirun (its options, no leak check under ASan)
MPIRUN="env PIPA_TEST_TRANSPORT=mpi tests/ranks.sh"
ERR_TAIL=5
AR="allreduce --min-bytes 262144 --max-bytes 1048576 --iters 3 --warmup 1 --json $T/j.json"

# JSON lines into one document: {"rows": [...]}
rows() { python3 -c 'import json, sys; print(json.dumps({"rows": [json.loads(l) for l in open(sys.argv[1])]}))' "$1"; }
export JPRE='
R = d["rows"]
sizes = sorted({r["bytes"] for r in R})
mpi = {r["bytes"]: r["time_us"] for r in R if r["algo"] == "mpi"}
pipa = [r for r in R if r["algo"] != "mpi"]
'
for n in 2 3; do
    timeout -k 5 120 $MPIRUN -n $n "$B/pipa-bench" $AR >"$T/out" 2>"$T/err" </dev/null
    [ $? -eq 0 ] && grep -q 'transport mpi$' "$T/out"
    check "mpirun -n $n pipa-bench allreduce: exit 0, transport mpi" $?
    rows "$T/j.json" >"$T/rows.json" && mv "$T/rows.json" "$T/j.json"
    jchecks "$n ranks: sizes 256 KiB, 512 KiB, 1 MiB" 'sizes == [262144, 524288, 1048576]' \
        "$n ranks: one mpi row per size" 'sorted(mpi) == sizes and len(mpi) == sum(r["algo"] == "mpi" for r in R)' \
        "$n ranks: direct, ring, auto at each size, each with x_mpi = its time / MPI's" \
        'len(pipa) == 3 * len(sizes) and all(abs(r["x_mpi"] - r["time_us"] / mpi[r["bytes"]]) <= 1e-3 * r["x_mpi"] for r in pipa)' \
        "$n ranks: times positive" 'all(r["time_us"] > 0 and r["ranks"] == '$n' for r in R)'
    grep -q '^# target: pipa.s all-reduce (auto) within 20% of MPI_Allreduce at 1 MiB and above: \(met\|NOT met\) (worst: [0-9.]*x at 1048576 B)$' "$T/out"
    check "$n ranks: the 20% target judged at 1 MiB" $? "$(grep target "$T/out")"
done
# Below 1 MiB there is nothing to judge: no target line.
timeout -k 5 120 $MPIRUN -n 2 "$B/pipa-bench" allreduce --max-bytes 65536 \
    --iters 3 --warmup 1 >"$T/out" 2>"$T/err" </dev/null
[ $? -eq 0 ] && grep -q '^ *65536 mpi ' "$T/out" && ! grep -q '^# target' "$T/out"
check "mpirun, sizes up to 64 KiB: mpi rows, no target line" $?
# Under pipa-run (shm): pipa's rows only.
timeout -k 5 120 "$B/pipa-run" -n 2 "$B/pipa-bench" $AR >"$T/out" 2>"$T/err" </dev/null
rc=$?
rows "$T/j.json" >"$T/rows.json" && mv "$T/rows.json" "$T/j.json"
[ $rc -eq 0 ] && grep -q 'transport shm$' "$T/out" && ! grep -q -e ' mpi ' -e x_mpi -e '^# target' "$T/out"
check "pipa-run pipa-bench allreduce: no MPI row, no x_mpi, no target" $?
jchecks "shm: pipa's rows alone, no x_mpi" 'len(R) == 9 and not mpi and all("x_mpi" not in r for r in R)'

# pipeline over MPI: runs, and its pipelined output is the unpipelined one.
timeout -k 5 300 $MPIRUN -n 2 "$B/pipa-bench" pipeline --layers 4 --hidden 64 \
    --heads 4 --inter 128 --batch 2 --seq 16 --m 1,4 --reps 1 --validate >"$T/out" 2>"$T/err" </dev/null
[ $? -eq 0 ] && grep -q 'transport mpi$' "$T/out" && grep -q '^    2    4 ' "$T/out" &&
    grep -q '^# validate: P=2 output of M=4 vs unpipelined: 0 of [1-9][0-9]* floats differ' "$T/out"
check "mpirun -n 2 pipa-bench pipeline --validate: P=2 rows, output equal" $?

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
