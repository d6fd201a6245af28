"""Exact inverse-Hessian-vector products: H^-1 v = R_v{g^-1} at z = g(w) (inverse function
theorem), by inverting the linear HVP graph (the default) or by the R-operator of the
functional inverse of the gradient; the Newton step and Gauss-Newton inverse built on them.

Every answer is certified before it leaves: the residual |H x - v| / |v| (one more HVP) is
checked against a stated tolerance, max(rtol, 16 eps kappa) with kappa = |H| |x| / |v| an
honest lower estimate of cond(H), and kappa against max_condition. Failing either raises
CertificateError, saying what was found and what to try (docs/math.md, "Certificates").
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field

import numpy as np
import sympy

from graph import compile, ops
from graph.compile import specialize
from graph.errors import CertificateError, NotInvertibleError
from graph.leaves import as_node, const, var
from graph.ops.guards import certificate_tolerance, default_max_condition, recording_pivots
from graph.substitute import substitute
from graph.symbolic import from_sympy, symbol_array, sympy_values
from graph.traverse import as_list, fresh_names, match_variables, restore, variables

from .backprop import grad
from .cg import cg
from .forward import jvp
from .hessian import flatten, ggn_vp, hessian, hvp
from .inverse import KINK_TOL, TEAR_LIMIT, solve_for
from .layout import Layout

GRAPH_METHODS = ("linear", "functional", "dense", "sympy", "fd")
METHODS = ("auto", "cg") + GRAPH_METHODS
RTOL = 1e-10  # default tolerance of a certificate (before scaling by the condition)
DIAGNOSE_LIMIT = 1000  # a refusal forms H to report its rank up to this many parameters


@dataclass
class InverseHVP:
    """An inverse-Hessian-vector product and how it was obtained.

    ``x`` is shaped like ``wrt`` (a list for a list); ``method`` says what computed it (for
    ``"auto"``, also why it fell back to CG); ``certificate`` is |H x - v| / |v| from one
    HVP, at most ``tolerance`` (checked), with ``condition`` the estimate |H| |x| / |v|
    the tolerance was scaled by; ``notes`` lists fused solves and tears. For a
    block-diagonal approximation (``blocks=True``) the certificate is the largest block's,
    and ``full_residual`` is the residual with the full Hessian, reported, not checked.
    """

    x: object
    method: str
    certificate: float
    tolerance: float = float("nan")
    condition: float = float("nan")
    notes: list = field(default_factory=list)
    full_residual: float | None = None


class InverseHessian:
    """H^-1 (or G^-1) at one point, built and compiled once, applied to many vectors.

    Everything that depends only on the point (the forward pass, matrices to invert, their
    factors) is computed when the object is made; a call does only the work that depends
    on v, then certifies the answer with one product. See :func:`inverse_hessian`.
    """

    def __init__(self, product, f, targets, feed, method, *, rtol, max_condition, cg_tol,
                 cg_max_iter, kink_tol, tear_limit, r, label="H"):
        self.layout = Layout(targets)
        self.feed, self.label = feed, label
        dtype = np.result_type(*(t.dtype for t in targets), np.float16)
        self.rtol = rtol
        self.max_condition = default_max_condition(dtype) if max_condition is None \
            else max_condition
        self.cg_tol, self.cg_max_iter = cg_tol, cg_max_iter
        directions = [var(n, t.shape, t.dtype) for n, t in
                      zip(fresh_names([f, *targets], "direction", len(targets)), targets)]
        self._product = _program(product(targets, directions), directions, feed)
        self._product_directions = directions
        self.norm = self._norm_estimate()
        self.notes, self.method = [], method
        self._solve = None
        if method in GRAPH_METHODS or method == "auto":
            graph_method = "linear" if method == "auto" else method
            try:
                with recording_pivots() as self.setup_pivots:
                    nodes, self.notes = _graph_route(product, f, targets, directions,
                                                     graph_method, kink_tol, tear_limit, r)
                    self._solve = _program(nodes, directions, feed)
                self.method = graph_method
            except NotInvertibleError as reason:
                if method != "auto":
                    raise
                why = str(reason).splitlines()[0]
                self.method = f"cg (no exact inverse: {why})"
        elif method != "cg":
            raise ValueError(f"inverse_hessian: method must be one of {', '.join(METHODS)}; "
                             f"got {method!r}")

    def __call__(self, v) -> InverseHVP:
        """The certified answer x = H^-1 v (``v`` shaped like ``wrt``; a list for a list)."""
        vs = self.layout.directions(v, "inverse_hessian")
        flat_v = self.layout.pack(vs)
        notes = list(self.notes)
        with recording_pivots() as pivots:
            if self._solve is not None:
                xs = self._solve(vs)
                stop = None
            else:
                xs, stop = self._cg(flat_v, notes)
        flat_x = self.layout.pack(xs)
        certificate, condition = self._certificate(flat_x, flat_v)
        tolerance = certificate_tolerance(self.rtol, condition, flat_v.dtype)
        if not (np.all(np.isfinite(flat_x)) and condition <= self.max_condition
                and certificate <= tolerance):
            raise self._refusal(certificate, tolerance, condition, pivots, stop)
        return InverseHVP(self.layout.restore(xs), self.method, certificate, tolerance,
                          condition, notes)

    def apply(self, flat_v) -> np.ndarray:
        """H^-1 v on flat vectors (the entries of the wrt tensors raveled and joined)."""
        x = self(self.layout.restore(self.layout.unpack(flat_v))).x
        return self.layout.pack([x] if self.layout.single else x)

    def _single(self, single: bool) -> "InverseHessian":
        self.layout.single = single
        return self

    # -- pieces -------------------------------------------------------------------------
    def _norm_estimate(self) -> float:
        """|H u| / |u| for a fixed random u: at most |H|_2, about |H|_F / sqrt(n)."""
        n = self.layout.size
        if n == 0:
            return 1.0
        u = np.random.default_rng(n).normal(size=n)
        return float(np.linalg.norm(self.layout.pack(self._product(self.layout.unpack(u))))
                     / np.linalg.norm(u))

    def _certificate(self, flat_x, flat_v):
        applied = self.layout.pack(self._product(self.layout.unpack(flat_x)))
        v_norm = float(np.linalg.norm(flat_v)) or 1.0
        with np.errstate(all="ignore"):
            certificate = float(np.linalg.norm(applied - flat_v)) / v_norm
            condition = self.norm * float(np.linalg.norm(flat_x)) / v_norm
        return certificate, condition

    def _cg(self, flat_v, notes):
        matvec = lambda x: self.layout.pack(self._product(self.layout.unpack(x)))  # noqa: E731
        result = cg(matvec, flat_v, tol=self.cg_tol, eps=0.0,
                    max_iter=self.cg_max_iter or 10 * max(flat_v.size, 1),
                    stop_on_negative_curvature=False)
        notes.append(f"cg: {result.iterations} iterations, stopped on {result.stop}")
        return self.layout.unpack(result.x), result.stop

    def _refusal(self, certificate, tolerance, condition, pivots, stop) -> CertificateError:
        found = []
        if not np.isfinite(certificate) or not np.isfinite(condition):
            found.append("the answer has NaN or Inf entries")
        if condition > self.max_condition:
            found.append(f"the point is numerically singular: condition estimate "
                         f"|{self.label}| |x| / |v| = {condition:.3g} > max_condition = "
                         f"{self.max_condition:.3g}")
        if certificate > tolerance or not found:
            found.append(f"the residual |{self.label} x - v| / |v| = {certificate:.3g} "
                         f"exceeds the tolerance {tolerance:.3g} (rtol {self.rtol:g}, "
                         f"condition estimate {condition:.3g})")
        if stop is not None:
            found.append(f"CG stopped on {stop}")
        seen = list(getattr(self, "setup_pivots", [])) + list(pivots)
        if seen:
            where, worst = max(seen, key=lambda p: p[1])
            found.append(f"the solve closest to singular was {where} (condition {worst:.3g})")
        found.append(self._spectrum())
        advice = (f"{self.label} is singular or nearly so at this point: add damping or a "
                  f"regularizer (lambda/2 |w|^2 makes it {self.label} + lambda I), move to "
                  f"another point, or solve on the subspace where it is invertible")
        if stop is not None and "curvature" in stop:
            advice = (f"{self.label} is indefinite here and CG broke down: try "
                      f"method='linear' or 'dense'")
        return CertificateError(
            f"inverse_hvp ({self.method}) refused: " + "; ".join(f for f in found if f)
            + f". {advice}", certificate=certificate, tolerance=tolerance, condition=condition)

    def _spectrum(self) -> str:
        """The rank and extreme singular values of the dense matrix, when it is small."""
        n = self.layout.size
        if not 0 < n <= DIAGNOSE_LIMIT:
            return ""
        columns = [self.layout.pack(self._product(self.layout.unpack(e))) for e in np.eye(n)]
        singular = np.linalg.svd(np.stack(columns, axis=1), compute_uv=False)
        rank = int(np.sum(singular > singular[0] * n * np.finfo(float).eps))
        return (f"{self.label} has rank {rank} of {n} (singular values from {singular[0]:.3g} "
                f"down to {singular[-1]:.3g})")


def _program(nodes, directions, feed):
    """directions -> nodes at the point ``feed``: everything that does not depend on the
    directions is evaluated once, the rest compiled."""
    run = compile(specialize(nodes, feed, keep=directions))
    names = [d.name for d in directions]
    return lambda arrays: run(dict(zip(names, arrays)))


def _graph_route(product, f, targets, directions, method, kink_tol, tear_limit, r):
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


def inverse_hessian(f, wrt, feed, *, method: str = "auto", rtol: float = RTOL,
                    max_condition: float | None = None, cg_tol: float = 1e-12,
                    cg_max_iter: int | None = None, kink_tol: float = KINK_TOL,
                    tear_limit: int = TEAR_LIMIT, r: float = 1e-4) -> InverseHessian:
    """H^-1 at the point ``feed``, for the Hessian H of scalar ``f`` in ``wrt``: built,
    compiled and factored once; call it with v for a certified :class:`InverseHVP`.

    Methods: ``linear`` inverts the HVP graph (linear in v) node by node, with fused solves
    and torn loops (exact); ``functional`` applies the R-operator to the functional inverse
    of the gradient at z = grad f(w) (exact where that inverse exists); ``sympy`` solves
    with sympy's Hessian (tiny graphs); ``dense`` forms H with one HVP per entry and
    solves; ``cg`` runs conjugate gradient on HVPs; ``fd`` differences the functional
    inverse with step ``r`` (to show how poor that is: pass ``rtol=np.inf`` to see its
    answers). ``auto`` is ``linear``, falling back to ``cg`` (and saying why).

    Every answer is certified: |H x - v| / |v| <= max(rtol, 16 eps kappa), with kappa =
    |H| |x| / |v| <= max_condition (default 1e-4 / eps); otherwise CertificateError.

    >>> import graph as G, rop
    >>> x = G.var("x", (2,))
    >>> H_inv = rop.inverse_hessian(G.sum(x ** 3), x, {"x": [1.0, 2.0]})
    >>> H_inv([6.0, 6.0]).x, H_inv([6.0, 12.0]).x
    (array([1. , 0.5]), array([1., 1.]))
    """
    targets, single = as_list(wrt)
    targets = match_variables([f], targets, "inverse_hessian")
    return InverseHessian(lambda ts, ds: hvp(f, ts, ds), f, targets, feed, method,
                          rtol=rtol, max_condition=max_condition, cg_tol=cg_tol,
                          cg_max_iter=cg_max_iter, kink_tol=kink_tol, tear_limit=tear_limit,
                          r=r)._single(single)


def inverse_hvp(f, wrt, v, feed, *, method: str = "auto", blocks: bool = False,
                rtol: float = RTOL, max_condition: float | None = None, r: float = 1e-4,
                cg_tol: float = 1e-12, cg_max_iter: int | None = None,
                kink_tol: float = KINK_TOL, tear_limit: int = TEAR_LIMIT) -> InverseHVP:
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
    options = dict(method=method, rtol=rtol, max_condition=max_condition, r=r, cg_tol=cg_tol,
                   cg_max_iter=cg_max_iter, kink_tol=kink_tol, tear_limit=tear_limit)
    targets, single = as_list(wrt)
    if not blocks or len(targets) == 1:
        return inverse_hessian(f, wrt, feed, **options)(v)
    targets = match_variables([f], targets, "inverse_hvp")
    vs = Layout(targets).directions(v, "inverse_hvp")
    parts = [inverse_hvp(f, t, d, feed, **options) for t, d in zip(targets, vs)]
    layout = Layout(targets)
    directions = layout.variables("direction", [f])
    product = _program(hvp(f, targets, directions), directions, feed)
    flat_v = layout.pack(vs)
    residual = layout.pack(product([p.x for p in parts])) - flat_v
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
    xs, _ = _graph_route(product, f, targets, vs, method, kink_tol, tear_limit, r)
    return restore(certify_graph(product, targets, xs, vs, rtol, max_condition), single)


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
    semi-definite when f is convex in ``output``. ``method``: ``auto``, ``linear`` or ``cg``.
    """
    if method not in ("auto", "linear", "cg"):
        raise ValueError(f"inverse_ggn_vp: method must be auto, linear or cg; got {method!r}")
    targets, single = as_list(wrt)
    targets = match_variables([f], targets, "inverse_ggn_vp")
    inverse = InverseHessian(lambda ts, ds: ggn_vp(f, output, ts, ds), f, targets, feed,
                             method, rtol=rtol, max_condition=max_condition, cg_tol=cg_tol,
                             cg_max_iter=cg_max_iter, kink_tol=kink_tol,
                             tear_limit=tear_limit, r=1e-4, label="G")._single(single)
    result = inverse(v)
    result.method = "gauss-newton " + result.method
    return result
