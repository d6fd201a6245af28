"""Conjugate gradient as Martens (2010) runs it inside Hessian-free optimization."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np


@dataclass
class CGResult:
    """The solution of B x = b and how CG got there."""

    x: np.ndarray
    iterations: int
    stop: str  # "phi test", "residual tolerance", "max iterations", "non-positive curvature"
    phi: list = field(default_factory=list)  # phi(x_i) = x_i^T B x_i / 2 - b^T x_i, i = 0..
    residuals: list = field(default_factory=list)  # ||b - B x_i||
    iterates: list = field(default_factory=list)  # (i, x_i) at i = ceil(5 * 1.3**j), and last
    curvature: float = float("nan")  # p^T B p at the last step taken (or the one refused)


def save_points(limit):
    """Martens' backtracking points ceil(5 * 1.3**j) up to ``limit``."""
    points, j = [], 0
    while (p := math.ceil(5 * 1.3**j)) <= limit:
        if not points or p != points[-1]:
            points.append(p)
        j += 1
    return points


def cg(matvec: Callable, b, x0=None, precond=None, *, max_iter: int = 250, tol: float = 0.0,
       eps: float = 5e-4, min_window: int = 10, window_fraction: float = 0.1,
       stop_on_negative_curvature: bool = True) -> CGResult:
    """Preconditioned CG on B x = b with Martens' stopping rules.

    Stops at iteration i when i > k, phi(x_i) < 0 and (phi(x_i) - phi(x_{i-k})) / phi(x_i)
    < k eps, with k = max(min_window, ceil(window_fraction i)) (the "phi test": progress on
    the quadratic has stalled); or when ||b - B x|| <= tol ||b||; or after ``max_iter``
    iterations; or on non-positive curvature p^T B p <= 0, keeping the last iterate (with
    ``stop_on_negative_curvature=False`` only an exactly zero curvature stops it, so that
    an indefinite but nonsingular B can still be solved).

    Args:
        matvec: x -> B x on flat arrays.
        b: right-hand side (flat array).
        x0: starting point (zeros by default); Martens warm-starts from 0.95 x_previous.
        precond: the diagonal of the preconditioner M (an array), or a function r -> M^-1 r.

    >>> B = np.array([[4.0, 1.0], [1.0, 3.0]])
    >>> result = cg(lambda x: B @ x, np.array([1.0, 2.0]), tol=1e-12)
    >>> np.allclose(B @ result.x, [1.0, 2.0]), result.stop
    (True, 'residual tolerance')
    """
    b = np.asarray(b)
    b = b.astype(np.result_type(b.dtype, np.float16), copy=False)  # float32 stays float32
    x = np.zeros_like(b) if x0 is None else np.array(x0, dtype=b.dtype)
    apply_m = _preconditioner(precond, b.dtype)
    r = b - matvec(x) if x0 is not None else b.copy()
    y = apply_m(r)
    p = y.copy()
    ry = float(r @ y)
    b_norm = float(np.linalg.norm(b)) or 1.0
    result = CGResult(x, 0, "max iterations", [-0.5 * float(x @ (b + r))],
                      [float(np.linalg.norm(r))])
    saves = set(save_points(max_iter))
    for i in range(1, max_iter + 1):
        bp = matvec(p)
        curvature = float(p @ bp)
        result.curvature = curvature
        if not curvature > 0 and (stop_on_negative_curvature or not curvature < 0):
            result.stop = "non-positive curvature"
            break
        alpha = ry / curvature
        x = x + alpha * p
        r = r - alpha * bp
        y = apply_m(r)
        ry, ry_old = float(r @ y), ry
        p = y + (ry / ry_old) * p
        phi = -0.5 * float(x @ (b + r))  # = x^T B x / 2 - b^T x, since B x = b - r
        result.phi.append(phi)
        result.residuals.append(float(np.linalg.norm(r)))
        result.iterations, result.x = i, x
        if i in saves:
            result.iterates.append((i, x.copy()))
        k = max(min_window, math.ceil(window_fraction * i))
        if tol > 0 and result.residuals[-1] <= tol * b_norm:
            result.stop = "residual tolerance"
            break
        if eps > 0 and i > k and phi < 0 and (phi - result.phi[i - k]) / phi < k * eps:
            result.stop = "phi test"
            break
    if not result.iterates or result.iterates[-1][0] != result.iterations:
        result.iterates.append((result.iterations, result.x.copy()))
    return result


def _preconditioner(precond, dtype):
    if precond is None:
        return lambda r: r
    if callable(precond):
        return precond
    diagonal = np.asarray(precond, dtype=dtype)
    return lambda r: r / diagonal
