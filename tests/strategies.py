"""Hypothesis strategies: random graphs over the whole op set, with points in every op's domain.

``graphs()`` draws a random DAG: variables of random shapes (scalars, vectors, matrices, and
shapes that broadcast against each other), then a random sequence of ops, each applied to
earlier nodes (mostly the newest, so that the output depends on most of them), and last one
*featured* op: drawn from every op and composite the strategy builds (``featured()``), or
the one asked for with ``last=``, which is how tests/test_properties.py checks every op.
Ops with a restricted domain get operands mapped into it first (``exp(a)``, ``a*a + 0.5``,
``0.9 tanh(a)``, ``X X^T + I`` for cholesky, determinants, inv and solve), so every drawn
point is valid; ``usable`` rejects points that sit near a kink or produce huge values, where
finite differences are meaningless, and ``frozen`` holds stop_gradient's operands fixed, as
derivatives do.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from hypothesis import assume
from hypothesis import strategies as st

import graph as G
from graph import ops

SHAPES = [(), (3,), (2, 3), (2, 1), (1, 3)]
SMOOTH_UNARY = [ops.exp, ops.tanh, ops.sigmoid, ops.softplus, ops.sin, ops.cos, ops.square,
                ops.neg, ops.log, ops.sqrt, ops.erf, ops.log1p, ops.expm1, ops.arctan, ops.sinh,
                ops.cosh, ops.arcsinh, ops.stop_gradient, ops.arcsin, ops.arccos, ops.erfinv]
UNARY = SMOOTH_UNARY + [ops.abs, ops.relu, ops.leaky_relu, ops.clip]
POSITIVE_ONLY = {ops.log, ops.sqrt, ops.log1p}
UNIT_ONLY = {ops.arcsin, ops.arccos, ops.erfinv}  # defined on (-1, 1): given 0.9 tanh(x)
SMOOTH_BINARY = [ops.add, ops.sub, ops.mul, ops.div, ops.pow, ops.arctan2, ops.hypot]
BINARY = SMOOTH_BINARY + [ops.maximum, ops.minimum]
SMOOTH_REDUCTIONS = ["sum", "mean", "logsumexp", "prod", "cumsum", "variance", "std"]
REDUCTIONS = SMOOTH_REDUCTIONS + ["max", "min"]
STRUCTURE = ["transpose", "reshape", "getitem", "concatenate", "broadcast_to", "where",
             "softmax"]
CLIP_BOUNDS = [(-0.5, 0.5), (-1.0, 0.3), (0.0, np.inf)]


@dataclass
class RandomGraph:
    inputs: list
    output: G.Node
    seed: int
    built: dict = field(default_factory=dict)  # node -> what built it: an op or composite

    def point(self, seed_offset=0):
        rng = np.random.default_rng(self.seed + seed_offset)
        return {x.name: rng.uniform(-1.5, 1.5, size=x.shape) for x in self.inputs}

    def drawn(self) -> set:
        """The ops of the nodes the output depends on (those the tests check), and what
        built them: an op's name, or a composite's (variance, conv1d, matmul stack, ...)."""
        order = G.topo_order([self.output])
        return {n.op.name for n in order if n.inputs} | {self.built[n] for n in order
                                                           if n in self.built}

    def __repr__(self):
        return f"RandomGraph(seed={self.seed})\n{G.pretty(self.output)}"


def _positive(draw, x):
    form = draw(st.sampled_from(["exp", "square", "softplus"]))
    if form == "exp":
        return ops.exp(x)
    if form == "square":
        return x * x + 0.5
    return ops.softplus(x) + 0.2


def _broadcasts(*shapes):
    try:
        np.broadcast_shapes(*shapes)
        return True
    except ValueError:
        return False


def _operand(draw, pool, fits=lambda x: True):
    """A node of the pool that ``fits``: the newest such three times in four, else any (None
    if none fits). Graphs grow mostly as chains, joined by second operands, so the output
    depends on most of the nodes drawn."""
    candidates = [x for x in pool if fits(x)]
    if not candidates:
        return None
    return candidates[-1] if draw(st.integers(0, 3)) else draw(st.sampled_from(candidates))


# Each builder applies the op or composite ``choice`` to nodes of the pool and returns
# (label, node), the label naming what was built, or None when no node fits.
def _unary(draw, pool, rng, op):
    x = _operand(draw, pool)
    if op is ops.clip:
        lo, hi = draw(st.sampled_from(CLIP_BOUNDS))
        return "clip", ops.clip(x, lo=lo, hi=hi)
    if op is ops.leaky_relu:
        return op.name, op(x, alpha=draw(st.sampled_from([0.01, 0.3])))
    if op in UNIT_ONLY:
        return op.name, op(0.9 * ops.tanh(x))
    return op.name, op(_positive(draw, x) if op in POSITIVE_ONLY else x)


def _binary(draw, pool, rng, op):
    a = _operand(draw, pool)
    b = draw(st.sampled_from([b for b in pool if _broadcasts(a.shape, b.shape)]))
    if draw(st.booleans()):
        a, b = b, a
    if op is ops.div:
        return "div", a / _positive(draw, b)
    if op is ops.pow:
        if draw(st.booleans()):
            return "pow", _positive(draw, a) ** draw(st.sampled_from([2.0, 3.0, 0.5, -1.0, 1.5]))
        return "pow", _positive(draw, a) ** ops.tanh(b)
    return op.name, op(a, b)


def _matmul(draw, pool, rng, kind):
    """A matrix or vector product; "matmul stack": one operand a stack of matrices."""
    stack = kind == "matmul stack"
    a = _operand(draw, pool, lambda x: 1 <= x.ndim <= (3 if stack else 2))
    if a is None:
        return None
    n = a.shape[-1]
    if stack:
        partners = [b for b in pool if b.ndim >= 2 and b.shape[-2] == n and max(a.ndim, b.ndim)
                    >= 3 and _broadcasts(a.shape[:-2], b.shape[:-2])]
        shapes = [(2, n, 2), (1, n, 1)] + ([(n, 2), a.shape[:-2] + (n, 2)] if a.ndim == 3
                                           else [])
    else:
        partners = [b for b in pool if 1 <= b.ndim <= 2 and b.shape[0] == n]
        shapes = [(n,), (n, 2)]
    if partners and draw(st.booleans()):
        b = draw(st.sampled_from(partners))
    else:
        b = G.const(rng.normal(size=draw(st.sampled_from(shapes))))
    return kind, a @ b


def _reduce(draw, pool, rng, name):
    moment = name in ("variance", "std")  # need 2 entries: std of one is sqrt(0), no slope
    x = _operand(draw, pool, lambda x: x.size >= 2 or not moment)
    if x is None:
        return None
    axes = [a for a in range(x.ndim) if x.shape[a] >= 2 or not moment]
    axis = draw(st.sampled_from([None] + axes))
    if name == "cumsum":
        return name, ops.cumsum(x, axis=axis)
    if moment:
        fn = G.variance if name == "variance" else G.std
        return name, fn(x, axis=axis, ddof=draw(st.sampled_from([0, 1])),
                        keepdims=draw(st.booleans()))
    return name, getattr(ops, name)(x, axis=axis, keepdims=draw(st.booleans()))


FITS = {"getitem": lambda x: x.ndim >= 1 and x.shape[0] > 1, "broadcast_to": lambda x: x.ndim < 3,
        "concatenate": lambda x: x.ndim >= 1, "softmax": lambda x: x.ndim >= 1}


def _structure(draw, pool, rng, kind):
    x = _operand(draw, pool, FITS.get(kind, lambda x: True))
    if x is None:
        return None
    if kind == "transpose":
        return kind, x.T
    if kind == "reshape":
        return kind, ops.reshape(x, shape=(x.size,) if x.ndim != 1 else (1, x.size))
    if kind == "getitem":
        return kind, x[draw(st.sampled_from([0, -1, slice(0, 1), slice(1, None)]))]
    if kind == "concatenate":
        others = [y for y in pool if y.shape[1:] == x.shape[1:] and y.ndim == x.ndim]
        return kind, ops.concatenate([x, draw(st.sampled_from(others))], axis=0)
    if kind == "broadcast_to":
        return kind, ops.broadcast_to(x, shape=(2,) + x.shape)
    if kind == "where":
        cond = G.const(rng.integers(0, 2, size=x.shape))
        return kind, ops.where(cond, x, draw(st.sampled_from(pool)) if x.ndim == 0 else -x)
    return kind, ops.softmax(x) if draw(st.booleans()) else ops.log_softmax(x)


def _take(draw, pool, rng, kind):
    """take along an axis (or of x flattened) with repeated and negative indices, or
    numpy's integer-array indexing x[[i, j, ...]]."""
    x = _operand(draw, pool, lambda x: x.ndim >= 1)
    if x is None:
        return None
    axis = 0 if kind == "integer-array index" else draw(st.sampled_from([None,
                                                                         *range(x.ndim)]))
    length = x.size if axis is None else x.shape[axis]
    indices = draw(st.lists(st.integers(-length, length - 1), min_size=1, max_size=4))
    if kind == "integer-array index":
        return kind, x[np.array(indices)]
    return kind, ops.take(x, tuple(indices), axis=axis)


