"""Exact inverse-Hessian-vector products: H^-1 v = R_v{g^-1} at z = g(w) (inverse function
theorem), by inverting the linear HVP graph or by the R-operator of the functional inverse
of the gradient (rop/inverse_routes.py), by a dense factorization or CG
(rop/inverse_hessian.py); the Newton step and the Gauss-Newton inverse built on them.
Every answer is certified or refused (docs/math.md §13)."""

from __future__ import annotations

import functools
from typing import Any

import numpy as np

from graph.leaves import as_node
from graph.traverse import as_list, match_variables, restore

from .backprop import grad
from .hessian import ggn_vp, hvp
from .inverse import KINK_TOL, TEAR_LIMIT
from .inverse_hessian import DENSE_BYTES, RTOL, AtPoint, InverseHessian, InverseHVP, inverse_hessian
from .inverse_routes import GRAPH_METHODS, certify_graph, graph_route
from .layout import Layout

__all__ = ["inverse_hvp", "inverse_hvp_graph", "newton_step", "inverse_ggn_vp",
           "inverse_hessian", "InverseHessian", "InverseHVP"]


def inverse_hvp(f, wrt, v, feed, *, method: str = "auto", blocks: bool = False,
                rtol: float = RTOL, max_condition: float | None = None, r: float = 1e-4,
                cg_tol: float = 1e-12, cg_max_iter: int | None = None,
                kink_tol: float = KINK_TOL, tear_limit: int = TEAR_LIMIT,
                dense_bytes: int = DENSE_BYTES) -> InverseHVP:
    """H^-1 v for the Hessian H of scalar ``f`` in ``wrt`` at the point ``feed``, without
    forming H, certified (see :func:`inverse_hessian` for the methods and the certificate;
    :func:`inverse_hvp_graph` is the graph transformation).

    ``blocks=True`` solves each tensor's own diagonal block of H (the layer-wise method):
    a block-diagonal approximation, so named in ``method``, each block certified, with the
    residual against the full H in ``full_residual``.

    >>> import graph as G, rop
    >>> x = G.var("x", (2,))
    >>> result = rop.inverse_hvp(G.sum(x ** 3), x, [6.0, 6.0], {"x": [1.0, 2.0]})
    >>> result.x, result.method
    (array([1. , 0.5]), 'linear')
    """
    options: dict[str, Any] = dict(
        method=method, rtol=rtol, max_condition=max_condition, r=r, cg_tol=cg_tol,
        cg_max_iter=cg_max_iter, kink_tol=kink_tol, tear_limit=tear_limit,
        dense_bytes=dense_bytes)
    targets, single = as_list(wrt)
    if not blocks or len(targets) == 1:
        return inverse_hessian(f, wrt, feed, **options)(v)
    targets = match_variables([f], targets, "inverse_hvp")
    vs = Layout(targets).directions(v, "inverse_hvp")
    parts = [inverse_hvp(f, t, d, feed, **options) for t, d in zip(targets, vs)]
    layout = Layout(targets)
    directions = layout.variables("direction", [f])
    product = AtPoint(hvp(f, targets, directions), directions, feed)
    flat_v = layout.pack(vs)
    residual = layout.pack(product([p.x for p in parts])) - flat_v  # against the full H
    full = float(np.linalg.norm(residual) / (np.linalg.norm(flat_v) or 1.0))
    worst = max(parts, key=lambda p: p.certificate)
    return InverseHVP([p.x for p in parts], "block-diagonal approximation: " + "; ".join(
        p.method for p in parts), worst.certificate, worst.tolerance, worst.condition,
        [n for p in parts for n in p.notes], full_residual=full)


def inverse_hvp_graph(f, wrt, v, method: str = "linear", *, rtol: float = RTOL,
                      max_condition: float | None = None, r: float = 1e-4,
                      kink_tol: float = KINK_TOL, tear_limit: int = TEAR_LIMIT):
    """Nodes computing H^-1 v (a graph transformation, like :func:`rop.hvp`), by a graph
    method of :func:`inverse_hessian`; ``v`` may hold arrays or nodes.

    The certificate is part of the graph: evaluating it computes |H x - v| / |v| and a
    condition estimate too (two more HVPs) and raises CertificateError, as inverse_hvp
    does, when they fail.

    >>> import graph as G, rop
    >>> x = G.var("x", (2,))
    >>> G.evaluate(rop.inverse_hvp_graph(G.sum(x ** 3), x, [6.0, 6.0]), {"x": [1.0, 2.0]})
    array([1. , 0.5])
    """
    if method not in GRAPH_METHODS:
        raise ValueError(f"inverse_hvp_graph: method must be one of {', '.join(GRAPH_METHODS)}"
                         f"; got {method!r} (cg and auto need a point: use inverse_hvp)")
    targets, single = as_list(wrt)
    targets = match_variables([f], targets, "inverse_hvp_graph")
    layout = Layout(targets, single)
    vs = [as_node(d, like=t.dtype) for t, d in zip(targets, layout.directions(v, "inverse_hvp"))]
    product = functools.partial(hvp, f)
    xs, _ = graph_route(product, f, targets, vs, method, kink_tol, tear_limit, r)
    return restore(certify_graph(product, targets, xs, vs, rtol, max_condition), single)


def newton_step(f, wrt, feed, **options) -> InverseHVP:
    """The Newton step -H^-1 grad f at ``feed``, through :func:`inverse_hvp` (certified).

    >>> import graph as G, rop
    >>> x = G.var("x", (2,))
    >>> f = G.sum((x - 3.0) ** 2)               # a quadratic: one step to the minimum
    >>> rop.newton_step(f, x, {"x": [0.0, 1.0]}).x
    array([3., 2.])
    """
    from graph import evaluate

    targets, single = as_list(wrt)
    gradients = evaluate(grad(f, targets), feed)
    result = inverse_hvp(f, targets, gradients, feed, **options)
    result.x = restore([-x for x in result.x], single)
    return result


def inverse_ggn_vp(f, output, wrt, v, feed, *, method: str = "auto", rtol: float = RTOL,
                   max_condition: float | None = None, cg_tol: float = 1e-12,
                   cg_max_iter: int | None = None, kink_tol: float = KINK_TOL,
                   tear_limit: int = TEAR_LIMIT) -> InverseHVP:
    """G^-1 v for the Gauss-Newton matrix G = J^T (d^2 f / d output^2) J (see ggn_vp),
    certified against G as inverse_hvp is against H.

    The same inversion as inverse_hvp's linear method, applied to the Gauss-Newton product,
    whose graph keeps activation derivatives at their current values. It equals H^-1 v only
    when second derivatives of the activations vanish (leaky ReLU); G is positive
    semi-definite when f is convex in ``output``. ``method``: ``auto``, ``linear``, ``dense``
    or ``cg``, as for :func:`inverse_hessian`.
    """
    if method not in ("auto", "linear", "dense", "cg"):
        raise ValueError(f"inverse_ggn_vp: method must be auto, linear, dense or cg; got "
                         f"{method!r}")
    targets, single = as_list(wrt)
    targets = match_variables([f], targets, "inverse_ggn_vp")
    inverse = InverseHessian(lambda ts, ds: ggn_vp(f, output, ts, ds), f, targets, feed,
                             method, rtol=rtol, max_condition=max_condition, cg_tol=cg_tol,
                             cg_max_iter=cg_max_iter, kink_tol=kink_tol,
                             tear_limit=tear_limit, r=1e-4, label="G")._single(single)
    result = inverse(v)
    result.method = "gauss-newton " + result.method
    return result
