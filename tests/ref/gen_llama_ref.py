#!/usr/bin/python3
"""gen_llama_ref.py: Hugging Face's LlamaForCausalLM math, written out in plain PyTorch (Debian's
python3-torch has no transformers), for tests/test_tp_ref.c's Llama cases: small random weights
under their Hugging Face names, one forward (logits, mean cross-entropy) and the gradient of
every parameter by autograd.

Two models, one file each (tests/ref/llama_untied.bin, llama_tied.bin), in gen_ref.py's format:
L 2, C 32, NH 4 query heads sharing NKV 2 key/value heads (grouped-query attention), I 48, a
vocabulary of 61 (divisible by nothing pipa's tensor groups use), B 2 x T 7 tokens, rope_theta
50000 (not the default, so a theta that is not passed through shows). Untied: lm_head.weight its
own; tied: no lm_head.weight, the head multiplies by model.embed_tokens.weight, whose gradient is
then the sum of both uses'.

The math, as transformers' modeling_llama.py computes it (every step written here, nothing from
pipa): embed_tokens; per layer h = x + o_proj(attn(rmsnorm(x))), x = h + down(silu(gate(n)) *
up(n)) with n = rmsnorm(h); RMSNorm in fp32 as HF: x * rsqrt(mean(x^2) + eps) * w; RoPE by
rotate_half with inv_freq = 1 / theta^(2i/HS) at positions 0..T-1; repeat_kv (key/value head g
serves query heads g*G .. g*G+G-1, G = NH/NKV); causal softmax(q k^T / sqrt(HS)); final norm;
logits = lm_head(n) (tied: embed_tokens.weight); loss = mean cross-entropy over the B*T tokens.
Autograd in float64, every value rounded once to float32 when written.

Contents: "config" = [L, C, NH, NKV, I, V, B, T, eps, theta, tied]; "tokens", "targets" (B, T)
as float32 (exact); "w.NAME" each parameter by its Hugging Face name; "emb" (B, T, C) the
embedding's output; "hidden" (B, T, C) the last layer's output; "logits" (B, T, V); "loss" (1);
"dhidden", "demb" the gradients of hidden and emb; "d.NAME" each parameter's gradient.
Deterministic: rerunning rewrites the same bytes.  Run:  /usr/bin/python3 tests/ref/gen_llama_ref.py
"""
import os
import sys

import torch

sys.dont_write_bytecode = True  # no __pycache__ beside the committed files
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import gen_ref  # noqa: E402  (only its writer of the file format)

L, C, NH, NKV, I, V = 2, 32, 4, 2, 48, 61
B, T = 2, 7
EPS = float(torch.tensor(1e-5, dtype=torch.float32))  # the float32 value the C passes
THETA = 50000.0
HS = C // NH


def rms_norm(x, w):
    """LlamaRMSNorm: variance in fp32 (here fp64), x * rsqrt(variance + eps), then * weight."""
    variance = x.pow(2).mean(-1, keepdim=True)
    return w * (x * torch.rsqrt(variance + EPS))


