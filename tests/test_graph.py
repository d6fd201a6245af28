"""Building graphs, printing them, evaluating them, and the SymPy bridge."""

import numpy as np
import pytest
import sympy

import graph as G
from graph import ops


def test_operators_build_the_documented_ops():
    x, y = G.var("x", (2, 3)), G.var("y", (3,))
    cases = {x + y: "add", x - y: "sub", x * y: "mul", x / y: "div", x ** y: "pow",
             -x: "neg", x @ y: "matmul", x.T: "transpose", x[0]: "getitem",
             x[:, 1]: "getitem", x[0:1]: "getitem", 2.0 * x: "mul", 1.0 - x: "sub",
             np.full(3, 2.0) * x: "mul", 3.0 / y: "div", 2.0 ** y: "pow"}
    for node, name in cases.items():
        assert node.op.name == name


def test_shapes_follow_numpy():
    x, y = G.var("x", (2, 3)), G.var("y", (3,))
    rng = np.random.default_rng(0)
    X, Y = rng.normal(size=(2, 3)), rng.normal(size=3)
    for node, expected in [(x + y, X + Y), (x @ y, X @ Y), (y @ x.T, Y @ X.T),
                           (x[:, 1], X[:, 1]), (x[-1, 0:2], X[-1, 0:2]),
                           (ops.sum(x, axis=0, keepdims=True), X.sum(0, keepdims=True)),
                           (ops.mean(x, axis=-1), X.mean(-1)),
                           (ops.reshape(x, shape=(3, -1)), X.reshape(3, -1)),
                           (ops.concatenate([x, x], axis=1), np.concatenate([X, X], 1)),
                           (ops.broadcast_to(y, shape=(4, 3)), np.broadcast_to(Y, (4, 3))),
                           (ops.transpose(x), X.T)]:
        value = G.evaluate(node, {"x": X, "y": Y})
        assert node.shape == expected.shape == value.shape
        np.testing.assert_allclose(value, expected, rtol=1e-15)


def test_matmul_follows_numpy_for_1d_and_2d():
    rng = np.random.default_rng(1)
    for sa, sb in [((3,), (3,)), ((3,), (3, 2)), ((2, 3), (3,)), ((2, 3), (3, 4))]:
        A, B = rng.normal(size=sa), rng.normal(size=sb)
        node = G.const(A) @ G.var("b", sb)
        np.testing.assert_allclose(G.evaluate(node, {"b": B}), A @ B, rtol=1e-14)


