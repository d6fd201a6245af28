"""graph.max, min, prod, cumsum, variance and std (graph/ops/reductions.py): values against
numpy, derivatives against finite differences and sympy Hessians, ties of max and min,
zeros of prod, cumsum's adjoint and inverse, batching, and refusals."""

import numpy as np
import pytest
import sympy
from oracles import close, directional_difference

import graph as G
import rop
from graph.symbolic import symbol_array

# Richardson-extrapolated central differences (tests/oracles.py) err by O(h^4) truncation
# + O(eps / h) round-off, about 1e-12 relative at h = 1e-3 for the O(1) values and slopes
# here: 1e-8 leaves a factor 1e4 of room, while a wrong rule is off by O(1)
FD_RTOL = 1e-8
EXACT = 1e-12  # against closed forms and sympy: the rounding of a few operations
NUMPY = {"max": np.max, "min": np.min, "prod": np.prod, "cumsum": np.cumsum,
         "variance": np.var, "std": np.std}
SHAPE = (2, 3, 4)
CASES = [(name, params) for name in ("max", "min", "prod")
         for params in ({}, {"axis": 1}, {"axis": -1, "keepdims": True},
                        {"axis": (0, 2), "keepdims": True}, {"axis": (2, 0)})]
CASES += [("cumsum", {}), ("cumsum", {"axis": 1}), ("cumsum", {"axis": -1})]
CASES += [(name, params) for name in ("variance", "std")
          for params in ({}, {"ddof": 1}, {"axis": 1, "ddof": 1},
                         {"axis": (0, -1), "keepdims": True}, {"axis": -2, "ddof": 2})]


def _point(name, shape, rng):
    """A sample point: distinct entries at least 0.15 apart for max and min (so that a
    difference step of 1e-3 never crosses a tie), entries of size about 1 for prod."""
    size = int(np.prod(shape))
    if name in ("max", "min"):
        spread = (rng.permutation(size) - size / 2) * 0.25 + rng.uniform(-0.05, 0.05, size)
        return spread.reshape(shape)
    if name == "prod":
        return rng.uniform(0.6, 1.4, shape) * rng.choice([-1.0, 1.0], shape)
    return rng.normal(size=shape)


def _build(name, x, params):
    return getattr(G, name)(x, **params)


@pytest.mark.parametrize("name, params", CASES + [("max", {"axis": ()}), ("prod", {"axis": ()})])
def test_values_match_numpy(name, params):
    rng = np.random.default_rng(1)
    X = _point(name, SHAPE, rng)
    x = G.var("x", SHAPE)
    assert close(G.evaluate(_build(name, x, params), {"x": X}), NUMPY[name](X, **params), EXACT)


@pytest.mark.parametrize("name, params", CASES)
def test_jvp_and_grad_match_finite_differences(name, params):
    rng = np.random.default_rng(2)
    X, V = _point(name, SHAPE, rng), rng.normal(size=SHAPE)
    x = G.var("x", SHAPE)
    y = _build(name, x, params)
    jv = G.evaluate(rop.jvp(y, {x: V}), {"x": X})
    assert close(jv, directional_difference(y, {"x": X}, {"x": V}), FD_RTOL)
    f = G.sum(G.const(rng.normal(size=y.shape)) * y)
    along = np.sum(G.evaluate(rop.grad(f, x), {"x": X}) * V)
    assert close(along, directional_difference(f, {"x": X}, {"x": V}), FD_RTOL)


def _sympy_hessian(f, shape, X):
    """The dense Hessian of the scalar graph f of x (shape ``shape``) at X, by sympy."""
    symbols = list(symbol_array("x", shape).ravel())
    hessian = sympy.hessian(G.to_sympy(f), symbols)
    at = {s: sympy.Float(float(v), 30) for s, v in zip(symbols, X.ravel())}
    return np.array(hessian.xreplace(at).evalf(30).tolist(), dtype=float)


