"""H^-1 at one point, factored once, applied to many vectors: the exact routes (structural
inversion of the HVP graph; a dense factorization of H formed by batched HVPs), CG last,
chosen by cost; and the certificate every answer passes before it leaves.

Every answer x = H^-1 v is certified: the residual |H x - v| / |v| (one more HVP) is at
most max(rtol, 16 eps kappa), kappa = |H| |x| / |v| an honest lower estimate of cond(H), and
kappa <= max_condition; otherwise CertificateError says what was found and what to try
(docs/math.md §13).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from graph import compile
from graph.compile import specialize
from graph.errors import CertificateError, NotInvertibleError
from graph.leaves import var
from graph.ops.guards import certificate_tolerance, default_max_condition, recording_pivots
from graph.traverse import as_list, fresh_names

from .batching import vmap
from .cg import cg
from .inverse import KINK_TOL, TEAR_LIMIT
from .inverse_dense import ADVICE, DIAGNOSE_LIMIT, dense_inverse, low_rank_inverse
from .inverse_routes import GRAPH_METHODS, graph_route
from .layout import Layout

METHODS = ("auto", "cg", "low-rank") + GRAPH_METHODS
RTOL = 1e-10  # default tolerance of a certificate (before scaling by the condition)
DENSE_BYTES = 2**30  # the dense route's matrices (H and its inverse) fit in this
REFINEMENTS = 2  # steps of iterative refinement an exact route may take to certify


@dataclass
class InverseHVP:
    """An inverse-Hessian-vector product and how it was obtained.

    ``x`` is shaped like ``wrt`` (a list for a list; with a leading batch axis for a batch
    of v's); ``method`` says which route computed it and why cheaper ones did not apply;
    ``certificate`` is |H x - v| / |v| from one HVP, at most ``tolerance`` (checked), with
    ``condition`` the estimate |H| |x| / |v| the tolerance was scaled by (for a batch, the
    largest over the batch); ``notes`` lists fused solves, tears and factorizations. For a
    block-diagonal approximation (``blocks=True``) the certificate is the largest block's,
    and ``full_residual`` the residual with the full Hessian, reported, not checked.
    """

    x: Any
    method: str
    certificate: float
    tolerance: float = float("nan")
    condition: float = float("nan")
    notes: list = field(default_factory=list)
    full_residual: float | None = None


class AtPoint:
    """directions -> nodes at a fixed point: every node that does not depend on the
    directions is evaluated once (rop's "factor once"), the rest compiled; batches of
    directions run through rop.vmap of the same nodes, compiled once per batch size."""

    def __init__(self, nodes, directions, feed):
        self.nodes = specialize(nodes, feed, keep=directions)
        self.directions = directions
        self._programs: dict[int | None, tuple] = {None: (compile(self.nodes), directions)}

    def __call__(self, arrays, batch: int | None = None) -> list:
        if batch not in self._programs:
            batched = [var(name, (batch,) + d.shape, d.dtype) for name, d in zip(
                fresh_names(self.nodes + self.directions, "batch", len(self.directions)),
                self.directions)]
            nodes = vmap(self.nodes, dict(zip(self.directions, batched)))
            self._programs[batch] = (compile(nodes), batched)
        program, inputs = self._programs[batch]
        return program(dict(zip([d.name for d in inputs], arrays)))


class InverseHessian:
    """H^-1 (or G^-1) at one point, built and factored once, applied to many vectors.

    Everything that depends only on the point (the forward pass, matrices to invert, their
    factors) is computed when the object is made; a call does only the work that depends
    on v, then certifies the answer with one product. See :func:`inverse_hessian`.
    """

    def __init__(self, product, f, targets, feed, method, *, rtol, max_condition, cg_tol,
                 cg_max_iter, kink_tol, tear_limit, r, dense_bytes=DENSE_BYTES, label="H",
                 output=None):
        if method not in METHODS:
            raise ValueError(f"inverse_hessian: method must be one of {', '.join(METHODS)}; "
                             f"got {method!r}")
        self.layout = Layout(targets)
        self.label, self.rtol = label, rtol
        self.max_condition = default_max_condition(self.layout.dtype) \
            if max_condition is None else max_condition
        self.cg_tol, self.cg_max_iter = cg_tol, cg_max_iter
        directions = self.layout.variables("direction", [f])
        self._product = AtPoint(product(targets, directions), directions, feed)
        self.norm = self._norm_estimate()
        self.notes: list[str] = []
        self.setup_pivots: list = []
        self._solve: AtPoint | None = None
        self._matrix: np.ndarray | None = None
        self._low_rank: tuple | None = None
        self.method = self._build(product, f, targets, directions, feed, method, kink_tol,
                                  tear_limit, r, dense_bytes, output)

    # -- routes -------------------------------------------------------------------------
    def _build(self, product, f, targets, directions, feed, method, kink_tol, tear_limit, r,
               dense_bytes, output) -> str:
        """Set up the route ``method`` asks for (``auto``: the cheapest that applies); the
        route's description, with why cheaper ones did not apply."""
        n = self.layout.size
        dense_fits = 2 * n * n * self.layout.dtype.itemsize <= dense_bytes
        rank = output.size if output is not None and output.size < n else None
        if method in ("linear", "functional", "sympy", "fd") or method == "auto":
            # a tear with n probes costs what forming H does (r, with a low-rank route):
            # beyond that, the denser route is cheaper
            cheaper = min(n if dense_fits else tear_limit, rank or n)
            limit = min(tear_limit, cheaper) if method == "auto" else tear_limit
            graph_method = "linear" if method == "auto" else method
            try:
                with recording_pivots() as self.setup_pivots:
                    nodes, self.notes = graph_route(product, f, targets, directions,
                                                    graph_method, kink_tol, limit, r)
                    self._solve = AtPoint(nodes, directions, feed)
                return graph_method
            except NotInvertibleError as reason:
                if method != "auto":
                    raise
                why = str(reason).splitlines()[-1 if "probes" in str(reason) else 0]
                if limit < tear_limit:  # auto's own bound: what the denser route costs
                    why = why.replace(f"more than tear_limit={limit}",
                                      f"more than the {limit} products a denser route takes")
        if method == "low-rank" or (method == "auto" and rank is not None):
            with recording_pivots() as self.setup_pivots:
                self._low_rank, found = low_rank_inverse(f, output, targets, feed,
                                                         self.layout, self._apply_product)
            if self._low_rank is not None:
                self.notes.append(found)
                return "low-rank" if method == "low-rank" else f"low-rank (structural: {why})"
            if method == "low-rank":
                raise NotInvertibleError(f"low-rank route: {found}")
            why += f"; low-rank: {found}"
        if method == "dense" or (method == "auto" and dense_fits):
            with recording_pivots() as self.setup_pivots:
                self._matrix, note = dense_inverse(product, targets, directions, feed,
                                                   self.layout, self.label)
            self.notes.append(note)
            return "dense" if method == "dense" else f"dense (structural: {why})"
        if method == "auto":
            return (f"cg (structural: {why}; dense: H would need {2 * n * n * 8 / 2**30:.1f} "
                    f"GiB, more than dense_bytes)")
        return "cg"

    # -- applying -----------------------------------------------------------------------
    def __call__(self, v, *, batched: bool = False) -> InverseHVP:
        """The certified answer x = H^-1 v (``v`` shaped like ``wrt``, a list for a list;
        with ``batched=True``, k of them along a leading axis, answered together)."""
        if batched:
            vs = self.layout.batch(v, "inverse_hessian")
            k = vs[0].shape[0]
            flat_v = np.concatenate([d.reshape(k, -1) for d in vs], axis=1)
        else:
            vs = self.layout.directions(v, "inverse_hessian")
            k, flat_v = None, self.layout.pack(vs)[None]
        notes, stop = list(self.notes), None
        with recording_pivots() as pivots:
            if self._matrix is None and self._solve is None and self._low_rank is None:
                flat_x, stop = self._cg(flat_v, notes)
            else:
                flat_x = self._apply_inverse(flat_v)
            for step in range(REFINEMENTS + 1):
                applied = self._apply_product(flat_x)
                certificate, condition = self._certificate(flat_x, flat_v, applied)
                tolerance = certificate_tolerance(self.rtol, condition, flat_v.dtype)
                ok = np.all(np.isfinite(flat_x)) and condition <= self.max_condition
                if not ok or certificate <= tolerance or stop is not None or \
                        step == REFINEMENTS:
                    break
                # iterative refinement: the route's own rounding (an ill-conditioned
                # intermediate solve) corrected by solving for the residual
                flat_x = flat_x + self._apply_inverse(flat_v - applied)
                notes.append(f"refined by solving for the residual ({step + 1})")
        if not (ok and certificate <= tolerance):
            raise self._refusal(certificate, tolerance, condition, pivots, stop)
        xs = [part.reshape(((k,) if batched else ()) + t.shape) for t, part in
              zip(self.layout.nodes, np.split(flat_x if batched else flat_x[0],
                                              self.layout.offsets, axis=-1))]
        return InverseHVP(self.layout.restore(xs), self.method, certificate, tolerance,
                          condition, notes)

    def apply(self, flat_v) -> np.ndarray:
        """H^-1 v on flat vectors (the entries of the wrt tensors raveled and joined)."""
        x = self(self.layout.restore(self.layout.unpack(flat_v))).x
        return self.layout.pack([x] if self.layout.single else x)

    def _single(self, single: bool) -> InverseHessian:
        self.layout.single = single
        return self

    # -- pieces -------------------------------------------------------------------------
    def _apply_inverse(self, flat_v) -> np.ndarray:
        """The route's answer for each row of ``flat_v`` (exact routes only)."""
        if self._matrix is not None:
            return flat_v @ self._matrix
        if self._low_rank is not None:
            J, D, inverse, c = self._low_rank
            return (flat_v - ((flat_v @ J.T) @ D.T @ inverse.T) @ J) / c
        assert self._solve is not None, "an exact route was set up"
        return self._through(self._solve, flat_v)

    def _apply_product(self, flat_x) -> np.ndarray:
        return self._through(self._product, flat_x)

    def _through(self, program: AtPoint, rows) -> np.ndarray:
        """``program`` applied to each row of ``rows`` (k, n), as rows again: the rows are
        split into the tensors' shapes (one program call for all k at once)."""
        k, nodes = rows.shape[0], self.layout.nodes
        if len(nodes) == 1:  # the common case, without splitting and joining
            out = program([rows.reshape(nodes[0].shape)] if k == 1 else
                          [rows.reshape((k,) + nodes[0].shape)], None if k == 1 else k)
            return np.asarray(out[0]).reshape(k, -1)
        parts = [p.reshape((k,) + t.shape) for t, p in
                 zip(nodes, np.split(rows, self.layout.offsets, axis=1))]
        out = program([p[0] for p in parts]) if k == 1 else program(parts, k)
        return np.concatenate([np.asarray(a).reshape(k, -1) for a in out], axis=1)

    def _norm_estimate(self) -> float:
        """|H u| / |u| for a fixed random u: at most |H|_2, about |H|_F / sqrt(n)."""
        n = self.layout.size
        if n == 0:
            return 1.0
        u = np.random.default_rng(n).normal(size=(1, n)).astype(self.layout.dtype)
        return float(np.linalg.norm(self._apply_product(u)) / np.linalg.norm(u))

    def _certificate(self, flat_x, flat_v, applied):
        """The largest relative residual and condition estimate over the batch."""
        if flat_v.shape[1] == 0:
            return 0.0, 0.0
        with np.errstate(all="ignore"):
            v_norm = _row_norms(flat_v)
            v_norm[v_norm == 0] = 1.0
            certificate = float(np.max(_row_norms(applied - flat_v) / v_norm))
            condition = float(np.max(self.norm * _row_norms(flat_x) / v_norm))
        return certificate, condition

    def _cg(self, flat_v, notes):
        """CG on exact products, one right-hand side at a time."""
        solutions, stops = [], []
        for row in flat_v:
            result = cg(lambda x: self._apply_product(x[None])[0], row, tol=self.cg_tol,
                        eps=0.0, max_iter=self.cg_max_iter or 10 * max(row.size, 1),
                        stop_on_negative_curvature=False)
            solutions.append(result.x)
            stops.append(result.stop)
            notes.append(f"cg: {result.iterations} iterations, stopped on {result.stop}")
        failed = [s for s in stops if s != "residual tolerance"]
        return np.stack(solutions), (failed[0] if failed else stops[-1] if stops else None)

    def _advice(self, stop) -> str:
        if stop is not None and "curvature" in stop:
            return (f"{self.label} is indefinite here and CG broke down: try method='linear' "
                    f"or 'dense'")
        return ADVICE.format(label=self.label)

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
        seen = list(self.setup_pivots) + list(pivots)
        if seen:
            where, worst = max(seen, key=lambda p: p[1])
            found.append(f"the solve closest to singular was {where} (condition {worst:.3g})")
        found.append(self._spectrum())
        return CertificateError(
            f"inverse_hvp ({self.method}) refused: " + "; ".join(f for f in found if f)
            + f". {self._advice(stop)}", certificate=certificate, tolerance=tolerance,
            condition=condition)

    def _spectrum(self) -> str:
        """The rank and extreme singular values of the dense matrix, when it is small."""
        n = self.layout.size
        if not 0 < n <= DIAGNOSE_LIMIT:
            return ""
        matrix = self._apply_product(np.eye(n, dtype=self.layout.dtype))
        singular = np.linalg.svd(matrix, compute_uv=False)
        rank = int(np.sum(singular > singular[0] * n * np.finfo(matrix.dtype).eps))
        return (f"{self.label} has rank {rank} of {n} (singular values from {singular[0]:.3g} "
                f"down to {singular[-1]:.3g})")


def _row_norms(rows) -> np.ndarray:
    return np.sqrt(np.einsum("ij,ij->i", rows, rows))


def inverse_hessian(f, wrt, feed, *, method: str = "auto", rtol: float = RTOL,
                    max_condition: float | None = None, cg_tol: float = 1e-12,
                    cg_max_iter: int | None = None, kink_tol: float = KINK_TOL,
                    tear_limit: int = TEAR_LIMIT, r: float = 1e-4,
                    dense_bytes: int = DENSE_BYTES, output=None) -> InverseHessian:
    """H^-1 at the point ``feed``, for the Hessian H of scalar ``f`` in ``wrt``: built,
    compiled and factored once; call it with v (or a batch of v's) for a certified
    :class:`InverseHVP`.

    Routes: ``linear`` inverts the HVP graph (linear in v) node by node, with fused solves
    and torn loops (exact); ``dense`` forms H by batched HVPs and factors it (Cholesky when
    positive definite, else LU; refused when singular), if its matrices fit in
    ``dense_bytes``; ``cg`` runs conjugate gradient on exact HVPs. ``auto`` takes the
    cheapest exact route: ``linear`` unless its cheapest tear needs as many probes as
    forming H would, then ``low-rank`` (given the model's ``output`` z with fewer entries r
    than parameters n, when H = J^T D J + c I exactly: a model linear in wrt with an L2
    term, J = dz/dw; an r x r solve by the push-through identity), then ``dense``, and
    ``cg`` only when none fits; ``.method`` says which and why. Also: ``functional`` (the
    R-operator of the functional inverse of the gradient), ``sympy`` (tiny graphs), ``fd``
    (finite differences of the functional inverse, to show how poor that is: pass
    ``rtol=np.inf`` to see its answers).

    Every answer is certified: |H x - v| / |v| <= max(rtol, 16 eps kappa), with kappa =
    |H| |x| / |v| <= max_condition (default 1e-4 / eps); otherwise CertificateError.

    >>> import graph as G, rop
    >>> x = G.var("x", (2,))
    >>> H_inv = rop.inverse_hessian(G.sum(x ** 3), x, {"x": [1.0, 2.0]})
    >>> H_inv([6.0, 6.0]).x, H_inv([6.0, 12.0]).x
    (array([1. , 0.5]), array([1., 1.]))
    >>> H_inv([[6.0, 6.0], [6.0, 12.0]], batched=True).x
    array([[1. , 0.5],
           [1. , 1. ]])
    """
    from graph.traverse import match_variables

    from .hessian import hvp

    targets, single = as_list(wrt)
    targets = match_variables([f], targets, "inverse_hessian")
    return InverseHessian(lambda ts, ds: hvp(f, ts, ds), f, targets, feed, method,
                          rtol=rtol, max_condition=max_condition, cg_tol=cg_tol,
                          cg_max_iter=cg_max_iter, kink_tol=kink_tol, tear_limit=tear_limit,
                          r=r, dense_bytes=dense_bytes, output=output)._single(single)
