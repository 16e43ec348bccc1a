#!/usr/bin/python3
"""gen_hf_folders.py: tiny Llama folders in the Hugging Face layout, for tests/test_hf_load.c.

Written by hand with struct and json (Debian has no safetensors package), independently of pipa's
C code; dtype conversions (BF16, F16, round to nearest even) by PyTorch.

  gen_hf_folders.py gen OUT        writes under OUT:
      f32/      config.json + model.safetensors (F32, plus the harmless rotary_emb.inv_freq)
      bf16/     the same weights as BF16
      sharded/  F16 in two shards + model.safetensors.index.json (embedding and layer 0 in the
                first, layer 1, norm and head in the second)
      half/     sharded/ with its second shard garbage (a stage of layer 0 must still load)
      gqa/      config.json only: num_key_value_heads 1 < num_attention_heads 2, tied
      defaults/ config.json only, without num_key_value_heads, rope_theta, tie_word_embeddings
      special.safetensors + special.txt   F16 and BF16 special values (subnormals, inf, nan)
      f16_all.txt                          every F16 bit pattern and its f32 value
      bf16_round.txt                       f32 values and their BF16 rounding
      expected/<folder>.txt                every tensor's values after conversion to f32
      bad/<case>/ + bad/cases.txt          one broken folder per error, with the words its
                                           message must hold
  gen_hf_folders.py check-export OUT SUB:DTYPE...
      reads each OUT/SUB/model.safetensors and OUT/SUB/config.json (pipa's exports) with struct
      and json and compares every tensor with OUT/expected/f32.txt, rounded by PyTorch when
      DTYPE is bf16; exits non-zero on any difference.
"""
import json
import os
import random
import struct
import sys

import torch

L, C, NH, I, V, MAXPOS = 2, 8, 2, 12, 16, 64
LAYER = ["input_layernorm.weight", "self_attn.q_proj.weight", "self_attn.k_proj.weight",
         "self_attn.v_proj.weight", "self_attn.o_proj.weight", "post_attention_layernorm.weight",
         "mlp.gate_proj.weight", "mlp.up_proj.weight", "mlp.down_proj.weight"]


def shape_of(suffix):
    if "layernorm" in suffix:
        return [C]
    if "gate" in suffix or "up_proj" in suffix:
        return [I, C]
    if "down" in suffix:
        return [C, I]
    return [C, C]


def model_tensors():
    """[(name, shape, f32 values)] in Hugging Face's order, deterministic."""
    names = [("model.embed_tokens.weight", [V, C])]
    for l in range(L):
        names += [("model.layers.%d.%s" % (l, s), shape_of(s)) for s in LAYER]
    names += [("model.norm.weight", [C]), ("lm_head.weight", [V, C])]
    out = []
    for k, (name, shape) in enumerate(names):
        rng = random.Random(1000 + k)
        n = shape[0] * (shape[1] if len(shape) > 1 else 1)
        base = 1.0 if len(shape) == 1 else 0.0
        vals = [base + rng.uniform(-1, 1) * (0.1 if base else 1) for _ in range(n)]
        out.append((name, shape, torch.tensor(vals, dtype=torch.float32)))
    return out


def raw(t, dtype):
    """(bytes, f32 values as read back) of a float32 tensor stored as dtype."""
    if dtype == "F32":
        return struct.pack("<%df" % t.numel(), *t.tolist()), t
    td = torch.bfloat16 if dtype == "BF16" else torch.float16
    h = t.to(td)
    bits = h.view(torch.int16).tolist()
    return struct.pack("<%dh" % len(bits), *bits), h.to(torch.float32)


def write_st(path, entries, meta=None, header_text=None, length=None):
    """entries: [(name, dtype, shape, bytes)] packed in order. header_text replaces the JSON
    header; length replaces the 8-byte header length."""
    header, at, blob = {}, 0, b""
    if meta is not None:
        header["__metadata__"] = meta
    for name, dtype, shape, data in entries:
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [at, at + len(data)]}
        at += len(data)
        blob += data
    text = (header_text if header_text is not None else json.dumps(header)).encode()
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text) if length is None else length) + text + blob)


