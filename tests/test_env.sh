#!/bin/sh
# test_env.sh: proves a bad setting in the environment is refused at once, by name and value,
# never silently replaced by a default (PIPA_TIMEOUT=3s used to mean 300 s); that RANK and
# WORLD_SIZE beyond int, negative, inconsistent or with trailing junk are refused; that good
# values still work; and that a program needing a particular world size says so at once.
#   usage: sh tests/test_env.sh BUILD_DIR
B=${1:-build}
pass=0; fail=0
T=$(mktemp -d "${TMPDIR:-/tmp}/pipa-env.XXXXXX") || exit 1
trap 'rm -rf "$T"' EXIT

. "$(dirname "$0")/lib.sh"   # check NAME STATUS [DETAIL]
ms() { echo $(($(date +%s%N) / 1000000)); }
# run ASSIGNMENTS -- COMMAND...: runs COMMAND with the assignments (under a 20 s limit); sets rc,
# took (ms), and $T/out, $T/err.
run() {
    a=""; while [ "$1" != "--" ]; do a="$a $1"; shift; done; shift
    t0=$(ms)
    env $a timeout 20 "$@" >"$T/out" 2>"$T/err"
    rc=$?
    took=$(($(ms) - t0))
}
has() { grep -qF -- "$1" "$T/err"; }
DEMO="$B/pipa-demo --demo 1 --layers 2 --hidden 16 --heads 2 --intermediate 32"

