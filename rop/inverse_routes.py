"""The graph routes to H^-1 v (linear inversion of the HVP graph, functional inverse of the
gradient, its finite differences, dense and sympy solves), and the certificate as graph
nodes for the graph transformation."""

from __future__ import annotations

import numpy as np
import sympy

from graph import ops
from graph.leaves import const, var
from graph.ops.guards import default_max_condition
from graph.substitute import substitute
from graph.symbolic import from_sympy, symbol_array, sympy_values
from graph.traverse import fresh_names, variables

from .backprop import grad
from .batching import flatten
from .forward import jvp
from .hessian import hessian
from .inverse import solve_for
from .layout import Layout

GRAPH_METHODS = ("linear", "functional", "dense", "sympy", "fd")


def graph_route(product, f, targets, directions, method, kink_tol, tear_limit, r):
    """(nodes computing the inverse product applied to ``directions``, notes)."""
    options = dict(kink_tol=kink_tol, tear_limit=tear_limit)
    if method == "linear":
        unknowns = [var(n, t.shape, t.dtype) for n, t in
                    zip(fresh_names([f, *targets, *directions], "V", len(targets)), targets)]
        return solve_for(product(targets, unknowns), directions, unknowns, **options)
    if method in ("functional", "fd"):
        gradients = grad(f, targets)
        zs = [var(n, t.shape, t.dtype) for n, t in
              zip(fresh_names([f, *directions], "z", len(targets)), targets)]
        w_of_z, notes = solve_for(gradients, zs, targets, **options)
        if method == "functional":
            tangent = jvp(w_of_z, dict(zip(zs, directions)))
            return substitute(tangent, dict(zip(zs, gradients))), notes
        ahead = substitute(w_of_z, {z: g + d * (r / 2) for z, g, d in
                                    zip(zs, gradients, directions)})
        behind = substitute(w_of_z, {z: g - d * (r / 2) for z, g, d in
                                     zip(zs, gradients, directions)})
        return [(a - b) / r for a, b in zip(ahead, behind)], notes
    layout = Layout(targets)
    if method == "dense":
        matrix = ops.full_rank(hessian(f, targets), need="columns",
                               context="the dense Hessian")
        return layout.split(ops.solve(matrix, flatten(directions))), ["formed H densely"]
    if method == "sympy":
        return _sympy_inverse_hvp(f, targets, directions), ["sympy: exact symbolic Hessian solve"]
    raise ValueError(f"inverse_hvp: unknown method {method!r}")


def _sympy_inverse_hvp(f, targets, vs):
    """Solve H x = v with sympy's Hessian, then turn the solution back into a graph."""
    names = fresh_names([f] + vs, "v", len(vs))
    v_vars = [var(n, d.shape) for n, d in zip(names, vs)]
    nodes = variables([f]) + v_vars
    symbols = {x: symbol_array(x.name, x.shape) for x in nodes}
    expr = sympy.sympify(sympy_values(f, symbols)[0][()])
    unknowns = [s for t in targets for s in symbols[t].ravel()]
    rhs = sympy.Matrix([s for d in v_vars for s in symbols[d].ravel()])
    solution = sympy.hessian(expr, unknowns).LUsolve(rhs)
    mapping = {symbols[x][i]: (ops.getitem(x, index=i) if x.shape else x)
               for x in nodes for i in np.ndindex(*x.shape)}
    flat = ops.concatenate([ops.reshape(from_sympy(sympy.simplify(e), mapping), shape=(1,))
                            for e in solution])
    return substitute(Layout(targets).split(flat), dict(zip(v_vars, vs)))


def certify_graph(product, targets, xs, vs, rtol, max_condition, label="H"):
    """``xs`` passed through a ``certified`` guard: |product(x) - v| / |v| and the condition
    estimate |product(u)| / |u| |x| / |v| (u a fixed random vector) are computed with them."""
    layout = Layout(targets)
    dtype = np.result_type(*(t.dtype for t in targets), np.float16)
    flat_x, flat_v = flatten(xs), flatten(vs)
    u = np.random.default_rng(layout.size).normal(size=layout.size).astype(dtype)
    applied_u = flatten(product(targets, layout.split(const(u))))
    residual = flatten(product(targets, layout.split(flat_x))) - flat_v
    v_norm = ops.maximum(_norm(flat_v), np.finfo(dtype).tiny)
    certificate = _norm(residual) / v_norm
    condition = _norm(applied_u) * (1.0 / max(float(np.linalg.norm(u)), 1.0)) * \
        _norm(flat_x) / v_norm
    checked = ops.certified(flat_x, certificate, condition, rtol=rtol,
                            max_condition=default_max_condition(dtype) if max_condition is None
                            else max_condition,
                            context=f"{label}^-1 v")
    return layout.split(checked)


def _norm(x):
    return ops.sqrt(ops.sum(x * x))


