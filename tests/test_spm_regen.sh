#!/bin/sh
# spm_regen: tests/ref/gen_spm_ref.py, run again with python3-sentencepiece into a scratch
# folder, must write the committed tests/ref/spm/ref.txt byte for byte: the reference test_spm
# compares against is what SentencePiece says today, not a file that drifted. Then a long text
# (the training text four times over, 10 KB in one piece) through pipa-tokenize and SentencePiece
# with each committed model: the same ids, and the same text decoded. Without the module the
# script exits 77 with the reason (the suite's skip); scripts/install-deps.sh installs it.
#   usage: sh tests/test_spm_regen.sh BUILD
B=${1:-build}
cd "$(dirname "$0")/.." || exit 1
out=$(mktemp -d) || exit 1
trap 'rm -rf "$out"' EXIT
/usr/bin/python3 tests/ref/gen_spm_ref.py "$out"
rc=$?
[ $rc -eq 0 ] || exit $rc
# long_text MODEL: the long text through pipa-tokenize and SentencePiece with MODEL; 0 if the same
long_text() {
    /usr/bin/python3 - "$B" "$1" <<'PY'
import subprocess, sys
import sentencepiece as spm
b, m = sys.argv[1], sys.argv[2]
model = "tests/ref/spm/%s.model" % m
sp = spm.SentencePieceProcessor(model_file=model)
text = open("tests/ref/spm/train.txt", encoding="utf-8").read() * 4
want = sp.encode(text, add_bos=True)
got = subprocess.run([b + "/pipa-tokenize", "--model", model], input=text.encode(),
                     capture_output=True, check=True).stdout.decode().strip()
back = subprocess.run([b + "/pipa-tokenize", "--model", model, "--decode", "-"], input=got.encode(),
                      capture_output=True, check=True).stdout.decode()[:-1]
ok = [int(x) for x in got.split(",")] == want and back == sp.decode(want)
print("spm_regen: %s: %d bytes in one text, %d ids: %s" % (m, len(text.encode()), len(want),
      "the same as SentencePiece" if ok else "DIFFERENT from SentencePiece"))
sys.exit(0 if ok else 1)
PY
}
if ! cmp "$out/ref.txt" tests/ref/spm/ref.txt; then
    diff "$out/ref.txt" tests/ref/spm/ref.txt | head -20
    for m in bpe bpe_unk unigram; do long_text $m || exit 1; done
    echo "spm_regen: SentencePiece now says something else than tests/ref/spm/ref.txt"
    exit 1
fi
for m in bpe bpe_unk unigram; do long_text $m || exit 1; done
echo "spm_regen: SentencePiece $(/usr/bin/python3 -c 'import sentencepiece; print(sentencepiece.__version__)') writes the committed reference"
