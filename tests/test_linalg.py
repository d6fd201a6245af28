"""G.linalg: cholesky, det and slogdet against numpy, sympy and finite differences; their
refusals; the namespace itself."""

import numpy as np
import pytest
import sympy
from oracles import close, directional_difference

import graph as G
import rop
from graph.domains import PositiveDefinite
from graph.symbolic import symbol_array

# Richardson-extrapolated central differences (tests/oracles.py) are accurate to ~1e-11
# relative on these O(1) smooth functions (h^4 truncation with h = 1e-3, eps / h round-off);
# 1e-7 leaves four orders of margin and still catches any wrong rule (errors O(1)).
RTOL_FD = 1e-7
RTOL_EXACT = 1e-9  # two exact computations in float64 differ by round-off only


def spd(shape, seed):
    return PositiveDefinite(1.0, 3.0).sample(np.random.default_rng(seed), shape)


def symmetric_part(a):
    return 0.5 * (a + np.swapaxes(a, -1, -2))


def _check_first_derivatives(f, x, point, seed):
    """jvp and grad of scalar f against a Richardson difference along a random direction."""
    v = np.random.default_rng(seed).normal(size=x.shape)
    fd = directional_difference(f, point, {x.name: v})
    assert close(G.evaluate(rop.jvp(f, {x: v}), point), fd, RTOL_FD)
    assert close(np.sum(G.evaluate(rop.grad(f, x), point) * v), fd, RTOL_FD)


def _check_hvps_against_sympy(f, x, point, seed):
    """Both HVP modes equal the dense sympy Hessian of f (in x's entries) times v."""
    symbols = list(symbol_array(x.name, x.shape).ravel())
    hessian = sympy.hessian(G.to_sympy(f), symbols)
    at = {s: sympy.Float(float(value), 30) for s, value in zip(symbols, point[x.name].ravel())}
    dense = np.array(hessian.xreplace(at).evalf(30).tolist(), dtype=float)
    v = np.random.default_rng(seed).normal(size=x.shape)
    for mode in ("fwd-rev", "rev-rev"):
        hv = G.evaluate(rop.hvp(f, x, v, mode=mode), point)
        assert close(hv.ravel(), dense @ v.ravel(), RTOL_EXACT), mode


# -- the namespace -------------------------------------------------------------------------
def test_namespace_has_numpys_names_and_keeps_the_old_ones():
    assert G.linalg.inv is G.inv is G.ops.inv and G.linalg.solve is G.solve
    assert G.linalg.cholesky is G.cholesky and G.linalg.det is G.det
    assert set(G.linalg.__all__) == {"inv", "solve", "cholesky", "det", "slogdet"}


# -- values ---------------------------------------------------------------------------------
@pytest.mark.parametrize("shape", [(3, 3), (2, 4, 4), (1, 1)])
def test_cholesky_is_numpys_factor_of_the_symmetric_part(shape):
    a = spd(shape, 1) + 0.3 * np.random.default_rng(2).normal(size=shape)  # not symmetric
    s = symmetric_part(a)
    factor = G.evaluate(G.linalg.cholesky(G.const(a)))
    assert np.allclose(factor @ np.swapaxes(factor, -1, -2), s, rtol=0, atol=1e-12)
    assert np.array_equal(factor, np.tril(factor))
    assert np.allclose(factor, np.linalg.cholesky(s), rtol=0, atol=1e-13)


def test_cholesky_sympy_form_is_sympys_cholesky():
    x = G.var("x", (3, 3))
    point = spd((3, 3), 3)
    expected = sympy.Matrix(point.tolist()).cholesky(hermitian=False)
    symbols = symbol_array("x", (3, 3))
    at = {s: sympy.Float(float(p), 30) for s, p in zip(symbols.ravel(), point.ravel())}
    got = G.to_sympy(G.linalg.cholesky(x)).xreplace(at).evalf(30)
    assert np.allclose(np.array(got.tolist(), float), np.array(expected.tolist(), float),
                       rtol=0, atol=1e-14)


@pytest.mark.parametrize("shape", [(3, 3), (2, 3, 3), (5, 5)])
def test_det_and_slogdet_are_numpys(shape):
    a = np.random.default_rng(4).normal(size=shape)
    sign, logdet = G.linalg.slogdet(G.const(a))
    expected_sign, expected_log = np.linalg.slogdet(a)
    assert np.array_equal(G.evaluate(sign), expected_sign)
    assert close(G.evaluate(logdet), expected_log, 1e-13)
    assert close(G.evaluate(G.linalg.det(G.const(a))), np.linalg.det(a), 1e-13)


def test_slogdet_has_no_overflow_where_det_has():
    a = np.diag(np.full(400, 10.0))  # det = 1e400: inf in float64
    a[0, 0] = -10.0
    sign, logdet = G.evaluate(list(G.linalg.slogdet(G.const(a))))
    assert sign == -1.0 and close(logdet, 400 * np.log(10.0), 1e-14)
    assert np.isinf(G.evaluate(G.linalg.det(G.const(a))))


# -- derivatives ------------------------------------------------------------------------------
def test_cholesky_derivatives_match_finite_differences():
    x = G.var("a", (3, 3))
    w = np.random.default_rng(5).normal(size=(3, 3))
    f = G.sum(G.sin(G.linalg.cholesky(x)) * w)
    _check_first_derivatives(f, x, {"a": spd((3, 3), 6)}, seed=7)


