#!/usr/bin/python3
"""torch_peer.py: pipa's benchmark work done by PyTorch, for side-by-side comparisons.

The peer runs what `pipa-bench pipeline` (forward) and `pipa-bench train` (training) run, the way a
PyTorch user would write it: the same Llama-style model (RMSNorm, rotary embeddings in HF's
rotate_half form, causal attention with masked_fill + softmax over the full T x T square, SwiGLU,
untied LM head, mean cross-entropy over all M*B*T tokens), in float32, with pipa's seeded weights
(model.c, ends.c: rebuilt here with numpy), the same even split of layers over P stages
(split.c), the same microbatches, the schedules GPipe and 1F1B (plan_gen.c's action orders) written
by hand over torch.distributed send/recv with gloo (Debian's PyTorch 1.13 has no
torch.distributed.pipelining), and torch.optim.SGD or torch.optim.AdamW with pipa's defaults
(optim.c: lr 1e-3, betas 0.9/0.999, eps 1e-8, weight decay 0.01). One thread per rank.

Ranks are started by hand (Debian's torchrun fails on Python 3.11): `--nproc P` starts P copies
of this script with MASTER_ADDR 127.0.0.1, MASTER_PORT, RANK and WORLD_SIZE set, waits for them
and passes rank 0's output through.

  forward  (pipa-bench pipeline): the P stages' layers only; inputs are pipa_model_inputs' hidden
           states (M, B, T, C); no gradients kept. Time: from a common barrier to the last stage's
           last microbatch out.
  train    (pipa-bench train): embedding on stage 0, head and loss on stage P-1; one optimizer
           step per step. Time: from the last rank entering the step to the last rank done.
tokens/s = M*B*T / time, median over --reps after --warmup. Rank 0 prints one JSON row.

--check-loss CORPUS: instead of timing, trains --steps steps on pipa-train's batches of CORPUS
(io/data.c's positions, rebuilt here) and prints each step's loss, for comparison with
`pipa-train --json`. Left out: interleaved and ZB-H1 schedules, data and tensor parallelism.
"""
import os

# One thread per rank, BLAS included: OpenBLAS starts a thread per core when it loads (at `import
# torch`) unless told, and torch.set_num_threads does not reach it; a one-rank peer would then
# use every core while pipa's rank uses one. So the count is set before torch is imported.
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse
import json
import math
import socket
import statistics
import subprocess
import sys
import time

import numpy as np
import torch
import torch.distributed as dist

sys.dont_write_bytecode = True

LAYER_TENSORS = ["attn_norm", "wq", "wk", "wv", "wo", "mlp_norm", "w_gate", "w_up", "w_down"]
STREAM_INPUT = 256          # base/rand.h: PIPA_STREAM_INPUT
STREAM_EMBED = STREAM_INPUT + 1
STREAM_CORPUS = 1 << 20     # base/rand.h: PIPA_STREAM_CORPUS
U64 = np.uint64


# ---- pipa's counter-based random numbers (base/rand.c), vectorised --------------------------
def mix64(z):
    """splitmix64's finaliser on a uint64 array (numpy arrays wrap modulo 2^64 silently)."""
    z = z + U64(0x9E3779B97F4A7C15)
    z = (z ^ (z >> U64(30))) * U64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> U64(27))) * U64(0x94D049BB133111EB)
    return z ^ (z >> U64(31))


def rand_uniform(seed, a, b, n, first=0):
    """pipa_rand_uniform(seed, a, b, i) for i in first..first+n-1: float32 in [-1, 1), exact."""
    base = mix64(mix64(mix64(np.array([seed], dtype=U64)) ^ U64(a)) ^ U64(b))
    k = (mix64(base ^ np.arange(first, first + n, dtype=U64)) >> U64(40)).astype(np.float32)
    return np.float32(2.0) * (k * np.float32(1.0 / 16777216.0)) - np.float32(1.0)


def init_tensor(seed, a, b, shape, fan_in):
    """model.c's tensor init: fan_in 0 a norm weight 1 + 0.1 u, else u / sqrt(fan_in)."""
    u = rand_uniform(seed, a, b, int(np.prod(shape)))
    if fan_in == 0:
        t = np.float32(1.0) + np.float32(0.1) * u
    else:
        t = np.float32(1.0 / math.sqrt(fan_in)) * u
    return torch.from_numpy(t.reshape(shape))


