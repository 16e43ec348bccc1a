#!/bin/sh
# test_layers.sh: the folders of src/ are layers, and includes go only downward:
#   base  <  comm, model, plan  <  io  <  runtime  <  tools, bench
# (io sits above model: it loads Hugging Face folders into the model's tensor table)
# A file may include headers of its own folder and of folders below it, never of a folder beside
# or above it; no header includes itself through a circle (tsort finds none); tools and
# benchmarks include public headers only (no transport or backend internals). Reads the sources,
# runs nothing.
#   usage: sh tests/test_layers.sh
cd "$(dirname "$0")/.." || exit 1
pass=0; fail=0
. tests/lib.sh   # check NAME STATUS [DETAIL]

rank() {
    case $1 in
        base) echo 0 ;; comm|model|plan) echo 1 ;; io) echo 2 ;; runtime) echo 3 ;; *) echo 9 ;;
    esac
}
# "file included-folder" pairs of every pipa include in src/
pairs() {
    for f in src/*/*.c src/*/*.h; do
        sed -n 's/^#include "\([a-z]*\)\/.*/\1/p' "$f" | sed "s#^#$f #"
    done
}

bad=$(ls -d src/*/ | sed 's#src/##; s#/##' | while read -r d; do
    [ "$(rank "$d")" = 9 ] && echo "$d"; done | tr '\n' ' ')
check "every folder of src/ is a known layer" "$([ -z "$bad" ]; echo $?)" "(unknown: $bad)"

bad=$(pairs | while read -r f inc; do
    own=$(echo "$f" | cut -d/ -f2)
    [ "$own" = "$inc" ] && continue
    [ "$(rank "$inc")" -lt "$(rank "$own")" ] || echo "$f includes $inc/"
done | head -5 | tr '\n' ';')
check "includes go only downward" "$([ -z "$bad" ]; echo $?)" "($bad)"

bad=$(grep -h -E '^#include "[^/"]*"' src/*/*.[ch] | head -3 | tr '\n' ' ')
check "every pipa include names its folder" "$([ -z "$bad" ]; echo $?)" "($bad)"

# include graph: "includer included" per line, headers by path; tsort reports any circle
graph=$(for f in src/*/*.h src/*/*.c; do
    sed -n 's/^#include "\([a-z]*\/[a-z_]*\.h\)".*/\1/p' "$f" | sed "s#^#${f#src/} #"
done)
cyc=$(echo "$graph" | tsort 2>&1 >/dev/null | head -3 | tr '\n' ' ')
check "no circle of includes" "$([ -z "$cyc" ]; echo $?)" "($cyc)"

internal='_internal\.h|comm/shm|comm/transport\.h|model/ops_cpu\.h'
bad=$(grep -n -E "^#include \"($internal)" tools/*.[ch] bench/*.[ch] | head -3 | tr '\n' ' ')
check "tools and benchmarks include public headers only" "$([ -z "$bad" ]; echo $?)" "($bad)"

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
