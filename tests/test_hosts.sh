#!/bin/sh
# test_hosts.sh: pipa across two "hosts" of this machine. Two network namespaces joined by a veth
# pair, with addresses this test assigns (10.213.9.1 and .2 on the pair, nowhere else), stand in
# for two machines: mpirun, started in the first, launches the second's ranks through a launch
# agent that plays ssh ("AGENT HOST CMD" runs CMD in HOST's namespace), and Open MPI is forced
# onto TCP over the pair (btl tcp,self; its own wiring, oob, too). Each rank records its network
# namespace before it becomes the pipa program, which proves where it ran. Across the hosts, a
# pipelined forward (pipa-demo --demo 1: checksums) and training steps (pipa-train: loss_hex,
# parameter hashes) equal the one-host run under pipa-run (shm), bit for bit.
# Exit 77 ("skipped: WHY", tests/run.sh's SKIP) where MPI is not built or namespaces are refused
# (not root, no ip, no permission); never a pass. The namespaces go on every exit path.
#   usage: sh tests/test_hosts.sh BUILD_DIR
B=${1:-build}
cd "$(dirname "$0")/.." || exit 1
. tests/lib.sh   # check NAME STATUS [DETAIL], bits JSON
mpi_built || { echo "skipped: MPI not built"; exit 77; }
command -v mpirun >/dev/null || { echo "skipped: no mpirun"; exit 77; }
command -v ip >/dev/null || { echo "skipped: no ip (iproute2) to make network namespaces"; exit 77; }
[ "$(id -u)" = 0 ] || { echo "skipped: network namespaces need root"; exit 77; }
pass=0; fail=0
T=$(mktemp -d "${TMPDIR:-/tmp}/pipa-hosts.XXXXXX") || exit 1

# Names unique to this run (two runs at once must not meet); a veth name has at most 15 bytes.
NA=pipa-hosts-$$-a; NB=pipa-hosts-$$-b
VA=ph$$a; VB=ph$$b
NET=10.213.9; HA=$NET.1; HB=$NET.2
# cleanup: ends whatever still runs in the namespaces (a failed job's daemons), then deletes them
# (which takes the veth pair with them; the pair itself if it never got there) and the scratch
# folder.
cleanup() {
    ip link del $VA 2>/dev/null
    for ns in $NA $NB; do
        pids=$(ip netns pids $ns 2>/dev/null) && [ -n "$pids" ] && kill -9 $pids 2>/dev/null
        ip netns del $ns 2>/dev/null
    done
    rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 1' HUP INT TERM

if ! ip netns add $NA 2>"$T/err"; then
    echo "skipped: ip netns add refused: $(head -n 1 "$T/err")"
    exit 77
fi
if ! ip link add $VA type veth peer name $VB 2>"$T/err"; then
    echo "skipped: ip link add (a veth pair) refused: $(head -n 1 "$T/err")"
    exit 77
fi
ip netns add $NB 2>"$T/err" && ip link set $VA netns $NA && ip link set $VB netns $NB &&
    ip -n $NA addr add $HA/24 dev $VA && ip -n $NB addr add $HB/24 dev $VB &&
    ip -n $NA link set lo up && ip -n $NB link set lo up &&
    ip -n $NA link set $VA up && ip -n $NB link set $VB up
check "two namespaces joined by a veth pair, $HA and $HB" $? "$(cat "$T/err")"
[ $fail -eq 0 ] || { echo "$pass passed, $fail failed"; exit 1; }
ns_a=$(ip netns exec $NA readlink /proc/self/ns/net); ns_b=$(ip netns exec $NB readlink /proc/self/ns/net)

# The launch agent: what ssh would be for real machines. Open MPI calls it as "AGENT HOST ARGS..."
# with ARGS a command line for a remote shell (some of it quoted for one), hence sh -c "$*".
cat >"$T/agent" <<EOF
#!/bin/sh
host=\$1; shift
case \$host in
    $HA) ns=$NA ;;
    $HB) ns=$NB ;;
    *) echo "agent: no such host: \$host" >&2; exit 1 ;;
esac
exec ip netns exec \$ns /bin/sh -c "\$*"
EOF
# The rank's wrapper: records its namespace and address, then becomes the program (same process).
cat >"$T/where" <<EOF
#!/bin/sh
echo "\$(readlink /proc/self/ns/net) \$(ip -o -4 addr show | grep -o '$NET\.[0-9]*' | head -n 1)" \
    >"$T/where.\$OMPI_COMM_WORLD_RANK"
exec "\$@"
EOF
chmod +x "$T/agent" "$T/where"

