#!/bin/sh
# tokenize_cli: pipa-tokenize gives SentencePiece's ids for a text (the ref.txt line written by
# tests/ref/gen_spm_ref.py), decodes them back, reads standard input, has --help, and refuses
# bad ids and a missing model with a message.   usage: sh tests/test_tokenize_cli.sh BUILD
B=${1:-build}
M=tests/ref/spm/bpe.model
fail() { echo "tokenize_cli: $*"; exit 1; }
want=$(awk '$1 == "model" { m = $2 } m == "bpe.model" && $1 == "enc" && $2 == "48656c6c6f20776f726c64" && $3 == 1 { print $4 }' tests/ref/spm/ref.txt)
[ -n "$want" ] || fail "no reference line for 'Hello world'"
got=$("$B/pipa-tokenize" --model $M "Hello world") || fail "encode failed"
[ "$got" = "$want" ] || fail "ids $got, SentencePiece $want"
back=$("$B/pipa-tokenize" --model $M --decode "$got") || fail "decode failed"
[ "$back" = "Hello world" ] || fail "decoded '$back'"
back=$(echo "$got" | "$B/pipa-tokenize" --model $M --decode -) || fail "decode - failed"
[ "$back" = "Hello world" ] || fail "decoded from stdin '$back'"
got=$(printf 'Hello world' | "$B/pipa-tokenize" --model $M) || fail "stdin failed"
[ "$got" = "$want" ] || fail "ids from stdin $got, SentencePiece $want"
"$B/pipa-tokenize" --help | grep -q -- "--decode IDS" || fail "--help"
msg=$("$B/pipa-tokenize" --model $M --decode 1,400 2>&1) && fail "id 400 accepted"
echo "$msg" | grep -q "id 400 (index 1 of 2) is outside the vocabulary" || fail "message: $msg"
msg=$("$B/pipa-tokenize" --model no/such.model x 2>&1) && fail "a missing model accepted"
echo "$msg" | grep -q "no/such.model" || fail "message: $msg"
echo "tokenize_cli: ok"
