#!/usr/bin/python3
"""gen_ref.py: PyTorch reference outputs for pipa's forward ops and Llama-style block.

Writes tests/ref/ops.bin, read by tests/ref_load.h for tests/test_ops.c. Run from anywhere with
Debian's PyTorch:  /usr/bin/python3 tests/ref/gen_ref.py
The output is deterministic (torch.manual_seed), so rerunning it rewrites the same bytes.

Everything here is written from the PyTorch side, independently of the C: rotary embeddings in
Hugging Face's "rotate_half" form, attention with masked_fill + softmax, RMSNorm and SwiGLU as in
HF's LlamaRMSNorm / LlamaMLP.

Precision: inputs and weights are drawn in float32 (so the C sees exactly the same values), the
math runs in float64, and the outputs are rounded once to float32. The files then hold the exact
answer to within float32 rounding (relative 6e-8), so a test's measured error is the C code's
own error and not PyTorch's float32 rounding mixed in.

File format (all little-endian):
    8 bytes   magic "PIPAREF1"
    u32       number of tensors
    then per tensor:
    u32       name length n, then n bytes of ASCII name (no terminator)
    u32       ndim, then ndim x u32 dims
    float32   prod(dims) values, row-major
Tensor "config" holds [B, T, C, NH, I, eps, theta] of the block tests as float32.
"rmsnorm_small.*" repeats the RMSNorm case on rows of RMS 1e-4 .. 3e-3, where epsilon shows.
"""
import math
import os
import struct

import torch

B, T, C, NH, I = 2, 5, 16, 4, 40
HS = C // NH
EPS = float(torch.tensor(1e-5, dtype=torch.float32))  # the float32 value the C passes
THETA = 10000.0


def rmsnorm(x, w):
    return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + EPS) * w


def linear(x, w):  # w (OC, IC), nn.Linear layout
    return torch.nn.functional.linear(x, w)


