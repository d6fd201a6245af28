"""Identities on random graphs (hypothesis): derivatives against finite differences and
against each other, HVPs against sympy's Hessian, to_sympy against evaluate. Finite
differences are taken of the graph with stop_gradient's operands frozen (``frozen``): that
is the function the derivatives differentiate.

Each identity runs on random graphs over the whole op set, and again, per op, on a few
graphs ending in that op (``test_every_op_in_random_graphs``), so that no op goes unchecked
whatever hypothesis happens to draw."""

import numpy as np
import pytest
import sympy
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from oracles import FD_STEP, close, directional_difference
from strategies import featured, frozen, graphs, label, scalar_of, usable

import graph as G
import rop

RTOL_FD = 1e-6  # Richardson central differences are ~1e-10 accurate on these graphs
RTOL_EXACT = 1e-9  # two exact computations differ only by float64 round-off
PER_OP = 3  # graphs per op in the per-op runs (each op is also drawn in the random ones)


def _directions(g, seed):
    rng = np.random.default_rng(seed)
    return {x.name: rng.normal(size=x.shape) for x in g.inputs}


def _difference(f, point, v):
    """The directional derivative of ``frozen(f)`` by Richardson differences at steps h and
    h/2. Their error is O(h^4), so halving h shrinks it 16-fold and |coarse - fine| is about
    15 times fine's error: where they differ by more than a tenth of the tolerance, the
    derivatives are too large for differences to be a reference (exp(exp(exp(x))) chains),
    and the point is skipped."""
    f = frozen(f, point)
    coarse = directional_difference(f, point, v)
    fine = directional_difference(f, point, v, h=FD_STEP / 2)
    assume(close(coarse, fine, RTOL_FD / 10))
    return fine


def _usable_point(g):
    point = g.point()
    assume(usable(g, point))
    return point


# -- the identities, each on one graph ------------------------------------------------------
def grad_matches_central_differences(g, point):
    f = scalar_of(g)
    v = _directions(g, 1)
    gradients = G.evaluate(rop.grad(f, g.inputs), point)
    exact = sum(np.sum(gx * v[x.name]) for gx, x in zip(gradients, g.inputs))
    assert close(exact, _difference(f, point, v), RTOL_FD), g


def jvp_matches_central_differences(g, point):
    v = _directions(g, 2)
    tangent = rop.jvp(g.output, {x: G.const(v[x.name]) for x in g.inputs})
    assert close(G.evaluate(tangent, point), _difference(g.output, point, v), RTOL_FD), g


def jvp_and_vjp_are_adjoint(g, point):
    v = _directions(g, 3)
    u = np.random.default_rng(4).normal(size=g.output.shape)
    jv = G.evaluate(rop.jvp(g.output, {x: G.const(v[x.name]) for x in g.inputs}), point)
    pulled = G.evaluate(rop.vjp(g.output, g.inputs, u), point)
    lhs = np.sum(u * jv)
    rhs = sum(np.sum(p * v[x.name]) for p, x in zip(pulled, g.inputs))
    assert close(lhs, rhs, RTOL_EXACT), g


def hvp_is_symmetric(g, point):
    f = scalar_of(g)
    u, v = _directions(g, 5), _directions(g, 6)
    hv = G.evaluate(rop.hvp(f, g.inputs, [v[x.name] for x in g.inputs]), point)
    hu = G.evaluate(rop.hvp(f, g.inputs, [u[x.name] for x in g.inputs]), point)
    u_hv = sum(np.sum(u[x.name] * h) for x, h in zip(g.inputs, hv))
    v_hu = sum(np.sum(v[x.name] * h) for x, h in zip(g.inputs, hu))
    assert close(u_hv, v_hu, RTOL_EXACT), g


def hvp_fwd_rev_equals_rev_rev(g, point):
    f = scalar_of(g)
    v = [_directions(g, 7)[x.name] for x in g.inputs]
    forward = G.evaluate(rop.hvp(f, g.inputs, v, mode="fwd-rev"), point)
    reverse = G.evaluate(rop.hvp(f, g.inputs, v, mode="rev-rev"), point)
    for a, b in zip(forward, reverse):
        assert close(a, b, RTOL_EXACT), g


