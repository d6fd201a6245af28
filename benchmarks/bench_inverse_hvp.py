"""Exact inverse-Hessian-vector products on the problems users bring, against a gradient,
SciPy's MINRES and CG on rop's exact HVPs, measured side by side in one run (BLAS, XLA on
one thread; best of repeated timings).

Problems (the digits ones from examples/influence_functions.py: 1347 training images,
softmax cross-entropy + (λ/2)|θ|², λ = 1e-3, all parameters):

    logistic     multinomial logistic regression (650 parameters) at its trained minimum
    mlp          the 64-32-10 tanh MLP (2,410 parameters) at its trained minimum
    mlp-init     the same MLP at its random initialization, where H is indefinite
    square-l2    an L2-regularized square-loss output layer: 512 digits through a fixed
                 random tanh layer of 128 units, 10 outputs, λ = 1e-3; W, then W and b
    square       the same output layer (W) without L2
    square-net   the blocks of the square leaky-ReLU net E = |s(s(X W1) W2) - Y|² / 2

For each: one gradient; rop.inverse_hessian's setup (graph, compile, factor) and its time
per query over Q random v's (one call each), with the largest certificate |H x - v| / |v|
and the same residual measured again with a separately compiled HVP; SciPy MINRES on the
same v's (scipy.sparse.linalg.minres, rtol 1e-10, rop.scipy.hessian_operator); CG to a
relative residual of 1e-10 (rop.cg) on a few of them; JAX's dense route when JAX is
installed (jax.jit(jax.hessian), the same factorization, x = H^-1 v; no certificate).
Then the targets, with a verdict each.

Run:  python benchmarks/bench_inverse_hvp.py [--quick] [--problems NAME ...]
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir,
                                "examples"))
import compare_peers  # noqa: I001 - pins BLAS and XLA to one thread before numpy loads
import hessian_peers
import influence_functions
from influence_functions import timed

import argparse
import time

import numpy as np
import scipy.sparse.linalg

import graph as G
import rop
import rop.scipy
from rop.layout import Layout

PROBLEMS = ("logistic", "mlp", "mlp-init", "square-l2", "square", "square-net")
MINRES_RTOL, CG_TOL = 1e-10, 1e-10
# (quantity, problem, bound): "residual" the largest over the queries; "query/grad" the time
# of one query over one gradient; "total/minres" setup + Q queries over MINRES on the same Q
TARGETS = [("residual", "logistic", 1e-9), ("total/minres", "logistic", 0.5),
           ("query/grad", "logistic", 10.0), ("residual", "mlp", 1e-9),
           ("total/minres", "mlp", 0.5), ("query/grad", "mlp", 20.0),
           ("residual", "mlp-init", 1e-8), ("residual", "square-l2 W", 1e-9),
           ("query/grad", "square-l2 W", 5.0), ("residual", "square W", 1e-9),
           ("query/grad", "square W", 3.0)]
# exact / gradient of the square net's blocks as docs/benchmarks.md recorded them before
SQUARE_NET = {(16, "W1"): 3.5, (16, "W2"): 2.5, (64, "W1"): 2.6, (64, "W2"): 2.0,
              (128, "W1"): 1.8, (128, "W2"): 1.4, (256, "W1"): 1.7, (256, "W2"): 1.3,
              (512, "W1"): 1.6, (512, "W2"): 1.2}
NOISE = 1.25  # a recorded ratio is kept when measured within this factor of it


# -- problems --------------------------------------------------------------------------------
def digits_problems(names, quick):
    """{name: (f, wrt, feed, classifier)} for the digits problems among ``names``."""
    x, t, _, _ = influence_functions.digits()
    hidden = influence_functions.HIDDEN
    if quick:  # a smaller net on fewer images: the same code paths in seconds
        x, t, hidden = x[:300], t[:300], 8
    out = {}
    for name in [n for n in ("logistic", "mlp", "mlp-init") if n in names]:
        kind = "logistic" if name == "logistic" else "mlp"
        model = influence_functions.Classifier(kind, x, t, hidden=hidden)
        theta = model.theta0 if name == "mlp-init" else \
            model.minimize(model.theta0, np.ones(model.n))[0]
        out[name] = (model.risk, model.params, model.feed(theta), model)
    return out


def square_layer(l2, bias, n=512, hidden=128, seed=0):
    """(f, wrt, feed): the output layer of a net whose tanh hidden layer (random, fixed) sees
    n digits; f = |A W (+ b) - T|² / (2 n) + (λ/2) |W (, b)|²."""
    x, t, _, _ = influence_functions.digits()
    rng = np.random.default_rng(seed)
    X, V = G.var("x", (n, 64)), G.var("V", (64, hidden))
    W, b, T = G.var("W", (hidden, 10)), G.var("b", (10,)), G.var("t", (n, 10))
    wrt = [W, b] if bias else [W]
    output = G.tanh(X @ V) @ W + (b if bias else 0.0)
    f = G.sum((output - T) ** 2) / (2 * n) + (l2 / 2) * sum(G.sum(p * p) for p in wrt)
    feed = {"x": x[:n], "t": t[:n], "V": rng.normal(size=(64, hidden)) / 8,
            "W": rng.normal(size=(hidden, 10)) / np.sqrt(hidden), "b": np.zeros(10)}
    return f, wrt, feed


# -- measurements ------------------------------------------------------------------------------
def measure(name, f, wrt, feed, args, routes=("auto",), minres=None, cg_queries=None,
            jax_model=None):
    """The rows of one problem: gradient, rop's routes, MINRES on ``minres`` queries (default
    all), CG on ``cg_queries`` (default args.cg_queries), JAX's dense route for a digits
    ``jax_model`` (printed later)."""
    layout = Layout(wrt)
    gradient = G.compile(rop.grad(f, wrt))
    _, t_grad = timed(lambda: gradient(feed), args.repeats * 3)
    H = rop.scipy.hessian_operator(f, wrt, feed)  # the compiled HVP, for checks and baselines
    V = np.random.default_rng(1).normal(size=(args.queries, layout.size))

    def residuals(X):
        return [float(np.linalg.norm(H @ x - v) / np.linalg.norm(v)) for x, v in zip(X, V)]

    parts = [part.reshape((len(V),) + t.shape) for t, part in
             zip(wrt, np.split(V, layout.offsets, axis=1))]  # V as one batch
    rows = []
    for route in routes:
        inverse, setup = timed(lambda route=route: rop.inverse_hessian(f, wrt, feed,
                                                                          method=route),
                                   args.setup_repeats)
        answers, total = timed(lambda inverse=inverse: [
            inverse(layout.unpack(v)) for v in V], args.repeats)
        X = [layout.pack(a.x) for a in answers]
        inverse(parts, batched=True)  # compiles the program for this batch size
        batch, batched = timed(lambda inverse=inverse: inverse(parts, batched=True),
                                   args.repeats)
        rows.append(dict(problem=name, params=layout.size, route=f"rop {route}",
                         method=inverse.method, grad=t_grad, setup=setup,
                         query=total / len(V), batched=batched,
                         certificate=max(a.certificate for a in answers + [batch]),
                         residual=max(residuals(X)), notes=inverse.notes))
    k = len(V) if minres is None else minres
    if k:
        times, iterations, X = [], [], []
        for v in V[:k]:
            count = []
            start = time.perf_counter()
            x, _ = scipy.sparse.linalg.minres(H, v, rtol=MINRES_RTOL, maxiter=20 * layout.size,
                                              callback=lambda _, count=count: count.append(1))
            times.append(time.perf_counter() - start)
            iterations.append(len(count))
            X.append(x)
        rows.append(dict(problem=name, params=layout.size, route="scipy minres",
                         method=f"rtol {MINRES_RTOL:g}, {np.mean(iterations):.0f} iterations "
                         f"(mean of {k})", grad=t_grad, setup=0.0, query=np.mean(times),
                         certificate=None, residual=max(residuals(X)), notes=[]))
    cg_queries = args.cg_queries if cg_queries is None else cg_queries
    if cg_queries:
        times, iterations, X = [], [], []
        for v in V[:cg_queries]:
            start = time.perf_counter()
            result = rop.cg(H.matvec, v, tol=CG_TOL, eps=0.0, max_iter=20 * layout.size,
                            stop_on_negative_curvature=False)
            times.append(time.perf_counter() - start)
            iterations.append(result.iterations)
            X.append(result.x)
        rows.append(dict(problem=name, params=layout.size, route="rop.cg",
                         method=f"to {CG_TOL:g}, {np.mean(iterations):.0f} iterations (mean of "
                         f"{len(X)})", grad=t_grad, setup=0.0, query=np.mean(times),
                         certificate=None, residual=max(residuals(X)), notes=[]))
    if jax_model is not None and compare_peers.peer("jax")[0] is not None:
        rows.append(jax_dense(name, jax_model, feed, V, residuals, t_grad))
    return rows


def jax_dense(name, model, feed, V, residuals, t_grad):
    """JAX's dense route: H by jax.jit(jax.hessian) (first call: trace, compile, run), the
    factorization rop's dense route uses, then x = H^-1 v per query."""
    start = time.perf_counter()
    H = hessian_peers.jax_hessian(model, feed)
    inverse = dense_inverse(H)
    setup = time.perf_counter() - start
    X, total = timed(lambda: [inverse @ v for v in V], 3)
    return dict(problem=name, params=len(H), route="jax dense",
                method="jax.jit(jax.hessian), Cholesky or LU", grad=t_grad, setup=setup,
                query=total / len(V), certificate=None, residual=max(residuals(X)), notes=[])


