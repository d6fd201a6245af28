"""grad, vjp, jvp, hvp, ggn_vp, hessian, fd_hvp and check_grads on graphs with known answers."""


import handwritten
import numpy as np
import pytest

import graph as G
import rop
from graph import ops
from rop.models import feed_of, flat, mlp, mlp_layers, mlp_values


def test_grad_closed_forms():
    x = G.var("x", (3,))
    X = np.array([0.5, -1.0, 2.0])
    np.testing.assert_allclose(G.evaluate(rop.grad(ops.sum(x**3), x), {"x": X}), 3 * X**2)
    np.testing.assert_allclose(G.evaluate(rop.grad(ops.sum(ops.sin(x) * x), x), {"x": X}),
                               np.cos(X) * X + np.sin(X), rtol=1e-15)
    W, b = G.var("W", (3, 2)), G.var("b", (2,))
    A = np.arange(12.0).reshape(4, 3) / 10
    loss = ops.sum(G.const(A) @ W + b)
    gW, gb = G.evaluate(rop.grad(loss, [W, b]), {"W": np.ones((3, 2)), "b": np.zeros(2)})
    np.testing.assert_allclose(gW, np.outer(A.sum(0), np.ones(2)))
    np.testing.assert_allclose(gb, [4.0, 4.0])  # broadcast over 4 rows: summed back


def test_grad_of_an_unused_variable_is_zeros_of_its_shape():
    x, unused = G.var("x"), G.var("unused", (2, 3))
    g = rop.grad(x * x, unused)
    assert g.is_const and g.shape == (2, 3) and not np.any(g.value)


def test_transformations_do_not_mutate_their_input():
    x, W = G.var("x", (4, 3)), G.var("W", (3, 2))
    loss = ops.sum(ops.tanh(x @ W) ** 2)
    before = str(loss)
    nodes_before = G.topo_order([loss])
    rop.hvp(loss, W, np.ones((3, 2)))
    rop.grad(loss, [x, W])
    rop.jvp(loss, {x: np.ones((4, 3))})
    assert str(loss) == before
    assert G.topo_order([loss]) == nodes_before


def test_second_and_third_derivatives_by_composition():
    x = G.var("x", (3,))
    X, U, V = np.array([0.5, -1.0, 2.0]), np.array([1.0, 2.0, -1.0]), np.array([0.3, 1.0, 2.0])
    f = ops.sum(x**4)
    # grad(grad(.)) : d/dx sum(4 x^3) = 12 x^2
    second = rop.grad(ops.sum(rop.grad(f, x)), x)
    np.testing.assert_allclose(G.evaluate(second, {"x": X}), 12 * X**2)
    # jvp(hvp(.)) : D^3 f [u, v] = 24 x u v
    third = rop.jvp(rop.hvp(f, x, V), {x: U})
    np.testing.assert_allclose(G.evaluate(third, {"x": X}), 24 * X * U * V)
    # and hvp of hvp's inner product: a fourth derivative, 24 u v w
    fourth = rop.grad(ops.sum(third * G.const(np.ones(3))), x)
    np.testing.assert_allclose(G.evaluate(fourth, {"x": X}), 24 * U * V)


def test_zero_tangents_and_cotangents_are_pruned():
    x, y = G.var("x", (3,)), G.var("y", (3,))
    f = ops.sum(ops.exp(x) * 2.0 + ops.sin(y))
    tangent_graph = rop.jvp(f, {x: G.var("dx", (3,))})
    ops_used = {n.op.name for n in G.topo_order([tangent_graph])}
    assert "sin" not in ops_used and "cos" not in ops_used  # y does not move
    for n in G.topo_order([tangent_graph, rop.grad(f, x)]):
        assert not (n.op.name == "mul" and any(G.leaves.is_zero(i) for i in n.inputs))


def test_a_node_used_many_times_accumulates_its_cotangent_once():
    x = G.var("x")
    y = x
    for _ in range(40):  # each level uses the previous one twice: 2**40 paths
        y = ops.sin(y) * ops.cos(y)
    gradient = rop.grad(y, x)
    assert len(G.topo_order([gradient])) < 40 * 20  # linear in the depth, not exponential
    # y_{k+1} = sin(y_k) cos(y_k) = sin(2 y_k) / 2, so dy_40/dx = prod_k cos(2 y_k)
    value, derivative = 0.3, 1.0
    for _ in range(40):
        derivative *= np.cos(2 * value)
        value = np.sin(value) * np.cos(value)
    np.testing.assert_allclose(G.evaluate(gradient, {"x": 0.3}), derivative, rtol=1e-13)


def _mlp_problem(sizes, batch, seed=0):
    rng = np.random.default_rng(seed)
    layers = mlp_layers(sizes)
    X, Y = rng.normal(size=(batch, sizes[0])), rng.normal(size=(batch, sizes[-1]))
    out = mlp(G.const(X), layers)
    loss = ops.sum((out - G.const(Y)) ** 2) * (0.5 / batch)
    values = mlp_values(sizes, rng)
    directions = mlp_values(sizes, rng)
    return layers, loss, out, values, directions, X, Y


