#!/bin/sh
# The kernels a pipa program runs (model/blas.h pipa_blas_choose_core), read from pipa-demo's run
# header: with no OPENBLAS_CORETYPE, an AVX2 CPU never runs OpenBLAS's pre-AVX2 fallback kernels,
# directly or under pipa-run (whose ranks inherit the choice: all ranks report the same kernels);
# a user's OPENBLAS_CORETYPE is kept as given. Skips where the build uses BLIS or the CPU has no AVX2.
. "$(dirname "$0")/lib.sh"
pass=0; fail=0
grep -qw avx2 /proc/cpuinfo || { echo "skip: this CPU has no AVX2 (nothing better to choose)"; exit 77; }
demo_blas() { "$@" "$B/pipa-demo" --demo 1 2>&1 | grep '^BLAS'; }
line=$(demo_blas env -u OPENBLAS_CORETYPE)
case "$line" in *OpenBLAS*) ;; *) echo "skip: not an OpenBLAS build ($line)"; exit 77 ;; esac
old='Prescott|Core2|Penryn|Dunnington|Nehalem|Sandybridge|Atom|Katmai|Coppermine|Northwood|Banias|Athlon|Opteron|Barcelona|Bobcat|Bulldozer|Piledriver|Steamroller|Nano'
kernels() { echo "$1" | sed -n 's/.*DYNAMIC_ARCH NO_AFFINITY \([A-Za-z0-9_]*\).*/\1/p' | sort -u; }
k=$(kernels "$line")
echo "direct:   $line"
! echo "$k" | grep -Eqx "$old"
check "no OPENBLAS_CORETYPE: kernels $k, not a pre-AVX2 fallback" $?
lines=$(demo_blas env -u OPENBLAS_CORETYPE "$B/pipa-run" -n 2)
echo "pipa-run: $lines"
[ -n "$lines" ] && [ "$(kernels "$lines")" = "$k" ]
check "pipa-run's ranks run the direct run's kernels ($(kernels "$lines"))" $?
# Programs that do not choose (test programs, scripts) get the choice from pipa-run itself.
if echo "$line" | grep -q "pipa set OPENBLAS_CORETYPE=$k"; then
    n=$(env -u OPENBLAS_CORETYPE "$B/pipa-run" -n 2 env | grep -cx "OPENBLAS_CORETYPE=$k")
    [ "$n" -eq 2 ]
    check "pipa-run hands OPENBLAS_CORETYPE=$k to every rank ($n of 2)" $?
fi
user=$(demo_blas env OPENBLAS_CORETYPE=Prescott)
echo "user's:   $user"
[ "$(kernels "$user")" = Prescott ] && ! echo "$user" | grep -q "pipa set"
check "the user's OPENBLAS_CORETYPE=Prescott kept, no note" $?
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
