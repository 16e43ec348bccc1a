#!/bin/sh
# test_launcher.sh: proves pipa-run starts ranks with the right environment, propagates failures
# (exit code, signal names), brings the other ranks down fast (SIGTERM, then SIGKILL after the
# grace), forwards SIGTERM, leaves no rank processes and nothing in /dev/shm, and rejects bad
# command lines. Leaves nothing running: each rank leads its own process group, so what a rank
# starts is signalled and SIGKILLed with it; a kill -9 of pipa-run takes every rank and their
# children down (PDEATHSIG and the watchdog); Ctrl-Z and Ctrl-C to pipa-run's group reach the ranks.
# Uses tests/rank_behave (and sh -c scripts) as the ranks.
#   usage: sh tests/test_launcher.sh BUILD_DIR
B=${1:-build}
RUN="$B/pipa-run"
BEHAVE="$B/tests/rank_behave"
pass=0; fail=0
T=$(mktemp -d "${TMPDIR:-/tmp}/pipa-launcher.XXXXXX") || exit 1
trap 'rm -rf "$T"' EXIT

. "$(dirname "$0")/lib.sh"   # check NAME STATUS [DETAIL]
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

# ---- nothing left running: process groups, SIGKILL escalation, the watchdog ---------------------
# alive PID: the process exists and is not a zombie (a killed orphan may wait a moment to be reaped).
alive() { st=$(ps -o stat= -p "$1" 2>/dev/null); [ -n "$st" ] && [ "${st#Z}" = "$st" ]; }
# none_alive_within MS PID...: 0 when every PID is gone within MS ms; else prints the survivors.
none_alive_within() {
    end=$(($(ms) + $1)); shift
    while :; do
        left=""; for p in "$@"; do alive "$p" && left="$left $p"; done
        [ -z "$left" ] && return 0
        [ "$(ms)" -ge $end ] && { echo "alive:$left"; ps -o pid,ppid,pgid,stat,cmd -p "$(echo $left | tr ' ' ,)"; return 1; }
        sleep 0.05
    done
}
# wait_files N GLOB: waits (up to 10 s) until N non-empty files match GLOB in $T/pids.
wait_files() {
    i=0
    while [ $i -lt 500 ]; do
        k=0; for f in "$T"/pids/$2; do [ -s "$f" ] && k=$((k + 1)); done
        [ $k -ge $1 ] && return 0
        sleep 0.02; i=$((i + 1))
    done
    return 1
}
kids() { ps -o pid= --ppid "$1" | tr -d ' '; }
# kill9_case NAME NKIDS SCRIPT: runs pipa-run -n 2 sh -c SCRIPT, waits for its NKIDS children
# (ranks and watchdog) and any grandchild pid files the script writes, kills pipa-run with SIGKILL,
# and checks that no process of the run is alive 3 s later.
kill9_case() {
    fresh_pids
    "$RUN" -n 2 sh -c "$3" >"$T/out" 2>"$T/err" &
    launcher=$!
    i=0; while [ "$(kids $launcher | wc -l)" -lt "$2" ] && [ $i -lt 500 ]; do sleep 0.02; i=$((i + 1)); done
    case "$3" in *child.*) wait_files 2 'child.*' ;; *) sleep 0.3 ;; esac
    pids="$(kids $launcher) $(cat "$T"/pids/child.* 2>/dev/null)"
    [ "$(echo $pids | wc -w)" -ge "$2" ]; check "$1: the run started ($2+ processes)" $? "($pids)"
    kill -KILL $launcher; wait $launcher 2>/dev/null
    none_alive_within 3000 $pids >"$T/left"; check "$1: kill -9 of pipa-run leaves nothing after 3 s" $? "($(cat "$T/left"))"
}
kill9_case "ranks ignoring SIGTERM" 3 "trap '' TERM; exec sleep 99"
kill9_case "grandchildren ignoring SIGTERM" 3 \
    'trap "" TERM; sleep 99 & echo $! >"$RANK_BEHAVE_PIDDIR/child.$RANK"; wait'

