"""Graphs on arrays of another Array API namespace: array_api_strict, the standard's reference
implementation (standing in for PyTorch and CuPy, which are not installed here). A program fed
such arrays runs node by node with each op's array_api form and returns that namespace's
arrays, equal to numpy's values to round-off."""

import numpy as np
import pytest
import sympy

import graph as G
import rop
from rop.models import feed_of, flat, mlp, mlp_layers, mlp_values

xp = pytest.importorskip("array_api_strict")
pytest.importorskip("array_api_compat")

RTOL = 1e-12  # float64: the namespace's sums and products differ from numpy's by round-off
SIZES = [4, 6, 3]


def _relative(a, b):
    return float(np.max(np.abs(np.asarray(a) - b)) / max(np.max(np.abs(b)), 1e-300))


def _problem(dtype=np.float64, n=30):
    rng = np.random.default_rng(0)
    layers = [(G.var(W.name, W.shape, dtype), G.var(b.name, b.shape, dtype))
              for W, b in mlp_layers(SIZES)]
    x, y = G.var("X", (n, SIZES[0]), dtype), G.var("Y", (n, SIZES[-1]), dtype)
    out = mlp(x, layers, activation=G.sigmoid)
    loss = G.softmax_cross_entropy(out, y) + G.mse(G.relu(out), y) + \
        1e-2 * G.sum(G.take(layers[0][0], [0, 2, 2], axis=0) ** 2)
    params = flat(layers)
    vs = [G.var("v" + p.name, p.shape, dtype) for p in params]
    outputs = [loss, *rop.grad(loss, params), *rop.hvp(loss, params, vs),
               *rop.ggn_vp(loss, out, params, vs)]
    feed = feed_of(layers, mlp_values(SIZES, rng))
    feed.update(X=rng.normal(size=(n, SIZES[0])), Y=np.eye(SIZES[-1])[rng.integers(3, size=n)])
    feed.update({v.name: rng.normal(size=v.shape) for v in vs})
    return outputs, {k: np.asarray(v, dtype) for k, v in feed.items()}


def test_loss_gradient_hvp_and_ggn_equal_numpy_and_stay_in_the_namespace():
    outputs, feed = _problem()
    expected = G.evaluate(outputs, feed)
    got = G.evaluate(outputs, {k: xp.asarray(v) for k, v in feed.items()})
    for a, b in zip(got, expected):
        assert type(a) is type(xp.asarray(0.0)) and a.dtype == xp.float64
        assert tuple(a.shape) == b.shape
        assert _relative(a, b) <= RTOL


def test_numpy_feeds_join_the_namespace_of_the_others():
    outputs, feed = _problem()
    mixed = {k: xp.asarray(v) if k in ("X", "Y") else v for k, v in feed.items()}
    got = G.evaluate(outputs[:2], mixed)
    assert all(a.dtype == xp.float64 for a in got)
    for a, b in zip(got, G.evaluate(outputs[:2], feed)):
        assert _relative(a, b) <= RTOL


def test_float32_stays_float32_in_the_namespace():
    outputs, feed = _problem(np.float32)
    got = G.evaluate(outputs, {k: xp.asarray(v) for k, v in feed.items()})
    expected = G.evaluate(outputs, feed)
    for a, b in zip(got, expected):
        assert a.dtype == xp.float32 and b.dtype == np.float32
        assert _relative(a, b) <= 1e-5


def test_an_op_without_an_array_api_form_is_named_with_its_node():
    x = G.var("x", (3,))
    with pytest.raises(G.MissingRuleError,
                       match=r"op 'erf' has no Array API form.*node n1 = erf\(n0\)"):
        G.evaluate(G.sum(G.erf(x)), {"x": xp.asarray([0.1, 0.2, 0.3])})


def test_feeds_of_the_namespace_are_checked():
    x = G.var("x", (2,))
    with pytest.raises(G.ShapeError, match="expects shape"):
        G.evaluate(x * 2.0, {"x": xp.asarray([1.0, 2.0, 3.0])})
    with pytest.raises(G.FeedError, match="complex"):
        G.evaluate(x * 2.0, {"x": xp.asarray([1.0, 2.0], dtype=xp.complex128)})
    with pytest.raises(G.FeedError, match="truncated"):
        G.evaluate(G.var("k", (2,), np.int64) * 2, {"k": xp.asarray([1.0, 2.0])})
    cast = G.evaluate(x * 2.0, {"x": xp.asarray([1, 2], dtype=xp.int32)})
    assert cast.dtype == xp.float64 and np.all(np.asarray(cast) == [2.0, 4.0])


def test_check_finite_names_the_node_in_the_namespace():
    x = G.var("x", (2,))
    with pytest.raises(G.DomainError,
                       match=r"node n1 = log\(n0\).*produced a NaN at index \(1,\)"):
        G.evaluate(G.log(x), {"x": xp.asarray([1.0, -1.0])}, check_finite=True)


def test_check_op_catches_a_wrong_array_api_form():
    wrong = G.elementwise_op(
        "cube_wrong_xp_test", numpy=lambda x: x ** 3, sympy=lambda x: x ** 3,
        deriv=lambda x, out: 3 * x * x,
        inverse=lambda out, x: G.sign(out) * G.abs(out) ** (1 / 3),
        array_api=lambda xp, x: x ** 2, doc="x**3 with a wrong Array API form", replace=True)
    with pytest.raises(G.RuleCheckError, match="array_api form"):
        rop.check_op(wrong)
    right = G.elementwise_op(
        "cube_right_xp_test", numpy=lambda x: x ** 3, sympy=lambda x: x ** 3,
        deriv=lambda x, out: 3 * x * x,
        inverse=lambda out, x: G.sign(out) * G.abs(out) ** (1 / 3),
        array_api=lambda xp, x: x * x * x, doc="x**3", replace=True)
    assert any(line.startswith("array_api") for line in rop.check_op(right).lines)


def test_a_ufunc_forward_gets_the_standards_function_by_default():
    from graph.backends import array_api_form

    assert array_api_form(G.ops.tanh) is not None and array_api_form(G.ops.erf) is None
    odd = G.elementwise_op("heaviside_default_test", numpy=lambda x: np.heaviside(x, 0.0),
                           sympy=lambda x: sympy.Heaviside(x, 0), deriv=None, rop=(None,),
                           vjp=(None,), inverse=G.NoInverse("test"), doc="no default",
                           replace=True)
    assert array_api_form(odd) is None  # np.heaviside inside a lambda: no name to go by
