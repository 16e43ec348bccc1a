#!/usr/bin/python3
"""gen_spm_ref.py: SentencePiece's own encoder and decoder on three tiny models, for
tests/test_spm.c (pipa's tokenizer, src/io/spm*.c, must give the same ids and the same text).

Run with Debian's python3-sentencepiece (apt-get install python3-sentencepiece):
    /usr/bin/python3 tests/ref/gen_spm_ref.py
It trains, on the committed text tests/ref/spm/train.txt, and writes into tests/ref/spm/:
  bpe.model      the Llama 2 / TinyLlama settings: BPE, byte_fallback, normalization "identity",
                 add_dummy_prefix, remove_extra_whitespaces off; two user-defined pieces
  bpe_unk.model  BPE without byte fallback (unknown characters become <unk>, runs of them one
                 <unk>) and with remove_extra_whitespaces on (SentencePiece's default)
  unigram.model  UNIGRAM (Viterbi over piece scores) with byte fallback and a user-defined piece
  ref.txt        what SentencePiece says for each model, one record a line, fields split by
                 single spaces, texts in hex (they hold spaces, tabs and newlines), "-" for none:
    model NAME VOCAB BOS EOS UNK PAD
    piece ID HEX_PIECE SCORE_AS_FLOAT_HEX KIND   (KIND: n normal or user-defined, u unknown,
                                                  c control, x unused, b byte)
    enc HEX_TEXT BOS IDS HEX_DECODED          (IDS comma-separated; HEX_DECODED: decode(IDS))
    dec IDS HEX_DECODED                       (decode of hand-picked ids: bytes, BOS, <unk>)
If the module is missing, it says so and exits 77 (the suite's skip), so tests/list can run it
to check that the committed files are what SentencePiece writes today (see the test spm_regen)."""
import os
import sys

try:
    import sentencepiece as spm
except ImportError as e:
    print("gen_spm_ref: skipped: python3-sentencepiece is not installed (%s); "
          "install it with apt-get install python3-sentencepiece" % e)
    sys.exit(77)

HERE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "spm")
OUT = os.path.abspath(sys.argv[1]) if len(sys.argv) > 1 else HERE  # another folder: the check

# Paths relative to HERE (the script changes into it): the model files record them.
COMMON = dict(input="train.txt", vocab_size=400,
              character_coverage=1.0, normalization_rule_name="identity", num_threads=1,
              minloglevel=2, add_dummy_prefix=True, shuffle_input_sentence=False)
MODELS = {
    "bpe": dict(model_type="bpe", byte_fallback=True, remove_extra_whitespaces=False,
                user_defined_symbols=["<sep>", "[mask]"]),
    "bpe_unk": dict(model_type="bpe", byte_fallback=False, remove_extra_whitespaces=True),
    "unigram": dict(model_type="unigram", byte_fallback=True, remove_extra_whitespaces=False,
                    user_defined_symbols=["<sep>"], hard_vocab_limit=False),
}

TEXTS = [
    "", "a", "Hello world", "The quick brown fox jumps over the lazy dog.",
    " leading space", "trailing space ", "  two leading", "two trailing  ", "many     spaces inside",
    " ", "  ", "\n", "line one\nline two\n", "tab\tseparated\tvalues", "\t\ttabs first",
    "1234567890", "3.14159 and 2.71828", "x=1; y=2, z=(x+y)*3!", "!@#$%^&*()_+-={}[]|\\:\";'<>?,./~`",
    "Café naïve résumé", "Über Ängste", "élève à l'école", "日本語のテキスト", "中文", "emoji 😀 and 🚀!",
    "mixed: café, 東京, 😀, end", "ÿ", "\u2581already escaped", "a\u2581b", "\u00a0no-break space",
    "the stage the stage the stage", "pipeline microbatch bubble", "sea shells by the sea shore",
    "woodchuck chuck wood", "<sep>", "a<sep>b", "x [mask] y", "<sep><sep>", "<se p>", "[MASK]",
    "\r\nwindows line", "zero\u200bwidth", "ααβγ", "Ωmega", "\U0001F9D1\u200D\U0001F4BB coder",
    "lllll", "eeee", "ssss sss", "ooo", "tttttt", "peppper", "shelll", "a  b   c    d",
    "The pipeline runs its stages one after another, and every stage holds only its own layers.",
]


def train(name, out):
    prefix = os.path.relpath(os.path.join(out, name), HERE)
    spm.SentencePieceTrainer.train(model_prefix=prefix, **COMMON, **MODELS[name])
    os.remove(prefix + ".vocab")
    return spm.SentencePieceProcessor(model_file=prefix + ".model")


def kind(sp, i):
    for test, k in ((sp.is_unknown, "u"), (sp.is_control, "c"), (sp.is_unused, "x"), (sp.is_byte, "b")):
        if test(i):
            return k
    return "n"


def ids_text(ids):
    return ",".join(str(i) for i in ids) if ids else "-"


def hex_text(s):
    return s.encode("utf-8").hex() or "-"


def hand_picked(sp):
    """Decoder cases no encoding produces: BOS/EOS inside, byte runs that are not UTF-8, <unk>."""
    b = [sp.piece_to_id("<0x%02X>" % x) for x in range(256)] if sp.is_byte(sp.piece_to_id("<0x41>")) else None
    the = sp.piece_to_id("\u2581the")
    t = [sp.piece_to_id(c) for c in "the"]
    w = sp.piece_to_id("\u2581")
    out = [[w, w, the], [sp.bos_id(), w, w, the], [w, w], [the, w], [w] + t, [sp.unk_id(), w, the],
           [sp.bos_id(), the, the], [sp.bos_id(), sp.eos_id(), the], [sp.unk_id()], [sp.unk_id(), the],
           [the, sp.unk_id(), the], [sp.eos_id()], t, [the] + t + [the], []]
    if b:
        out += [[b[0x41], the], [b[0xE2], b[0x96]], [b[0xFF], b[0x41]], [b[0xE2], b[0x96], b[0x81], the],
                [the, b[0xF0], b[0x9F], b[0x98], b[0x80]], [b[0x80]], [b[0xC3], the, b[0xA9]],
                [b[0x20], the], [sp.bos_id(), b[0x41]], [b[0xED], b[0xA0], b[0x80]], [b[0xC0], b[0xAF]]]
    return out


def main():
    os.makedirs(OUT, exist_ok=True)
    os.chdir(HERE)
    lines = []
    for name in MODELS:
        sp = train(name, OUT)
        n = sp.get_piece_size()
        lines.append("model %s.model %d %d %d %d %d" % (name, n, sp.bos_id(), sp.eos_id(), sp.unk_id(), sp.pad_id()))
        for i in range(n):
            lines.append("piece %d %s %s %s" % (i, hex_text(sp.id_to_piece(i)), float(sp.get_score(i)).hex(), kind(sp, i)))
        for text in TEXTS:
            for bos in (0, 1):
                ids = sp.encode(text, add_bos=bool(bos))
                lines.append("enc %s %d %s %s" % (hex_text(text), bos, ids_text(ids), hex_text(sp.decode(ids))))
        for ids in hand_picked(sp):
            lines.append("dec %s %s" % (ids_text(ids), hex_text(sp.decode(ids))))
    with open(os.path.join(OUT, "ref.txt"), "w") as f:
        f.write("\n".join(lines) + "\n")
    print("gen_spm_ref: wrote %s (%d lines) and the models" % (os.path.join(OUT, "ref.txt"), len(lines)))


main()
