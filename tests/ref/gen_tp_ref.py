#!/usr/bin/python3
"""gen_tp_ref.py: one forward and backward of a small whole pipa model by PyTorch autograd, for
tests/test_tp_ref.c, which runs it through pipa's tensor-parallel layers and vocabulary-parallel
ends with tensor groups of R = 2 and R = 4.

Writes tests/ref/tp.bin with gen_ref.py's writer (format described there). Run with Debian's
PyTorch:  /usr/bin/python3 tests/ref/gen_tp_ref.py
Deterministic: rerunning rewrites the same bytes.

Why a file of its own: grads.bin's model has 4 heads and I 40 (both divide by 4), but its
vocabulary of 11 divides by neither 2 nor 4, and its weights are torch's; step.bin's weights are
pipa's but it has 2 heads. Here NH, I and V all divide by 4, and the weights are pipa's seeded
init rebuilt independently of the C (gen_step_ref.py's init_params), stored as "init.*", so the C
test first proves that each rank's slices from pipa_tensors_build_tp are the same slices of these
tensors, bit for bit.

The forward is gen_ref.py's (HF Llama's): tokens -> embedding -> L blocks -> final RMSNorm -> LM
head -> cross-entropy, the mean over the B*T tokens. Autograd runs in float64; everything is
rounded once to float32.

Contents: "config" = [L, C, NH, I, V, B, T, seed, eps, theta]; "tokens", "targets" (B, T) as
float32 (exact); "init.NAME" for each parameter NAME (layer{l}.{attn_norm,wq,...,w_down}, wte,
final_norm, lm_head); "emb" (B, T, C) the embedding's output, the layers' input; "hidden" (B, T,
C) the layers' output; "loss" (1); "dhidden" dLoss/d(hidden), the head's input gradient; "demb"
dLoss/d(emb), the layers' input gradient; "d.NAME" each parameter's gradient.
"""
import os
import sys

import torch

sys.dont_write_bytecode = True  # no __pycache__ beside the committed files
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import gen_ref as F  # noqa: E402  (the forward ops and the one writer of the format)
import gen_step_ref as S  # noqa: E402  (pipa's seeded init, rebuilt; the block for any NH)

L, C, NH, I, V = 2, 16, 4, 32, 32
B, T = 2, 6
SEED = 23
R_MAX = 4  # the largest tensor group the C test runs: every size above must divide by it


def batch():
    """Fixed tokens and targets. A token repeats (the embedding gradient must add up), and each
    quarter of the vocabulary holds a target (every rank of a group of 4 holds one)."""
    g = torch.Generator().manual_seed(808)
    tokens = torch.randint(0, V, (B, T), generator=g)
    targets = torch.randint(0, V, (B, T), generator=g)
    tokens[0, 1] = tokens[0, 4] = tokens[1, 2]
    targets[1, :R_MAX] = torch.arange(R_MAX) * (V // R_MAX) + torch.tensor([1, 3, 0, 7])
    return tokens, targets


def main():
    assert NH % R_MAX == 0 and I % R_MAX == 0 and V % R_MAX == 0
    p0 = S.init_params(L, C, I, V, SEED)
    tokens, targets = batch()
    w = {n: t.double().requires_grad_() for n, t in p0.items()}
    emb = w["wte"][tokens]
    emb.retain_grad()
    hidden = emb
    for l in range(L):
        hidden = S.block(hidden, {n: w[f"layer{l}.{n}"] for n in S.LAYER_TENSORS}, NH)
    hidden.retain_grad()
    logits = F.linear(F.rmsnorm(hidden, w["final_norm"]), w["lm_head"])
    loss = torch.nn.functional.cross_entropy(logits.reshape(-1, V), targets.reshape(-1))
    loss.backward()
    out = {"config": torch.tensor([L, C, NH, I, V, B, T, SEED, F.EPS, F.THETA]),
           "tokens": tokens.float(), "targets": targets.float()}
    for n, t in p0.items():
        out[f"init.{n}"] = t
    out.update({"emb": emb.detach(), "hidden": hidden.detach(), "loss": loss.detach()[None],
                "dhidden": hidden.grad, "demb": emb.grad})
    for n, t in w.items():
        out[f"d.{n}"] = t.grad
    print(f"loss {float(loss):.6f}")
    F.write_ref(os.path.join(os.path.dirname(os.path.abspath(__file__)), "tp.bin"), out)


if __name__ == "__main__":
    main()
