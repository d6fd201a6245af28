"""Loss, gradient and HVP timings of rop against hand-written numpy (Pearlmutter's recursion),
float64 tanh MLPs, measured side by side in one process, BLAS pinned to one thread.

Run:  python benchmarks/bench_hvp.py [--quick]
Prints, per workload, median times and the ratios grad/loss, HVP/grad and rop / hand-written.
"""

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")  # before numpy loads BLAS

import argparse  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402

sys.path.insert(0, os.path.dirname(__file__))
import handwritten  # noqa: E402

import graph as G  # noqa: E402
import rop  # noqa: E402
from rop.models import feed_of, flat, mlp, mlp_layers  # noqa: E402

WORKLOADS = {"tiny": ([4, 8, 8, 2], 16), "small": ([64, 64, 64, 10], 64),
             "medium": ([784, 256, 256, 10], 256)}


def build(sizes, batch, seed=0):
    """rop programs and hand-written closures computing the same three quantities."""
    rng = np.random.default_rng(seed)
    X, Y = rng.normal(size=(batch, sizes[0])), rng.normal(size=(batch, sizes[-1]))
    values = handwritten.init_mlp(sizes, rng)
    directions = handwritten.init_mlp(sizes, rng)
    layers = mlp_layers(sizes)
    x, y = G.var("x", X.shape), G.var("y", Y.shape)
    loss = G.sum((mlp(x, layers) - y) ** 2) * (0.5 / batch)
    params = flat(layers)
    vs = [G.var("v" + p.name, p.shape) for p in params]
    feed = feed_of(layers, values)
    feed.update({"x": X, "y": Y})
    feed.update({v.name: d for v, d in zip(vs, [t for pair in directions for t in pair])})
    programs = {"loss": G.compile(loss), "grad": G.compile(rop.grad(loss, params)),
                "hvp": G.compile(rop.hvp(loss, params, vs))}
    rop_fns = {k: (lambda p=p: p(feed)) for k, p in programs.items()}
    hand_fns = {"loss": lambda: handwritten.loss(values, X, Y),
                "grad": lambda: handwritten.gradient(values, X, Y),
                "hvp": lambda: handwritten.hvp(values, directions, X, Y)}
    agree = max(np.max(np.abs(a - b)) / max(np.max(np.abs(b)), 1e-300) for a, b in zip(
        rop_fns["hvp"](), [t for pair in hand_fns["hvp"]() for t in pair]))
    return {"rop": rop_fns, "numpy": hand_fns}, agree


def timed(fn, seconds):
    """Median per-call time over repeated batches lasting about ``seconds`` in total."""
    fn()
    start, calls = time.perf_counter(), 0
    while time.perf_counter() - start < seconds / 5:
        fn()
        calls += 1
    per_batch = max(1, calls)
    samples = []
    for _ in range(5):
        t = time.perf_counter()
        for _ in range(per_batch):
            fn()
        samples.append((time.perf_counter() - t) / per_batch)
    return statistics.median(samples)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="short timings (a smoke test)")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)
    budget = 0.05 if args.quick else 0.4
    print("BLAS threads pinned to 1 (OMP/OPENBLAS/MKL_NUM_THREADS); float64; median times\n")
    header = (f"{'workload':8} {'impl':6} {'loss':>10} {'grad':>10} {'hvp':>10} "
              f"{'grad/loss':>9} {'hvp/grad':>8}")
    results = {}
    for name, (sizes, batch) in WORKLOADS.items():
        fns, agree = build(sizes, batch)
        times = {(impl, q): [] for impl in fns for q in fns[impl]}
        for _ in range(1 if args.quick else args.rounds):  # interleaved: drift hits both
            for impl in fns:
                for q, fn in fns[impl].items():
                    times[impl, q].append(timed(fn, budget))
        results[name] = ({k: min(v) for k, v in times.items()}, agree)
    print(header)
    for name, (t, _) in results.items():
        for impl in ("rop", "numpy"):
            print(f"{name:8} {impl:6} {t[impl, 'loss'] * 1e3:8.3f}ms "
                  f"{t[impl, 'grad'] * 1e3:8.3f}ms "
                  f"{t[impl, 'hvp'] * 1e3:8.3f}ms {t[impl, 'grad'] / t[impl, 'loss']:9.2f} "
                  f"{t[impl, 'hvp'] / t[impl, 'grad']:8.2f}")
    print(f"\n{'workload':8} {'rop/numpy loss':>15} {'grad':>6} {'hvp':>6}   HVPs agree to")
    for name, (t, agree) in results.items():
        ratio = [t["rop", q] / t["numpy", q] for q in ("loss", "grad", "hvp")]
        print(f"{name:8} {ratio[0]:15.2f} {ratio[1]:6.2f} {ratio[2]:6.2f}   {agree:.1e}")
    return results


if __name__ == "__main__":
    main()
