#!/usr/bin/python3
"""compare.py: pipa against its PyTorch peer (torch_peer.py) on the same work, side by side.

For each configuration (model, B, T, M, schedule, optimizer; forward or training), each round runs
pipa (`pipa-run -n 2 pipa-bench pipeline|train`, which measures P = 1 and P = 2 in one launch) and
the peer (one launch per P), the two sides ALTERNATING (even rounds pipa first, odd rounds the peer
first) so a change in the machine's load touches both. Each run reports the median tokens/s of its
own --reps steps after --warmup; a configuration's figure per side is the median over rounds, and
ratio = pipa median / PyTorch median. The table is followed by one JSON row per (work, P) with
every run's figure, the exact commands, the machine and the date.

Configurations: issue 10's table (forward M=8 x (1 x 128) and x (8 x 128), training 1F1B M=8 x
(1 x 128) with SGD and with AdamW: L8 C512 NH8 I2048; the original demo's size L4 C128 NH4 I512
forward M=4 x (2 x 10)), all at P = 1 and 2; --quick: a tiny model, forward and 1F1B SGD, in
seconds; --only NAME,... picks rows (--list; GPipe rows by --only only). Run from the
repository root:  sh bench/peers/compare.sh [--quick] [--only NAME,...]
"""
import argparse
import datetime
import json
import os
import shlex
import statistics
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
BIG = {"layers": 8, "hidden": 512, "heads": 8, "inter": 2048}
DEMO = {"layers": 4, "hidden": 128, "heads": 4, "inter": 512}
TINY = {"layers": 2, "hidden": 32, "heads": 2, "inter": 64}

# name, mode, model, B, T, M, schedule, optimizer
FULL = [
    ("fwd-b1", "forward", BIG, 1, 128, 8, None, None),
    ("fwd-b8", "forward", BIG, 8, 128, 8, None, None),
    ("train-sgd", "train", BIG, 1, 128, 8, "1f1b", "sgd"),
    ("train-adamw", "train", BIG, 1, 128, 8, "1f1b", "adamw"),
    ("demo-fwd", "forward", DEMO, 2, 10, 4, None, None),
]
# by --only only: GPipe, beside the table's 1F1B
EXTRA = [
    ("train-gpipe-sgd", "train", BIG, 1, 128, 8, "gpipe", "sgd"),
    ("train-gpipe-adamw", "train", BIG, 1, 128, 8, "gpipe", "adamw"),
]
QUICK = [
    ("quick-fwd", "forward", TINY, 1, 16, 4, None, None),
    ("quick-train", "train", TINY, 1, 16, 4, "1f1b", "sgd"),
]


def describe(c):
    name, mode, m, B, T, M, sched, opt = c
    what = "forward" if mode == "forward" else f"train {sched} {opt}"
    return f"{what} L{m['layers']} C{m['hidden']} I{m['inter']} M={M} x ({B} x {T})"


def pipa_cmd(a, c, json_path):
    name, mode, m, B, T, M, sched, opt = c
    cmd = [os.path.join(a.build, "pipa-run"), "-n", "2", os.path.join(a.build, "pipa-bench"),
           "pipeline" if mode == "forward" else "train", "--layers", str(m["layers"]),
           "--hidden", str(m["hidden"]), "--heads", str(m["heads"]), "--inter", str(m["inter"]),
           "--batch", str(B), "--seq", str(T), "--m", str(M), "--reps", str(a.reps),
           "--warmup", str(a.warmup), "--json", json_path]
    if mode == "train":
        cmd += ["--sched", sched, "--optimizer", opt]
    return cmd


def peer_cmd(a, c, P):
    name, mode, m, B, T, M, sched, opt = c
    cmd = [a.python, os.path.join(HERE, "torch_peer.py"), "--nproc", str(P), "--mode", mode,
           "--layers", str(m["layers"]), "--hidden", str(m["hidden"]), "--heads", str(m["heads"]),
           "--inter", str(m["inter"]), "--batch", str(B), "--seq", str(T), "--m", str(M),
           "--reps", str(a.reps), "--warmup", str(a.warmup)]
    if mode == "train":
        cmd += ["--sched", sched, "--optimizer", opt]
    return cmd


def run(cmd, env=None):
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    if p.returncode != 0:
        sys.stderr.write(p.stdout + p.stderr)
        sys.exit(f"compare: failed (exit {p.returncode}): {shlex.join(cmd)}")
    return p.stdout


def run_pipa(a, c):
    """{P: tokens/s} of one pipa launch (its JSON rows for M)."""
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "rows.json")
        run(pipa_cmd(a, c, path))
        with open(path) as f:
            rows = [json.loads(line) for line in f if line.strip()]
    return {int(r["p"]): float(r["tokens_per_s"]) for r in rows if int(r["m"]) == c[5]}


def run_peer(a, c, P):
    out = run(peer_cmd(a, c, P), a.peer_env)
    rows = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    return float(rows[-1]["tokens_per_s"])


def measure(a, c):
    """{P: (pipa runs, torch runs)} over a.rounds rounds, the sides alternating."""
    runs = {P: ([], []) for P in (1, 2)}
    for rnd in range(a.rounds):
        def pipa():
            got = run_pipa(a, c)
            for P in (1, 2):
                runs[P][0].append(got[P])

        def peer():
            for P in (1, 2):
                runs[P][1].append(run_peer(a, c, P))

        for side in ((pipa, peer) if rnd % 2 == 0 else (peer, pipa)):
            side()
    return runs