def dense_inverse(H):
    """H^-1 as rop's dense route computes it: by Cholesky when positive definite, else LU."""
    H = 0.5 * (H + H.T)
    try:
        lower_inverse = np.linalg.inv(np.linalg.cholesky(H))
        return lower_inverse.T @ lower_inverse
    except np.linalg.LinAlgError:
        return np.linalg.inv(H)


def blocks_residual(name, f, wrt, feed):
    """rop.inverse_hvp(blocks=True): the block-diagonal approximation's own certificate and
    its residual against the full Hessian, with its time."""
    v = Layout(wrt).unpack(np.random.default_rng(2).normal(size=Layout(wrt).size))
    result, seconds = timed(lambda: rop.inverse_hvp(f, wrt, v, feed, blocks=True), 1)
    return dict(problem=name, certificate=result.certificate,
                full_residual=result.full_residual, seconds=seconds)


def square_net_rows(sizes, quick):
    """The square leaky-ReLU net's blocks: gradient, exact inverse HVP, dense, CG."""
    rows = []
    for n in sizes:
        rng = np.random.default_rng(0)
        X, Y = rng.normal(size=(n, n)), rng.normal(size=(n, n))
        W1, W2 = G.var("W1", (n, n)), G.var("W2", (n, n))
        act = lambda s: G.leaky_relu(s, alpha=0.1)  # noqa: E731
        f = 0.5 * G.sum((act(act(G.const(X) @ W1) @ W2) - G.const(Y)) ** 2)
        # orthogonal weights: H's conditioning then comes from X and the leaky slopes;
        # Gaussian weights square cond(W2) into it, singular to float64 at n = 512
        feed = {"W1": _orthogonal(n, rng), "W2": _orthogonal(n, rng)}
        gradient = G.compile(rop.grad(f, [W1, W2]))
        _, t_grad = timed(lambda g=gradient, feed=feed: g(feed), 3 if quick else 7)
        for W in (W1, W2):
            v = rng.normal(size=W.shape)
            inverse, build = timed(lambda f=f, W=W, feed=feed: rop.inverse_hessian(
                f, W, feed), 1)
            answer, t_exact = timed(lambda inverse=inverse, v=v: inverse(v),
                                        3 if quick else 7)
            rows.append(dict(n=n, block=W.name, params=W.size, grad=t_grad, exact=t_exact,
                             build=build, certificate=answer.certificate,
                             recorded=SQUARE_NET.get((n, W.name)), notes=inverse.notes))
    return rows


