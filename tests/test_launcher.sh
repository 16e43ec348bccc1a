#!/bin/sh
# test_launcher.sh: proves pipa-run starts ranks with the right environment, propagates failures
# (exit code, signal names), brings the other ranks down fast (SIGTERM, then SIGKILL after the
# grace), forwards SIGTERM, leaves no rank processes and nothing in /dev/shm, and rejects bad
# command lines. Uses tests/rank_behave as the ranks.
#   usage: sh tests/test_launcher.sh BUILD_DIR
B=${1:-build}
RUN="$B/pipa-run"
BEHAVE="$B/tests/rank_behave"
pass=0; fail=0
T=$(mktemp -d "${TMPDIR:-/tmp}/pipa-launcher.XXXXXX") || exit 1
trap 'rm -rf "$T"' EXIT

check() { # check NAME CONDITION_EXIT_STATUS [DETAIL]
    if [ "$2" -eq 0 ]; then pass=$((pass + 1)); echo "ok    $1"
    else fail=$((fail + 1)); echo "FAIL  $1 ${3:-}"; fi
}
ms() { echo $(($(date +%s%N) / 1000000)); }
shm_list() { ls -A /dev/shm 2>/dev/null | sort; }

# run_case ARGS...: runs pipa-run with ARGS; sets rc, out ($T/out), err ($T/err), secs_ms, and
# shm_new (entries that appeared in /dev/shm during the run).
run_case() {
    shm_list >"$T/shm.before"
    t0=$(ms)
    "$RUN" "$@" >"$T/out" 2>"$T/err"
    rc=$?
    secs_ms=$(($(ms) - t0))
    shm_list >"$T/shm.after"
    shm_new=$(comm -13 "$T/shm.before" "$T/shm.after" | tr '\n' ' ')
}
has() { grep -q -- "$1" "$T/$2"; }

# no_pids_left: every pid written by the ranks is gone (0 when none is alive).
no_pids_left() {
    for f in "$T"/pids/rank.*; do
        [ -f "$f" ] || continue
        kill -0 "$(cat "$f")" 2>/dev/null && return 1
    done
    return 0
}
fresh_pids() { rm -rf "$T/pids"; mkdir "$T/pids"; RANK_BEHAVE_PIDDIR="$T/pids"; export RANK_BEHAVE_PIDDIR; }
count_pids() { ls "$T/pids" | grep -c '^rank\.'; }

# ---- environment for N = 1..4 ---------------------------------------------------------------
for n in 1 2 3 4; do
    run_case --nproc-per-node=$n "$BEHAVE" env
    want=""; r=0
    while [ $r -lt $n ]; do want="$want rank=$r world=$n local_rank=$r local_world=$n fd=ok"; r=$((r + 1)); done
    got=$(sed 's/ shm=.*//' "$T/out" | sort -t= -k2 -n | tr '\n' ' ' | sed 's/ $//')
    [ $rc -eq 0 ] && [ " $got" = "$want" ]; check "env N=$n: every rank sees its own RANK/WORLD_SIZE/LOCAL_*" $? "(rc=$rc got '$got')"
    [ "$(grep -c 'shm=/memfd:' "$T/out")" -eq $n ]; check "env N=$n: PIPA_SHM_FD is an anonymous memfd" $? "($(cat "$T/out"))"
    [ -z "$shm_new" ]; check "env N=$n: nothing new in /dev/shm" $? "($shm_new)"
done

# ---- option spellings ------------------------------------------------------------------------
run_case --nproc_per_node=2 "$BEHAVE" env
[ $rc -eq 0 ] && [ "$(wc -l <"$T/out")" -eq 2 ]; check "--nproc_per_node=2 starts 2 ranks" $?
run_case --nproc-per-node 3 "$BEHAVE" env
[ $rc -eq 0 ] && [ "$(wc -l <"$T/out")" -eq 3 ]; check "--nproc-per-node 3 starts 3 ranks" $?
run_case -n 2 --timeout 7 -- "$BEHAVE" env
[ $rc -eq 0 ] && [ "$(grep -c 'timeout=7$' "$T/out")" -eq 2 ]; check "-n 2 --timeout 7 -- passes PIPA_TIMEOUT" $?
run_case "$BEHAVE" env
[ $rc -eq 0 ] && [ "$(wc -l <"$T/out")" -eq 1 ]; check "no -n: one rank" $?
run_case -n 2 "$BEHAVE" env -n 5
[ $rc -eq 0 ] && [ "$(wc -l <"$T/out")" -eq 2 ]; check "options stop at PROGRAM (its own -n is not ours)" $? "(rc=$rc)"

# ---- failures ---------------------------------------------------------------------------------
fresh_pids
run_case -n 3 "$BEHAVE" exit 1 42
[ $rc -ne 0 ] && has 'rank 1 exited with code 42' err; check "exit 42 on rank 1: non-zero, message names rank and code" $? "(rc=$rc $(cat "$T/err"))"
[ $secs_ms -lt 5000 ]; check "exit 42: the sleeping ranks were stopped quickly" $? "(${secs_ms} ms)"
no_pids_left; check "exit 42: no rank process left" $?
[ -z "$shm_new" ]; check "exit 42: nothing new in /dev/shm" $? "($shm_new)"

fresh_pids
run_case -n 2 "$BEHAVE" abort 0
[ $rc -ne 0 ] && has 'rank 0 killed by signal SIGABRT' err; check "abort on rank 0: names SIGABRT" $? "(rc=$rc $(cat "$T/err"))"
no_pids_left; check "abort: no rank process left" $?

