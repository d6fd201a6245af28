"""The special functions of graph/ops/special.py against references independent of rop:
values against sympy/mpmath at high precision, jvp and grad against Richardson central
differences, both HVP modes against sympy's dense Hessian; then inverses, their branches
and images, and the refusals."""

import math

import mpmath
import numpy as np
import pytest
import sympy
from oracles import close, directional_difference

import graph as G
import rop

# Richardson-extrapolated central differences with h = 1e-3 (tests/oracles.py): truncation
# O(h^4 |f^(5)|) ~ 1e-12 and round-off O(eps |f| / h) ~ 1e-13 for the O(1) values and
# derivatives at the points below (each at least 0.2 from a kink, cut or domain edge); 1e-7
# leaves a margin of 1e4 while a wrong rule is off by O(1e-2) or more
RTOL_FD = 1e-7
RTOL_EXACT = 1e-10  # two exact computations (rop against sympy) differ only by round-off
ULPS = 4  # values against a 30-digit reference: numpy's and math's functions are ~1 ulp
LO, HI = -0.5, 1.0  # the clip of the cases below

v = G.var("v", (4,))
SYMBOLS = np.array(sympy.symbols("v0:4", real=True), dtype=object)


def _clip_sympy(x):
    return sympy.Min(sympy.Max(x, LO), HI)


# name: (the op on v (or on its halves, for binary ops), a point (4,) away from kinks and
# edges, the sympy function of scalars the values are compared with)
CASES = {
    "erf": (G.erf, [-2.1, -0.4, 0.3, 1.7], sympy.erf),
    "erfinv": (G.erfinv, [-0.97, -0.3, 0.25, 0.9], sympy.erfinv),
    "log1p": (G.log1p, [-0.7, -0.2, 0.5, 3.0], lambda x: sympy.log(1 + x)),
    "expm1": (G.expm1, [-3.0, -0.4, 0.6, 1.5], lambda x: sympy.exp(x) - 1),
    "arctan": (G.arctan, [-4.0, -0.6, 0.3, 2.2], sympy.atan),
    "sinh": (G.sinh, [-2.0, -0.3, 0.4, 1.6], sympy.sinh),
    "cosh": (G.cosh, [-1.8, -0.5, 0.3, 2.1], sympy.cosh),
    "arcsinh": (G.arcsinh, [-6.0, -0.5, 0.2, 3.0], sympy.asinh),
    # two entries on the flat parts, two inside (lo, hi)
    "clip": (lambda x: G.clip(x, lo=LO, hi=HI), [-1.3, -0.2, 0.7, 2.0], _clip_sympy),
    "arctan2": (lambda x: G.arctan2(x[:2], x[2:]), [0.4, -0.7, -1.1, 0.9], sympy.atan2),
    "hypot": (lambda x: G.hypot(x[:2], x[2:]), [0.4, -0.7, -1.1, 0.9],
              lambda a, b: sympy.sqrt(a * a + b * b)),
}
SMOOTH = sorted(CASES)


def _op_of(name):
    build, point, _ = CASES[name]
    return build(v), np.array(point)


def _scalar(out):
    """A scalar with a dense Hessian: sum(w op) + (sum op)^2 / 2 couples every entry."""
    weights = G.const(np.linspace(0.6, 1.4, out.size).reshape(out.shape))
    return G.sum(weights * out) + 0.5 * G.sum(out) ** 2


def _reference(name, point):
    """The op at ``point`` from its sympy function at 30 digits."""
    _, _, fn = CASES[name]
    exact = [sympy.Float(float(p), 30) for p in point]
    args = [exact[:2], exact[2:]] if name in ("arctan2", "hypot") else [exact]
    return np.array([float(fn(*xs).evalf(30)) for xs in zip(*args)])


def _sympy_hessian(f, point):
    expr = G.to_sympy(f, {v: SYMBOLS})
    hessian = sympy.hessian(expr, list(SYMBOLS))
    at = {s: sympy.Float(float(p), 30) for s, p in zip(SYMBOLS, point)}
    return np.array(hessian.xreplace(at).evalf(30).tolist(), dtype=float)


# -- values, first and second derivatives -----------------------------------------------------
@pytest.mark.parametrize("name", SMOOTH)
def test_value_matches_a_high_precision_reference(name):
    out, point = _op_of(name)
    got = G.evaluate(out, {"v": point})
    expected = _reference(name, point)
    assert np.all(np.abs(got - expected) <= ULPS * np.spacing(np.abs(expected))), (got, expected)


