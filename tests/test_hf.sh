#!/bin/sh
# test_hf.sh: Hugging Face model folders. tests/ref/gen_hf_folders.py (PyTorch for the dtype
# conversions) writes tiny Llama folders, special values, broken folders and the expected values
# into a scratch folder; tests/test_hf_load.c loads them in several layouts and checks every
# value and every refusal, and exports; the script then reads the exports back with its own
# struct-based reader and compares every byte; the exports of two layouts are the same bytes.
#   usage: sh tests/test_hf.sh BUILD
B=${1:-build}
cd "$(dirname "$0")/.." || exit 1
pass=0; fail=0
. tests/lib.sh
PY=/usr/bin/python3
if ! "$PY" -c "import torch" >/dev/null 2>&1; then
    echo "skipped: $PY with torch not found (make deps installs python3-torch)"
    exit 77
fi
T=$(mktemp -d) || exit 1
trap 'rm -rf "$T"' EXIT
"$PY" tests/ref/gen_hf_folders.py gen "$T/hf" >"$T/err" 2>&1
ERR_TAIL=20 check "gen_hf_folders.py writes the folders" $?
"$B/tests/test_hf_load" "$T/hf" >"$T/out" 2>"$T/err"
rc=$?
cat "$T/out"
ERR_TAIL=40 check "test_hf_load: values, layouts, refusals, export" $rc
"$PY" tests/ref/gen_hf_folders.py check-export "$T/hf" export_f32:f32 export_bf16:bf16 \
    export_split:f32 >"$T/err" 2>&1
ERR_TAIL=20 check "the exports (f32, bf16, from pp 2 x tp 2) read back by Python equal the weights" $?
cmp -s "$T/hf/export_f32/model.safetensors" "$T/hf/export_split/model.safetensors"
check "the export of pp 2 x tp 2 tables is byte-identical to the one-table export" $?
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