def _orthogonal(n, rng):
    q, r = np.linalg.qr(rng.normal(size=(n, n)))
    return q * np.sign(np.diag(r))


# -- report ------------------------------------------------------------------------------------
def print_rows(rows, queries):
    """The table: per query one call each; "batched": all queries in one call (after a first
    call that compiled the program for that batch size)."""
    print(f"\n{'problem':14} {'params':>6} {'route':13} {'setup s':>8} {'query ms':>9} "
          f"{'q/grad':>7} {'+' + str(queries) + ' q. s':>9} {'batched s':>9} {'residual':>9}"
          f"  how")
    for r in rows:
        total = r["setup"] + queries * r["query"]
        batched = f"{r['batched']:9.3f}" if r.get("batched") else f"{'-':>9}"
        print(f"{r['problem']:14} {r['params']:6d} {r['route']:13} {r['setup']:8.3f} "
              f"{r['query'] * 1e3:9.3f} {r['query'] / r['grad']:7.2f} {total:9.3f} {batched} "
              f"{r['residual']:9.1e}  {r['method']}")


def verdicts(rows, queries):
    """[(quantity, problem, bound, value, passed)] for the TARGETS measured."""
    out = []
    for quantity, problem, bound in TARGETS:
        mine = [r for r in rows if r["problem"] == problem and r["route"] == "rop auto"]
        if not mine:
            continue
        r = mine[0]
        if quantity == "residual":
            value = max(r["residual"], r["certificate"])
        elif quantity == "query/grad":
            value = r["query"] / r["grad"]
        else:
            minres = [m for m in rows if m["problem"] == problem and m["route"] == "scipy minres"]
            value = (r["setup"] + queries * r["query"]) / (queries * minres[0]["query"])
        out.append((quantity, problem, bound, value, value <= bound))
    return out