def hvp_matches_differenced_gradient(g, point):
    f = scalar_of(g)
    v = _directions(g, 8)
    hv = G.evaluate(rop.hvp(f, g.inputs, [v[x.name] for x in g.inputs]), point)
    gradients = rop.grad(f, g.inputs)
    for h, gx in zip(hv, gradients):
        assert close(h, _difference(gx, point, v), RTOL_FD), g


def hvp_equals_sympy_hessian_times_v(g, point, seed):
    """For graphs of scalar inputs: H v against sympy's Hessian of to_sympy(f)."""
    f = scalar_of(g)
    symbols = [sympy.Symbol(x.name, real=True) for x in g.inputs]
    hessian = sympy.hessian(G.to_sympy(f), symbols)
    at = {s: sympy.Float(float(point[x.name]), 30) for s, x in zip(symbols, g.inputs)}
    dense = np.array(hessian.xreplace(at).evalf(30).tolist(), dtype=float)
    v = np.random.default_rng(seed).normal(size=len(symbols))
    hv = G.evaluate(rop.hvp(f, g.inputs, list(v)), point)
    assert close(np.array(hv, dtype=float), dense @ v, RTOL_EXACT), g


def to_sympy_evaluates_like_evaluate(g, point):
    value = G.evaluate(g.output, point)
    expr = np.array(G.to_sympy(g.output).tolist() if g.output.ndim else G.to_sympy(g.output),
                    dtype=object)
    at = {}
    for x in g.inputs:
        symbols = G.symbolic.symbol_array(x.name, x.shape)
        for index in np.ndindex(*x.shape):
            at[symbols[index]] = sympy.Float(float(point[x.name][index]), 30)
    numeric = np.vectorize(lambda e: float(sympy.sympify(e).xreplace(at).evalf(30)))(expr)
    assert close(numeric, value, RTOL_EXACT), g


# -- on random graphs over the whole op set -------------------------------------------------
@given(graphs())
def test_grad_matches_central_differences(g):
    grad_matches_central_differences(g, _usable_point(g))


@given(graphs())
def test_jvp_matches_central_differences(g):
    jvp_matches_central_differences(g, _usable_point(g))


@given(graphs())
def test_jvp_and_vjp_are_adjoint(g):
    jvp_and_vjp_are_adjoint(g, _usable_point(g))


@given(graphs())
def test_hvp_is_symmetric(g):
    hvp_is_symmetric(g, _usable_point(g))


@given(graphs())
def test_hvp_fwd_rev_equals_rev_rev(g):
    hvp_fwd_rev_equals_rev_rev(g, _usable_point(g))


@given(graphs())
def test_hvp_matches_differenced_gradient(g):
    hvp_matches_differenced_gradient(g, _usable_point(g))


@given(graphs(max_nodes=4, max_inputs=2, scalar_inputs=True, smooth=True),
       st.integers(0, 1000))
def test_hvp_equals_sympy_hessian_times_v(g, seed):
    hvp_equals_sympy_hessian_times_v(g, _usable_point(g), seed)


@given(graphs(max_nodes=5))
def test_to_sympy_evaluates_like_evaluate(g):
    to_sympy_evaluates_like_evaluate(g, _usable_point(g))


# -- per op: every identity on graphs ending in that op -------------------------------------
@pytest.mark.parametrize("last", [label(c) for _, c in featured()])
@settings(max_examples=PER_OP)
@given(data=st.data())
def test_every_op_in_random_graphs(last, data):
    g = data.draw(graphs(max_nodes=3, last=last))
    assert last in g.drawn()
    point = _usable_point(g)
    for check in (grad_matches_central_differences, jvp_matches_central_differences,
                  jvp_and_vjp_are_adjoint, hvp_is_symmetric, hvp_fwd_rev_equals_rev_rev,
                  hvp_matches_differenced_gradient, to_sympy_evaluates_like_evaluate):
        check(g, point)


@pytest.mark.parametrize("last", [label(c) for _, c in featured(smooth=True,
                                                                scalar_inputs=True)])
@settings(max_examples=PER_OP)
@given(data=st.data(), seed=st.integers(0, 1000))
def test_every_elementwise_op_against_sympys_hessian(last, data, seed):
    g = data.draw(graphs(max_nodes=3, max_inputs=2, scalar_inputs=True, smooth=True,
                         last=last))
    hvp_equals_sympy_hessian_times_v(g, _usable_point(g), seed)
