"""rop.optim: the objective's products against closed forms, and Martens' Hessian-free
method (Levenberg-Marquardt rule, mini-batch rotation, evaluation data, Rosenbrock)."""

import itertools
import types

import numpy as np
import pytest
from optim_problems import EXACT, least_squares, regression_net, rosenbrock_objective

import graph as G
from rop.optim import COST, HessianFree, Objective, levenberg_marquardt, minimize


def test_objective_products_match_closed_forms():
    objective, X, y = least_squares()
    w, v = np.array([0.3, -1.0, 2.0]), np.array([1.0, 2.0, -0.5])
    residual = X @ w - y
    hessian = 2 * X.T @ X / len(y)  # = the Gauss-Newton matrix: the model is linear
    assert objective.value(w) == pytest.approx(np.mean(residual**2), rel=EXACT)
    np.testing.assert_allclose(objective.gradient(w), 2 * X.T @ residual / len(y), rtol=EXACT)
    np.testing.assert_allclose(objective.hvp(w, v), hessian @ v, rtol=EXACT)
    np.testing.assert_allclose(objective.ggn_vp(w, v), hessian @ v, rtol=EXACT)
    batch = np.array([4, 7, 1])
    np.testing.assert_allclose(objective.gradient(w, batch),
                               2 * X[batch].T @ residual[batch] / 3, rtol=EXACT)
    per_example = (2 * residual[:, None] * X) ** 2
    np.testing.assert_allclose(objective.per_example_gradient_squares(w, batch),
                               per_example[batch].sum(axis=0), rtol=EXACT)


def test_objective_counts_gradient_equivalents():
    objective, _, _ = least_squares(n_examples=12)
    w = np.zeros(3)
    objective.value(w)
    objective.gradient(w)
    objective.hvp(w, w, np.arange(3))  # a quarter of the data
    objective.per_example_gradient_squares(w, np.arange(6))  # six single examples
    assert dict(objective.counts) == {"value": 1, "gradient": 7, "hvp": 1}
    expected = COST["value"] + COST["gradient"] + COST["hvp"] / 4 + 6 * COST["gradient"] / 12
    assert objective.cost == pytest.approx(expected)


def test_objective_flatten_round_trips():
    objective, _ = regression_net()
    theta = np.arange(objective.size, dtype=float)
    params = objective.unflatten(theta)
    assert [a.shape for a in params.values()] == [(2, 6), (6,), (6, 1), (1,)]
    np.testing.assert_array_equal(objective.flatten(params), theta)


def test_objective_rejects_a_build_that_ignores_params():
    w = G.var("w", (2,))
    objective = Objective(lambda m: (G.sum(G.var("w", (2,)) ** 2), None), [w])
    with pytest.raises(G.GraphError, match="does not depend on parameter"):
        objective.value(np.zeros(2))


def test_minibatch_rotation_covers_the_data():
    objective, _ = regression_net(n_examples=10)
    batches = objective.batches(3)
    first = [next(batches) for _ in range(4)]
    assert [list(b) for b in first[:2]] == [[0, 1, 2], [3, 4, 5]]
    assert sorted(set(np.concatenate(first))) == list(range(10))
    assert next(objective.batches(None)) is None


def test_hessian_free_rotates_its_curvature_batches(monkeypatch):
    objective, theta0 = regression_net(n_examples=40)
    seen = []
    product = objective.ggn_vp

    def spy(theta, v, batch=None):
        seen.append(tuple(batch))
        return product(theta, v, batch)

    monkeypatch.setattr(objective, "ggn_vp", spy)
    minimize(objective, theta0, HessianFree(batch_size=10, cg_max_iter=5), max_iter=4)
    batches = list(dict.fromkeys(seen))  # in order of first use
    assert all(len(b) == 10 for b in batches)
    assert len(batches) == 4 and sorted(sum(batches, ())) == list(range(40))


# Hessian-free


def test_levenberg_marquardt_follows_a_scripted_rho_sequence():
    rhos = [0.1, 0.5, 0.9, 0.9, float("nan"), -2.0, 0.25, 0.75, 0.76]
    # by hand: x3/2, keep, x2/3, x2/3, x3/2 (no evidence), x3/2, keep (edge), keep (edge), x2/3
    expected = [1.5, 1.5, 1.0, 2 / 3, 1.0, 1.5, 1.5, 1.5, 1.0]
    damping, got = 1.0, []
    for rho in rhos:
        damping = levenberg_marquardt(damping, rho)
        got.append(damping)
    np.testing.assert_allclose(got, expected, rtol=1e-15)


@pytest.mark.parametrize("evaluation_batch", ["martens", "curvature", "full"])
def test_hessian_free_decreases_the_loss_and_applies_the_lm_rule(evaluation_batch):
    objective, theta0 = regression_net()
    result = minimize(objective, theta0,
                      HessianFree(batch_size=10, evaluation_batch=evaluation_batch), max_iter=15)
    losses = [r["loss"] for r in result.history]
    assert all(b <= a for a, b in itertools.pairwise(losses))  # Armijo never accepts a rise
    assert losses[-1] < 0.1 * losses[0]
    steps = result.history[1:]
    assert steps[0]["damping"] == 1.0
    for before, after in itertools.pairwise(steps):
        assert after["damping"] == levenberg_marquardt(before["damping"], before["rho"])
    assert {"rho", "cg_iterations", "cg_stop", "cg_iterate", "step_size", "cost",
            "time"} <= set(steps[0])


