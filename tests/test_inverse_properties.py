"""Properties of inversion on random graphs (hypothesis): round trips of random bijective
chains, H (H^-1 v) = v, and the linear route equal to the functional one."""

import numpy as np
from hypothesis import assume, given
from hypothesis import strategies as st

import graph as G
import rop
from graph import ops

ROUND_TRIP_RTOL = 1e-9  # forward residual f(f^-1(y)) - y: a few ulps per op of the chain
RECOVERY_RTOL = 1e-6  # f^-1(f(x)) - x: amplified by the chain's conditioning (bounded below)


def _chain_step(draw, node, lo, hi, rng):
    """One bijective op applied to ``node`` whose entries lie in [lo, hi]; the new range."""
    choices = ["exp", "tanh", "sigmoid", "softplus", "neg", "affine", "cube", "leaky",
               "square", "abs", "sin", "matmul", "transpose"]
    if lo > 0:
        choices += ["log", "sqrt"]
    if -1 < lo and hi < 1:
        choices += ["arcsin"]
    kind = draw(st.sampled_from(choices))
    m = max(abs(lo), abs(hi))
    if kind == "exp" and hi < 3:
        return ops.exp(node), np.exp(lo), np.exp(hi)
    if kind == "tanh" and m < 3:  # |tanh| < 0.995: artanh loses at most ~2 digits
        return ops.tanh(node), np.tanh(lo), np.tanh(hi)
    if kind == "sigmoid" and m < 5:
        return ops.sigmoid(node), 1 / (1 + np.exp(-lo)), 1 / (1 + np.exp(-hi))
    if kind == "softplus" and m < 5:
        return ops.softplus(node), np.logaddexp(0, lo), np.logaddexp(0, hi)
    if kind == "log" and lo > 1e-3:
        return ops.log(node), np.log(lo), np.log(hi)
    if kind == "sqrt" and lo > 1e-3:
        return ops.sqrt(node), np.sqrt(lo), np.sqrt(hi)
    if kind == "arcsin" and m < 0.99:
        return ops.arcsin(node), np.arcsin(lo), np.arcsin(hi)
    if kind == "neg":
        return -node, -hi, -lo
    if kind == "affine":
        scale = draw(st.sampled_from([0.5, -0.7, 2.0]))
        shift = draw(st.floats(-1, 1))
        ends = sorted([lo * scale + shift, hi * scale + shift])
        return node * scale + shift, ends[0], ends[1]
    if kind == "cube" and m < 3:
        return node**3.0, lo**3, hi**3
    if kind == "leaky":
        return ops.leaky_relu(node, alpha=0.3), min(lo, 0.3 * lo), hi if hi > 0 else 0.3 * hi
    if kind in ("square", "abs", "sin") and m < 3:  # branches: read from the current value
        op = {"square": ops.square, "abs": ops.abs, "sin": ops.sin}[kind]
        bound = {"square": m * m, "abs": m, "sin": 1.0}[kind]
        return op(node), (0.0 if kind != "sin" else -1.0), bound
    if kind == "matmul" and node.ndim == 2 and m < 5:
        n = node.shape[0]
        A = rng.normal(size=(n, n)) + 3 * np.eye(n)  # well conditioned
        return G.const(A) @ node, -np.abs(A).sum(1).max() * m, np.abs(A).sum(1).max() * m
    if kind == "transpose" and node.ndim == 2:
        return node.T, lo, hi
    return node, lo, hi


@st.composite
def bijective_chains(draw):
    shape = draw(st.sampled_from([(3,), (2, 2), (3, 3)]))
    x = G.var("x", shape)
    rng = np.random.default_rng(draw(st.integers(0, 2**31)))
    node, lo, hi = x, -1.5, 1.5
    for _ in range(draw(st.integers(1, 6))):
        node, lo, hi = _chain_step(draw, node, lo, hi, rng)
    return x, node, rng


