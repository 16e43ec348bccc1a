#!/bin/sh
# test_compute_seam: the code above the compute seam (backend.h) never names an implementation.
# Each check greps for the shape of a way round the seam, so one brought back fails here:
#  - the CPU kernels (pipa__cpu_*, and the old pipa_op_* names) are named only by the CPU
#    backend's own files: backend_cpu*.c, its kernels ops*.c and their header ops_cpu.h; tools,
#    benchmarks and tests reach ops through pipa_backend() or the registry
#  - ops_cpu.h is included only by those files
#  - CBLAS is called only by the kernels (ops*.c) and blas.c in src/, and not by tools
#    (the layer benchmark's sgemm peer figure is the one caller outside)
#  - host allocation of aligned blocks (aligned_alloc) only in the CPU backend: every model
#    buffer comes from pipa_backend_alloc
#  - every backend named in the registration list has its file defining its table
# Usage: sh tests/test_compute_seam.sh [BUILD_DIR]   (run from the repository root)
cd "$(dirname "$0")/.." || exit 1
set -f  # the --exclude patterns below are for grep, not the shell
pass=0; fail=0
. tests/lib.sh
CPU_FILES="--exclude=backend_cpu*.c --exclude=ops*.c --exclude=ops_cpu.h"
none() { ! grep -rn "$@" >/dev/null 2>&1; }
show() { grep -rn "$@" 2>/dev/null | head -3; }

none -E 'pipa__cpu_|pipa_op_' src tools bench tests --include=*.c --include=*.h $CPU_FILES
check "CPU kernels named only by the CPU backend's files" $? \
    "$(show -E 'pipa__cpu_|pipa_op_' src tools bench tests --include=*.c --include=*.h $CPU_FILES)"
none '#include "model/ops_cpu.h"' src tools bench tests --include=*.c --include=*.h $CPU_FILES
check "ops_cpu.h included only by the CPU backend's files" $? \
    "$(show '#include "model/ops_cpu.h"' src tools bench tests --include=*.c --include=*.h $CPU_FILES)"
BLAS_FILES="--include=*.c --include=*.h --exclude=ops*.c --exclude=blas.c"
none -E 'cblas_|<cblas.h>|<blis.h>' src tools $BLAS_FILES
check "CBLAS called only by the CPU kernels and blas.c" $? \
    "$(show -E 'cblas_|<cblas.h>|<blis.h>' src tools $BLAS_FILES)"
none 'aligned_alloc' src tools --include=*.c --exclude=backend_cpu*.c
check "aligned blocks allocated only by the CPU backend" $? \
    "$(show 'aligned_alloc' src tools --include=*.c --exclude=backend_cpu*.c)"
missing=""
for b in $(sed -n 's/^#define PIPA_BACKENDS(X) //p' src/model/backend.c | grep -o 'X([a-z0-9_]*)' |
           sed 's/X(\(.*\))/\1/'); do
    grep -q "const pipa_backend_t pipa__backend_$b = " src/model/backend_$b.c 2>/dev/null ||
        missing="$missing $b"
done
[ -z "$missing" ] && [ -n "$(sed -n 's/^#define PIPA_BACKENDS(X) //p' src/model/backend.c)" ]
check "every registered backend has src/model/backend_NAME.c defining its table" $? "missing:$missing"

echo "$pass passed, $fail failed"
[ $fail -eq 0 ]
