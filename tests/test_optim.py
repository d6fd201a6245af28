"""rop.optim: the objective's products against closed forms, Martens' Hessian-free method
(Levenberg-Marquardt rule, mini-batch rotation, Rosenbrock), Newton's quadratic convergence,
the first-order baselines, and the loop's stops, progress line and non-finite errors."""

import itertools
import math
import sys
import types
from pathlib import Path

import numpy as np
import pytest
import scipy.optimize

import graph as G
from rop.models import flat, mlp, mlp_layers, mlp_values
from rop.optim import (COST, Adam, GradientDescent, HessianFree, Newton, NonFiniteError,
                       Objective, OptimizeResult, levenberg_marquardt, minimize)

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "examples"))

import rosenbrock
import xor_network

EXACT = 1e-12  # products that are exact up to round-off on O(1) data


def least_squares(n_examples=12, seed=1):
    """f(w) = (1/m) Σ_i (x_i·w - y_i)^2, with its data: (objective, X, y)."""
    rng = np.random.default_rng(seed)
    X, y = rng.normal(size=(n_examples, 3)), rng.normal(size=n_examples)
    w = G.var("w", (3,))

    def build(m):
        x, t = G.var("x", (m, 3)), G.var("y", (m,))
        z = x @ w
        return G.mean((z - t) ** 2), z

    return Objective(build, [w], {"x": X, "y": y}), X, y


def regression_net(n_examples=40, batch_size=None, seed=2):
    """A 2-6-1 tanh net fitting a smooth function, mean squared error: (objective, θ0)."""
    rng = np.random.default_rng(seed)
    X = rng.uniform(-1.5, 1.5, size=(n_examples, 2))
    Y = (np.sin(2 * X[:, 0]) + 0.5 * X[:, 1] ** 2)[:, None]
    layers = mlp_layers([2, 6, 1])

    def build(m):
        z = mlp(G.var("x", (m, 2)), layers)
        return G.mean((z - G.var("y", (m, 1))) ** 2), z

    objective = Objective(build, flat(layers), {"x": X, "y": Y})
    theta0 = objective.flatten([a for pair in mlp_values([2, 6, 1], rng) for a in pair])
    return objective, theta0


def rosenbrock_objective():
    w = G.var("w", (2,))
    return Objective.from_graph((1 - w[0]) ** 2 + 100 * (w[1] - w[0] ** 2) ** 2, [w])


# the objective


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


def convex_problem():
    """f(x) = Σ softplus(A x) + |x|^2/2 - c·x (strictly convex) and its minimizer, from the
    numpy gradient and Jacobian by scipy (independent of rop)."""
    A = np.array([[2.0, 0.5, 0.0], [0.5, 1.0, 0.3], [-1.0, 0.3, 1.5]])
    c = np.array([1.0, -2.0, 3.0])
    x = G.var("x", (3,))
    f = G.sum(G.softplus(G.const(A) @ x)) + 0.5 * G.sum(x * x) - G.sum(G.const(c) * x)

    def sigmoid(z):
        return 1 / (1 + np.exp(-z))

    def jacobian(v):
        s = sigmoid(A @ v)
        return A.T @ np.diag(s * (1 - s)) @ A + np.eye(3)

    solution = scipy.optimize.root(lambda v: A.T @ sigmoid(A @ v) + v - c, np.zeros(3),
                                   jac=jacobian, tol=1e-15)
    return Objective.from_graph(f, [x]), solution.x


def test_newton_by_exact_inverse_hvp_converges_quadratically():
    objective, minimizer = convex_problem()
    path = []
    result = minimize(objective, [3.0, 3.0, -3.0], Newton(), max_iter=30, gtol=1e-13,
                      callback=lambda theta, record: path.append(theta))
    digits = [-math.log10(max(np.max(np.abs(t - minimizer)), 1e-300)) for t in path]
    # quadratic convergence: once a digit is right, the number of correct digits about
    # doubles each step (until round-off, ~14 digits here, caps it)
    pairs = [(a, b) for a, b in itertools.pairwise(digits) if 1 <= a < 13]
    assert len(pairs) >= 2, digits
    assert all(b >= min(1.8 * a, 13) for a, b in pairs), digits
    assert all(r["method"] == "linear" and r["certificate"] < 1e-12
               for r in result.history[1:])