def test_cholesky_derivatives_of_a_stack_match_finite_differences():
    x = G.var("a", (2, 3, 3))
    f = G.sum(G.linalg.cholesky(x) ** 3)
    _check_first_derivatives(f, x, {"a": spd((2, 3, 3), 8)}, seed=9)


def test_det_and_logabsdet_derivatives_match_finite_differences():
    x = G.var("a", (2, 3, 3))
    point = {"a": np.random.default_rng(10).normal(size=(2, 3, 3))}
    sign, logdet = G.linalg.slogdet(x)
    _check_first_derivatives(G.sum(G.tanh(G.linalg.det(x))), x, point, seed=11)
    _check_first_derivatives(G.sum(logdet * 1.5 + sign), x, point, seed=12)


def test_cholesky_hvps_equal_the_sympy_hessian():
    x = G.var("a", (2, 2))
    f = G.sum(G.linalg.cholesky(x) * G.const([[1.0, 0.0], [-2.0, 0.5]]))
    _check_hvps_against_sympy(f, x, {"a": spd((2, 2), 13)}, seed=14)


@pytest.mark.parametrize("part", ["det", "logabsdet"])
def test_determinant_hvps_equal_the_sympy_hessian(part):
    x = G.var("a", (3, 3))
    value = G.linalg.det(x) if part == "det" else G.linalg.slogdet(x)[1]
    point = {"a": np.random.default_rng(15).normal(size=(3, 3))}
    _check_hvps_against_sympy(G.sin(value), x, point, seed=16)


def test_gaussian_log_likelihood_through_cholesky():
    # log det(S) = 2 sum(log diag(L)): two routes to the same value and gradient
    x = G.var("s", (3, 3))
    factor = G.linalg.cholesky(x)
    via_factor = 2.0 * G.sum(G.log(factor * G.const(np.eye(3))
                                   + G.const(1.0 - np.eye(3))))
    via_slogdet = G.linalg.slogdet(x)[1]
    point = {"s": spd((3, 3), 17)}
    assert close(G.evaluate(via_factor, point), G.evaluate(via_slogdet, point), RTOL_EXACT)
    assert close(G.evaluate(rop.grad(via_factor, x), point),
                 G.evaluate(rop.grad(via_slogdet, x), point), RTOL_EXACT)


# -- refusals -----------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["cholesky", "det", "logabsdet", "det_sign"])
@pytest.mark.parametrize("shape", [(3,), (2, 3), (2, 3, 2)])
def test_non_square_operands_are_refused_naming_the_op(name, shape):
    with pytest.raises(G.ShapeError, match=rf"{name}: needs a square matrix.*{shape}"):
        getattr(G.ops, name)(G.var("a", shape))


def test_cholesky_refuses_an_indefinite_matrix_naming_its_smallest_pivot():
    # pivots det(a_k) / det(a_(k-1)) = 1, -3, -10: the smallest, not the first negative one
    a = np.array([[1.0, 2.0, 0.0], [2.0, 1.0, 0.0], [0.0, 0.0, -10.0]])
    with pytest.raises(G.DomainError, match=r"smallest pivot is -10, pivot 2"):
        G.evaluate(G.linalg.cholesky(G.var("a", (3, 3))), {"a": a})
    stack = np.stack([np.eye(2), [[1.0, 2.0], [2.0, 1.0]]])  # pivots 1, -3 in matrix 1
    with pytest.raises(G.DomainError, match=r"matrix \(1,\) of the stack.*pivot is -3"):
        G.evaluate(G.linalg.cholesky(G.const(stack)))


def test_cholesky_refuses_a_matrix_singular_to_working_precision():
    a = np.array([[1.0, 1.0], [1.0, 1.0 + 1e-17]])  # positive semi-definite in float64
    with pytest.raises(G.DomainError, match="not positive definite"):
        G.evaluate(G.linalg.cholesky(G.const(a)))
    with pytest.raises(G.DomainError, match="NaN or infinite"):
        G.evaluate(G.linalg.cholesky(G.const([[np.nan, 0.0], [0.0, 1.0]])))


def test_determinant_derivatives_are_refused_at_a_singular_matrix():
    x = G.var("a", (2, 2))
    singular = {"a": np.ones((2, 2))}
    assert G.evaluate(G.linalg.det(x), singular) == 0.0
    with pytest.raises(G.NotInvertibleError, match="derivative of det.*rank 1"):
        G.evaluate(rop.grad(G.linalg.det(x), x), singular)


@pytest.mark.parametrize("build, reason", [
    (G.linalg.cholesky, "antisymmetric part is lost"),
    (G.linalg.det, "reduces a matrix to one number"),
    (lambda a: G.linalg.slogdet(a)[1], "reduces a matrix to one number"),
])
def test_no_inverse_is_stated(build, reason):
    with pytest.raises(G.NotInvertibleError, match=reason):
        rop.inverse(build(G.var("a", (2, 2))), G.var("a", (2, 2)))


def test_positive_definite_samples_are_symmetric_with_the_stated_spectrum():
    domain = PositiveDefinite(2.0, 5.0)
    a = domain.sample(np.random.default_rng(18), (50, 4, 4))
    eigenvalues = np.linalg.eigvalsh(a)
    assert np.array_equal(a, np.swapaxes(a, -1, -2))
    assert eigenvalues.min() >= 2.0 - 1e-12 and eigenvalues.max() <= 5.0 + 1e-12
    assert domain.lo <= a.min() and a.max() <= domain.hi
