"""Exact inverse-Hessian-vector products: H^-1 v = R_v{g^-1} at z = g(w) (inverse function
theorem), by inverting the linear HVP graph (the default) or by the R-operator of the
functional inverse of the gradient; and the Newton step built on them."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import sympy

from graph import evaluate, ops
from graph.errors import NotInvertibleError
from graph.traverse import as_list, fresh_names, variables
from graph.op import as_node, const, var
from graph.substitute import substitute
from graph.symbolic import from_sympy, symbol_array, sympy_values

from .backprop import grad
from .forward import jvp
from .hessian import flatten, ggn_vp, hessian, hvp
from .inverse import KINK_TOL, TEAR_LIMIT, solve_for
from .solve import cg

GRAPH_METHODS = ("linear", "functional", "dense", "sympy", "fd")
METHODS = ("auto", "cg") + GRAPH_METHODS


@dataclass
class InverseHVP:
    """An inverse-Hessian-vector product and how it was obtained.

    ``x`` is shaped like ``wrt`` (a list for a list); ``method`` says what computed it (for
    ``"auto"``, also why it fell back to CG, which it does only when CG converges);
    ``certificate`` is ||H x - v|| / ||v||, from one
    HVP; ``notes`` lists fused solves and tears.
    """

    x: object
    method: str
    certificate: float
    notes: list = field(default_factory=list)


def inverse_hvp(f, wrt, v, feed=None, *, method: str = "auto", blocks: bool = False,
                r: float = 1e-4, cg_tol: float = 1e-12, cg_max_iter: int | None = None,
                kink_tol: float = KINK_TOL, tear_limit: int = TEAR_LIMIT):
    """H^-1 v for the Hessian H of scalar ``f`` in ``wrt``, without forming H.

    Without a ``feed`` this is a graph transformation like :func:`rop.hvp`: it returns nodes
    computing H^-1 v (methods ``linear``, ``functional``, ``dense``, ``sympy``, ``fd``). With
    a feed it solves at that point and returns an :class:`InverseHVP` with the method used
    and the certificate ||H x - v|| / ||v||.

    Methods: ``linear`` inverts the HVP graph (linear in v) node by node, with fused solves
    and torn loops (exact; the default of ``auto``); ``functional`` applies the R-operator to
    the functional inverse of the gradient at z = grad f(w) (exact where that inverse
    exists); ``sympy`` solves with sympy's Hessian (tiny graphs); ``dense`` forms H with one
    HVP per entry and solves; ``cg`` runs conjugate gradient on HVPs; ``fd`` differences the
    functional inverse with step ``r`` (kept to show how poor that is). ``auto`` is
    ``linear``, falling back to ``cg`` (and saying why) when no exact inversion applies.
    ``blocks=True`` inverts each tensor's own diagonal block of H (the layer-wise method).

    >>> import graph as G, rop
    >>> x = G.var("x", (2,))
    >>> result = rop.inverse_hvp(G.sum(x ** 3), x, [6.0, 6.0], {"x": [1.0, 2.0]})
    >>> result.x, result.method
    (array([1. , 0.5]), 'linear')
    """
    if method not in METHODS:
        raise ValueError(f"inverse_hvp: method must be one of {', '.join(METHODS)}; got {method!r}")
    targets, single = as_list(wrt)
    vs = [v] if single else list(v)
    options = dict(r=r, kink_tol=kink_tol, tear_limit=tear_limit)
    if blocks and len(targets) > 1:
        parts = [inverse_hvp(f, t, d, feed, method=method, r=r, cg_tol=cg_tol,
                             cg_max_iter=cg_max_iter, kink_tol=kink_tol, tear_limit=tear_limit)
                 for t, d in zip(targets, vs)]
        if feed is None:
            return parts
        return InverseHVP([p.x for p in parts], "blocks: " + "; ".join(p.method for p in parts),
                          max(p.certificate for p in parts), [n for p in parts for n in p.notes])
    if feed is None:
        if method not in GRAPH_METHODS + ("auto",):
            raise ValueError(f"inverse_hvp: method {method!r} needs a feed (it is numeric)")
        nodes, _ = inverse_hvp_graph(f, targets, vs, "linear" if method == "auto" else method,
                                     **options)
        return nodes[0] if single else nodes
    result = _solve(lambda ts, ds: hvp(f, ts, ds), f, targets, vs, feed, method, cg_tol,
                    cg_max_iter, options)
    return _unwrap(result, single)


def _unwrap(result, single):
    if single:
        result.x = result.x[0]
    return result


def _solve(product, f, targets, vs, feed, method, cg_tol, cg_max_iter, options,
           graph_builder=None):
    """Solve product(targets, x) = v at ``feed`` by ``method``; certify with one product."""
    vs = [np.asarray(d, dtype=float) for d in vs]
    builder = graph_builder or (lambda m: inverse_hvp_graph(f, targets, vs, m, **options))
    notes, how = [], method
    if method in GRAPH_METHODS or method == "auto":
        try:
            nodes, notes = builder("linear" if method == "auto" else method)
            xs = evaluate(nodes, feed)
            how = "linear" if method == "auto" else method
        except NotInvertibleError as reason:
            if method != "auto":
                raise
            why = str(reason).splitlines()[0]
            how = f"cg (no exact inverse: {why})"
            xs, solved = _cg(product, targets, vs, feed, cg_tol, cg_max_iter, notes)
            if solved.stop != "residual tolerance":  # a singular H: no answer to give
                raise NotInvertibleError(
                    f"no exact inverse ({why}), and the CG fallback did not converge "
                    f"({solved.iterations} iterations, stopped on {solved.stop}): H is "
                    f"singular or too ill-conditioned at this point") from None
    else:
        xs, _ = _cg(product, targets, vs, feed, cg_tol, cg_max_iter, notes)
    applied = evaluate(product(targets, [const(x) for x in xs]), feed)
    flat_v = np.concatenate([d.ravel() for d in vs])
    misfit = np.concatenate([(a - d).ravel() for a, d in zip(applied, vs)])
    certificate = float(np.linalg.norm(misfit) / (np.linalg.norm(flat_v) or 1.0))
    return InverseHVP(list(xs), how, certificate, notes)


def _cg(product, targets, vs, feed, tol, max_iter, notes):
    directions = [var(name, t.shape) for name, t in
                  zip(fresh_names(targets, "cg_direction", len(targets)), targets)]
    program_nodes = product(targets, directions)
    sizes = [t.size for t in targets]

    def matvec(x):
        moved = dict(feed)
        for d, part in zip(directions, np.split(x, np.cumsum(sizes)[:-1])):
            moved[d.name] = part.reshape(d.shape)
        return np.concatenate([a.ravel() for a in evaluate(program_nodes, moved)])

    b = np.concatenate([d.ravel() for d in vs])
    result = cg(matvec, b, tol=tol, eps=0.0, max_iter=max_iter or 10 * b.size,
                stop_on_negative_curvature=False)
    notes.append(f"cg: {result.iterations} iterations, stopped on {result.stop}")
    return [part.reshape(t.shape) for part, t in
            zip(np.split(result.x, np.cumsum(sizes)[:-1]), targets)], result


def inverse_hvp_graph(f, wrt, v, method="linear", *, r=1e-4, kink_tol=KINK_TOL,
                      tear_limit=TEAR_LIMIT):
    """(nodes computing H^-1 v, notes on fused solves and tears) for a graph method."""
    targets, _ = as_list(wrt)
    vs = [as_node(d) for d in (v if isinstance(v, (list, tuple)) else [v])]
    options = dict(kink_tol=kink_tol, tear_limit=tear_limit)
    if method == "linear":
        directions = [var(n, t.shape) for n, t in
                      zip(fresh_names([f] + vs, "V", len(targets)), targets)]
        return solve_for(hvp(f, targets, directions), vs, directions, **options)
    if method in ("functional", "fd"):
        gradients = grad(f, targets)
        zs = [var(n, t.shape) for n, t in zip(fresh_names([f] + vs, "z", len(targets)), targets)]
        w_of_z, notes = solve_for(gradients, zs, targets, **options)
        if method == "functional":
            tangent = jvp(w_of_z, dict(zip(zs, vs)))
            return substitute(tangent, dict(zip(zs, gradients))), notes
        ahead = substitute(w_of_z, {z: g + d * (r / 2) for z, g, d in zip(zs, gradients, vs)})
        behind = substitute(w_of_z, {z: g - d * (r / 2) for z, g, d in zip(zs, gradients, vs)})
        return [(a - b) / r for a, b in zip(ahead, behind)], notes
    if method == "dense":
        matrix = ops.full_rank(hessian(f, targets), need="columns",
                               context="the dense Hessian")
        return _unflatten(ops.solve(matrix, flatten(vs)), targets), ["formed H densely"]
    if method == "sympy":
        return _sympy_inverse_hvp(f, targets, vs), ["sympy: exact symbolic Hessian solve"]
    raise ValueError(f"inverse_hvp_graph: unknown method {method!r}")


def _unflatten(flat, targets):
    out, start = [], 0
    for t in targets:
        piece = ops.getitem(flat, index=slice(start, start + t.size))
        out.append(ops.reshape(piece, shape=t.shape))
        start += t.size
    return out


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
    return substitute(_unflatten(flat, targets), dict(zip(v_vars, vs)))


def newton_step(f, wrt, feed, **options) -> InverseHVP:
    """The Newton step -H^-1 grad f at ``feed``, through :func:`inverse_hvp`.

    >>> import graph as G, rop
    >>> x = G.var("x", (2,))
    >>> f = G.sum((x - 3.0) ** 2)               # a quadratic: one step to the minimum
    >>> rop.newton_step(f, x, {"x": [0.0, 1.0]}).x
    array([3., 2.])
    """
    targets, single = as_list(wrt)
    gradients = evaluate(grad(f, targets), feed)
    result = inverse_hvp(f, targets, gradients, feed, **options)
    result.x = [-x for x in result.x]
    return _unwrap(result, single)


def inverse_ggn_vp(f, output, wrt, v, feed, *, method: str = "auto", cg_tol: float = 1e-12,
                   cg_max_iter: int | None = None, kink_tol: float = KINK_TOL,
                   tear_limit: int = TEAR_LIMIT) -> InverseHVP:
    """G^-1 v for the Gauss-Newton matrix G = J^T (d^2 f / d output^2) J (see ggn_vp).

    The same inversion as inverse_hvp's linear method, applied to the Gauss-Newton product,
    whose graph keeps activation derivatives at their current values. It equals H^-1 v only
    when second derivatives of the activations vanish (leaky ReLU); G is positive
    semi-definite when f is convex in ``output``. ``method``: ``auto``, ``linear`` or ``cg``.
    """
    targets, single = as_list(wrt)
    vs = [v] if single else list(v)
    options = dict(kink_tol=kink_tol, tear_limit=tear_limit)

    def product(ts, ds):
        return ggn_vp(f, output, ts, ds)

    def builder(_):
        directions = [var(n, t.shape) for n, t in
                      zip(fresh_names([f], "V", len(targets)), targets)]
        return solve_for(product(targets, directions), [const(np.asarray(d, float)) for d in vs],
                         directions, **options)

    if method not in ("auto", "linear", "cg"):
        raise ValueError(f"inverse_ggn_vp: method must be auto, linear or cg; got {method!r}")
    result = _solve(product, f, targets, vs, feed, method, cg_tol, cg_max_iter, options,
                    graph_builder=builder)
    result.method = "gauss-newton " + result.method
    return _unwrap(result, single)
