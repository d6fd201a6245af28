"""Hypothesis strategies: random graphs over the whole op set, with points in every op's domain.

``graphs()`` draws a random DAG: variables of random shapes (scalars, vectors, matrices, and
shapes that broadcast against each other), then a random sequence of ops, each applied to
random earlier nodes. Ops with a restricted domain get operands mapped into it first
(``exp(a)``, ``a*a + 0.5``), so every drawn point is valid; ``usable`` rejects points that sit
near a kink or produce huge values, where finite differences are meaningless.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from hypothesis import strategies as st

import graph as G
from graph import ops

SHAPES = [(), (3,), (2, 3), (2, 1), (1, 3)]
UNARY = [ops.exp, ops.tanh, ops.sigmoid, ops.softplus, ops.sin, ops.cos, ops.square, ops.abs,
         ops.relu, ops.neg, ops.log, ops.sqrt]
SMOOTH_UNARY = [ops.exp, ops.tanh, ops.sigmoid, ops.softplus, ops.sin, ops.cos, ops.square,
                ops.neg, ops.log, ops.sqrt]
POSITIVE_ONLY = {ops.log, ops.sqrt}
BINARY = [ops.add, ops.sub, ops.mul, ops.div, ops.pow, ops.maximum, ops.minimum]
SMOOTH_BINARY = [ops.add, ops.sub, ops.mul, ops.div, ops.pow]


@dataclass
class RandomGraph:
    inputs: list
    output: G.Node
    seed: int

    def point(self, seed_offset=0):
        rng = np.random.default_rng(self.seed + seed_offset)
        return {x.name: rng.uniform(-1.5, 1.5, size=x.shape) for x in self.inputs}

    def __repr__(self):
        return f"RandomGraph(seed={self.seed})\n{G.pretty(self.output)}"


def _positive(draw, x):
    form = draw(st.sampled_from(["exp", "square", "softplus"]))
    if form == "exp":
        return ops.exp(x)
    if form == "square":
        return x * x + 0.5
    return ops.softplus(x) + 0.2


def _broadcast_pairs(pool):
    return [(a, b) for a in pool for b in pool if _broadcasts(a.shape, b.shape)]


def _broadcasts(*shapes):
    try:
        np.broadcast_shapes(*shapes)
        return True
    except ValueError:
        return False


def _unary(draw, pool, rng, smooth):
    op = draw(st.sampled_from(SMOOTH_UNARY if smooth else UNARY))
    x = draw(st.sampled_from(pool))
    return op(_positive(draw, x) if op in POSITIVE_ONLY else x)


def _binary(draw, pool, rng, smooth):
    op = draw(st.sampled_from(SMOOTH_BINARY if smooth else BINARY))
    a, b = draw(st.sampled_from(_broadcast_pairs(pool)))
    if op is ops.div:
        return a / _positive(draw, b)
    if op is ops.pow:
        if draw(st.booleans()):
            return _positive(draw, a) ** draw(st.sampled_from([2.0, 3.0, 0.5, -1.0, 1.5]))
        return _positive(draw, a) ** ops.tanh(b)
    return op(a, b)


def _matmul(draw, pool, rng, smooth):
    a = draw(st.sampled_from(pool))
    if not 1 <= a.ndim <= 2:
        return None
    n = a.shape[-1]
    partners = [b for b in pool if 1 <= b.ndim <= 2 and b.shape[0] == n]
    if partners and draw(st.booleans()):
        b = draw(st.sampled_from(partners))
    else:
        b = G.const(rng.normal(size=draw(st.sampled_from([(n,), (n, 2)]))))
    return a @ b


def _reduce(draw, pool, rng, smooth):
    x = draw(st.sampled_from(pool))
    op = draw(st.sampled_from([ops.sum, ops.mean, ops.logsumexp]))
    axis = None if x.ndim == 0 else draw(st.sampled_from([None] + list(range(x.ndim))))
    return op(x, axis=axis, keepdims=draw(st.booleans()))


def _structure(draw, pool, rng, smooth):
    x = draw(st.sampled_from(pool))
    kind = draw(st.sampled_from(["transpose", "reshape", "getitem", "concatenate",
                                 "broadcast", "where", "softmax"]))
    if kind == "transpose":
        return x.T
    if kind == "reshape":
        return ops.reshape(x, shape=(x.size,) if x.ndim != 1 else (1, x.size))
    if kind == "getitem" and x.ndim >= 1 and x.shape[0] > 1:
        return x[draw(st.sampled_from([0, -1, slice(0, 1), slice(1, None)]))]
    if kind == "concatenate" and x.ndim >= 1:
        others = [y for y in pool if y.shape[1:] == x.shape[1:] and y.ndim == x.ndim]
        return ops.concatenate([x, draw(st.sampled_from(others))], axis=0)
    if kind == "broadcast" and x.ndim < 3:
        return ops.broadcast_to(x, shape=(2,) + x.shape)
    if kind == "where":
        cond = G.const(rng.integers(0, 2, size=x.shape))
        return ops.where(cond, x, draw(st.sampled_from(pool)) if x.ndim == 0 else -x)
    if kind == "softmax" and x.ndim >= 1:
        return ops.softmax(x) if draw(st.booleans()) else ops.log_softmax(x)
    return None


BUILDERS = [_unary, _unary, _binary, _binary, _matmul, _reduce, _structure]


@st.composite
def graphs(draw, max_nodes=7, max_inputs=3, scalar_inputs=False, smooth=False):
    """A random graph (RandomGraph) over the op set; ``smooth`` leaves out kinked ops."""
    seed = draw(st.integers(0, 2**31 - 1))
    rng = np.random.default_rng(seed)
    n_inputs = draw(st.integers(1, max_inputs))
    shapes = [()] * n_inputs if scalar_inputs else [draw(st.sampled_from(SHAPES))
                                                     for _ in range(n_inputs)]
    inputs = [G.var(f"x{i}", s) for i, s in enumerate(shapes)]
    pool = list(inputs)
    for _ in range(draw(st.integers(1, max_nodes))):
        builders = BUILDERS[:4] if scalar_inputs else BUILDERS
        node = draw(st.sampled_from(builders))(draw, pool, rng, smooth)
        if node is not None and node.size > 0:
            pool.append(node)
    return RandomGraph(inputs, pool[-1], seed)


def scalar_of(graph: RandomGraph) -> G.Node:
    """A scalar function of the graph's output with random weights (no symmetric cancelling)."""
    out = graph.output
    weights = np.random.default_rng(graph.seed + 7).uniform(0.5, 1.5, size=out.shape)
    return ops.sum(out * G.const(weights)) if out.shape else out


def usable(graph: RandomGraph, point, margin=2e-2, bound=1e4) -> bool:
    """The point is inside every op's domain, away from kinks, with moderate values."""
    order = G.topo_order([graph.output])
    values = dict(zip(order, G.evaluate(order, point)))
    for node in order:
        value = values[node]
        if not np.all(np.isfinite(value)) or np.max(np.abs(value), initial=0) > bound:
            return False
        if node.inputs and getattr(node.op, "kink_distance", None) is not None:
            distance = node.op.kink_distance(*(values[x] for x in node.inputs), **node.params)
            if np.min(distance, initial=np.inf) < margin:
                return False
    return True
