"""rop.optim: Newton's quadratic convergence, the first-order baselines, the loop's stops,
progress line and non-finite errors, and the examples built on them."""

import itertools
import math
import sys
import types

import numpy as np
import pytest
import rosenbrock
import scipy.optimize
import xor_network
from optim_problems import least_squares

import graph as G
from rop.optim import (
    Adam,
    GradientDescent,
    Newton,
    NonFiniteError,
    Objective,
    OptimizeResult,
    minimize,
)


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
    # reaching f < 1e-10 pins the point only to about sqrt(1e-10) along the flat valley
    np.testing.assert_allclose(newton["path"][-1], [1.0, 1.0], atol=1e-4)
    assert len(hf["path"]) == hf["iterations"] + 1
    figure = rosenbrock.plot(runs, str(tmp_path / "rosenbrock.png"))
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        assert figure is None
    else:
        assert (tmp_path / "rosenbrock.png").stat().st_size > 0