def config(**over):
    c = {"architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_act": "silu",
         "hidden_size": C, "intermediate_size": I, "num_hidden_layers": L,
         "num_attention_heads": NH, "num_key_value_heads": NH, "rms_norm_eps": 1e-5,
         "rope_theta": 10000.0, "vocab_size": V, "max_position_embeddings": MAXPOS,
         "tie_word_embeddings": False, "torch_dtype": "float32", "bos_token_id": 1}
    for k, v in over.items():
        if v is None:
            c.pop(k, None)
        else:
            c[k] = v
    return c


def write_config(d, c=None, text=None):
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "config.json"), "w") as f:
        f.write(text if text is not None else json.dumps(c if c is not None else config(), indent=2))


def write_expected(path, values):
    with open(path, "w") as f:
        for name, shape, t in values:
            f.write("%s %d %s %s\n" % (name, len(shape), " ".join(map(str, shape)),
                                       " ".join(float(x).hex() for x in t.tolist())))


def entries_of(tensors, dtype):
    ent, exp = [], []
    for name, shape, t in tensors:
        b, back = raw(t, dtype)
        ent.append((name, dtype, shape, b))
        exp.append((name, shape, back))
    return ent, exp


def gen_folders(out, tensors):
    os.makedirs(os.path.join(out, "expected"), exist_ok=True)
    inv = [("model.layers.%d.self_attn.rotary_emb.inv_freq" % l, "F32", [2],
            struct.pack("<2f", 1.0, 0.01)) for l in range(L)]
    for folder, dtype in (("f32", "F32"), ("bf16", "BF16")):
        ent, exp = entries_of(tensors, dtype)
        write_config(os.path.join(out, folder))
        write_st(os.path.join(out, folder, "model.safetensors"),
                 ent + (inv if dtype == "F32" else []), meta={"format": "pt"})
        write_expected(os.path.join(out, "expected", folder + ".txt"), exp)
    ent, exp = entries_of(tensors, "F16")
    first = [e for e in ent if e[0] == "model.embed_tokens.weight" or ".layers.0." in e[0]]
    second = [e for e in ent if e not in first]
    files = ("model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors")
    for folder in ("sharded", "half"):
        d = os.path.join(out, folder)
        write_config(d)
        write_st(os.path.join(d, files[0]), first, meta={"format": "pt"})
        wm = {e[0]: files[0] for e in first}
        wm.update({e[0]: files[1] for e in second})
        with open(os.path.join(d, "model.safetensors.index.json"), "w") as f:
            json.dump({"metadata": {"total_size": 0}, "weight_map": wm}, f, indent=2)
        if folder == "sharded":
            write_st(os.path.join(d, files[1]), second)
        else:
            with open(os.path.join(d, files[1]), "wb") as f:
                f.write(b"\xff" * 64)
    write_expected(os.path.join(out, "expected", "sharded.txt"), exp)
    write_config(os.path.join(out, "defaults"), config(num_key_value_heads=None, rope_theta=None,
                                                       tie_word_embeddings=None))
    write_config(os.path.join(out, "gqa"), config(num_key_value_heads=1, tie_word_embeddings=True,
                                                  rope_theta=500000.0, rms_norm_eps=1e-6,
                                                  max_position_embeddings=4096))


