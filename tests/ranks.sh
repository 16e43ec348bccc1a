#!/bin/sh
# tests/ranks.sh: the one place the tests start ranks. `tests/ranks.sh -n N PROG ARGS...` starts
# N ranks of PROG over the transport PIPA_TEST_TRANSPORT names: shm (the default) through
# $B/pipa-run, mpi through mpirun. tests/run.sh exports B and PIPA_TEST_TRANSPORT, and in
# tests/list this script is $RUN; a shell test sets RUN=tests/ranks.sh and exports B.
# Under mpi: --oversubscribe (the tests run more ranks than this machine has cores; as root
# also --allow-run-as-root), and no leak check under the sanitizers: Open MPI leaves thousands
# of its own allocations behind, in components it has unloaded (no names to suppress); pipa's
# own code paths are leak-checked in the shm pass. The ranks share one machine: Open MPI's shared
# memory (pml ob1 over btl vader, and self) without probing UCX, OFI, InfiniBand or TCP, which
# takes mpirun's start from about 1.5 s to 0.5 s here (the tests start hundreds of runs); an
# OMPI_MCA_* already set wins. mpirun passes its whole environment on to
# ranks on this machine (PIPA_TIMEOUT, PIPA_LOG, ... reach them as under pipa-run).
#   usage: tests/ranks.sh -n N PROG [ARGS...]   (run from the repository root)
B=${B:-build}
case "${PIPA_TEST_TRANSPORT:-shm}" in
shm)
    exec "$B/pipa-run" "$@" ;;
mpi)
    if [ "$1" != -n ] || [ $# -lt 3 ]; then
        echo "tests/ranks.sh: under mpi the only form is -n N PROG [ARGS...], not: $*" >&2
        exit 2
    fi
    root=""; [ "$(id -u)" = 0 ] && root=--allow-run-as-root
    export OMPI_MCA_pml="${OMPI_MCA_pml:-ob1}" OMPI_MCA_btl="${OMPI_MCA_btl:-self,vader}" \
        OMPI_MCA_osc="${OMPI_MCA_osc:-^ucx}"
    ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0" \
        exec mpirun --oversubscribe $root "$@" ;;
*)
    echo "tests/ranks.sh: PIPA_TEST_TRANSPORT must be shm or mpi, not '$PIPA_TEST_TRANSPORT'" >&2
    exit 2 ;;
esac