# ---- each bad value: the library (a program alone) and pipa-run (before any rank) refuse it -------
for bad in PIPA_TIMEOUT=abc PIPA_TIMEOUT=-5 PIPA_TIMEOUT=0 PIPA_TIMEOUT=3s PIPA_TIMEOUT=inf \
           PIPA_SHM_RING_MB=abc PIPA_SHM_RING_MB=0 PIPA_SHM_RING_MB=4097 PIPA_SHM_FRAG_KB=abc \
           PIPA_SHM_FRAG_KB=-1 PIPA_SHM_FRAG_KB=12k PIPA_LOG=nonsense PIPA_LOG=DEBUG \
           PIPA_BLAS_THREADS=abc PIPA_BLAS_THREADS=0 PIPA_BLAS_THREADS=99999999999; do
    name=${bad%%=*}; value=${bad#*=}
    run "$bad" -- $DEMO
    [ $rc -ne 0 ] && [ $rc -ne 124 ] && [ $took -lt 10000 ] && has "$name" && has "'$value'" &&
        has 'bad environment variable'
    check "$bad, program alone: refused at start naming $name and '$value'" $? "(rc=$rc ${took} ms: $(cat "$T/err"))"
    run "$bad" -- "$B/pipa-run" -n 2 $DEMO
    [ $rc -eq 2 ] && [ ! -s "$T/out" ] && has "pipa-run: bad environment variable: $name" &&
        has "'$value'" && [ "$(grep -c . "$T/err")" -eq 1 ]
    check "$bad, pipa-run: one message, exit 2, nothing started" $? "(rc=$rc: $(cat "$T/err"))"
done

# ---- pipa-sim starts no ranks but reads PIPA_LOG too: refused alike ------------------------------
run PIPA_LOG=nonsense -- "$B/pipa-sim" --schedule 1f1b --pp 2 --microbatches 2
[ $rc -eq 2 ] && has "PIPA_LOG" && has "'nonsense'"
check "PIPA_LOG=nonsense, pipa-sim: refused naming it" $? "(rc=$rc: $(cat "$T/err"))"

# ---- PIPA_TRANSPORT: a transport by name among those built (the registry); others refused --------
# mpi is built where MPI was found (Makefile): without it, mpi is refused like any unknown name;
# with it, pipa-run refuses it (mpirun starts MPI runs; tests/test_mpi.sh runs them).
if nm "$B/libpipa.a" 2>/dev/null | grep -q ' D pipa__transport_mpi$'; then
    built='shm, mpi'; unknown=nosuch
else
    built='shm'; unknown=mpi
fi
why="PIPA_TRANSPORT=$unknown: no such transport in this build (built: $built)"
run PIPA_TRANSPORT=$unknown -- $DEMO
[ $rc -ne 0 ] && [ $rc -ne 124 ] && [ $took -lt 10000 ] && has "bad environment variable: $why"
check "PIPA_TRANSPORT=$unknown, program alone: refused naming the transports built" $? \
    "(rc=$rc: $(cat "$T/err"))"
run PIPA_TRANSPORT=$unknown -- "$B/pipa-run" -n 2 $DEMO
[ $rc -eq 2 ] && [ ! -s "$T/out" ] && has "pipa-run: bad environment variable: $why" &&
    [ "$(grep -c . "$T/err")" -eq 1 ]
check "PIPA_TRANSPORT=$unknown, pipa-run: one message, exit 2, nothing started" $? \
    "(rc=$rc: $(cat "$T/err"))"
run PIPA_TRANSPORT=SHM -- "$B/pipa-sim" --schedule 1f1b --pp 2 --microbatches 2
[ $rc -eq 2 ] && has "PIPA_TRANSPORT=SHM: no such transport"
check "PIPA_TRANSPORT=SHM, pipa-sim: refused (names are exact)" $? "(rc=$rc: $(cat "$T/err"))"
for v in shm ""; do
    run "PIPA_TRANSPORT=$v" -- "$B/pipa-run" -n 2 "$B/pipa-bench" p2p --max-bytes 8 --reps 10
    [ $rc -eq 0 ] && grep -q '^# world: .*transport shm$' "$T/out"
    check "PIPA_TRANSPORT='$v': the run goes over shm" $? \
        "(rc=$rc: $(cat "$T/err") $(grep world "$T/out"))"
done

# ---- the accepted ranges: a valid value works, an empty one means the default ---------------------
run PIPA_TIMEOUT=2.5 PIPA_SHM_RING_MB=1 PIPA_SHM_FRAG_KB=4 PIPA_LOG=debug PIPA_BLAS_THREADS=1 \
    -- "$B/pipa-run" -n 2 $DEMO
[ $rc -eq 0 ] && grep -q 'bit-identical' "$T/out"; check "valid values: the run works" $? "(rc=$rc: $(tail -3 "$T/err"))"
run PIPA_TIMEOUT= PIPA_LOG= PIPA_SHM_RING_MB= -- "$B/pipa-run" -n 2 $DEMO
[ $rc -eq 0 ]; check "empty values mean the defaults" $? "(rc=$rc: $(tail -3 "$T/err"))"
run -- "$B/pipa-run" -n 2 --timeout inf $DEMO
[ $rc -eq 2 ] && has "'inf'"; check "pipa-run --timeout inf: refused" $? "(rc=$rc: $(cat "$T/err"))"

# ---- RANK and WORLD_SIZE ------------------------------------------------------------------------
for bad in "RANK=4294967296 WORLD_SIZE=2:RANK:4294967296" "RANK=0 WORLD_SIZE=4294967297:WORLD_SIZE:4294967297" \
           "RANK=-1 WORLD_SIZE=2:RANK:-1" "RANK=1x WORLD_SIZE=2:RANK:1x" "RANK=0 WORLD_SIZE=1.5:WORLD_SIZE:1.5" \
           "RANK=0 WORLD_SIZE=-2:WORLD_SIZE:-2" "RANK=0 WORLD_SIZE=257:WORLD_SIZE:257" \
           "RANK=2 WORLD_SIZE=2:RANK=2 and WORLD_SIZE=2:" "RANK=0:WORLD_SIZE=(unset):" "WORLD_SIZE=1:RANK=(unset):"; do
    vars=${bad%%:*}; rest=${bad#*:}; name=${rest%%:*}; value=${rest#*:}
    run $vars -- $DEMO
    [ $rc -ne 0 ] && [ $rc -ne 124 ] && [ $took -lt 10000 ] && has "$name" &&
        { [ -z "$value" ] || has "'$value'"; }
    check "$vars: refused naming $name${value:+ and '$value'}" $? "(rc=$rc: $(cat "$T/err"))"
done
run RANK=0 WORLD_SIZE=1 -- $DEMO
[ $rc -eq 0 ]; check "RANK=0 WORLD_SIZE=1: runs alone" $? "(rc=$rc: $(cat "$T/err"))"

# ---- an MPI launcher's environment (env.h's pipa_env_mpi_launcher) ------------------------------
# Read only when pipa-run's RANK/WORLD_SIZE are not set; bad values refused by name before
# anything starts; an srun step of one task is a plain program; a build without MPI refuses a
# launcher's several ranks by name (with MPI they run over mpi: tests/test_mpi.sh).
for bad in "OMPI_COMM_WORLD_RANK=x OMPI_COMM_WORLD_SIZE=2:OMPI_COMM_WORLD_RANK:x" \
           "OMPI_COMM_WORLD_RANK=2 OMPI_COMM_WORLD_SIZE=2:OMPI_COMM_WORLD_RANK=2 and OMPI_COMM_WORLD_SIZE=2:" \
           "PMI_RANK=0:PMI_SIZE=(unset):"; do
    vars=${bad%%:*}; rest=${bad#*:}; name=${rest%%:*}; value=${rest#*:}
    run $vars -- $DEMO
    [ $rc -ne 0 ] && [ $rc -ne 124 ] && [ $took -lt 10000 ] && has "$name" &&
        { [ -z "$value" ] || has "'$value'"; }
    check "$vars: refused naming $name${value:+ and '$value'}" $? "(rc=$rc: $(cat "$T/err"))"
done
run RANK=0 WORLD_SIZE=1 OMPI_COMM_WORLD_RANK=1 OMPI_COMM_WORLD_SIZE=2 -- $DEMO
[ $rc -eq 0 ] && grep -q '^transport  shm$' "$T/out"
check "RANK/WORLD_SIZE win over an MPI launcher's: runs alone over shm" $? "(rc=$rc: $(cat "$T/err"))"
run SLURM_PROCID=0 SLURM_STEP_NUM_TASKS=1 -- $DEMO
[ $rc -eq 0 ] && grep -q '^transport  shm$' "$T/out"
check "an srun step of one task: a plain program, over shm" $? "(rc=$rc: $(cat "$T/err"))"
if [ "$built" = shm ]; then
    run OMPI_COMM_WORLD_RANK=0 OMPI_COMM_WORLD_SIZE=2 -- $DEMO
    [ $rc -ne 0 ] && [ $took -lt 10000 ] &&
        has 'started by an MPI launcher (OMPI_COMM_WORLD_SIZE=2), but this build has no mpi transport'
    check "no MPI built, mpirun's environment for 2 ranks: refused by name" $? "(rc=$rc: $(cat "$T/err"))"
fi

# ---- programs that need a particular world size say so at once ------------------------------------
for n in 1 3; do
    run PIPA_TIMEOUT=300 -- "$B/pipa-run" -n $n "$B/pipa-bench" p2p --max-bytes 1024 --reps 10
    [ $rc -ne 0 ] && [ $rc -ne 124 ] && [ $took -lt 10000 ] && has "needs exactly two ranks, this run has $n"
    check "pipa-bench p2p on $n rank(s): refused at once" $? "(rc=$rc ${took} ms: $(cat "$T/err"))"
done
for mode in pipeline train; do
    run PIPA_TIMEOUT=300 -- "$B/pipa-run" -n 3 "$B/pipa-bench" $mode --m 1 --reps 1
    [ $rc -ne 0 ] && [ $rc -ne 124 ] && [ $took -lt 10000 ] && has "run it on 1 or 2 ranks"
    check "pipa-bench $mode on 3 ranks: refused at once" $? "(rc=$rc ${took} ms: $(cat "$T/err"))"
done
run PIPA_TIMEOUT=300 -- "$B/pipa-run" -n 3 $DEMO --pp 2
[ $rc -ne 0 ] && [ $took -lt 10000 ] && has "--pp 2 but 3 ranks"; check "pipa-demo --pp 2 on 3 ranks: refused at once" $? "(rc=$rc: $(cat "$T/err"))"
run PIPA_TIMEOUT=300 -- "$B/pipa-run" -n 3 "$B/pipa-train" --pp 2 --steps 1
[ $rc -ne 0 ] && [ $took -lt 10000 ] && has "--pp 2 but 3 ranks"; check "pipa-train --pp 2 on 3 ranks: refused at once" $? "(rc=$rc: $(cat "$T/err"))"

echo "$pass passed, $fail failed"
[ $fail -eq 0 ]
