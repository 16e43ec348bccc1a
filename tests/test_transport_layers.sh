#!/bin/sh
# test_transport_layers.sh: proves the messaging files form layers, with no circle: the shared-
# memory transport (src/comm/shm*) and the MPI one (transport_mpi*) include nothing above
# transport.h (not comm.h, the communicator that calls it) and call none of the communicator's
# functions; nothing but shm's own files knows shm's internals, nothing but transport_mpi* MPI;
# the communicator (comm.c) and the collectives (coll.c, allreduce.c) name no transport; tools and
# benchmarks name none either (pipa-run prepares a run through launch.h); and a transport is
# registered by one line in transport.c. Reads the sources, runs nothing.
#   usage: sh tests/test_transport_layers.sh
cd "$(dirname "$0")/.." || exit 1
pass=0; fail=0
. tests/lib.sh   # check NAME STATUS [DETAIL]

# pipa headers a file includes, one a line
incs() { sed -n 's/^#include "\(.*\)".*/\1/p' "$@"; }

bad=$(incs src/comm/shm*.c src/comm/shm*.h | grep -v -x -e comm/shm_internal.h -e comm/shm_seg.h \
      -e comm/transport.h -e comm/msg.h -e base/status.h -e base/env.h | sort -u | tr '\n' ' ')
check "shm includes only what is below it" "$([ -z "$bad" ]; echo $?)" "(includes: $bad)"

bad=$(incs src/comm/transport.h src/comm/transport.c src/comm/msg.h src/comm/msg.c | grep -v -x \
      -e comm/transport.h -e comm/msg.h -e base/dtype.h -e base/status.h -e base/env.h | sort -u | tr '\n' ' ')
check "transport.h and msg.h include nothing above them" "$([ -z "$bad" ]; echo $?)" "($bad)"

bad=$(incs src/comm/transport_mpi*.c src/comm/transport_mpi*.h | grep -v -x -e comm/transport.h \
      -e comm/transport_mpi.h -e comm/msg.h -e base/status.h -e base/env.h | sort -u | tr '\n' ' ')
check "mpi includes only what is below it" "$([ -z "$bad" ]; echo $?)" "(includes: $bad)"

above='pipa__check_header|pipa_(comm_|isend|irecv|test|wait|send|recv|detach|flush|group_'
above="$above|barrier|bcast|gather|allreduce|agree)"
bad=$(grep -l -E "$above" src/comm/shm*.c src/comm/shm*.h | tr '\n' ' ')
check "shm calls nothing of the communicator" "$([ -z "$bad" ]; echo $?)" "(in: $bad)"
bad=$(grep -H -n -E "$above" src/comm/transport_mpi*.c src/comm/transport_mpi*.h |
      grep -v -E '^[^:]*:[0-9]+:\s*(/\*|\*)' | head -3)
check "mpi calls nothing of the communicator" "$([ -z "$bad" ]; echo $?)" "($bad)"
# (and pipa-bench_mpi.c, which measures MPI's own point-to-point beside pipa's)
bad=$(grep -l -E '<mpi\.h>|\bMPI_[A-Z][a-z_]*\(' src/*/*.c src/*/*.h tools/*.c bench/*.c tests/*.c |
      grep -v -x -e 'src/comm/transport_mpi[_a-z]*\.[ch]' -e bench/pipa-bench_mpi.c | tr '\n' ' ')
check "only transport_mpi* uses MPI (and the benchmark's peer figure)" "$([ -z "$bad" ]; echo $?)" "(in: $bad)"

bad=$(grep -l 'shm_internal.h' src/*/*.c src/*/*.h tools/*.c bench/*.c tests/*.c | grep -v '^src/comm/shm' |
      tr '\n' ' ')
check "only shm's own files include shm_internal.h" "$([ -z "$bad" ]; echo $?)" "(in: $bad)"

bad=$(grep -n -E 'shm|PIPA__REQ' src/comm/comm.c src/comm/comm.h src/comm/coll.c src/comm/allreduce.c src/runtime/runtime.c |
      grep -v -E '^[^:]+:[0-9]+:\s*(/\*|\*)' | head -3)
check "comm.c, coll.c, allreduce.c and the runtime name no transport" "$([ -z "$bad" ]; echo $?)" "($bad)"

# The launcher prepares a run through launch.h (the transport's table), and no tool or benchmark
# knows a transport: none includes an shm header or calls an shm function (PIPA_SHM_* settings
# are the user's to set, in the environment, and not named here either).
bad=$(grep -n -E '#include "(comm/)?(shm|transport)|pipa_+shm_|PIPA_SHM_FD|memfd' tools/*.c tools/*.h \
      bench/*.c bench/*.h | head -3)
check "tools and benchmarks name no transport (pipa-run goes through launch.h)" \
    "$([ -z "$bad" ]; echo $?)" "($bad)"
check "pipa-run prepares the run through launch.h" \
    "$(grep -q 'pipa_launch_begin' tools/pipa-run.c && grep -q 'pipa_launch_set_rank_env' \
       tools/pipa-run.c; echo $?)"

check "the request kind is an enum" "$(grep -q 'pipa_req_kind_t kind;' src/comm/msg.h; echo $?)"
check "shm registered by one line" \
    "$(grep -q '^#define PIPA_TRANSPORTS(X) X(shm)' src/comm/transport.c; echo $?)"
check "mpi registered by one line, where MPI is built" \
    "$(grep -q '^#define PIPA_TRANSPORTS(X) X(shm) X(mpi)$' src/comm/transport.c; echo $?)"

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
