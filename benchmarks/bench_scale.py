"""Scaling: full-data gradients on dask (two workers against one, one worker against numpy in
memory) and float32 against float64 HVPs, measured side by side in one run: rounds
interleaved, the best of each taken, BLAS pinned to one thread per process.

Run:  python benchmarks/bench_scale.py [--quick] [--rows N] [--chunk C] [--rounds R]
Targets: the gradient of a 64-256-10 tanh MLP on >= 1 GB of data (2 M x 64 float64) with 2
workers >= 1.6x faster than with 1; with 1 worker <= 1.3x numpy's time on data that fits in
memory (a quarter of the rows: numpy holds 4 intermediates of rows x 256 at once); the float32
HVP of the medium MLP (784-256-256-10, batch 256) <= 0.65x the float64 one, agreeing to
float32 round-off.
"""

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")  # before numpy loads BLAS

import argparse  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import memory  # noqa: E402

import graph as G  # noqa: E402
import rop  # noqa: E402
from graph.backends import dask_worker_environment  # noqa: E402
from rop.models import feed_of, flat, mlp, mlp_layers, mlp_values  # noqa: E402

TARGETS = {"2 workers / 1 worker speed-up": 1.6, "1 worker / numpy time": 1.3,
           "float32 / float64 hvp time": 0.65}
GRADIENT_SIZES = [64, 256, 10]
HVP_SIZES, HVP_BATCH = [784, 256, 256, 10], 256


def best_times(calls: dict, rounds: int) -> dict:
    """{label: the best of ``rounds`` timings}, the calls interleaved round by round so that
    a noisy spell of the machine hits each alike."""
    best = dict.fromkeys(calls, float("inf"))
    for _ in range(rounds):
        for label, call in calls.items():
            start = time.perf_counter()
            call()
            best[label] = min(best[label], time.perf_counter() - start)
    return best


def relative(a, b) -> float:
    return max(float(np.max(np.abs(np.asarray(x, float) - y)) / max(np.max(np.abs(y)), 1e-300))
               for x, y in zip(a, b))


# -- full-data gradients on dask ------------------------------------------------------------
def task_count(collections) -> int:
    """The number of tasks in the dask graph of ``collections`` (their data included)."""
    import dask.base

    if hasattr(dask.base, "collections_to_expr"):  # dask >= 2025
        return len(dict(dask.base.collections_to_expr(collections).__dask_graph__()))
    return len(dask.base.collections_to_dsk(collections))


def gradient_program(rows):
    """The compiled gradient of a tanh MLP's mean squared error over ``rows`` examples."""
    layers = mlp_layers(GRADIENT_SIZES)
    x, y = G.var("X", (rows, GRADIENT_SIZES[0])), G.var("Y", (rows, GRADIENT_SIZES[-1]))
    loss = G.sum((mlp(x, layers) - y) ** 2) * (0.5 / rows)
    theta = feed_of(layers, mlp_values(GRADIENT_SIZES, np.random.default_rng(0)))
    return G.compile(rop.grad(loss, flat(layers))), theta


def cluster_data(client, rows, chunk):
    """X (rows, 64) and Y (rows, 10), generated chunk by chunk on the workers and kept there
    (the same numbers on any cluster: the generator is seeded per chunk)."""
    import dask.array as da
    from dask.distributed import wait

    X = da.random.default_rng(1).standard_normal((rows, GRADIENT_SIZES[0]), chunks=(chunk, -1))
    Y = da.random.default_rng(2).standard_normal((rows, GRADIENT_SIZES[-1]), chunks=(chunk, -1))
    X, Y = client.persist([X, Y])
    with client.as_current():
        wait([X, Y])
    return X, Y


def bench_dask(rows, chunk, rounds):
    """Times of the full-data gradient on clusters of 1 and 2 workers (``rows`` examples) and
    of 1 worker against numpy on a quarter of them, with their agreement."""
    import dask
    from dask.distributed import Client, LocalCluster

    fits = rows // 4 // chunk * chunk
    program, theta = gradient_program(rows)
    small, _ = gradient_program(fits)
    clusters, calls, values = [], {}, {}
    with dask.config.set({"distributed.nanny.pre-spawn-environ": dask_worker_environment()}):
        try:
            for workers in (1, 2):
                cluster = LocalCluster(n_workers=workers, threads_per_worker=1,
                                       dashboard_address=":0", processes=True)
                client = Client(cluster, set_as_default=False)
                clusters += [cluster, client]
                X, Y = cluster_data(client, rows, chunk)
                lazy = program({**theta, "X": X, "Y": Y})
                tasks = task_count(lazy)
                calls[f"{workers} worker(s)"] = lambda c=client, g=lazy: c.compute(g, sync=True)
                if workers == 1:
                    part = small({**theta, "X": X[:fits], "Y": Y[:fits]})
                    calls["1 worker, fits"] = lambda c=client, g=part: c.compute(g, sync=True)
                    data = dict(zip("XY", client.compute([X[:fits], Y[:fits]], sync=True)))
                    feed = {**theta, **data}
                    calls["numpy, fits"] = lambda feed=feed: small(feed)
            values = {label: call() for label, call in calls.items()}
            times = best_times(calls, rounds)
        finally:
            for item in reversed(clusters):  # clients first, then their clusters
                item.close()
    agreement = max(relative(values["2 worker(s)"], values["1 worker(s)"]),
                    relative(values["1 worker, fits"], values["numpy, fits"]))
    return {"times": times, "agreement": agreement, "rows": rows, "fits": fits, "tasks": tasks,
            "gigabytes": rows * sum(GRADIENT_SIZES[::2]) * 8 / 1e9,
            "speed-up": times["1 worker(s)"] / times["2 worker(s)"],
            "vs numpy": times["1 worker, fits"] / times["numpy, fits"]}


