#!/bin/sh
# Fuzzing: builds every libFuzzer target tests/fuzz/fuzz_*.c (each defines LLVMFuzzerTestOneInput)
# with clang -fsanitize=fuzzer,address,undefined against the library sources, into build-fuzz/,
# and runs each on its committed seeds tests/fuzz/corpus/<target>/, with tests/fuzz/<target>.dict
# (a libFuzzer dictionary) and tests/fuzz/<target>.options (more libFuzzer flags on one line, e.g.
# -max_len=65536) where they exist. New inputs go to a scratch folder, never into the repository.
#   sh tests/fuzz/run.sh --short        one fixed-seed pass of each target, seconds (the suite's test)
#   sh tests/fuzz/run.sh --seconds N    N seconds of each target (make fuzz; FUZZ_SECONDS)
# Environment: FUZZ_CC (clang), FUZZ_BUILD (build-fuzz).
# A crash, leak, undefined behaviour, timeout (-timeout=5) or memory over -rss_limit_mb=512 fails
# the run and leaves its input in build-fuzz/artifacts/, with the command that replays it. Without
# clang's libFuzzer: --short says "skipped" and exits 77 (the suite prints SKIP); --seconds fails.
cd "$(dirname "$0")/../.." || exit 1
mode=${1:-}
seconds=${2:-60}
case "$mode" in
    --short) ;;
    --seconds) case "$seconds" in ''|*[!0-9]*) echo "fuzz: --seconds needs a number"; exit 2 ;; esac ;;
    *) echo "usage: sh tests/fuzz/run.sh --short | --seconds N"; exit 2 ;;
esac
CC=${FUZZ_CC:-clang}
FB=${FUZZ_BUILD:-build-fuzz}
SAN="-fsanitize=address,undefined -fno-sanitize-recover=undefined"

# Is there a compiler with libFuzzer? Never skip silently.
probe=$(mktemp -d) || exit 1
trap 'rm -rf "$probe"' EXIT
printf 'int LLVMFuzzerTestOneInput(const unsigned char *d, unsigned long n) { (void)d; (void)n; return 0; }\n' \
    >"$probe/probe.c"
if ! "$CC" -fsanitize=fuzzer $SAN "$probe/probe.c" -o "$probe/probe" >"$probe/log" 2>&1; then
    echo "fuzz: skipped: clang/libFuzzer not found ($CC -fsanitize=fuzzer failed:" \
         "$(head -c 200 "$probe/log" | tr '\n' ' '))"
    [ "$mode" = --short ] && exit 77
    exit 1
fi

echo "fuzz: building the targets with $CC into $FB/"
make --no-print-directory -j2 fuzz-build BUILD="$FB" CC="$CC" \
    OPT="-O1 -fno-omit-frame-pointer -fsanitize=fuzzer-no-link $SAN" \
    LDFLAGS="-fsanitize=fuzzer $SAN" >"$probe/build.log" 2>&1 || {
    cat "$probe/build.log"; echo "fuzz: FAILED to build"; exit 1; }

mkdir -p "$FB/artifacts"
fail=0
for src in tests/fuzz/fuzz_*.c; do
    [ -f "$src" ] || continue
    t=$(basename "$src" .c)
    scratch="$probe/corpus-$t"
    seeds="tests/fuzz/corpus/$t"
    mkdir -p "$scratch"
    [ -d "$seeds" ] || seeds=""
    set -- -rss_limit_mb=512 -timeout=5 -artifact_prefix="$FB/artifacts/$t-" -print_final_stats=1
    [ -f "tests/fuzz/$t.dict" ] && set -- "$@" -dict="tests/fuzz/$t.dict"
    [ -f "tests/fuzz/$t.options" ] && set -- "$@" $(cat "tests/fuzz/$t.options")
    if [ "$mode" = --short ]; then
        set -- "$@" -seed=1 -runs=20000 -max_total_time=10
        echo "fuzz: $t: a fixed-seed pass (20000 runs, at most 10 s)"
    else
        set -- "$@" -max_total_time="$seconds"
        echo "fuzz: $t: $seconds s"
    fi
    # The scratch folder comes first: libFuzzer writes what it finds there, and only reads the seeds.
    "$FB/fuzz/$t" "$@" "$scratch" $seeds >"$probe/$t.log" 2>&1
    rc=$?
    grep -E "^(#[0-9]+ *DONE|stat::number_of_executed_units|stat::peak_rss_mb)" "$probe/$t.log"
    if [ $rc -ne 0 ]; then
        fail=1
        tail -n 40 "$probe/$t.log"
        a=$(grep -o "Test unit written to [^ ]*" "$probe/$t.log" | tail -1 | sed 's/Test unit written to //')
        echo "fuzz: $t FAILED (exit $rc)${a:+; replay: $FB/fuzz/$t $a}"
    else
        echo "fuzz: $t ok"
    fi
done
[ $fail -eq 0 ] && echo "fuzz: all targets ok"
exit $fail
