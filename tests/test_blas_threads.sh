#!/bin/sh
# The BLAS thread count of pipa programs (model/blas.h: pipa_blas_choose_core sets it): one thread
# per rank unless PIPA_BLAS_THREADS says otherwise, whatever CPUs the process may use. The
# library's own default (a thread per allowed CPU) made pipa-train's losses depend on binding:
# mpirun binds each rank to one core, pipa-run does not, and OpenBLAS's threaded sgemm rounds
# differently from its one-thread sgemm. Needs taskset (util-linux) and two CPUs to show anything.
. "$(dirname "$0")/lib.sh"
pass=0; fail=0
T=$(mktemp -d); trap 'rm -rf "$T"' EXIT
A="--steps 2 --layers 2 --hidden 64 --heads 4 --intermediate 128 --seq 32 --batch 2 --microbatches 4"
loss() { sed -n 's/.*"loss_hex": *"\([^"]*\)".*/\1/p' "$1" | tr '\n' ' '; }
timeout 60 "$B/pipa-train" $A --json "$T/free.json" >"$T/free.out" 2>&1
grep -q '^BLAS .*, 1 thread per rank$' "$T/free.out"
check "pipa-train's header: $(grep '^BLAS' "$T/free.out" | sed 's/.*, //')" $?
PIPA_BLAS_THREADS=2 timeout 60 "$B/pipa-train" $A >"$T/two.out" 2>&1
grep -q '^BLAS .*, 2 threads per rank$' "$T/two.out"
check "PIPA_BLAS_THREADS=2: $(grep '^BLAS' "$T/two.out" | sed 's/.*, //')" $?
if command -v taskset >/dev/null && [ "$(nproc)" -ge 2 ]; then
    timeout 60 taskset -c 0 "$B/pipa-train" $A --json "$T/bound.json" >/dev/null 2>&1
    [ -n "$(loss "$T/free.json")" ] && [ "$(loss "$T/free.json")" = "$(loss "$T/bound.json")" ]
    check "losses bound to one CPU = free on $(nproc): $(loss "$T/bound.json")/ $(loss "$T/free.json")" $?
else
    echo "note: no taskset or one CPU: the binding check cannot show anything here"
fi
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
