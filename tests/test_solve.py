"""rop.cg as Martens runs it: solves SPD systems, and honours each of its stopping rules."""

import math

import numpy as np
import pytest

import rop
from rop.cg import save_points


def spd(n, cond, rng):
    """A random symmetric positive definite matrix with the given condition number."""
    q, _ = np.linalg.qr(rng.normal(size=(n, n)))
    return q @ np.diag(np.geomspace(1.0, cond, n)) @ q.T


@pytest.mark.parametrize("seed", range(5))
def test_solves_random_spd_systems_to_tolerance(seed):
    rng = np.random.default_rng(seed)
    A, b = spd(30, 1e3, rng), rng.normal(size=30)
    result = rop.cg(lambda x: A @ x, b, tol=1e-10, eps=0.0, max_iter=500)
    assert result.stop == "residual tolerance"
    assert np.linalg.norm(A @ result.x - b) <= 1e-10 * np.linalg.norm(b)
    np.testing.assert_allclose(result.x, np.linalg.solve(A, b), rtol=1e-6)
    # the histories are what they claim: phi(x_i) and ||b - A x_i|| at every iteration
    x = result.x
    assert math.isclose(result.phi[-1], 0.5 * x @ A @ x - b @ x, rel_tol=1e-9)
    assert math.isclose(result.residuals[-1], np.linalg.norm(b - A @ x), rel_tol=1e-6,
                        abs_tol=1e-12)
    assert all(a >= b - 1e-12 for a, b in zip(result.phi, result.phi[1:]))  # monotone


def test_phi_test_stops_when_progress_on_the_quadratic_stalls():
    # a well-conditioned part that CG solves at once, and a slow part that hardly moves phi
    rng = np.random.default_rng(1)
    d = np.concatenate([np.linspace(1, 10, 50), np.geomspace(1e-6, 1e-3, 150)])
    b = np.concatenate([rng.normal(size=50), 1e-4 * rng.normal(size=150)])
    result = rop.cg(lambda x: d * x, b, eps=5e-4, max_iter=250)
    assert result.stop == "phi test"
    i = result.iterations
    k = max(10, math.ceil(0.1 * i))
    phi = result.phi
    assert i > k and phi[i] < 0 and (phi[i] - phi[i - k]) / phi[i] < k * 5e-4
    # ... and it had not held one iteration earlier (it stops at the first i where it holds)
    j, kj = i - 1, max(10, math.ceil(0.1 * (i - 1)))
    assert not (j > kj and phi[j] < 0 and (phi[j] - phi[j - kj]) / phi[j] < kj * 5e-4)


def test_max_iterations_and_stored_iterates():
    rng = np.random.default_rng(2)
    A, b = spd(100, 1e8, rng), rng.normal(size=100)
    result = rop.cg(lambda x: A @ x, b, eps=0.0, max_iter=40)
    assert result.stop == "max iterations" and result.iterations == 40
    martens = sorted({math.ceil(5 * 1.3**j) for j in range(20)} & set(range(1, 41)))
    assert save_points(40) == martens == [5, 7, 9, 11, 15, 19, 25, 32]
    assert [i for i, _ in result.iterates] == martens + [40]  # and the last one
    # each stored iterate is the one CG had at that step: rerunning with fewer steps agrees
    for i, x in result.iterates:
        short = rop.cg(lambda v: A @ v, b, eps=0.0, max_iter=i)
        np.testing.assert_array_equal(short.x, x)


def test_negative_curvature_stops_and_says_so():
    A = np.diag([1.0, 2.0, -3.0])
    b = np.array([1.0, 2.0, 1.0])
    result = rop.cg(lambda x: A @ x, b, max_iter=10)
    assert result.stop == "non-positive curvature" and result.curvature <= 0
    # the iterate kept is the last one before the bad direction, not a step along it
    assert np.all(np.isfinite(result.x))
    # without the stop, CG solves this indefinite but nonsingular system
    full = rop.cg(lambda x: A @ x, b, tol=1e-12, eps=0.0, max_iter=10,
                  stop_on_negative_curvature=False)
    np.testing.assert_allclose(full.x, np.linalg.solve(A, b), rtol=1e-10)


def test_warm_start_and_diagonal_preconditioner():
    rng = np.random.default_rng(3)
    scales = np.geomspace(1.0, 1e4, 50)
    A = np.diag(scales) + 0.01 * np.ones((50, 50))
    b = rng.normal(size=50)
    plain = rop.cg(lambda x: A @ x, b, tol=1e-8, eps=0.0, max_iter=1000)
    preconditioned = rop.cg(lambda x: A @ x, b, precond=np.diag(A), tol=1e-8, eps=0.0,
                            max_iter=1000)
    assert preconditioned.iterations < plain.iterations / 3
    exact = np.linalg.solve(A, b)
    warm = rop.cg(lambda x: A @ x, b, x0=0.95 * exact, precond=np.diag(A), tol=1e-8, eps=0.0)
    assert warm.iterations <= preconditioned.iterations
    np.testing.assert_allclose(warm.x, exact, rtol=1e-6)