def rotate_half(x):
    x1, x2 = x[..., : x.shape[-1] // 2], x[..., x.shape[-1] // 2 :]
    return torch.cat((-x2, x1), dim=-1)


def rope(x):  # x (B, T, NH, HS)
    hs, t = x.shape[-1], x.shape[1]
    inv_freq = 1.0 / (THETA ** (torch.arange(0, hs, 2, dtype=torch.float64) / hs))
    freqs = torch.outer(torch.arange(t, dtype=torch.float64), inv_freq)  # (T, HS/2)
    emb = torch.cat((freqs, freqs), dim=-1)[None, :, None, :]  # (1, T, 1, HS)
    return x * emb.cos() + rotate_half(x) * emb.sin()


def attention(q, k, v):  # each (B, T, NH, HS)
    q, k, v = (a.transpose(1, 2) for a in (q, k, v))  # (B, NH, T, HS)
    t, hs = q.shape[2], q.shape[3]
    scores = q @ k.transpose(-1, -2) / math.sqrt(hs)  # (B, NH, T, T)
    future = torch.triu(torch.ones(t, t, dtype=torch.bool), diagonal=1)
    att = torch.softmax(scores.masked_fill(future, float("-inf")), dim=-1)
    return (att @ v).transpose(1, 2)  # (B, T, NH, HS)


def swiglu(gate, up):
    return torch.nn.functional.silu(gate) * up


LAYER_TENSORS = ["attn_norm", "wq", "wk", "wv", "wo", "mlp_norm", "w_gate", "w_up", "w_down"]


def layer_weights():
    def lin(oc, ic):
        return torch.randn(oc, ic) / math.sqrt(ic)

    def norm():
        return 1.0 + 0.1 * torch.randn(C)

    return {"attn_norm": norm(), "wq": lin(C, C), "wk": lin(C, C), "wv": lin(C, C),
            "wo": lin(C, C), "mlp_norm": norm(), "w_gate": lin(I, C), "w_up": lin(I, C),
            "w_down": lin(C, I)}


def block(x, w):  # x (B, T, C); w: float64 weights of one layer
    h = rmsnorm(x, w["attn_norm"])
    q, k, v = (linear(h, w[n]).view(B, T, NH, HS) for n in ("wq", "wk", "wv"))
    x = x + linear(attention(rope(q), rope(k), v).reshape(B, T, C), w["wo"])
    h = rmsnorm(x, w["mlp_norm"])
    return x + linear(swiglu(linear(h, w["w_gate"]), linear(h, w["w_up"])), w["w_down"])


def small_rows():
    """Six rows of C values with RMS 1e-4 .. 3e-3 (mean square 1e-8 .. 1e-5, at most epsilon)."""
    scale = torch.tensor([1e-4, 3e-4, 1e-3, 1e-3, 2e-3, 3e-3])[:, None]
    return torch.randn(6, C) * scale


def write_ref(path, out):
    """Writes the tensors of dict out (name -> tensor) to path in the format above, as float32;
    shared by gen_grad_ref.py, gen_optim_ref.py and gen_step_ref.py."""
    with open(path, "wb") as f:
        f.write(b"PIPAREF1" + struct.pack("<I", len(out)))
        for name, t in out.items():
            t = t.to(torch.float32).contiguous()
            f.write(struct.pack("<I", len(name)) + name.encode("ascii"))
            f.write(struct.pack("<I", t.dim()) + struct.pack(f"<{t.dim()}I", *t.shape))
            f.write(t.numpy().astype("<f4").tobytes())
    print(f"wrote {path}: {len(out)} tensors, {os.path.getsize(path)} bytes")


def main():
    torch.manual_seed(1234)
    d = lambda t: t.double()  # noqa: E731
    out = {}
    out["config"] = torch.tensor([B, T, C, NH, I, EPS, THETA])

    x, w = torch.randn(10, C), 1.0 + 0.1 * torch.randn(C)
    out.update({"rmsnorm.x": x, "rmsnorm.w": w, "rmsnorm.out": rmsnorm(d(x), d(w))})

    x, w = torch.randn(10, C), torch.randn(24, C) / math.sqrt(C)  # OC != IC catches a transpose
    out.update({"linear.x": x, "linear.w": w, "linear.out": linear(d(x), d(w))})

    x = torch.randn(2, 9, 2, 8)  # (B, T, NH, HS): HS 8 has four frequencies
    out.update({"rope.x": x, "rope.out": rope(d(x))})

    q, k, v = (torch.randn(2, 7, 2, 8) for _ in range(3))
    out.update({"attn.q": q, "attn.k": k, "attn.v": v, "attn.out": attention(d(q), d(k), d(v))})

    gate, up = 3.0 * torch.randn(3, I), torch.randn(3, I)  # gate wide enough to reach the tails
    out.update({"swiglu.gate": gate, "swiglu.up": up, "swiglu.out": swiglu(d(gate), d(up))})

    x = torch.randn(B, T, C)
    layers = [layer_weights(), layer_weights()]
    out["block.x"] = x
    for l, lw in enumerate(layers):
        for n in LAYER_TENSORS:
            out[f"layer{l}.{n}"] = lw[n]
    y1 = block(d(x), {n: d(t) for n, t in layers[0].items()})
    y2 = block(y1, {n: d(t) for n, t in layers[1].items()})
    out.update({"block1.out": y1, "block2.out": y2})

    # Rows of small magnitude, where epsilon is most of the mean square: a wrong epsilon is off by
    # orders of magnitude here, not by 1e-6 as in rows of mean square ~1. Drawn last, so every
    # tensor above keeps its bytes.
    x, w = small_rows(), 1.0 + 0.1 * torch.randn(C)
    out.update({"rmsnorm_small.x": x, "rmsnorm_small.w": w, "rmsnorm_small.out": rmsnorm(d(x), d(w))})

    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "ops.bin")
    write_ref(path, out)


if __name__ == "__main__":
    main()
