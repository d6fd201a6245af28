"""The inverse-Hessian examples run and show what they claim: exact inverse-Hessian-vector
products to round-off, finite differences far behind, Newton far ahead of gradient descent."""


import inverse_hessian
import newton_rosenbrock
import numpy as np
import pytest


def tolerance(cond):
    """1e-8 relative, or what cond(H) allows (error ~ cond * eps, times 100 for the chain)."""
    return max(1e-8, 100 * cond * np.finfo(float).eps)


@pytest.fixture(scope="module")
def rows():
    return inverse_hessian.main(plot=False)


@pytest.fixture(scope="module")
def runs():
    return newton_rosenbrock.main(plot=False, gd_budget=5000)


def test_every_write_up_example_is_measured(rows):
    assert len(rows) == 10
    assert {row["kind"] for row in rows.values()} == {"smooth", "affine", "piecewise"}


def test_exact_route_matches_the_dense_solve(rows):
    for label, row in rows.items():
        assert row["linear"] <= tolerance(row["cond"]), (label, row)
        assert row["certificate"] <= tolerance(row["cond"]), (label, row)
        if row["functional"] is not None:  # the second exact route agrees where it exists
            assert row["functional"] <= tolerance(row["cond"]), (label, row)


def test_exact_route_reports_its_tears_and_fusions(rows):
    assert rows["sum x_i^3"]["notes"] == []
    assert any("tore the loop" in n for n in rows["Rosenbrock (-1.2, 1)"]["notes"])
    assert any("fused weighted Gram" in n for n in rows["linreg, X 9x4"]["notes"])
    assert any("diagonal system" in n for n in rows["tanh output layer"]["notes"])
    assert any("per-sample block" in n for n in rows["tanh hidden layer"]["notes"])


def test_functional_route_exists_on_the_chains(rows):
    for label in ("sum x_i^3", "Rosenbrock (1.1, 1.2)", "linreg, X 4x4", "leaky net, W2 block"):
        assert rows[label]["functional"] is not None, label


def test_best_finite_difference_is_far_worse_on_smooth_examples(rows):
    smooth = [row for row in rows.values() if row["kind"] == "smooth" and row["fd"] is not None]
    assert len(smooth) >= 3
    for row in smooth:
        assert row["fd"] >= 100 * max(row["linear"], np.finfo(float).eps), row
        assert 1e-1 >= row["fd_r"] >= 1e-12


def test_finite_differences_break_when_a_step_flips_an_activation(rows):
    curve = rows["leaky net, W1 block"]["fd_curve"]
    assert max(curve) > 0.1  # a large step crosses a kink: O(0.1-1) wrong


def test_newton_converges_in_few_iterations(runs):
    assert runs["newton_f"] < 1e-10
    assert runs["newton_iterations"] < 50
    # f < 1e-10 near the minimum, where f ~ |w - (1, 1)|^2 up to the valley's scale: the
    # point itself is only known to about sqrt(1e-10) = 1e-5
    np.testing.assert_allclose(runs["newton"][-1], [1.0, 1.0], atol=1e-5)
    np.testing.assert_allclose(runs["newton"][0], [-1.2, 1.0])


def test_gradient_descent_is_far_slower(runs):
    reached = runs["gd_f"] < 1e-10
    assert not reached or runs["gd_iterations"] > 20 * runs["newton_iterations"]
    if not reached:  # it ran out of budget, still far from the target
        assert runs["gd_iterations"] == 5000 and runs["gd_f"] > 1e-10
    assert len(runs["gd"]) == runs["gd_iterations"] + 1
