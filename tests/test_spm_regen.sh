#!/bin/sh
# spm_regen: tests/ref/gen_spm_ref.py, run again with python3-sentencepiece into a scratch
# folder, must write the committed tests/ref/spm/ref.txt byte for byte: the reference test_spm
# compares against is what SentencePiece says today, not a file that drifted. Without the module
# the script exits 77 with the reason (the suite's skip); scripts/install-deps.sh installs it.
cd "$(dirname "$0")/.." || exit 1
out=$(mktemp -d) || exit 1
trap 'rm -rf "$out"' EXIT
/usr/bin/python3 tests/ref/gen_spm_ref.py "$out"
rc=$?
[ $rc -eq 0 ] || exit $rc
if ! cmp "$out/ref.txt" tests/ref/spm/ref.txt; then
    diff "$out/ref.txt" tests/ref/spm/ref.txt | head -20
    echo "spm_regen: SentencePiece now says something else than tests/ref/spm/ref.txt"
    exit 1
fi
echo "spm_regen: SentencePiece $(/usr/bin/python3 -c 'import sentencepiece; print(sentencepiece.__version__)') writes the committed reference"