def test_newton_damped_and_cg_variants_still_converge():
    objective, minimizer = convex_problem()
    for optimizer in (Newton(method="cg"), Newton(damping=0.1)):
        result = minimize(objective, np.zeros(3), optimizer, max_iter=100, gtol=1e-10)
        assert result.reason == "gradient tolerance"
        np.testing.assert_allclose(result.theta, minimizer, atol=1e-9)
        assert result.history[1]["method"].startswith("cg")


# first-order baselines


@pytest.mark.parametrize("optimizer", [GradientDescent(learning_rate=0.1),
                                       GradientDescent(learning_rate=0.05, momentum=0.5),
                                       Adam(learning_rate=0.05),
                                       Adam(learning_rate=0.05, batch_size=4)],
                         ids=["gd", "momentum", "adam", "adam-minibatch"])
def test_first_order_methods_decrease_a_convex_loss(optimizer):
    objective, X, y = least_squares()
    best = np.mean((X @ np.linalg.lstsq(X, y, rcond=None)[0] - y) ** 2)
    result = minimize(objective, np.zeros(3), optimizer, max_iter=300)
    start = objective.value(np.zeros(3))
    assert objective.value(result.theta) - best < 1e-3 * (start - best)


def test_adam_first_step_moves_each_coordinate_by_the_learning_rate():
    # bias-corrected m = g and v = g^2 after one step: the step is -lr g / (|g| + eps)
    objective, _, _ = least_squares()
    gradient = objective.gradient(np.zeros(3))
    result = minimize(objective, np.zeros(3), Adam(learning_rate=0.05), max_iter=1)
    np.testing.assert_allclose(result.theta, -0.05 * gradient / (np.abs(gradient) + 1e-8),
                               rtol=1e-14)


# the loop


def test_callback_sees_every_record_and_can_stop_the_run():
    objective, _, _ = least_squares()
    seen = []

    def callback(theta, record):
        seen.append(record["iteration"])
        return record["iteration"] == 3

    result = minimize(objective, np.zeros(3), GradientDescent(0.01), max_iter=50,
                      callback=callback)
    assert (result.reason, result.iterations, seen) == ("callback", 3, [0, 1, 2, 3])
    assert isinstance(result, OptimizeResult) and len(result.history) == 4


@pytest.mark.parametrize("limit, reason", [
    ({"max_iter": 7}, "max iterations"),
    ({"max_cost": 5.5}, "cost budget"),
    ({"max_time": 0.0}, "time budget"),
    ({"gtol": 1e-3}, "gradient tolerance"),
    ({"target_loss": 0.45}, "target loss"),  # from 0.514, the least-squares optimum 0.391
])
def test_budget_and_tolerance_stops(limit, reason):
    objective, _, _ = least_squares()
    result = minimize(objective, np.zeros(3), GradientDescent(0.1), **{"max_iter": 500, **limit})
    last = result.history[-1]
    assert result.reason == reason
    assert result.iterations == last["iteration"] == len(result.history) - 1
    if reason == "max iterations":
        assert result.iterations == 7
    if reason == "cost budget":  # one gradient per step: stops at the first count >= 5.5
        assert [r["cost"] for r in result.history[-2:]] == [5.0, 6.0]
    if reason == "gradient tolerance":
        assert last["gradient_norm"] <= 1e-3 < result.history[-2]["gradient_norm"]
    if reason == "target loss":
        assert last["loss"] <= 0.45 < result.history[-2]["loss"]
    np.testing.assert_array_equal(result.params["w"], result.theta)