def machine():
    model = "unknown CPU"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return f"{model}, {os.cpu_count()} cores"


def pipa_kernels(a):
    """The OPENBLAS_CORETYPE pipa's ranks run with (pipa-run hands its choice to them), or None:
    pipa sets it where OpenBLAS fell back to pre-AVX2 kernels (src/model/blas.h)."""
    out = run([os.path.join(a.build, "pipa-run"), "-n", "1", "env"])
    for line in out.splitlines():
        if line.startswith("OPENBLAS_CORETYPE="):
            return line.split("=", 1)[1]
    return None


def peer_env(a):
    """The peer's environment: the same OpenBLAS kernels as pipa (torch's BLAS is the same
    library), unless --peer-blas-default; and the header line saying which."""
    kern = pipa_kernels(a)
    if kern is None:
        return None, "both sides: OpenBLAS's own kernel choice"
    if a.peer_blas_default:
        return None, (f"pipa: OPENBLAS_CORETYPE={kern} (its choice); torch: OpenBLAS's own "
                      "choice (--peer-blas-default)")
    env = dict(os.environ, OPENBLAS_CORETYPE=kern)
    return env, f"both sides: OPENBLAS_CORETYPE={kern} (pipa's choice, given to torch too)"


def torch_version(a):
    out = subprocess.run([a.python, "-c", "import torch; print(torch.__version__)"],
                         stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    return out.stdout.strip() or "not importable"


def parse():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--build", default="build", help="pipa's build folder (build)")
    p.add_argument("--python", default="/usr/bin/python3", help="the Python with torch")
    p.add_argument("--quick", action="store_true", help="a tiny model, in seconds")
    p.add_argument("--only", help="comma-separated configuration names (see --list)")
    p.add_argument("--list", action="store_true", help="print the configurations and exit")
    p.add_argument("--rounds", type=int, help="alternating rounds (3; --quick 2)")
    p.add_argument("--reps", type=int, help="timed steps per run (3; --quick 2)")
    p.add_argument("--warmup", type=int, default=1, help="untimed steps per run first (1)")
    p.add_argument("--json", help="write the JSON rows to this file as well")
    p.add_argument("--peer-blas-default", action="store_true",
                   help="run torch with OpenBLAS's own kernel choice instead of pipa's")
    a = p.parse_args()
    a.rounds = a.rounds or (2 if a.quick else 3)
    a.reps = a.reps or (2 if a.quick else 3)
    if a.rounds < 1 or a.reps < 1 or a.warmup < 0:
        p.error("--rounds and --reps must be >= 1, --warmup >= 0")
    return a


def main():
    a = parse()
    confs = QUICK if a.quick else FULL
    if a.list:
        for c in FULL + EXTRA + QUICK:
            print(f"{c[0]:18s} {describe(c)}")
        return
    if a.only:
        want = a.only.split(",")
        bad = [w for w in want if w not in [c[0] for c in FULL + EXTRA + QUICK]]
        if bad:
            sys.exit(f"compare: unknown configuration(s) {', '.join(bad)} (see --list)")
        confs = [c for c in FULL + EXTRA + QUICK if c[0] in want]
    command = shlex.join([sys.argv[0]] + sys.argv[1:])
    date = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    where = machine()
    a.peer_env, kernels = peer_env(a)
    print("# pipa vs PyTorch on the same work, runs alternating (bench/peers/compare.py)")
    print(f"# machine: {where}; load average at start: {os.getloadavg()[0]:.2f}")
    print(f"# date: {date}")
    print(f"# PyTorch {torch_version(a)} (gloo, 1 thread per rank, ranks started by hand); "
          f"pipa: {a.build}/pipa-bench")
    print(f"# BLAS kernels: {kernels}")
    print(f"# command: {command}")
    print(f"# {a.rounds} rounds; each run: median of {a.reps} steps after {a.warmup} warm-up; "
          "figures: median over rounds; ratio = pipa / torch")
    print(f"# {'name':<17s} {'work':<48s} {'P':>2s} {'pipa_tok/s':>11s} {'torch_tok/s':>11s} "
          f"{'pipa/torch':>10s}")
    sys.stdout.flush()
    rows = []
    for c in confs:
        runs = measure(a, c)
        for P in (1, 2):
            mp, mt = statistics.median(runs[P][0]), statistics.median(runs[P][1])
            print(f"  {c[0]:<17s} {describe(c):<48s} {P:>2d} {mp:11.1f} {mt:11.1f} "
                  f"{mp / mt:10.3f}", flush=True)
            rows.append({"bench": "peer-compare", "name": c[0], "work": describe(c), "p": P,
                         "pipa_tokens_per_s": mp, "torch_tokens_per_s": mt, "ratio": mp / mt,
                         "pipa_runs": runs[P][0], "torch_runs": runs[P][1],
                         "pipa_command": shlex.join(pipa_cmd(a, c, "FILE")),
                         "torch_command": shlex.join(peer_cmd(a, c, P)),
                         "machine": where, "date": date, "command": command,
                         "blas_kernels": kernels})
    for r in rows:
        print(json.dumps(r))
    if a.json:
        with open(a.json, "w") as f:
            for r in rows:
                f.write(json.dumps(r) + "\n")


if __name__ == "__main__":
    main()