def _hvp_agrees_with_sympy(f, x, X, rng):
    dense = _sympy_hessian(f, x.shape, X)
    V = rng.normal(size=x.shape)
    for mode in ("fwd-rev", "rev-rev"):
        hv = G.evaluate(rop.hvp(f, x, V, mode=mode), {"x": X})
        assert close(hv.ravel(), dense @ V.ravel(), EXACT), mode


@pytest.mark.parametrize("name, params", [
    ("max", {"axis": 1}), ("min", {}), ("prod", {"axis": 0, "keepdims": True}),
    ("prod", {}), ("cumsum", {}), ("cumsum", {"axis": 1}), ("variance", {"axis": 1, "ddof": 1}),
    ("std", {"axis": 0}), ("std", {"ddof": 1})])
def test_hvp_both_modes_match_the_sympy_hessian(name, params):
    rng = np.random.default_rng(3)
    X = _point(name, (2, 3), rng)
    x = G.var("x", (2, 3))
    y = _build(name, x, params)
    f = G.sum(G.const(rng.normal(size=y.shape)) * G.sin(y))  # curved, so H is not only max's
    _hvp_agrees_with_sympy(f, x, X, rng)


# -- ties of max and min: the derivative is split equally among the tied entries ------------
@pytest.mark.parametrize("name, X, tied", [
    ("max", [1.0, 3.0, 3.0], [1, 2]), ("min", [3.0, 1.0, 1.0], [1, 2]),
    ("max", [2.0, 2.0, 2.0], [0, 1, 2]), ("min", [-0.5, -0.5, -0.5], [0, 1, 2])])
def test_a_tie_splits_the_derivative_equally(name, X, tied):
    x = G.var("x", (3,))
    y = getattr(G, name)(x)
    V = np.array([0.7, -1.3, 2.9])
    assert close(G.evaluate(rop.jvp(y, {x: V}), {"x": X}), np.mean(V[tied]), EXACT)
    expected = np.zeros(3)
    expected[tied] = 2.5 / len(tied)
    assert close(G.evaluate(rop.vjp(y, x, 2.5), {"x": X}), expected, EXACT)


@pytest.mark.parametrize("name", ["max", "min"])
@pytest.mark.parametrize("params", [{"axis": 1}, {"axis": (0, 2), "keepdims": True}, {}])
def test_ties_along_axes_and_the_adjoint_identity(name, params):
    # entries on a coarse grid: most groups hold ties of 2 or more at the extreme
    rng = np.random.default_rng(4)
    X = rng.integers(0, 2, size=SHAPE).astype(float)
    x = G.var("x", SHAPE)
    y = getattr(G, name)(x, **params)
    axis = params.get("axis", (0, 1, 2))
    extreme = NUMPY[name](X, axis=axis, keepdims=True)
    at_extreme = (X == extreme).astype(float)
    weights = at_extreme / at_extreme.sum(axis=axis, keepdims=True)
    U, V = rng.normal(size=y.shape), rng.normal(size=SHAPE)
    jv = G.evaluate(rop.jvp(y, {x: V}), {"x": X})
    assert close(jv, np.sum(weights * V, axis=axis, keepdims=params.get("keepdims", False)),
                 EXACT)
    pulled = G.evaluate(rop.vjp(y, x, U), {"x": X})
    assert close(pulled, weights * np.reshape(U, extreme.shape), EXACT)
    assert close(np.sum(U * jv), np.sum(pulled * V), EXACT)  # <u, J v> = <J^T u, v>


def test_hvp_at_a_tie_is_symmetric_in_both_modes():
    # f = max(x)^2 with w the tie weights: grad f = 2 max(x) w, so H v = 2 (w . v) w
    x = G.var("x", (4,))
    X, V = np.array([1.5, -1.0, 1.5, 1.5]), np.array([0.3, 2.0, -0.7, 1.1])
    w = np.array([1.0, 0.0, 1.0, 1.0]) / 3
    for mode in ("fwd-rev", "rev-rev"):
        hv = G.evaluate(rop.hvp(G.max(x) ** 2, x, V, mode=mode), {"x": X})
        assert close(hv, 2 * np.dot(w, V) * w, EXACT), mode