def _away_from_branch_points(chain_output, point, margin=0.05):
    """Non-injective ops need the current value off their branch points (0 for square and
    abs, pi/2 + k pi for sin), and piecewise ones off their kinks."""
    order = G.topo_order([chain_output])
    values = dict(zip(order, G.evaluate(order, point)))
    for node in order:
        if node.op in (ops.square, ops.abs, ops.leaky_relu):
            if np.min(np.abs(values[node.inputs[0]])) < margin:
                return False
        if node.op is ops.sin and np.min(np.abs(np.cos(values[node.inputs[0]]))) < margin:
            return False
    return True


@given(bijective_chains())
def test_inverse_round_trips_random_bijective_chains(chain):
    x, y, rng = chain
    assume(y is not x)
    X = rng.uniform(-1.5, 1.5, size=x.shape)
    assume(_away_from_branch_points(y, {"x": X}))
    z, x_of_z = rop.inverse(y, x)
    Y = G.evaluate(y, {"x": X})
    recovered = G.evaluate(x_of_z, {z: Y, "x": X})  # x: the branch hint
    np.testing.assert_allclose(recovered, X, rtol=RECOVERY_RTOL, atol=RECOVERY_RTOL)
    again = G.evaluate(y, {"x": recovered})
    scale = max(1.0, np.max(np.abs(Y)))
    assert np.max(np.abs(again - Y)) <= ROUND_TRIP_RTOL * scale


@st.composite
def invertible_problems(draw):
    """f = sum(c * phi(A x)) + smooth coupling, with A square and phi strictly convex, or a
    leaky-ReLU/tanh network block: Hessians that are nonsingular at a random point."""
    rng = np.random.default_rng(draw(st.integers(0, 2**31)))
    n = draw(st.integers(2, 4))
    kind = draw(st.sampled_from(["convex", "leaky", "tanh"]))
    x = G.var("x", (n, n))
    A = G.const(rng.normal(size=(n, n)) + 2 * np.eye(n))
    if kind == "convex":
        phi = draw(st.sampled_from([ops.exp, ops.softplus, lambda s: s**4.0 + s * s]))
        f = G.sum(G.const(rng.uniform(0.5, 2, size=(n, n))) * phi(A @ x))
    else:
        act = (lambda s: ops.leaky_relu(s, alpha=0.2)) if kind == "leaky" else ops.tanh
        f = 0.5 * G.sum((act(A @ x) @ G.const(rng.normal(size=(n, n)) + 2 * np.eye(n))
                         - G.const(rng.normal(size=(n, n)))) ** 2)
    point = {"x": rng.normal(size=(n, n)) * 0.5}
    return f, x, point, rng.normal(size=(n, n)), kind


@given(invertible_problems())
def test_hvp_of_inverse_hvp_gives_v_back(problem):
    f, x, point, v, kind = problem
    H = G.evaluate(rop.hessian(f, x), point)
    cond = np.linalg.cond(H)
    assume(cond < 1e10)
    result = rop.inverse_hvp(f, x, v, point)
    back = G.evaluate(rop.hvp(f, x, result.x), point)
    tol = max(1e-9, 100 * cond * np.finfo(float).eps)
    assert np.max(np.abs(back - v)) <= tol * np.max(np.abs(v)), (kind, result.method, cond)
    assert result.method == "linear", result.method  # every case here inverts exactly


@given(invertible_problems())
def test_linear_route_equals_functional_route_where_both_exist(problem):
    f, x, point, v, kind = problem
    try:
        functional = rop.inverse_hvp(f, x, v, point, method="functional")
    except G.NotInvertibleError:
        assume(False)  # no functional inverse (tanh, s^4 + s^2): nothing to compare
    linear = rop.inverse_hvp(f, x, v, point, method="linear")
    H = G.evaluate(rop.hessian(f, x), point)
    tol = max(1e-9, 100 * np.linalg.cond(H) * np.finfo(float).eps)
    assert np.max(np.abs(linear.x - functional.x)) <= tol * np.max(np.abs(linear.x)), kind
