#!/usr/bin/python3
"""gen_step_ref.py: one whole optimizer step of a tiny pipa model, by PyTorch autograd and
torch.optim, for tests/test_step_ref.c (which runs the same step through pipa's runtime at
several pipeline sizes and schedules and compares).

Writes tests/ref/step.bin with gen_ref.py's writer (format described there). Run with Debian's
PyTorch:  /usr/bin/python3 tests/ref/gen_step_ref.py
Deterministic: rerunning rewrites the same bytes.

Independent of the C: the initial weights are rebuilt here from pipa's documented seeded init
(model.h: pipa_rand_uniform, a splitmix64 chain; model.c tensor_init, ends.c pipa_ends_build),
and stored as "init.*" so the C test first proves it starts from the same weights, bit for bit.
The forward is gen_ref.py's (HF Llama's), the loss is the mean cross-entropy over all M*B*T
tokens of the step (M microbatches), autograd runs in float64, the gradients are rounded once to
float32 and fed to torch.optim.AdamW and torch.optim.SGD on float32 parameters, as pipa does.

Also writes tests/ref/step_gqa_tied.bin: the same model with 1 key/value head (grouped-query
attention, k_proj and v_proj (HS, C)) and tied embeddings (no lm_head: the head is wte), plus
"gqa_tied" = [NKV, tied].

Contents: "config" = [L, C, NH, I, V, M, B, T, seed, eps, theta, adamw_lr, adamw_wd, sgd_lr];
"tokens", "targets" (M, B, T) as float32 (exact); "loss" (1); and for each parameter NAME
(layer{l}.{attn_norm,wq,...,w_down}, wte, final_norm, lm_head): "init.NAME", "adamw.NAME"
(after one AdamW step), "sgd.NAME" (after one SGD step). Gradients are not stored: the SGD step
is p - lr * g, so "sgd.*" - "init.*" carries them.

A check below refuses a configuration whose float32 gradients have an element so close to zero
(|g| < 1e-6) that AdamW's first step (about lr * sign(g), eps = 1e-8) could flip on a rounding
difference between two correct implementations: the comparison stays meaningful, not lucky.
"""
import math
import os
import sys

import numpy as np
import torch

sys.dont_write_bytecode = True  # no __pycache__ beside the committed files
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import gen_ref as F  # noqa: E402  (the forward ops and the one writer of the format)

L, C, NH, I, V = 2, 16, 2, 32, 16
M, B, T = 4, 2, 6
SEED = 11
SEED_GQA_TIED = 12  # step_gqa_tied.bin's (11 leaves a gradient element under 1e-6 there)
ADAMW_LR, ADAMW_WD, SGD_LR = 1e-2, 0.01, 0.5
STREAM_INPUT = 256  # model.h: PIPA_STREAM_INPUT; the embedding's stream is the next one
STREAM_EMBED = STREAM_INPUT + 1
LAYER_TENSORS = F.LAYER_TENSORS  # pipa_layer_t's order: tensor id = index here
MASK = (1 << 64) - 1


# ---- pipa's seeded init, rebuilt ------------------------------------------------------------
def mix64(z):
    """splitmix64's finaliser (model.c)."""
    z = (z + 0x9E3779B97F4A7C15) & MASK
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK
    return z ^ (z >> 31)


def rand_uniform(seed, a, b, n):
    """pipa_rand_uniform(seed, a, b, i) for i in 0..n-1: float32 in [-1, 1), exact."""
    base = mix64(mix64(mix64(seed) ^ a) ^ b)
    k = np.array([mix64(base ^ i) >> 40 for i in range(n)], dtype=np.float32)
    return np.float32(2.0) * (k * np.float32(1.0 / 16777216.0)) - np.float32(1.0)


def norm_init(seed, a, b, n):  # 1 + 0.1 u, in float32 as the C computes it
    return np.float32(1.0) + np.float32(0.1) * rand_uniform(seed, a, b, n)


def linear_init(seed, a, b, oc, ic):  # u / sqrt(fan_in), the scale rounded to float32 first
    return (np.float32(1.0 / math.sqrt(ic)) * rand_uniform(seed, a, b, oc * ic)).reshape(oc, ic)


def init_params(L=L, C=C, I=I, V=V, seed=SEED, KC=None, tied=False):
    """The model's initial float32 weights; the sizes and seed default to this file's, and
    gen_tp_ref.py passes its own. KC: the key/value width NKV * HS (None: C); tied: no lm_head."""
    p = {}
    KC = C if KC is None else KC
    shapes = {"wq": (C, C), "wk": (KC, C), "wv": (KC, C), "wo": (C, C), "w_gate": (I, C),
              "w_up": (I, C), "w_down": (C, I)}
    for l in range(L):
        for t, n in enumerate(LAYER_TENSORS):
            p[f"layer{l}.{n}"] = (norm_init(seed, l, t, C) if n.endswith("norm")
                                  else linear_init(seed, l, t, *shapes[n]))
    p["wte"] = rand_uniform(seed, 0, STREAM_EMBED, V * C).reshape(V, C)
    p["final_norm"] = norm_init(seed, L, 0, C)
    if not tied:
        p["lm_head"] = linear_init(seed, L, 1, V, C)
    return {n: torch.from_numpy(a.copy()) for n, a in p.items()}


