"""The dense Hessian of the digits MLP (64-32-10 tanh, softmax cross-entropy + L2 over 1347
images, all 2,410 parameters; examples/influence_functions.py): rop.hessian against
jax.jit(jax.hessian), first call and steady state, in one process (run by compare_peers.py
with --hessian; bench_inverse_hvp.py uses jax_hessian for JAX's dense route).

First call: rop.hessian's graph, G.compile and the first run; JAX's tracing, XLA compilation
and the first run (each from a fresh function, best of ``repeats``). Steady state: the
compiled program / jitted function at another point, interleaved rounds, best of them.
"""

import os
import sys
import time

import compare_peers
import numpy as np

import graph as G
import rop

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir,
                                "examples"))
TARGET = 2.0  # rop.hessian time / jax.jit(jax.hessian) time, first call and steady state


def digits_mlp():
    """The MLP of examples/influence_functions.py with its training images."""
    import influence_functions

    x, t, _, _ = influence_functions.digits()
    return influence_functions.Classifier("mlp", x, t)


def jax_risk(model):
    """The classifier's risk R(θ; x, t, w) in jax.numpy, θ flat as in rop's layout."""
    import jax
    import jax.numpy as jnp

    shapes, n, l2 = [p.shape for p in model.params], model.n, model.l2

    def risk(theta, x, t, w):
        params, start = [], 0
        for shape in shapes:
            size = int(np.prod(shape))
            params.append(theta[start:start + size].reshape(shape))
            start += size
        a = x
        for i in range(0, len(params), 2):
            a = a @ params[i] + params[i + 1]
            a = jnp.tanh(a) if i + 2 < len(params) else a
        losses = -jnp.sum(t * jax.nn.log_softmax(a, axis=-1), axis=-1)
        return jnp.sum(w * losses) / n + (l2 / 2) * jnp.sum(theta * theta)
    return risk


def jax_hessian(model, feed, hessian=None):
    """H of the model's risk at ``feed`` (a numpy array) by ``hessian``, or by a new
    jax.jit(jax.hessian) (then this call traces and compiles it)."""
    jax = compare_peers.peer("jax")[0]
    hessian = hessian or jax.jit(jax.hessian(jax_risk(model)))
    theta = model.layout.pack([feed[p.name] for p in model.params])
    return np.asarray(jax.block_until_ready(hessian(theta, feed["x"], feed["t"], feed["w"])))


def run(rounds=3, repeats=2, model=None):
    """{"first": {impl: s}, "steady": {impl: s}, "ratios": {kind: rop / jax}, "agreement",
    "skipped"} for rop.hessian and (when installed) jax.jit(jax.hessian); printed. ``model``:
    another influence_functions.Classifier (default: the digits MLP)."""
    model = model or digits_mlp()
    point, other = model.feed(model.theta0), model.feed(0.9 * model.theta0)
    jax, reason = compare_peers.peer("jax")
    first, programs = {"rop": np.inf}, {}
    for _ in range(repeats):
        start = time.perf_counter()
        programs["rop"] = G.compile(rop.hessian(model.risk, model.params))
        reference = programs["rop"](point)[0]
        first["rop"] = min(first["rop"], time.perf_counter() - start)
        if jax is not None:
            start = time.perf_counter()
            hessian = jax.jit(jax.hessian(jax_risk(model)))
            value = jax_hessian(model, point, hessian)
            first["jax"] = min(first.get("jax", np.inf), time.perf_counter() - start)
            programs["jax"] = hessian
    steady = {name: np.inf for name in programs}
    for r in range(rounds):
        for name in sorted(programs, reverse=bool(r % 2)):  # alternate who runs first
            start = time.perf_counter()
            if name == "rop":
                programs["rop"](other)
            else:
                jax_hessian(model, other, programs["jax"])
            steady[name] = min(steady[name], time.perf_counter() - start)
    result = {"first": first, "steady": steady, "skipped": None if jax else reason,
              "agreement": None, "ratios": {}}
    print(f"\n== dense Hessian of the digits MLP ({model.layout.size} parameters, "
          f"{model.n} images) ==")
    print(f"rop.hessian             first call {first['rop']:7.2f} s   steady "
          f"{steady['rop']:7.2f} s")
    if jax is None:
        print(f"jax.jit(jax.hessian)    skipped: not installed ({reason})")
        return result
    result["agreement"] = float(np.max(np.abs(value - reference)) / np.max(np.abs(reference)))
    result["ratios"] = {kind: result[kind]["rop"] / result[kind]["jax"]
                        for kind in ("first", "steady")}
    print(f"jax.jit(jax.hessian)    first call {first['jax']:7.2f} s   steady "
          f"{steady['jax']:7.2f} s   (max rel. difference {result['agreement']:.1e})")
    for kind, ratio in result["ratios"].items():
        print(f"rop / jax, {kind:6} {ratio:6.2f} (target <= {TARGET}): "
              f"{'pass' if ratio <= TARGET else 'MISS'}")
    return result