@pytest.mark.parametrize("name", SMOOTH)
def test_jvp_matches_central_differences(name):
    out, point = _op_of(name)
    direction = np.random.default_rng(1).normal(size=4)
    tangent = G.evaluate(rop.jvp(out, {v: direction}), {"v": point})
    assert close(tangent, directional_difference(out, {"v": point}, {"v": direction}), RTOL_FD)


@pytest.mark.parametrize("name", SMOOTH)
def test_grad_matches_central_differences(name):
    out, point = _op_of(name)
    f = _scalar(out)
    direction = np.random.default_rng(2).normal(size=4)
    along = np.sum(G.evaluate(rop.grad(f, v), {"v": point}) * direction)
    assert close(along, directional_difference(f, {"v": point}, {"v": direction}), RTOL_FD)


@pytest.mark.parametrize("mode", ["fwd-rev", "rev-rev"])
@pytest.mark.parametrize("name", SMOOTH)
def test_hvp_matches_the_sympy_hessian(name, mode):
    out, point = _op_of(name)
    f = _scalar(out)
    hessian = _sympy_hessian(f, point)
    for seed in range(2):
        direction = np.random.default_rng(seed).normal(size=4)
        got = G.evaluate(rop.hvp(f, v, direction, mode=mode), {"v": point})
        assert close(got, hessian @ direction, RTOL_EXACT), (got, hessian @ direction)


@pytest.mark.parametrize("op", [G.arctan2, G.hypot])
def test_binary_ops_broadcast_and_sum_cotangents_down(op):
    x, y = G.var("x", (2, 1)), G.var("y", (3,))
    point = {"x": np.array([[0.5], [-0.8]]), "y": np.array([0.9, -0.4, 1.3])}
    out = op(x, y)
    assert out.shape == (2, 3)
    f = _scalar(out)
    gx, gy = G.evaluate(rop.grad(f, [x, y]), point)
    assert gx.shape == (2, 1) and gy.shape == (3,)
    directions = {"x": np.array([[0.3], [-1.1]]), "y": np.array([0.7, 0.2, -0.5])}
    along = np.sum(gx * directions["x"]) + np.sum(gy * directions["y"])
    assert close(along, directional_difference(f, point, directions), RTOL_FD)


def test_clip_derivative_is_one_inside_and_zero_outside_and_at_the_bounds():
    x = G.var("x", (5,))
    at = np.array([-2.0, LO, 0.1, HI, 3.0])
    slope = G.evaluate(rop.grad(G.sum(G.clip(x, lo=LO, hi=HI)), x), {"x": at})
    assert slope.tolist() == [0.0, 0.0, 1.0, 0.0, 0.0]


def test_one_sided_clip_with_an_infinite_bound():
    x = G.var("x", (3,))
    out = G.clip(x, lo=-np.inf, hi=1.0)
    at = {"x": np.array([-1e300, 0.5, 2.0])}
    assert G.evaluate(out, at).tolist() == [-1e300, 0.5, 1.0]
    assert G.evaluate(rop.grad(G.sum(out), x), at).tolist() == [1.0, 1.0, 0.0]


# -- stop_gradient ----------------------------------------------------------------------------
def test_stop_gradient_is_the_identity_in_value():
    at = np.array([0.3, -1.2, 2.0, 0.0])
    assert G.evaluate(G.stop_gradient(v), {"v": at}).tolist() == at.tolist()


def test_derivatives_treat_stop_gradient_as_a_constant():
    point = np.array([0.3, -1.2, 2.0, 0.7])
    f = G.sum(v ** 3 * G.stop_gradient(G.sin(v)))
    frozen = G.sum(v ** 3 * G.const(np.sin(point)))  # the same with sin(v) held fixed
    direction = np.random.default_rng(3).normal(size=4)
    along = np.sum(G.evaluate(rop.grad(f, v), {"v": point}) * direction)
    assert close(along, directional_difference(frozen, {"v": point}, {"v": direction}), RTOL_FD)
    hessian = np.diag(6 * point * np.sin(point))  # d^2/dv^2 of v^3 c, c held
    for mode in ("fwd-rev", "rev-rev"):
        got = G.evaluate(rop.hvp(f, v, direction, mode=mode), {"v": point})
        assert close(got, hessian @ direction, RTOL_EXACT)


def test_stop_gradient_in_sympy_differentiates_as_rop_does():
    point = np.array([0.3, -1.2, 2.0, 0.7])
    f = G.sum(v ** 2 * G.stop_gradient(v) + G.erf(v))
    hessian = _sympy_hessian(f, point)
    direction = np.random.default_rng(4).normal(size=4)
    got = G.evaluate(rop.hvp(f, v, direction), {"v": point})
    assert close(got, hessian @ direction, RTOL_EXACT)