def _contract(draw, pool, rng, kind):
    """tensordot over the axes where the operands' shapes meet, or einsum with random
    subscripts: shared letters on axes of equal length, a random output."""
    a = _operand(draw, pool, lambda x: 1 <= x.ndim <= 3)
    if a is None:
        return None
    if kind == "tensordot":
        pairs = [(b, k) for b in pool if b.ndim <= 3 for k in range(min(a.ndim, b.ndim) + 1)
                 if a.shape[a.ndim - k:] == b.shape[:k] and a.size * b.size <= 36 * 4 ** k]
        if not pairs:
            return None
        b, k = draw(st.sampled_from(pairs))
        return kind, ops.tensordot(a, b, axes=k)
    b = draw(st.sampled_from([b for b in pool if 1 <= b.ndim <= 3]))
    left, fresh, taken, right = "abc"[:a.ndim], iter("pqr"), set(), ""
    for length in b.shape:
        same = [c for c, n in zip(left, a.shape) if n == length and c not in taken]
        letter = draw(st.sampled_from(same)) if same and draw(st.booleans()) else next(fresh)
        taken.add(letter)
        right += letter
    if draw(st.booleans()):  # one operand: a transpose and sums
        letters = draw(st.permutations(left))
        return kind, ops.einsum(f"{left}->{''.join(letters[:draw(st.integers(0, a.ndim))])}",
                                a)
    letters = draw(st.permutations(sorted(set(left + right))))
    out = "".join(letters[:draw(st.integers(0, len(letters)))])
    return kind, ops.einsum(f"{left},{right}->{out}", a, b)