fresh_pids
run_case -n 4 "$BEHAVE" sigkill 2
[ $rc -ne 0 ] && has 'rank 2 killed by signal SIGKILL' err; check "SIGKILL on rank 2: non-zero, names SIGKILL" $? "(rc=$rc $(cat "$T/err"))"
[ $secs_ms -lt 5000 ]; check "SIGKILL: others (sleeping 60 s) stopped in < 5 s" $? "(${secs_ms} ms)"
no_pids_left; check "SIGKILL: no rank process left" $?
[ -z "$shm_new" ]; check "SIGKILL: nothing new in /dev/shm" $? "($shm_new)"

fresh_pids
run_case -n 3 "$BEHAVE" ignore-term 0
[ $rc -ne 0 ] && has 'sending SIGKILL' err; check "ranks ignoring SIGTERM get SIGKILL after the grace" $? "(rc=$rc $(cat "$T/err"))"
[ $secs_ms -ge 1500 ] && [ $secs_ms -lt 5000 ]; check "ignore-term: ends after the grace, within 5 s" $? "(${secs_ms} ms)"
no_pids_left; check "ignore-term: no rank process left" $?
unset RANK_BEHAVE_PIDDIR

# ---- SIGTERM to pipa-run --------------------------------------------------------------------
fresh_pids
shm_list >"$T/shm.before"
t0=$(ms)
"$RUN" -n 3 "$BEHAVE" sleep 60 >"$T/out" 2>"$T/err" &
launcher=$!
i=0; while [ "$(count_pids)" -lt 3 ] && [ $i -lt 500 ]; do sleep 0.02; i=$((i + 1)); done
[ "$(count_pids)" -eq 3 ]; check "sigterm: all 3 ranks started" $?
kill -TERM $launcher
wait $launcher; rc=$?
secs_ms=$(($(ms) - t0))
[ $rc -eq 143 ]; check "SIGTERM to pipa-run: exits 128+15" $? "(rc=$rc $(cat "$T/err"))"
[ $secs_ms -lt 5000 ]; check "SIGTERM to pipa-run: ends in < 5 s" $? "(${secs_ms} ms)"
no_pids_left; check "SIGTERM to pipa-run: reached every rank, none left" $?
shm_list >"$T/shm.after"
[ -z "$(comm -13 "$T/shm.before" "$T/shm.after")" ]; check "SIGTERM to pipa-run: nothing new in /dev/shm" $?
unset RANK_BEHAVE_PIDDIR

# ---- bad command lines ------------------------------------------------------------------------
for bad in 0 -1 abc "" 257 3x; do
    run_case --nproc-per-node="$bad" "$BEHAVE" env
    [ $rc -eq 2 ] && has 'integer from 1 to 256' err && [ ! -s "$T/out" ]; check "bad N '$bad': exit 2 with a message, nothing run" $? "(rc=$rc)"
done
run_case -n
[ $rc -eq 2 ] && has 'needs a value' err; check "-n without a value: exit 2" $? "(rc=$rc)"
run_case --bogus "$BEHAVE" env
[ $rc -eq 2 ] && has "unknown option '--bogus'" err; check "unknown option: exit 2" $? "(rc=$rc)"
run_case -n 2 --timeout 0 "$BEHAVE" env
[ $rc -eq 2 ] && has 'positive number' err; check "--timeout 0: exit 2" $? "(rc=$rc)"
run_case
[ $rc -eq 2 ] && has 'usage:' err; check "no arguments: usage, exit 2" $? "(rc=$rc)"
run_case -n 2
[ $rc -eq 2 ] && has 'no PROGRAM' err; check "no PROGRAM: usage error, exit 2" $? "(rc=$rc)"
run_case --help
[ $rc -eq 0 ] && has 'usage:' out; check "--help: usage on stdout, exit 0" $? "(rc=$rc)"
run_case -n 2 "$T/no-such-program"
[ $rc -ne 0 ] && has "cannot execute '$T/no-such-program': No such file or directory" err && has 'exited with code 127' err
check "missing program: non-zero, 'cannot execute ... No such file'" $? "(rc=$rc $(cat "$T/err"))"
: >"$T/not-exec"
run_case -n 1 "$T/not-exec"
[ $rc -ne 0 ] && has "cannot execute '$T/not-exec': Permission denied" err; check "non-executable file: non-zero, 'Permission denied'" $? "(rc=$rc $(cat "$T/err"))"

# ---- --bind: each rank on one CPU, round robin over the CPUs pipa-run may use --------------------
ncpu=$(nproc)
run_case -n 2 --bind sh -c 'echo "$RANK $(grep Cpus_allowed_list /proc/self/status | cut -f2)"'
cpus=$(sort "$T/out" | awk '{print $2}' | tr '\n' ' ')
if [ "$ncpu" -ge 2 ]; then
    [ $rc -eq 0 ] && [ "$(sort "$T/out" | awk '{print $2}' | sort -u | wc -l)" -eq 2 ] &&
        ! echo "$cpus" | grep -q '[-,]'
    check "--bind: two ranks on two different single CPUs" $? "(cpus: $cpus)"
else
    [ $rc -eq 0 ] && ! echo "$cpus" | grep -q '[-,]'; check "--bind: one CPU each" $? "(cpus: $cpus)"
fi

echo "$pass passed, $fail failed"
[ $fail -eq 0 ]