def test_stop_gradient_is_not_piecewise_constant_so_inversion_does_not_freeze_it():
    # were it piecewise constant, the solver would read stop_gradient(x) from the current x
    # and return z - x_current for x + stop_gradient(x) = z, a wrong answer; it refuses
    assert not G.stop_gradient.piecewise_constant
    x = G.var("x", (2,))
    with pytest.raises(G.NotInvertibleError, match="cannot invert for x"):
        rop.inverse(x + G.stop_gradient(x), x)
    with pytest.raises(G.NotInvertibleError, match="stop_gradient declares a zero derivative"):
        rop.inverse(G.stop_gradient(x) * 2.0, x)


# -- erf and erfinv ---------------------------------------------------------------------------
def test_erfinv_is_accurate_to_an_ulp_or_two_up_to_the_ends():
    tails = 1 - np.logspace(-16, -1, 60)
    y = np.concatenate([np.linspace(-0.999, 0.999, 81), tails, -tails, [1e-300, 0.5, -0.5]])
    got = G.evaluate(G.erfinv(G.const(y)))
    mpmath.mp.dps = 30
    exact = np.array([float(mpmath.erfinv(mpmath.mpf(float(t)))) for t in y])
    assert np.all(np.abs(got - exact) <= 2 * np.spacing(np.abs(exact)))


def test_erf_and_erfinv_special_values():
    ends = G.evaluate(G.erf(G.const([np.inf, -np.inf, np.nan, -0.0])))
    assert ends[:2].tolist() == [1.0, -1.0] and np.isnan(ends[2]) and math.copysign(1, ends[3]) < 0
    inv = G.evaluate(G.erfinv(G.const([1.0, -1.0, 1.5, np.nan, -0.0])))
    assert inv[:2].tolist() == [np.inf, -np.inf] and np.isnan(inv[2:4]).all()
    assert inv[4] == 0 and math.copysign(1, inv[4]) < 0


@pytest.mark.parametrize("op", [G.erf, G.erfinv, G.log1p, G.expm1, G.arcsinh, G.clip,
                                G.stop_gradient])
def test_float32_stays_float32(op):
    x = G.var("x", (2,), np.float32)
    params = {"lo": -0.5, "hi": 0.5} if op is G.clip else {}
    out = op(x, **params)
    f = G.sum(out * out)
    at = {"x": np.array([0.1, -0.2], np.float32)}
    assert G.evaluate(out, at).dtype == np.float32
    assert G.evaluate(rop.grad(f, x), at).dtype == np.float32


# -- inverses ---------------------------------------------------------------------------------
def _solve(y, wrt, z_value, feed):
    z, solved = rop.inverse(y, wrt)
    return G.evaluate(solved, {**feed, z.name: z_value})


@pytest.mark.parametrize("name, point", [
    ("erf", [-2.0, -0.4, 0.3, 1.5]), ("erfinv", [-0.97, -0.3, 0.25, 0.9]),
    ("log1p", [-0.7, -0.2, 0.5, 3.0]), ("expm1", [-3.0, -0.4, 0.6, 1.5]),
    ("arctan", [-4.0, -0.6, 0.3, 2.2]), ("sinh", [-2.0, -0.3, 0.4, 1.6]),
    ("cosh", [-1.8, -0.5, 0.3, 2.1]), ("arcsinh", [-6.0, -0.5, 0.2, 3.0]),
    ("clip", [-0.4, -0.2, 0.3, 0.9])])
def test_inverse_recovers_the_point(name, point):
    out = CASES[name][0](v)
    point = np.array(point)
    recovered = _solve(out, v, G.evaluate(out, {"v": point}), {"v": point})
    assert close(recovered, point, 1e-12)


def test_cosh_inverse_takes_the_branch_of_the_current_sign():
    x = G.var("x", (2,))
    assert close(_solve(G.cosh(x), x, np.cosh([0.7, 1.3]), {"x": [-5.0, 2.0]}), [-0.7, 1.3])
    with pytest.raises(G.NotInvertibleError, match="kink"):  # x = 0: no side to pick
        _solve(G.cosh(x), x, np.cosh([0.7, 1.3]), {"x": [0.0, 2.0]})


