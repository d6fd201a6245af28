"""``rop demo``: the project's main job in under a minute. An MLP's exact Hessian-vector
product against finite differences, its exact inverse-Hessian-vector product against a dense
solve, and a short Hessian-free run against gradient descent."""

from __future__ import annotations

import time

import numpy as np

import graph as G

from .hessian import fd_hvp, hessian, hvp
from .inverse_hvp import inverse_hvp
from .models import feed_of, flat, mlp, mlp_layers, mlp_values
from .optim import GradientDescent, HessianFree, Objective, minimize


def _regression(sizes, batch, rng):
    """A tanh MLP's squared error on a smooth target: loss, parameters, a point."""
    layers = mlp_layers(sizes)
    X = rng.uniform(-2, 2, size=(batch, sizes[0]))
    Y = np.sin(X @ rng.normal(size=(sizes[0], sizes[-1])))
    loss = G.sum((mlp(G.const(X), layers) - G.const(Y)) ** 2) * (0.5 / batch)
    return loss, flat(layers), feed_of(layers, mlp_values(sizes, rng)), (X, Y), layers


def exact_hvp_vs_finite_differences(rng, out):
    loss, params, feed, *_ = _regression([8, 32, 32, 4], 64, rng)
    v = [rng.normal(size=p.shape) for p in params]
    exact = np.concatenate([h.ravel() for h in G.evaluate(hvp(loss, params, v), feed)])
    steps = 10.0 ** -np.arange(1, 13)
    errors = []
    for r in steps:
        fd = np.concatenate([h.ravel() for h in fd_hvp(loss, params, v, feed, r=r)])
        errors.append(np.max(np.abs(fd - exact)) / np.max(np.abs(exact)))
    best = int(np.argmin(errors))
    out(f"1. Exact H v (R-operator of the backprop graph) of a 8-32-32-4 MLP, "
        f"{exact.size} parameters")
    out("   central differences of the gradient, max relative error against the exact H v:")
    out("   " + "  ".join(f"r=1e-{k + 1}: {e:.0e}" for k, e in enumerate(errors) if k % 2 == 0))
    out(f"   best: {errors[best]:.1e} at r = {steps[best]:.0e}; exact: round-off only")
    return steps, np.array(errors)


def exact_inverse_hvp_vs_dense(rng, out):
    n = 8
    X, W2, Y = (rng.normal(size=(n, n)) for _ in range(3))
    W1 = G.var("W1", (n, n))
    loss = 0.5 * G.sum((G.tanh(G.const(X) @ W1) @ G.const(W2) - G.const(Y)) ** 2)
    feed, v = {"W1": 0.5 * rng.normal(size=(n, n))}, rng.normal(size=(n, n))
    start = time.perf_counter()
    result = inverse_hvp(loss, W1, v, feed, method="linear")
    exact_time = time.perf_counter() - start
    start = time.perf_counter()
    H = G.evaluate(hessian(loss, W1), feed)
    dense = np.linalg.solve(H, v.ravel())
    dense_time = time.perf_counter() - start
    error = np.max(np.abs(result.x.ravel() - dense)) / np.max(np.abs(dense))
    out(f"2. Exact H^-1 v of a tanh hidden layer ({W1.size} weights), without forming H")
    out(f"   {'; '.join(result.notes)}")
    out(f"   against numpy.linalg.solve(H, v) with H formed ({H.shape[0]}^2 entries): "
        f"relative error {error:.1e} (cond(H) = {np.linalg.cond(H):.1e})")
    out(f"   certificate ||H x - v|| / ||v|| = {result.certificate:.1e}; "
        f"{exact_time * 1e3:.0f} ms including graph construction, dense {dense_time * 1e3:.0f} ms")
    return error


def hessian_free_vs_gradient_descent(rng, out, budget=1000.0):
    sizes = [2, 16, 16, 1]
    X = rng.uniform(-2, 2, size=(256, 2))
    Y = np.sin(2 * X[:, :1]) * np.cos(X[:, 1:])
    layers = mlp_layers(sizes)

    def build(m):
        x, y = G.var("x", (m, 2)), G.var("y", (m, 1))
        output = mlp(x, layers)
        return G.mean((output - y) ** 2) * 0.5, output

    objective = Objective(build, flat(layers), {"x": X, "y": Y})
    theta0 = objective.flatten(feed_of(layers, mlp_values(sizes, rng)))
    runs = {}
    for name, optimizer in (("Hessian-free", HessianFree()),
                            ("gradient descent", GradientDescent(learning_rate=0.1))):
        objective.cost = 0.0
        start = time.perf_counter()
        result = minimize(objective, theta0, optimizer, max_iter=100_000, max_cost=budget)
        runs[name] = result
        out(f"   {name:17} loss {result.history[0]['loss']:.4f} -> {result.loss:.2e} in "
            f"{result.iterations} iterations, {time.perf_counter() - start:.1f} s")
    return runs


def main(plot: bool = True, out=print) -> dict:
    """Run the demo, printing a compact report; write plots when matplotlib is installed."""
    rng = np.random.default_rng(0)
    started = time.perf_counter()
    steps, errors = exact_hvp_vs_finite_differences(rng, out)
    inverse_error = exact_inverse_hvp_vs_dense(rng, out)
    out("3. Training a 2-16-16-1 MLP from the same start, for the same budget of 1000 "
        "gradient-equivalent evaluations")
    runs = hessian_free_vs_gradient_descent(rng, out)
    out(f"done in {time.perf_counter() - started:.1f} s")
    if plot:
        _plot(steps, errors, runs, out)
    return {"fd_errors": errors, "inverse_error": inverse_error, "runs": runs}


def _plot(steps, errors, runs, out):
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        out("(matplotlib is not installed: no plots; pip install 'rop[examples]')")
        return
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    left.loglog(steps, errors, "o-", label="central difference")
    left.axhline(np.finfo(float).eps, color="k", ls="--", label="exact (round-off)")
    left.set(xlabel="step r", ylabel="relative error of H v", title="Exact vs finite differences")
    left.legend()
    for name, result in runs.items():
        right.semilogy([r["cost"] for r in result.history], [r["loss"] for r in result.history],
                       label=name)
    right.set(xlabel="gradient-equivalent evaluations", ylabel="loss", title="Training")
    right.legend()
    fig.tight_layout()
    fig.savefig("rop_demo.png", dpi=110)
    out("wrote rop_demo.png")
