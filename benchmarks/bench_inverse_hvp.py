"""Exact inverse-Hessian-vector products on a square leaky-ReLU two-layer net, against the
gradient, a dense solve and conjugate gradient, measured side by side (BLAS on one thread).

    E = sum((s(s(X W1) W2) - Y)^2) / 2,  s = leaky ReLU (alpha 0.1),  X, W1, W2, Y all n x n
    (X, Y Gaussian data; W1, W2 random orthogonal, as orthogonal initialization gives)

Run:  python benchmarks/bench_inverse_hvp.py [--sizes 16 64 128 256 512] [--quick]
Per layer block: the time of one gradient, of the exact H^-1 v (the linear route, compiled
once; graph construction reported separately), of forming H and solving (where it fits),
and CG to 1e-10 relative residual (iterations, or "no" at the cap).
"""

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402

import graph as G  # noqa: E402
import rop  # noqa: E402

DENSE_LIMIT = 4096  # parameters per block up to which H is formed (4096^2 doubles: 128 MB)


def problem(n, seed=0):
    rng = np.random.default_rng(seed)
    X, Y = rng.normal(size=(n, n)), rng.normal(size=(n, n))
    W1, W2 = G.var("W1", (n, n)), G.var("W2", (n, n))
    act = lambda s: G.leaky_relu(s, alpha=0.1)  # noqa: E731
    f = 0.5 * G.sum((act(act(G.const(X) @ W1) @ W2) - G.const(Y)) ** 2)
    # orthogonal weights (a common initialization): H's conditioning then comes from the
    # data X and the leaky slopes; Gaussian weights square cond(W2) into it, and at n = 512
    # that leaves float64 (certificate ~ 0.5 for any solver, dense included)
    feed = {"W1": _orthogonal(n, rng), "W2": _orthogonal(n, rng)}
    return f, (W1, W2), feed, rng


def _orthogonal(n, rng):
    q, r = np.linalg.qr(rng.normal(size=(n, n)))
    return q * np.sign(np.diag(r))


def best_time(fn, repeats):
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def dense_solve(f, W, feed, v):
    """Form the block Hessian column by column with compiled HVPs, then solve."""
    direction = G.var("dense_direction", W.shape)
    program = G.compile(rop.hvp(f, W, direction))
    columns = []
    for e in np.eye(W.size):
        columns.append(program({**feed, "dense_direction": e.reshape(W.shape)})[0].ravel())
    return np.linalg.solve(np.stack(columns, axis=1), v.ravel())


def cg_iterations(f, W, feed, v, cap):
    direction = G.var("cg_direction", W.shape)
    program = G.compile(rop.hvp(f, W, direction))

    def matvec(x):
        return program({**feed, "cg_direction": x.reshape(W.shape)})[0].ravel()

    result = rop.cg(matvec, v.ravel(), tol=1e-10, eps=0.0, max_iter=cap)
    return result.iterations if result.stop == "residual tolerance" else None


def measure(n, quick):
    f, blocks, feed, rng = problem(n)
    repeats = 3 if quick else 7
    gradient = G.compile(rop.grad(f, list(blocks)))
    t_grad = best_time(lambda: gradient(feed), repeats)
    rows = []
    for W in blocks:
        v = rng.normal(size=W.shape)
        feed["v"] = v  # a variable: the solve with v is timed, not folded into constants
        start = time.perf_counter()
        inverse = rop.inverse_hessian(f, W, {k: x for k, x in feed.items() if k != "v"})
        inverse(v)
        build = time.perf_counter() - start
        notes = inverse.notes
        t_exact = best_time(lambda inverse=inverse, v=v: inverse(v), repeats)
        x = inverse(v).x
        hv = G.evaluate(rop.hvp(f, W, x), feed)
        certificate = np.linalg.norm(hv - v) / np.linalg.norm(v)
        row = dict(n=n, block=W.name, params=W.size, grad=t_grad, exact=t_exact, build=build,
                   certificate=certificate, notes=notes, dense=None, dense_error=None, cg=None)
        if W.size <= DENSE_LIMIT and not (quick and W.size > 256):
            start = time.perf_counter()
            dense = dense_solve(f, W, feed, v)
            row["dense"] = time.perf_counter() - start
            row["dense_error"] = np.max(np.abs(x.ravel() - dense)) / np.max(np.abs(dense))
        cap = 200 if quick else (min(10 * W.size, 5000) if n <= 64 else 1000)
        row["cg"] = (cg_iterations(f, W, feed, v, cap), cap)
        rows.append(row)
    return rows


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[16, 64, 128, 256, 512])
    parser.add_argument("--quick", action="store_true", help="few repeats, small CG cap")
    args = parser.parse_args(argv)
    print("BLAS threads pinned to 1; float64; best of repeated runs\n")
    print(f"{'n':>4} {'block':5} {'params':>7} {'grad ms':>9} {'exact ms':>9} {'exact/grad':>10} "
          f"{'build ms':>9} {'cert':>8} {'dense ms':>10} {'dense/exact':>11} {'vs dense':>9} "
          f"{'CG iters':>9}")
    rows = [row for n in args.sizes for row in measure(n, args.quick)]
    for r in rows:
        dense = (f"{r['dense'] * 1e3:10.1f} {r['dense'] / r['exact']:11.0f} "
                 f"{r['dense_error']:9.1e}") \
            if r["dense"] is not None else f"{'-':>10} {'-':>11} {'-':>9}"
        iters, cap = r["cg"]
        cg_text = f"{iters}" if iters is not None else f"no ({cap})"
        print(f"{r['n']:4d} {r['block']:5} {r['params']:7d} {r['grad'] * 1e3:9.3f} "
              f"{r['exact'] * 1e3:9.3f} {r['exact'] / r['grad']:10.2f} {r['build'] * 1e3:9.1f} "
              f"{r['certificate']:8.1e} {dense} {cg_text:>9}")
    for block in ("W1", "W2"):
        chosen = [r for r in rows if r["block"] == block and r["n"] >= 64]
        if len(chosen) >= 2:
            p = np.log([r["params"] for r in chosen])
            slope_grad = np.polyfit(p, np.log([r["grad"] for r in chosen]), 1)[0]
            slope_exact = np.polyfit(p, np.log([r["exact"] for r in chosen]), 1)[0]
            print(f"\nlog-log slope vs parameter count (n >= 64), block {block}: gradient "
                  f"{slope_grad:.2f}, exact inverse HVP {slope_exact:.2f}")
    return rows


if __name__ == "__main__":
    main()