def rotate_half(x):
    x1, x2 = x[..., : x.shape[-1] // 2], x[..., x.shape[-1] // 2:]
    return torch.cat((-x2, x1), dim=-1)


def rope_cos_sin():
    """LlamaRotaryEmbedding: inv_freq = 1 / theta^(arange(0, HS, 2) / HS), emb = cat(f, f)."""
    inv_freq = 1.0 / (THETA ** (torch.arange(0, HS, 2, dtype=torch.float64) / HS))
    freqs = torch.outer(torch.arange(T, dtype=torch.float64), inv_freq)  # (T, HS/2)
    emb = torch.cat((freqs, freqs), dim=-1)                               # (T, HS)
    return emb.cos()[None, None], emb.sin()[None, None]                   # (1, 1, T, HS)


def repeat_kv(x, n_rep):
    """(B, NKV, T, HS) -> (B, NKV * n_rep, T, HS): kv head g serves query heads g*n_rep + r."""
    b, nkv, t, hs = x.shape
    return x[:, :, None].expand(b, nkv, n_rep, t, hs).reshape(b, nkv * n_rep, t, hs)


def attention(x, p, pre):
    q = (x @ p[pre + "self_attn.q_proj.weight"].T).view(B, T, NH, HS).transpose(1, 2)
    k = (x @ p[pre + "self_attn.k_proj.weight"].T).view(B, T, NKV, HS).transpose(1, 2)
    v = (x @ p[pre + "self_attn.v_proj.weight"].T).view(B, T, NKV, HS).transpose(1, 2)
    cos, sin = rope_cos_sin()
    q = q * cos + rotate_half(q) * sin
    k = k * cos + rotate_half(k) * sin
    k, v = repeat_kv(k, NH // NKV), repeat_kv(v, NH // NKV)
    scores = q @ k.transpose(2, 3) / HS ** 0.5                      # (B, NH, T, T)
    mask = torch.triu(torch.ones(T, T, dtype=torch.bool), diagonal=1)
    probs = torch.softmax(scores.masked_fill(mask, float("-inf")), dim=-1)
    y = (probs @ v).transpose(1, 2).reshape(B, T, C)
    return y @ p[pre + "self_attn.o_proj.weight"].T


def mlp(x, p, pre):
    gate = x @ p[pre + "mlp.gate_proj.weight"].T
    up = x @ p[pre + "mlp.up_proj.weight"].T
    return (torch.nn.functional.silu(gate) * up) @ p[pre + "mlp.down_proj.weight"].T


def params(tied):
    """Small random weights by Hugging Face name; the norms near 1 so a missing one shows."""
    g = torch.Generator().manual_seed(1111 + tied)
    def u(*shape, scale):
        return (torch.rand(*shape, generator=g, dtype=torch.float64) * 2 - 1) * scale
    p = {"model.embed_tokens.weight": u(V, C, scale=1.0)}
    for l in range(L):
        pre = f"model.layers.{l}."
        p[pre + "input_layernorm.weight"] = 1 + u(C, scale=0.1)
        p[pre + "self_attn.q_proj.weight"] = u(C, C, scale=C ** -0.5)
        p[pre + "self_attn.k_proj.weight"] = u(NKV * HS, C, scale=C ** -0.5)
        p[pre + "self_attn.v_proj.weight"] = u(NKV * HS, C, scale=C ** -0.5)
        p[pre + "self_attn.o_proj.weight"] = u(C, C, scale=C ** -0.5)
        p[pre + "post_attention_layernorm.weight"] = 1 + u(C, scale=0.1)
        p[pre + "mlp.gate_proj.weight"] = u(I, C, scale=C ** -0.5)
        p[pre + "mlp.up_proj.weight"] = u(I, C, scale=C ** -0.5)
        p[pre + "mlp.down_proj.weight"] = u(C, I, scale=I ** -0.5)
    p["model.norm.weight"] = 1 + u(C, scale=0.1)
    if not tied:
        p["lm_head.weight"] = u(V, C, scale=C ** -0.5)
    # Round to float32 first: the C loads these float32 values, so both start from the same.
    return {n: t.float().double() for n, t in p.items()}


def batch():
    g = torch.Generator().manual_seed(61)
    tokens = torch.randint(0, V, (B, T), generator=g)
    targets = torch.randint(0, V, (B, T), generator=g)
    tokens[0, 2] = tokens[0, 5] = tokens[1, 3]  # a repeated token: its gradient rows add up
    targets[1, 6] = tokens[0, 2]                # a target that is also an input (tied: both uses)
    return tokens, targets


def run(tied, path):
    p0 = params(tied)
    tokens, targets = batch()
    w = {n: t.clone().requires_grad_() for n, t in p0.items()}
    emb = w["model.embed_tokens.weight"][tokens]
    emb.retain_grad()
    x = emb
    for l in range(L):
        pre = f"model.layers.{l}."
        x = x + attention(rms_norm(x, w[pre + "input_layernorm.weight"]), w, pre)
        x = x + mlp(rms_norm(x, w[pre + "post_attention_layernorm.weight"]), w, pre)
    hidden = x
    hidden.retain_grad()
    head = w["model.embed_tokens.weight"] if tied else w["lm_head.weight"]
    logits = rms_norm(hidden, w["model.norm.weight"]) @ head.T
    loss = torch.nn.functional.cross_entropy(logits.reshape(-1, V), targets.reshape(-1))
    loss.backward()
    out = {"config": torch.tensor([L, C, NH, NKV, I, V, B, T, EPS, THETA, float(tied)]),
           "tokens": tokens.float(), "targets": targets.float()}
    out.update({f"w.{n}": t for n, t in p0.items()})
    out.update({"emb": emb.detach(), "hidden": hidden.detach(), "logits": logits.detach(),
                "loss": loss.detach()[None], "dhidden": hidden.grad, "demb": emb.grad})
    out.update({f"d.{n}": t.grad for n, t in w.items()})
    print(f"{'tied' if tied else 'untied'}: loss {float(loss):.6f}")
    gen_ref.write_ref(path, out)


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    run(0, os.path.join(here, "llama_untied.bin"))
    run(1, os.path.join(here, "llama_tied.bin"))


if __name__ == "__main__":
    main()
