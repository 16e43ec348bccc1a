#!/usr/bin/python3
"""gen_optim_ref.py: PyTorch's AdamW and SGD on a small parameter vector, for tests/test_optim.c.

Writes tests/ref/optim.bin with gen_ref.py's writer (format described there). Run with Debian's PyTorch:
    /usr/bin/python3 tests/ref/gen_optim_ref.py
Five steps with fixed float32 gradients; the parameters after every step are stored. Everything
runs in float32, as the C does, so the comparison is tight but not bit-exact (PyTorch's update
order of operations differs a little from the C's)."""
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from gen_ref import write_ref  # noqa: E402  (the one writer of the reference format)

N, STEPS = 257, 5
torch.manual_seed(7)
p0 = torch.randn(N, dtype=torch.float32)
grads = [torch.randn(N, dtype=torch.float32) * (0.1 + s) for s in range(STEPS)]


def run(opt_name):
    p = torch.nn.Parameter(p0.clone())
    if opt_name == "adamw":
        opt = torch.optim.AdamW([p], lr=1e-2, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.01)
    else:
        opt = torch.optim.SGD([p], lr=1e-2)
    out = []
    for g in grads:
        p.grad = g.clone()
        opt.step()
        out.append(p.detach().clone())
    return torch.stack(out)


tensors = {"p0": p0, "grads": torch.stack(grads), "adamw": run("adamw"), "sgd": run("sgd")}
path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "optim.bin")
write_ref(path, tensors)