def test_non_finite_loss_stops_with_the_last_good_parameters():
    x = G.var("x", (2,))
    objective = Objective.from_graph(G.sum(x * x) - G.sum(G.log(x)), [x])
    # the gradient is 2x - 1/x = (1, 1) at x = 1: a step of 2 lands on x = -1, log(-1) = NaN
    with pytest.raises(NonFiniteError, match="at iteration 1 the loss is nan") as caught:
        minimize(objective, np.ones(2), GradientDescent(learning_rate=2.0), max_iter=10)
    error = caught.value
    assert isinstance(error, FloatingPointError) and isinstance(error, G.GraphError)
    np.testing.assert_array_equal(error.last_good, [1.0, 1.0])
    np.testing.assert_array_equal(error.result.params["x"], [1.0, 1.0])
    assert [r["iteration"] for r in error.history] == [0]
    assert error.record["iteration"] == 1


def test_non_finite_starting_point_has_no_last_good():
    x = G.var("x", (2,))
    objective = Objective.from_graph(G.sum(G.log(x)), [x])
    with pytest.raises(NonFiniteError, match="at iteration 0") as caught:
        minimize(objective, -np.ones(2), GradientDescent(0.1))
    assert caught.value.last_good is None and caught.value.history == []


def test_progress_line_is_printed_when_requested(capsys, monkeypatch):
    objective, _, _ = least_squares()
    minimize(objective, np.zeros(3), GradientDescent(0.1), max_iter=5)
    assert capsys.readouterr() == ("", "")
    minimize(objective, np.zeros(3), GradientDescent(0.1), max_iter=5, progress=2)
    lines = capsys.readouterr().err.splitlines()
    assert [line.split()[1] for line in lines] == ["0/5", "2/5", "4/5", "5/5"]
    assert all(line.startswith("GradientDescent") and "loss" in line for line in lines)
    monkeypatch.setitem(sys.modules, "tqdm", None)  # not installed: a plain line
    minimize(objective, np.zeros(3), GradientDescent(0.1), max_iter=5, progress=True)
    assert "5/5" in capsys.readouterr().err


def test_progress_uses_tqdm_when_installed(monkeypatch):
    bars = []

    class FakeBar:
        def __init__(self, total, desc):
            self.n, self.total, self.desc, self.closed, self.postfix = 0, total, desc, False, ""
            bars.append(self)

        def update(self, k):
            self.n += k

        def set_postfix_str(self, text):
            self.postfix = text

        def close(self):
            self.closed = True

    monkeypatch.setitem(sys.modules, "tqdm", types.SimpleNamespace(tqdm=FakeBar))
    objective, _, _ = least_squares()
    minimize(objective, np.zeros(3), Adam(0.1), max_iter=6, progress=True)
    (bar,) = bars
    assert (bar.n, bar.total, bar.desc, bar.closed) == (6, 6, "Adam", True)
    assert bar.postfix.startswith("loss")


# the examples


def test_xor_network_example_learns_the_truth_table():
    runs = xor_network.main(gd_iterations=1000, hf_iterations=40)
    for name, run in runs.items():
        assert run["accuracy"] == 1.0, (name, run)
        assert run["reason"] == "target loss", (name, run)


def test_rosenbrock_example(tmp_path):
    runs = rosenbrock.main(gd_budget=2000, figure=False)
    gd, hf, newton = runs["gradient descent"], runs["Hessian-free"], runs["Newton"]
    assert hf["reached"] and newton["reached"]
    assert not gd["reached"] and gd["iterations"] == 2000
    assert newton["iterations"] < 40 and hf["iterations"] < 60
    np.testing.assert_allclose(newton["path"][-1], [1.0, 1.0], atol=1e-4)
    assert len(hf["path"]) == hf["iterations"] + 1
    figure = rosenbrock.plot(runs, str(tmp_path / "rosenbrock.png"))
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        assert figure is None
    else:
        assert (tmp_path / "rosenbrock.png").stat().st_size > 0