# ---- the model -------------------------------------------------------------------------------
class Stage:
    """Layers [first, first + count) of the model, the embedding if first, the head if last."""

    def __init__(self, a, first, count, is_first, is_last, train):
        C, I, seed = a.hidden, a.inter, a.seed
        shapes = {"wq": (C, C), "wk": (C, C), "wv": (C, C), "wo": (C, C), "w_gate": (I, C),
                  "w_up": (I, C), "w_down": (C, I)}
        self.a, self.layers, self.params = a, [], []
        for l in range(first, first + count):
            w = {}
            for t, n in enumerate(LAYER_TENSORS):
                w[n] = (init_tensor(seed, l, t, (C,), 0) if n.endswith("norm")
                        else init_tensor(seed, l, t, shapes[n], shapes[n][1]))
            self.layers.append(w)
            self.params += list(w.values())
        self.wte = self.final_norm = self.lm_head = None
        if train and is_first:
            self.wte = init_tensor(seed, 0, STREAM_EMBED, (a.vocab, C), 1)
            self.params.append(self.wte)
        if train and is_last:
            self.final_norm = init_tensor(seed, a.layers, 0, (C,), 0)
            self.lm_head = init_tensor(seed, a.layers, 1, (a.vocab, C), C)
            self.params += [self.final_norm, self.lm_head]
        for p in self.params:
            p.requires_grad_(train)
        HS = C // a.heads
        inv = 1.0 / (a.theta ** (torch.arange(0, HS, 2, dtype=torch.float64) / HS))
        ang = torch.outer(torch.arange(a.seq, dtype=torch.float64), inv)
        ang = torch.cat((ang, ang), dim=-1)[None, :, None, :]  # (1, T, 1, HS)
        self.cos, self.sin = ang.cos().float(), ang.sin().float()
        self.future = torch.triu(torch.ones(a.seq, a.seq, dtype=torch.bool), diagonal=1)

    def rmsnorm(self, x, w):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.a.eps) * w

    def rope(self, x):  # (B, T, NH, HS), HF's rotate_half form
        h = x.shape[-1] // 2
        return x * self.cos + torch.cat((-x[..., h:], x[..., :h]), dim=-1) * self.sin

    def attention(self, q, k, v):  # (B, T, NH, HS) each
        q, k, v = (t.transpose(1, 2) for t in (q, k, v))
        s = (q @ k.transpose(-1, -2)) * (1.0 / math.sqrt(q.shape[-1]))
        att = torch.softmax(s.masked_fill(self.future, float("-inf")), dim=-1)
        return (att @ v).transpose(1, 2)

    def block(self, x, w):
        lin = torch.nn.functional.linear
        B, T, C = x.shape
        NH = self.a.heads
        h = self.rmsnorm(x, w["attn_norm"])
        q, k, v = (lin(h, w[n]).view(B, T, NH, C // NH) for n in ("wq", "wk", "wv"))
        x = x + lin(self.attention(self.rope(q), self.rope(k), v).reshape(B, T, C), w["wo"])
        h = self.rmsnorm(x, w["mlp_norm"])
        return x + lin(torch.nn.functional.silu(lin(h, w["w_gate"])) * lin(h, w["w_up"]),
                       w["w_down"])

    def forward(self, x):
        for w in self.layers:
            x = self.block(x, w)
        return x

    def embed(self, tokens):
        return self.wte[tokens]

    def loss_sum(self, x, targets):
        logits = torch.nn.functional.linear(self.rmsnorm(x, self.final_norm), self.lm_head)
        return torch.nn.functional.cross_entropy(logits.reshape(-1, self.a.vocab),
                                                 targets.reshape(-1), reduction="sum")


def split_even(L, P):
    """plan/split.c pipa_split_even: the first L % P stages get one layer more."""
    return [L // P + (1 if s < L % P else 0) for s in range(P)]


# ---- the batches -----------------------------------------------------------------------------
def bench_batch(mb, B, T, vocab):
    """pipa-bench_train.c train_batch: a fixed function of (microbatch, position)."""
    i = np.arange(B * T, dtype=np.uint32)
    v = ((np.uint32(mb) * np.uint32(2654435761) + i * np.uint32(40503)) >> np.uint32(8))
    v = (v % np.uint32(vocab)).astype(np.int64)
    return torch.from_numpy(v.reshape(B, T)), torch.from_numpy(((v * 7 + 3) % vocab).reshape(B, T))


def corpus_batch(data, seed, step, mb, B, T):
    """io/data.c pipa_corpus_batch: sequence b starts where (seed, step, stream mb, b) says."""
    span = len(data) - T - 1
    u = rand_uniform(seed, step, STREAM_CORPUS + mb, B)
    tok, tgt = np.empty((B, T), np.int64), np.empty((B, T), np.int64)
    for b in range(B):
        start = int((u[b] + np.float32(1.0)) * np.float32(0.5) * np.float32(span))
        start = min(start, span - 1)
        tok[b] = data[start:start + T]
        tgt[b] = data[start + 1:start + T + 1]
    return torch.from_numpy(tok), torch.from_numpy(tgt)


# ---- one rank's part of a step -----------------------------------------------------------------
class Rank:
    def __init__(self, a, rank, P):
        self.a, self.rank, self.P = a, rank, P
        counts = split_even(a.layers, P)
        first = sum(counts[:rank])
        self.is_first, self.is_last = rank == 0, rank == P - 1
        self.stage = Stage(a, first, counts[rank], self.is_first, self.is_last, a.mode == "train")
        self.act_shape = (a.batch, a.seq, a.hidden)
        self.opt = None
        if a.mode == "train":
            ps = self.stage.params
            self.opt = (torch.optim.SGD(ps, lr=a.lr) if a.optimizer == "sgd" else
                        torch.optim.AdamW(ps, lr=a.lr, betas=(0.9, 0.999), eps=1e-8,
                                          weight_decay=a.weight_decay))
        self.pending = []  # send handles of this step, with their tensors kept alive

    def send(self, t, dst, tag):
        self.pending.append((dist.isend(t.contiguous(), dst, tag=tag), t))

    def recv(self, src, tag):
        buf = torch.empty(self.act_shape)
        dist.recv(buf, src, tag=tag)
        return buf

    def finish_sends(self):
        for h, _ in self.pending:
            h.wait()
        self.pending = []

    def forward_only(self, inputs):
        """One forward of all microbatches (pipa's "forward" plan: F 0..M-1 on every rank)."""
        with torch.no_grad():
            for mb in range(self.a.m):
                x = inputs[mb] if self.is_first else self.recv(self.rank - 1, 2 * mb)
                y = self.stage.forward(x)
                if not self.is_last:
                    self.send(y, self.rank + 1, 2 * mb)
        self.finish_sends()

    def F(self, mb, batch, saved, scale):
        tokens, targets = batch(mb)
        if self.is_first:
            x_in = None
            x = self.stage.embed(tokens)
        else:
            x_in = self.recv(self.rank - 1, 2 * mb).requires_grad_()
            x = x_in
        y = self.stage.forward(x)
        if self.is_last:
            y = self.stage.loss_sum(y, targets) * scale
        else:
            self.send(y.detach(), self.rank + 1, 2 * mb)
        saved[mb] = (x_in, y)

    def B(self, mb, saved):
        x_in, y = saved.pop(mb)
        if self.is_last:
            y.backward()
            self.loss += float(y.detach())
        else:
            y.backward(self.recv(self.rank + 1, 2 * mb + 1))
        if not self.is_first:
            self.send(x_in.grad, self.rank - 1, 2 * mb + 1)

    def train_step(self, batch):
        """One optimizer step over M microbatches in the schedule's order (plan_gen.c); the loss
        (on the last rank) is the mean over all M*B*T tokens, each microbatch's share scaled."""
        a, saved = self.a, {}
        M, scale = a.m, 1.0 / (a.m * a.batch * a.seq)
        self.loss = 0.0
        self.opt.zero_grad()
        if a.sched == "gpipe":
            order = [("F", m) for m in range(M)] + [("B", m) for m in range(M)]
        else:  # 1f1b: min(P - r - 1, M) warm-up forwards, then F/B pairs, then the backwards left
            warm = min(self.P - self.rank - 1, M)
            order = [("F", m) for m in range(warm)]
            for i in range(M - warm):
                order += [("F", warm + i), ("B", i)]
            order += [("B", m) for m in range(M - warm, M)]
        for kind, mb in order:
            if kind == "F":
                self.F(mb, batch, saved, scale)
            else:
                self.B(mb, saved)
        self.opt.step()
        self.finish_sends()
        return self.loss


# ---- timing ----------------------------------------------------------------------------------
def timed(fn):
    """Seconds from the last rank starting to the last rank done (CLOCK_MONOTONIC is one clock
    for every process of the machine, as pipa's enter_abs / end_abs)."""
    dist.barrier()
    t = torch.tensor([time.perf_counter(), 0.0], dtype=torch.float64)
    fn()
    t[1] = time.perf_counter()
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return float(t[1] - t[0])


def run_bench(a, r):
    tokens = a.m * a.batch * a.seq
    if a.mode == "forward":
        n = a.batch * a.seq * a.hidden
        inputs = None
        if r.is_first:
            inputs = [torch.from_numpy(rand_uniform(a.seed, mb, STREAM_INPUT, n)
                                       .reshape(r.act_shape)) for mb in range(a.m)]
        work = lambda: r.forward_only(inputs)  # noqa: E731
    else:
        batches = [bench_batch(mb, a.batch, a.seq, a.vocab) for mb in range(a.m)]
        work = lambda: r.train_step(lambda mb: batches[mb])  # noqa: E731
    for _ in range(a.warmup):
        timed(work)
    times = [timed(work) for _ in range(a.reps)]
    tps = [tokens / t for t in times]
    return {"bench": "torch-peer", "mode": a.mode, "schedule": a.sched if a.mode == "train"
            else "forward", "optimizer": a.optimizer if a.mode == "train" else None,
            "p": r.P, "m": a.m, "b": a.batch, "t": a.seq, "layers": a.layers, "hidden": a.hidden,
            "heads": a.heads, "inter": a.inter, "vocab": a.vocab if a.mode == "train" else 0,
            "tokens_per_s": statistics.median(tps), "runs_tokens_per_s": tps,
            "torch": torch.__version__, "threads": torch.get_num_threads(), "backend": "gloo",
            "process_threads": len(os.listdir("/proc/self/task"))}


def check_loss(a, r):
    """The losses of --steps steps on pipa-train's corpus batches (rank P-1 has them)."""
    data = np.fromfile(a.check_loss, dtype=np.uint8).astype(np.int64)
    losses = []
    for step in range(a.steps):
        loss = r.train_step(lambda mb: corpus_batch(data, a.seed, step, mb, a.batch, a.seq))
        t = torch.tensor([loss if r.is_last else 0.0], dtype=torch.float64)
        dist.all_reduce(t)
        losses.append(float(t[0]))
    return {"bench": "torch-peer-loss", "optimizer": a.optimizer, "schedule": a.sched,
            "p": r.P, "losses": losses}


# ---- ranks, started by hand --------------------------------------------------------------------
def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def launch(argv, nproc):
    """Starts nproc ranks of this script (argv without --nproc) and returns rank 0's status,
    or the first failing rank's."""
    env = dict(os.environ, MASTER_ADDR="127.0.0.1", MASTER_PORT=str(free_port()),
               WORLD_SIZE=str(nproc))
    procs = [subprocess.Popen([sys.executable, os.path.abspath(__file__)] + argv,
                              env=dict(env, RANK=str(r))) for r in range(nproc)]
    rcs = [p.wait() for p in procs]
    bad = [rc for rc in rcs if rc != 0]
    return bad[0] if bad else 0


def parse(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    add = p.add_argument
    add("--mode", choices=("forward", "train"), default="train")
    add("--nproc", type=int, default=0, help="start this many ranks (P) and wait for them")
    add("--layers", type=int, default=8)
    add("--hidden", type=int, default=512)
    add("--heads", type=int, default=8)
    add("--inter", type=int, default=2048)
    add("--vocab", type=int, default=256)
    add("--batch", type=int, default=1)
    add("--seq", type=int, default=128)
    add("--m", type=int, default=8)
    add("--sched", choices=("gpipe", "1f1b"), default="1f1b")
    add("--optimizer", choices=("sgd", "adamw"), default="adamw")
    add("--lr", type=float, default=1e-3)
    add("--weight-decay", type=float, default=0.01)
    add("--seed", type=int, default=1)
    add("--eps", type=float, default=float(np.float32(1e-5)))
    add("--theta", type=float, default=10000.0)
    add("--reps", type=int, default=3)
    add("--warmup", type=int, default=1)
    add("--steps", type=int, default=1, help="--check-loss: steps to train")
    add("--check-loss", metavar="CORPUS", help="print the losses of --steps training steps on "
        "pipa-train's batches of CORPUS instead of timing")
    add("--json", metavar="FILE", help="append the row to FILE too")
    a = p.parse_args(argv)
    if a.check_loss:
        a.mode = "train"
    return a


def main():
    argv = sys.argv[1:]
    a = parse(argv)
    if a.nproc:
        rest, skip = [], False
        for i, x in enumerate(argv):  # drop --nproc N / --nproc=N
            if skip:
                skip = False
            elif x == "--nproc":
                skip = True
            elif not x.startswith("--nproc="):
                rest.append(x)
        sys.exit(launch(rest, a.nproc))
    torch.set_num_threads(1)
    rank, P = int(os.environ.get("RANK", "0")), int(os.environ.get("WORLD_SIZE", "1"))
    if P == 1:
        os.environ.setdefault("MASTER_ADDR", "127.0.0.1")
        os.environ.setdefault("MASTER_PORT", str(free_port()))
    dist.init_process_group("gloo", rank=rank, world_size=P)
    if a.layers < P:
        sys.exit(f"torch_peer: {P} stages need at least {P} layers, not {a.layers}")
    r = Rank(a, rank, P)
    row = check_loss(a, r) if a.check_loss else run_bench(a, r)
    if rank == 0:
        text = json.dumps(row)
        print(text, flush=True)
        if a.json:
            with open(a.json, "a") as f:
                f.write(text + "\n")
    dist.barrier()
    dist.destroy_process_group()


if __name__ == "__main__":
    main()
