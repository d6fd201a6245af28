"""Hessian-free training on a data set larger than the memory of any one process: 4 million
examples of 64 float64 features (2 GB), generated chunk by chunk on the workers of a local
dask cluster whose workers may each hold 1 GB, and written to disk as an npy stack (one
file per chunk), so the data are never held whole anywhere: every full-data pass (loss,
gradient) streams the chunks from disk through the compiled program on both workers, and
each CG run fetches its curvature mini-batch once.

The task: regression onto a fixed random "teacher" network's outputs plus noise of standard
deviation 0.1, so the best reachable loss is about 0.5 * 4 * 0.01 = 0.02.

Run:  python examples/dask_training.py [--quick] [--rows N] [--iterations K]
(--quick: 40 000 rows, 3 iterations, seconds.) With a cluster of your own, pass its
scheduler's address (--scheduler tcp://host:8786) and a --data-dir all its workers share.
"""

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")  # one BLAS thread per process: the workers share 2 cores

import argparse  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402

import dask  # noqa: E402
import dask.array as da  # noqa: E402
import numpy as np  # noqa: E402
from dask.distributed import Client, LocalCluster  # noqa: E402

import graph as G  # noqa: E402
from graph.backends import dask_worker_environment  # noqa: E402
from rop.models import flat, mlp, mlp_layers, mlp_values  # noqa: E402
from rop.optim import HessianFree, Objective, minimize  # noqa: E402

FEATURES, OUTPUTS, HIDDEN, NOISE = 64, 4, 32, 0.1


def teacher(block, seed=7):
    """The fixed network the targets come from (the same weights in every worker)."""
    rng = np.random.default_rng(seed)
    a = rng.normal(size=(FEATURES, 16)) / np.sqrt(FEATURES)
    b = rng.normal(size=(16, OUTPUTS))
    return np.tanh(block @ a) @ b


def synthetic_data(rows, chunk, directory):
    """X (rows, 64) and Y (rows, 4) as lazy dask arrays read from ``directory``, where the
    workers first write them chunk by chunk (each chunk generated from seeds where it is
    written): generating normal numbers costs more than reading them back."""
    X = da.random.default_rng(1).standard_normal((rows, FEATURES), chunks=(chunk, -1))
    noise = da.random.default_rng(2).standard_normal((rows, OUTPUTS), chunks=(chunk, -1))
    Y = X.map_blocks(teacher, chunks=(chunk, OUTPUTS), dtype=float) + NOISE * noise
    da.to_npy_stack(directory, da.concatenate([X, Y], axis=1), axis=0)
    XY = da.from_npy_stack(directory)
    return XY[:, :FEATURES], XY[:, FEATURES:]


def objective_on(X, Y):
    layers = mlp_layers([FEATURES, HIDDEN, OUTPUTS])

    def build(m):
        x, y = G.var("x", (m, FEATURES)), G.var("y", (m, OUTPUTS))
        out = mlp(x, layers)
        return 0.5 * G.mean(G.sum((out - y) ** 2, axis=1)), out

    return Objective(build, flat(layers), {"x": X, "y": Y}), layers


def train(client, rows, chunk, iterations, batch_size, directory):
    start = time.perf_counter()
    X, Y = synthetic_data(rows, chunk, directory)
    print(f"data generated and written by the workers in {time.perf_counter() - start:.1f}s")
    start = time.perf_counter()
    objective, layers = objective_on(X, Y)  # checks the data are finite: one pass
    check = time.perf_counter() - start
    theta0 = objective.flatten(flat(mlp_values([FEATURES, HIDDEN, OUTPUTS],
                                               np.random.default_rng(0))))
    start = time.perf_counter()
    # backtracking through CG's iterates on the in-memory curvature batch, not on the full
    # data: each full-data pass streams 2 GB, so a step costs two (gradient, line search)
    optimizer = HessianFree(batch_size=batch_size, evaluation_batch="curvature")
    result = minimize(objective, theta0, optimizer, max_iter=iterations, progress=True)
    seconds = time.perf_counter() - start
    full_passes = objective.cost  # gradient-equivalents over the full data
    return result, objective, seconds, check, full_passes


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help="40 000 rows, 3 iterations, curvature batches of 1000")
    parser.add_argument("--rows", type=int, default=4_000_000)
    parser.add_argument("--chunk", type=int, default=50_000)
    parser.add_argument("--iterations", type=int, default=8)
    parser.add_argument("--batch-size", type=int, default=5_000, help="curvature batch")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--memory-limit", default="1GB", help="per worker")
    parser.add_argument("--scheduler", default=None, help="address of a running cluster")
    parser.add_argument("--data-dir", default=None,
                        help="where the workers write the data (default: a temporary directory)")
    args = parser.parse_args(argv)
    rows, chunk, iterations, batch_size = (40_000, 10_000, 3, 1_000) if args.quick else (
        args.rows, args.chunk, args.iterations, args.batch_size)
    print(f"{rows} examples x {FEATURES} features, float64: "
          f"{rows * (FEATURES + OUTPUTS) * 8 / 1e9:.2f} GB, chunks of {chunk} rows")
    with dask.config.set({"distributed.nanny.pre-spawn-environ": dask_worker_environment()}):
        if args.scheduler:
            cluster, client = None, Client(args.scheduler)
        else:
            cluster = LocalCluster(n_workers=args.workers, threads_per_worker=1,
                                   memory_limit=args.memory_limit, dashboard_address=":0")
            client = Client(cluster)
            print(f"local cluster: {args.workers} workers, 1 thread and {args.memory_limit} "
                  f"each")
        try:
            with tempfile.TemporaryDirectory() as scratch:
                result, objective, seconds, check, passes = train(
                    client, rows, chunk, iterations, min(batch_size, rows),
                    args.data_dir or scratch)
        finally:
            client.close()
            if cluster is not None:
                cluster.close()
    print(f"\nfinite check of the data: {check:.1f}s (one pass)")
    print(f"{'iteration':>9} {'loss':>10} {'|gradient|':>11} {'cost':>7} {'time':>8}")
    for record in result.history:
        print(f"{record['iteration']:>9} {record['loss']:10.5f} {record['gradient_norm']:11.2e} "
              f"{record['cost']:7.1f} {record['time']:7.1f}s")
    throughput = passes * rows / seconds
    print(f"\n{result.iterations} Hessian-free iterations in {seconds:.1f}s: {passes:.1f} "
          f"full-data gradient-equivalents, {throughput / 1e6:.2f} M examples/s; "
          f"loss {result.history[0]['loss']:.4f} -> {result.loss:.4f} (noise floor about "
          f"{0.5 * OUTPUTS * NOISE**2:.3f}); calls {dict(objective.counts)}")
    return {"result": result, "seconds": seconds, "throughput": throughput, "passes": passes}


if __name__ == "__main__":
    main()