def test_inverse_for_small_and_large_values_stays_accurate():
    x, y = G.var("x", (2,)), G.var("y", (2,))
    legs = _solve(G.hypot(x, y), x, np.hypot([3e200, -3e-200], [4e200, 4e-200]),
                  {"x": [1.0, -1.0], "y": [4e200, 4e-200]})
    assert close(legs / np.array([3e200, -3e-200]), [1.0, 1.0], 1e-14)
    assert close(_solve(G.cosh(x), x, np.cosh([700.0, 1e-3]), {"x": [1.0, 1.0]}),
                 [700.0, 1e-3], 1e-9)  # cosh(1e-3) = 1 + 5e-7: eps / 5e-7 conditioning
    assert close(_solve(G.expm1(x), x, [1e-20, -0.5], {"x": [0.0, 0.0]}) / [1e-20, np.log(0.5)],
                 [1.0, 1.0], 1e-15)


@pytest.mark.parametrize("op, z", [
    (G.erf, 1.0), (G.erf, -1.5), (G.expm1, -1.0), (G.arctan, np.pi / 2), (G.cosh, 0.5),
    (lambda x: G.clip(x, lo=LO, hi=HI), LO), (lambda x: G.clip(x, lo=LO, hi=HI), HI),
    (lambda x: G.clip(x, lo=LO, hi=HI), 2.0)])
def test_outputs_outside_the_image_are_refused(op, z):
    x = G.var("x", (1,))
    with pytest.raises(G.DomainError, match="outside"):
        _solve(op(x), x, [z], {"x": [0.1]})


def test_arctan2_is_solved_for_either_operand_when_the_other_is_not_zero():
    y, x = G.var("y", (4,)), G.var("x", (4,))
    ys, xs = np.array([0.5, -0.5, 0.5, -0.5]), np.array([1.2, 1.2, -1.2, -1.2])  # 4 quadrants
    angles = np.arctan2(ys, xs)
    start = {"y": np.ones(4), "x": np.ones(4)}
    assert close(_solve(G.arctan2(y, x), y, angles, {**start, "x": xs}), ys, 1e-14)
    assert close(_solve(G.arctan2(y, x), x, angles, {**start, "y": ys}), xs, 1e-14)


def test_arctan2_refuses_an_angle_off_the_known_side_and_a_known_zero():
    y, x = G.var("y", (2,)), G.var("x", (2,))
    with pytest.raises(G.DomainError, match="outside"):  # x > 0 allows |angle| < pi / 2 only
        _solve(G.arctan2(y, x), y, [2.0, 0.1], {"y": [1.0, 1.0], "x": [1.0, 1.0]})
    with pytest.raises(G.NotInvertibleError, match="kink"):  # x = 0 gives only y's sign
        _solve(G.arctan2(y, x), y, [np.pi / 2, 0.1], {"y": [1.0, 1.0], "x": [0.0, 1.0]})
    with pytest.raises(G.DomainError, match="outside"):  # x < 0: |angle| > pi / 2 only
        _solve(G.arctan2(y, x), y, [0.1, 0.5], {"y": [1.0, 1.0], "x": [1.0, -1.0]})


def test_hypot_inverse_takes_the_current_sign_and_needs_out_at_least_the_other():
    x, y = G.var("x", (2,)), G.var("y", (2,))
    got = _solve(G.hypot(x, y), x, [5.0, 13.0], {"x": [-1.0, 2.0], "y": [4.0, -12.0]})
    assert close(got, [-3.0, 5.0], 1e-14)
    got = _solve(G.hypot(x, y), y, [5.0, 13.0], {"x": [3.0, 5.0], "y": [-1.0, 2.0]})
    assert close(got, [-4.0, 12.0], 1e-14)
    with pytest.raises(G.DomainError, match="outside"):
        _solve(G.hypot(x, y), x, [3.0, 13.0], {"x": [1.0, 2.0], "y": [4.0, -12.0]})


@pytest.mark.parametrize("op", [G.arctan2, G.hypot])
def test_a_broadcast_operand_is_not_solved_for(op):
    x, y = G.var("x", (2, 3)), G.var("y", (3,))
    with pytest.raises(G.NotInvertibleError, match="broadcast"):
        rop.inverse(op(x, y), y)


# -- refusals when building -------------------------------------------------------------------
@pytest.mark.parametrize("op", [G.arctan2, G.hypot])
def test_shapes_that_do_not_broadcast_are_refused(op):
    with pytest.raises(G.ShapeError, match=f"{op.name}: operand shapes \\(3,\\) and \\(2,\\)"):
        op(G.var("a", (3,)), G.var("b", (2,)))


@pytest.mark.parametrize("lo, hi", [(1.0, -1.0), (np.nan, 1.0), (0.0, np.nan)])
def test_clip_refuses_bounds_out_of_order(lo, hi):
    with pytest.raises(G.DomainError, match="clip: needs lo <= hi"):
        G.clip(v, lo=lo, hi=hi)