def gen_special(out):
    """F16 and BF16 bit patterns worth checking, and every F16 pattern's f32 value."""
    f16 = [0x0000, 0x8000, 0x0001, 0x8001, 0x03FF, 0x0200, 0x0400, 0x3C00, 0xBC00, 0x7BFF,
           0xFBFF, 0x7C00, 0xFC00, 0x7E00, 0x7C01, 0x3555, 0x0155]
    bf16 = [0x0000, 0x8000, 0x0001, 0x007F, 0x0080, 0x3F80, 0xBF80, 0x7F7F, 0x7F80, 0xFF80,
            0x7FC0, 0x4049]
    def f32_of(bits, td):
        return torch.tensor(bits, dtype=torch.int16).view(td).to(torch.float32).tolist()
    sf = f32_of([b - 0x10000 if b >= 0x8000 else b for b in f16], torch.float16)
    sb = f32_of([b - 0x10000 if b >= 0x8000 else b for b in bf16], torch.bfloat16)
    write_st(os.path.join(out, "special.safetensors"),
             [("f16", "F16", [len(f16)], struct.pack("<%dH" % len(f16), *f16)),
              ("bf16", "BF16", [len(bf16)], struct.pack("<%dH" % len(bf16), *bf16))])
    with open(os.path.join(out, "special.txt"), "w") as f:
        f.write("f16 %s\nbf16 %s\n" % (" ".join(float(x).hex() for x in sf),
                                       " ".join(float(x).hex() for x in sb)))
    every = torch.arange(-32768, 32768, dtype=torch.int32).to(torch.int16)
    vals = every.view(torch.float16).to(torch.float32).tolist()
    with open(os.path.join(out, "f16_all.txt"), "w") as f:
        for b, v in zip(every.tolist(), vals):
            f.write("%d %s\n" % (b & 0xFFFF, float(v).hex()))
    # BF16 rounding: ties (both ways), near-ties, overflow to inf, subnormals, NaN
    rng = random.Random(7)
    xs = [1.0 + 2 ** -8, 1.0 + 3 * 2 ** -8, 1.0 + 2 ** -8 + 2 ** -20, -(1.0 + 2 ** -8),
          3.4028234663852886e38, 3.3961775292304688e38, 1e-40, -1e-45, 0.0, -0.0,
          float("inf"), float("-inf"), float("nan")]
    xs += [struct.unpack("<f", struct.pack("<I", rng.getrandbits(32) & 0x7F7FFFFF
                                           | rng.getrandbits(1) << 31))[0] for _ in range(2000)]
    t = torch.tensor(xs, dtype=torch.float32)
    bits = t.to(torch.bfloat16).view(torch.int16).tolist()
    with open(os.path.join(out, "bf16_round.txt"), "w") as f:
        for x, b in zip(t.tolist(), bits):
            f.write("%s %d\n" % (float(x).hex(), b & 0xFFFF))