# A rank fails while the other, and what it started, ignore SIGTERM: SIGKILL after the grace
# reaches the whole group.
fresh_pids
run_case -n 2 sh -c 'D=$RANK_BEHAVE_PIDDIR
    if [ "$RANK" = 0 ]; then while [ ! -s "$D/child.1" ]; do sleep 0.02; done; exit 3; fi
    trap "" TERM; sleep 99 & echo $! >"$D/child.$RANK"; wait'
[ $rc -eq 1 ] && has 'rank 0 exited with code 3' err && has 'sending SIGKILL' err
check "ignore-term group: rank 0's failure reported, SIGKILL sent" $? "(rc=$rc $(cat "$T/err"))"
[ $secs_ms -ge 1500 ] && [ $secs_ms -lt 6000 ]; check "ignore-term group: ends after the grace, within 6 s" $? "(${secs_ms} ms)"
none_alive_within 1000 $(cat "$T"/pids/child.*) >"$T/left"; check "ignore-term group: the rank's own child is gone too" $? "($(cat "$T/left"))"

# A rank that exits 0 but leaves a child behind: the run's end sweeps it.
fresh_pids
run_case -n 1 sh -c 'sleep 99 & echo $! >"$RANK_BEHAVE_PIDDIR/child.0"'
[ $rc -eq 0 ]; check "leftover child: run exits 0" $? "(rc=$rc)"
none_alive_within 1000 $(cat "$T"/pids/child.*) >"$T/left"; check "leftover child: swept when the run ends" $? "($(cat "$T/left"))"
unset RANK_BEHAVE_PIDDIR

# Terminal signals: pipa-run leads its own group here (setsid), as a shell's foreground job does.
# Ranks are in groups of their own; Ctrl-Z stops and continues them with pipa-run; Ctrl-C reaches
# them through pipa-run.
if command -v setsid >/dev/null; then
    fresh_pids
    setsid "$RUN" -n 2 "$BEHAVE" sleep 60 >"$T/out" 2>"$T/err" &
    launcher=$!
    wait_files 2 'rank.*'
    r0=$(cat "$T/pids/rank.0"); r1=$(cat "$T/pids/rank.1")
    g0=$(ps -o pgid= -p $r0 | tr -d ' '); g1=$(ps -o pgid= -p $r1 | tr -d ' ')
    [ "$g0" = "$r0" ] && [ "$g1" = "$r1" ]; check "each rank leads a process group of its own" $? "(pgids $g0 $g1, pids $r0 $r1, launcher $launcher)"
    kill -TSTP -$launcher
    stopped() { for p in "$@"; do case "$(ps -o stat= -p $p)" in T*) ;; *) return 1 ;; esac; done; }
    i=0; while ! stopped $r0 $r1 $launcher && [ $i -lt 250 ]; do sleep 0.02; i=$((i + 1)); done
    stopped $r0 $r1 $launcher; check "Ctrl-Z (SIGTSTP to pipa-run's group) stops the ranks too" $? "($(ps -o pid,stat -p $r0,$r1,$launcher | tr '\n' ' '))"
    kill -CONT -$launcher
    i=0; while stopped $r0 && [ $i -lt 250 ]; do sleep 0.02; i=$((i + 1)); done
    ! stopped $r0 && ! stopped $r1; check "fg (SIGCONT) continues the ranks" $? "($(ps -o pid,stat -p $r0,$r1 | tr '\n' ' '))"
    t0=$(ms)
    kill -INT -$launcher
    wait $launcher; rc=$?
    secs_ms=$(($(ms) - t0))
    [ $rc -eq 130 ] && has 'got SIGINT; forwarding' err; check "Ctrl-C (SIGINT to pipa-run's group): forwarded, exits 130" $? "(rc=$rc $(cat "$T/err"))"
    [ $secs_ms -lt 5000 ] && no_pids_left; check "Ctrl-C: ranks gone in < 5 s" $? "(${secs_ms} ms)"
    unset RANK_BEHAVE_PIDDIR
fi

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
