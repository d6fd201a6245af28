"""Batching (rop.vmap) and what is built on it: batched HVPs, dense Jacobians and Hessians,
against per-entry evaluation, finite differences and sympy."""

import numpy as np
import pytest
import sympy
from hypothesis import assume, given
from oracles import close
from strategies import graphs, scalar_of, usable

import graph as G
import rop
from graph import ops

RTOL_EXACT = 1e-9  # two exact computations of one value differ by round-off only
K = 3


@given(graphs())
def test_vmap_of_a_random_graph_equals_its_entries_stacked(g):
    point = g.point()
    assume(usable(g, point))
    x = g.inputs[0]
    rng = np.random.default_rng(g.seed)
    values = np.stack([point[x.name]] + [point[x.name] + 0.1 * rng.normal(size=x.shape)
                                         for _ in range(K - 1)])
    batched = G.evaluate(rop.vmap(g.output, {x: G.const(values)}), point)
    for k in range(K):
        entry = G.evaluate(g.output, {**point, x.name: values[k]})
        assert close(batched[k], entry, RTOL_EXACT), (k, g)


@given(graphs(smooth=True))
def test_batched_hvp_equals_one_hvp_per_direction_in_both_modes(g):
    point = g.point()
    assume(usable(g, point))
    f = scalar_of(g)
    rng = np.random.default_rng(g.seed + 1)
    V = [rng.normal(size=(K,) + x.shape) for x in g.inputs]
    for mode in ("fwd-rev", "rev-rev"):
        batched = G.evaluate(rop.hvp(f, g.inputs, V, mode=mode, batched=True), point)
        for k in range(K):
            one = G.evaluate(rop.hvp(f, g.inputs, [d[k] for d in V], mode=mode), point)
            for b, o in zip(batched, one):
                assert close(b[k], o, RTOL_EXACT), (mode, k, g)


def test_hessian_matches_sympy():
    x = G.var("x", (3,))
    f = G.sum(G.tanh(x) ** 3) * G.sum(G.exp(x[0:2]))
    point = np.array([0.3, -0.7, 0.5])
    expr = G.to_sympy(f)
    symbols = sorted(expr.free_symbols, key=lambda s: s.name)
    exact = sympy.hessian(expr, symbols).subs(dict(zip(symbols, point)))
    np.testing.assert_allclose(G.evaluate(rop.hessian(f, x), {"x": point}),
                               np.array(exact, dtype=float), rtol=1e-12)


def test_hessian_in_chunks_equals_one_pass(monkeypatch):
    W, b = G.var("W", (3, 4)), G.var("b", (4,))
    X = G.const(np.random.default_rng(0).normal(size=(5, 3)))
    f = G.sum(G.tanh(X @ W + b) ** 2)
    feed = {"W": np.random.default_rng(1).normal(size=(3, 4)), "b": np.ones(4)}
    whole = G.evaluate(rop.hessian(f, [W, b]), feed)
    monkeypatch.setattr("rop.batching.CHUNK_BYTES", 5 * 4 * 8 * 3)  # three directions a pass
    chunked = rop.hessian(f, [W, b])
    assert sum(n.op is ops.concatenate for n in G.topo_order([chunked])) >= 1
    np.testing.assert_allclose(G.evaluate(chunked, feed), whole, rtol=1e-13)
    np.testing.assert_allclose(whole, whole.T, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("wide", [False, True])  # reverse mode when y is the smaller
def test_jacobian_matches_central_differences(wide):
    x = G.var("x", (4,) if wide else (2,))
    A = G.const(np.random.default_rng(2).normal(size=(3, x.shape[0])))
    y = G.tanh(A @ x) * x[0]
    point = np.linspace(-0.5, 0.7, x.shape[0])
    J = G.evaluate(rop.jacobian(y, x), {"x": point})
    h = 1e-4
    columns = [(G.evaluate(y, {"x": point + h * e}) - G.evaluate(y, {"x": point - h * e}))
               / (2 * h) for e in np.eye(x.shape[0])]
    # central differences: error O(h^2) ~ 1e-8 on these O(1) functions
    np.testing.assert_allclose(J, np.stack(columns, axis=1), rtol=1e-6, atol=1e-8)


def test_jacobian_for_several_tensors_keeps_their_shapes():
    W, x = G.var("W", (2, 3)), G.var("x", (3,))
    J_W, J_x = G.evaluate(rop.jacobian(W @ x, [W, x]), {"W": np.ones((2, 3)), "x": [1.0, 2, 3]})
    assert J_W.shape == (2, 2, 3) and J_x.shape == (2, 3)
    np.testing.assert_array_equal(J_x, np.ones((2, 3)))
    np.testing.assert_array_equal(J_W[1], [[0, 0, 0], [1, 2, 3]])


def test_vmap_refuses_a_value_of_the_wrong_shape():
    x = G.var("x", (2,))
    with pytest.raises(G.ShapeError, match=r"batched value of shape \(k, \*\(2,\)\)"):
        rop.vmap(x * 2.0, {x: G.const(np.ones((3, 4)))})