# -- prod where entries are exactly zero ----------------------------------------------------
def _products_of_the_others(row):
    return np.array([np.prod(np.delete(row, i)) for i in range(len(row))])


ZEROS = np.array([[0.0, 1.5, -2.0, 0.5],    # one zero
                  [0.0, 1.2, 0.0, -0.8],    # two zeros
                  [1.1, -0.9, 1.3, 0.7]])   # none


def test_prod_derivatives_with_exact_zeros():
    x = G.var("x", ZEROS.shape)
    y = G.prod(x, axis=1)
    W = np.array([0.5, -2.0, 1.5])
    expected = W[:, None] * np.array([_products_of_the_others(r) for r in ZEROS])
    assert close(G.evaluate(rop.grad(G.sum(W * y), x), {"x": ZEROS}), expected, EXACT)
    assert expected[0, 0] != 0 and not np.any(expected[1])  # out / x would give 0/0 = NaN
    V = np.random.default_rng(5).normal(size=ZEROS.shape)
    jv = G.evaluate(rop.jvp(y, {x: V}), {"x": ZEROS})
    assert close(jv, directional_difference(y, {"x": ZEROS}, {"x": V}), FD_RTOL)


@pytest.mark.parametrize("X", [ZEROS[:2, :3], np.array([[0.0, 1.5], [0.0, -0.5]]),
                               np.array([[0.0, 1.5], [2.0, -0.5]])])
def test_prod_hessian_with_exact_zeros_matches_sympy(X):
    # the second derivatives d2 prod / dx_i dx_k = prod_{j != i, k} x_j are nonzero next to
    # a single zero: a rule treating "which entries are zero" as constant gets them wrong
    x = G.var("x", X.shape)
    for f in (G.prod(x), G.sum(G.sin(G.prod(x, axis=-1)))):
        _hvp_agrees_with_sympy(f, x, X, np.random.default_rng(6))


# -- cumsum ---------------------------------------------------------------------------------
@pytest.mark.parametrize("axis", [None, 0, 1, -1])
def test_cumsum_vjp_is_a_cumsum_from_the_end(axis):
    rng = np.random.default_rng(7)
    X = rng.normal(size=(3, 4))
    x = G.var("x", X.shape)
    y = G.cumsum(x, axis=axis)
    g = rng.normal(size=y.shape)
    along = 0 if axis is None else axis
    expected = np.flip(np.cumsum(np.flip(g, along), axis=along), along).reshape(X.shape)
    assert close(G.evaluate(rop.vjp(y, x, g), {"x": X}), expected, EXACT)


@pytest.mark.parametrize("axis", [None, 0, 1])
def test_cumsum_inverse_takes_differences(axis):
    X = np.random.default_rng(8).normal(size=(3, 4))
    x = G.var("x", X.shape)
    z, solved = rop.inverse(G.cumsum(x, axis=axis), x)
    assert close(G.evaluate(solved, {z.name: np.cumsum(X, axis=axis)}), X, EXACT)


# -- variance and std -----------------------------------------------------------------------
def test_variance_gradient_closed_form_with_ddof():
    X = np.random.default_rng(9).normal(size=(2, 5))
    x = G.var("x", X.shape)
    grad = G.evaluate(rop.grad(G.sum(G.variance(x, axis=1, ddof=1)), x), {"x": X})
    assert close(grad, 2 * (X - X.mean(axis=1, keepdims=True)) / 4, EXACT)


def test_std_at_zero_variance_has_nan_derivatives_only_in_that_group():
    X = np.array([[1.0, 1.0, 1.0], [1.0, 2.0, 4.0]])
    x = G.var("x", X.shape)
    f = G.sum(G.std(x, axis=1))
    assert close(G.evaluate(G.std(x, axis=1), {"x": X}), np.std(X, axis=1), EXACT)
    with np.errstate(divide="ignore", invalid="ignore"):
        grad = G.evaluate(rop.grad(f, x), {"x": X})
        jv = G.evaluate(rop.jvp(G.std(x, axis=1), {x: np.ones_like(X)}), {"x": X})
    assert np.all(np.isnan(grad[0])) and np.all(np.isfinite(grad[1])) and np.isnan(jv[0])
    centered = X[1] - X[1].mean()
    assert close(grad[1], centered / (3 * np.std(X[1])), EXACT)


