"""The numeric routes of inverse_hessian, which form a matrix once at the point: H itself
(by batched HVPs, then Cholesky or LU), or the small system of the push-through identity
when H is low rank plus a multiple of the identity (docs/math.md §11)."""

from __future__ import annotations

import numpy as np

from graph import evaluate, ops
from graph.errors import CertificateError
from graph.leaves import var
from graph.substitute import substitute
from graph.traverse import as_list, fresh_names

from .batching import dense_map, flatten, jacobian
from .hessian import hessian

DIAGNOSE_LIMIT = 1000  # a refusal forms H to report its rank up to this many parameters
ADVICE = ("{label} is singular or nearly so at this point: add damping or a regularizer "
          "(lambda/2 |w|^2 makes it {label} + lambda I), move to another point, or solve "
          "on the subspace where it is invertible")


def dense_inverse(product, targets, directions, feed, layout, label="H"):
    """(H^-1, note): H formed by batched products of the basis vectors, then inverted once:
    by Cholesky when positive definite, else by LU; refused when numerically singular."""
    n = layout.size
    H = evaluate(dense_map(flatten(product(targets, directions)), directions, layout), feed)
    H = 0.5 * (H + H.T)  # symmetric up to rounding: make it exactly so
    eps = np.finfo(H.dtype).eps
    try:
        pivots = np.diag(np.linalg.cholesky(H)) ** 2
        if np.min(pivots, initial=np.inf) <= n * eps * np.max(np.abs(np.diag(H)), initial=0.0):
            raise np.linalg.LinAlgError("a pivot at round-off level")
        # Cholesky proved it positive definite: one LU inverse (2 n^3) is then cheaper than
        # inverting the factor and multiplying (4 n^3), and as accurate here
        inverse = np.linalg.inv(H)
        return 0.5 * (inverse + inverse.T), (
            f"formed {label} ({n}x{n}) by batched products; Cholesky (positive definite, "
            f"smallest pivot {np.min(pivots):.3g})")
    except np.linalg.LinAlgError:
        pass
    with np.errstate(all="ignore"):
        try:
            inverse = np.linalg.inv(H)
        except np.linalg.LinAlgError:
            inverse = np.full_like(H, np.inf)
        condition = np.linalg.norm(H, 1) * np.linalg.norm(inverse, 1)
    if not condition < 1 / (n * eps):
        eigenvalues = np.linalg.eigvalsh(H)
        rank = int(np.sum(np.abs(eigenvalues) > np.max(np.abs(eigenvalues)) * n * eps))
        raise CertificateError(
            f"inverse_hvp (dense) refused: {label} has rank {rank} of {n} (eigenvalues from "
            f"{eigenvalues[0]:.3g} to {eigenvalues[-1]:.3g}, condition {condition:.3g}). "
            + ADVICE.format(label=label), condition=float(condition))
    inertia = "" if n > DIAGNOSE_LIMIT else \
        f": {int(np.sum(np.linalg.eigvalsh(H) < 0))} negative eigenvalues"
    return inverse, (f"formed {label} ({n}x{n}) by batched products; LU (not positive "
                     f"definite{inertia}, condition {condition:.3g})")


def low_rank_inverse(f, output, targets, feed, layout, product):
    """((J, D, K^-1, c), note) when H = J^T D J + c I exactly at this point, J the (r, n)
    Jacobian of ``output`` (r < n entries), D its curvature d^2 f / d output^2 and c a number
    (an L2 term, or damping): then, by the push-through identity,
    H^-1 v = (v - J^T (c I + D J J^T)^-1 D J v) / c, an r x r solve. Else (None, why).
    ``product`` applies H to rows of flat vectors, to check the form on two probes."""
    if output is None:
        return None, "needs the model's output (output=) to factor through"
    n, r = layout.size, output.size
    jacobian_node = ops.reshape(ops.concatenate([ops.reshape(b, shape=(r, -1)) for b in
                                                 as_list(jacobian(output, targets))[0]],
                                                axis=1), shape=(r, n))
    z = var(fresh_names([f, output], "output", 1)[0], output.shape, output.dtype)
    curvature = substitute(hessian(substitute(f, {output: z}), z), {z: output})
    J, D = evaluate([jacobian_node, curvature], feed)
    probes = np.random.default_rng(r).normal(size=(2, n)).astype(layout.dtype)
    rest = product(probes) - (probes @ J.T) @ D @ J  # H u - J^T D J u
    c = float(np.sum(rest * probes) / np.sum(probes * probes))
    if c == 0 or not np.allclose(rest, c * probes, rtol=1e-9,
                                 atol=1e-9 * np.max(np.abs(rest))):
        return None, (f"H is not J^T D J + c I here ({r} outputs, {n} parameters): the rest "
                      f"of the curvature is not a multiple of the identity")
    K = c * np.eye(r) + D @ (J @ J.T)
    with np.errstate(all="ignore"):
        inverse = np.linalg.inv(K)
        condition = np.linalg.norm(K, 1) * np.linalg.norm(inverse, 1)
    if not condition < 1 / (r * np.finfo(K.dtype).eps):
        return None, f"c I + D J J^T is singular (condition {condition:.3g})"
    return (J, D, inverse, c), (f"low rank plus a multiple of I (push-through identity): H = "
                                f"J^T D J + {c:.3g} I with J {r}x{n}; an {r}x{r} system, "
                                f"condition {condition:.3g}")
