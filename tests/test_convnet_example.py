"""examples/convnet_hvp.py runs and shows what it claims."""

import convnet_hvp
import numpy as np
import pytest


@pytest.fixture(scope="module")
def study():
    return convnet_hvp.main(plot=False)


def test_exact_hvp_beats_every_finite_difference(study):
    errors = study["errors"]
    best = min(errors["central"] + errors["forward"])
    assert errors["exact"] < 1e-13  # the two exact modes differ by round-off only
    assert best > 1e3 * errors["exact"]  # no step recovers the digits the exact product has
    central = np.array(errors["central"])
    assert central[0] > 100 * best and central[-1] > 100 * best  # truncation, then round-off
    assert min(errors["central"]) < min(errors["forward"])  # O(r^2) beats O(r)


def test_gauss_newton_equals_the_hessian_only_where_the_logits_are_linear(study):
    ggn = study["gauss_newton"]
    assert ggn["last_layer"] < 1e-12
    assert ggn["difference"] > 0.01  # through the convolution they differ
    assert ggn["uHu"] < 0 <= ggn["uGu"]  # H is indefinite, G is not, along the same u


def test_hessian_free_decreases_the_loss(study):
    losses = study["losses"]
    assert len(losses) == convnet_hvp.HF_ITERATIONS + 1
    assert all(b <= a for a, b in zip(losses, losses[1:]))  # the line search never goes up
    assert losses[-1] < 0.2 * losses[0]
    assert "figure" not in study