@pytest.mark.parametrize("mode", ["fwd-rev", "rev-rev"])
def test_hvp_matches_pearlmutters_handwritten_recursion(mode):
    """A 3-layer tanh MLP with biases against docs/math.md §5 written in plain numpy."""
    layers, loss, _, values, directions, X, Y = _mlp_problem([5, 7, 6, 3], batch=11)
    hv = rop.hvp(loss, flat(layers), [d for pair in directions for d in pair], mode=mode)
    got = G.evaluate(hv, feed_of(layers, values))
    expected = [t for pair in handwritten.hvp(values, directions, X, Y) for t in pair]
    for a, b in zip(got, expected):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-14)
    gradient = G.evaluate(rop.grad(loss, flat(layers)), feed_of(layers, values))
    for a, b in zip(gradient, [t for pair in handwritten.gradient(values, X, Y) for t in pair]):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-14)


def test_hvp_direction_may_be_a_variable_or_an_array():
    x = G.var("x", (3,))
    f = ops.sum(ops.exp(x) * x)
    X, V = np.array([0.1, 0.2, -0.4]), np.array([1.0, -2.0, 0.5])
    v = G.var("v", (3,))
    by_var = G.evaluate(rop.hvp(f, x, v), {"x": X, "v": V})
    by_array = G.evaluate(rop.hvp(f, x, V), {"x": X})
    np.testing.assert_allclose(by_var, (X + 2) * np.exp(X) * V, rtol=1e-14)
    np.testing.assert_allclose(by_array, by_var, rtol=1e-15)


def test_dense_hessian_across_several_tensors():
    layers, loss, _, values, directions, X, Y = _mlp_problem([3, 4, 2], batch=5)
    params = flat(layers)
    H = G.evaluate(rop.hessian(loss, params), feed_of(layers, values))
    n = sum(p.size for p in params)
    assert H.shape == (n, n)
    np.testing.assert_allclose(H, H.T, atol=1e-14)
    v = np.concatenate([d.ravel() for pair in directions for d in pair])
    hv = G.evaluate(rop.hvp(loss, params, [d for pair in directions for d in pair]),
                    feed_of(layers, values))
    np.testing.assert_allclose(H @ v, np.concatenate([h.ravel() for h in hv]), atol=1e-13)


def test_ggn_vp_is_jt_hz_j():
    layers, loss, out, values, directions, X, Y = _mlp_problem([3, 4, 2], batch=5)
    params, feed = flat(layers), feed_of(layers, values)
    v = [d for pair in directions for d in pair]
    got = np.concatenate([g.ravel() for g in G.evaluate(rop.ggn_vp(loss, out, params, v), feed)])
    # explicit Jacobian of the output, column by column with jvp
    n = sum(p.size for p in params)
    columns = []
    for i in range(n):
        e = np.split(np.eye(n)[i], np.cumsum([p.size for p in params])[:-1])
        tangent = rop.jvp(out, {p: G.const(c.reshape(p.shape)) for p, c in zip(params, e)})
        columns.append(G.evaluate(tangent, feed).ravel())
    J = np.stack(columns, axis=1)
    Hz = np.eye(out.size) / 5  # loss = sum((out - Y)^2) / (2 * 5)
    expected = J.T @ Hz @ J @ np.concatenate([d.ravel() for d in v])
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-14)


def test_ggn_equals_hessian_for_a_linear_model():
    w = G.var("w", (3,))
    A = np.random.default_rng(1).normal(size=(6, 3))
    z = G.const(A) @ w
    f = ops.sum(ops.softplus(z))  # convex in z, z linear in w: G = H
    W, V = np.array([0.2, -0.1, 0.4]), np.array([1.0, 2.0, 3.0])
    np.testing.assert_allclose(G.evaluate(rop.ggn_vp(f, z, w, V), {"w": W}),
                               G.evaluate(rop.hvp(f, w, V), {"w": W}), rtol=1e-14)


def test_finite_difference_hvp_loses_digits_the_exact_one_keeps():
    layers, loss, _, values, directions, X, Y = _mlp_problem([4, 6, 2], batch=8)
    params, feed = flat(layers), feed_of(layers, values)
    v = [d for pair in directions for d in pair]
    exact = np.concatenate([h.ravel() for h in G.evaluate(rop.hvp(loss, params, v), feed)])
    errors = {}
    for scheme in ("forward", "central"):
        for r in (1e-2, 1e-5, 1e-8, 1e-11):
            fd = rop.fd_hvp(loss, params, v, feed, r=r, scheme=scheme)
            fd = np.concatenate([h.ravel() for h in fd])
            errors[scheme, r] = np.max(np.abs(fd - exact)) / np.max(np.abs(exact))
    assert min(errors.values()) > 1e-12  # no step size recovers all digits
    assert errors["central", 1e-5] < errors["forward", 1e-5]  # O(r^2) beats O(r)
    assert errors["central", 1e-11] > errors["central", 1e-5]  # round-off wins at tiny r


def test_check_grads_passes_on_a_correct_graph_and_fails_on_a_wrong_rule():
    layers, loss, _, values, *_ = _mlp_problem([3, 4, 2], batch=5)
    errors = rop.check_grads(loss, flat(layers), feed_of(layers, values))
    assert errors["jvp_vs_fd"] < 1e-8 and errors["adjoint"] < 1e-12
    wrong = G.op.Op("wrong_exp", arity=1, numpy=np.exp, shape=lambda s: s,
                    sympy=ops.exp.sympy, rop=(lambda dx, x, *, out: dx * out,),
                    vjp=(lambda g, x, *, out: g * out * 1.01,),
                    inverse=G.NoInverse("test op"), batch=ops.exp.batch, domain=G.REALS,
                    examples=[],
                    doc="exp whose vjp is 1% off")
    x = G.var("x", (3,))
    with pytest.raises(G.RuleCheckError, match="adjoint"):
        rop.check_grads(ops.sum(wrong(x)), x, {"x": np.ones(3)})
