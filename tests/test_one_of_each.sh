#!/bin/sh
# test_one_of_each: the duplicates issue 7 removed stay removed, and tools keep to public names.
# Each check greps the sources for the shape of a second copy, so a copy brought back fails here:
#  - tools and benchmarks use no pipa__ internal names
#  - one "--name VALUE" matcher (pipa_cli_take): no other code tests argv for "name=" by hand
#  - one FNV-1a (src/base/hash.c): its prime appears nowhere else
#  - one random-number module (src/base/rand.c): splitmix's constants nowhere else in src/;
#    data.c does not include model.h
#  - one JSON writer (src/base/json.c): no other file prints a "key": member by hand
#  - trace.c formats only: it sends and receives nothing
#  - the model configuration is pipa_model_config_t; pipa_config_t is gone
# Usage: sh tests/test_one_of_each.sh [BUILD_DIR]   (run from the repository root)
cd "$(dirname "$0")/.." || exit 1
pass=0; fail=0
. tests/lib.sh
none() { ! grep -rn "$@" >/dev/null 2>&1; }
# shows what a failing check found
show() { grep -rn "$@" 2>/dev/null | head -3; }

none 'pipa__' tools bench
check "tools and benchmarks use public names only" $? "$(show 'pipa__' tools bench)"
none -E "\[(len|n)\] == '='" src tools bench --include=*.c --exclude=cli.c
check "one --name VALUE matcher (cli.c)" $? "$(show -E "\[(len|n)\] == '='" src tools bench --include=*.c --exclude=cli.c)"
none -i '100000001b3' src tools bench tests --include=*.c --include=*.h --exclude=hash.c
check "one FNV-1a (hash.c)" $? "$(show -i '100000001b3' src tools bench tests --include=*.c --include=*.h --exclude=hash.c)"
none -i 'bf58476d1ce4e5b9' src --exclude=rand.c
check "one random-number module (rand.c)" $? "$(show -i 'bf58476d1ce4e5b9' src --exclude=rand.c)"
none '#include "model/model.h"' src/io/data.c src/io/data.h
check "data.c does not include model.h for random numbers" $?
none -E 'printf\(.*\\"(%s|[A-Za-z_]+)\\": ' src tools bench --include=*.c --exclude=json.c
check "one JSON writer (json.c)" $? "$(show -E 'printf\(.*\\"(%s|[A-Za-z_]+)\\": ' src tools bench --include=*.c --exclude=json.c)"
none -E 'pipa_(send|recv|isend|irecv|wait|gather|barrier)\(|#include "comm/comm.h"' src/runtime/trace.c src/runtime/trace.h
check "trace.c runs no collective" $?
none -w 'pipa_config_t' src tools bench tests --include=*.c --include=*.h
check "pipa_config_t renamed pipa_model_config_t" $?

echo "$pass passed, $fail failed"
[ $fail -eq 0 ]