# -- float32 against float64 ----------------------------------------------------------------
def hvp_call(dtype, seed=0):
    """(call, [the HVP's values]) of the medium MLP's HVP in ``dtype``, on the same numbers."""
    rng = np.random.default_rng(seed)
    layers = [(G.var(W.name, W.shape, dtype), G.var(b.name, b.shape, dtype))
              for W, b in mlp_layers(HVP_SIZES)]
    x, y = G.var("X", (HVP_BATCH, HVP_SIZES[0]), dtype), G.var("Y", (HVP_BATCH, 10), dtype)
    loss = G.sum((mlp(x, layers) - y) ** 2) * (0.5 / HVP_BATCH)
    params = flat(layers)
    vs = [G.var("v" + p.name, p.shape, dtype) for p in params]
    feed = feed_of(layers, mlp_values(HVP_SIZES, rng))
    feed.update(X=rng.normal(size=x.shape), Y=rng.normal(size=y.shape))
    feed.update({v.name: rng.normal(size=v.shape) for v in vs})
    feed = {k: np.asarray(v, dtype) for k, v in feed.items()}
    program = G.compile(rop.hvp(loss, params, vs))
    return (lambda: program(feed)), program(feed)


def bench_float32(rounds, repeats):
    calls, values = {}, {}
    for dtype in (np.float64, np.float32):
        call, values[dtype] = hvp_call(dtype)
        calls[np.dtype(dtype).name] = lambda call=call: [call() for _ in range(repeats)]
    times = best_times(calls, rounds)
    peaks = {name: memory.peak_bytes(call) / repeats for name, call in calls.items()}
    assert all(v.dtype == np.float32 for v in values[np.float32])
    return {"times": {k: t / repeats for k, t in times.items()}, "peaks": peaks,
            "ratio": times["float32"] / times["float64"],
            "memory ratio": peaks["float32"] / peaks["float64"],
            "agreement": relative(values[np.float32], values[np.float64])}


def main(argv=None):
    """Print and return {"dask": ..., "float32": ..., "ratios": {target name: measured}}."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes (a smoke test)")
    parser.add_argument("--rows", type=int, default=2_000_000)
    parser.add_argument("--chunk", type=int, default=50_000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args(argv)
    rows, chunk, rounds = (40_000, 10_000, 1) if args.quick else (args.rows, args.chunk,
                                                                  args.rounds)
    print(f"BLAS threads pinned to 1 per process; best of {rounds} interleaved round(s)\n")
    dask_result = bench_dask(rows, chunk, rounds)
    t = dask_result["times"]
    print(f"gradient of a {'-'.join(map(str, GRADIENT_SIZES))} tanh MLP, {rows} examples "
          f"({dask_result['gigabytes']:.2f} GB of data, chunks of {chunk} rows, "
          f"{dask_result['tasks']} tasks):")
    print(f"  1 worker {t['1 worker(s)']:.2f}s   2 workers {t['2 worker(s)']:.2f}s   "
          f"speed-up {dask_result['speed-up']:.2f}x (target >= {TARGETS[list(TARGETS)[0]]})")
    print(f"  on {dask_result['fits']} examples: numpy in memory {t['numpy, fits']:.2f}s   "
          f"1 worker {t['1 worker, fits']:.2f}s   ratio {dask_result['vs numpy']:.2f} "
          f"(target <= {TARGETS['1 worker / numpy time']})")
    print(f"  agreement (largest relative difference): {dask_result['agreement']:.1e}\n")
    f32 = bench_float32(rounds if not args.quick else 1, 2 if args.quick else 20)
    print(f"HVP of the {'-'.join(map(str, HVP_SIZES))} tanh MLP, batch {HVP_BATCH}:")
    print(f"  float64 {f32['times']['float64'] * 1e3:.2f}ms  float32 "
          f"{f32['times']['float32'] * 1e3:.2f}ms  ratio {f32['ratio']:.2f} (target <= "
          f"{TARGETS['float32 / float64 hvp time']})")
    print(f"  peak memory float64 {f32['peaks']['float64'] / 2**20:.1f}MB  float32 "
          f"{f32['peaks']['float32'] / 2**20:.1f}MB  ratio {f32['memory ratio']:.2f}")
    print(f"  float32 against float64: largest relative difference {f32['agreement']:.1e}")
    ratios = dict(zip(TARGETS, (dask_result["speed-up"], dask_result["vs numpy"],
                                f32["ratio"])))
    return {"dask": dask_result, "float32": f32, "ratios": ratios}


if __name__ == "__main__":
    main()
