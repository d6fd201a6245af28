"""The random-graph strategies (tests/strategies.py) reach every op: each registered op is
drawn (and so checked per op by tests/test_properties.py) or listed here with the reason it
is not; and their helpers do what the property tests rely on."""

import numpy as np
from strategies import RandomGraph, featured, frozen, label, usable

import graph as G
import rop
from graph import ops

NOT_DRAWN = {
    "conv": "drawn as conv1d and conv2d",
    "scatter": "getitem's adjoint: in the derivative graph of every getitem drawn",
    "scatter_add": "take's adjoint: in the derivative graph of every take drawn",
    "sign": "piecewise constant, so finite differences only see its jumps; in the derivative "
            "graph of every abs drawn",
    "step": "piecewise constant; in the derivative graphs of relu, maximum, clip, max, min",
    "round": "piecewise constant, its rules proved by tests/test_ops.py",
    "det_sign": "piecewise constant, its rules proved by tests/test_ops.py",
    "nonzero": "a guard: inversion inserts it (tests/test_inverse*.py)",
    "away_from_kink": "a guard: inversion inserts it",
    "full_rank": "a guard: inversion inserts it",
    "within": "a guard: inversion inserts it",
    "certified": "a guard: inverse_hvp_graph inserts it",
}


def test_every_registered_op_is_drawn_or_said_why_not():
    drawn = {label(choice) for _, choice in featured()}
    registered = {op.name for op in G.all_ops() if op.module.startswith("graph.ops")}
    missing = registered - drawn - set(NOT_DRAWN)
    assert not missing, f"add these ops to tests/strategies.py (or to NOT_DRAWN): {missing}"
    assert set(NOT_DRAWN) <= registered - drawn  # no stale entries


def test_smooth_and_scalar_strategies_keep_to_their_ops():
    smooth = {label(choice) for _, choice in featured(smooth=True)}
    assert not smooth & {"abs", "relu", "leaky_relu", "clip", "maximum", "minimum", "max",
                         "min"}
    scalar = {label(choice) for _, choice in featured(smooth=True, scalar_inputs=True)}
    assert scalar <= {op.name for op in G.all_ops() if op.elementwise}


def test_frozen_is_what_derivatives_differentiate():
    x = G.var("x", (2,))
    f = ops.sum(ops.stop_gradient(x * x) * x)  # derivative along v: sum(x*x * v)
    point, v = {"x": np.array([0.5, -2.0])}, np.array([1.0, 3.0])
    jvp = G.evaluate(rop.jvp(f, {x: G.const(v)}), point)
    assert np.isclose(jvp, np.sum(point["x"] ** 2 * v))
    fixed = frozen(f, point)
    assert not any(n.op is ops.stop_gradient for n in G.topo_order([fixed]))
    h = 1e-6  # the frozen graph is linear in x: a central difference is exact up to rounding
    moved = [G.evaluate(fixed, {"x": point["x"] + s * h * v}) for s in (1, -1)]
    assert np.isclose((moved[0] - moved[1]) / (2 * h), jvp, rtol=1e-8)


def test_usable_refuses_a_point_outside_an_ops_domain_rather_than_raising():
    x = G.var("x", (2, 2))
    spd = x @ x.T + G.const(np.eye(2))
    graph = RandomGraph([x], ops.cholesky(ops.exp(ops.exp(ops.exp(spd)))), seed=0)
    assert not usable(graph, {"x": np.full((2, 2), 1.5)})  # overflow: not positive definite
    assert usable(RandomGraph([x], ops.cholesky(spd), seed=0), {"x": np.eye(2)})