def test_composites_match_numpy():
    rng = np.random.default_rng(2)
    Z = rng.normal(size=(4, 3)) * 10
    onehot = np.eye(3)[[0, 2, 1, 2]]
    z = G.var("z", (4, 3))
    p = np.exp(Z - Z.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    np.testing.assert_allclose(G.evaluate(ops.softmax(z), {"z": Z}), p, rtol=1e-12)
    np.testing.assert_allclose(G.evaluate(ops.log_softmax(z), {"z": Z}), np.log(p),
                               rtol=1e-12, atol=1e-12)
    expected = -np.mean(np.sum(onehot * np.log(p), axis=1))
    loss = ops.softmax_cross_entropy(z, G.const(onehot))
    np.testing.assert_allclose(G.evaluate(loss, {"z": Z}), expected, rtol=1e-12)
    np.testing.assert_allclose(G.evaluate(ops.mse(z, G.const(onehot)), {"z": Z}),
                               np.mean((Z - onehot) ** 2), rtol=1e-14)


def test_stable_forward_at_extreme_values():
    x = G.var("x", (3,))
    big = np.array([-1000.0, 0.0, 1000.0])
    with np.errstate(over="raise", invalid="raise", divide="raise"):  # no overflow either
        assert np.all(np.isfinite(G.evaluate(ops.sigmoid(x), {"x": big})))
        assert np.all(np.isfinite(G.evaluate(ops.softplus(x), {"x": big})))
        assert np.isfinite(G.evaluate(ops.logsumexp(x), {"x": big}))
    np.testing.assert_allclose(G.evaluate(ops.logsumexp(x), {"x": big}), 1000.0)


def test_evaluate_takes_names_or_nodes_and_ignores_unused_variables():
    x, y, unused = G.var("x"), G.var("y"), G.var("unused", (5,))
    f = x * y
    assert G.evaluate(f, {"x": 2.0, y: 3.0, "unused": np.zeros(5), "other": 1}) == 6.0
    assert [float(v) for v in G.evaluate([f, x + 1], {x: 2.0, y: 3.0})] == [6.0, 3.0]
    assert unused.shape == (5,)


def test_pretty_prints_one_numbered_line_per_node():
    x = G.var("x", (3,))
    f = ops.sum(ops.tanh(x) * 2.0)
    text = str(f)
    lines = text.splitlines()
    assert lines[0] == "n0 = var 'x'  (3,)"
    assert lines[1] == "n1 = tanh(n0)  (3,)"
    assert lines[-1] == "outputs: n" + str(len(lines) - 2)
    assert all(line.startswith(f"n{i} = ") for i, line in enumerate(lines[:-1]))


def test_construction_simplifies_identities_and_folds_constants():
    x = G.var("x", (3,))
    assert x * 1.0 is x and 1.0 * x is x and x + -0.0 is x and x - 0.0 is x and x / 1.0 is x
    assert ops.neg(-x) is x and x.T.T is x and x ** 1.0 is x
    # kept as written: numpy's value differs at -0.0 (x + 0.0), Inf and NaN (0 * x, 0 / x)
    assert (x + 0.0).op is ops.add and (0.0 * x).op is ops.mul and (0.0 / x).op is ops.div
    folded = G.const(2.0) * G.const(3.0) + 1.0
    assert folded.is_const and float(folded.value) == 7.0
    # a broadcast is not materialized into a big constant
    assert not ops.broadcast_to(G.const(1.0), shape=(1000, 1000)).is_const


def test_nodes_are_immutable_and_have_no_truth_value():
    x = G.var("x")
    with pytest.raises(AttributeError):
        x.shape = (2,)
    with pytest.raises(TypeError, match="no truth value"):
        bool(x)


def test_to_sympy_scalar_matrix_and_array():
    x = G.var("x")
    assert G.to_sympy(ops.tanh(x) * 2) == 2 * sympy.tanh(sympy.Symbol("x", real=True))
    m = G.to_sympy(G.var("A", (2, 2)) * 2)
    assert isinstance(m, sympy.Matrix) and m.shape == (2, 2)
    a = G.to_sympy(G.var("v", (3,)))
    assert isinstance(a, sympy.Array) and a.shape == (3,)


def test_from_sympy_round_trip():
    a, b = sympy.symbols("a b", real=True)
    expr = sympy.exp(a) * sympy.sin(b) / (1 + a**2) + sympy.sqrt(b**2 + 1) - sympy.Abs(a)
    x, y = G.var("x", (4,)), G.var("y", (4,))
    node = G.from_sympy(expr, {a: x, b: y})
    rng = np.random.default_rng(3)
    X, Y = rng.normal(size=4), rng.normal(size=4)
    expected = [float(expr.subs({a: p, b: q})) for p, q in zip(X, Y)]
    np.testing.assert_allclose(G.evaluate(node, {"x": X, "y": Y}), expected, rtol=1e-13)


def test_substitute_rebuilds_only_what_depends_on_the_replaced_node():
    x, y = G.var("x"), G.var("y")
    shared = ops.exp(y)
    f = x * shared
    g = G.substitute(f, {x: y + 1.0})
    assert g.inputs[1] is shared
    assert G.evaluate(g, {"y": 0.0}) == 1.0
    assert f.inputs[0] is x  # the original is untouched


def test_compile_reuses_one_program():
    x = G.var("x", (2,))
    f = ops.sum(x * x)
    assert G.compile(f) is G.compile([f])
    run = G.compile([f, x * 2])
    out = run({"x": [1.0, 2.0]})
    assert float(out[0]) == 5.0 and out[1].tolist() == [2.0, 4.0]


def test_reversed_slices_follow_numpy():
    x = G.var("x", (5,))
    X = np.arange(5.0)
    for index in (slice(None, None, -1), slice(3, None, -2), slice(-1, 0, -1), slice(1, 4, 2)):
        np.testing.assert_array_equal(G.evaluate(x[index], {"x": X}), X[index])
