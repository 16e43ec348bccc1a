#!/usr/bin/python3
"""gen_grad_ref.py: PyTorch autograd gradients of pipa's ops, blocks and whole model, for
tests/test_backward.c.

Writes tests/ref/grads.bin in the format of gen_ref.py (see there). Run with Debian's PyTorch:
    /usr/bin/python3 tests/ref/gen_grad_ref.py
Deterministic (torch.manual_seed): rerunning rewrites the same bytes.

The forward definitions are gen_ref.py's (imported), so the forward and backward references are
one model. Inputs and weights are drawn in float32, autograd runs in float64, results are
rounded once to float32: the file holds the exact gradients to float32 rounding.

Contents, per op: inputs, upstream gradient "dy", and the gradients of sum(out * dy) with respect
to every input and weight. "block.*": loss = sum(block2(block1(x)) * r), gradients for x and
every weight of both layers. "model.*": tokens -> embedding -> the same two blocks -> final
RMSNorm -> LM head -> cross-entropy, mean over the B*T tokens; the loss and every gradient.
"rmsnorm_small.*": the RMSNorm case again on rows of RMS 1e-4 .. 3e-3, where epsilon shows.
Integer tensors (tokens, targets) are stored as float32 (exact below 2^24).
"""
import math
import os
import sys

import torch

sys.dont_write_bytecode = True  # no __pycache__ beside the committed files
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import gen_ref as F  # noqa: E402

B, T, C, NH, I, HS = F.B, F.T, F.C, F.NH, F.I, F.HS
V = 11


def grads_of(fn, inputs, dy):
    """float64 leaves for inputs; returns the gradients of sum(fn(*leaves) * dy)."""
    leaves = [t.double().requires_grad_() for t in inputs]
    (fn(*leaves) * dy.double()).sum().backward()
    return [t.grad for t in leaves]


def main():
    torch.manual_seed(4321)
    out = {}
    out["config"] = torch.tensor([B, T, C, NH, I, V, F.EPS, F.THETA])

    # ---- each op: inputs, dy, gradients of sum(out * dy) -------------------------------------
    x, w = torch.randn(10, C), 1.0 + 0.1 * torch.randn(C)
    dy = torch.randn(10, C)
    dx, dw = grads_of(F.rmsnorm, [x, w], dy)
    out.update({"rmsnorm.x": x, "rmsnorm.w": w, "rmsnorm.dy": dy, "rmsnorm.dx": dx,
                "rmsnorm.dw": dw})

    x, w, dy = torch.randn(10, C), torch.randn(24, C) / math.sqrt(C), torch.randn(10, 24)
    dx, dw = grads_of(F.linear, [x, w], dy)
    out.update({"linear.x": x, "linear.w": w, "linear.dy": dy, "linear.dx": dx,
                "linear.dw": dw})

    x, dy = torch.randn(2, 9, 2, 8), torch.randn(2, 9, 2, 8)
    (dx,) = grads_of(F.rope, [x], dy)
    out.update({"rope.dy": dy, "rope.dx": dx})

    q, k, v = (torch.randn(2, 7, 2, 8) for _ in range(3))
    dy = torch.randn(2, 7, 2, 8)
    dq, dk, dv = grads_of(F.attention, [q, k, v], dy)
    out.update({"attn.q": q, "attn.k": k, "attn.v": v, "attn.dy": dy, "attn.dq": dq,
                "attn.dk": dk, "attn.dv": dv})

    gate, up, dy = 3.0 * torch.randn(3, I), torch.randn(3, I), torch.randn(3, I)
    dgate, dup = grads_of(F.swiglu, [gate, up], dy)
    out.update({"swiglu.gate": gate, "swiglu.up": up, "swiglu.dy": dy, "swiglu.dgate": dgate,
                "swiglu.dup": dup})

    logits, targets = 2.0 * torch.randn(10, V), torch.randint(0, V, (10,))
    lg = logits.double().requires_grad_()
    loss = torch.nn.functional.cross_entropy(lg, targets, reduction="sum")
    loss.backward()
    out.update({"ce.logits": logits, "ce.targets": targets.float(), "ce.loss": loss.detach()[None],
                "ce.dlogits": lg.grad})

    # ---- two blocks, loss sum(out * r) ---------------------------------------------------------
    layers = [F.layer_weights(), F.layer_weights()]
    for l, lw in enumerate(layers):
        for n in F.LAYER_TENSORS:
            out[f"layer{l}.{n}"] = lw[n]
    x, r = torch.randn(B, T, C), torch.randn(B, T, C)
    xl = x.double().requires_grad_()
    wl = [{n: t.double().requires_grad_() for n, t in lw.items()} for lw in layers]
    y = F.block(F.block(xl, wl[0]), wl[1])
    (y * r.double()).sum().backward()
    out.update({"block.x": x, "block.r": r, "block.out": y.detach(), "block.dx": xl.grad})
    for l in range(2):
        for n in F.LAYER_TENSORS:
            out[f"block.d{l}.{n}"] = wl[l][n].grad

    # ---- whole model: embedding -> blocks -> norm -> head -> mean cross-entropy ----------------
    wte, final_norm = torch.randn(V, C), 1.0 + 0.1 * torch.randn(C)
    lm_head = torch.randn(V, C) / math.sqrt(C)
    tokens, targets = torch.randint(0, V, (B, T)), torch.randint(0, V, (B, T))
    tokens[0, 1] = tokens[0, 3] = tokens[1, 2]  # repeats: the embedding gradient must add up
    leaves = {n: t.double().requires_grad_() for n, t in
              {"wte": wte, "final_norm": final_norm, "lm_head": lm_head}.items()}
    wl = [{n: t.double().requires_grad_() for n, t in lw.items()} for lw in layers]
    h = leaves["wte"][tokens]
    h = F.block(F.block(h, wl[0]), wl[1])
    logits = F.linear(F.rmsnorm(h, leaves["final_norm"]), leaves["lm_head"])
    loss = torch.nn.functional.cross_entropy(logits.view(-1, V), targets.view(-1))  # mean
    loss.backward()
    out.update({"model.tokens": tokens.float(), "model.targets": targets.float(),
                "model.wte": wte, "model.final_norm": final_norm, "model.lm_head": lm_head,
                "model.loss": loss.detach()[None]})
    for n, t in leaves.items():
        out[f"model.d.{n}"] = t.grad
    for l in range(2):
        for n in F.LAYER_TENSORS:
            out[f"model.d{l}.{n}"] = wl[l][n].grad

    # ---- RMSNorm on rows of small magnitude, where epsilon shows (drawn last: nothing above
    # changes) ---------------------------------------------------------------------------------
    x, w = F.small_rows(), 1.0 + 0.1 * torch.randn(C)
    dy = torch.randn(6, C)
    dx, dw = grads_of(F.rmsnorm, [x, w], dy)
    out.update({"rmsnorm_small.x": x, "rmsnorm_small.w": w, "rmsnorm_small.dy": dy,
                "rmsnorm_small.dx": dx, "rmsnorm_small.dw": dw})

    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "grads.bin")
    F.write_ref(path, out)


if __name__ == "__main__":
    main()