def _spd(x):
    """x mapped to symmetric positive definite matrices X X^T + I (eigenvalues >= 1), one per
    matrix of a stack: cholesky's domain, and far from singular for det, logabsdet, inv and
    solve."""
    if x.ndim < 2:
        x = ops.reshape(x, shape=(max(x.size, 1), 1))
    axes = tuple(range(x.ndim - 2)) + (x.ndim - 1, x.ndim - 2)
    return x @ ops.transpose(x, axes=axes) + G.const(np.eye(x.shape[-2]))


def _decomposition(draw, pool, rng, op):
    x = _operand(draw, pool, lambda x: x.ndim <= 3)
    if x is None:
        return None
    a = _spd(x)
    if op is not ops.solve:
        return op.name, op(a)
    m = a.shape[-1]
    rhs = [b for b in pool if 1 <= b.ndim <= 2 and b.shape[0] == m]
    if a.ndim == 2 and rhs and draw(st.booleans()):
        return op.name, ops.solve(a, draw(st.sampled_from(rhs)))
    return op.name, ops.solve(a, G.const(rng.normal(size=a.shape[:-1] + (2,))))


def _conv(draw, pool, rng, kind):
    """conv2d on a matrix laid out as (1, 1, H, W), or conv1d on x as (1, 1, L), with a small
    kernel: a constant, or (conv1d) another node of the graph when one fits."""
    if kind == "conv2d":
        x = _operand(draw, pool, lambda x: x.ndim == 2 and min(x.shape) >= 2)
        if x is None:
            return None
        kernel = G.const(rng.normal(size=(draw(st.integers(1, 2)), 1, 2, 2)))
        return kind, ops.conv2d(ops.reshape(x, shape=(1, 1) + x.shape), kernel,
                                padding=draw(st.sampled_from([0, 1])))
    x = _operand(draw, pool, lambda x: x.size >= 2)
    if x is None:
        return None
    kernels = [k for k in pool if 2 <= k.size <= x.size and k is not x]
    if kernels and draw(st.booleans()):
        kernel = draw(st.sampled_from(kernels))
        kernel = ops.reshape(kernel, shape=(1, 1, kernel.size))
    else:
        kernel = G.const(rng.normal(size=(draw(st.integers(1, 2)), 1, 2)))
    return kind, ops.conv1d(ops.reshape(x, shape=(1, 1, x.size)), kernel,
                            stride=draw(st.sampled_from([1, 2])),
                            padding=draw(st.sampled_from([0, 1])))