MPIRUN="mpirun --allow-run-as-root --oversubscribe --mca plm_rsh_agent $T/agent
    --mca btl tcp,self --mca btl_tcp_if_include $NET.0/24 --mca oob_tcp_if_include $NET.0/24"
# Under the sanitizers, Open MPI's own leaks are not pipa's (as in test_mpi.sh).
MPI_ASAN="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0"
ms() { echo $(($(date +%s%N) / 1000000)); }
# hosts HOSTS ARGS...: runs ARGS on the ranks HOSTS places (-H list) with mpirun started in the
# first namespace (LIMIT seconds, 240 by default); sets rc, took (ms), $T/out, $T/err.
hosts() {
    h=$1; shift
    rm -f "$T"/where.*
    t0=$(ms)
    # In the background and waited for: a signal to this script then runs its trap at once (a
    # foreground command would delay it to the command's end).
    ASAN_OPTIONS="$MPI_ASAN" timeout -k 5 "${LIMIT:-240}" ip netns exec $NA $MPIRUN -H "$h" \
        "$T/where" "$@" >"$T/out" 2>"$T/err" </dev/null &
    wait $!
    rc=$?
    took=$(($(ms) - t0))
}
why() { echo "(rc=$rc, ${took} ms: $(tail -n 5 "$T/err" | tr '\n' ' '))"; }
# placed NA NB: the ranks ran NA in the first namespace then NB in the second, each with its
# namespace's address.
placed() {
    r=0; ok=0
    for ns in $(seq "$1" | sed "s/.*/a/") $(seq "$2" | sed "s/.*/b/"); do
        want="$ns_a $HA"; [ $ns = b ] && want="$ns_b $HB"
        [ "$(cat "$T/where.$r" 2>/dev/null)" = "$want" ] || ok=1
        r=$((r + 1))
    done
    [ -f "$T/where.$r" ] && ok=1   # no more ranks than asked
    return $ok
}
where() { for f in "$T"/where.*; do printf '%s: %s; ' "${f##*.}" "$(cat "$f")"; done; }

# ---- the ranks run where they are placed: 2 + 2 and 1 + 1 -------------------------------------------
hosts $HA:2,$HB:2 "$B/pipa-demo" --demo 1 --json "$T/hosts.json"
[ $rc -eq 0 ] && placed 2 2 && grep -q '^transport  mpi$' "$T/out"
check "mpirun -H $HA:2,$HB:2: ranks 0-1 in one namespace, 2-3 in the other, transport mpi" $? \
    "$(why) $(where)"
# ---- a pipelined forward across the hosts: the one-host checksums -------------------------------------
"$B/pipa-run" -n 4 "$B/pipa-demo" --demo 1 --json "$T/shm.json" >/dev/null 2>&1
[ $rc -eq 0 ] && bits "$T/shm.json" >"$T/shm.txt" && bits "$T/hosts.json" >"$T/hosts.txt" &&
    grep -q checksum "$T/shm.txt" && cmp -s "$T/shm.txt" "$T/hosts.txt"
check "pipa-demo --demo 1 on 2 + 2 ranks over TCP: pipa-run's checksums, bit for bit" $? \
    "$(diff "$T/shm.txt" "$T/hosts.txt" | head -4 | tr '\n' ' ')"

# ---- training steps across the hosts: the one-host losses and parameter hashes ------------------------
TRAIN="--steps 3 --layers 8 --hidden 64 --heads 4 --intermediate 128 --seq 32 --batch 2 --microbatches 4"
for run in "2 2 1f1b" "1 1 gpipe"; do
    set -- $run
    "$B/pipa-run" -n $(($1 + $2)) "$B/pipa-train" $TRAIN --schedule $3 --json "$T/shm.json" >/dev/null 2>&1
    hosts $HA:$1,$HB:$2 "$B/pipa-train" $TRAIN --schedule $3 --json "$T/hosts.json"
    [ $rc -eq 0 ] && placed $1 $2 && grep -q '^transport  mpi$' "$T/out" &&
        bits "$T/shm.json" >"$T/shm.txt" && bits "$T/hosts.json" >"$T/hosts.txt" &&
        grep -q 0x "$T/shm.txt" && cmp -s "$T/shm.txt" "$T/hosts.txt"
    check "pipa-train $3 on $1 + $2 ranks over TCP: pipa-run's losses and hashes, bit for bit" $? \
        "$(why) $(where) $(diff "$T/shm.txt" "$T/hosts.txt" | head -4 | tr '\n' ' ')"
done

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