def gen_bad(out, tensors):
    """One folder per error; cases.txt: case, then the words its message must hold."""
    ent, _ = entries_of(tensors, "F32")
    bad = os.path.join(out, "bad")
    cases = []
    up = "model.layers.0.mlp.up_proj.weight"

    def case(name, words, entries=None, cfg=None, cfg_text=None, **st):
        d = os.path.join(bad, name)
        write_config(d, cfg, cfg_text)
        if entries is not None:
            write_st(os.path.join(d, "model.safetensors"), entries, **st)
        cases.append([name] + words)

    def patched(name, **field):
        """The F32 header with tensor name's entry changed."""
        h, at = {}, 0
        for n, dt, shape, data in ent:
            h[n] = {"dtype": dt, "shape": shape, "data_offsets": [at, at + len(data)]}
            at += len(data)
        h[name].update(field)
        return json.dumps(h)

    size = sum(len(e[3]) for e in ent)
    off = [e[0] for e in ent].index(up)
    up_at = sum(len(e[3]) for e in ent[:off])
    case("header_beyond", ["model.safetensors", "header length", "beyond the file"], ent,
         length=10 ** 6)
    case("header_huge", ["model.safetensors", "over the 100 MB"], ent, length=200 * 10 ** 6)
    case("too_short", ["model.safetensors", "too short"])
    with open(os.path.join(bad, "too_short", "model.safetensors"), "wb") as f:
        f.write(b"\x10\0\0\0")
    case("not_json", ["model.safetensors", "header:1:", "expected"], ent,
         header_text='{"a": tru}')
    case("offsets_outside", [up, "outside the data"], ent,
         header_text=patched(up, data_offsets=[size - 16, size + 368]))
    case("begin_after_end", [up, "begin"], ent,
         header_text=patched(up, data_offsets=[up_at + 384, up_at]))
    case("overlap", [up, "model.layers.0.mlp.gate_proj.weight", "overlap"], ent,
         header_text=patched(up, data_offsets=[up_at - 4, up_at + 380]))
    case("size_mismatch", [up, "bytes, but its shape"], ent,
         header_text=patched(up, shape=[I, C + 1]))
    case("unknown_dtype", [up, "F64"], ent, header_text=patched(up, dtype="F64"))
    case("offsets_form", [up, "data_offsets"], ent, header_text=patched(up, data_offsets=[0]))
    case("shape_negative", [up, "shape"], ent, header_text=patched(up, shape=[-12, C]))
    dup = patched(up)
    dup = dup[:-1] + ', "%s": {"dtype": "F32", "shape": [0], "data_offsets": [0, 0]}}' % up
    case("duplicate", [up, "duplicate key"], ent, header_text=dup)
    meta = json.loads(patched(up))
    meta["__metadata__"] = {"format": 1}
    case("metadata", ["__metadata__", "format"], ent, header_text=json.dumps(meta))
    case("missing", ["model.safetensors", "model.norm.weight", "missing"],
         [e for e in ent if e[0] != "model.norm.weight"])
    case("extra", ["model.safetensors", "no part of the model", "model.layers.2.mlp.up_proj.weight",
                   "extra.bias"], ent + [("extra.bias", "F32", [1], b"\0" * 4),
                                         ("model.layers.2.mlp.up_proj.weight", "F32", [1], b"\0" * 4)])
    wrong = [(n, dt, [C, V] if n == "lm_head.weight" else s, d) for n, dt, s, d in ent]
    case("wrong_shape", ["model.safetensors", "lm_head.weight", "(8, 16)", "(16, 8)"], wrong)
    # the index and its shards
    for name, wm, words in (
            ("index_missing", {e[0]: "a.safetensors" for e in ent[1:]},
             ["model.safetensors.index.json", "model.embed_tokens.weight", "weight_map"]),
            ("index_escape", dict({e[0]: "a.safetensors" for e in ent}, **{up: "../a.safetensors"}),
             ["model.safetensors.index.json", up, "plain file name"]),
            ("index_extra", dict({e[0]: "a.safetensors" for e in ent}, **{"extra.bias": "a.safetensors"}),
             ["model.safetensors.index.json", "extra.bias", "no part of the model"]),
            ("shard_missing", dict({e[0]: "a.safetensors" for e in ent}, **{up: "b.safetensors"}),
             ["b.safetensors", "No such file"]),
            ("shard_lacks", {e[0]: "a.safetensors" for e in ent},
             ["a.safetensors", "model.norm.weight", "missing", "the index puts it here"])):
        d = os.path.join(bad, name)
        write_config(d)
        keep = [e for e in ent if not (name == "shard_lacks" and e[0] == "model.norm.weight")]
        write_st(os.path.join(d, "a.safetensors"), keep)
        with open(os.path.join(d, "model.safetensors.index.json"), "w") as f:
            json.dump({"weight_map": wm}, f)
        cases.append([name] + words)
    # config.json
    for name, cfg, words in (
            ("cfg_missing", config(hidden_size=None), ["hidden_size", "missing"]),
            ("cfg_heads", config(hidden_size=10, num_attention_heads=4), ["hidden_size", "num_attention_heads",
                                                         "divisible"]),
            ("cfg_odd_head", config(hidden_size=6, num_attention_heads=2), ["odd"]),
            ("cfg_negative", config(intermediate_size=-12), ["intermediate_size", "outside"]),
            ("cfg_fraction", config(num_hidden_layers=2.5), ["num_hidden_layers", "integer"]),
            ("cfg_string", config(vocab_size="16"), ["vocab_size", "integer"]),
            ("cfg_kv", config(num_key_value_heads=3), ["num_key_value_heads", "divisible"]),
            ("cfg_arch", config(architectures=["MistralForCausalLM"]), ["architectures"]),
            ("cfg_no_arch", config(architectures=None, model_type="gpt2"), ["model_type"]),
            ("cfg_rope_scaling", config(rope_scaling={"type": "linear", "factor": 2.0}),
             ["rope_scaling"]),
            ("cfg_act", config(hidden_act="gelu"), ["hidden_act"]),
            ("cfg_bias", config(attention_bias=True), ["attention_bias"]),
            ("cfg_eps", config(rms_norm_eps=0), ["rms_norm_eps"]),
            ("cfg_head_dim", config(head_dim=8), ["head_dim"])):
        case(name, ["config.json"] + words, ent, cfg=cfg)
    case("cfg_syntax", ["config.json:3:", "expected"], ent,
         cfg_text='{\n  "hidden_size": 8,\n  "num_hidden_layers" 2\n}\n')
    with open(os.path.join(bad, "cases.txt"), "w") as f:
        for c in cases:
            f.write("\t".join(c) + "\n")


