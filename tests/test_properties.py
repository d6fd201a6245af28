"""Identities on random graphs (hypothesis): derivatives against finite differences and
against each other, HVPs against sympy's Hessian, to_sympy against evaluate."""

import numpy as np
import sympy
from hypothesis import assume, given
from hypothesis import strategies as st
from oracles import close, directional_difference
from strategies import graphs, scalar_of, usable

import graph as G
import rop

RTOL_FD = 1e-6  # Richardson central differences are ~1e-10 accurate on these graphs
RTOL_EXACT = 1e-9  # two exact computations differ only by float64 round-off


def _directions(g, seed):
    rng = np.random.default_rng(seed)
    return {x.name: rng.normal(size=x.shape) for x in g.inputs}


def _usable_point(g):
    point = g.point()
    assume(usable(g, point))
    return point


@given(graphs())
def test_grad_matches_central_differences(g):
    point = _usable_point(g)
    f = scalar_of(g)
    v = _directions(g, 1)
    gradients = G.evaluate(rop.grad(f, g.inputs), point)
    exact = sum(np.sum(gx * v[x.name]) for gx, x in zip(gradients, g.inputs))
    assert close(exact, directional_difference(f, point, v), RTOL_FD), g


@given(graphs())
def test_jvp_matches_central_differences(g):
    point = _usable_point(g)
    v = _directions(g, 2)
    tangent = rop.jvp(g.output, {x: G.const(v[x.name]) for x in g.inputs})
    assert close(G.evaluate(tangent, point), directional_difference(g.output, point, v),
                 RTOL_FD), g


@given(graphs())
def test_jvp_and_vjp_are_adjoint(g):
    point = _usable_point(g)
    v = _directions(g, 3)
    u = np.random.default_rng(4).normal(size=g.output.shape)
    jv = G.evaluate(rop.jvp(g.output, {x: G.const(v[x.name]) for x in g.inputs}), point)
    pulled = G.evaluate(rop.vjp(g.output, g.inputs, u), point)
    lhs = np.sum(u * jv)
    rhs = sum(np.sum(p * v[x.name]) for p, x in zip(pulled, g.inputs))
    assert close(lhs, rhs, RTOL_EXACT), g


@given(graphs())
def test_hvp_is_symmetric(g):
    point = _usable_point(g)
    f = scalar_of(g)
    u, v = _directions(g, 5), _directions(g, 6)
    hv = G.evaluate(rop.hvp(f, g.inputs, [v[x.name] for x in g.inputs]), point)
    hu = G.evaluate(rop.hvp(f, g.inputs, [u[x.name] for x in g.inputs]), point)
    u_hv = sum(np.sum(u[x.name] * h) for x, h in zip(g.inputs, hv))
    v_hu = sum(np.sum(v[x.name] * h) for x, h in zip(g.inputs, hu))
    assert close(u_hv, v_hu, RTOL_EXACT), g


@given(graphs())
def test_hvp_fwd_rev_equals_rev_rev(g):
    point = _usable_point(g)
    f = scalar_of(g)
    v = [_directions(g, 7)[x.name] for x in g.inputs]
    forward = G.evaluate(rop.hvp(f, g.inputs, v, mode="fwd-rev"), point)
    reverse = G.evaluate(rop.hvp(f, g.inputs, v, mode="rev-rev"), point)
    for a, b in zip(forward, reverse):
        assert close(a, b, RTOL_EXACT), g


@given(graphs())
def test_hvp_matches_differenced_gradient(g):
    point = _usable_point(g)
    f = scalar_of(g)
    v = _directions(g, 8)
    hv = G.evaluate(rop.hvp(f, g.inputs, [v[x.name] for x in g.inputs]), point)
    gradients = rop.grad(f, g.inputs)
    for h, gx in zip(hv, gradients):
        assert close(h, directional_difference(gx, point, v), RTOL_FD), g


@given(graphs(max_nodes=4, max_inputs=2, scalar_inputs=True, smooth=True),
       st.integers(0, 1000))
def test_hvp_equals_sympy_hessian_times_v(g, seed):
    point = _usable_point(g)
    f = scalar_of(g)
    symbols = [sympy.Symbol(x.name, real=True) for x in g.inputs]
    expr = G.to_sympy(f)
    hessian = sympy.hessian(expr, symbols)
    at = {s: sympy.Float(float(point[x.name]), 30) for s, x in zip(symbols, g.inputs)}
    dense = np.array(hessian.xreplace(at).evalf(30).tolist(), dtype=float)
    v = np.random.default_rng(seed).normal(size=len(symbols))
    hv = G.evaluate(rop.hvp(f, g.inputs, list(v)), point)
    assert close(np.array(hv, dtype=float), dense @ v, RTOL_EXACT), g


@given(graphs(max_nodes=5))
def test_to_sympy_evaluates_like_evaluate(g):
    point = _usable_point(g)
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