@pytest.mark.parametrize("evaluation_batch", ["martens", "full"])
def test_hessian_free_measures_rho_against_the_undamped_model(evaluation_batch):
    objective, theta0 = regression_net()
    points = []
    result = minimize(objective, theta0,
                      HessianFree(batch_size=10, evaluation_batch=evaluation_batch),
                      max_iter=1, callback=lambda theta, record: points.append(theta))
    record = result.history[1]
    assert record["step_size"] == 1.0  # so that the step taken is the CG step p itself
    p, first_batch = points[1] - points[0], np.arange(10)
    gradient = objective.gradient(theta0)  # the model's gradient is the full data's
    model = gradient @ p + 0.5 * p @ objective.ggn_vp(theta0, p, first_batch)  # M(p) - f
    data = first_batch if evaluation_batch == "martens" else None  # where ρ's losses are
    actual = objective.value(points[1], data) - objective.value(theta0, data)
    assert record["rho"] == pytest.approx(actual / model, rel=1e-9)


def value_calls(monkeypatch, objective, optimizer, max_iter=1):
    """The batches (None: all the data) of every objective.value call of a short run."""
    seen, value = [], objective.value

    def spy(theta, batch=None):
        seen.append(None if batch is None else tuple(batch))
        return value(theta, batch)

    monkeypatch.setattr(objective, "value", spy)
    minimize(objective, regression_net()[1], optimizer, max_iter=max_iter)
    return seen


def test_hessian_free_evaluation_batch_chooses_the_data(monkeypatch):
    """One step, CG iterates kept at 5, 7, 9 and 10: "full" evaluates every loss on all the
    data, "martens" only ρ's two on the curvature batch, "curvature" also backtracking's;
    the line search's trials are on all the data in every mode."""
    first_batch = tuple(range(10))
    calls = {mode: value_calls(monkeypatch, regression_net()[0],
                               HessianFree(batch_size=10, cg_max_iter=10, cg_eps=0.0,
                                           preconditioner=False, evaluation_batch=mode))
             for mode in ("full", "martens", "curvature")}
    assert set(calls["full"]) == {None} and len(calls["full"]) >= 2  # backtracking, Armijo
    assert calls["martens"].count(first_batch) == 2  # f(θ) and f(θ + p) for ρ
    assert set(calls["martens"]) == {first_batch, None}
    assert calls["curvature"].count(first_batch) >= 3  # backtracking (2+) and f(θ) for ρ
    assert calls["curvature"][-1] is None  # Armijo's first trial, on all the data
    assert set(calls["curvature"]) == {first_batch, None}


def test_hessian_free_rejects_an_unknown_evaluation_batch():
    with pytest.raises(ValueError, match="evaluation_batch"):
        HessianFree(evaluation_batch="mini")


def test_hessian_free_feeds_cg_as_martens_does(monkeypatch):
    import rop.optim.hessian_free as hf

    calls, cg = [], hf.cg

    def spy(matvec, b, x0, precond, **options):
        calls.append((b, x0, precond, cg(matvec, b, x0, precond, **options)))
        return calls[-1][-1]

    objective, X, y = least_squares()
    monkeypatch.setattr(hf, "cg", spy)
    thetas = []
    result = minimize(objective, np.zeros(3), HessianFree(cg_max_iter=2), max_iter=3,
                      callback=lambda theta, record: thetas.append(theta))
    np.testing.assert_array_equal(calls[0][1], np.zeros(3))
    for k, (b, x0, precond, _) in enumerate(calls):
        if k:  # warm start from 0.95 x the previous CG solution
            np.testing.assert_allclose(x0, 0.95 * calls[k - 1][-1].x, rtol=1e-15)
        residual = X @ thetas[k] - y
        np.testing.assert_allclose(b, -2 * X.T @ residual / len(y), rtol=EXACT)
        fisher = np.mean((2 * residual[:, None] * X) ** 2, axis=0)
        damping = result.history[k + 1]["damping"]
        np.testing.assert_allclose(precond, (fisher + damping) ** 0.75, rtol=EXACT)


def test_hessian_free_backtracks_while_the_loss_improves():
    class Scripted:  # f(θ + x_i) read from a table keyed by θ's first entry
        def __init__(self, losses):
            self.losses = losses

        def value(self, theta, batch=None):
            return self.losses[int(theta[0])]

    def solution(n):
        iterates = [(i, np.full(1, float(i))) for i in range(n)]
        return types.SimpleNamespace(iterates=iterates)

    # iterates 0..3, losses 3, 1, 2, 4: from the last (4) back to 2, then 1; 3 is worse
    assert HessianFree()._backtrack(Scripted([3, 1, 2, 4]), np.zeros(1), solution(4))[0] == 1
    assert HessianFree()._backtrack(Scripted([3, 1, 0.5, 4]), np.zeros(1), solution(4))[0] == 2
    no_backtracking = HessianFree(backtracking=False)
    assert no_backtracking._backtrack(Scripted([3, 1, 2, 4]), np.zeros(1), solution(4))[0] == 3


def test_hessian_free_reaches_the_rosenbrock_minimum():
    result = minimize(rosenbrock_objective(), [-1.2, 1.0], HessianFree("hessian"),
                      max_iter=200, target_loss=1e-20)
    assert result.reason == "target loss"
    np.testing.assert_allclose(result.theta, [1.0, 1.0], rtol=0, atol=1e-8)


def test_hessian_free_gauss_newton_needs_an_output():
    with pytest.raises(G.GraphError, match="curvature='hessian'"):
        minimize(rosenbrock_objective(), [-1.2, 1.0], HessianFree(), max_iter=1)


# Newton