# ---- the batch: fixed tokens, the C test reads them from the file ---------------------------
def batch():
    g = torch.Generator().manual_seed(2024)
    tokens = torch.randint(0, V, (M, B, T), generator=g)
    targets = torch.randint(0, V, (M, B, T), generator=g)
    return tokens, targets


# ---- the model -------------------------------------------------------------------------------
def block(x, w, nh=NH, nkv=None):  # x (N, T, C): gen_ref.block for any batch and head count nh
    """nkv: key/value heads (grouped-query; None: nh), repeated as HF's repeat_kv does."""
    n, t, c = x.shape
    hs, nkv = c // nh, nkv or nh
    h = F.rmsnorm(x, w["attn_norm"])
    q = F.linear(h, w["wq"]).view(n, t, nh, hs)
    k, v = (F.linear(h, w[name]).view(n, t, nkv, hs) for name in ("wk", "wv"))
    k, v = (z.repeat_interleave(nh // nkv, dim=2) for z in (F.rope(k), v))
    x = x + F.linear(F.attention(F.rope(q), k, v).reshape(n, t, c), w["wo"])
    h = F.rmsnorm(x, w["mlp_norm"])
    return x + F.linear(F.swiglu(F.linear(h, w["w_gate"]), F.linear(h, w["w_up"])), w["w_down"])


def loss_and_grads(p32, tokens, targets, nkv=None):
    """Mean cross-entropy over the M*B*T tokens (each microbatch's B rows are sequences of their
    own), and its float64 gradients rounded to float32. No "lm_head": tied, the head is wte."""
    w = {n: t.double().requires_grad_() for n, t in p32.items()}
    h = w["wte"][tokens.view(M * B, T)]
    for l in range(L):
        h = block(h, {n: w[f"layer{l}.{n}"] for n in LAYER_TENSORS}, nkv=nkv)
    logits = F.linear(F.rmsnorm(h, w["final_norm"]), w.get("lm_head", w["wte"]))
    loss = torch.nn.functional.cross_entropy(logits.reshape(-1, V), targets.reshape(-1))
    loss.backward()
    return loss.detach(), {n: t.grad.float() for n, t in w.items()}


def one_step(p32, g32, make_opt):
    params = {n: torch.nn.Parameter(t.clone()) for n, t in p32.items()}
    opt = make_opt(list(params.values()))
    for n, p in params.items():
        p.grad = g32[n].clone()
    opt.step()
    return {n: p.detach() for n, p in params.items()}


def write(path, p0, tokens, targets, nkv=None, seed=SEED):
    loss, g = loss_and_grads(p0, tokens, targets, nkv)
    tiny = min(float(t.abs()[t != 0].min()) for t in g.values() if (t != 0).any())
    if tiny < 1e-6:
        sys.exit(f"gen_step_ref: a gradient element is {tiny:g}: AdamW's first step would turn on "
                 "rounding there; change SEED or the batch")
    adamw = one_step(p0, g, lambda ps: torch.optim.AdamW(ps, lr=ADAMW_LR, betas=(0.9, 0.999),
                                                         eps=1e-8, weight_decay=ADAMW_WD))
    sgd = one_step(p0, g, lambda ps: torch.optim.SGD(ps, lr=SGD_LR))
    out = {"config": torch.tensor([L, C, NH, I, V, M, B, T, seed, F.EPS, F.THETA, ADAMW_LR,
                                   ADAMW_WD, SGD_LR]),
           "tokens": tokens.float(), "targets": targets.float(), "loss": loss[None]}
    if nkv:  # the issue 11 file: [NKV, tied]
        out["gqa_tied"] = torch.tensor([nkv, float("lm_head" not in p0)])
    for prefix, ps in (("init", p0), ("adamw", adamw), ("sgd", sgd)):
        for n, t in ps.items():
            out[f"{prefix}.{n}"] = t
    print(f"loss {float(loss):.6f}, smallest nonzero |gradient| {tiny:.3g}")
    F.write_ref(os.path.join(os.path.dirname(os.path.abspath(__file__)), path), out)


def main():
    torch.manual_seed(0)
    tokens, targets = batch()
    write("step.bin", init_params(), tokens, targets)
    # Grouped-query attention (1 key/value head for the 2 query heads) and tied embeddings: the
    # runtime's sum of the two uses' gradients, and at P > 1 the two stages' copies (issue 11).
    s2 = SEED_GQA_TIED
    write("step_gqa_tied.bin", init_params(KC=C // NH, tied=True, seed=s2), tokens, targets,
          nkv=1, seed=s2)


if __name__ == "__main__":
    main()