def builders(smooth=False, scalar_inputs=False) -> list:
    """(builder, its choices), unary and binary listed twice: they are drawn more often.
    ``smooth`` leaves out kinked ops; ``scalar_inputs`` keeps to elementwise ones."""
    table = [(_unary, SMOOTH_UNARY if smooth else UNARY),
             (_binary, SMOOTH_BINARY if smooth else BINARY)] * 2
    if scalar_inputs:
        return table
    return table + [(_matmul, ["matmul", "matmul stack"]),
                    (_reduce, SMOOTH_REDUCTIONS if smooth else REDUCTIONS),
                    (_structure, STRUCTURE), (_take, ["take", "integer-array index"]),
                    (_contract, ["einsum", "tensordot"]),
                    (_decomposition, [ops.cholesky, ops.det, ops.logabsdet, ops.inv,
                                      ops.solve]),
                    (_conv, ["conv1d", "conv2d"])]


def featured(smooth=False, scalar_inputs=False) -> list:
    """Every (builder, choice) once: the featured op of a graph is drawn from these."""
    pairs = {(b, c) for b, choices in builders(smooth, scalar_inputs) for c in choices}
    return sorted(pairs, key=lambda pair: label(pair[1]))


def label(choice) -> str:
    """The name a choice is drawn under: the op's name, or the composite's."""
    return choice if isinstance(choice, str) else choice.name


@st.composite
def graphs(draw, max_nodes=7, max_inputs=3, scalar_inputs=False, smooth=False, last=None):
    """A random graph (RandomGraph) over the op set, its last op drawn from ``featured``, or
    the one labelled ``last``; ``smooth`` leaves out kinked ops."""
    seed = draw(st.integers(0, 2**31 - 1))
    rng = np.random.default_rng(seed)
    n_inputs = draw(st.integers(1, max_inputs))
    shapes = [()] * n_inputs if scalar_inputs else [draw(st.sampled_from(SHAPES))
                                                     for _ in range(n_inputs)]
    inputs = [G.var(f"x{i}", s) for i, s in enumerate(shapes)]
    table = builders(smooth, scalar_inputs)
    choices = featured(smooth, scalar_inputs)
    final = draw(st.sampled_from(choices)) if last is None else \
        next(pair for pair in choices if label(pair[1]) == last)
    pool, built = list(inputs), {}
    steps = draw(st.integers(1, max_nodes))
    for step in range(steps):
        if step == steps - 1:
            builder, choice = final
        else:
            builder, choices = draw(st.sampled_from(table))
            choice = draw(st.sampled_from(choices))
        made = builder(draw, pool, rng, choice)
        if last is not None and step == steps - 1:  # the op asked for must be there (not
            assume(made is not None and made[1] not in pool)  # rewritten away): else redraw
        if made is not None and made[1].size > 0:
            built.setdefault(made[1], made[0])  # a rewrite may return an earlier node
            pool.append(made[1])
    return RandomGraph(inputs, pool[-1], seed, built)


def scalar_of(graph: RandomGraph) -> G.Node:
    """A scalar function of the graph's output with random weights (no symmetric cancelling)."""
    out = graph.output
    weights = np.random.default_rng(graph.seed + 7).uniform(0.5, 1.5, size=out.shape)
    return ops.sum(out * G.const(weights)) if out.shape else out


def usable(graph: RandomGraph, point, margin=2e-2, bound=1e4) -> bool:
    """The point is inside every op's domain, away from kinks and from sqrt's infinite slope
    at 0 (std of nearly equal entries), with moderate values."""
    order = G.topo_order([graph.output])
    try:
        with np.errstate(all="ignore"):  # overflow is refused below
            values = dict(zip(order, G.evaluate(order, point)))
    except (G.DomainError, G.NotInvertibleError):  # e.g. X X^T + I not positive definite to
        return False  # working precision, its entries having overflowed
    for node in order:
        value = values[node]
        if not np.all(np.isfinite(value)) or np.max(np.abs(value), initial=0) > bound:
            return False
        if node.op is ops.sqrt and np.min(values[node.inputs[0]], initial=np.inf) < margin:
            return False
        if node.inputs and getattr(node.op, "kink_distance", None) is not None:
            distance = node.op.kink_distance(*(values[x] for x in node.inputs), **node.params)
            if np.min(distance, initial=np.inf) < margin:
                return False
    return True


def frozen(node: G.Node, point) -> G.Node:
    """``node`` with each stop_gradient node replaced by its value at ``point``: the function
    whose finite differences the derivatives of ``node`` at ``point`` equal (they treat
    stop_gradient's operand as a constant)."""
    stops = [n for n in G.topo_order([node]) if n.op is ops.stop_gradient]
    if not stops:
        return node
    return G.substitute(node, {n: G.const(v) for n, v in zip(stops, G.evaluate(stops, point))})
