"""Bad input gets a clear error, raised where the mistake is made."""

import numpy as np
import pytest

import graph as G
import rop
from graph import ops


def test_shape_mismatch_names_the_op_and_both_shapes():
    x, y = G.var("x", (64, 10)), G.var("y", (5, 3))
    with pytest.raises(G.ShapeError, match=r"matmul: shapes \(64, 10\) and \(5, 3\)"):
        x @ y
    with pytest.raises(G.ShapeError, match=r"add: operand shapes \(64, 10\) and \(5, 3\)"):
        x + y
    with pytest.raises(G.ShapeError, match=r"reshape: cannot reshape \(64, 10\)"):
        ops.reshape(x, shape=(7, 7))
    with pytest.raises(G.ShapeError, match=r"concatenate: shapes \(64, 10\), \(5, 3\)"):
        ops.concatenate([x, y])
    with pytest.raises(IndexError, match="out of bounds"):
        x[64]
    with pytest.raises(TypeError, match="basic indexing"):
        x[1.5]


def test_missing_feed_names_every_missing_variable():
    f = G.var("x") * G.var("y") + G.var("z")
    with pytest.raises(G.FeedError, match="variable[(]s[)] y, z") as caught:
        G.evaluate(f, {"x": 1.0})
    assert isinstance(caught.value, KeyError)


def test_wrong_feed_shape_names_variable_expected_and_got():
    x = G.var("x", (3, 2))
    with pytest.raises(G.ShapeError, match=r"'x' expects shape \(3, 2\), got an array of "
                                           r"shape \(2, 3\)"):
        G.evaluate(ops.sum(x), {"x": np.zeros((2, 3))})


def test_check_finite_names_the_first_node_with_nan_or_inf():
    x = G.var("x", (2,))
    f = ops.sum(ops.exp(ops.log(x) * 2.0))
    with pytest.raises(G.DomainError, match=r"log\(n0\).*produced a NaN at index \(1,\)"):
        G.evaluate(f, {"x": [1.0, -1.0]}, check_finite=True)
    with pytest.raises(G.DomainError, match="fed for variable 'x'"):
        G.evaluate(f, {"x": [1.0, np.inf]}, check_finite=True)


def test_two_variables_with_one_name_are_refused():
    with pytest.raises(G.FeedError, match="two different variables are named 'x'"):
        G.evaluate(G.var("x") + G.var("x"), {"x": 1.0})


def test_grad_of_non_scalar_points_to_vjp():
    x = G.var("x", (3,))
    with pytest.raises(G.ShapeError, match=r"rop\.vjp"):
        rop.grad(ops.tanh(x), x)


def test_where_needs_a_constant_condition():
    x = G.var("x", (2,))
    with pytest.raises(G.GraphError, match="operand 0 must be a constant"):
        ops.where(x, x, x)


def test_directions_must_match_shapes():
    x = G.var("x", (3,))
    with pytest.raises(G.ShapeError, match=r"direction of shape \(2,\)"):
        rop.hvp(ops.sum(x * x), x, np.ones(2))
    with pytest.raises(G.ShapeError, match=r"tangent of shape \(2,\)"):
        rop.jvp(x * x, {x: np.ones(2)})
    with pytest.raises(G.ShapeError, match=r"cotangent of shape \(2,\)"):
        rop.vjp(x * x, x, np.ones(2))


def test_an_op_cannot_be_registered_without_every_rule():
    with pytest.raises(TypeError, match="missing rop, vjp"):
        G.define_op("half_op", arity=1, numpy=np.negative, shape=lambda s: s,
                    sympy=lambda x: -x, inverse=G.NoInverse("test"), domain=G.REALS,
                    examples=[], doc="an op without derivative rules")
    assert "half_op" not in {op.name for op in G.all_ops()}
