"""The digits example (examples/digits_hf.py) runs and its comparison is sound: one common
start, every method lowers the training loss and classifies the test set well, costs and
times only grow, and SciPy's calls are charged as rop.optim.Objective charges its own."""


import numpy as np
import pytest

pytest.importorskip("sklearn")

import digits_hf

BUDGET = 300  # gradient-equivalents: every method is past 95 % test accuracy by then


@pytest.fixture(scope="module")
def runs():
    return digits_hf.main(budget=BUDGET, plot=False)


def test_every_method_runs_from_the_common_start(runs):
    assert set(runs) == set(digits_hf.METHODS)
    starts = [run["history"][0]["loss"] for run in runs.values()]
    assert np.allclose(starts, starts[0], rtol=1e-12)
    assert starts[0] > 2.0  # about log 10: the untrained net guesses


def test_every_method_lowers_the_training_loss(runs):
    for name, run in runs.items():
        history = run["history"]
        assert digits_hf.best_loss(history, BUDGET) < 0.05 * history[0]["loss"], name


def test_every_method_classifies_the_test_set(runs):
    for name, run in runs.items():
        assert run["accuracy"] > 0.9, (name, run["accuracy"])


def test_histories_grow_in_cost_and_time(runs):
    for name, run in runs.items():
        costs = [r["cost"] for r in run["history"]]
        times = [r["time"] for r in run["history"]]
        assert np.all(np.diff(costs) > 0), name
        assert np.all(np.diff(times) >= 0), name
        # a run stops at its first record past the budget: at most one step beyond it
        assert costs[-2] < BUDGET, name


def test_methods_end_close_to_one_another(runs):
    """At equal budget no method is far behind the best one (measured: within 15 %)."""
    losses = {name: digits_hf.best_loss(run["history"], BUDGET) for name, run in runs.items()}
    assert max(losses.values()) < 1.5 * min(losses.values()), losses


def test_hessian_free_beats_adam_at_equal_budget(runs):
    """Measured with the tuned settings on six seeded splits and starts: at 300 (and 1000)
    gradient-equivalents HF is 1-3 % lower than Adam every time. What is not so, and so not
    asserted: HF below Adam at 100 (Adam leads there on every seed), or HF below L-BFGS at
    any budget up to 1000 (L-BFGS leads on every seed)."""
    hf = digits_hf.best_loss(runs["HessianFree"]["history"], BUDGET)
    adam = digits_hf.best_loss(runs["Adam"]["history"], BUDGET)
    assert hf < adam, (hf, adam)


def counted_quadratic(method_name, **budget):
    """A CountedScipyMethod minimizing |x - 1|^2 in R^3, with the points fun, jac and
    hessp were asked at."""
    asked = {"fun": [], "jac": [], "hessp": 0}

    def fun(x):
        asked["fun"].append(tuple(x))
        return float(np.sum((x - 1) ** 2))

    def jac(x):
        asked["jac"].append(tuple(x))
        return 2 * (x - 1)

    def hessp(x, p):
        asked["hessp"] += 1
        return 2 * p

    method = digits_hf.CountedScipyMethod(method_name, **budget)
    result = method(fun, np.zeros(3), jac=jac, hessp=hessp if method_name == "Newton-CG" else None)
    return method, result, asked


@pytest.mark.parametrize("name", ["L-BFGS-B", "Newton-CG"])
def test_scipy_calls_are_charged_like_objective_calls(name):
    method, result, asked = counted_quadratic(name)
    assert np.allclose(result.x, 1.0)
    with_gradient = set(asked["jac"])
    loss_only = set(asked["fun"]) - with_gradient
    expected = len(with_gradient) + len(loss_only) / 3 + 2 * asked["hessp"]
    assert method.cost == pytest.approx(expected)
    assert method.history[-1]["cost"] <= method.cost


def test_scipy_run_stops_at_the_cost_budget():
    method, result, _ = counted_quadratic("Newton-CG", max_cost=2.5)
    assert method.history[0]["cost"] == 1.0
    assert all(r["cost"] < 2.5 + 4 for r in method.history)  # 2.5, then one step at most
    assert np.array_equal(result.x, method._last)


def test_best_loss_reads_the_budget():
    history = [{"loss": 3.0, "cost": 1.0, "time": 0.0}, {"loss": 1.0, "cost": 5.0, "time": 1.0},
               {"loss": 2.0, "cost": 9.0, "time": 2.0}]
    assert digits_hf.best_loss(history, 4) == 3.0
    assert digits_hf.best_loss(history, 10) == 1.0
    assert digits_hf.best_loss(history, 1.5, key="time") == 1.0
    assert np.isnan(digits_hf.best_loss(history, 0.5))