def parse(argv):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help="small nets on 300 images, 3 queries, square net n = 16 only")
    parser.add_argument("--problems", nargs="+", choices=PROBLEMS, default=list(PROBLEMS))
    parser.add_argument("--sizes", type=int, nargs="+", help="square-net sizes "
                        "(16 64 128 256 512; quick: 16)")
    args = parser.parse_args(argv)
    args.queries, args.cg_queries = (3, 1) if args.quick else (50, 2)
    args.repeats, args.setup_repeats = (1, 1) if args.quick else (3, 2)
    args.sizes = args.sizes or ([16] if args.quick else [16, 64, 128, 256, 512])
    return args


def main(argv=None):
    """Run; returns {"rows", "blocks", "square_net", "verdicts"} (times in seconds)."""
    args = parse(argv)
    print(f"BLAS/XLA threads pinned to 1; float64; {args.queries} queries; best of "
          f"{args.repeats} (setups: best of {args.setup_repeats})")
    rows, blocks = [], []
    for name, (f, wrt, feed, model) in digits_problems(args.problems, args.quick).items():
        # at the indefinite point neither MINRES nor CG converges within 20 n iterations
        init = name == "mlp-init"
        rows += measure(name, f, wrt, feed, args, minres=(0 if args.quick else 1) if init
                        else None, cg_queries=0 if init else None, jax_model=model)
        if name != "mlp-init":
            blocks.append(blocks_residual(name, f, wrt, feed))
    for name, l2 in (("square-l2", 1e-3), ("square", 0.0)):
        if name in args.problems:
            f, wrt, feed = square_layer(l2, bias=False)
            rows += measure(f"{name} W", f, wrt, feed, args,
                            routes=("auto",) if args.quick else ("auto", "dense"))
            if l2 and not args.quick:
                f, wrt, feed = square_layer(l2, bias=True)
                rows += measure(f"{name} W,b", f, wrt, feed, args, minres=0, cg_queries=0)
    print_rows(rows, args.queries)
    if compare_peers.peer("jax")[0] is None:
        print(f"jax dense: skipped, not installed ({compare_peers.peer('jax')[1]})")
    for b in blocks:
        print(f"blocks=True on {b['problem']}: block certificates <= {b['certificate']:.1e}, "
              f"residual against the full H {b['full_residual']:.2f} ({b['seconds']:.2f} s)")
    net = square_net_rows(args.sizes, args.quick) if "square-net" in args.problems else []
    if net:
        print(f"\n{'n':>4} {'block':5} {'params':>7} {'grad ms':>9} {'exact ms':>9} "
              f"{'exact/grad':>10} {'recorded':>8} {'build s':>8} {'cert':>8}")
        for r in net:
            print(f"{r['n']:4d} {r['block']:5} {r['params']:7d} {r['grad'] * 1e3:9.3f} "
                  f"{r['exact'] * 1e3:9.3f} {r['exact'] / r['grad']:10.2f} "
                  f"{r['recorded'] or float('nan'):8.1f} {r['build']:8.2f} "
                  f"{r['certificate']:8.1e}")
    found = verdicts(rows, args.queries)
    found += [("exact/grad", f"square-net {r['n']} {r['block']}", NOISE * r["recorded"],
               r["exact"] / r["grad"], r["exact"] / r["grad"] <= NOISE * r["recorded"])
              for r in net if r["recorded"]]
    print("\n== targets ==" + (" (--quick: smaller problems, fewer queries; the verdicts "
                                "are not those of the targets)" if args.quick else ""))
    for quantity, problem, bound, value, passed in found:
        print(f"{problem:18} {quantity:13} {value:10.3g} <= {bound:<8.3g} "
              f"{'pass' if passed else 'MISS'}")
    return {"rows": rows, "blocks": blocks, "square_net": net, "verdicts": found}


if __name__ == "__main__":
    main()