# -- batching, dtypes, saving ---------------------------------------------------------------
@pytest.mark.parametrize("name, params", [c for c in CASES if c[0] in ("max", "min", "prod",
                                                                        "cumsum")])
def test_batch_rule_equals_the_op_per_entry(name, params):
    rng = np.random.default_rng(10)
    node = _build(name, G.var("x", SHAPE), params)
    stack = np.stack([_point(name, SHAPE, rng) for _ in range(3)])
    batched = node.op.apply_batch([G.const(stack)], [True], node.params)
    expected = np.stack([NUMPY[name](entry, **params) for entry in stack])
    assert close(G.evaluate(batched), expected, EXACT)


@pytest.mark.parametrize("name", ["max", "prod", "cumsum", "std"])
def test_float32_stays_float32(name):
    x = G.var("x", (2, 3), dtype=np.float32)
    f = G.sum(_build(name, x, {"axis": 1}))
    gradient = G.evaluate(rop.grad(f, x), {"x": _point(name, (2, 3), np.random.default_rng(11))
                                           .astype(np.float32)})
    assert gradient.dtype == np.float32


def test_saved_graphs_load_with_their_params():
    x = G.var("x", SHAPE)
    X = _point("max", SHAPE, np.random.default_rng(12))
    for name, params in CASES:
        y = _build(name, x, params)
        assert close(G.evaluate(G.loads(G.dumps(y)), {"x": X}), G.evaluate(y, {"x": X}), 0.0)


# -- refusals -------------------------------------------------------------------------------
@pytest.mark.parametrize("name", list(NUMPY))
def test_bad_axes_raise_axis_error_naming_the_op(name):
    x = G.var("x", (2, 3))
    with pytest.raises(G.AxisError, match=rf"^{name}: axis 2 is out of bounds"):
        _build(name, x, {"axis": 2})
    with pytest.raises(G.AxisError, match=rf"^{name}: axis -3 is out of bounds"):
        _build(name, x, {"axis": -3})
    if name != "cumsum":  # cumsum scans one axis: a tuple is refused, as by numpy
        with pytest.raises(G.AxisError, match=rf"^{name}: repeated axis"):
            _build(name, x, {"axis": (1, -1)})
    else:
        with pytest.raises(TypeError, match="^cumsum: an axis must be an integer"):
            _build(name, x, {"axis": (0, 1)})


@pytest.mark.parametrize("name", ["max", "min"])
def test_an_empty_axis_has_no_extreme(name):
    x = G.var("x", (0, 3))
    assert _build(name, x, {"axis": 1}).shape == (0,)  # no group is empty: as numpy
    with pytest.raises(G.ShapeError, match=rf"^{name}: cannot reduce shape \(0, 3\)"):
        _build(name, x, {"axis": 0})


@pytest.mark.parametrize("name", ["variance", "std"])
def test_no_degrees_of_freedom_is_refused(name):
    x = G.var("x", (2, 3))
    with pytest.raises(G.ShapeError, match=rf"^{name}: ddof=2 leaves no degrees of freedom"):
        _build(name, x, {"axis": 0, "ddof": 2})
    assert _build(name, x, {"axis": 1, "ddof": 2}).shape == (2,)


@pytest.mark.parametrize("name, reason", [("max", "discards every entry but the largest"),
                                          ("min", "discards every entry but the smallest"),
                                          ("prod", "keeps only the product")])
def test_no_inverse(name, reason):
    op = getattr(G.ops, name)
    assert isinstance(op.inverse_rule(0), G.NoInverse)
    x = G.var("x", (2, 3))
    with pytest.raises(G.NotInvertibleError, match=reason):
        rop.inverse(_build(name, x, {"axis": 1}), x)