def read_st(path):
    """{name: (dtype, shape, raw bytes)} and the metadata of a safetensors file."""
    with open(path, "rb") as f:
        blob = f.read()
    n = struct.unpack("<Q", blob[:8])[0]
    header = json.loads(blob[8:8 + n])
    data = blob[8 + n:]
    meta = header.pop("__metadata__", None)
    return {k: (v["dtype"], v["shape"], data[v["data_offsets"][0]:v["data_offsets"][1]])
            for k, v in header.items()}, meta


def check_export(d, expected, dtype):
    got, meta = read_st(os.path.join(d, "model.safetensors"))
    cfg = json.load(open(os.path.join(d, "config.json")))
    bad = []
    want_cfg = config(torch_dtype="float32" if dtype == "f32" else "bfloat16")
    for k in ("architectures", "hidden_size", "intermediate_size", "num_hidden_layers",
              "num_attention_heads", "num_key_value_heads", "rms_norm_eps", "rope_theta",
              "vocab_size", "max_position_embeddings", "tie_word_embeddings", "torch_dtype",
              "hidden_act"):
        if cfg.get(k) != want_cfg[k]:
            bad.append("config %s: %r, want %r" % (k, cfg.get(k), want_cfg[k]))
    if meta != {"format": "pt"}:
        bad.append("metadata %r" % (meta,))
    names = []
    for line in open(expected):
        f = line.split()
        name, nd = f[0], int(f[1])
        shape, vals = [int(x) for x in f[2:2 + nd]], [float.fromhex(x) for x in f[2 + nd:]]
        names.append(name)
        if name not in got:
            bad.append("%s missing" % name)
            continue
        dt, sh, raw_bytes = got[name]
        t = torch.tensor(vals, dtype=torch.float32)
        if dtype == "f32":
            want_dt, want = "F32", struct.pack("<%df" % len(vals), *t.tolist())
        else:
            bits = t.to(torch.bfloat16).view(torch.int16).tolist()
            want_dt, want = "BF16", struct.pack("<%dh" % len(bits), *bits)
        if dt != want_dt or sh != shape or raw_bytes != want:
            bad.append("%s: %s %s, want %s %s%s" % (name, dt, sh, want_dt, shape,
                                                    "" if raw_bytes == want else ", values differ"))
    extra = sorted(set(got) - set(names))
    if extra:
        bad.append("extra tensors %s" % extra)
    for b in bad:
        print("check-export %s: %s" % (d, b))
    print("check-export %s: %s (%d tensors)" % (d, "ok" if not bad else "FAILED", len(got)))
    return 1 if bad else 0


def main():
    if len(sys.argv) == 3 and sys.argv[1] == "gen":
        out = sys.argv[2]
        tensors = model_tensors()
        gen_folders(out, tensors)
        gen_special(out)
        gen_bad(out, tensors)
        return 0
    if len(sys.argv) >= 4 and sys.argv[1] == "check-export":
        return max(check_export(os.path.join(sys.argv[2], d.split(":")[0]),
                                os.path.join(sys.argv[2], "expected", "f32.txt"), d.split(":")[1])
                   for d in sys.argv[3:])
    print(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main())
